/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveEngine"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "grove-engine-private.h"
#include "grove-exec-session-private.h"
#include "grove-spec.h"
#include "grove-utils.h"

/*
 * Containers: CreateContainer writes the OCI spec (config.json) and container.json into the
 * container's own persistent dir, with its rootfs prepared by the store; StartContainer
 * runs conmon (which runs the runtime's create) and then the runtime's start; exits come
 * from conmon's exit files.
 */

#define KILL_WAIT_SECONDS 10

static const char *
image_name (JsonObject *config)
{
  return grove_record_string (grove_record_object (config, "image"), "image");
}

static char *
log_path_for (GroveEngine *self, JsonObject *pod_config, JsonObject *config, const char *id)
{
  const char *directory = grove_record_string (pod_config, "logDirectory");
  const char *path = grove_record_string (config, "logPath");
  g_autofree char *container_dir = NULL;

  if (path != NULL && *path != '\0' && g_path_is_absolute (path))
    return g_strdup (path);
  if (directory != NULL && *directory != '\0' && path != NULL && *path != '\0')
    return g_build_filename (directory, path, NULL);
  container_dir = grove_engine_container_dir (self, id);
  return g_build_filename (container_dir, "container.log", NULL);
}

static gboolean
cleanup_files (GroveEngine *self, const char *id, GCancellable *cancellable, GError **error)
{
  g_autofree char *container_dir = grove_engine_container_dir (self, id);
  g_autofree char *run_dir = grove_engine_run_dir (self, id);
  g_autofree char *exit_path = g_build_filename (self->exit_dir, id, NULL);

  unlink (exit_path);
  return grove_store_release_rootfs (self->store, id, cancellable, error)
         && grove_engine_release_idmapped_mounts (self, id, error)
         && grove_rm_rf_at (AT_FDCWD, run_dir, cancellable, error)
         && grove_rm_rf_at (AT_FDCWD, container_dir, cancellable, error);
}

/**
 * grove_container_cleanup_work: (skip)
 *
 * Deletes a stopped container from its runtime and removes its rootfs and dirs.
 */
gboolean
grove_container_cleanup_work (GroveEngine *self, GroveOciRuntime *runtime, JsonObject *record,
                              GCancellable *cancellable, GError **error)
{
  const char *id = grove_record_string (record, "id");
  g_autoptr (GError) local_error = NULL;

  if (runtime != NULL && !grove_runtime_delete_sync (runtime, id, cancellable, &local_error))
    g_warning ("deleting container %s: %s", id, local_error->message);
  return cleanup_files (self, id, cancellable, error);
}

/*
 * Processes exec'd into a container that shares its pod's PID namespace outlive its PID 1:
 * whatever is still in its cgroup goes too, so that a stopped container runs nothing.
 */
static void
kill_leftovers (GroveOciRuntime *runtime, const char *id, const char *dir,
                GCancellable *cancellable)
{
  g_autofree char *config = g_build_filename (dir, "config.json", NULL);
  g_autofree char *cgroups = grove_engine_read_cgroups_path (config, NULL);
  g_autoptr (GError) local_error = NULL;

  if (cgroups == NULL || !grove_cgroup_has_processes (cgroups))
    return;
  if (!grove_runtime_kill_sync (runtime, id, SIGKILL, TRUE, cancellable, &local_error))
    g_debug ("SIGKILL to what is left of %s: %s", id, local_error->message);
}

/**
 * grove_container_stop_work: (skip)
 *
 * Stops a running container: SIGTERM, then SIGKILL after @timeout seconds (at once for 0),
 * and records how it ended in @record and container.json.
 */
