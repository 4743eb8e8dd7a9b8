/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * GroveCreateOptions:
 * @container_id: the container's ID (also the OCI runtime's container ID)
 * @bundle: the OCI bundle directory holding `config.json` (the container's persistent dir)
 * @run_dir: the container's run dir: conmon's pidfile, the container pidfile, attach socket
 * @exit_dir: conmon writes the exit code to `<exit_dir>/<container_id>` when the container ends
 * @log_path: the CRI log file (k8s-file format), created if missing
 * @terminal: allocate a terminal (CRI `tty`)
 * @stdin: keep stdin open for attach (CRI `stdin`)
 * @stdin_once: close stdin after the first attach ends (CRI `stdin_once`)
 *
 * What grove_oci_runtime_create_async() needs for one container.
 */
typedef struct
{
  const char *container_id;
  const char *bundle;
  const char *run_dir;
  const char *exit_dir;
  const char *log_path;
  gboolean terminal;
  gboolean stdin;
  gboolean stdin_once;
} GroveCreateOptions;

/**
 * GroveExecResult:
 * @exit_code: the process's exit code (128 + signal when killed)
 * @stdout_data: what it wrote to stdout
 * @stderr_data: what it wrote to stderr
 */
typedef struct
{
  int exit_code;
  GBytes *stdout_data;
  GBytes *stderr_data;
} GroveExecResult;

void grove_exec_result_free (GroveExecResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GroveExecResult, grove_exec_result_free)

#define GROVE_TYPE_OCI_RUNTIME (grove_oci_runtime_get_type ())
G_DECLARE_FINAL_TYPE (GroveOciRuntime, grove_oci_runtime, GROVE, OCI_RUNTIME, GObject)

GroveOciRuntime *grove_oci_runtime_new (const char *name, const char *path, const char *state_root,
                                        const char *conmon_path, GError **error);
GroveOciRuntime *grove_oci_runtime_new_with_argv (const char *name, const char *const *argv,
                                                  const char *state_root, const char *conmon_path,
                                                  GError **error);
const char *grove_oci_runtime_get_name (GroveOciRuntime *self);
const char *grove_oci_runtime_get_path (GroveOciRuntime *self);

void grove_oci_runtime_create_async (GroveOciRuntime *self, const GroveCreateOptions *options,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
gboolean grove_oci_runtime_create_finish (GroveOciRuntime *self, GAsyncResult *result, int *out_pid,
                                          int *out_conmon_pid, GError **error);

void grove_oci_runtime_start_async (GroveOciRuntime *self, const char *container_id,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
gboolean grove_oci_runtime_start_finish (GroveOciRuntime *self, GAsyncResult *result,
                                         GError **error);

void grove_oci_runtime_kill_async (GroveOciRuntime *self, const char *container_id, int signal,
                                   gboolean all, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
gboolean grove_oci_runtime_kill_finish (GroveOciRuntime *self, GAsyncResult *result,
                                        GError **error);

void grove_oci_runtime_delete_async (GroveOciRuntime *self, const char *container_id,
                                     gboolean force, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
gboolean grove_oci_runtime_delete_finish (GroveOciRuntime *self, GAsyncResult *result,
                                          GError **error);

void grove_oci_runtime_update_async (GroveOciRuntime *self, const char *container_id,
                                     const char *resources_path, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
gboolean grove_oci_runtime_update_finish (GroveOciRuntime *self, GAsyncResult *result,
                                          GError **error);

void grove_oci_runtime_state_async (GroveOciRuntime *self, const char *container_id,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
gboolean grove_oci_runtime_state_finish (GroveOciRuntime *self, GAsyncResult *result,
                                         char **out_status, int *out_pid, GError **error);

void grove_oci_runtime_exec_sync_async (GroveOciRuntime *self, const char *container_id,
                                        const char *bundle, const char *run_dir,
                                        const char *const *argv, guint timeout_seconds,
                                        GCancellable *cancellable, GAsyncReadyCallback callback,
                                        gpointer user_data);
GroveExecResult *grove_oci_runtime_exec_sync_finish (GroveOciRuntime *self, GAsyncResult *result,
                                                     GError **error);

gboolean grove_oci_runtime_reopen_log (GroveOciRuntime *self, const char *bundle,
                                       const char *run_dir, GError **error);
gboolean grove_read_exit_file (const char *exit_dir, const char *container_id, gboolean *out_exited,
                               int *out_exit_code, GError **error);

G_END_DECLS
