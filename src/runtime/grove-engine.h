/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "grove-cgroup.h"
#include "grove-container.h"
#include "grove-exec-session.h"
#include "grove-oci-runtime.h"
#include "grove-pod.h"
#include "grove-store.h"

G_BEGIN_DECLS

/**
 * GroveEngineOptions:
 * @root: persistent state (`/var/lib/grove`): pods/, containers/ (the store may live here too)
 * @runroot: volatile state (`/run/grove`): containers/ run dirs, exits/, netns/, pods/ shm
 * @conmon_path: (nullable): conmon, %NULL to look it up in PATH
 * @pause_path: the `grove-pause` binary put into the infra containers' rootfs
 * @cgroup_parent: cgroup under which containers go when the pod names none (absolute)
 * @default_handler: the runtime handler of pods that ask for none
 * @trusted_handler: the handler of privileged and host-namespace pods
 * @seccomp_profile: (nullable): the seccomp profile RuntimeDefault means (absolute); %NULL
 *   for the copy built into Grove
 * @cni_conf_dir: (nullable): where the CNI network config is (`/etc/cni/net.d`); %NULL for
 *   no pod network: pods then get a network namespace with loopback only
 * @cni_plugin_dirs: (nullable): where CNI plugins are, in order; %NULL for
 *   `/usr/lib/cni`, `/opt/cni/bin`
 *
 * How an engine is set up. Handlers are added with grove_engine_add_handler().
 */
typedef struct
{
  const char *root;
  const char *runroot;
  const char *conmon_path;
  const char *pause_path;
  const char *cgroup_parent;
  const char *default_handler;
  const char *trusted_handler;
  const char *seccomp_profile;
  const char *cni_conf_dir;
  const char *const *cni_plugin_dirs;
} GroveEngineOptions;

/**
 * GroveListFilter:
 * @id: (nullable): an ID or unique ID prefix
 * @pod_id: (nullable): containers of this pod only
 * @state: -1 for any, else a #GrovePodState or #GroveContainerState
 * @labels: (nullable): label key → value, all of which must match
 *
 * The CRI's list filters.
 */
typedef struct
{
  const char *id;
  const char *pod_id;
  int state;
  GHashTable *labels;
} GroveListFilter;

/**
 * GroveContainerStats:
 * @container_id: the container
 * @timestamp: when the figures were read, in nanoseconds since the epoch
 * @have_cgroup: whether @cgroup holds figures (only a running container has a cgroup)
 * @cgroup: its CPU and memory usage
 * @writable_path: its writable layer (the overlay's upper dir)
 * @writable_bytes: disk used by the writable layer
 * @writable_inodes: inodes used by the writable layer
 * @have_fs: whether the fs_ figures hold the writable layer's filesystem's size
 * @fs_capacity_bytes: the size of the filesystem the writable layer is on
 * @fs_inodes: the inodes of that filesystem
 * @fs_inodes_free: the inodes of that filesystem still free
 *
 * One container's usage, for the CRI's stats calls.
 */
typedef struct
{
  char *container_id;
  gint64 timestamp;
  gboolean have_cgroup;
  GroveCgroupStats cgroup;
  char *writable_path;
  guint64 writable_bytes;
  guint64 writable_inodes;
  gboolean have_fs;
  guint64 fs_capacity_bytes;
  guint64 fs_inodes;
  guint64 fs_inodes_free;
} GroveContainerStats;

void grove_container_stats_free (GroveContainerStats *stats);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GroveContainerStats, grove_container_stats_free)

/**
 * GroveInterfaceStats:
 * @name: the interface
 * @rx_bytes: bytes received
 * @rx_errors: receive errors
 * @tx_bytes: bytes sent
 * @tx_errors: send errors
 */
typedef struct
{
  char *name;
  guint64 rx_bytes;
  guint64 rx_errors;
  guint64 tx_bytes;
  guint64 tx_errors;
} GroveInterfaceStats;

/**
 * GrovePodStats:
 * @pod_id: the pod
 * @timestamp: when the figures were read, in nanoseconds since the epoch
 * @have_cgroup: whether @cgroup holds figures (a ready pod's infra container has a cgroup)
 * @cgroup: the infra container's CPU and memory usage
 * @interfaces: (element-type GroveInterfaceStats) (nullable): the pod's network interfaces
 *
 * What a pod itself uses, for the CRI's pod stats calls.
 */
typedef struct
{
  char *pod_id;
  gint64 timestamp;
  gboolean have_cgroup;
  GroveCgroupStats cgroup;
  GPtrArray *interfaces;
} GrovePodStats;

void grove_pod_stats_free (GrovePodStats *stats);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GrovePodStats, grove_pod_stats_free)

