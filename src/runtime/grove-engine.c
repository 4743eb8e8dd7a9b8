/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveEngine"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "grove-engine-private.h"
#include "grove-seccomp.h"
#include "grove-userns.h"
#include "grove-utils.h"

/*
 * GroveEngine is the core API both front ends call: pods and containers with the CRI's
 * lifecycle. The main thread owns the tables and the objects in them; every slow step
 * (conmon, the OCI runtime, mounts, disk) runs in a worker thread on copies, and its
 * result is installed back on the main thread (see GroveJob).
 */

G_DEFINE_TYPE (GroveEngine, grove_engine, G_TYPE_OBJECT)

/* how long one CNI plugin may run (the bridge plugin takes ~90 ms here) */
#define CNI_TIMEOUT_SECONDS 60
/* jobs running at once; more wait their turn */
#define GROVE_ENGINE_MAX_WORKERS 64

static guint signals[N_SIGNALS];

typedef struct
{
  char *dir;
  char *name;
  JsonObject *record;
} PersistItem;

static void
persist_item_free (PersistItem *item)
{
  g_free (item->dir);
  g_free (item->name);
  json_object_unref (item->record);
  g_free (item);
}

static void
persist_thread (gpointer data, gpointer user_data)
{
  PersistItem *item = data;
  g_autoptr (GError) local_error = NULL;
  struct stat st;

  /* a record whose directory is gone belongs to an object that was removed meanwhile */
  if (stat (item->dir, &st) == 0
      && !grove_write_record (item->dir, item->name, item->record, &local_error))
    g_warning ("persisting %s/%s: %s", item->dir, item->name, local_error->message);
  persist_item_free (item);
}

/*
 * Runs a job's work in one of the engine's own threads (@data: the job's GTask, taken).
 * The work blocks on subprocesses and GIO streams, some of whose async calls (a stream's
 * default close_async, for one) need a thread of GTask's pool: were the work itself in
 * that pool, a burst of jobs would fill it and each would wait for a thread that never
 * comes.
 */
