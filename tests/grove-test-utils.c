/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTest"

#include <fcntl.h>
#include <glib-unix.h>
#include <sys/mount.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grove-test-utils.h"
#include "grove-utils.h"

/**
 * grove_test_is_root:
 *
 * Returns: %TRUE when the tests can mount, chown and mknod
 */
gboolean
grove_test_is_root (void)
{
  return geteuid () == 0;
}

/**
 * grove_test_mount_points:
 *
 * Returns: (transfer full): the mount point of each line of /proc/self/mountinfo
 */
GStrv
grove_test_mount_points (void)
{
  g_autofree char *mountinfo = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GPtrArray) points = g_ptr_array_new ();

  g_assert_true (g_file_get_contents ("/proc/self/mountinfo", &mountinfo, NULL, NULL));
  lines = g_strsplit (mountinfo, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = g_strsplit (lines[i], " ", 6);

      if (g_strv_length (fields) >= 5)
        g_ptr_array_add (points, g_strdup (fields[4]));
    }
  g_ptr_array_add (points, NULL);
  return (GStrv)g_ptr_array_free (g_steal_pointer (&points), FALSE);
}

/**
 * grove_test_make_tmpdir:
 *
 * Returns: (transfer full): a new directory under /var/tmp, or under $GROVE_TEST_TMPBASE
 *   when the test runs through tests/tap-test (a disk filesystem, so overlayfs and xattrs
 *   behave as in production); remove it with grove_test_rm_rf()
 */
char *
grove_test_make_tmpdir (void)
{
  g_autoptr (GError) error = NULL;
  const char *base = g_getenv ("GROVE_TEST_TMPBASE");
  g_autofree char *tmpl = g_build_filename (base ? base : "/var/tmp", "grove-test-XXXXXX", NULL);
  char *dir = g_mkdtemp (tmpl);

  g_assert_nonnull (dir);
  g_assert_no_error (error);
  return g_steal_pointer (&tmpl);
}

/**
 * grove_test_rm_rf:
 * @path: what to remove
 *
 * Removes @path; fails the test if something (a mount) is left below it.
 */
/* @path and the directories above it let anyone search them (the test's temporary base is
 * private), as a pod's user namespace needs */
void
grove_test_make_searchable (const char *path)
{
  g_autofree char *dir = g_strdup (path);

  while (strcmp (dir, "/") != 0)
    {
      struct stat st;
      char *parent = g_path_get_dirname (dir);

      g_assert_cmpint (stat (dir, &st), ==, 0);
      if ((st.st_mode & 0111) != 0111)
        g_assert_cmpint (chmod (dir, (st.st_mode & 07777) | 0111), ==, 0);
      g_free (dir);
      dir = parent;
    }
}

void
grove_test_rm_rf (const char *path)
{
  g_autoptr (GError) error = NULL;

  grove_rm_rf_at (AT_FDCWD, path, NULL, &error);
  g_assert_no_error (error);
}

static GPtrArray *
collect_args (const char *first_arg, va_list args)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);

  for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, g_strdup (arg));
  g_ptr_array_add (argv, NULL);
  return argv;
}

static int
run_argv (GPtrArray *argv, char **out_stdout)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  g_spawn_sync (NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, out_stdout, &err,
                &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_test_message ("%s failed: %s", (char *)argv->pdata[0], err);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

/**
 * grove_test_mkimage:
 * @first_arg: the first argument of tests/mkimage.py
 * @...: more arguments, %NULL-terminated
 *
 * Builds a test image with tests/mkimage.py; fails the test if it fails.
 */
void
grove_test_mkimage (const char *first_arg, ...)
{
  va_list args;
  g_autoptr (GPtrArray) argv = NULL;
  const char *python = g_getenv ("GROVE_PYTHON");
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "mkimage.py", NULL);

  va_start (args, first_arg);
  argv = collect_args (first_arg, args);
  va_end (args);
  g_ptr_array_insert (argv, 0, g_strdup (script));
  g_ptr_array_insert (argv, 0, g_strdup (python ? python : "python3"));
  g_assert_cmpint (run_argv (argv, NULL), ==, 0);
}

