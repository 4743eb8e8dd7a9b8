/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveIdmap"

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
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