gboolean
grove_container_stop_work (GroveEngine *self, GroveOciRuntime *runtime, JsonObject *record,
                           guint timeout, GCancellable *cancellable, GError **error)
{
  const char *id = grove_record_string (record, "id");
  g_autofree char *dir = grove_engine_container_dir (self, id);
  g_autoptr (GError) local_error = NULL;

  if (g_strcmp0 (grove_record_string (record, "state"), "running") != 0)
    return TRUE;
  if (timeout > 0
      && !grove_runtime_kill_sync (runtime, id, SIGTERM, FALSE, cancellable, &local_error))
    g_debug ("SIGTERM to %s: %s", id, local_error->message);
  g_clear_error (&local_error);
  /* a PID 1 that does not handle SIGTERM ignores it: SIGKILL when the time is up */
  if (!grove_engine_wait_exit (self, id, timeout * 1000, cancellable))
    {
      /* a caller that gave up (a CRI client's deadline) cancels the stop: no SIGKILL */
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return g_prefix_error (error, "stopping container %s: ", id), FALSE;
      if (!grove_runtime_kill_sync (runtime, id, SIGKILL, FALSE, cancellable, &local_error))
        g_debug ("SIGKILL to %s: %s", id, local_error->message);
      if (!grove_engine_wait_exit (self, id, KILL_WAIT_SECONDS * 1000, cancellable))
        return grove_throw (error, GROVE_ERROR_FAILED, "container %s did not stop", id);
    }
  grove_engine_apply_exit (self, self->exit_dir, record);
  kill_leftovers (runtime, id, dir, cancellable);
  return grove_write_record (dir, "container.json", record, error);
}

static JsonObject *
new_container_record (const char *id, GrovePod *pod, JsonObject *config, const char *name_key,
                      const char *log_path)
{
  JsonObject *record = json_object_new ();

  json_object_set_int_member (record, "version", 1);
  json_object_set_string_member (record, "id", id);
  json_object_set_string_member (record, "podId", grove_pod_get_id (pod));
  json_object_set_object_member (record, "config", grove_record_copy (config));
  json_object_set_string_member (record, "imageName", image_name (config));
  json_object_set_string_member (record, "state", "creating");
  json_object_set_int_member (record, "createdAt", grove_now_ns ());
  json_object_set_string_member (record, "handler", grove_pod_get_handler (pod));
  json_object_set_string_member (record, "nameKey", name_key);
  json_object_set_string_member (record, "logPath", log_path);
  /* the pod's user namespace, for mounting the rootfs again without the pod at hand */
  if (grove_record_string (grove_pod_get_record (pod), "usernsPath") != NULL)
    {
      json_object_set_string_member (
          record, "usernsPath", grove_record_string (grove_pod_get_record (pod), "usernsPath"));
      json_object_set_object_member (
          record, "idMappings",
          grove_record_copy (grove_record_object (grove_pod_get_record (pod), "idMappings")));
    }
  return record;
}

static gboolean
create_steps (GroveJob *job, GCancellable *cancellable, GError **error)
{
  GroveEngine *self = job->engine;
  g_autoptr (GroveImage) image
      = grove_store_lookup_image (self->store, image_name (job->config), cancellable, error);
  g_autofree char *dir = grove_engine_container_dir (self, job->id);
  g_autofree char *run_dir = grove_engine_run_dir (self, job->id);
  g_autofree char *rootfs = NULL;

  if (image == NULL)
    return FALSE;
  rootfs = grove_engine_prepare_rootfs (self, job->record, job->id, grove_image_get_id (image),
                                        cancellable, error);
  if (rootfs == NULL || !grove_mkdir_p_at (AT_FDCWD, run_dir, 0700, error)
      || !grove_engine_write_spec (self, job->pod_record, job->id, job->config, image,
                                   image_name (job->config), rootfs, error))
    return FALSE;
  json_object_set_string_member (job->record, "imageId", grove_image_get_id (image));
  json_object_set_string_member (job->record, "state", "created");
  return grove_write_record (dir, "container.json", job->record, error);
}

static gboolean
create_work (GroveJob *job, GCancellable *cancellable, GError **error)
{
  g_autoptr (GError) cleanup_error = NULL;

  if (create_steps (job, cancellable, error))
    return TRUE;
  if (!cleanup_files (job->engine, job->id, NULL, &cleanup_error))
    g_warning ("cleaning up after a failed create: %s", cleanup_error->message);
  return FALSE;
}

static void
create_done (GroveEngine *self, GroveJob *job, gboolean ok)
{
  if (ok)
    grove_engine_install_container (self, job->record);
  else
    g_hash_table_remove (self->names, job->name_key);
}