/**
 * grove_test_run:
 * @out_stdout: (out) (optional): what the command printed
 * @first_arg: the command
 * @...: its arguments, %NULL-terminated
 *
 * Returns: the exit status (128 + signal if it was killed)
 */
int
grove_test_run (char **out_stdout, const char *first_arg, ...)
{
  va_list args;
  g_autoptr (GPtrArray) argv = NULL;

  va_start (args, first_arg);
  argv = collect_args (first_arg, args);
  va_end (args);
  return run_argv (argv, out_stdout);
}

/**
 * grove_test_du:
 * @path: a directory
 *
 * Returns: bytes allocated below @path, each hardlinked inode counted once (`du`)
 */
guint64
grove_test_du (const char *path)
{
  g_autofree char *out = NULL;

  g_assert_cmpint (grove_test_run (&out, "du", "-s", "-B1", path, NULL), ==, 0);
  return g_ascii_strtoull (out, NULL, 10);
}

/**
 * grove_test_count_files:
 * @path: a directory
 *
 * Returns: the number of regular files (names, not inodes) below @path
 */
guint
grove_test_count_files (const char *path)
{
  g_autofree char *out = NULL;

  g_assert_cmpint (grove_test_run (&out, "find", path, "-type", "f", "-printf", ".", NULL), ==, 0);
  return (guint)strlen (out);
}

/**
 * grove_test_result_cb:
 * @source: the source object
 * @result: the result
 * @user_data: a `GAsyncResult **` slot
 *
 * A #GAsyncReadyCallback that stores a reference to @result in the slot, for
 * grove_test_wait_result().
 */
void
grove_test_result_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **out = user_data;
  *out = g_object_ref (result);
}

/**
 * grove_test_wait_result:
 * @slot: where grove_test_result_cb() stores the result
 *
 * Turns the default main context until the result has arrived.
 *
 * Returns: (transfer none): the result
 */
GAsyncResult *
grove_test_wait_result (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

/**
 * grove_test_rmdir_cgroups:
 * @parent: a cgroup path, e.g. "/grove-test-1234"
 *
 * Removes the (empty) cgroup @parent in every v1 hierarchy under /sys/fs/cgroup.
 */
void
grove_test_rmdir_cgroups (const char *parent)
{
  g_autoptr (GDir) controllers = g_dir_open ("/sys/fs/cgroup", 0, NULL);
  const char *name;

  while (controllers != NULL && (name = g_dir_read_name (controllers)) != NULL)
    {
      g_autofree char *dir = g_build_filename ("/sys/fs/cgroup", name, parent, NULL);
      rmdir (dir);
    }
}

/**
 * grove_test_remove_engine_dirs:
 * @tmpdir: (nullable): a test dir holding an engine's `run/` (and anything else)
 * @cgroup_parent: (nullable): the engine's cgroup parent
 *
 * Removes what an engine leaves once its pods are gone: its cgroup parent, the bind mount
 * the netns dir is of itself (as `ip netns` makes /run/netns), and the test dir.
 */
void
grove_test_remove_engine_dirs (const char *tmpdir, const char *cgroup_parent)
{
  if (cgroup_parent != NULL)
    grove_test_rmdir_cgroups (cgroup_parent);
  if (tmpdir != NULL)
    {
      g_autofree char *netns_dir = g_build_filename (tmpdir, "run", "netns", NULL);
      g_autofree char *userns_dir = g_build_filename (tmpdir, "run", "userns", NULL);
      umount2 (netns_dir, MNT_DETACH);
      umount2 (userns_dir, MNT_DETACH);
      grove_test_rm_rf (tmpdir);
    }
}

/* reads @fd (turning the main loop, so that a service in this process can write) until
 * what came in @seen contains @expected; fails the test after 20 s */
void
grove_test_read_until (int fd, GString *seen, const char *expected)
{
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  g_assert_true (g_unix_set_fd_nonblocking (fd, TRUE, NULL));
  while (strstr (seen->str, expected) == NULL)
    {
      char buffer[4096];
      ssize_t n = read (fd, buffer, sizeof buffer);

      if (n > 0)
        g_string_append_len (seen, buffer, n);
      if (g_get_monotonic_time () >= deadline)
        g_test_message ("waited in vain for \"%s\" in: %s", expected, seen->str);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (5000);
    }
}

/**
 * grove_test_open_store_with_busybox:
 * @tmpdir: the test dir: the store goes to store/, the image to busybox/
 *
 * Returns: (transfer full): a store holding `localhost/busybox:latest`
 */
GroveStore *
grove_test_open_store_with_busybox (const char *tmpdir)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *store_root = g_build_filename (tmpdir, "store", NULL);
  g_autofree char *image = g_build_filename (tmpdir, "busybox", NULL);
  g_autoptr (GroveStore) store = grove_store_open (store_root, NULL, &error);
  g_autoptr (GPtrArray) images = NULL;

  g_assert_no_error (error);
  grove_test_mkimage ("busybox", "--format", "oci-dir", "--tag", "localhost/busybox:latest", image,
                      NULL);
  images = grove_store_import_image (store, image, GROVE_IMAGE_FORMAT_AUTO, NULL, NULL, NULL, NULL,
                                     &error);
  g_assert_no_error (error);
  return g_steal_pointer (&store);
}

