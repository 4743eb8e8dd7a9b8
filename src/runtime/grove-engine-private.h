/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "grove-cni.h"
#include "grove-engine.h"
#include "grove-record.h"
#include "grove-runtime-private.h"

G_BEGIN_DECLS

struct _GroveEngine
{
  GObject parent_instance;
  GroveStore *store;
  char *root;
  char *runroot;
  char *exit_dir;
  char *conmon_path;
  char *pause_path;
  char *cgroup_parent;
  char *default_handler;
  char *trusted_handler;
  char *seccomp_default; /* the RuntimeDefault profile's text, checked at construction */
  char *seccomp_origin;
  int oom_score_adj_min;
  guint64 nofile_max;
  GroveCni *cni;          /* immutable: workers use it as it is */
  GHashTable *handlers;   /* name → GroveOciRuntime */
  GHashTable *pods;       /* id → GrovePod */
  GHashTable *containers; /* id → GroveContainer */
  GHashTable *names;      /* reserved name → id */
  GHashTable *busy;       /* id → GQueue of GTask waiting for the object */
  GFileMonitor *exit_monitor;
  GThreadPool *writer;  /* persists records in order, off the main thread */
  GThreadPool *workers; /* runs jobs' work: never GTask's pool, whose threads GIO needs */
  GMutex pause_lock;
  char *pause_key; /* inode:size:mtime of the pause binary the tag below was made from */
  char *pause_tag;
  char *userns_unsupported; /* why pods cannot have user namespaces here; NULL: they can */
  gboolean loaded;
};

enum
{
  SIGNAL_POD_CHANGED,
  SIGNAL_POD_REMOVED,
  SIGNAL_CONTAINER_CHANGED,
  SIGNAL_CONTAINER_REMOVED,
  N_SIGNALS
};

typedef struct _GroveJob GroveJob;

/* runs in a worker thread: only the job's own copies may be touched */
typedef gboolean (*GroveJobWorkFunc) (GroveJob *job, GCancellable *cancellable, GError **error);
/* runs on the main thread after the work: installs its results in the engine */
typedef void (*GroveJobDoneFunc) (GroveEngine *self, GroveJob *job, gboolean ok);

/*
 * One engine operation. The main thread fills it with copies, a worker does the slow part
 * (subprocesses, mounts, disk, persisting the new record), the main thread installs the
 * result. Operations on one object (pod or container ID) run one at a time, in order.
 */
struct _GroveJob
{
  GroveEngine *engine;
  char *key; /* the object it works on, for ordering */
  GroveJobWorkFunc work;
  GroveJobDoneFunc done;
  /* inputs and outputs, as each operation needs */
  char *id;
  char *pod_id;
  char *handler;
  GroveOciRuntime *runtime;
  JsonObject *config;
  JsonObject *pod_record;       /* copy of the pod's record */
  JsonObject *record;           /* the new or updated record */
  GPtrArray *container_records; /* JsonObject copies of the pod's containers */
  GPtrArray *pod_records;       /* JsonObject, for loading */
  char *name_key;               /* the name reserved by this operation */
  char **argv;
  guint timeout;
  GroveExecResult *exec_result;
  GHashTable *runtimes;       /* handler → GroveOciRuntime, for pod-wide work */
  gboolean refresh_container; /* take a fresh copy of the container's record at start */
};

void grove_job_free (GroveJob *job);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GroveJob, grove_job_free)
GroveJob *grove_job_new (GroveEngine *self, const char *key, GroveJobWorkFunc work,
                         GroveJobDoneFunc done);
void grove_engine_run_job (GroveEngine *self, GroveJob *job, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data, gpointer source_tag);
GroveJob *grove_engine_job_finish (GroveEngine *self, GAsyncResult *result, gpointer source_tag,
                                   GError **error);

gboolean grove_engine_succeed_if_absent (GroveEngine *self, GHashTable *table, const char *id,
                                         GAsyncReadyCallback callback, gpointer user_data,
                                         gpointer source_tag);

/* paths */
char *grove_engine_pod_dir (GroveEngine *self, const char *pod_id);
char *grove_engine_container_dir (GroveEngine *self, const char *id);
char *grove_engine_run_dir (GroveEngine *self, const char *id);

