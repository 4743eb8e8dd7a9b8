/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveCriService"

/*
 * The CRI's stats and metrics calls, from the engine's real figures: CPU and memory from
 * cgroups, writable layers measured on disk, network counters from the pod's network
 * namespace. CPU use per second (usage_nano_cores) needs two readings: the service keeps
 * the last one of each container, as containerd does; the first reading gives 0.
 */

#include "grove-cri-service-private.h"
#include "grove-record.h"
#include "grove-utils.h"

typedef struct
{
  gint64 timestamp;
  guint64 usage;
} CpuSample;

static Runtime__V1__UInt64Value *
uint64_value (GPtrArray *arena, guint64 value)
{
  Runtime__V1__UInt64Value *message
      = grove_cri_arena_new (arena, Runtime__V1__UInt64Value, RUNTIME__V1__UINT64_VALUE__INIT);

  message->value = value;
  return message;
}

/* CPU use per second since the last reading of @key, in nanocores */
static guint64
nano_cores (GroveCriService *self, const char *key, gint64 timestamp, guint64 usage)
{
  CpuSample *last = g_hash_table_lookup (self->cpu_seen, key);
  guint64 rate = 0;

  if (last != NULL && timestamp > last->timestamp && usage >= last->usage)
    rate = (guint64)((double)(usage - last->usage) * 1e9 / (double)(timestamp - last->timestamp));
  if (last == NULL)
    {
      last = g_new0 (CpuSample, 1);
      g_hash_table_insert (self->cpu_seen, g_strdup (key), last);
    }
  last->timestamp = timestamp;
  last->usage = usage;
  return rate;
}

static Runtime__V1__CpuUsage *
cpu_usage (GroveCriService *self, GPtrArray *arena, const char *key, gint64 timestamp,
           const GroveCgroupStats *cgroup)
{
  Runtime__V1__CpuUsage *cpu
      = grove_cri_arena_new (arena, Runtime__V1__CpuUsage, RUNTIME__V1__CPU_USAGE__INIT);

  cpu->timestamp = timestamp;
  cpu->usage_core_nano_seconds = uint64_value (arena, cgroup->cpu_usage_ns);
  cpu->usage_nano_cores
      = uint64_value (arena, nano_cores (self, key, timestamp, cgroup->cpu_usage_ns));
  return cpu;
}

static Runtime__V1__MemoryUsage *
memory_usage (GPtrArray *arena, gint64 timestamp, const GroveCgroupStats *cgroup)
{
  Runtime__V1__MemoryUsage *memory
      = grove_cri_arena_new (arena, Runtime__V1__MemoryUsage, RUNTIME__V1__MEMORY_USAGE__INIT);

  memory->timestamp = timestamp;
  memory->working_set_bytes = uint64_value (arena, cgroup->memory_working_set_bytes);
  memory->usage_bytes = uint64_value (arena, cgroup->memory_usage_bytes);
  memory->rss_bytes = uint64_value (arena, cgroup->memory_rss_bytes);
  memory->page_faults = uint64_value (arena, cgroup->memory_page_faults);
  memory->major_page_faults = uint64_value (arena, cgroup->memory_major_page_faults);
  return memory;
}

