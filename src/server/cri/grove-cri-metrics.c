/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveCriService"

/*
 * ListMetricDescriptors and ListPodSandboxMetrics: what kubelet's PodAndContainerStatsFromCRI
 * collector serves on /metrics/cadvisor in place of cAdvisor. Names, kinds and label keys
 * follow cAdvisor's; the figures are the same ones the stats calls report.
 *
 * Facts kubelet relies on: it reads the descriptors once at start and drops any metric whose
 * name was not described; it turns each value into a float as it is (so *_seconds_total
 * metrics carry whole seconds, the protocol having only integers); it appends the label
 * keys namespace, pod and container itself, so they must not be among ours, and a metric
 * needs exactly one label value per key of its descriptor. Pod-level metrics (kubelet labels
 * them container="POD") are the infra container's cgroup and the pod's network.
 */

#include "grove-cri-service-private.h"

#define NS_PER_SECOND G_GUINT64_CONSTANT (1000000000)
#define MAX_EXTRA_KEYS 2

/* the label keys of every metric, as cAdvisor names them: the container's (or the pod's) ID,
 * its name, its image */
#define N_BASE_KEYS 3
static const char *const base_keys[N_BASE_KEYS] = { "id", "name", "image" };

typedef enum
{
  METRIC_CPU_USAGE,
  METRIC_MEMORY_USAGE,
  METRIC_MEMORY_WORKING_SET,
  METRIC_MEMORY_RSS,
  METRIC_MEMORY_FAILURES,
  METRIC_PROCESSES,
  METRIC_THREADS,
  METRIC_START_TIME,
  METRIC_FS_USAGE,
  METRIC_FS_LIMIT,
  METRIC_FS_INODES,
  METRIC_FS_INODES_FREE,
  METRIC_NETWORK_RX_BYTES,
  METRIC_NETWORK_RX_ERRORS,
  METRIC_NETWORK_TX_BYTES,
  METRIC_NETWORK_TX_ERRORS,
  N_METRICS
} MetricId;

typedef struct
{
  const char *name;
  const char *help;
  Runtime__V1__MetricType type;
  const char *extra_keys[MAX_EXTRA_KEYS + 1]; /* after the base keys; NULL-terminated */
} MetricInfo;

#define COUNTER RUNTIME__V1__METRIC_TYPE__COUNTER
#define GAUGE RUNTIME__V1__METRIC_TYPE__GAUGE

static const MetricInfo metric_infos[N_METRICS] = {
  [METRIC_CPU_USAGE] = { "container_cpu_usage_seconds_total",
                         "CPU time used, in whole seconds, all CPUs together.",
                         COUNTER,
                         { "cpu", NULL } },
  [METRIC_MEMORY_USAGE] = { "container_memory_usage_bytes",
                            "Memory charged to the cgroup in bytes, page cache included.",
                            GAUGE,
                            { NULL } },
  [METRIC_MEMORY_WORKING_SET] = { "container_memory_working_set_bytes",
                                  "Memory in use in bytes, less inactive file pages.",
                                  GAUGE,
                                  { NULL } },
  [METRIC_MEMORY_RSS] = { "container_memory_rss", "Anonymous memory in bytes.", GAUGE, { NULL } },
  [METRIC_MEMORY_FAILURES] = { "container_memory_failures_total",
                               "Page faults, by kind (pgfault, pgmajfault) and scope.",
                               COUNTER,
                               { "failure_type", "scope", NULL } },
  [METRIC_PROCESSES] = { "container_processes", "Processes in the cgroup.", GAUGE, { NULL } },
  [METRIC_THREADS]
  = { "container_threads", "Threads in the cgroup (its pids.current).", GAUGE, { NULL } },
  [METRIC_START_TIME] = { "container_start_time_seconds",
                          "When the container started, in seconds since the epoch.",
                          GAUGE,
                          { NULL } },
  [METRIC_FS_USAGE] = { "container_fs_usage_bytes",
                        "Bytes the container's writable layer uses on its filesystem.",
                        GAUGE,
                        { "device", NULL } },
  [METRIC_FS_LIMIT] = { "container_fs_limit_bytes",
                        "Size in bytes of the filesystem of the writable layer.",
                        GAUGE,
                        { "device", NULL } },
  [METRIC_FS_INODES] = { "container_fs_inodes_total",
                         "Inodes of the filesystem of the writable layer.",
                         GAUGE,
                         { "device", NULL } },
  [METRIC_FS_INODES_FREE] = { "container_fs_inodes_free",
                              "Free inodes of the filesystem of the writable layer.",
                              GAUGE,
                              { "device", NULL } },
  [METRIC_NETWORK_RX_BYTES] = { "container_network_receive_bytes_total",
                                "Bytes received on a pod's network interface.",
                                COUNTER,
                                { "interface", NULL } },
  [METRIC_NETWORK_RX_ERRORS] = { "container_network_receive_errors_total",
                                 "Receive errors on a pod's network interface.",
                                 COUNTER,
                                 { "interface", NULL } },
  [METRIC_NETWORK_TX_BYTES] = { "container_network_transmit_bytes_total",
                                "Bytes sent on a pod's network interface.",
                                COUNTER,
                                { "interface", NULL } },
  [METRIC_NETWORK_TX_ERRORS] = { "container_network_transmit_errors_total",
                                 "Transmit errors on a pod's network interface.",
                                 COUNTER,
                                 { "interface", NULL } },
};