/**
 * grove_test_new_engine_full:
 * @store: the store
 * @tmpdir: the test dir: state goes to state/, run dirs to run/
 * @options: the engine's other settings (cgroup parent, handlers, CNI, seccomp...); root,
 *   runroot and pause_path are set here
 * @handlers: (nullable): the runtime handlers to add, ending with a %NULL name; %NULL for
 *   runc alone
 *
 * Returns: (transfer full): a loaded engine
 */
GroveEngine *
grove_test_new_engine_full (GroveStore *store, const char *tmpdir, GroveEngineOptions *options,
                            const GroveTestHandler *handlers)
{
  const GroveTestHandler runc_alone[]
      = { { "runc", (const char *const[]){ "runc", NULL } }, { NULL, NULL } };
  g_autoptr (GError) error = NULL;
  g_autofree char *root = g_build_filename (tmpdir, "state", NULL);
  g_autofree char *runroot = g_build_filename (tmpdir, "run", NULL);
  g_autofree char *pause = g_test_build_filename (G_TEST_BUILT, "..", "grove-pause", NULL);
  g_autoptr (GroveEngine) engine = NULL;
  g_autoptr (GAsyncResult) result = NULL;

  options->root = root;
  options->runroot = runroot;
  options->pause_path = pause;
  engine = grove_engine_new (store, options, &error);
  g_assert_no_error (error);
  for (const GroveTestHandler *h = handlers != NULL ? handlers : runc_alone; h->name != NULL; h++)
    {
      grove_engine_add_handler (engine, h->name, h->argv, &error);
      g_assert_no_error (error);
    }
  grove_engine_load_async (engine, NULL, grove_test_result_cb, &result);
  grove_engine_load_finish (engine, grove_test_wait_result (&result), &error);
  g_assert_no_error (error);
  return g_steal_pointer (&engine);
}

/**
 * grove_test_new_engine:
 * @store: the store
 * @tmpdir: the test dir: state goes to state/, run dirs to run/
 * @cgroup_parent: the pods' cgroup parent
 *
 * Returns: (transfer full): a loaded engine with runc as its only handler
 */
GroveEngine *
grove_test_new_engine (GroveStore *store, const char *tmpdir, const char *cgroup_parent)
{
  GroveEngineOptions options = { 0 };

  options.cgroup_parent = cgroup_parent;
  options.default_handler = "runc";
  options.trusted_handler = "runc";
  return grove_test_new_engine_full (store, tmpdir, &options, NULL);
}

/**
 * grove_test_start_container:
 * @engine: the engine
 * @pod_id: a ready pod
 * @config: the container config
 *
 * Returns: (transfer full): the container, created and started
 */
