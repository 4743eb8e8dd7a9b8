/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "grove-exec-session.h"
#include "grove-oci-runtime.h"

G_BEGIN_DECLS

void grove_exec_session_start_async (GroveOciRuntime *runtime, const char *container_id,
                                     const char *bundle, const char *run_dir,
                                     const GroveExecOptions *options, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
GroveExecSession *grove_exec_session_start_finish (GAsyncResult *result, GError **error);
GroveExecSession *grove_exec_session_attach (const char *container_id, const char *bundle, int pid,
                                             const GroveExecOptions *options, GError **error);

G_END_DECLS