static Runtime__V1__ContainerStats *
container_stats_message (GroveCriService *self, GPtrArray *arena, GroveContainer *container,
                         const GroveContainerStats *stats)
{
  JsonObject *config = grove_container_get_config (container);
  Runtime__V1__ContainerStats *message = grove_cri_arena_new (arena, Runtime__V1__ContainerStats,
                                                              RUNTIME__V1__CONTAINER_STATS__INIT);
  Runtime__V1__ContainerAttributes *attributes = grove_cri_arena_new (
      arena, Runtime__V1__ContainerAttributes, RUNTIME__V1__CONTAINER_ATTRIBUTES__INIT);
  Runtime__V1__ContainerMetadata *metadata = grove_cri_arena_new (
      arena, Runtime__V1__ContainerMetadata, RUNTIME__V1__CONTAINER_METADATA__INIT);
  Runtime__V1__FilesystemUsage *layer = grove_cri_arena_new (arena, Runtime__V1__FilesystemUsage,
                                                             RUNTIME__V1__FILESYSTEM_USAGE__INIT);
  Runtime__V1__FilesystemIdentifier *fs_id = grove_cri_arena_new (
      arena, Runtime__V1__FilesystemIdentifier, RUNTIME__V1__FILESYSTEM_IDENTIFIER__INIT);

  attributes->id = grove_cri_arena_strdup (arena, stats->container_id);
  metadata->name = grove_cri_arena_strdup (arena, grove_container_get_name (container));
  metadata->attempt = grove_container_get_attempt (container);
  attributes->metadata = metadata;
  attributes->labels
      = grove_cri_string_map (arena, &runtime__v1__container_attributes__labels_entry__descriptor,
                              grove_record_object (config, "labels"), &attributes->n_labels);
  attributes->annotations = grove_cri_string_map (
      arena, &runtime__v1__container_attributes__annotations_entry__descriptor,
      grove_record_object (config, "annotations"), &attributes->n_annotations);
  message->attributes = attributes;
  if (stats->have_cgroup)
    {
      message->cpu = cpu_usage (self, arena, stats->container_id, stats->timestamp, &stats->cgroup);
      message->memory = memory_usage (arena, stats->timestamp, &stats->cgroup);
    }
  layer->timestamp = stats->timestamp;
  fs_id->mountpoint = grove_cri_arena_strdup (arena, stats->writable_path);
  layer->fs_id = fs_id;
  layer->used_bytes = uint64_value (arena, stats->writable_bytes);
  layer->inodes_used = uint64_value (arena, stats->writable_inodes);
  message->writable_layer = layer;
  return message;
}

/* ContainerStats, ListContainerStats */

typedef struct
{
  GroveCriService *self;
  GroveGrpcCall *call;
  GPtrArray *containers; /* GroveContainer, in the order measured */
  gboolean single;       /* ContainerStats rather than ListContainerStats */
} ContainerStatsCall;

static void
container_stats_call_free (ContainerStatsCall *stats_call)
{
  g_clear_object (&stats_call->self);
  g_clear_object (&stats_call->call);
  g_clear_pointer (&stats_call->containers, g_ptr_array_unref);
  g_free (stats_call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ContainerStatsCall, container_stats_call_free)

/**
 * grove_cri_find_container: (skip)
 * @containers: (element-type GroveContainer): containers
 * @id: a container's full ID
 *
 * Returns: (transfer none) (nullable): the container of @containers with ID @id
 */
GroveContainer *
grove_cri_find_container (GPtrArray *containers, const char *id)
{
  for (guint i = 0; i < containers->len; i++)
    if (g_str_equal (grove_container_get_id (containers->pdata[i]), id))
      return containers->pdata[i];
  return NULL;
}

static void
container_stats_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ContainerStatsCall) stats_call = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GPtrArray) stats
      = grove_engine_container_stats_finish (GROVE_ENGINE (source), result, &local_error);
  g_autoptr (GPtrArray) arena = grove_cri_arena_new_array ();
  Runtime__V1__ContainerStats **messages = NULL;
  guint n = 0;

  if (stats == NULL)
    return grove_cri_reply_error (stats_call->call, local_error);
  messages = grove_cri_arena_keep (arena, g_new0 (Runtime__V1__ContainerStats *, stats->len + 1));
  for (guint i = 0; i < stats->len; i++)
    {
      GroveContainerStats *one = stats->pdata[i];
      GroveContainer *container
          = grove_cri_find_container (stats_call->containers, one->container_id);

      if (container != NULL)
        messages[n++] = container_stats_message (stats_call->self, arena, container, one);
    }
  if (stats_call->single)
    {
      Runtime__V1__ContainerStatsResponse response = RUNTIME__V1__CONTAINER_STATS_RESPONSE__INIT;

      if (n == 0)
        return grove_cri_reply_status (stats_call->call, GROVE_GRPC_STATUS_NOT_FOUND,
                                       "the container went away while it was measured");
      response.stats = messages[0];
      return grove_cri_reply (stats_call->call, &response.base);
    }
  {
    Runtime__V1__ListContainerStatsResponse response
        = RUNTIME__V1__LIST_CONTAINER_STATS_RESPONSE__INIT;

    response.stats = messages;
    response.n_stats = n;
    grove_cri_reply (stats_call->call, &response.base);
  }
}