static gboolean
validate_container_config (JsonObject *config, GError **error)
{
  const char *name = grove_record_path_string (config, "metadata.name");
  const char *image = image_name (config);

  if (name == NULL || *name == '\0')
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "the container config needs metadata.name");
  if (image == NULL || *image == '\0')
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "the container config needs image.image");
  return TRUE;
}

/* a ContainerConfig or a PodSandboxConfig: both say it at the same place */
static gboolean
container_privileged (JsonObject *config)
{
  JsonObject *security
      = grove_record_object (grove_record_object (config, "linux"), "securityContext");

  return grove_record_bool (security, "privileged");
}

static GroveJob *
prepare_create (GroveEngine *self, const char *pod_id, JsonObject *config, GError **error)
{
  g_autoptr (GrovePod) pod = grove_engine_get_pod (self, pod_id, error);
  g_autofree char *id = grove_new_id ();
  g_autofree char *name_key = NULL;
  g_autofree char *log_path = NULL;
  const char *holder;
  GroveJob *job;

  if (pod == NULL || !validate_container_config (config, error))
    return NULL;
  if (grove_pod_get_state (pod) != GROVE_POD_STATE_READY)
    return grove_throw (error, GROVE_ERROR_WRONG_STATE, "pod %s is not ready",
                        grove_pod_get_id (pod)),
           NULL;
  /* only a privileged pod runs on the trusted runtime and may hold privileged containers */
  if (container_privileged (config) && !container_privileged (grove_pod_get_config (pod)))
    return grove_throw (error, GROVE_ERROR_PERMISSION_DENIED,
                        "a privileged container needs a privileged pod; pod %s is not",
                        grove_pod_get_id (pod)),
           NULL;
  name_key = grove_container_name_key (grove_pod_get_config (pod), config);
  holder = g_hash_table_lookup (self->names, name_key);
  if (holder != NULL)
    return grove_throw (error, GROVE_ERROR_ALREADY_EXISTS,
                        "the container name %s is reserved for container %s", name_key, holder),
           NULL;
  g_hash_table_insert (self->names, g_strdup (name_key), g_strdup (id));
  log_path = log_path_for (self, grove_pod_get_config (pod), config, id);
  job = grove_job_new (self, id, create_work, create_done);
  job->id = g_strdup (id);
  job->pod_id = g_strdup (grove_pod_get_id (pod));
  job->config = grove_record_copy (config);
  job->pod_record = grove_record_copy (grove_pod_get_record (pod));
  job->record = new_container_record (id, pod, config, name_key, log_path);
  job->name_key = g_steal_pointer (&name_key);
  return job;
}

/**
 * grove_engine_create_container_async:
 * @self: a #GroveEngine
 * @pod_id: the pod it belongs to (must be ready)
 * @config: the CRI `ContainerConfig`, in protobuf's JSON mapping
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: closure
 *
 * Creates a container: the image is resolved in the store, the rootfs prepared, and the
 * OCI spec (joining the infra container's namespaces) written with the container's record.
 */
void
grove_engine_create_container_async (GroveEngine *self, const char *pod_id, JsonObject *config,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data)
{
  GError *local_error = NULL;
  GroveJob *job;

  g_return_if_fail (GROVE_IS_ENGINE (self));
  job = prepare_create (self, pod_id, config, &local_error);
  if (job == NULL)
    return g_task_report_error (self, callback, user_data, grove_engine_create_container_async,
                                local_error);
  grove_engine_run_job (self, job, cancellable, callback, user_data,
                        grove_engine_create_container_async);
}

/**
 * grove_engine_create_container_finish:
 * @self: a #GroveEngine
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the created container
 */
GroveContainer *
grove_engine_create_container_finish (GroveEngine *self, GAsyncResult *result, GError **error)
{
  GroveJob *job
      = grove_engine_job_finish (self, result, grove_engine_create_container_async, error);
  return job ? grove_engine_get_container (self, job->id, error) : NULL;
}

