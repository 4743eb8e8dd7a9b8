/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestNetns"

#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#include <linux/magic.h>

#include "grove-netns.h"
#include "grove-test-utils.h"
#include "grove-utils.h"

/* how long a process may take to react to a signal */
#define REACT_TIMEOUT_US (10 * G_USEC_PER_SEC)

typedef struct
{
  char *tmpdir;
  GPtrArray *netns_paths;
  GPtrArray *processes;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  if (!grove_test_is_root ())
    {
      g_test_skip ("needs root (network namespaces, mounts)");
      return;
    }
  fx->tmpdir = grove_test_make_tmpdir ();
  fx->netns_paths = g_ptr_array_new_with_free_func (g_free);
  fx->processes = g_ptr_array_new_with_free_func (g_object_unref);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *shm = NULL;

  if (fx->tmpdir == NULL)
    return;
  /* a failed test may leave processes behind: end them before their namespaces go */
  for (guint i = 0; i < fx->processes->len; i++)
    {
      GSubprocess *proc = fx->processes->pdata[i];

      if (g_subprocess_get_identifier (proc) != NULL)
        g_subprocess_force_exit (proc);
      g_subprocess_wait (proc, NULL, NULL);
    }
  for (guint i = 0; i < fx->netns_paths->len; i++)
    {
      grove_netns_remove (fx->netns_paths->pdata[i], &error);
      g_assert_no_error (error);
    }
  shm = g_build_filename (fx->tmpdir, "shm", NULL);
  grove_shm_unmount (shm, &error);
  g_assert_no_error (error);
  /* grove_netns_create() made the directory a (shared) bind mount of itself */
  while (umount2 (fx->tmpdir, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
    g_debug ("unmounted %s", fx->tmpdir);
  grove_test_rm_rf (fx->tmpdir);
  g_clear_pointer (&fx->tmpdir, g_free);
  g_clear_pointer (&fx->netns_paths, g_ptr_array_unref);
  g_clear_pointer (&fx->processes, g_ptr_array_unref);
}

/* a path in the fixture's directory, whose namespace teardown removes */
static char *
fx_netns_path (Fixture *fx, const char *name)
{
  char *path = g_build_filename (fx->tmpdir, name, NULL);

  g_ptr_array_add (fx->netns_paths, g_strdup (path));
  return path;
}

static ino_t
inode_of (const char *path)
{
  struct stat st;

  g_assert_cmpint (stat (path, &st), ==, 0);
  return st.st_ino;
}

/* a failed assertion skips the teardown: the kernel then ends what the test started */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocess *fx_spawn (Fixture *fx, const char *first_arg, ...) G_GNUC_NULL_TERMINATED;

static GSubprocess *
fx_spawn (Fixture *fx, const char *first_arg, ...)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  GSubprocess *proc = NULL;
  va_list args;

  va_start (args, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *)arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *)argv->pdata, &error);
  g_assert_no_error (error);
  g_ptr_array_add (fx->processes, proc);
  return proc;
}

static pid_t
subprocess_pid (GSubprocess *proc)
{
  const char *id = g_subprocess_get_identifier (proc);

  g_assert_nonnull (id);
  return (pid_t)g_ascii_strtoll (id, NULL, 10);
}

/* waits for @proc to end; FALSE if it is still running after a while */
static gboolean
subprocess_ended (GSubprocess *proc)
{
  gint64 deadline = g_get_monotonic_time () + REACT_TIMEOUT_US;

  /* GSubprocess reaps in GLib's worker thread and then drops the identifier */
  while (g_subprocess_get_identifier (proc) != NULL)
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_usleep (10000);
    }
  g_subprocess_wait (proc, NULL, NULL);
  return TRUE;
}

/* the names of the links `ip -o link show` prints in the namespace at @path */
static GStrv
links_in (const char *path)
{
  g_autofree char *net = g_strdup_printf ("--net=%s", path);
  g_autofree char *out = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  g_assert_cmpint (grove_test_run (&out, "nsenter", net, "ip", "-o", "link", "show", NULL), ==, 0);
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = g_strsplit (lines[i], ": ", 3);

      if (g_strv_length (fields) < 3)
        continue;
      g_ptr_array_add (names, g_strdup (fields[1]));
      if (g_str_equal (fields[1], "lo"))
        g_assert_nonnull (strstr (fields[2], ",UP"));
    }
  g_ptr_array_add (names, NULL);
  return (GStrv)g_ptr_array_free (g_steal_pointer (&names), FALSE);
}