static void
job_thread (gpointer data, gpointer user_data)
{
  g_autoptr (GTask) task = data;
  GroveJob *job = g_task_get_task_data (task);
  GError *local_error = NULL;

  if (job->work (job, g_task_get_cancellable (task), &local_error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, local_error);
}

static void
grove_engine_finalize (GObject *object)
{
  GroveEngine *self = GROVE_ENGINE (object);

  if (self->writer != NULL)
    g_thread_pool_free (self->writer, FALSE, TRUE);
  /* every job holds the engine, so no job is left here */
  if (self->workers != NULL)
    g_thread_pool_free (self->workers, FALSE, FALSE);
  if (self->exit_monitor != NULL)
    g_file_monitor_cancel (self->exit_monitor);
  g_clear_object (&self->exit_monitor);
  g_clear_object (&self->store);
  g_clear_object (&self->cni);
  g_clear_pointer (&self->handlers, g_hash_table_unref);
  g_clear_pointer (&self->pods, g_hash_table_unref);
  g_clear_pointer (&self->containers, g_hash_table_unref);
  g_clear_pointer (&self->names, g_hash_table_unref);
  g_clear_pointer (&self->busy, g_hash_table_unref);
  g_clear_pointer (&self->root, g_free);
  g_clear_pointer (&self->runroot, g_free);
  g_clear_pointer (&self->exit_dir, g_free);
  g_clear_pointer (&self->conmon_path, g_free);
  g_clear_pointer (&self->pause_path, g_free);
  g_clear_pointer (&self->userns_unsupported, g_free);
  g_clear_pointer (&self->cgroup_parent, g_free);
  g_clear_pointer (&self->default_handler, g_free);
  g_clear_pointer (&self->trusted_handler, g_free);
  g_clear_pointer (&self->seccomp_default, g_free);
  g_clear_pointer (&self->seccomp_origin, g_free);
  g_clear_pointer (&self->pause_key, g_free);
  g_clear_pointer (&self->pause_tag, g_free);
  g_mutex_clear (&self->pause_lock);
  G_OBJECT_CLASS (grove_engine_parent_class)->finalize (object);
}

static void
grove_engine_class_init (GroveEngineClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = grove_engine_finalize;

  /**
   * GroveEngine::pod-changed:
   * @self: the engine
   * @pod: the pod that was added or whose state changed
   */
  signals[SIGNAL_POD_CHANGED]
      = g_signal_new ("pod-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                      NULL, G_TYPE_NONE, 1, GROVE_TYPE_POD);
  /**
   * GroveEngine::pod-removed:
   * @self: the engine
   * @id: the ID of the pod that is gone
   */
  signals[SIGNAL_POD_REMOVED]
      = g_signal_new ("pod-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                      NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * GroveEngine::container-changed:
   * @self: the engine
   * @container: the container that was added or whose state changed
   */
  signals[SIGNAL_CONTAINER_CHANGED]
      = g_signal_new ("container-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                      NULL, NULL, G_TYPE_NONE, 1, GROVE_TYPE_CONTAINER);
  /**
   * GroveEngine::container-removed:
   * @self: the engine
   * @id: the ID of the container that is gone
   */
  signals[SIGNAL_CONTAINER_REMOVED]
      = g_signal_new ("container-removed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                      NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
grove_engine_init (GroveEngine *self)
{
  self->handlers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->pods = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->containers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->busy = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_mutex_init (&self->pause_lock);
}

static void exit_file_cb (GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event,
                          gpointer user_data);

static gboolean
make_dirs (GroveEngine *self, GError **error)
{
  const char *const subdirs[] = { "pods", "containers", NULL };
  const char *const run_subdirs[] = { "containers", "exits", "netns", "pods", "runtimes", NULL };

  for (guint i = 0; subdirs[i] != NULL; i++)
    {
      g_autofree char *dir = g_build_filename (self->root, subdirs[i], NULL);
      if (!grove_mkdir_p_at (AT_FDCWD, dir, 0700, error))
        return FALSE;
    }
  for (guint i = 0; run_subdirs[i] != NULL; i++)
    {
      g_autofree char *dir = g_build_filename (self->runroot, run_subdirs[i], NULL);
      if (!grove_mkdir_p_at (AT_FDCWD, dir, 0700, error))
        return FALSE;
    }
  return TRUE;
}

/* the lowest oom_score_adj a child may ask for is our own (no CAP_SYS_RESOURCE here) */
static int
read_own_oom_score_adj (void)
{
  g_autofree char *text = NULL;

  if (!g_file_get_contents ("/proc/self/oom_score_adj", &text, NULL, NULL))
    return 0;
  return (int)g_ascii_strtoll (text, NULL, 10);
}

/* a RuntimeDefault profile that does not build would fail every container: fail now */
static gboolean
load_seccomp_default (GroveEngine *self, const char *path, GError **error)
{
  g_autoptr (JsonObject) profile = NULL;
  g_autoptr (JsonObject) oci = NULL;

  self->seccomp_default = grove_seccomp_read_default (path, &self->seccomp_origin, error);
  if (self->seccomp_default == NULL)
    return FALSE;
  profile = grove_seccomp_parse_profile (self->seccomp_default, -1, self->seccomp_origin, error);
  if (profile == NULL)
    return FALSE;
  oci = grove_seccomp_build (profile, self->seccomp_origin, NULL, error);
  return oci != NULL;
}

/* once: what every pod with a user namespace needs, tried on this kernel and filesystem */
static void
probe_user_namespaces (GroveEngine *self)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree char *dir = g_build_filename (self->root, "userns-probe", NULL);

  if (self->pause_path == NULL)
    self->userns_unsupported = g_strdup ("no grove-pause helper is configured");
  else if (!grove_rm_rf_at (AT_FDCWD, dir, NULL, &local_error)
           || !grove_userns_probe (self->pause_path, dir, &local_error))
    self->userns_unsupported = g_strdup (local_error->message);
  if (self->userns_unsupported != NULL)
    g_info ("pods cannot have user namespaces here: %s", self->userns_unsupported);
}

/**
 * grove_engine_check_user_namespaces: (skip)
 *
 * Returns: %TRUE when pods can have user namespaces here; the error says why not
 */
gboolean
grove_engine_check_user_namespaces (GroveEngine *self, GError **error)
{
  if (self->userns_unsupported != NULL)
    return grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                        "user namespaces are not supported here: %s", self->userns_unsupported);
  return TRUE;
}

/**
 * grove_engine_get_handler_features:
 * @self: a #GroveEngine
 * @handler: a runtime handler's name
 * @out_user_namespaces: (out): whether pods on @handler can have user namespaces
 *
 * What pods on @handler can have, as CRI `RuntimeHandlerFeatures` reports it. User
 * namespaces come from the probe at construction (a user namespace and an idmapped rootfs
 * overlay work here); every handler joins the pod's user namespace by path.
 *
 * Returns: %TRUE when @handler exists
 */
gboolean
grove_engine_get_handler_features (GroveEngine *self, const char *handler,
                                   gboolean *out_user_namespaces)
{
  g_return_val_if_fail (GROVE_IS_ENGINE (self), FALSE);
  *out_user_namespaces = FALSE;
  if (!g_hash_table_contains (self->handlers, handler))
    return FALSE;
  *out_user_namespaces = self->userns_unsupported == NULL;
  return TRUE;
}

/**
 * grove_engine_new:
 * @store: the image store
 * @options: where state goes and which runtimes to use
 * @error: return location
 *
 * Creates an engine. Add the runtime handlers, then call grove_engine_load_async() once to
 * pick up the pods and containers an earlier engine left on disk.
 *
 * Returns: (transfer full) (nullable): the engine
 */
GroveEngine *
grove_engine_new (GroveStore *store, const GroveEngineOptions *options, GError **error)
{
  g_autoptr (GroveEngine) self = g_object_new (GROVE_TYPE_ENGINE, NULL);
  g_autoptr (GFile) exit_dir = NULL;
  struct rlimit nofile;

  g_return_val_if_fail (GROVE_IS_STORE (store), NULL);
  g_return_val_if_fail (options != NULL && options->root != NULL && options->runroot != NULL, NULL);

  self->store = g_object_ref (store);
  self->root = g_canonicalize_filename (options->root, NULL);
  self->runroot = g_canonicalize_filename (options->runroot, NULL);
  self->exit_dir = g_build_filename (self->runroot, "exits", NULL);
  self->conmon_path = g_strdup (options->conmon_path);
  self->pause_path = g_strdup (options->pause_path);
  self->cgroup_parent = g_strdup (options->cgroup_parent ? options->cgroup_parent : "/grove");
  self->default_handler = g_strdup (options->default_handler ? options->default_handler : "runc");
  self->trusted_handler
      = g_strdup (options->trusted_handler ? options->trusted_handler : self->default_handler);
  self->cni = grove_cni_new (options->cni_conf_dir, options->cni_plugin_dirs, CNI_TIMEOUT_SECONDS);
  self->oom_score_adj_min = read_own_oom_score_adj ();
  self->nofile_max = getrlimit (RLIMIT_NOFILE, &nofile) == 0 ? nofile.rlim_max : 1024;
  if (!g_path_is_absolute (self->cgroup_parent))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "the cgroup parent '%s' must be an absolute path", self->cgroup_parent),
           NULL;
  if (!load_seccomp_default (self, options->seccomp_profile, error) || !make_dirs (self, error))
    return NULL;
  probe_user_namespaces (self);
  exit_dir = g_file_new_for_path (self->exit_dir);
  self->exit_monitor = g_file_monitor_directory (exit_dir, G_FILE_MONITOR_NONE, NULL, error);
  if (self->exit_monitor == NULL)
    return NULL;
  g_signal_connect (self->exit_monitor, "changed", G_CALLBACK (exit_file_cb), self);
  self->writer = g_thread_pool_new (persist_thread, NULL, 1, FALSE, error);
  if (self->writer == NULL)
    return FALSE;
  self->workers = g_thread_pool_new (job_thread, NULL, GROVE_ENGINE_MAX_WORKERS, FALSE, error);
  if (self->workers == NULL)
    return NULL;
  return g_steal_pointer (&self);
}

/**
 * grove_engine_add_handler:
 * @self: a #GroveEngine
 * @name: the handler's name, as pods ask for it (`runc`, `crun`, `kata`, ...)
 * @argv: the runtime binary and any arguments to put before its own
 * @error: return location
 *
 * Returns: %TRUE on success
 */
gboolean
grove_engine_add_handler (GroveEngine *self, const char *name, const char *const *argv,
                          GError **error)
{
  g_autofree char *state_root = NULL;
  GroveOciRuntime *runtime;

  g_return_val_if_fail (GROVE_IS_ENGINE (self), FALSE);
  g_return_val_if_fail (argv != NULL && argv[0] != NULL, FALSE);
  if (g_hash_table_contains (self->handlers, name))
    return grove_throw (error, GROVE_ERROR_ALREADY_EXISTS, "runtime handler '%s' exists already",
                        name);
  state_root = g_build_filename (self->runroot, "runtimes", name, NULL);
  runtime = grove_oci_runtime_new_with_argv (name, argv, state_root, self->conmon_path, error);
  if (runtime == NULL)
    return FALSE;
  g_hash_table_insert (self->handlers, g_strdup (name), runtime);
  return TRUE;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

/**
 * grove_engine_dup_handler_names:
 * @self: a #GroveEngine
 *
 * Returns: (transfer full): the names of the runtime handlers added, sorted
 */
GStrv
grove_engine_dup_handler_names (GroveEngine *self)
{
  g_autofree const char **names = NULL;
  guint n = 0;

  g_return_val_if_fail (GROVE_IS_ENGINE (self), NULL);
  names = (const char **)g_hash_table_get_keys_as_array (self->handlers, &n);
  qsort (names, n, sizeof (char *), compare_strings);
  return g_strdupv ((char **)names);
}

/**
 * grove_engine_get_store:
 * @self: a #GroveEngine
 *
 * Returns: (transfer none): the image store
 */
GroveStore *
grove_engine_get_store (GroveEngine *self)
{
  g_return_val_if_fail (GROVE_IS_ENGINE (self), NULL);
  return self->store;
}

char *
grove_engine_pod_dir (GroveEngine *self, const char *pod_id)
{
  return g_build_filename (self->root, "pods", pod_id, NULL);
}

char *
grove_engine_container_dir (GroveEngine *self, const char *id)
{
  return g_build_filename (self->root, "containers", id, NULL);
}

char *
grove_engine_run_dir (GroveEngine *self, const char *id)
{
  return g_build_filename (self->runroot, "containers", id, NULL);
}

gboolean
grove_write_record (const char *dir, const char *name, JsonObject *record, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  gsize length = 0;
  g_autofree char *text = grove_record_serialize (record, &length);

  return grove_write_file_at (AT_FDCWD, path, text, length, 0600, error);
}

gint64
grove_now_ns (void)
{
  return g_get_real_time () * 1000;
}

char *
grove_new_id (void)
{
  GString *id = g_string_sized_new (64);

  for (guint i = 0; i < 8; i++)
    g_string_append_printf (id, "%08x", g_random_int ());
  return g_string_free (id, FALSE);
}

/**
 * grove_engine_persist: (skip)
 *
 * Queues @record to be written to @dir/@name, after every write queued before it.
 */
void
grove_engine_persist (GroveEngine *self, const char *dir, const char *name, JsonObject *record)
{
  PersistItem *item = g_new0 (PersistItem, 1);

  item->dir = g_strdup (dir);
  item->name = g_strdup (name);
  item->record = grove_record_copy (record);
  g_thread_pool_push (self->writer, item, NULL);
}

/* jobs */

GroveJob *
grove_job_new (GroveEngine *self, const char *key, GroveJobWorkFunc work, GroveJobDoneFunc done)
{
  GroveJob *job = g_new0 (GroveJob, 1);

  job->engine = g_object_ref (self);
  job->key = g_strdup (key);
  job->work = work;
  job->done = done;
  return job;
}

void
grove_job_free (GroveJob *job)
{
  g_clear_object (&job->engine);
  g_free (job->key);
  g_free (job->id);
  g_free (job->pod_id);
  g_free (job->handler);
  g_clear_object (&job->runtime);
  g_clear_pointer (&job->config, json_object_unref);
  g_clear_pointer (&job->pod_record, json_object_unref);
  g_clear_pointer (&job->record, json_object_unref);
  g_clear_pointer (&job->container_records, g_ptr_array_unref);
  g_clear_pointer (&job->pod_records, g_ptr_array_unref);
  g_free (job->name_key);
  g_strfreev (job->argv);
  g_clear_pointer (&job->exec_result, grove_exec_result_free);
  g_clear_pointer (&job->runtimes, g_hash_table_unref);
  g_free (job);
}

static void job_start (GroveEngine *self, GTask *outer);

static void
job_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) outer = user_data;
  GroveEngine *self = GROVE_ENGINE (source);
  GroveJob *job = g_task_get_task_data (outer);
  GError *local_error = NULL;
  gboolean ok = g_task_propagate_boolean (G_TASK (result), &local_error);
  GQueue *waiting = g_hash_table_lookup (self->busy, job->key);

  if (job->done != NULL)
    job->done (self, job, ok);
  /* the next operation on the same object may go now */
  if (waiting != NULL && !g_queue_is_empty (waiting))
    job_start (self, g_queue_pop_head (waiting));
  else
    {
      if (waiting != NULL)
        g_queue_free (waiting);
      g_hash_table_remove (self->busy, job->key);
    }
  if (ok)
    g_task_return_boolean (outer, TRUE);
  else
    g_task_return_error (outer, local_error);
}

static void
job_start (GroveEngine *self, GTask *outer)
{
  GroveJob *job = g_task_get_task_data (outer);
  g_autoptr (GTask) inner = g_task_new (self, g_task_get_cancellable (outer), job_done_cb, outer);
  GroveContainer *container = g_hash_table_lookup (self->containers, job->key);

  /* an operation that waited behind another works on the state that one left */
  if (job->refresh_container && container != NULL)
    {
      g_clear_pointer (&job->record, json_object_unref);
      job->record = grove_record_copy (grove_container_get_record (container));
    }
  g_task_set_task_data (inner, job, NULL);
  g_thread_pool_push (self->workers, g_steal_pointer (&inner), NULL);
}

/**
 * grove_engine_run_job: (skip)
 *
 * Runs @job (taking it), after any operation already under way on the same object.
 */
void
grove_engine_run_job (GroveEngine *self, GroveJob *job, GCancellable *cancellable,
                      GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag)
{
  GTask *outer = g_task_new (self, cancellable, callback, user_data);
  GQueue *waiting;

  g_task_set_source_tag (outer, source_tag);
  g_task_set_task_data (outer, job, (GDestroyNotify)grove_job_free);
  if (g_hash_table_lookup_extended (self->busy, job->key, NULL, (gpointer *)&waiting))
    {
      if (waiting == NULL)
        {
          waiting = g_queue_new ();
          g_hash_table_insert (self->busy, g_strdup (job->key), waiting);
        }
      g_queue_push_tail (waiting, outer);
      return;
    }
  g_hash_table_insert (self->busy, g_strdup (job->key), NULL);
  job_start (self, outer);
}

/**
 * grove_engine_job_finish: (skip)
 *
 * Returns: (transfer none) (nullable): the finished job, or %NULL with @error set
 */
GroveJob *
grove_engine_job_finish (GroveEngine *self, GAsyncResult *result, gpointer source_tag,
                         GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == source_tag, NULL);
  if (!g_task_propagate_boolean (G_TASK (result), error))
    return NULL;
  return g_task_get_task_data (G_TASK (result));
}

/* sync wrappers: a worker thread runs the runtime's async calls on a context of its own */

typedef struct
{
  GMainContext *context;
  GAsyncResult *result;
} SyncCall;

static void
sync_call_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SyncCall *call = user_data;

  call->result = g_object_ref (result);
  g_main_context_wakeup (call->context);
}