/* records, written atomically */
gboolean grove_write_record (const char *dir, const char *name, JsonObject *record, GError **error);
gint64 grove_now_ns (void);
char *grove_new_id (void);

/* sync wrappers for worker threads: they iterate a private main context */
gboolean grove_runtime_create_sync (GroveOciRuntime *runtime, const GroveCreateOptions *options,
                                    int *out_pid, int *out_conmon_pid, GCancellable *cancellable,
                                    GError **error);
gboolean grove_runtime_update_sync (GroveOciRuntime *runtime, const char *id,
                                    const char *resources_path, GCancellable *cancellable,
                                    GError **error);
gboolean grove_runtime_start_sync (GroveOciRuntime *runtime, const char *id,
                                   GCancellable *cancellable, GError **error);
char *grove_engine_read_cgroups_path (const char *config_path, GError **error);
gboolean grove_runtime_kill_sync (GroveOciRuntime *runtime, const char *id, int signal,
                                  gboolean all, GCancellable *cancellable, GError **error);
gboolean grove_runtime_delete_sync (GroveOciRuntime *runtime, const char *id,
                                    GCancellable *cancellable, GError **error);
gboolean grove_runtime_state_sync (GroveOciRuntime *runtime, const char *id, char **out_status,
                                   int *out_pid, GCancellable *cancellable, GError **error);
GroveExecResult *grove_runtime_exec_sync (GroveOciRuntime *runtime, const char *id,
                                          const char *bundle, const char *run_dir,
                                          const char *const *argv, guint timeout,
                                          GCancellable *cancellable, GError **error);

/* the container-side pieces the pod operations reuse */
gboolean grove_engine_apply_exit (GroveEngine *self, const char *exit_dir, JsonObject *record);
gboolean grove_container_stop_work (GroveEngine *self, GroveOciRuntime *runtime, JsonObject *record,
                                    guint timeout, GCancellable *cancellable, GError **error);
gboolean grove_container_cleanup_work (GroveEngine *self, GroveOciRuntime *runtime,
                                       JsonObject *record, GCancellable *cancellable,
                                       GError **error);
void grove_engine_install_container (GroveEngine *self, JsonObject *record);
void grove_engine_forget_container (GroveEngine *self, const char *id);
void grove_engine_persist (GroveEngine *self, const char *dir, const char *name,
                           JsonObject *record);
char *grove_container_name_key (JsonObject *pod_config, JsonObject *container_config);
gboolean grove_pod_cleanup_work (GroveEngine *self, GroveOciRuntime *runtime,
                                 JsonObject *pod_record, GCancellable *cancellable, GError **error);
char *grove_pod_name_key (JsonObject *config);

/* pod networking (grove-engine-network.c), in worker threads */
gboolean grove_pod_network_attach (GroveEngine *self, JsonObject *record, GCancellable *cancellable,
                                   GError **error);
gboolean grove_pod_network_detach (GroveEngine *self, JsonObject *record, GCancellable *cancellable,
                                   GError **error);
void grove_engine_collect_network_garbage (GroveEngine *self, GPtrArray *pod_records,
                                           GCancellable *cancellable);

gboolean grove_engine_idmap_spec_mounts (GroveEngine *self, JsonObject *pod_record, const char *id,
                                         JsonObject *spec, GError **error);
gboolean grove_engine_attach_idmapped_mounts (GroveEngine *self, const char *id, GError **error);
gboolean grove_engine_release_idmapped_mounts (GroveEngine *self, const char *id, GError **error);
void grove_engine_collect_idmapped_garbage (GroveEngine *self, GHashTable *live_ids);
gboolean grove_engine_write_spec (GroveEngine *self, JsonObject *pod_record, const char *id,
                                  JsonObject *container_config, GroveImage *image,
                                  const char *image_name, const char *rootfs, GError **error);
char *grove_engine_prepare_rootfs (GroveEngine *self, JsonObject *record, const char *id,
                                   const char *image_id, GCancellable *cancellable, GError **error);
gboolean grove_engine_check_user_namespaces (GroveEngine *self, GError **error);
gboolean grove_engine_wait_exit (GroveEngine *self, const char *id, guint timeout_ms,
                                 GCancellable *cancellable);

/* the infra containers' image */
char *grove_pause_image_ensure (GroveEngine *self, GCancellable *cancellable, GError **error);

G_END_DECLS
