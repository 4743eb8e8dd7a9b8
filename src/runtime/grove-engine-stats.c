/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveEngine"

/*
 * Usage figures for the CRI's stats calls: CPU and memory from each running container's
 * cgroup, and the bytes and inodes of its writable layer (the overlay's upper dir). The
 * main thread picks the containers and the paths; a worker reads the files and walks the
 * layers, which may be large.
 */

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "grove-engine-private.h"
#include "grove-utils.h"

#define CONFIG_MAX_SIZE ((gsize)4 * 1024 * 1024)

/**
 * grove_container_stats_free:
 * @stats: (nullable) (transfer full): a #GroveContainerStats
 *
 * Frees @stats.
 */
void
grove_container_stats_free (GroveContainerStats *stats)
{
  if (stats == NULL)
    return;
  g_free (stats->container_id);
  g_free (stats->writable_path);
  g_free (stats);
}

/* what the worker needs for one container */
typedef struct
{
  char *id;
  char *config_path;
  char *writable_path;
  gboolean running;
} StatsInput;

static void
stats_input_free (StatsInput *input)
{
  g_free (input->id);
  g_free (input->config_path);
  g_free (input->writable_path);
  g_free (input);
}

/**
 * grove_engine_read_cgroups_path: (skip)
 * @config_path: a container's config.json
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the cgroup runc and crun put the container in:
 *   config.json's linux.cgroupsPath
 */
char *
grove_engine_read_cgroups_path (const char *config_path, GError **error)
{
  g_autoptr (GBytes) config = grove_read_file_at (AT_FDCWD, config_path, CONFIG_MAX_SIZE, error);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root = NULL;
  JsonObject *linux_spec = NULL;
  const char *path = NULL;

  if (config == NULL
      || !json_parser_load_from_data (parser, g_bytes_get_data (config, NULL),
                                      g_bytes_get_size (config), error))
    return NULL;
  root = json_parser_get_root (parser);
  if (root != NULL && JSON_NODE_HOLDS_OBJECT (root))
    linux_spec = json_object_get_object_member (json_node_get_object (root), "linux");
  if (linux_spec != NULL)
    path = json_object_get_string_member_with_default (linux_spec, "cgroupsPath", NULL);
  if (path == NULL || !g_path_is_absolute (path))
    return grove_throw (error, GROVE_ERROR_FAILED, "%s has no absolute linux.cgroupsPath",
                        config_path),
           NULL;
  return g_strdup (path);
}

/* the size of the filesystem the writable layer is on, for the CRI's metrics */
static void
measure_filesystem (GroveContainerStats *stats)
{
  struct statvfs fs;

  if (statvfs (stats->writable_path, &fs) < 0)
    {
      g_debug ("statvfs %s: %s", stats->writable_path, g_strerror (errno));
      return;
    }
  stats->have_fs = TRUE;
  stats->fs_capacity_bytes = (guint64)fs.f_blocks * fs.f_frsize;
  stats->fs_inodes = fs.f_files;
  stats->fs_inodes_free = fs.f_ffree;
}

static GroveContainerStats *
collect_one (StatsInput *input, GCancellable *cancellable, GError **error)
{
  g_autoptr (GroveContainerStats) stats = g_new0 (GroveContainerStats, 1);
  g_autoptr (GError) local_error = NULL;

  stats->container_id = g_strdup (input->id);
  stats->timestamp = g_get_real_time () * 1000;
  stats->writable_path = g_strdup (input->writable_path);
  if (input->running)
    {
      g_autofree char *cgroups_path = grove_engine_read_cgroups_path (input->config_path, error);

      if (cgroups_path == NULL)
        return NULL;
      /* a container that has just exited has no cgroup left: it has no CPU or memory figures */
      if (grove_cgroup_read_stats (cgroups_path, &stats->cgroup, &local_error))
        stats->have_cgroup = TRUE;
      else if (!g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        return g_propagate_error (error, g_steal_pointer (&local_error)), NULL;
    }
  if (!grove_disk_usage_at (AT_FDCWD, input->writable_path, &stats->writable_bytes,
                            &stats->writable_inodes, cancellable, error))
    return g_prefix_error (error, "measuring the writable layer of %s: ", input->id), NULL;
  measure_filesystem (stats);
  return g_steal_pointer (&stats);
}

static void
stats_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GPtrArray *inputs = task_data;
  g_autoptr (GPtrArray) results
      = g_ptr_array_new_with_free_func ((GDestroyNotify)grove_container_stats_free);

  for (guint i = 0; i < inputs->len; i++)
    {
      g_autoptr (GError) local_error = NULL;
      GroveContainerStats *stats = collect_one (inputs->pdata[i], cancellable, &local_error);

      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return g_task_return_error (task, g_steal_pointer (&local_error));
      /* one container going away meanwhile must not cost the others their figures */
      if (stats == NULL)
        g_debug ("no stats for container %s: %s", ((StatsInput *)inputs->pdata[i])->id,
                 local_error->message);
      else
        g_ptr_array_add (results, stats);
    }
  g_task_return_pointer (task, g_steal_pointer (&results), (GDestroyNotify)g_ptr_array_unref);
}

