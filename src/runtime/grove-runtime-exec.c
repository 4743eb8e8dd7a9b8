/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * grove-runtime-exec RUNTIME [ARGS...]
 *
 * Runs an OCI runtime in a private mount namespace where the cgroup2 hierarchy of a
 * hybrid cgroup layout (/sys/fs/cgroup/unified) is unmounted, so a runtime that refuses
 * the hybrid layout (crun) sees a plain cgroup v1 host. The host's mounts are untouched:
 * the namespace is a slave of the host's, so later host mounts still propagate into it.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#define UNIFIED_CGROUP_PATH "/sys/fs/cgroup/unified"

static int
enter_private_mount_namespace (void)
{
  if (unshare (CLONE_NEWNS) < 0)
    {
      fprintf (stderr, "grove-runtime-exec: unshare(CLONE_NEWNS): %s\n", strerror (errno));
      return -1;
    }
  /* without this the umount below would propagate back to the host */
  if (mount (NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
    {
      fprintf (stderr, "grove-runtime-exec: making / a recursive slave: %s\n", strerror (errno));
      return -1;
    }
  /* EINVAL: not a mount point, ENOENT: no such directory; both mean nothing to hide */
  if (umount2 (UNIFIED_CGROUP_PATH, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    {
      fprintf (stderr, "grove-runtime-exec: unmounting %s: %s\n", UNIFIED_CGROUP_PATH,
               strerror (errno));
      return -1;
    }
  return 0;
}

int
main (int argc, char *argv[])
{
  if (argc < 2)
    {
      fprintf (stderr, "usage: grove-runtime-exec RUNTIME [ARGS...]\n");
      return 2;
    }
  if (enter_private_mount_namespace () < 0)
    return 1;
  execvp (argv[1], &argv[1]);
  fprintf (stderr, "grove-runtime-exec: executing %s: %s\n", argv[1], strerror (errno));
  return 127;
}
