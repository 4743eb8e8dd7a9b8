/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * grove-attacker: runs inside test containers and tries what a container should not be able
 * to do, one probe per argument, printing "<probe> ok" or "<probe> errno=<N>". Each probe is
 * chosen to do no harm when it succeeds (bad magic numbers, invalid clock ids, no-op
 * namespaces) and to reach the kernel past any capability check when the container has the
 * capability, so that EPERM can only come from seccomp. Plain C without GLib: it is linked
 * statically into the test image.
 */

#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BAD_CLOCK_ID 1234

/* each returns 0 on success, else -1 with errno set */

static int
probe_keyctl (void)
{
  return syscall (SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0) < 0 ? -1 : 0;
}

static int
probe_add_key (void)
{
  return syscall (SYS_add_key, "user", "grove-test", "x", 1, KEY_SPEC_PROCESS_KEYRING) < 0 ? -1 : 0;
}

/* an unknown command: EINVAL once past seccomp */
static int
probe_bpf (void)
{
  return (int)syscall (SYS_bpf, 9999, NULL, 0);
}

static int
probe_perf_event_open (void)
{
  return (int)syscall (SYS_perf_event_open, NULL, 0, -1, -1, 0);
}

/* no module: EBADF with CAP_SYS_MODULE */
static int
probe_finit_module (void)
{
  return (int)syscall (SYS_finit_module, -1, "", 0);
}

/* bad magic: EINVAL with CAP_SYS_BOOT, and nothing reboots */
static int
probe_reboot (void)
{
  return (int)syscall (SYS_reboot, 0, 0, 0, NULL);
}

/* unknown flags: EINVAL with CAP_SYS_BOOT; nothing is loaded or unloaded */
static int
probe_kexec_load (void)
{
  return (int)syscall (SYS_kexec_load, 0, 0, NULL, 0xffff0000UL);
}

/* an unknown clock: EINVAL before any capability check */
static int
probe_clock_settime (void)
{
  struct timespec ts = { 0, 0 };

  return (int)syscall (SYS_clock_settime, BAD_CLOCK_ID, &ts);
}

/* an invalid time: EINVAL before any capability check */
static int
probe_settimeofday (void)
{
  struct timeval tv = { 0, 2000000 };

  return (int)syscall (SYS_settimeofday, &tv, NULL);
}

/* modes 0 only reads */
static int
probe_adjtimex (void)
{
  struct timex tx;

  memset (&tx, 0, sizeof (tx));
  return adjtimex (&tx) < 0 ? -1 : 0;
}

static int
probe_mount (void)
{
  if (mkdir ("/tmp/grove-mnt", 0755) < 0 && errno != EEXIST)
    return -1;
  return mount ("none", "/tmp/grove-mnt", "tmpfs", 0, "size=64k");
}

static int
probe_unshare (int flags)
{
  return unshare (flags);
}

/* a child in a new user namespace through clone, waited for */
static int
probe_clone_user (void)
{
  int status = 0;
  long pid = syscall (SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);

  if (pid < 0)
    return -1;
  if (pid == 0)
    _exit (0);
  return waitpid ((pid_t)pid, &status, 0) < 0 ? -1 : 0;
}