/**
 * grove_engine_container_stats_async:
 * @self: a #GroveEngine
 * @containers: (element-type GroveContainer): the containers to measure
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the figures
 * @user_data: closure
 *
 * Measures the containers: CPU and memory of the running ones (from their cgroups) and the
 * writable layer of each.
 */
void
grove_engine_container_stats_async (GroveEngine *self, GPtrArray *containers,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  GPtrArray *inputs = g_ptr_array_new_with_free_func ((GDestroyNotify)stats_input_free);

  g_return_if_fail (GROVE_IS_ENGINE (self));
  g_task_set_source_tag (task, grove_engine_container_stats_async);
  for (guint i = 0; i < containers->len; i++)
    {
      GroveContainer *container = containers->pdata[i];
      const char *id = grove_container_get_id (container);
      g_autofree char *dir = grove_engine_container_dir (self, id);
      StatsInput *input = g_new0 (StatsInput, 1);

      input->id = g_strdup (id);
      input->config_path = g_build_filename (dir, "config.json", NULL);
      input->writable_path = grove_store_get_writable_path (self->store, id);
      input->running = grove_container_get_state (container) == GROVE_CONTAINER_STATE_RUNNING;
      g_ptr_array_add (inputs, input);
    }
  g_task_set_task_data (task, inputs, (GDestroyNotify)g_ptr_array_unref);
  g_task_run_in_thread (task, stats_thread);
}

/**
 * grove_engine_container_stats_finish:
 * @self: a #GroveEngine
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: (transfer full) (element-type GroveContainerStats): the figures of each container
 *   that could be measured, in the order asked
 */
GPtrArray *
grove_engine_container_stats_finish (GroveEngine *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- pods ---- */

/**
 * grove_pod_stats_free:
 * @stats: (nullable) (transfer full): a #GrovePodStats
 *
 * Frees @stats.
 */
void
grove_pod_stats_free (GrovePodStats *stats)
{
  if (stats == NULL)
    return;
  g_free (stats->pod_id);
  g_clear_pointer (&stats->interfaces, g_ptr_array_unref);
  g_free (stats);
}

static void
interface_stats_free (GroveInterfaceStats *stats)
{
  g_free (stats->name);
  g_free (stats);
}

/* one line of /proc/<pid>/net/dev: "name: rx_bytes rx_packets rx_errs ... tx_bytes tx_packets
 * tx_errs ..."; NULL for the header lines */
static GroveInterfaceStats *
parse_net_dev_line (char *line)
{
  char *colon = strchr (line, ':');
  g_auto (GStrv) fields = NULL;
  guint64 values[16] = { 0 };
  guint n = 0;
  GroveInterfaceStats *stats = NULL;

  if (colon == NULL)
    return NULL;
  *colon = '\0';
  fields = g_strsplit_set (colon + 1, " \t", -1);
  /* runs of spaces give empty fields */
  for (guint f = 0; fields[f] != NULL && n < G_N_ELEMENTS (values); f++)
    if (fields[f][0] != '\0')
      values[n++] = g_ascii_strtoull (fields[f], NULL, 10);
  if (n < 11)
    return NULL;
  stats = g_new0 (GroveInterfaceStats, 1);
  stats->name = g_strdup (g_strstrip (line));
  stats->rx_bytes = values[0];
  stats->rx_errors = values[2];
  stats->tx_bytes = values[8];
  stats->tx_errors = values[10];
  return stats;
}

static GPtrArray *
read_net_dev (int pid, GError **error)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/net/dev", pid);
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  GPtrArray *interfaces = NULL;

  if (!g_file_get_contents (path, &text, NULL, error))
    return NULL;
  interfaces = g_ptr_array_new_with_free_func ((GDestroyNotify)interface_stats_free);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      GroveInterfaceStats *stats = parse_net_dev_line (lines[i]);

      if (stats != NULL)
        g_ptr_array_add (interfaces, stats);
    }
  return interfaces;
}