static void
measure_containers (GroveCriService *self, GroveGrpcCall *call, GPtrArray *containers,
                    gboolean single)
{
  ContainerStatsCall *stats_call = g_new0 (ContainerStatsCall, 1);

  stats_call->self = g_object_ref (self);
  stats_call->call = g_object_ref (call);
  stats_call->containers = g_ptr_array_ref (containers);
  stats_call->single = single;
  grove_engine_container_stats_async (self->engine, containers,
                                      grove_grpc_call_get_cancellable (call), container_stats_cb,
                                      stats_call);
}

static void
handle_container_stats (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__ContainerStatsRequest *request
      = (const Runtime__V1__ContainerStatsRequest *)message;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GroveContainer) container = NULL;
  g_autoptr (GPtrArray) containers = g_ptr_array_new_with_free_func (g_object_unref);

  container = grove_engine_get_container (self->engine, request->container_id, &local_error);
  if (container == NULL)
    return grove_cri_reply_error (call, local_error);
  g_ptr_array_add (containers, g_steal_pointer (&container));
  measure_containers (self, call, containers, TRUE);
}

static void
handle_list_container_stats (GroveCriService *self, GroveGrpcCall *call,
                             const ProtobufCMessage *message)
{
  const Runtime__V1__ListContainerStatsRequest *request
      = (const Runtime__V1__ListContainerStatsRequest *)message;
  const Runtime__V1__ContainerStatsFilter *cri_filter = request->filter;
  g_autoptr (GHashTable) labels = NULL;
  g_autoptr (GPtrArray) containers = NULL;
  GroveListFilter filter = { .state = -1 };

  if (cri_filter != NULL)
    {
      labels = grove_cri_selector ((ProtobufCMessage **)cri_filter->label_selector,
                                   cri_filter->n_label_selector);
      filter.id = cri_filter->id != NULL && cri_filter->id[0] != '\0' ? cri_filter->id : NULL;
      filter.pod_id = cri_filter->pod_sandbox_id != NULL && cri_filter->pod_sandbox_id[0] != '\0'
                          ? cri_filter->pod_sandbox_id
                          : NULL;
      filter.labels = labels;
    }
  containers = grove_engine_list_containers (self->engine, &filter);
  measure_containers (self, call, containers, FALSE);
}

/* PodSandboxStats, ListPodSandboxStats: the infra container plus the pod's containers */

typedef struct
{
  GroveCriPodFigures figures;
  GroveCriPodFiguresFunc done;
} PodStatsCall;

