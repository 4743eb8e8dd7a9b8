/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveEngine"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "grove-engine-private.h"
#include "grove-idmap.h"
#include "grove-userns.h"
#include "grove-utils.h"

/*
 * Idmapped volumes: every bind mount of a container of a pod with its own user namespace
 * (CRI volumes and the pod's hosts, hostname, resolv.conf and /dev/shm) is an idmapped
 * clone Grove makes, at idmapped/<container id>/<n> below the run root, and the OCI spec's
 * mount source points there. runc 1.1 ignores the `idmap` option and per-mount mappings,
 * and a bind of an idmapped mount stays idmapped: so both runtimes get the same mounts. The
 * host's root then appears as the pod's root on a volume, as with containerd and CRI-O.
 * Which clone comes from where is kept in containers/<id>/idmapped-mounts.json, so that
 * the clones can be made again after a reboot.
 */

#define IDMAPPED_RECORD "idmapped-mounts.json"
#define IDMAPPED_RECORD_MAX ((gsize)1024 * 1024)

static char *
idmapped_dir (GroveEngine *self, const char *id)
{
  return g_build_filename (self->runroot, "idmapped", id, NULL);
}

/* the processes of the user namespace reach the clones by path: the dirs on the way too */
static gboolean
make_idmapped_dir (GroveEngine *self, const char *id, GError **error)
{
  g_autofree char *parent = g_build_filename (self->runroot, "idmapped", NULL);
  g_autofree char *dir = idmapped_dir (self, id);

  if (!grove_mkdir_p_at (AT_FDCWD, dir, 0711, error))
    return FALSE;
  return grove_make_searchable_at (AT_FDCWD, self->runroot, error)
         && grove_make_searchable_at (AT_FDCWD, parent, error)
         && grove_make_searchable_at (AT_FDCWD, dir, error);
}

/* attaches the clones of @record's mounts that are not there (all of them after a reboot) */
static gboolean
attach_clones (GroveEngine *self, const char *id, JsonObject *record, GError **error)
{
  const char *userns = grove_record_string (record, "usernsPath");
  JsonNode *node = json_object_get_member (record, "mounts");
  JsonArray *mounts
      = node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
  grove_autofd int userns_fd = -1;

  if (userns == NULL || mounts == NULL)
    return grove_throw (error, GROVE_ERROR_FAILED,
                        "the idmapped mounts of %s have no user namespace or no mounts", id);
  for (guint i = 0; i < json_array_get_length (mounts); i++)
    {
      JsonObject *mount = json_array_get_object_element (mounts, i);
      const char *source = grove_record_string (mount, "source");
      const char *clone = grove_record_string (mount, "clone");

      if (source == NULL || clone == NULL)
        return grove_throw (error, GROVE_ERROR_FAILED, "idmapped mount %u of %s is incomplete", i,
                            id);
      if (g_file_test (clone, G_FILE_TEST_EXISTS))
        continue;
      if (userns_fd < 0
          && ((userns_fd = grove_userns_open (userns, error)) < 0
              || !make_idmapped_dir (self, id, error)))
        return FALSE;
      if (!grove_idmap_bind (source, clone, userns_fd, error))
        return g_prefix_error (error, "container %s: ", id), FALSE;
    }
  return TRUE;
}

/**
 * grove_engine_idmap_spec_mounts: (skip)
 *
 * For a container of a pod with its own user namespace (@pod_record has `usernsPath`): makes
 * an idmapped clone of the source of each bind mount in @spec and points the mount there.
 * Nothing for other pods. On failure the caller releases what was made
 * (grove_engine_release_idmapped_mounts()).
 */
