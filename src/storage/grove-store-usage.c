/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveStore"

/*
 * How much disk the store takes, the way `du -x` counts it: blocks allocated, each
 * hardlinked inode once (ostree objects and checkouts share inodes), without crossing
 * into the container overlays mounted below it; and the mount point of its filesystem.
 */

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "grove-store.h"
#include "grove-utils.h"

/* the deepest directory above @path still on @path's filesystem, as `stat -c %m` says */
static char *
find_mountpoint (const char *path, dev_t dev)
{
  g_autofree char *current = g_strdup (path);

  for (;;)
    {
      g_autofree char *parent = g_path_get_dirname (current);
      struct stat st;
      if (g_str_equal (parent, current) || stat (parent, &st) < 0 || st.st_dev != dev)
        return g_steal_pointer (&current);
      g_free (current);
      current = g_steal_pointer (&parent);
    }
}

/**
 * grove_store_usage_free:
 * @usage: (transfer full) (nullable): a #GroveStoreUsage
 *
 * Frees @usage.
 */
void
grove_store_usage_free (GroveStoreUsage *usage)
{
  if (usage == NULL)
    return;
  g_free (usage->mountpoint);
  g_free (usage);
}

/**
 * grove_store_get_usage:
 * @self: a #GroveStore
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Measures the store's directory: bytes allocated and inodes used below it (each
 * hardlinked inode once; filesystems mounted below it, such as container overlays, are
 * not entered) and the mount point of its filesystem. Blocks while it walks the tree.
 *
 * Returns: (transfer full) (nullable): the usage, or %NULL with @error set
 */
GroveStoreUsage *
grove_store_get_usage (GroveStore *self, GCancellable *cancellable, GError **error)
{
  const char *root = NULL;
  struct stat st;
  g_autoptr (GroveStoreUsage) usage = g_new0 (GroveStoreUsage, 1);

  g_return_val_if_fail (GROVE_IS_STORE (self), NULL);
  root = grove_store_get_root (self);
  if (stat (root, &st) < 0)
    return grove_throw_errno_code (error, errno, "stat %s", root), NULL;
  usage->timestamp = g_get_real_time ();
  if (!grove_disk_usage_at (AT_FDCWD, root, &usage->bytes, &usage->inodes, cancellable, error))
    return NULL;
  usage->mountpoint = find_mountpoint (root, st.st_dev);
  return g_steal_pointer (&usage);
}

static void
get_usage_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  g_autoptr (GError) error = NULL;
  GroveStoreUsage *usage = grove_store_get_usage (source, cancellable, &error);

  if (usage == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, usage, (GDestroyNotify)grove_store_usage_free);
}

/**
 * grove_store_get_usage_async:
 * @self: a #GroveStore
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: closure
 *
 * grove_store_get_usage() in a thread.
 */
void
grove_store_get_usage_async (GroveStore *self, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_return_if_fail (GROVE_IS_STORE (self));
  g_task_set_source_tag (task, grove_store_get_usage_async);
  g_task_run_in_thread (task, get_usage_thread);
}

/**
 * grove_store_get_usage_finish:
 * @self: a #GroveStore
 * @result: the result
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the usage, or %NULL with @error set
 */
GroveStoreUsage *
grove_store_get_usage_finish (GroveStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