static void
sync_call_begin (SyncCall *call)
{
  call->context = g_main_context_new ();
  call->result = NULL;
  g_main_context_push_thread_default (call->context);
}

static void
sync_call_wait (SyncCall *call)
{
  while (call->result == NULL)
    g_main_context_iteration (call->context, TRUE);
}

static void
sync_call_end (SyncCall *call)
{
  g_main_context_pop_thread_default (call->context);
  g_clear_object (&call->result);
  g_main_context_unref (call->context);
}

gboolean
grove_runtime_create_sync (GroveOciRuntime *runtime, const GroveCreateOptions *options,
                           int *out_pid, int *out_conmon_pid, GCancellable *cancellable,
                           GError **error)
{
  SyncCall call;
  gboolean ok;

  sync_call_begin (&call);
  grove_oci_runtime_create_async (runtime, options, cancellable, sync_call_cb, &call);
  sync_call_wait (&call);
  ok = grove_oci_runtime_create_finish (runtime, call.result, out_pid, out_conmon_pid, error);
  sync_call_end (&call);
  return ok;
}

gboolean
grove_runtime_start_sync (GroveOciRuntime *runtime, const char *id, GCancellable *cancellable,
                          GError **error)
{
  SyncCall call;
  gboolean ok;

  sync_call_begin (&call);
  grove_oci_runtime_start_async (runtime, id, cancellable, sync_call_cb, &call);
  sync_call_wait (&call);
  ok = grove_oci_runtime_start_finish (runtime, call.result, error);
  sync_call_end (&call);
  return ok;
}

