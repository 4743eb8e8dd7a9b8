/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveNetns"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <linux/magic.h>

#include "grove-netns.h"
#include "grove-utils.h"

/* what the namespace thread needs, and what it hands back */
typedef struct
{
  const char *path;
  int pid; /* > 0: adopt this process's namespace instead of making one */
  GError *error;
} NetnsJob;

/* TRUE when @path is the root of a mount; a missing path is not */
static gboolean
is_mount_point (const char *path, GError **error)
{
  struct statx stx = { 0 };
  struct stat st_parent;
  g_autofree char *parent = NULL;

  if (statx (AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_INO, &stx) < 0)
    {
      if (errno == ENOENT)
        return FALSE;
      return grove_throw_errno_code (error, errno, "checking whether %s is a mount point", path);
    }
  if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0)
    return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;

  /* kernels before 5.8: a mount of another filesystem changes the device */
  parent = g_build_filename (path, "..", NULL);
  if (stat (parent, &st_parent) < 0)
    return grove_throw_errno_code (error, errno, "checking whether %s is a mount point", path);
  return makedev (stx.stx_dev_major, stx.stx_dev_minor) != st_parent.st_dev;
}

static gboolean
is_filesystem (const char *path, __fsword_t magic)
{
  struct statfs sfs;

  if (statfs (path, &sfs) < 0)
    return FALSE;
  return sfs.f_type == magic;
}

/**
 * grove_netns_prepare_dir:
 * @dir: a directory namespaces are bind-mounted in
 * @error: return location for a #GError
 *
 * Like `ip netns add` does for /run/netns: make @dir a mount point of its own (a bind mount
 * of itself) and mark it shared, so that unmounting a namespace here also unmounts the copies
 * that other mount namespaces made of it, and the namespace can really go away.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_netns_prepare_dir (const char *dir, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  gboolean mounted = FALSE;
  struct stat st;

  if (stat (dir, &st) < 0)
    {
      if (errno == ENOENT)
        return grove_throw (error, GROVE_ERROR_NOT_FOUND,
                            "network namespace directory %s does not exist", dir);
      return grove_throw_errno_code (error, errno, "checking network namespace directory %s", dir);
    }
  if (!S_ISDIR (st.st_mode))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "network namespace directory %s is not a directory", dir);
  mounted = is_mount_point (dir, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (!mounted && mount (dir, dir, NULL, MS_BIND | MS_REC, NULL) < 0)
    return grove_throw_errno_code (error, errno,
                                   "bind-mounting network namespace directory %s onto itself", dir);
  if (mount (NULL, dir, NULL, MS_SHARED, NULL) < 0)
    return grove_throw_errno_code (error, errno,
                                   "making network namespace directory %s a shared mount", dir);
  return TRUE;
}

static gboolean
loopback_up (GError **error)
{
  grove_autofd int sock = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = { 0 };

  if (sock < 0)
    return grove_throw_errno_code (error, errno, "opening a socket in the new network namespace");
  g_strlcpy (ifr.ifr_name, "lo", sizeof ifr.ifr_name);
  if (ioctl (sock, SIOCGIFFLAGS, &ifr) < 0)
    return grove_throw_errno_code (error, errno, "reading the flags of the loopback interface");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl (sock, SIOCSIFFLAGS, &ifr) < 0)
    return grove_throw_errno_code (error, errno, "bringing the loopback interface up");
  return TRUE;
}

/* runs in a thread of its own, which is left in the new namespace and then ends */
static gboolean
enter_new_netns (const char *path, int pid, GError **error)
{
  g_autofree char *ns = g_strdup_printf ("/proc/%d/ns/net", pid);
  grove_autofd int fd = pid > 0 ? open (ns, O_RDONLY | O_CLOEXEC) : -1;

  if (pid > 0 && (fd < 0 || setns (fd, CLONE_NEWNET) < 0))
    return grove_throw_errno_code (error, errno, "entering the network namespace of process %d",
                                   pid);
  if (pid <= 0 && unshare (CLONE_NEWNET) < 0)
    return grove_throw_errno_code (error, errno, "creating a network namespace for %s", path);
  if (!loopback_up (error))
    return FALSE;
  if (mount ("/proc/thread-self/ns/net", path, NULL, MS_BIND, NULL) < 0)
    return grove_throw_errno_code (error, errno, "bind-mounting the new network namespace onto %s",
                                   path);
  return TRUE;
}