static void
pod_stats_call_free (PodStatsCall *stats_call)
{
  GroveCriPodFigures *figures = &stats_call->figures;

  g_clear_object (&figures->self);
  g_clear_object (&figures->call);
  g_clear_pointer (&figures->pods, g_ptr_array_unref);
  g_clear_pointer (&figures->pod_stats, g_ptr_array_unref);
  g_clear_pointer (&figures->containers, g_ptr_array_unref);
  g_clear_pointer (&figures->container_stats, g_ptr_array_unref);
  g_free (stats_call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PodStatsCall, pod_stats_call_free)

static void
add_cgroup (GroveCgroupStats *sum, const GroveCgroupStats *one)
{
  sum->cpu_usage_ns += one->cpu_usage_ns;
  sum->memory_usage_bytes += one->memory_usage_bytes;
  sum->memory_working_set_bytes += one->memory_working_set_bytes;
  sum->memory_rss_bytes += one->memory_rss_bytes;
  sum->memory_page_faults += one->memory_page_faults;
  sum->memory_major_page_faults += one->memory_major_page_faults;
  sum->pids += one->pids;
  sum->processes += one->processes;
}

static Runtime__V1__NetworkUsage *
network_usage (GPtrArray *arena, const GrovePodStats *stats)
{
  Runtime__V1__NetworkUsage *network = NULL;
  guint n = 0;

  if (stats->interfaces == NULL)
    return NULL;
  network
      = grove_cri_arena_new (arena, Runtime__V1__NetworkUsage, RUNTIME__V1__NETWORK_USAGE__INIT);
  network->timestamp = stats->timestamp;
  network->interfaces = grove_cri_arena_keep (
      arena, g_new0 (Runtime__V1__NetworkInterfaceUsage *, stats->interfaces->len + 1));
  for (guint i = 0; i < stats->interfaces->len; i++)
    {
      const GroveInterfaceStats *one = stats->interfaces->pdata[i];
      Runtime__V1__NetworkInterfaceUsage *usage = NULL;

      if (g_str_equal (one->name, "lo"))
        continue;
      usage = grove_cri_arena_new (arena, Runtime__V1__NetworkInterfaceUsage,
                                   RUNTIME__V1__NETWORK_INTERFACE_USAGE__INIT);
      usage->name = grove_cri_arena_strdup (arena, one->name);
      usage->rx_bytes = uint64_value (arena, one->rx_bytes);
      usage->rx_errors = uint64_value (arena, one->rx_errors);
      usage->tx_bytes = uint64_value (arena, one->tx_bytes);
      usage->tx_errors = uint64_value (arena, one->tx_errors);
      network->interfaces[n++] = usage;
      /* the pod's interface to its network is eth0, as CNI names it */
      if (g_str_equal (one->name, "eth0") || network->default_interface == NULL)
        network->default_interface = usage;
    }
  network->n_interfaces = n;
  return network;
}

static Runtime__V1__PodSandboxStats *
pod_stats_message (GroveCriService *self, GPtrArray *arena, GrovePod *pod,
                   const GrovePodStats *stats, Runtime__V1__ContainerStats **containers,
                   guint n_containers, const GroveCgroupStats *total, gboolean have_total)
{
  JsonObject *config = grove_pod_get_config (pod);
  Runtime__V1__PodSandboxStats *message = grove_cri_arena_new (
      arena, Runtime__V1__PodSandboxStats, RUNTIME__V1__POD_SANDBOX_STATS__INIT);
  Runtime__V1__PodSandboxAttributes *attributes = grove_cri_arena_new (
      arena, Runtime__V1__PodSandboxAttributes, RUNTIME__V1__POD_SANDBOX_ATTRIBUTES__INIT);
  Runtime__V1__LinuxPodSandboxStats *linux_stats = grove_cri_arena_new (
      arena, Runtime__V1__LinuxPodSandboxStats, RUNTIME__V1__LINUX_POD_SANDBOX_STATS__INIT);
  Runtime__V1__PodSandboxStatus *status = grove_cri_pod_status (arena, pod);

  attributes->id = status->id;
  attributes->metadata = status->metadata;
  attributes->labels
      = grove_cri_string_map (arena, &runtime__v1__pod_sandbox_attributes__labels_entry__descriptor,
                              grove_record_object (config, "labels"), &attributes->n_labels);
  attributes->annotations = grove_cri_string_map (
      arena, &runtime__v1__pod_sandbox_attributes__annotations_entry__descriptor,
      grove_record_object (config, "annotations"), &attributes->n_annotations);
  message->attributes = attributes;
  if (have_total)
    {
      Runtime__V1__ProcessUsage *process = grove_cri_arena_new (arena, Runtime__V1__ProcessUsage,
                                                                RUNTIME__V1__PROCESS_USAGE__INIT);

      linux_stats->cpu = cpu_usage (self, arena, grove_pod_get_id (pod), stats->timestamp, total);
      linux_stats->memory = memory_usage (arena, stats->timestamp, total);
      process->timestamp = stats->timestamp;
      process->process_count = uint64_value (arena, total->pids);
      linux_stats->process = process;
    }
  linux_stats->network = network_usage (arena, stats);
  linux_stats->containers = containers;
  linux_stats->n_containers = n_containers;
  message->linux = linux_stats;
  return message;
}

/* the PodSandboxStats messages of every pod measured, in the order of figures->pods */
static Runtime__V1__PodSandboxStats **
pod_stats_messages (GroveCriPodFigures *figures, GPtrArray *arena)
{
  GPtrArray *stats = figures->container_stats;
  Runtime__V1__PodSandboxStats **messages = grove_cri_arena_keep (
      arena, g_new0 (Runtime__V1__PodSandboxStats *, figures->pods->len + 1));

  for (guint p = 0; p < figures->pods->len; p++)
    {
      GrovePod *pod = figures->pods->pdata[p];
      const GrovePodStats *own = figures->pod_stats->pdata[p];
      Runtime__V1__ContainerStats **containers
          = grove_cri_arena_keep (arena, g_new0 (Runtime__V1__ContainerStats *, stats->len + 1));
      GroveCgroupStats total = own->cgroup;
      gboolean have_total = own->have_cgroup;
      guint n = 0;

      for (guint i = 0; i < stats->len; i++)
        {
          GroveContainerStats *one = stats->pdata[i];
          GroveContainer *container
              = grove_cri_find_container (figures->containers, one->container_id);

          if (container == NULL
              || !g_str_equal (grove_container_get_pod_id (container), grove_pod_get_id (pod)))
            continue;
          containers[n++] = container_stats_message (figures->self, arena, container, one);
          if (one->have_cgroup)
            {
              add_cgroup (&total, &one->cgroup);
              have_total = TRUE;
            }
        }
      messages[p]
          = pod_stats_message (figures->self, arena, pod, own, containers, n, &total, have_total);
    }
  return messages;
}

static void
reply_pod_stats (GroveCriPodFigures *figures)
{
  g_autoptr (GPtrArray) arena = grove_cri_arena_new_array ();
  Runtime__V1__PodSandboxStatsResponse response = RUNTIME__V1__POD_SANDBOX_STATS_RESPONSE__INIT;

  response.stats = pod_stats_messages (figures, arena)[0];
  grove_cri_reply (figures->call, &response.base);
}

static void
reply_list_pod_stats (GroveCriPodFigures *figures)
{
  g_autoptr (GPtrArray) arena = grove_cri_arena_new_array ();
  Runtime__V1__ListPodSandboxStatsResponse response
      = RUNTIME__V1__LIST_POD_SANDBOX_STATS_RESPONSE__INIT;

  response.stats = pod_stats_messages (figures, arena);
  response.n_stats = figures->pods->len;
  grove_cri_reply (figures->call, &response.base);
}

static void
pod_containers_stats_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (PodStatsCall) stats_call = user_data;
  g_autoptr (GError) local_error = NULL;
  GroveCriPodFigures *figures = &stats_call->figures;

  figures->container_stats
      = grove_engine_container_stats_finish (GROVE_ENGINE (source), result, &local_error);
  if (figures->container_stats == NULL)
    return grove_cri_reply_error (figures->call, local_error);
  stats_call->done (figures);
}

