/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "grove-exec-session.h"
#include "grove-oci-runtime.h"

G_BEGIN_DECLS

/* the fds conmon finds its pipes on (named in _OCI_SYNCPIPE / _OCI_STARTPIPE / _OCI_ATTACHPIPE) */
#define GROVE_CONMON_SYNC_PIPE_FD 3
#define GROVE_CONMON_START_PIPE_FD 4
#define GROVE_CONMON_ATTACH_PIPE_FD 5

const char *grove_oci_runtime_get_conmon_path (GroveOciRuntime *self);
const char *grove_oci_runtime_get_conmon_runtime (GroveOciRuntime *self);
const char *grove_oci_runtime_get_state_root (GroveOciRuntime *self);

int grove_conmon_pipe_to_launcher (GSubprocessLauncher *launcher, gboolean child_writes,
                                   int child_fd, const char *env_name, GError **error);
gboolean grove_conmon_parse_sync_line (const char *line, gint64 *out_data, char **out_message,
                                       GError **error);
char *grove_conmon_failure_text (GSubprocess *conmon, GBytes *stderr_data);
char *grove_oci_exec_process_spec (const char *bundle, const GroveExecOptions *options,
                                   GError **error);
char *grove_oci_exec_scratch_new (const char *run_dir, const char *bundle,
                                  const GroveExecOptions *options, GError **error);

G_END_DECLS