GroveContainer *
grove_test_start_container (GroveEngine *engine, const char *pod_id, JsonObject *config)
{
  g_autoptr (GAsyncResult) created = NULL;
  g_autoptr (GAsyncResult) started = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveContainer) container = NULL;

  grove_engine_create_container_async (engine, pod_id, config, NULL, grove_test_result_cb,
                                       &created);
  container
      = grove_engine_create_container_finish (engine, grove_test_wait_result (&created), &error);
  g_assert_no_error (error);
  grove_engine_start_container_async (engine, grove_container_get_id (container), NULL,
                                      grove_test_result_cb, &started);
  grove_engine_start_container_finish (engine, grove_test_wait_result (&started), &error);
  g_assert_no_error (error);
  return g_steal_pointer (&container);
}

/**
 * grove_test_run_pod:
 * @engine: the engine
 * @config: the pod config
 * @handler: (nullable): the runtime handler asked for
 *
 * Returns: (transfer full): the pod, which must be ready
 */
GrovePod *
grove_test_run_pod (GroveEngine *engine, JsonObject *config, const char *handler)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  GrovePod *pod;

  grove_engine_run_pod_async (engine, config, handler, NULL, grove_test_result_cb, &result);
  pod = grove_engine_run_pod_finish (engine, grove_test_wait_result (&result), &error);
  g_assert_no_error (error);
  g_assert_cmpint (grove_pod_get_state (pod), ==, GROVE_POD_STATE_READY);
  return pod;
}

/**
 * grove_test_stop_pod:
 * @engine: the engine
 * @id: the pod
 *
 * Stops the pod; fails the test if that fails.
 */
void
grove_test_stop_pod (GroveEngine *engine, const char *id)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  grove_engine_stop_pod_async (engine, id, NULL, grove_test_result_cb, &result);
  g_assert_true (grove_engine_stop_pod_finish (engine, grove_test_wait_result (&result), &error));
  g_assert_no_error (error);
}

/**
 * grove_test_remove_pod:
 * @engine: the engine
 * @id: the pod
 *
 * Removes the pod; fails the test if that fails.
 */
void
grove_test_remove_pod (GroveEngine *engine, const char *id)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  grove_engine_remove_pod_async (engine, id, NULL, grove_test_result_cb, &result);
  g_assert_true (grove_engine_remove_pod_finish (engine, grove_test_wait_result (&result), &error));
  g_assert_no_error (error);
}

/**
 * grove_test_remove_all_pods:
 * @engine: (nullable): the engine
 *
 * Removes every pod of @engine, as a fixture's teardown does.
 */
void
grove_test_remove_all_pods (GroveEngine *engine)
{
  g_autoptr (GPtrArray) pods = NULL;

  if (engine == NULL)
    return;
  pods = grove_engine_list_pods (engine, NULL);
  for (guint i = 0; i < pods->len; i++)
    grove_test_remove_pod (engine, grove_pod_get_id (pods->pdata[i]));
}

/**
 * grove_test_exec_sync:
 * @engine: the engine
 * @container: a running container
 * @script: a shell script, run with `/bin/sh -c`
 * @timeout: seconds, 0 for none
 * @error: return location
 *
 * Returns: (transfer full) (nullable): what the script did
 */
GroveExecResult *
grove_test_exec_sync (GroveEngine *engine, GroveContainer *container, const char *script,
                      guint timeout, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;
  const char *argv[] = { "/bin/sh", "-c", script, NULL };

  grove_engine_exec_sync_async (engine, grove_container_get_id (container), argv, timeout, NULL,
                                grove_test_result_cb, &result);
  return grove_engine_exec_sync_finish (engine, grove_test_wait_result (&result), error);
}

/**
 * grove_test_exec_output:
 * @engine: the engine
 * @container: a running container
 * @script: a shell script, which must exit 0 within 20 seconds
 *
 * Returns: (transfer full): what the script wrote to stdout
 */
char *
grove_test_exec_output (GroveEngine *engine, GroveContainer *container, const char *script)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveExecResult) result = grove_test_exec_sync (engine, container, script, 20, &error);

  g_assert_no_error (error);
  if (result->exit_code != 0)
    g_test_message ("'%s' failed: %.*s", script, (int)g_bytes_get_size (result->stderr_data),
                    (const char *)g_bytes_get_data (result->stderr_data, NULL));
  g_assert_cmpint (result->exit_code, ==, 0);
  return g_strndup (g_bytes_get_data (result->stdout_data, NULL),
                    g_bytes_get_size (result->stdout_data));
}