static void
pod_own_stats_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (PodStatsCall) stats_call = user_data;
  g_autoptr (GError) local_error = NULL;
  GroveCriPodFigures *figures = &stats_call->figures;
  GroveEngine *engine = GROVE_ENGINE (source);
  GPtrArray *containers = NULL;
  GCancellable *cancellable = NULL;

  figures->pod_stats = grove_engine_pod_stats_finish (engine, result, &local_error);
  if (figures->pod_stats == NULL)
    return grove_cri_reply_error (figures->call, local_error);
  figures->containers = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint p = 0; p < figures->pods->len; p++)
    {
      GroveListFilter filter
          = { .pod_id = grove_pod_get_id (figures->pods->pdata[p]), .state = -1 };
      g_autoptr (GPtrArray) some = grove_engine_list_containers (engine, &filter);

      for (guint i = 0; i < some->len; i++)
        g_ptr_array_add (figures->containers, g_object_ref (some->pdata[i]));
    }
  /* not in one call with g_steal_pointer (): C does not order the evaluation of arguments */
  containers = figures->containers;
  cancellable = grove_grpc_call_get_cancellable (figures->call);
  grove_engine_container_stats_async (engine, containers, cancellable, pod_containers_stats_cb,
                                      g_steal_pointer (&stats_call));
}