gboolean
grove_runtime_kill_sync (GroveOciRuntime *runtime, const char *id, int signal, gboolean all,
                         GCancellable *cancellable, GError **error)
{
  SyncCall call;
  gboolean ok;

  sync_call_begin (&call);
  grove_oci_runtime_kill_async (runtime, id, signal, all, cancellable, sync_call_cb, &call);
  sync_call_wait (&call);
  ok = grove_oci_runtime_kill_finish (runtime, call.result, error);
  sync_call_end (&call);
  return ok;
}

gboolean
grove_runtime_delete_sync (GroveOciRuntime *runtime, const char *id, GCancellable *cancellable,
                           GError **error)
{
  SyncCall call;
  gboolean ok;

  sync_call_begin (&call);
  grove_oci_runtime_delete_async (runtime, id, TRUE, cancellable, sync_call_cb, &call);
  sync_call_wait (&call);
  ok = grove_oci_runtime_delete_finish (runtime, call.result, error);
  sync_call_end (&call);
  return ok;
}

gboolean
grove_runtime_update_sync (GroveOciRuntime *runtime, const char *id, const char *resources_path,
                           GCancellable *cancellable, GError **error)
{
  SyncCall call;
  gboolean ok;

  sync_call_begin (&call);
  grove_oci_runtime_update_async (runtime, id, resources_path, cancellable, sync_call_cb, &call);
  sync_call_wait (&call);
  ok = grove_oci_runtime_update_finish (runtime, call.result, error);
  sync_call_end (&call);
  return ok;
}

