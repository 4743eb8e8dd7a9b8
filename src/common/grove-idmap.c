/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveIdmap"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/mount.h>

#include "grove-idmap.h"
#include "grove-utils.h"

/*
 * Idmapped mounts (Linux 5.12+): a clone of a mount whose files appear with their owners
 * shifted by a user namespace's mappings. An overlay mount itself cannot be idmapped (the
 * kernel refuses MOUNT_ATTR_IDMAP on overlayfs with EINVAL), but overlayfs accepts an
 * idmapped lower layer: that is how a shared image checkout, owned by the host's root,
 * appears owned by a pod's root without being changed. glibc 2.36 has no wrappers for
 * these calls: they go through syscall(2).
 */

/**
 * grove_idmap_clone_tree:
 * @path: a directory
 * @userns_fd: a user namespace (an open `/proc/PID/ns/user` or a bind mount of one)
 * @error: return location for a #GError
 *
 * Makes a detached recursive bind mount of @path, idmapped through @userns_fd: a file owned
 * by N on disk appears owned by what N is mapped to in that namespace. The mount keeps its
 * own reference to the namespace.
 *
 * Returns: the mount's file descriptor (close it to drop a mount never attached), or -1
 */
int
grove_idmap_clone_tree (const char *path, int userns_fd, GError **error)
{
  struct mount_attr attr = { 0 };
  grove_autofd int tree = -1;

  g_return_val_if_fail (path != NULL, -1);
  g_return_val_if_fail (userns_fd >= 0, -1);

  tree = (int)syscall (SYS_open_tree, AT_FDCWD, path,
                       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (tree < 0)
    return grove_throw_errno_code (error, errno, "cloning the mount tree at %s", path), -1;
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = (guint64)userns_fd;
  if (syscall (SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
    return grove_throw_errno_code (error, errno, "idmapping the mount of %s", path), -1;
  return grove_steal_fd (&tree);
}

/**
 * grove_idmap_mount_overlay:
 * @lower: the overlay's lower dir, left unchanged
 * @upper: the overlay's upper dir
 * @work: the overlay's work dir
 * @stage: an empty directory where the idmapped @lower is attached while the overlay is
 *   mounted; nothing stays mounted there afterwards
 * @target: where the overlay is mounted
 * @userns_fd: the user namespace whose mappings apply to @lower
 * @error: return location for a #GError
 *
 * Mounts an overlay whose lower layer is @lower idmapped through @userns_fd. The upper dir is
 * not idmapped: what a process of the namespace writes lands there with its host IDs. The
 * overlay keeps a private clone of the lower layer, so @stage is unmounted at once.
 *
 * Returns: %TRUE on success; on failure nothing stays mounted
 */
gboolean
grove_idmap_mount_overlay (const char *lower, const char *upper, const char *work,
                           const char *stage, const char *target, int userns_fd, GError **error)
{
  grove_autofd int tree = grove_idmap_clone_tree (lower, userns_fd, error);
  g_autofree char *options = NULL;
  int errsv = 0;

  if (tree < 0)
    return FALSE;
  if (syscall (SYS_move_mount, tree, "", AT_FDCWD, stage, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return grove_throw_errno_code (error, errno, "attaching the idmapped %s at %s", lower, stage);
  /* index=off: ostree stores identical files once, and with an index a write through one
   * name of a shared object would show through the others */
  options = g_strdup_printf ("lowerdir=%s,upperdir=%s,workdir=%s,index=off", stage, upper, work);
  if (mount ("overlay", target, "overlay", MS_NODEV, options) < 0)
    errsv = errno;
  if (umount2 (stage, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
    g_warning ("unmounting the idmapped stage %s: %s", stage, g_strerror (errno));
  if (errsv != 0)
    return grove_throw_errno_code (error, errsv, "mounting an overlay at %s over the idmapped %s",
                                   target, lower);
  return TRUE;
}

/* an empty directory or file where a clone of a directory or a file is attached */
static gboolean
make_mount_point (const char *path, gboolean is_dir, GError **error)
{
  grove_autofd int fd = -1;

  if (is_dir)
    {
      if (mkdir (path, 0700) < 0)
        return grove_throw_errno_code (error, errno, "creating mount point %s", path);
      return TRUE;
    }
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return grove_throw_errno_code (error, errno, "creating mount point %s", path);
  return TRUE;
}

/* removes a mount point, never what is below it: fails while something is still mounted */
static gboolean
remove_mount_point (const char *path, GError **error)
{
  if (rmdir (path) == 0 || errno == ENOENT)
    return TRUE;
  if (errno == ENOTDIR && (unlink (path) == 0 || errno == ENOENT))
    return TRUE;
  return grove_throw_errno_code (error, errno, "removing mount point %s", path);
}

/**
 * grove_idmap_bind:
 * @source: a directory or a file
 * @target: where the clone is attached; a new directory or empty file, of the same kind as
 *   @source, is made there
 * @userns_fd: the user namespace whose mappings apply
 * @error: return location for a #GError
 *
 * Attaches a recursive clone of @source, idmapped through @userns_fd, at @target: what is
 * owned by N on disk appears owned by N in that namespace. A bind mount of @target (what an
 * OCI runtime makes of a mount whose source is @target) keeps the idmapping, so a runtime
 * that cannot idmap mounts itself (runc 1.1) still gives the container an idmapped one.
 * The clone keeps the propagation peers of @source.
 *
 * Returns: %TRUE on success; on failure nothing is left at @target
 */
gboolean
grove_idmap_bind (const char *source, const char *target, int userns_fd, GError **error)
{
  grove_autofd int tree = -1;
  struct stat st;
  int errsv = 0;

  g_return_val_if_fail (source != NULL && target != NULL, FALSE);
  g_return_val_if_fail (userns_fd >= 0, FALSE);
  if (stat (source, &st) < 0)
    return grove_throw_errno_code (error, errno, "stat %s", source);
  tree = grove_idmap_clone_tree (source, userns_fd, error);
  if (tree < 0 || !make_mount_point (target, S_ISDIR (st.st_mode), error))
    return FALSE;
  if (syscall (SYS_move_mount, tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) == 0)
    return TRUE;
  errsv = errno;
  remove_mount_point (target, NULL);
  return grove_throw_errno_code (error, errsv, "attaching the idmapped clone of %s at %s", source,
                                 target);
}

/* detaches all that is stacked at @path; %TRUE once nothing is */
static gboolean
unmount_all (const char *path, GError **error)
{
  while (umount2 (path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
    ;
  if (errno == EINVAL || errno == ENOENT)
    return TRUE;
  return grove_throw_errno_code (error, errno, "unmounting %s", path);
}

/**
 * grove_idmap_unbind_dir:
 * @dir: a directory of mount points made by grove_idmap_bind()
 * @error: return location for a #GError
 *
 * Detaches what is mounted at each entry of @dir, then removes the entries and @dir. Nothing
 * is removed recursively: an entry that is still a mount (or not empty) makes this fail
 * instead of deleting the files of a volume through it. A missing @dir is fine, so this can
 * be repeated.
 *
 * Returns: %TRUE when @dir is gone
 */
gboolean
grove_idmap_unbind_dir (const char *dir, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GDir) d = NULL;
  const char *entry = NULL;

  g_return_val_if_fail (dir != NULL, FALSE);
  d = g_dir_open (dir, 0, &local_error);
  if (d == NULL && g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    return TRUE;
  if (d == NULL)
    return grove_throw (error, GROVE_ERROR_FAILED, "%s", local_error->message);
  while ((entry = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, entry, NULL);

      if (!unmount_all (path, error) || !remove_mount_point (path, error))
        return FALSE;
    }
  if (rmdir (dir) < 0 && errno != ENOENT)
    return grove_throw_errno_code (error, errno, "removing %s", dir);
  return TRUE;
}