static gpointer
netns_thread_cb (gpointer user_data)
{
  NetnsJob *job = user_data;

  enter_new_netns (job->path, job->pid, &job->error);
  return NULL;
}

/* a new thread, never the caller's nor a pool's, so no other work runs in the new namespace */
static gboolean
create_in_thread (const char *path, int pid, GError **error)
{
  NetnsJob job = { path, pid, NULL };
  g_autoptr (GError) local_error = NULL;
  GThread *thread = g_thread_try_new ("grove-netns", netns_thread_cb, &job, &local_error);

  if (thread == NULL)
    return grove_throw (error, GROVE_ERROR_FAILED,
                        "starting a thread to create network namespace %s: %s", path,
                        local_error->message);
  g_thread_join (thread);
  if (job.error != NULL)
    {
      g_propagate_error (error, job.error);
      return FALSE;
    }
  return TRUE;
}

static gboolean
create_at (const char *path, int pid, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  grove_autofd int fd = -1;

  if (!grove_netns_prepare_dir (dir, error))
    return FALSE;
  fd = open (path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0 && errno == EEXIST)
    {
      if (grove_netns_exists (path))
        return grove_throw (error, GROVE_ERROR_ALREADY_EXISTS,
                            "network namespace %s already exists", path);
      return grove_throw (error, GROVE_ERROR_ALREADY_EXISTS,
                          "cannot create network namespace %s: something else is already there",
                          path);
    }
  if (fd < 0)
    return grove_throw_errno_code (error, errno, "creating network namespace file %s", path);
  grove_close_fd (&fd);

  if (!create_in_thread (path, pid, error))
    {
      if (unlink (path) < 0)
        g_warning ("removing %s after a failed namespace creation: %s", path, g_strerror (errno));
      return FALSE;
    }
  g_debug ("created network namespace %s", path);
  return TRUE;
}

/**
 * grove_netns_create:
 * @path: where the namespace is bind-mounted; its directory must exist
 * @error: return location for a #GError
 *
 * Creates a new network namespace with its loopback interface up and keeps it alive by
 * bind-mounting it onto @path, a new file. The namespace is created in a dedicated thread;
 * the caller's own network namespace does not change. The directory of @path is made a
 * shared mount of its own if it is not one yet, as `ip netns add` does for /run/netns.
 *
 * On failure nothing is left at @path.
 *
 * Returns: %TRUE on success; %GROVE_ERROR_ALREADY_EXISTS if @path exists
 */
gboolean
grove_netns_create (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return create_at (path, 0, error);
}

/**
 * grove_netns_adopt:
 * @path: where the namespace is bind-mounted; its directory must exist
 * @pid: a process whose network namespace is new (made by a helper, e.g. inside a user
 *   namespace, so that the user namespace owns it)
 * @error: return location for a #GError
 *
 * Like grove_netns_create(), with the network namespace of @pid instead of a new one: its
 * loopback interface is brought up and it is bind-mounted onto @path, so it outlives @pid.
 *
 * Returns: %TRUE on success; %GROVE_ERROR_ALREADY_EXISTS if @path exists
 */