gboolean
grove_runtime_state_sync (GroveOciRuntime *runtime, const char *id, char **out_status, int *out_pid,
                          GCancellable *cancellable, GError **error)
{
  SyncCall call;
  gboolean ok;

  sync_call_begin (&call);
  grove_oci_runtime_state_async (runtime, id, cancellable, sync_call_cb, &call);
  sync_call_wait (&call);
  ok = grove_oci_runtime_state_finish (runtime, call.result, out_status, out_pid, error);
  sync_call_end (&call);
  return ok;
}

GroveExecResult *
grove_runtime_exec_sync (GroveOciRuntime *runtime, const char *id, const char *bundle,
                         const char *run_dir, const char *const *argv, guint timeout,
                         GCancellable *cancellable, GError **error)
{
  SyncCall call;
  GroveExecResult *result;

  sync_call_begin (&call);
  grove_oci_runtime_exec_sync_async (runtime, id, bundle, run_dir, argv, timeout, cancellable,
                                     sync_call_cb, &call);
  sync_call_wait (&call);
  result = grove_oci_runtime_exec_sync_finish (runtime, call.result, error);
  sync_call_end (&call);
  return result;
}

/* lookups */

static gpointer
lookup_by_prefix (GHashTable *table, const char *id, const char *what, GError **error)
{
  GHashTableIter iter;
  const char *key;
  gpointer value;
  gpointer found = NULL;

  if (id == NULL || *id == '\0')
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "no %s ID given", what), NULL;
  found = g_hash_table_lookup (table, id);
  if (found != NULL)
    return found;
  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, (gpointer *)&key, &value))
    {
      if (!g_str_has_prefix (key, id))
        continue;
      if (found != NULL)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s ID prefix '%s' is ambiguous",
                            what, id),
               NULL;
      found = value;
    }
  if (found == NULL)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "no %s '%s'", what, id), NULL;
  return found;
}

/**
 * grove_engine_succeed_if_absent: (skip)
 *
 * Stop and remove of an object that does not exist succeed: the CRI wants them idempotent.
 *
 * Returns: %TRUE if @id names nothing in @table and the operation has been completed
 */
gboolean
grove_engine_succeed_if_absent (GroveEngine *self, GHashTable *table, const char *id,
                                GAsyncReadyCallback callback, gpointer user_data,
                                gpointer source_tag)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GTask) task = NULL;

  if (lookup_by_prefix (table, id, "object", &local_error) != NULL
      || !g_error_matches (local_error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND))
    return FALSE;
  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, source_tag);
  g_task_return_boolean (task, TRUE);
  return TRUE;
}

/**
 * grove_engine_get_pod:
 * @self: a #GroveEngine
 * @id: a pod ID or unique prefix
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the pod, or %NULL with %GROVE_ERROR_NOT_FOUND
 */
GrovePod *
grove_engine_get_pod (GroveEngine *self, const char *id, GError **error)
{
  GrovePod *pod;

  g_return_val_if_fail (GROVE_IS_ENGINE (self), NULL);
  pod = lookup_by_prefix (self->pods, id, "pod", error);
  return pod ? g_object_ref (pod) : NULL;
}

/**
 * grove_engine_get_container:
 * @self: a #GroveEngine
 * @id: a container ID or unique prefix
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the container, or %NULL with %GROVE_ERROR_NOT_FOUND
 */
GroveContainer *
grove_engine_get_container (GroveEngine *self, const char *id, GError **error)
{
  GroveContainer *container;

  g_return_val_if_fail (GROVE_IS_ENGINE (self), NULL);
  container = lookup_by_prefix (self->containers, id, "container", error);
  return container ? g_object_ref (container) : NULL;
}

static int
compare_created (gconstpointer a, gconstpointer b)
{
  JsonObject *ra = *(JsonObject *const *)a;
  JsonObject *rb = *(JsonObject *const *)b;
  gint64 ca = grove_record_int (ra, "createdAt", 0);
  gint64 cb = grove_record_int (rb, "createdAt", 0);

  return ca < cb   ? -1
         : ca > cb ? 1
                   : g_strcmp0 (grove_record_string (ra, "id"), grove_record_string (rb, "id"));
}

static int
compare_pods (gconstpointer a, gconstpointer b)
{
  JsonObject *ra = grove_pod_get_record (*(GrovePod *const *)a);
  JsonObject *rb = grove_pod_get_record (*(GrovePod *const *)b);
  return compare_created (&ra, &rb);
}

static int
compare_containers (gconstpointer a, gconstpointer b)
{
  JsonObject *ra = grove_container_get_record (*(GroveContainer *const *)a);
  JsonObject *rb = grove_container_get_record (*(GroveContainer *const *)b);
  return compare_created (&ra, &rb);
}

/**
 * grove_engine_list_pods:
 * @self: a #GroveEngine
 * @filter: (nullable): what to list
 *
 * Returns: (transfer full) (element-type GrovePod): the pods, oldest first
 */
