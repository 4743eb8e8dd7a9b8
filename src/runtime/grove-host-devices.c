/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveHostDevices"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "grove-host-devices.h"
#include "grove-utils.h"

/*
 * A privileged container gets the host's device nodes: runc and crun create only the
 * default set and those the spec lists, so the spec lists every node of the host's /dev.
 */

#define DEPTH_MAX 8

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DIR, closedir)

/* what the runtime sets up itself, or what is the pod's own */
static gboolean
skipped (const char *name, gboolean is_dir)
{
  static const char *const dirs[] = { "pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", NULL };
  static const char *const nodes[] = { "console", "ptmx", NULL };

  return g_strv_contains (is_dir ? dirs : nodes, name);
}

static JsonObject *
device_entry (const char *path, const struct stat *st)
{
  JsonObject *entry = json_object_new ();

  json_object_set_string_member (entry, "path", path);
  json_object_set_string_member (entry, "type", S_ISCHR (st->st_mode) ? "c" : "b");
  json_object_set_int_member (entry, "major", major (st->st_rdev));
  json_object_set_int_member (entry, "minor", minor (st->st_rdev));
  json_object_set_int_member (entry, "fileMode", st->st_mode & 07777);
  json_object_set_int_member (entry, "uid", st->st_uid);
  json_object_set_int_member (entry, "gid", st->st_gid);
  return entry;
}

static gboolean
collect (int parent_fd, const char *name, const char *path, guint depth, JsonArray *out,
         GError **error)
{
  int fd = openat (parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  g_autoptr (DIR) dir = NULL;
  struct dirent *entry = NULL;

  if (fd < 0)
    return grove_throw_errno_code (error, errno, "opening %s", path);
  dir = fdopendir (fd);
  if (dir == NULL)
    return close (fd), grove_throw_errno_code (error, errno, "reading %s", path);
  while ((entry = readdir (dir)) != NULL)
    {
      struct stat st;
      g_autofree char *child = NULL;

      if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0
          || fstatat (dirfd (dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
          || skipped (entry->d_name, S_ISDIR (st.st_mode)))
        continue;
      child = g_build_filename (path, entry->d_name, NULL);
      if (S_ISCHR (st.st_mode) || S_ISBLK (st.st_mode))
        json_array_add_object_element (out, device_entry (child, &st));
      else if (S_ISDIR (st.st_mode) && depth < DEPTH_MAX
               && !collect (dirfd (dir), entry->d_name, child, depth + 1, out, error))
        return FALSE;
    }
  return TRUE;
}

/**
 * grove_host_devices_list:
 * @dev_path: the host's device directory, `/dev`
 * @error: return location
 *
 * Lists the character and block devices below @dev_path (symlinks not followed; `pts`,
 * `shm`, `mqueue`, `fd`, `console` and `ptmx`, which the runtime sets up, left out), as
 * entries of the OCI spec's `linux.devices` with the same path in the container.
 *
 * Returns: (transfer full) (nullable): the entries, or %NULL with @error set
 */
JsonArray *
grove_host_devices_list (const char *dev_path, GError **error)
{
  g_autoptr (JsonArray) devices = json_array_new ();

  g_return_val_if_fail (dev_path != NULL && g_path_is_absolute (dev_path), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!collect (AT_FDCWD, dev_path, dev_path, 0, devices, error))
    return NULL;
  return g_steal_pointer (&devices);
}