gboolean
grove_engine_idmap_spec_mounts (GroveEngine *self, JsonObject *pod_record, const char *id,
                                JsonObject *spec, GError **error)
{
  const char *userns = grove_record_string (pod_record, "usernsPath");
  JsonNode *node = json_object_get_member (spec, "mounts");
  g_autoptr (JsonObject) record = json_object_new ();
  g_autoptr (JsonArray) clones = json_array_new ();
  g_autofree char *dir = idmapped_dir (self, id);
  g_autofree char *container_dir = grove_engine_container_dir (self, id);
  JsonArray *mounts = NULL;

  if (userns == NULL || node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return TRUE;
  mounts = json_node_get_array (node);
  for (guint i = 0; i < json_array_get_length (mounts); i++)
    {
      JsonObject *mount = json_array_get_object_element (mounts, i);
      JsonObject *clone = NULL;
      g_autofree char *name = NULL;
      g_autofree char *path = NULL;

      if (g_strcmp0 (grove_record_string (mount, "type"), "bind") != 0)
        continue;
      name = g_strdup_printf ("%u", json_array_get_length (clones));
      path = g_build_filename (dir, name, NULL);
      clone = json_object_new ();
      json_object_set_string_member (clone, "source", grove_record_string (mount, "source"));
      json_object_set_string_member (clone, "destination",
                                     grove_record_string (mount, "destination"));
      json_object_set_string_member (clone, "clone", path);
      json_array_add_object_element (clones, clone);
      json_object_set_string_member (mount, "source", path);
    }
  if (json_array_get_length (clones) == 0)
    return TRUE;
  json_object_set_string_member (record, "usernsPath", userns);
  json_object_set_array_member (record, "mounts", g_steal_pointer (&clones));
  return grove_mkdir_p_at (AT_FDCWD, container_dir, 0700, error)
         && grove_write_record (container_dir, IDMAPPED_RECORD, record, error)
         && attach_clones (self, id, record, error);
}

/**
 * grove_engine_attach_idmapped_mounts: (skip)
 *
 * Makes again the idmapped clones of container @id that are missing (after a reboot: the run
 * root is gone); nothing for a container without any.
 */
gboolean
grove_engine_attach_idmapped_mounts (GroveEngine *self, const char *id, GError **error)
{
  g_autofree char *container_dir = grove_engine_container_dir (self, id);
  g_autofree char *path = g_build_filename (container_dir, IDMAPPED_RECORD, NULL);
  g_autoptr (GBytes) data = NULL;
  g_autoptr (JsonObject) record = NULL;
  g_autoptr (GError) local_error = NULL;

  data = grove_read_file_at (AT_FDCWD, path, IDMAPPED_RECORD_MAX, &local_error);
  if (data == NULL && g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    return TRUE;
  if (data == NULL)
    return g_propagate_error (error, g_steal_pointer (&local_error)), FALSE;
  record = grove_record_parse (g_bytes_get_data (data, NULL), g_bytes_get_size (data), path, error);
  return record != NULL && attach_clones (self, id, record, error);
}

/**
 * grove_engine_release_idmapped_mounts: (skip)
 *
 * Detaches and removes the idmapped clones of container @id (they are below the run root,
 * apart from its run dir, so that removing that never reaches a volume). Safe to repeat.
 */
gboolean
grove_engine_release_idmapped_mounts (GroveEngine *self, const char *id, GError **error)
{
  g_autofree char *dir = idmapped_dir (self, id);

  if (!grove_idmap_unbind_dir (dir, error))
    return g_prefix_error (error, "releasing the idmapped mounts of %s: ", id), FALSE;
  return TRUE;
}

/**
 * grove_engine_collect_idmapped_garbage: (skip)
 *
 * At load, after a crash: detaches the idmapped clones of containers (and infra containers)
 * that no longer exist, i.e. whose ID is not in @live_ids.
 */
void
grove_engine_collect_idmapped_garbage (GroveEngine *self, GHashTable *live_ids)
{
  g_autofree char *dir = g_build_filename (self->runroot, "idmapped", NULL);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *entry = NULL;

  while (d != NULL && (entry = g_dir_read_name (d)) != NULL)
    {
      g_autoptr (GError) local_error = NULL;

      if (g_hash_table_contains (live_ids, entry))
        continue;
      if (grove_engine_release_idmapped_mounts (self, entry, &local_error))
        g_message ("released the idmapped mounts of %s, which no longer exists", entry);
      else
        g_warning ("%s", local_error->message);
    }
}