GPtrArray *
grove_engine_list_pods (GroveEngine *self, const GroveListFilter *filter)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  GrovePod *pod;

  g_return_val_if_fail (GROVE_IS_ENGINE (self), NULL);
  g_hash_table_iter_init (&iter, self->pods);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&pod))
    {
      if (filter != NULL
          && ((filter->id != NULL && !g_str_has_prefix (grove_pod_get_id (pod), filter->id))
              || (filter->state >= 0 && (int)grove_pod_get_state (pod) != filter->state)
              || !grove_pod_matches_labels (pod, filter->labels)))
        continue;
      g_ptr_array_add (out, g_object_ref (pod));
    }
  g_ptr_array_sort (out, compare_pods);
  return out;
}

/**
 * grove_engine_list_containers:
 * @self: a #GroveEngine
 * @filter: (nullable): what to list
 *
 * Returns: (transfer full) (element-type GroveContainer): the containers (not the pods'
 *   infra containers), oldest first
 */
GPtrArray *
grove_engine_list_containers (GroveEngine *self, const GroveListFilter *filter)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  GroveContainer *container;

  g_return_val_if_fail (GROVE_IS_ENGINE (self), NULL);
  g_hash_table_iter_init (&iter, self->containers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *)&container))
    {
      if (filter != NULL
          && ((filter->id != NULL
               && !g_str_has_prefix (grove_container_get_id (container), filter->id))
              || (filter->pod_id != NULL
                  && !g_str_has_prefix (grove_container_get_pod_id (container), filter->pod_id))
              || (filter->state >= 0 && (int)grove_container_get_state (container) != filter->state)
              || !grove_container_matches_labels (container, filter->labels)))
        continue;
      g_ptr_array_add (out, g_object_ref (container));
    }
  g_ptr_array_sort (out, compare_containers);
  return out;
}

/* exits: conmon writes <runroot>/exits/<id> when a container ends */

/**
 * grove_engine_apply_exit: (skip)
 *
 * Marks @record exited if its exit file says so. Safe in any thread (reads files only).
 *
 * Returns: %TRUE if @record changed
 */
gboolean
grove_engine_apply_exit (GroveEngine *self, const char *exit_dir, JsonObject *record)
{
  const char *id = grove_record_string (record, "id");
  const char *state = grove_record_string (record, "state");
  g_autofree char *exit_path = g_build_filename (exit_dir, id, NULL);
  g_autofree char *run_dir = grove_engine_run_dir (self, id);
  g_autofree char *oom_path = g_build_filename (run_dir, "oom", NULL);
  g_autoptr (GError) local_error = NULL;
  gboolean exited = FALSE;
  int code = 0;
  struct stat st;

  if (g_strcmp0 (state, "running") != 0 && g_strcmp0 (state, "created") != 0)
    return FALSE;
  if (!grove_read_exit_file (exit_dir, id, &exited, &code, &local_error))
    {
      g_warning ("reading the exit file of %s: %s", id, local_error->message);
      return FALSE;
    }
  if (!exited)
    return FALSE;
  json_object_set_string_member (record, "state", "exited");
  json_object_set_int_member (record, "exitCode", code);
  json_object_set_int_member (record, "pid", 0);
  json_object_set_int_member (record, "finishedAt",
                              stat (exit_path, &st) == 0
                                  ? (gint64)st.st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000)
                                        + st.st_mtim.tv_nsec
                                  : grove_now_ns ());
  json_object_set_string_member (record, "reason",
                                 g_file_test (oom_path, G_FILE_TEST_EXISTS) ? "OOMKilled"
                                 : code == 0                                ? "Completed"
                                                                            : "Error");
  return TRUE;
}

/**
 * grove_engine_wait_exit: (skip)
 *
 * Waits in a worker thread for conmon to write @id's exit file.
 *
 * Returns: %TRUE if it exited within @timeout_ms
 */
gboolean
grove_engine_wait_exit (GroveEngine *self, const char *id, guint timeout_ms,
                        GCancellable *cancellable)
{
  g_autofree char *path = g_build_filename (self->exit_dir, id, NULL);
  gint64 deadline = g_get_monotonic_time () + (gint64)timeout_ms * 1000;
  struct stat st;

  while (!(stat (path, &st) == 0 && st.st_size > 0))
    {
      if (g_get_monotonic_time () >= deadline || g_cancellable_is_cancelled (cancellable))
        return FALSE;
      g_usleep (10 * 1000);
    }
  return TRUE;
}

/* a ready pod whose infra container has an exit file is not ready any more; any thread */
static gboolean
pod_apply_exit (GroveEngine *self, JsonObject *record)
{
  g_autofree char *exit_path
      = g_build_filename (self->exit_dir, grove_record_string (record, "id"), NULL);

  if (g_strcmp0 (grove_record_string (record, "state"), "ready") != 0
      || !g_file_test (exit_path, G_FILE_TEST_EXISTS))
    return FALSE;
  json_object_set_string_member (record, "state", "notready");
  json_object_set_int_member (record, "infraPid", 0);
  return TRUE;
}

/* a container or infra container ended while no operation was under way on it */
static void
handle_exit (GroveEngine *self, const char *id)
{
  GroveContainer *container = g_hash_table_lookup (self->containers, id);
  GrovePod *pod = g_hash_table_lookup (self->pods, id);

  if (g_hash_table_contains (self->busy, id))
    return; /* the operation under way looks at the exit when it is done */
  if (container != NULL
      && grove_engine_apply_exit (self, self->exit_dir, grove_container_get_record (container)))
    {
      g_autofree char *dir = grove_engine_container_dir (self, id);
      grove_engine_persist (self, dir, "container.json", grove_container_get_record (container));
      g_signal_emit (self, signals[SIGNAL_CONTAINER_CHANGED], 0, container);
    }
  if (pod != NULL && pod_apply_exit (self, grove_pod_get_record (pod)))
    {
      g_autofree char *dir = grove_engine_pod_dir (self, id);
      grove_engine_persist (self, dir, "pod.json", grove_pod_get_record (pod));
      g_signal_emit (self, signals[SIGNAL_POD_CHANGED], 0, pod);
    }
}