#define GROVE_TYPE_ENGINE (grove_engine_get_type ())
G_DECLARE_FINAL_TYPE (GroveEngine, grove_engine, GROVE, ENGINE, GObject)

GroveEngine *grove_engine_new (GroveStore *store, const GroveEngineOptions *options,
                               GError **error);
gboolean grove_engine_add_handler (GroveEngine *self, const char *name, const char *const *argv,
                                   GError **error);
GroveStore *grove_engine_get_store (GroveEngine *self);
GStrv grove_engine_dup_handler_names (GroveEngine *self);
gboolean grove_engine_get_handler_features (GroveEngine *self, const char *handler,
                                            gboolean *out_user_namespaces);

void grove_engine_load_async (GroveEngine *self, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
gboolean grove_engine_load_finish (GroveEngine *self, GAsyncResult *result, GError **error);

void grove_engine_get_network_status (GroveEngine *self, gboolean *out_ready, char **out_reason,
                                      char **out_message);

gboolean grove_engine_config_is_trusted (JsonObject *config);
void grove_engine_run_pod_async (GroveEngine *self, JsonObject *config, const char *handler,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
GrovePod *grove_engine_run_pod_finish (GroveEngine *self, GAsyncResult *result, GError **error);
void grove_engine_stop_pod_async (GroveEngine *self, const char *pod_id, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
gboolean grove_engine_stop_pod_finish (GroveEngine *self, GAsyncResult *result, GError **error);
void grove_engine_remove_pod_async (GroveEngine *self, const char *pod_id,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
gboolean grove_engine_remove_pod_finish (GroveEngine *self, GAsyncResult *result, GError **error);
GrovePod *grove_engine_get_pod (GroveEngine *self, const char *id, GError **error);
GPtrArray *grove_engine_list_pods (GroveEngine *self, const GroveListFilter *filter);

void grove_engine_create_container_async (GroveEngine *self, const char *pod_id, JsonObject *config,
                                          GCancellable *cancellable, GAsyncReadyCallback callback,
                                          gpointer user_data);
GroveContainer *grove_engine_create_container_finish (GroveEngine *self, GAsyncResult *result,
                                                      GError **error);
void grove_engine_start_container_async (GroveEngine *self, const char *container_id,
                                         GCancellable *cancellable, GAsyncReadyCallback callback,
                                         gpointer user_data);
gboolean grove_engine_start_container_finish (GroveEngine *self, GAsyncResult *result,
                                              GError **error);
void grove_engine_stop_container_async (GroveEngine *self, const char *container_id,
                                        guint timeout_seconds, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
gboolean grove_engine_stop_container_finish (GroveEngine *self, GAsyncResult *result,
                                             GError **error);
void grove_engine_remove_container_async (GroveEngine *self, const char *container_id,
                                          GCancellable *cancellable, GAsyncReadyCallback callback,
                                          gpointer user_data);
gboolean grove_engine_remove_container_finish (GroveEngine *self, GAsyncResult *result,
                                               GError **error);
GroveContainer *grove_engine_get_container (GroveEngine *self, const char *id, GError **error);
GPtrArray *grove_engine_list_containers (GroveEngine *self, const GroveListFilter *filter);

void grove_engine_exec_sync_async (GroveEngine *self, const char *container_id,
                                   const char *const *argv, guint timeout_seconds,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data);
GroveExecResult *grove_engine_exec_sync_finish (GroveEngine *self, GAsyncResult *result,
                                                GError **error);
void grove_engine_exec_async (GroveEngine *self, const char *container_id,
                              const GroveExecOptions *options, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data);
GroveExecSession *grove_engine_exec_finish (GroveEngine *self, GAsyncResult *result,
                                            GError **error);
GroveExecSession *grove_engine_attach (GroveEngine *self, const char *container_id,
                                       const GroveExecOptions *options, GError **error);
void grove_engine_container_stats_async (GroveEngine *self, GPtrArray *containers,
                                         GCancellable *cancellable, GAsyncReadyCallback callback,
                                         gpointer user_data);
GPtrArray *grove_engine_container_stats_finish (GroveEngine *self, GAsyncResult *result,
                                                GError **error);
void grove_engine_update_container_resources_async (GroveEngine *self, const char *container_id,
                                                    JsonObject *resources,
                                                    GCancellable *cancellable,
                                                    GAsyncReadyCallback callback,
                                                    gpointer user_data);
gboolean grove_engine_update_container_resources_finish (GroveEngine *self, GAsyncResult *result,
                                                         GError **error);
void grove_engine_pod_stats_async (GroveEngine *self, GPtrArray *pods, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
GPtrArray *grove_engine_pod_stats_finish (GroveEngine *self, GAsyncResult *result, GError **error);
gboolean grove_engine_reopen_log (GroveEngine *self, const char *container_id, GError **error);

G_END_DECLS