/* ListMetricDescriptors */

static void
handle_list_metric_descriptors (GroveCriService *self, GroveGrpcCall *call,
                                const ProtobufCMessage *message)
{
  g_autoptr (GPtrArray) arena = grove_cri_arena_new_array ();
  Runtime__V1__ListMetricDescriptorsResponse response
      = RUNTIME__V1__LIST_METRIC_DESCRIPTORS_RESPONSE__INIT;
  Runtime__V1__MetricDescriptor **descriptors
      = grove_cri_arena_keep (arena, g_new0 (Runtime__V1__MetricDescriptor *, N_METRICS + 1));

  for (guint i = 0; i < N_METRICS; i++)
    {
      const MetricInfo *info = &metric_infos[i];
      Runtime__V1__MetricDescriptor *descriptor = grove_cri_arena_new (
          arena, Runtime__V1__MetricDescriptor, RUNTIME__V1__METRIC_DESCRIPTOR__INIT);
      g_autoptr (GPtrArray) keys = g_ptr_array_new ();

      for (guint k = 0; k < N_BASE_KEYS; k++)
        g_ptr_array_add (keys, (gpointer)base_keys[k]);
      for (guint k = 0; info->extra_keys[k] != NULL; k++)
        g_ptr_array_add (keys, (gpointer)info->extra_keys[k]);
      g_ptr_array_add (keys, NULL);
      descriptor->name = (char *)info->name;
      descriptor->help = (char *)info->help;
      descriptor->label_keys = grove_cri_arena_strv (arena, (const char *const *)keys->pdata,
                                                     &descriptor->n_label_keys);
      descriptors[i] = descriptor;
    }
  response.descriptors = descriptors;
  response.n_descriptors = N_METRICS;
  grove_cri_reply (call, &response.base);
}

/* ListPodSandboxMetrics */

/* the metrics of one container or pod, as they are made */
typedef struct
{
  GPtrArray *arena;
  GPtrArray *metrics; /* Runtime__V1__Metric, in the arena */
  gint64 timestamp;
  const char *base_values[N_BASE_KEYS];
} MetricList;