static void
exit_file_cb (GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event,
              gpointer user_data)
{
  g_autofree char *id = g_file_get_basename (file);

  if (event != G_FILE_MONITOR_EVENT_CHANGES_DONE_HINT && event != G_FILE_MONITOR_EVENT_CREATED)
    return;
  handle_exit (GROVE_ENGINE (user_data), id);
}

/**
 * grove_engine_install_container: (skip)
 *
 * Puts @record into the table (new or replacing), re-checks its exit file and emits
 * ::container-changed.
 */
void
grove_engine_install_container (GroveEngine *self, JsonObject *record)
{
  const char *id = grove_record_string (record, "id");
  GroveContainer *container = g_hash_table_lookup (self->containers, id);
  g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), record);

  if (container != NULL)
    {
      JsonObject *mine = grove_container_get_record (container);
      GList *members = json_object_get_members (record);
      for (GList *l = members; l != NULL; l = l->next)
        json_object_set_member (mine, l->data,
                                grove_record_copy_node (json_object_get_member (record, l->data)));
      g_list_free (members);
    }
  else
    {
      container = grove_container_new_from_json (node, NULL);
      g_hash_table_insert (self->containers, g_strdup (id), container);
    }
  g_signal_emit (self, signals[SIGNAL_CONTAINER_CHANGED], 0, container);
}

/**
 * grove_engine_forget_container: (skip)
 *
 * Drops a removed container from the tables and emits ::container-removed.
 */
void
grove_engine_forget_container (GroveEngine *self, const char *id)
{
  g_autofree char *owned_id = g_strdup (id);
  GroveContainer *container = g_hash_table_lookup (self->containers, owned_id);

  if (container == NULL)
    return;
  g_hash_table_remove (self->names,
                       grove_record_string (grove_container_get_record (container), "nameKey"));
  g_hash_table_remove (self->containers, owned_id);
  g_signal_emit (self, signals[SIGNAL_CONTAINER_REMOVED], 0, owned_id);
}

/**
 * grove_pod_name_key: (skip)
 *
 * Returns: (transfer full): the name a pod reserves, as CRI-O and containerd make it
 */
char *
grove_pod_name_key (JsonObject *config)
{
  JsonObject *metadata = grove_record_object (config, "metadata");

  return g_strdup_printf (
      "k8s_POD_%s_%s_%s_%" G_GINT64_FORMAT, grove_record_string (metadata, "name"),
      grove_record_string (metadata, "namespace"), grove_record_string (metadata, "uid"),
      grove_record_int (metadata, "attempt", 0));
}

/**
 * grove_container_name_key: (skip)
 *
 * Returns: (transfer full): the name a container reserves within its pod
 */
char *
grove_container_name_key (JsonObject *pod_config, JsonObject *container_config)
{
  JsonObject *metadata = grove_record_object (container_config, "metadata");
  JsonObject *pod = grove_record_object (pod_config, "metadata");

  return g_strdup_printf ("k8s_%s_%s_%s_%s_%" G_GINT64_FORMAT,
                          grove_record_string (metadata, "name"), grove_record_string (pod, "name"),
                          grove_record_string (pod, "namespace"), grove_record_string (pod, "uid"),
                          grove_record_int (metadata, "attempt", 0));
}

/* recovery: rebuild the tables from what an earlier engine left on disk */

static GPtrArray *
read_records (const char *dir, const char *name)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  GPtrArray *records = g_ptr_array_new_with_free_func ((GDestroyNotify)json_object_unref);
  const char *entry;

  while (d != NULL && (entry = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, entry, name, NULL);
      g_autofree char *text = NULL;
      g_autoptr (GError) local_error = NULL;
      gsize length = 0;
      JsonObject *record;

      if (!g_file_get_contents (path, &text, &length, NULL))
        continue; /* an infra container's dir has no container.json */
      record = grove_record_parse (text, length, path, &local_error);
      if (record == NULL)
        g_warning ("skipping %s: %s", path, local_error->message);
      else
        g_ptr_array_add (records, record);
    }
  return records;
}

/* a container that ran when the last engine stopped: still running, or how did it end? */
static void
recover_container (GroveJob *job, JsonObject *record, GCancellable *cancellable)
{
  GroveEngine *self = job->engine;
  const char *id = grove_record_string (record, "id");
  const char *state = grove_record_string (record, "state");
  GroveOciRuntime *runtime
      = g_hash_table_lookup (job->runtimes, grove_record_string (record, "handler"));
  g_autofree char *status = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autofree char *rootfs = NULL;
  gboolean changed = grove_engine_apply_exit (self, self->exit_dir, record);
  int pid = 0;

  if (!changed && g_strcmp0 (state, "running") == 0
      && (runtime == NULL
          || !grove_runtime_state_sync (runtime, id, &status, &pid, cancellable, NULL)
          || g_strcmp0 (status, "stopped") == 0))
    {
      /* no exit file and the runtime no longer knows it: the host rebooted */
      json_object_set_string_member (record, "state", "exited");
      json_object_set_int_member (record, "exitCode", 255);
      json_object_set_int_member (record, "pid", 0);
      json_object_set_int_member (record, "finishedAt", grove_now_ns ());
      json_object_set_string_member (record, "reason", "Error");
      json_object_set_string_member (record, "message",
                                     "the container was gone when Grove restarted");
      changed = TRUE;
    }
  if (changed)
    {
      g_autofree char *dir = grove_engine_container_dir (self, id);
      if (!grove_write_record (dir, "container.json", record, &local_error))
        g_warning ("%s", local_error->message);
      g_clear_error (&local_error);
    }
  /* the rootfs overlay does not survive a reboot: mount it again from what is on disk */
  rootfs = grove_engine_prepare_rootfs (self, record, id, NULL, cancellable, &local_error);
  if (rootfs == NULL)
    g_warning ("re-mounting the rootfs of %s: %s", id, local_error->message);
}