gboolean
grove_netns_adopt (const char *path, int pid, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (pid > 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return create_at (path, pid, error);
}

/**
 * grove_netns_remove:
 * @path: a path given to grove_netns_create()
 * @error: return location for a #GError
 *
 * Unmounts the namespace at @path (lazily) and removes the file. The namespace itself ends
 * when no process is left in it. A missing @path, or one that is not mounted, is fine, so a
 * second removal succeeds.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_netns_remove (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return grove_nsfs_remove (path, "network namespace", error);
}

/**
 * grove_nsfs_remove:
 * @path: a file a namespace is bind-mounted on
 * @what: what it is, for messages ("network namespace")
 * @error: return location for a #GError
 *
 * Unmounts the namespace at @path (lazily) and removes the file; a missing @path, or one
 * that is not mounted, is fine.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_nsfs_remove (const char *path, const char *what, GError **error)
{
  g_return_val_if_fail (path != NULL && what != NULL, FALSE);

  /* a loop, in case two creations raced and stacked two mounts */
  while (grove_netns_exists (path))
    {
      if (umount2 (path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
        continue;
      /* not a mount point itself, e.g. a symlink to one: leave that mount alone */
      if (errno == EINVAL || errno == ENOENT)
        break;
      return grove_throw_errno_code (error, errno, "unmounting %s %s", what, path);
    }
  if (unlink (path) < 0 && errno != ENOENT)
    return grove_throw_errno_code (error, errno, "removing %s file %s", what, path);
  g_debug ("removed %s %s", what, path);
  return TRUE;
}

/**
 * grove_netns_exists:
 * @path: a path
 *
 * Returns: %TRUE when a namespace (nsfs) is mounted at @path
 */
gboolean
grove_netns_exists (const char *path)
{
  g_return_val_if_fail (path != NULL, FALSE);

  return is_filesystem (path, NSFS_MAGIC);
}

/* TRUE with @out_mounted set when @path is a tmpfs mount point; an error if another one */
static gboolean
check_shm_mounted (const char *path, gboolean *out_mounted, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  *out_mounted = is_mount_point (path, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (*out_mounted && !is_filesystem (path, TMPFS_MAGIC))
    return grove_throw (error, GROVE_ERROR_BUSY,
                        "cannot mount shared memory at %s: another filesystem is mounted there",
                        path);
  return TRUE;
}

/**
 * grove_shm_mount:
 * @path: the directory to create and mount on; its parent must exist
 * @size_bytes: the size limit of the tmpfs, more than 0
 * @error: return location for a #GError
 *
 * Creates @path (mode 0755) and mounts a tmpfs there with `nosuid,nodev,noexec,mode=1777`
 * and the given size, for a pod's /dev/shm. A tmpfs already mounted there is fine.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_shm_mount (const char *path, guint64 size_bytes, GError **error)
{
  g_autofree char *options = NULL;
  gboolean mounted = FALSE;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* tmpfs takes size=0 to mean no limit, which a pod must never get */
  if (size_bytes == 0)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "cannot mount shared memory at %s: size 0 is not allowed", path);
  if (mkdir (path, 0755) < 0 && errno != EEXIST)
    return grove_throw_errno_code (error, errno, "creating shared memory directory %s", path);
  if (!check_shm_mounted (path, &mounted, error))
    return FALSE;
  if (mounted)
    return TRUE;
  options = g_strdup_printf ("mode=1777,size=%" G_GUINT64_FORMAT, size_bytes);
  if (mount ("shm", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options) < 0)
    return grove_throw_errno_code (error, errno, "mounting shared memory (tmpfs, %s) at %s",
                                   options, path);
  return TRUE;
}

/**
 * grove_shm_unmount:
 * @path: a directory given to grove_shm_mount()
 * @error: return location for a #GError
 *
 * Unmounts (lazily) what is mounted at @path and removes the directory. A missing @path
 * is fine, so a second call succeeds.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_shm_unmount (const char *path, GError **error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  for (;;)
    {
      g_autoptr (GError) local_error = NULL;
      gboolean mounted = is_mount_point (path, &local_error);

      if (local_error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      if (!mounted)
        break;
      if (umount2 (path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
        return grove_throw_errno_code (error, errno, "unmounting shared memory at %s", path);
    }
  if (rmdir (path) < 0 && errno != ENOENT)
    return grove_throw_errno_code (error, errno, "removing shared memory directory %s", path);
  return TRUE;
}