/* joining its own network namespace again */
static int
probe_setns (void)
{
  int fd = open ("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int ret = 0;

  if (fd < 0)
    return -1;
  ret = setns (fd, CLONE_NEWNET);
  close (fd);
  return ret;
}

/* no handle: EBADF or EFAULT with CAP_DAC_READ_SEARCH */
static int
probe_open_by_handle_at (void)
{
  return (int)syscall (SYS_open_by_handle_at, -1, NULL, O_RDONLY);
}

static int
probe_swapon (void)
{
  return swapon ("/nonexistent-swap", 0);
}

static int
probe_mkdir (void)
{
  rmdir ("/tmp/grove-mkdir");
  return (int)syscall (SYS_mkdir, "/tmp/grove-mkdir", 0755);
}

static int
probe_mkdirat (void)
{
  rmdir ("/tmp/grove-mkdirat");
  return (int)syscall (SYS_mkdirat, AT_FDCWD, "/tmp/grove-mkdirat", 0755);
}

static int
probe_fork (void)
{
  int status = 0;
  pid_t pid = fork ();

  if (pid < 0)
    return -1;
  if (pid == 0)
    _exit (7);
  if (waitpid (pid, &status, 0) < 0)
    return -1;
  return WIFEXITED (status) && WEXITSTATUS (status) == 7 ? 0 : (errno = ECHILD, -1);
}

static void *
thread_main (void *data)
{
  return data;
}

static int
probe_thread (void)
{
  pthread_t thread;
  int marker = 0;
  void *result = NULL;
  int rc = pthread_create (&thread, NULL, thread_main, &marker);

  if (rc != 0)
    return errno = rc, -1;
  pthread_join (thread, &result);
  return result == &marker ? 0 : (errno = EINVAL, -1);
}

/* a TCP connection over loopback inside the pod's network namespace */
static int
probe_loopback (void)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof (addr);
  int server = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int client = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int conn = -1;
  char byte = 0;
  int ok = 0;

  ok = server >= 0 && client >= 0 && bind (server, (struct sockaddr *)&addr, sizeof (addr)) == 0
       && listen (server, 1) == 0 && getsockname (server, (struct sockaddr *)&addr, &len) == 0
       && connect (client, (struct sockaddr *)&addr, sizeof (addr)) == 0
       && (conn = accept (server, NULL, NULL)) >= 0 && write (client, "x", 1) == 1
       && read (conn, &byte, 1) == 1 && byte == 'x';
  if (!ok && errno == 0)
    errno = EIO;
  close (conn);
  close (client);
  close (server);
  return ok ? 0 : -1;
}

static int
run_probe (const char *name)
{
  if (strcmp (name, "keyctl") == 0)
    return probe_keyctl ();
  if (strcmp (name, "add_key") == 0)
    return probe_add_key ();
  if (strcmp (name, "bpf") == 0)
    return probe_bpf ();
  if (strcmp (name, "perf_event_open") == 0)
    return probe_perf_event_open ();
  if (strcmp (name, "finit_module") == 0)
    return probe_finit_module ();
  if (strcmp (name, "reboot") == 0)
    return probe_reboot ();
  if (strcmp (name, "kexec_load") == 0)
    return probe_kexec_load ();
  if (strcmp (name, "clock_settime") == 0)
    return probe_clock_settime ();
  if (strcmp (name, "settimeofday") == 0)
    return probe_settimeofday ();
  if (strcmp (name, "adjtimex") == 0)
    return probe_adjtimex ();
  if (strcmp (name, "mount") == 0)
    return probe_mount ();
  if (strcmp (name, "unshare-user") == 0)
    return probe_unshare (CLONE_NEWUSER);
  if (strcmp (name, "unshare-mount") == 0)
    return probe_unshare (CLONE_NEWNS);
  if (strcmp (name, "unshare-files") == 0)
    return probe_unshare (CLONE_FILES);
  if (strcmp (name, "clone-user") == 0)
    return probe_clone_user ();
  if (strcmp (name, "setns") == 0)
    return probe_setns ();
  if (strcmp (name, "open_by_handle_at") == 0)
    return probe_open_by_handle_at ();
  if (strcmp (name, "swapon") == 0)
    return probe_swapon ();
  if (strcmp (name, "mkdir") == 0)
    return probe_mkdir ();
  if (strcmp (name, "mkdirat") == 0)
    return probe_mkdirat ();
  if (strcmp (name, "fork") == 0)
    return probe_fork ();
  if (strcmp (name, "thread") == 0)
    return probe_thread ();
  if (strcmp (name, "loopback") == 0)
    return probe_loopback ();
  errno = ENOSYS;
  return -2;
}

int
main (int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    {
      int ret = 0;

      errno = 0;
      ret = run_probe (argv[i]);
      if (ret == -2)
        {
          fprintf (stderr, "grove-attacker: unknown probe '%s'\n", argv[i]);
          return 2;
        }
      if (ret < 0)
        printf ("%s errno=%d\n", argv[i], errno);
      else
        printf ("%s ok\n", argv[i]);
    }
  return 0;
}
