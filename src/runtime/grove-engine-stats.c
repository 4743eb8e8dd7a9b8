/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveEngine"

/*
 * Usage figures for the CRI's stats calls: CPU and memory from each running container's
 * cgroup, and the bytes and inodes of its writable layer (the overlay's upper dir). The
 * main thread picks the containers and the paths; a worker reads the files and walks the
 * layers, which may be large.
 */

#include <fcntl.h>
#include <json-glib/json-glib.h>

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

/* the cgroup runc and crun put the container in: config.json's linux.cgroupsPath */
static char *
read_cgroups_path (const char *config_path, GError **error)
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
      g_autofree char *cgroups_path = read_cgroups_path (input->config_path, error);

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