static gboolean
start_work (GroveJob *job, GCancellable *cancellable, GError **error)
{
  GroveEngine *self = job->engine;
  JsonObject *record = job->record;
  g_autofree char *bundle = grove_engine_container_dir (self, job->id);
  g_autofree char *run_dir = grove_engine_run_dir (self, job->id);
  const char *log_path = grove_record_string (record, "logPath");
  g_autofree char *log_dir = g_path_get_dirname (log_path);
  g_autofree char *rootfs
      = grove_engine_prepare_rootfs (self, record, job->id, NULL, cancellable, error);
  JsonObject *config = grove_record_object (record, "config");
  GroveCreateOptions options = { job->id,
                                 bundle,
                                 run_dir,
                                 self->exit_dir,
                                 log_path,
                                 grove_record_bool (config, "tty"),
                                 grove_record_bool (config, "stdin"),
                                 grove_record_bool (config, "stdinOnce") };
  g_autoptr (GError) local_error = NULL;
  gint64 started_at = 0;
  int pid = 0;
  int conmon_pid = 0;

  if (g_strcmp0 (grove_record_string (record, "state"), "created") != 0)
    return grove_throw (error, GROVE_ERROR_WRONG_STATE, "container %s is %s, not created", job->id,
                        grove_record_string (record, "state"));
  if (rootfs == NULL || !grove_engine_attach_idmapped_mounts (self, job->id, error)
      || !grove_mkdir_p_at (AT_FDCWD, log_dir, 0755, error))
    return FALSE;
  /* taken before the start: a quick process may end before the start call returns */
  if (!grove_runtime_create_sync (job->runtime, &options, &pid, &conmon_pid, cancellable,
                                  &local_error)
      || (started_at = grove_now_ns ()) == 0
      || !grove_runtime_start_sync (job->runtime, job->id, cancellable, &local_error))
    {
      /* a container that failed to start is over: it says why, and can only be removed */
      grove_runtime_delete_sync (job->runtime, job->id, NULL, NULL);
      json_object_set_string_member (record, "state", "exited");
      json_object_set_int_member (record, "exitCode", 128);
      json_object_set_int_member (record, "finishedAt", grove_now_ns ());
      json_object_set_string_member (record, "reason", "StartError");
      json_object_set_string_member (record, "message", local_error->message);
      grove_write_record (bundle, "container.json", record, NULL);
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  json_object_set_string_member (record, "state", "running");
  json_object_set_int_member (record, "startedAt", started_at);
  json_object_set_int_member (record, "pid", pid);
  json_object_set_int_member (record, "conmonPid", conmon_pid);
  return grove_write_record (bundle, "container.json", record, error);
}

static void
install_and_check_exit (GroveEngine *self, GroveJob *job, gboolean ok)
{
  GroveContainer *container;

  grove_engine_install_container (self, job->record);
  /* it may have ended while this operation ran: its exit file says so */
  container = g_hash_table_lookup (self->containers, job->id);
  if (container != NULL
      && grove_engine_apply_exit (self, self->exit_dir, grove_container_get_record (container)))
    {
      g_autofree char *dir = grove_engine_container_dir (self, job->id);
      grove_engine_persist (self, dir, "container.json", grove_container_get_record (container));
      g_signal_emit_by_name (self, "container-changed", container);
    }
}

static GroveJob *
container_job (GroveEngine *self, const char *id, GroveJobWorkFunc work, GroveJobDoneFunc done,
               GError **error)
{
  g_autoptr (GroveContainer) container = grove_engine_get_container (self, id, error);
  GroveJob *job;

  if (container == NULL)
    return NULL;
  job = grove_job_new (self, grove_container_get_id (container), work, done);
  job->id = g_strdup (grove_container_get_id (container));
  job->record = grove_record_copy (grove_container_get_record (container));
  job->runtime = g_object_ref (
      g_hash_table_lookup (self->handlers, grove_container_get_handler (container)));
  job->refresh_container = TRUE;
  return job;
}

/**
 * grove_engine_start_container_async:
 * @self: a #GroveEngine
 * @container_id: a created container
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: closure
 *
 * Starts the container under conmon. Only a created container can be started.
 */
void
grove_engine_start_container_async (GroveEngine *self, const char *container_id,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  GError *local_error = NULL;
  GroveJob *job
      = container_job (self, container_id, start_work, install_and_check_exit, &local_error);

  if (job != NULL && g_strcmp0 (grove_record_string (job->record, "state"), "created") != 0)
    {
      grove_throw (&local_error, GROVE_ERROR_WRONG_STATE, "container %s is %s, not created",
                   job->id, grove_record_string (job->record, "state"));
      g_clear_pointer (&job, grove_job_free);
    }
  if (job == NULL)
    return g_task_report_error (self, callback, user_data, grove_engine_start_container_async,
                                local_error);
  grove_engine_run_job (self, job, cancellable, callback, user_data,
                        grove_engine_start_container_async);
}

/**
 * grove_engine_start_container_finish:
 * @self: a #GroveEngine
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: %TRUE on success
 */
gboolean
grove_engine_start_container_finish (GroveEngine *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
stop_work (GroveJob *job, GCancellable *cancellable, GError **error)
{
  return grove_container_stop_work (job->engine, job->runtime, job->record, job->timeout,
                                    cancellable, error);
}

/**
 * grove_engine_stop_container_async:
 * @self: a #GroveEngine
 * @container_id: the container
 * @timeout_seconds: how long it has to end after SIGTERM before SIGKILL (0: SIGKILL at once)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when it has stopped
 * @user_data: closure
 *
 * Stops a running container. Stopping one that is not running, or unknown, succeeds.
 */
void
grove_engine_stop_container_async (GroveEngine *self, const char *container_id,
                                   guint timeout_seconds, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
  GError *local_error = NULL;
  GroveJob *job;

  g_return_if_fail (GROVE_IS_ENGINE (self));
  if (grove_engine_succeed_if_absent (self, self->containers, container_id, callback, user_data,
                                      grove_engine_stop_container_async))
    return;
  job = container_job (self, container_id, stop_work, install_and_check_exit, &local_error);
  if (job == NULL)
    return g_task_report_error (self, callback, user_data, grove_engine_stop_container_async,
                                local_error);
  job->timeout = timeout_seconds;
  grove_engine_run_job (self, job, cancellable, callback, user_data,
                        grove_engine_stop_container_async);
}

/**
 * grove_engine_stop_container_finish:
 * @self: a #GroveEngine
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: %TRUE on success
 */
gboolean
grove_engine_stop_container_finish (GroveEngine *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
remove_work (GroveJob *job, GCancellable *cancellable, GError **error)
{
  return grove_container_stop_work (job->engine, job->runtime, job->record, 0, cancellable, error)
         && grove_container_cleanup_work (job->engine, job->runtime, job->record, cancellable,
                                          error);
}

static void
remove_done (GroveEngine *self, GroveJob *job, gboolean ok)
{
  if (ok)
    grove_engine_forget_container (self, job->id);
  else
    grove_engine_install_container (self, job->record);
}

/**
 * grove_engine_remove_container_async:
 * @self: a #GroveEngine
 * @container_id: the container
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: closure
 *
 * Removes the container (killing it if it runs), its rootfs and its dirs. Removing an
 * unknown container succeeds.
 */
void
grove_engine_remove_container_async (GroveEngine *self, const char *container_id,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data)
{
  GError *local_error = NULL;
  GroveJob *job;

  g_return_if_fail (GROVE_IS_ENGINE (self));
  if (grove_engine_succeed_if_absent (self, self->containers, container_id, callback, user_data,
                                      grove_engine_remove_container_async))
    return;
  job = container_job (self, container_id, remove_work, remove_done, &local_error);
  if (job == NULL)
    return g_task_report_error (self, callback, user_data, grove_engine_remove_container_async,
                                local_error);
  grove_engine_run_job (self, job, cancellable, callback, user_data,
                        grove_engine_remove_container_async);
}

/**
 * grove_engine_remove_container_finish:
 * @self: a #GroveEngine
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: %TRUE on success
 */
gboolean
grove_engine_remove_container_finish (GroveEngine *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
exec_work (GroveJob *job, GCancellable *cancellable, GError **error)
{
  g_autofree char *bundle = grove_engine_container_dir (job->engine, job->id);
  g_autofree char *run_dir = grove_engine_run_dir (job->engine, job->id);

  if (g_strcmp0 (grove_record_string (job->record, "state"), "running") != 0)
    return grove_throw (error, GROVE_ERROR_WRONG_STATE, "container %s is not running", job->id);
  job->exec_result
      = grove_runtime_exec_sync (job->runtime, job->id, bundle, run_dir,
                                 (const char *const *)job->argv, job->timeout, cancellable, error);
  return job->exec_result != NULL;
}

/**
 * grove_engine_exec_sync_async:
 * @self: a #GroveEngine
 * @container_id: a running container
 * @argv: the command
 * @timeout_seconds: kill it after this long (0: no limit)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when it has ended
 * @user_data: closure
 *
 * Runs a command in the container and collects its output and exit code. On timeout the
 * process is killed and the result is %G_IO_ERROR_TIMED_OUT.
 */
void
grove_engine_exec_sync_async (GroveEngine *self, const char *container_id, const char *const *argv,
                              guint timeout_seconds, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  GError *local_error = NULL;
  GroveJob *job;

  g_return_if_fail (GROVE_IS_ENGINE (self));
  if (argv == NULL || argv[0] == NULL)
    return g_task_report_error (
        self, callback, user_data, grove_engine_exec_sync_async,
        g_error_new (GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT, "exec needs a command"));
  job = container_job (self, container_id, exec_work, NULL, &local_error);
  if (job == NULL)
    return g_task_report_error (self, callback, user_data, grove_engine_exec_sync_async,
                                local_error);
  /* execs do not wait for each other or for other operations on the container */
  g_free (job->key);
  job->key = grove_new_id ();
  job->refresh_container = FALSE;
  job->argv = g_strdupv ((char **)argv);
  job->timeout = timeout_seconds;
  grove_engine_run_job (self, job, cancellable, callback, user_data, grove_engine_exec_sync_async);
}

/**
 * grove_engine_exec_sync_finish:
 * @self: a #GroveEngine
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: (transfer full) (nullable): exit code, stdout and stderr
 */
GroveExecResult *
grove_engine_exec_sync_finish (GroveEngine *self, GAsyncResult *result, GError **error)
{
  GroveJob *job = grove_engine_job_finish (self, result, grove_engine_exec_sync_async, error);
  return job ? g_steal_pointer (&job->exec_result) : NULL;
}

static void
exec_started_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) local_error = NULL;
  GroveExecSession *session = grove_exec_session_start_finish (result, &local_error);

  if (session == NULL)
    return g_task_return_error (task, g_steal_pointer (&local_error));
  g_task_return_pointer (task, session, g_object_unref);
}

/**
 * grove_engine_exec_async:
 * @self: a #GroveEngine
 * @container_id: a running container
 * @options: the command, its terminal and the fds its stdio is copied to and from
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once the process runs, or could not be started
 * @user_data: closure
 *
 * Starts a process in the container, with the container's user, environment and
 * capabilities. The session keeps itself alive until the process has ended and its output
 * has been written (#GroveExecSession::exited); grove_exec_session_kill() ends it early.
 */
void
grove_engine_exec_async (GroveEngine *self, const char *container_id,
                         const GroveExecOptions *options, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GroveContainer) container = NULL;
  g_autofree char *bundle = NULL;
  g_autofree char *run_dir = NULL;
  GroveOciRuntime *runtime = NULL;

  g_return_if_fail (GROVE_IS_ENGINE (self));
  g_return_if_fail (options != NULL);
  g_task_set_source_tag (task, grove_engine_exec_async);
  container = grove_engine_get_container (self, container_id, &local_error);
  if (container == NULL)
    return g_task_return_error (task, g_steal_pointer (&local_error));
  if (grove_container_get_state (container) != GROVE_CONTAINER_STATE_RUNNING)
    return g_task_return_new_error (task, GROVE_ERROR, GROVE_ERROR_WRONG_STATE,
                                    "container %s is not running",
                                    grove_container_get_id (container));
  runtime = g_hash_table_lookup (self->handlers, grove_container_get_handler (container));
  if (runtime == NULL)
    return g_task_return_new_error (task, GROVE_ERROR, GROVE_ERROR_FAILED,
                                    "container %s runs on the unknown runtime handler '%s'",
                                    grove_container_get_id (container),
                                    grove_container_get_handler (container));
  bundle = grove_engine_container_dir (self, grove_container_get_id (container));
  run_dir = grove_engine_run_dir (self, grove_container_get_id (container));
  grove_exec_session_start_async (runtime, grove_container_get_id (container), bundle, run_dir,
                                  options, cancellable, exec_started_cb, g_steal_pointer (&task));
}

/**
 * grove_engine_attach:
 * @self: a #GroveEngine
 * @container_id: a running container
 * @options: the fds to copy the container's stdio to and from, and whether it has a
 *   terminal (the container's own setting)
 * @error: return location
 *
 * Attaches to the container's own stdio through its conmon. Detaching
 * (grove_exec_session_detach()) leaves the container running.
 *
 * Returns: (transfer full) (nullable): the session
 */
GroveExecSession *
grove_engine_attach (GroveEngine *self, const char *container_id, const GroveExecOptions *options,
                     GError **error)
{
  g_autoptr (GroveContainer) container = NULL;
  g_autofree char *bundle = NULL;

  g_return_val_if_fail (GROVE_IS_ENGINE (self), NULL);
  container = grove_engine_get_container (self, container_id, error);
  if (container == NULL)
    return NULL;
  if (grove_container_get_state (container) != GROVE_CONTAINER_STATE_RUNNING)
    return grove_throw (error, GROVE_ERROR_WRONG_STATE, "container %s is not running",
                        grove_container_get_id (container)),
           NULL;
  bundle = grove_engine_container_dir (self, grove_container_get_id (container));
  return grove_exec_session_attach (grove_container_get_id (container), bundle,
                                    grove_container_get_pid (container), options, error);
}

/**
 * grove_engine_exec_finish:
 * @self: a #GroveEngine
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the running session, or %NULL with @error set
 */
GroveExecSession *
grove_engine_exec_finish (GroveEngine *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

#define SPEC_MAX_SIZE ((gsize)4 * 1024 * 1024)

/* config.json gets the new limits too, so that what the container runs with stays on record */
static gboolean
update_spec_resources (const char *bundle, JsonObject *oci_resources, GError **error)
{
  g_autofree char *path = g_build_filename (bundle, "config.json", NULL);
  g_autoptr (GBytes) data = grove_read_file_at (AT_FDCWD, path, SPEC_MAX_SIZE, error);
  g_autoptr (JsonObject) spec = NULL;
  g_autofree char *text = NULL;
  JsonObject *linux_spec = NULL;
  JsonObject *resources = NULL;
  const char *const parts[] = { "memory", "cpu", "hugepageLimits" };
  gsize len = 0;

  if (data == NULL)
    return FALSE;
  spec = grove_record_parse (g_bytes_get_data (data, NULL), g_bytes_get_size (data), path, error);
  if (spec == NULL)
    return FALSE;
  linux_spec = grove_record_object (spec, "linux");
  resources = linux_spec != NULL ? grove_record_object (linux_spec, "resources") : NULL;
  if (resources == NULL)
    return grove_throw (error, GROVE_ERROR_FAILED, "%s has no linux.resources", path);
  for (guint i = 0; i < G_N_ELEMENTS (parts); i++)
    {
      if (json_object_has_member (resources, parts[i]))
        json_object_remove_member (resources, parts[i]);
      if (json_object_has_member (oci_resources, parts[i]))
        json_object_set_member (
            resources, parts[i],
            grove_record_copy_node (json_object_get_member (oci_resources, parts[i])));
    }
  text = grove_record_serialize (spec, &len);
  return grove_write_file_at (AT_FDCWD, path, text, len, 0600, error);
}

static gboolean
update_resources_work (GroveJob *job, GCancellable *cancellable, GError **error)
{
  g_autofree char *bundle = grove_engine_container_dir (job->engine, job->id);
  g_autofree char *run_dir = grove_engine_run_dir (job->engine, job->id);
  g_autofree char *file = g_build_filename (run_dir, "resources.json", NULL);
  g_autoptr (JsonObject) oci = NULL;
  g_autofree char *text = NULL;
  const char *state = grove_record_string (job->record, "state");
  JsonObject *config = grove_record_object (job->record, "config");
  JsonObject *config_linux = NULL;
  gsize len = 0;

  if (g_strcmp0 (state, "created") != 0 && g_strcmp0 (state, "running") != 0)
    return grove_throw (error, GROVE_ERROR_WRONG_STATE,
                        "container %s is %s: only a created or running one can be updated", job->id,
                        state);
  oci = grove_spec_resources_from_cri (job->config, error);
  if (oci == NULL)
    return FALSE;
  text = grove_record_serialize (oci, &len);
  if (!grove_write_file_at (AT_FDCWD, file, text, len, 0600, error))
    return FALSE;
  if (!grove_runtime_update_sync (job->runtime, job->id, file, cancellable, error))
    {
      unlink (file);
      return g_prefix_error (error, "updating the resources of %s: ", job->id), FALSE;
    }
  unlink (file);
  if (!update_spec_resources (bundle, oci, error))
    return FALSE;
  /* the record keeps the CRI form, as CreateContainer gave it */
  config_linux = grove_record_object (config, "linux");
  if (config_linux == NULL)
    {
      json_object_set_object_member (config, "linux", json_object_new ());
      config_linux = grove_record_object (config, "linux");
    }
  json_object_set_object_member (config_linux, "resources", grove_record_copy (job->config));
  return grove_write_record (bundle, "container.json", job->record, error);
}

static void
install_updated (GroveEngine *self, GroveJob *job, gboolean ok)
{
  GroveContainer *container = NULL;

  if (!ok)
    return;
  grove_engine_install_container (self, job->record);
  container = g_hash_table_lookup (self->containers, job->id);
  if (container != NULL)
    g_signal_emit_by_name (self, "container-changed", container);
}

/**
 * grove_engine_update_container_resources_async:
 * @self: a #GroveEngine
 * @container_id: a created or running container
 * @resources: CRI LinuxContainerResources in the protobuf JSON mapping
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: closure
 *
 * Changes the container's CPU, memory and hugepage limits in place (the runtime's
 * `update`), and keeps the new limits in its config.
 */
void
grove_engine_update_container_resources_async (GroveEngine *self, const char *container_id,
                                               JsonObject *resources, GCancellable *cancellable,
                                               GAsyncReadyCallback callback, gpointer user_data)
{
  GError *local_error = NULL;
  GroveJob *job;

  g_return_if_fail (GROVE_IS_ENGINE (self));
  g_return_if_fail (resources != NULL);
  job = container_job (self, container_id, update_resources_work, install_updated, &local_error);
  if (job == NULL)
    return g_task_report_error (self, callback, user_data,
                                grove_engine_update_container_resources_async, local_error);
  job->config = grove_record_copy (resources);
  grove_engine_run_job (self, job, cancellable, callback, user_data,
                        grove_engine_update_container_resources_async);
}

/**
 * grove_engine_update_container_resources_finish:
 * @self: a #GroveEngine
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: %TRUE on success
 */
gboolean
grove_engine_update_container_resources_finish (GroveEngine *self, GAsyncResult *result,
                                                GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * grove_engine_reopen_log:
 * @self: a #GroveEngine
 * @container_id: a running container
 * @error: return location
 *
 * Makes the container's conmon reopen its log file, after the log was rotated.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_engine_reopen_log (GroveEngine *self, const char *container_id, GError **error)
{
  g_autoptr (GroveContainer) container = grove_engine_get_container (self, container_id, error);
  g_autofree char *bundle = NULL;
  g_autofree char *run_dir = NULL;

  if (container == NULL)
    return FALSE;
  if (grove_container_get_state (container) != GROVE_CONTAINER_STATE_RUNNING)
    return grove_throw (error, GROVE_ERROR_WRONG_STATE, "container %s is not running",
                        grove_container_get_id (container));
  bundle = grove_engine_container_dir (self, grove_container_get_id (container));
  run_dir = grove_engine_run_dir (self, grove_container_get_id (container));
  return grove_oci_runtime_reopen_log (
      g_hash_table_lookup (self->handlers, grove_container_get_handler (container)), bundle,
      run_dir, error);
}