typedef struct
{
  char *pod_id;
  char *config_path;
  int infra_pid;
} PodInput;

static void
pod_input_free (PodInput *input)
{
  g_free (input->pod_id);
  g_free (input->config_path);
  g_free (input);
}

static GrovePodStats *
collect_pod (PodInput *input)
{
  GrovePodStats *stats = g_new0 (GrovePodStats, 1);
  g_autoptr (GError) local_error = NULL;
  g_autofree char *cgroups_path = NULL;

  stats->pod_id = g_strdup (input->pod_id);
  stats->timestamp = g_get_real_time () * 1000;
  if (input->infra_pid <= 0)
    return stats;
  cgroups_path = grove_engine_read_cgroups_path (input->config_path, &local_error);
  if (cgroups_path != NULL && grove_cgroup_read_stats (cgroups_path, &stats->cgroup, &local_error))
    stats->have_cgroup = TRUE;
  else
    g_debug ("no cgroup figures for pod %s: %s", input->pod_id, local_error->message);
  g_clear_error (&local_error);
  stats->interfaces = read_net_dev (input->infra_pid, &local_error);
  if (stats->interfaces == NULL)
    g_debug ("no network figures for pod %s: %s", input->pod_id, local_error->message);
  return stats;
}

static void
pod_stats_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GPtrArray *inputs = task_data;
  g_autoptr (GPtrArray) results
      = g_ptr_array_new_with_free_func ((GDestroyNotify)grove_pod_stats_free);

  for (guint i = 0; i < inputs->len; i++)
    g_ptr_array_add (results, collect_pod (inputs->pdata[i]));
  g_task_return_pointer (task, g_steal_pointer (&results), (GDestroyNotify)g_ptr_array_unref);
}

/**
 * grove_engine_pod_stats_async:
 * @self: a #GroveEngine
 * @pods: (element-type GrovePod): the pods to measure
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the figures
 * @user_data: closure
 *
 * Measures what the pods themselves use: the infra container's cgroup and the network
 * interfaces of the pod's network namespace. Their containers are measured with
 * grove_engine_container_stats_async().
 */
void
grove_engine_pod_stats_async (GroveEngine *self, GPtrArray *pods, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  GPtrArray *inputs = g_ptr_array_new_with_free_func ((GDestroyNotify)pod_input_free);

  g_return_if_fail (GROVE_IS_ENGINE (self));
  g_task_set_source_tag (task, grove_engine_pod_stats_async);
  for (guint i = 0; i < pods->len; i++)
    {
      GrovePod *pod = pods->pdata[i];
      g_autofree char *dir = grove_engine_container_dir (self, grove_pod_get_id (pod));
      PodInput *input = g_new0 (PodInput, 1);

      input->pod_id = g_strdup (grove_pod_get_id (pod));
      input->config_path = g_build_filename (dir, "config.json", NULL);
      input->infra_pid
          = grove_pod_get_state (pod) == GROVE_POD_STATE_READY ? grove_pod_get_infra_pid (pod) : 0;
      g_ptr_array_add (inputs, input);
    }
  g_task_set_task_data (task, inputs, (GDestroyNotify)g_ptr_array_unref);
  g_task_run_in_thread (task, pod_stats_thread);
}

/**
 * grove_engine_pod_stats_finish:
 * @self: a #GroveEngine
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: (transfer full) (element-type GrovePodStats): the figures of each pod, in the
 *   order asked
 */
GPtrArray *
grove_engine_pod_stats_finish (GroveEngine *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