/* adds a value of @id, with the values of its extra label keys (as many as it has) */
static void
add_metric (MetricList *list, MetricId id, guint64 value, const char *extra0, const char *extra1)
{
  const MetricInfo *info = &metric_infos[id];
  const char *extras[MAX_EXTRA_KEYS] = { extra0, extra1 };
  Runtime__V1__Metric *metric
      = grove_cri_arena_new (list->arena, Runtime__V1__Metric, RUNTIME__V1__METRIC__INIT);
  Runtime__V1__UInt64Value *boxed = grove_cri_arena_new (list->arena, Runtime__V1__UInt64Value,
                                                         RUNTIME__V1__UINT64_VALUE__INIT);
  const char *values[N_BASE_KEYS + MAX_EXTRA_KEYS + 1] = { NULL };
  guint n = 0;

  for (guint k = 0; k < N_BASE_KEYS; k++)
    values[n++] = list->base_values[k] != NULL ? list->base_values[k] : "";
  for (guint k = 0; info->extra_keys[k] != NULL; k++)
    values[n++] = extras[k] != NULL ? extras[k] : "";
  metric->name = (char *)info->name;
  metric->timestamp = list->timestamp;
  metric->metric_type = info->type;
  metric->label_values = grove_cri_arena_strv (list->arena, values, &metric->n_label_values);
  boxed->value = value;
  metric->value = boxed;
  g_ptr_array_add (list->metrics, metric);
}

static void
add_cgroup_metrics (MetricList *list, const GroveCgroupStats *cgroup)
{
  const char *const scopes[] = { "container", "hierarchy" };

  add_metric (list, METRIC_CPU_USAGE, cgroup->cpu_usage_ns / NS_PER_SECOND, "total", NULL);
  add_metric (list, METRIC_MEMORY_USAGE, cgroup->memory_usage_bytes, NULL, NULL);
  add_metric (list, METRIC_MEMORY_WORKING_SET, cgroup->memory_working_set_bytes, NULL, NULL);
  add_metric (list, METRIC_MEMORY_RSS, cgroup->memory_rss_bytes, NULL, NULL);
  /* a container's cgroup has no child cgroups: its own faults are its hierarchy's */
  for (guint s = 0; s < G_N_ELEMENTS (scopes); s++)
    {
      add_metric (list, METRIC_MEMORY_FAILURES, cgroup->memory_page_faults, "pgfault", scopes[s]);
      add_metric (list, METRIC_MEMORY_FAILURES, cgroup->memory_major_page_faults, "pgmajfault",
                  scopes[s]);
    }
  add_metric (list, METRIC_PROCESSES, cgroup->processes, NULL, NULL);
  add_metric (list, METRIC_THREADS, cgroup->pids, NULL, NULL);
}

static Runtime__V1__Metric **
metric_list_steal (MetricList *list, size_t *n_out)
{
  *n_out = list->metrics->len;
  g_ptr_array_add (list->metrics, NULL);
  return grove_cri_arena_keep (list->arena, g_ptr_array_free (list->metrics, FALSE));
}

static Runtime__V1__ContainerMetrics *
container_metrics (GPtrArray *arena, GroveContainer *container, const GroveContainerStats *stats)
{
  Runtime__V1__ContainerMetrics *message = grove_cri_arena_new (
      arena, Runtime__V1__ContainerMetrics, RUNTIME__V1__CONTAINER_METRICS__INIT);
  MetricList list = { arena,
                      g_ptr_array_new (),
                      stats->timestamp,
                      { grove_container_get_id (container), grove_container_get_name (container),
                        grove_container_get_image_name (container) } };
  const char *device = stats->writable_path;

  if (stats->have_cgroup)
    add_cgroup_metrics (&list, &stats->cgroup);
  if (grove_container_get_started_at (container) > 0)
    add_metric (&list, METRIC_START_TIME,
                (guint64)grove_container_get_started_at (container) / NS_PER_SECOND, NULL, NULL);
  add_metric (&list, METRIC_FS_USAGE, stats->writable_bytes, device, NULL);
  if (stats->have_fs)
    {
      add_metric (&list, METRIC_FS_LIMIT, stats->fs_capacity_bytes, device, NULL);
      add_metric (&list, METRIC_FS_INODES, stats->fs_inodes, device, NULL);
      add_metric (&list, METRIC_FS_INODES_FREE, stats->fs_inodes_free, device, NULL);
    }
  message->container_id = grove_cri_arena_strdup (arena, grove_container_get_id (container));
  message->metrics = metric_list_steal (&list, &message->n_metrics);
  return message;
}