/* a new namespace has lo and nothing else, but for the fallback devices of tunnel modules */
static void
assert_only_loopback (const char *path)
{
  const char *fallback[]
      = { "tunl0@NONE",   "sit0@NONE",    "ip6tnl0@NONE", "gre0@NONE",     "gretap0@NONE",
          "erspan0@NONE", "ip6gre0@NONE", "ip_vti0@NONE", "ip6_vti0@NONE", NULL };
  g_auto (GStrv) names = links_in (path);
  g_autofree char *net = g_strdup_printf ("--net=%s", path);
  g_autofree char *addr = NULL;

  g_assert_true (g_strv_contains ((const char *const *)names, "lo"));
  for (guint i = 0; names[i] != NULL; i++)
    {
      if (!g_str_equal (names[i], "lo"))
        g_assert_true (g_strv_contains ((const char *const *)fallback, names[i]));
    }
  g_assert_cmpint (grove_test_run (&addr, "nsenter", net, "ip", "-o", "addr", "show", "lo", NULL),
                   ==, 0);
  g_assert_nonnull (strstr (addr, "inet 127.0.0.1/8"));
}

static void
test_create_remove (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  ino_t own_netns;

  if (fx->tmpdir == NULL)
    return;
  path = fx_netns_path (fx, "ns1");
  own_netns = inode_of ("/proc/thread-self/ns/net");
  g_assert_false (grove_netns_exists (path));
  grove_netns_create (path, &error);
  g_assert_no_error (error);
  g_assert_true (grove_netns_exists (path));
  g_assert_cmpuint (inode_of ("/proc/thread-self/ns/net"), ==, own_netns);
  g_assert_cmpuint (inode_of (path), !=, own_netns);
  assert_only_loopback (path);

  g_assert_false (grove_netns_create (path, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_ALREADY_EXISTS);
  g_clear_error (&error);
  g_assert_true (grove_netns_exists (path));

  grove_netns_remove (path, &error);
  g_assert_no_error (error);
  g_assert_false (grove_netns_exists (path));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  grove_netns_remove (path, &error);
  g_assert_no_error (error);
}

/* how many mounts have @path as their mount point */
static guint
count_mounts (const char *path)
{
  g_auto (GStrv) points = grove_test_mount_points ();
  guint n = 0;

  for (guint i = 0; points[i] != NULL; i++)
    n += g_str_equal (points[i], path);
  return n;
}

static void
test_distinct (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *ns1 = NULL;
  g_autofree char *ns2 = NULL;

  if (fx->tmpdir == NULL)
    return;
  ns1 = fx_netns_path (fx, "ns1");
  ns2 = fx_netns_path (fx, "ns2");
  grove_netns_create (ns1, &error);
  g_assert_no_error (error);
  grove_netns_create (ns2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (inode_of (ns1), !=, inode_of (ns2));
  /* the directory became a mount of its own once, not once per namespace */
  g_assert_cmpuint (count_mounts (fx->tmpdir), ==, 1);
  g_assert_cmpuint (count_mounts (ns1), ==, 1);
  g_assert_cmpuint (inode_of (ns1), !=, inode_of ("/proc/self/ns/net"));
  g_assert_cmpuint (inode_of (ns2), !=, inode_of ("/proc/self/ns/net"));

  /* removing one leaves the other alone */
  grove_netns_remove (ns1, &error);
  g_assert_no_error (error);
  g_assert_true (grove_netns_exists (ns2));
  assert_only_loopback (ns2);
}

/* a process in the namespace keeps it alive after the mount is gone */
static void
test_outlives_remove (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *net = NULL;
  g_autofree char *proc_ns = NULL;
  g_autofree char *target = NULL;
  g_autofree char *out = NULL;
  GSubprocess *proc = NULL;
  gint64 deadline = g_get_monotonic_time () + REACT_TIMEOUT_US;
  ino_t netns;
  pid_t pid;

  if (fx->tmpdir == NULL)
    return;
  path = fx_netns_path (fx, "ns1");
  grove_netns_create (path, &error);
  g_assert_no_error (error);
  netns = inode_of (path);
  net = g_strdup_printf ("--net=%s", path);
  proc = fx_spawn (fx, "nsenter", net, "sleep", "30", NULL);
  pid = subprocess_pid (proc);
  proc_ns = g_strdup_printf ("/proc/%d/ns/net", (int)pid);
  /* nsenter joins the namespace, then becomes sleep */
  while (inode_of (proc_ns) != netns)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (10000);
    }

  grove_netns_remove (path, &error);
  g_assert_no_error (error);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_nonnull (g_subprocess_get_identifier (proc));
  g_assert_cmpuint (inode_of (proc_ns), ==, netns);
  target = g_strdup_printf ("%d", (int)pid);
  g_assert_cmpint (grove_test_run (&out, "nsenter", "--target", target, "--net", "ip", "-o", "addr",
                                   "show", "lo", NULL),
                   ==, 0);
  g_assert_nonnull (strstr (out, "inet 127.0.0.1/8"));

  g_assert_cmpint (kill (pid, SIGKILL), ==, 0);
  g_assert_true (subprocess_ended (proc));
  g_assert_true (g_subprocess_get_if_signaled (proc));
}

/* failures leave nothing behind, and never touch what was there */
static void
test_failures (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *missing = NULL;
  g_autofree char *file = NULL;
  g_autofree char *contents = NULL;

  if (fx->tmpdir == NULL)
    return;
  missing = g_build_filename (fx->tmpdir, "nodir", "ns1", NULL);
  g_assert_false (grove_netns_create (missing, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));

  file = fx_netns_path (fx, "file");
  g_file_set_contents (file, "data", -1, &error);
  g_assert_no_error (error);
  g_assert_false (grove_netns_create (file, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_ALREADY_EXISTS);
  g_test_message ("%s", error->message);
  g_clear_error (&error);
  g_assert_false (grove_netns_exists (file));
  g_file_get_contents (file, &contents, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (contents, ==, "data");
}

static void
test_shm (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *file = NULL;
  g_autofree char *contents = NULL;
  struct statfs sfs;
  struct stat st;
  dev_t dev;

  if (fx->tmpdir == NULL)
    return;
  path = g_build_filename (fx->tmpdir, "shm", NULL);
  g_assert_false (grove_shm_mount (path, 0, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  grove_shm_mount (path, 1024 * 1024, &error);
  g_assert_no_error (error);
  g_assert_cmpint (statfs (path, &sfs), ==, 0);
  g_assert_cmpint (sfs.f_type, ==, TMPFS_MAGIC);
  g_assert_cmpuint ((guint64)sfs.f_blocks * sfs.f_bsize, ==, 1024 * 1024);
  g_assert_true ((sfs.f_flags & (ST_NOSUID | ST_NODEV | ST_NOEXEC))
                 == (ST_NOSUID | ST_NODEV | ST_NOEXEC));
  g_assert_cmpint (stat (path, &st), ==, 0);
  g_assert_cmpuint (st.st_mode & 07777, ==, 01777);
  dev = st.st_dev;

  file = g_build_filename (path, "segment", NULL);
  g_file_set_contents (file, "shared", -1, &error);
  g_assert_no_error (error);
  /* mounting again keeps the same tmpfs and its files */
  grove_shm_mount (path, 1024 * 1024, &error);
  g_assert_no_error (error);
  g_assert_cmpint (stat (path, &st), ==, 0);
  g_assert_cmpuint (st.st_dev, ==, dev);
  g_file_get_contents (file, &contents, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (contents, ==, "shared");

  grove_shm_unmount (path, &error);
  g_assert_no_error (error);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  grove_shm_unmount (path, &error);
  g_assert_no_error (error);
}

/* the static grove-pause, from $GROVE_PAUSE or built here; NULL (and skipped) if neither */
static char *
fx_pause_binary (Fixture *fx)
{
  g_autofree char *source = NULL;
  g_autofree char *binary = NULL;
  g_autofree char *gcc = g_find_program_in_path ("gcc");
  const char *env = g_getenv ("GROVE_PAUSE");

  if (env != NULL)
    return g_strdup (env);
  source = g_test_build_filename (G_TEST_DIST, "..", "src", "pause", "grove-pause.c", NULL);
  if (!g_file_test (source, G_FILE_TEST_EXISTS) || gcc == NULL)
    {
      g_test_skip ("set GROVE_PAUSE, or have gcc and src/pause/grove-pause.c");
      return NULL;
    }
  binary = g_build_filename (fx->tmpdir, "grove-pause", NULL);
  g_assert_cmpint (grove_test_run (NULL, "gcc", "-static", "-Os", "-o", binary, source, NULL), ==,
                   0);
  return g_steal_pointer (&binary);
}

static gboolean
signal_ignored (pid_t pid, int sig)
{
  g_autofree char *status_path = g_strdup_printf ("/proc/%d/status", (int)pid);
  g_autofree char *status = NULL;
  const char *line = NULL;
  guint64 mask;

  if (!g_file_get_contents (status_path, &status, NULL, NULL))
    return FALSE;
  line = strstr (status, "\nSigIgn:");
  g_assert_nonnull (line);
  mask = g_ascii_strtoull (line + strlen ("\nSigIgn:"), NULL, 16);
  return (mask & (G_GUINT64_CONSTANT (1) << (sig - 1))) != 0;
}

/*
 * Before it blocks SIGTERM, the signal would kill grove-pause (or be lost if it is PID 1).
 * It ignores SIGHUP after that; SigBlk is no help, as sigwaitinfo() unblocks while it waits.
 */
static void
wait_until_ready (pid_t pid)
{
  gint64 deadline = g_get_monotonic_time () + REACT_TIMEOUT_US;

  while (!signal_ignored (pid, SIGHUP))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (5000);
    }
}

static void
test_pause_version (Fixture *fx, gconstpointer data)
{
  g_autofree char *pause = NULL;
  g_autofree char *out = NULL;

  if (fx->tmpdir == NULL || (pause = fx_pause_binary (fx)) == NULL)
    return;
  g_assert_cmpint (grove_test_run (&out, pause, "-v", NULL), ==, 0);
  g_assert_true (g_str_has_prefix (out, "grove-pause "));
  g_assert_cmpint (grove_test_run (NULL, pause, "--bogus", NULL), ==, 2);
}

static void
test_pause_sigterm (Fixture *fx, gconstpointer data)
{
  g_autofree char *pause = NULL;
  GSubprocess *proc = NULL;
  pid_t pid;

  if (fx->tmpdir == NULL || (pause = fx_pause_binary (fx)) == NULL)
    return;
  proc = fx_spawn (fx, pause, NULL);
  pid = subprocess_pid (proc);
  wait_until_ready (pid);
  /* other signals are ignored */
  g_assert_cmpint (kill (pid, SIGHUP), ==, 0);
  g_assert_cmpint (kill (pid, SIGUSR1), ==, 0);
  g_usleep (100000);
  g_assert_nonnull (g_subprocess_get_identifier (proc));
  g_assert_cmpint (kill (pid, SIGTERM), ==, 0);
  g_assert_true (subprocess_ended (proc));
  g_assert_true (g_subprocess_get_if_exited (proc));
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 0);
}

/* the host PID of the only child of @parent, once it runs @exe */
static pid_t
wait_for_child (pid_t parent, const char *exe)
{
  g_autofree char *children_path
      = g_strdup_printf ("/proc/%d/task/%d/children", (int)parent, (int)parent);
  gint64 deadline = g_get_monotonic_time () + REACT_TIMEOUT_US;

  for (;;)
    {
      g_autofree char *children = NULL;
      g_autofree char *exe_path = NULL;
      g_autofree char *target = NULL;
      pid_t child;

      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (5000);
      if (!g_file_get_contents (children_path, &children, NULL, NULL) || children[0] == '\0')
        continue;
      child = (pid_t)g_ascii_strtoll (children, NULL, 10);
      exe_path = g_strdup_printf ("/proc/%d/exe", (int)child);
      target = g_file_read_link (exe_path, NULL);
      if (target != NULL && g_str_equal (target, exe))
        return child;
    }
}

static char *
children_of (pid_t pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/task/%d/children", (int)pid, (int)pid);
  char *children = NULL;

  g_assert_true (g_file_get_contents (path, &children, NULL, NULL));
  return g_strstrip (children);
}

/* as PID 1 of a PID namespace it reaps orphans and still ends with 0 on SIGTERM */
static void
test_pause_pid1 (Fixture *fx, gconstpointer data)
{
  g_autofree char *pause = NULL;
  g_autofree char *target = NULL;
  g_autofree char *orphans = NULL;
  GSubprocess *proc = NULL;
  gint64 deadline;
  pid_t pid;

  if (fx->tmpdir == NULL || (pause = fx_pause_binary (fx)) == NULL)
    return;
  proc = fx_spawn (fx, "unshare", "--pid", "--fork", "--kill-child", pause, NULL);
  pid = wait_for_child (subprocess_pid (proc), pause);
  wait_until_ready (pid);

  /* a shell in the namespace leaves a child behind, which PID 1 inherits; its output goes
     elsewhere, or g_spawn_sync() would wait for it */
  target = g_strdup_printf ("%d", (int)pid);
  g_assert_cmpint (grove_test_run (NULL, "nsenter", "--target", target, "--pid", "--", "sh", "-c",
                                   "sleep 1 >/dev/null 2>&1 &", NULL),
                   ==, 0);
  orphans = children_of (pid);
  g_assert_cmpstr (orphans, !=, "");
  deadline = g_get_monotonic_time () + REACT_TIMEOUT_US;
  for (;;)
    {
      /* a zombie would stay in the list */
      g_autofree char *left = children_of (pid);

      if (left[0] == '\0')
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (10000);
    }

  g_assert_cmpint (kill (pid, SIGTERM), ==, 0);
  g_assert_true (subprocess_ended (proc));
  g_assert_true (g_subprocess_get_if_exited (proc));
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, func)                                                                            \
  g_test_add ("/grove/netns/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("create-remove", test_create_remove);
  ADD ("distinct", test_distinct);
  ADD ("outlives-remove", test_outlives_remove);
  ADD ("failures", test_failures);
  ADD ("shm", test_shm);
  ADD ("pause/version", test_pause_version);
  ADD ("pause/sigterm", test_pause_sigterm);
  ADD ("pause/pid1", test_pause_pid1);
  return g_test_run ();
}