/**
 * grove_cri_measure_pods: (skip)
 * @self: the service
 * @call: the call that wants the figures
 * @pods: (element-type GrovePod): the pods
 * @done: called with the figures of the pods and their containers; not called when they
 *   cannot be had (the call is answered with the error then)
 *
 * Measures the pods (their infra containers and network) and then all their containers.
 */
void
grove_cri_measure_pods (GroveCriService *self, GroveGrpcCall *call, GPtrArray *pods,
                        GroveCriPodFiguresFunc done)
{
  PodStatsCall *stats_call = g_new0 (PodStatsCall, 1);

  stats_call->figures.self = g_object_ref (self);
  stats_call->figures.call = g_object_ref (call);
  stats_call->figures.pods = g_ptr_array_ref (pods);
  stats_call->done = done;
  grove_engine_pod_stats_async (self->engine, pods, grove_grpc_call_get_cancellable (call),
                                pod_own_stats_cb, stats_call);
}

static void
handle_pod_stats (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__PodSandboxStatsRequest *request
      = (const Runtime__V1__PodSandboxStatsRequest *)message;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GPtrArray) pods = g_ptr_array_new_with_free_func (g_object_unref);

  pod = grove_engine_get_pod (self->engine, request->pod_sandbox_id, &local_error);
  if (pod == NULL)
    return grove_cri_reply_error (call, local_error);
  g_ptr_array_add (pods, g_steal_pointer (&pod));
  grove_cri_measure_pods (self, call, pods, reply_pod_stats);
}

static void
handle_list_pod_stats (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__ListPodSandboxStatsRequest *request
      = (const Runtime__V1__ListPodSandboxStatsRequest *)message;
  const Runtime__V1__PodSandboxStatsFilter *cri_filter = request->filter;
  g_autoptr (GHashTable) labels = NULL;
  g_autoptr (GPtrArray) pods = NULL;
  GroveListFilter filter = { .state = -1 };

  if (cri_filter != NULL)
    {
      labels = grove_cri_selector ((ProtobufCMessage **)cri_filter->label_selector,
                                   cri_filter->n_label_selector);
      filter.id = cri_filter->id != NULL && cri_filter->id[0] != '\0' ? cri_filter->id : NULL;
      filter.labels = labels;
    }
  pods = grove_engine_list_pods (self->engine, &filter);
  grove_cri_measure_pods (self, call, pods, reply_list_pod_stats);
}

const GroveCriMethod grove_cri_stats_methods[] = {
  GROVE_CRI_RUNTIME_METHOD ("ContainerStats", runtime__v1__container_stats_request,
                            handle_container_stats),
  GROVE_CRI_RUNTIME_METHOD ("ListContainerStats", runtime__v1__list_container_stats_request,
                            handle_list_container_stats),
  GROVE_CRI_RUNTIME_METHOD ("PodSandboxStats", runtime__v1__pod_sandbox_stats_request,
                            handle_pod_stats),
  GROVE_CRI_RUNTIME_METHOD ("ListPodSandboxStats", runtime__v1__list_pod_sandbox_stats_request,
                            handle_list_pod_stats),
};

const guint grove_cri_n_stats_methods = G_N_ELEMENTS (grove_cri_stats_methods);