static void
add_network_metrics (MetricList *list, const GrovePodStats *stats)
{
  if (stats->interfaces == NULL)
    return;
  for (guint i = 0; i < stats->interfaces->len; i++)
    {
      const GroveInterfaceStats *one = stats->interfaces->pdata[i];

      if (g_str_equal (one->name, "lo"))
        continue;
      add_metric (list, METRIC_NETWORK_RX_BYTES, one->rx_bytes, one->name, NULL);
      add_metric (list, METRIC_NETWORK_RX_ERRORS, one->rx_errors, one->name, NULL);
      add_metric (list, METRIC_NETWORK_TX_BYTES, one->tx_bytes, one->name, NULL);
      add_metric (list, METRIC_NETWORK_TX_ERRORS, one->tx_errors, one->name, NULL);
    }
}

static Runtime__V1__PodSandboxMetrics *
pod_metrics (GroveCriPodFigures *figures, GPtrArray *arena, guint p)
{
  GrovePod *pod = figures->pods->pdata[p];
  const GrovePodStats *own = figures->pod_stats->pdata[p];
  Runtime__V1__PodSandboxMetrics *message = grove_cri_arena_new (
      arena, Runtime__V1__PodSandboxMetrics, RUNTIME__V1__POD_SANDBOX_METRICS__INIT);
  MetricList list = { arena,
                      g_ptr_array_new (),
                      own->timestamp,
                      { grove_pod_get_id (pod), grove_pod_get_name (pod), "" } };
  g_autoptr (GPtrArray) containers = g_ptr_array_new ();

  if (own->have_cgroup)
    add_cgroup_metrics (&list, &own->cgroup);
  add_network_metrics (&list, own);
  for (guint i = 0; i < figures->container_stats->len; i++)
    {
      const GroveContainerStats *one = figures->container_stats->pdata[i];
      GroveContainer *container = grove_cri_find_container (figures->containers, one->container_id);

      if (container != NULL
          && g_str_equal (grove_container_get_pod_id (container), grove_pod_get_id (pod)))
        g_ptr_array_add (containers, container_metrics (arena, container, one));
    }
  message->pod_sandbox_id = grove_cri_arena_strdup (arena, grove_pod_get_id (pod));
  message->metrics = metric_list_steal (&list, &message->n_metrics);
  message->n_container_metrics = containers->len;
  g_ptr_array_add (containers, NULL);
  message->container_metrics
      = grove_cri_arena_keep (arena, g_ptr_array_free (g_steal_pointer (&containers), FALSE));
  return message;
}

static void
reply_pod_metrics (GroveCriPodFigures *figures)
{
  g_autoptr (GPtrArray) arena = grove_cri_arena_new_array ();
  Runtime__V1__ListPodSandboxMetricsResponse response
      = RUNTIME__V1__LIST_POD_SANDBOX_METRICS_RESPONSE__INIT;
  Runtime__V1__PodSandboxMetrics **messages = grove_cri_arena_keep (
      arena, g_new0 (Runtime__V1__PodSandboxMetrics *, figures->pods->len + 1));

  for (guint p = 0; p < figures->pods->len; p++)
    messages[p] = pod_metrics (figures, arena, p);
  response.pod_metrics = messages;
  response.n_pod_metrics = figures->pods->len;
  grove_cri_reply (figures->call, &response.base);
}

static void
handle_list_pod_metrics (GroveCriService *self, GroveGrpcCall *call,
                         const ProtobufCMessage *message)
{
  GroveListFilter filter = { .state = -1 };
  g_autoptr (GPtrArray) pods = grove_engine_list_pods (self->engine, &filter);

  grove_cri_measure_pods (self, call, pods, reply_pod_metrics);
}

const GroveCriMethod grove_cri_metric_methods[] = {
  GROVE_CRI_RUNTIME_METHOD ("ListMetricDescriptors", runtime__v1__list_metric_descriptors_request,
                            handle_list_metric_descriptors),
  GROVE_CRI_RUNTIME_METHOD ("ListPodSandboxMetrics", runtime__v1__list_pod_sandbox_metrics_request,
                            handle_list_pod_metrics),
};

const guint grove_cri_n_metric_methods = G_N_ELEMENTS (grove_cri_metric_methods);