static void
recover_pod (GroveJob *job, JsonObject *record, GCancellable *cancellable)
{
  GroveEngine *self = job->engine;
  const char *id = grove_record_string (record, "id");
  g_autofree char *dir = grove_engine_pod_dir (self, id);
  g_autoptr (GError) local_error = NULL;

  if (!pod_apply_exit (self, record))
    return;
  if (!grove_write_record (dir, "pod.json", record, &local_error))
    g_warning ("%s", local_error->message);
}

/* the idmapped mounts of (infra) containers that are gone */
static void
collect_idmapped_garbage (GroveEngine *self, GPtrArray *pods, GPtrArray *containers)
{
  g_autoptr (GHashTable) live_ids = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < pods->len; i++)
    g_hash_table_add (live_ids, (gpointer)grove_record_string (pods->pdata[i], "id"));
  for (guint i = 0; i < containers->len; i++)
    g_hash_table_add (live_ids, (gpointer)grove_record_string (containers->pdata[i], "id"));
  grove_engine_collect_idmapped_garbage (self, live_ids);
}

static gboolean
load_work (GroveJob *job, GCancellable *cancellable, GError **error)
{
  GroveEngine *self = job->engine;
  g_autofree char *pods_dir = g_build_filename (self->root, "pods", NULL);
  g_autofree char *containers_dir = g_build_filename (self->root, "containers", NULL);
  g_autoptr (GPtrArray) pods = read_records (pods_dir, "pod.json");

  job->pod_records = g_ptr_array_new_with_free_func ((GDestroyNotify)json_object_unref);
  for (guint i = 0; i < pods->len; i++)
    {
      JsonObject *record = pods->pdata[i];
      GroveOciRuntime *runtime
          = g_hash_table_lookup (job->runtimes, grove_record_string (record, "handler"));
      g_autoptr (GError) local_error = NULL;

      /* an engine that stopped half-way through creating a pod: finish undoing it */
      if (g_strcmp0 (grove_record_string (record, "state"), "creating") == 0)
        {
          if (!grove_pod_cleanup_work (self, runtime, record, cancellable, &local_error))
            g_warning ("cleaning up half-created pod: %s", local_error->message);
          continue;
        }
      recover_pod (job, record, cancellable);
      g_ptr_array_add (job->pod_records, json_object_ref (record));
    }
  /* after a crash: namespaces and addresses of pods that are gone */
  grove_engine_collect_network_garbage (self, job->pod_records, cancellable);
  job->container_records = read_records (containers_dir, "container.json");
  collect_idmapped_garbage (self, job->pod_records, job->container_records);
  for (guint i = 0; i < job->container_records->len; i++)
    {
      JsonObject *record = job->container_records->pdata[i];
      const char *state = grove_record_string (record, "state");
      if (g_strcmp0 (state, "running") == 0 || g_strcmp0 (state, "created") == 0)
        recover_container (job, record, cancellable);
    }
  return TRUE;
}

static void
load_done (GroveEngine *self, GroveJob *job, gboolean ok)
{
  if (!ok)
    return;
  for (guint i = 0; i < job->pod_records->len; i++)
    {
      JsonObject *record = job->pod_records->pdata[i];
      g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), record);
      GrovePod *pod = grove_pod_new_from_json (node, NULL);
      if (pod == NULL)
        continue;
      g_hash_table_insert (self->names, grove_pod_name_key (grove_pod_get_config (pod)),
                           g_strdup (grove_pod_get_id (pod)));
      g_hash_table_insert (self->pods, g_strdup (grove_pod_get_id (pod)), pod);
    }
  for (guint i = 0; i < job->container_records->len; i++)
    {
      JsonObject *record = job->container_records->pdata[i];
      const char *key = grove_record_string (record, "nameKey");
      if (!g_hash_table_contains (self->pods, grove_record_string (record, "podId")))
        continue;
      if (key != NULL)
        g_hash_table_insert (self->names, g_strdup (key),
                             g_strdup (grove_record_string (record, "id")));
      grove_engine_install_container (self, record);
    }
  self->loaded = TRUE;
}

/**
 * grove_engine_load_async:
 * @self: a #GroveEngine
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: closure
 *
 * Rebuilds the engine's pods and containers from disk, once, before anything else:
 * containers that still run stay tracked, those that ended meanwhile get their real exit
 * code, rootfs overlays are mounted again, half-created pods are undone.
 */
void
grove_engine_load_async (GroveEngine *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data)
{
  GroveJob *job = grove_job_new (self, "", load_work, load_done);

  g_return_if_fail (GROVE_IS_ENGINE (self));
  job->runtimes = g_hash_table_ref (self->handlers);
  grove_engine_run_job (self, job, cancellable, callback, user_data, grove_engine_load_async);
}

/**
 * grove_engine_load_finish:
 * @self: a #GroveEngine
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: %TRUE on success
 */
gboolean
grove_engine_load_finish (GroveEngine *self, GAsyncResult *result, GError **error)
{
  return grove_engine_job_finish (self, result, grove_engine_load_async, error) != NULL;
}
