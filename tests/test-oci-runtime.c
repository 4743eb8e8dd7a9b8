/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTest"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grove-oci-runtime.h"
#include "grove-test-utils.h"
#include "grove-utils.h"

#define WAIT_TIMEOUT_US (10 * G_USEC_PER_SEC)
#define POLL_INTERVAL_MS 20
#define BUSYBOX "/bin/busybox"

typedef struct
{
  const char *runtime_name; /* "runc" or "crun" (crun through grove-runtime-exec) */
  gboolean skip;
  char *tmp_dir;
  char *bundle;
  char *run_dir;
  char *exit_dir;
  char *log_path;
  char *state_root;
  char *cgroup_parent; /* grove-test-<our pid>: one per test process */
  char *container_id;
  GroveOciRuntime *runtime;
  int pid;        /* the container's init, once created */
  int conmon_pid; /* its conmon, once created */
} Fixture;

/* ---- waiting for async results ---- */

static void
on_async_result (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GAsyncResult **slot = user_data;

  *slot = g_object_ref (result);
}

static GAsyncResult *
wait_for_result (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

static gboolean
on_sleep_done (gpointer user_data)
{
  gboolean *done = user_data;

  *done = TRUE;
  return G_SOURCE_REMOVE;
}

/* sleeps while the main context keeps running */
static void
sleep_ms (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, on_sleep_done, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

/* ---- processes ---- */

/* alive and not a zombie (a reparented conmon stays a zombie until PID 1 reaps it) */
static gboolean
pid_running (int pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", pid);
  g_autofree char *stat = NULL;
  const char *paren = NULL;

  if (pid <= 0 || !g_file_get_contents (path, &stat, NULL, NULL))
    return FALSE;
  paren = strrchr (stat, ')');
  return paren != NULL && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

static gboolean
wait_pid_gone (int pid)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_TIMEOUT_US;

  while (pid_running (pid))
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      sleep_ms (POLL_INTERVAL_MS);
    }
  return TRUE;
}

/* kills a PID this test started, after checking it is still ours (PIDs get reused) */
static void
kill_if_ours (int pid, const char *file, const char *needle)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/%s", pid, file);
  g_autofree char *contents = NULL;
  gsize len = 0;

  if (!pid_running (pid) || !g_file_get_contents (path, &contents, &len, NULL))
    return;
  if (g_strstr_len (contents, len, needle) == NULL)
    return;
  g_test_message ("killing leftover PID %d", pid);
  kill (pid, SIGKILL);
  wait_pid_gone (pid);
}

/* ---- the runtime, synchronously ---- */

static gboolean
fixture_create (Fixture *fixture, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;
  GroveCreateOptions options = {
    .container_id = fixture->container_id,
    .bundle = fixture->bundle,
    .run_dir = fixture->run_dir,
    .exit_dir = fixture->exit_dir,
    .log_path = fixture->log_path,
  };

  grove_oci_runtime_create_async (fixture->runtime, &options, NULL, on_async_result, &result);
  return grove_oci_runtime_create_finish (fixture->runtime, wait_for_result (&result),
                                          &fixture->pid, &fixture->conmon_pid, error);
}

static gboolean
fixture_start (Fixture *fixture, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  grove_oci_runtime_start_async (fixture->runtime, fixture->container_id, NULL, on_async_result,
                                 &result);
  return grove_oci_runtime_start_finish (fixture->runtime, wait_for_result (&result), error);
}

static gboolean
fixture_kill (Fixture *fixture, int signal, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  grove_oci_runtime_kill_async (fixture->runtime, fixture->container_id, signal, FALSE, NULL,
                                on_async_result, &result);
  return grove_oci_runtime_kill_finish (fixture->runtime, wait_for_result (&result), error);
}

static gboolean
fixture_delete (Fixture *fixture, gboolean force, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  grove_oci_runtime_delete_async (fixture->runtime, fixture->container_id, force, NULL,
                                  on_async_result, &result);
  return grove_oci_runtime_delete_finish (fixture->runtime, wait_for_result (&result), error);
}

static char *
fixture_state (Fixture *fixture, int *out_pid, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autofree char *status = NULL;

  grove_oci_runtime_state_async (fixture->runtime, fixture->container_id, NULL, on_async_result,
                                 &result);
  if (!grove_oci_runtime_state_finish (fixture->runtime, wait_for_result (&result), &status,
                                       out_pid, error))
    return NULL;
  return g_steal_pointer (&status);
}

static GroveExecResult *
fixture_exec (Fixture *fixture, const char *const *argv, guint timeout, GCancellable *cancellable,
              GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  grove_oci_runtime_exec_sync_async (fixture->runtime, fixture->container_id, fixture->bundle,
                                     fixture->run_dir, argv, timeout, cancellable, on_async_result,
                                     &result);
  return grove_oci_runtime_exec_sync_finish (fixture->runtime, wait_for_result (&result), error);
}

static void
assert_state (Fixture *fixture, const char *expected)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *status = NULL;
  int pid = -1;

  status = fixture_state (fixture, &pid, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (status, ==, expected);
  if (g_strcmp0 (expected, "stopped") != 0)
    g_assert_cmpint (pid, ==, fixture->pid);
}

static int
wait_exit_code (Fixture *fixture)
{
  gint64 deadline = g_get_monotonic_time () + WAIT_TIMEOUT_US;
  g_autoptr (GError) error = NULL;
  gboolean exited = FALSE;
  int code = -1;

  for (;;)
    {
      g_assert_true (
          grove_read_exit_file (fixture->exit_dir, fixture->container_id, &exited, &code, &error));
      g_assert_no_error (error);
      if (exited)
        return code;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      sleep_ms (POLL_INTERVAL_MS);
    }
}

/* waits until @path has a line matching @pattern */
static void
wait_for_line (const char *path, const char *pattern)
{
  g_autoptr (GRegex) regex = g_regex_new (pattern, G_REGEX_MULTILINE, 0, NULL);
  gint64 deadline = g_get_monotonic_time () + WAIT_TIMEOUT_US;

  for (;;)
    {
      g_autofree char *contents = NULL;

      if (g_file_get_contents (path, &contents, NULL, NULL)
          && g_regex_match (regex, contents, 0, NULL))
        return;
      if (g_get_monotonic_time () > deadline)
        g_assert_cmpstr (contents, ==, pattern);
      sleep_ms (POLL_INTERVAL_MS);
    }
}

/* ---- the bundle ---- */

static void
make_rootfs (const char *rootfs)
{
  const char *const dirs[] = { "bin", "proc", "sys", "dev", "tmp", "etc", NULL };
  const char *const applets[] = { "sh", "sleep", "echo", "cat", "printf", "true", NULL };
  g_autofree char *busybox = g_build_filename (rootfs, "bin", "busybox", NULL);
  g_autoptr (GFile) source = g_file_new_for_path (BUSYBOX);
  g_autoptr (GFile) target = g_file_new_for_path (busybox);
  g_autoptr (GError) error = NULL;

  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *dir = g_build_filename (rootfs, dirs[i], NULL);
      g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
    }
  g_file_copy (source, target, G_FILE_COPY_NONE, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (chmod (busybox, 0755), ==, 0);
  for (guint i = 0; applets[i] != NULL; i++)
    {
      g_autofree char *link = g_build_filename (rootfs, "bin", applets[i], NULL);
      g_assert_cmpint (symlink ("busybox", link), ==, 0);
    }
}

/* `runc spec`, then the process, an absolute writable root and our own cgroup */
static void
write_config (Fixture *fixture, const char *const *args)
{
  g_autofree char *config_path = g_build_filename (fixture->bundle, "config.json", NULL);
  g_autofree char *rootfs = g_build_filename (fixture->bundle, "rootfs", NULL);
  g_autofree char *cgroups_path = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *config = NULL;
  JsonObject *process = NULL;
  JsonObject *root = json_object_new ();
  JsonArray *args_array = json_array_new ();

  g_assert_cmpint (grove_test_run (NULL, "runc", "spec", "--bundle", fixture->bundle, NULL), ==, 0);
  json_parser_load_from_file (parser, config_path, &error);
  g_assert_no_error (error);
  config = json_node_get_object (json_parser_get_root (parser));
  process = json_object_get_object_member (config, "process");
  json_object_set_boolean_member (process, "terminal", FALSE);
  for (guint i = 0; args[i] != NULL; i++)
    json_array_add_string_element (args_array, args[i]);
  json_object_set_array_member (process, "args", args_array);
  json_object_set_string_member (root, "path", rootfs);
  json_object_set_boolean_member (root, "readonly", FALSE);
  json_object_set_object_member (config, "root", root);
  cgroups_path = g_strdup_printf ("/%s/%s", fixture->cgroup_parent, fixture->container_id);
  json_object_set_string_member (json_object_get_object_member (config, "linux"), "cgroupsPath",
                                 cgroups_path);
  json_generator_set_root (generator, json_parser_get_root (parser));
  json_generator_set_pretty (generator, TRUE);
  json_generator_to_file (generator, config_path, &error);
  g_assert_no_error (error);
}

static char *
find_runtime_exec (void)
{
  const char *env = g_getenv ("GROVE_RUNTIME_EXEC");
  g_autofree char *beside = g_test_build_filename (G_TEST_BUILT, "grove-runtime-exec", NULL);
  g_autofree char *top = g_test_build_filename (G_TEST_BUILT, "..", "grove-runtime-exec", NULL);
  g_autofree char *src
      = g_test_build_filename (G_TEST_BUILT, "..", "src", "runtime", "grove-runtime-exec", NULL);
  const char *const candidates[] = { beside, top, src, NULL };

  if (env != NULL)
    return g_strdup (env);
  for (guint i = 0; candidates[i] != NULL; i++)
    if (g_file_test (candidates[i], G_FILE_TEST_IS_EXECUTABLE))
      return g_strdup (candidates[i]);
  return NULL;
}

static gboolean
fixture_make_runtime (Fixture *fixture)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *helper = NULL;
  const char *argv[] = { NULL, "crun", NULL };

  if (g_strcmp0 (fixture->runtime_name, "runc") == 0)
    {
      fixture->runtime = grove_oci_runtime_new ("runc", "runc", fixture->state_root, NULL, &error);
      g_assert_no_error (error);
      return TRUE;
    }
  helper = find_runtime_exec ();
  if (helper == NULL)
    {
      g_test_skip ("grove-runtime-exec not found: build it or set GROVE_RUNTIME_EXEC");
      return FALSE;
    }
  argv[0] = helper;
  fixture->runtime
      = grove_oci_runtime_new_with_argv ("crun", argv, fixture->state_root, NULL, &error);
  g_assert_no_error (error);
  return TRUE;
}

static gboolean
can_run_containers (const char *runtime_name)
{
  g_autofree char *conmon = g_find_program_in_path ("conmon");
  g_autofree char *runc = g_find_program_in_path ("runc");
  g_autofree char *runtime = g_find_program_in_path (runtime_name);

  if (!grove_test_is_root ())
    return g_test_skip ("needs root: runs containers with conmon and runc/crun"), FALSE;
  if (conmon == NULL || runc == NULL || runtime == NULL
      || !g_file_test (BUSYBOX, G_FILE_TEST_IS_EXECUTABLE))
    return g_test_skip ("needs conmon, runc, the runtime under test and " BUSYBOX), FALSE;
  return TRUE;
}

static void
fixture_setup (Fixture *fixture, gconstpointer user_data)
{
  g_autofree char *rootfs = NULL;
  g_autofree char *suffix = NULL;

  fixture->runtime_name = user_data;
  if (!can_run_containers (fixture->runtime_name))
    {
      fixture->skip = TRUE;
      return;
    }
  fixture->tmp_dir = grove_test_make_tmpdir ();
  suffix = g_path_get_basename (fixture->tmp_dir);
  fixture->container_id = g_strdup_printf ("ctr-%s", suffix + strlen ("grove-test-"));
  fixture->cgroup_parent = g_strdup_printf ("grove-test-%d", (int)getpid ());
  fixture->bundle = g_build_filename (fixture->tmp_dir, "bundle", NULL);
  fixture->run_dir = g_build_filename (fixture->tmp_dir, "run", NULL);
  fixture->exit_dir = g_build_filename (fixture->tmp_dir, "exits", NULL);
  fixture->log_path = g_build_filename (fixture->tmp_dir, "ctr.log", NULL);
  fixture->state_root = g_build_filename (fixture->tmp_dir, "state", NULL);
  rootfs = g_build_filename (fixture->bundle, "rootfs", NULL);
  make_rootfs (rootfs);
  if (!fixture_make_runtime (fixture))
    fixture->skip = TRUE;
}

/* removes <controller>/grove-test-<pid>/<id> and the parent, in every hierarchy */
static void
remove_cgroups (Fixture *fixture)
{
  g_autoptr (GDir) dir = g_dir_open ("/sys/fs/cgroup", 0, NULL);
  const char *name = NULL;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *parent
          = g_build_filename ("/sys/fs/cgroup", name, fixture->cgroup_parent, NULL);
      g_autofree char *child = g_build_filename (parent, fixture->container_id, NULL);
      gint64 deadline = g_get_monotonic_time () + WAIT_TIMEOUT_US;

      /* the last exiting task may still hold the cgroup for a moment */
      while (rmdir (child) < 0 && errno == EBUSY && g_get_monotonic_time () < deadline)
        sleep_ms (POLL_INTERVAL_MS);
      if (g_file_test (child, G_FILE_TEST_EXISTS))
        g_test_message ("cgroup %s is left: %s", child, g_strerror (errno));
      rmdir (parent);
    }
}

static void
fixture_teardown (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;

  if (fixture->runtime != NULL && fixture->container_id != NULL)
    {
      fixture_delete (fixture, TRUE, &error);
      if (error != NULL)
        g_test_message ("teardown delete: %s", error->message);
    }
  if (fixture->pid > 0)
    kill_if_ours (fixture->pid, "cgroup", fixture->cgroup_parent);
  if (fixture->conmon_pid > 0)
    kill_if_ours (fixture->conmon_pid, "cmdline", fixture->container_id);
  if (fixture->conmon_pid > 0)
    g_assert_true (wait_pid_gone (fixture->conmon_pid));
  if (fixture->cgroup_parent != NULL)
    remove_cgroups (fixture);
  if (fixture->tmp_dir != NULL)
    grove_test_rm_rf (fixture->tmp_dir);
  g_clear_object (&fixture->runtime);
  g_free (fixture->tmp_dir);
  g_free (fixture->bundle);
  g_free (fixture->run_dir);
  g_free (fixture->exit_dir);
  g_free (fixture->log_path);
  g_free (fixture->state_root);
  g_free (fixture->cgroup_parent);
  g_free (fixture->container_id);
}

/* creates and starts a container running @args */
static void
run_container (Fixture *fixture, const char *const *args)
{
  g_autoptr (GError) error = NULL;

  write_config (fixture, args);
  g_assert_true (fixture_create (fixture, &error));
  g_assert_no_error (error);
  g_assert_cmpint (fixture->pid, >, 1);
  g_assert_cmpint (fixture->conmon_pid, >, 1);
  g_assert_true (fixture_start (fixture, &error));
  g_assert_no_error (error);
}

/* ---- tests ---- */

static void
test_lifecycle (Fixture *fixture, gconstpointer user_data)
{
  const char *const args[] = { "sh", "-c", "echo hello from grove; exec sleep 1000", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *status = NULL;

  if (fixture->skip)
    return;
  write_config (fixture, args);
  g_assert_true (fixture_create (fixture, &error));
  g_assert_no_error (error);
  g_assert_true (pid_running (fixture->pid));
  g_assert_true (pid_running (fixture->conmon_pid));
  assert_state (fixture, "created");

  g_assert_true (fixture_start (fixture, &error));
  g_assert_no_error (error);
  assert_state (fixture, "running");
  /* CRI format: <RFC3339Nano> <stream> <P|F> <message> */
  wait_for_line (
      fixture->log_path,
      "^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d+\\S* stdout F hello from grove$");

  g_assert_true (fixture_kill (fixture, SIGKILL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (wait_exit_code (fixture), ==, 137);
  assert_state (fixture, "stopped");
  g_assert_true (wait_pid_gone (fixture->conmon_pid));

  g_assert_true (fixture_delete (fixture, FALSE, &error));
  g_assert_no_error (error);
  status = fixture_state (fixture, NULL, &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_assert_null (status);
  g_clear_error (&error);
  /* a second delete is fine */
  g_assert_true (fixture_delete (fixture, FALSE, &error));
  g_assert_no_error (error);
  g_assert_false (fixture_kill (fixture, SIGKILL, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
}

static void
test_exit_code (Fixture *fixture, gconstpointer user_data)
{
  const char *const args[] = { "sh", "-c", "exit 3", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *persist_exit = NULL;
  g_autofree char *contents = NULL;

  if (fixture->skip)
    return;
  run_container (fixture, args);
  g_assert_cmpint (wait_exit_code (fixture), ==, 3);
  /* conmon also writes it to its persist dir, the run dir */
  persist_exit = g_build_filename (fixture->run_dir, "exit", NULL);
  g_assert_true (g_file_get_contents (persist_exit, &contents, NULL, NULL));
  g_assert_cmpstr (g_strstrip (contents), ==, "3");
  assert_state (fixture, "stopped");
  g_assert_true (wait_pid_gone (fixture->conmon_pid));
  g_assert_true (fixture_delete (fixture, FALSE, &error));
  g_assert_no_error (error);
}

static ino_t
inode_of (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  struct stat st;

  g_assert_cmpint (lstat (path, &st), ==, 0);
  return st.st_ino;
}

static void
assert_no_exec_scratch (Fixture *fixture)
{
  g_autoptr (GDir) dir = g_dir_open (fixture->run_dir, 0, NULL);
  const char *name = NULL;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_assert_false (g_str_has_prefix (name, "exec-"));
}

static void
assert_bytes (GBytes *bytes, const char *expected)
{
  g_autofree char *text = g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));

  g_assert_cmpstr (text, ==, expected);
}

static void
test_exec_sync (Fixture *fixture, gconstpointer user_data)
{
  const char *const args[] = { "sleep", "1000", NULL };
  const char *const exec_args[]
      = { "sh", "-c", "echo out; echo err >&2; printf partial; exit 4", NULL };
  const char *const true_args[] = { "true", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveExecResult) result = NULL;
  ino_t ctl_before = 0;

  if (fixture->skip)
    return;
  run_container (fixture, args);
  ctl_before = inode_of (fixture->bundle, "ctl");

  result = fixture_exec (fixture, exec_args, 0, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (result);
  g_assert_cmpint (result->exit_code, ==, 4);
  assert_bytes (result->stdout_data, "out\npartial");
  assert_bytes (result->stderr_data, "err\n");
  g_clear_pointer (&result, grove_exec_result_free);

  result = fixture_exec (fixture, true_args, 5, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (result->exit_code, ==, 0);
  g_assert_cmpuint (g_bytes_get_size (result->stdout_data), ==, 0);
  g_assert_cmpuint (g_bytes_get_size (result->stderr_data), ==, 0);

  /* the container's conmon keeps its control FIFO and attach socket */
  g_assert_cmpuint (inode_of (fixture->bundle, "ctl"), ==, ctl_before);
  g_assert_true (g_file_test (fixture->bundle, G_FILE_TEST_IS_DIR));
  (void)inode_of (fixture->bundle, "attach");
  assert_no_exec_scratch (fixture);
  assert_state (fixture, "running");
}

/* the PIDs in the container's pids cgroup */
static guint
count_container_processes (Fixture *fixture)
{
  g_autofree char *path = g_strdup_printf ("/sys/fs/cgroup/pids/%s/%s/cgroup.procs",
                                           fixture->cgroup_parent, fixture->container_id);
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;
  guint count = 0;

  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  lines = g_strsplit (g_strstrip (contents), "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (lines[i][0] != '\0')
      count++;
  return count;
}

static void
test_exec_timeout (Fixture *fixture, gconstpointer user_data)
{
  const char *const args[] = { "sleep", "1000", NULL };
  const char *const exec_args[] = { "sleep", "10", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveExecResult) result = NULL;
  gint64 started = 0;
  gint64 elapsed_ms = 0;

  if (fixture->skip)
    return;
  run_container (fixture, args);
  started = g_get_monotonic_time ();
  result = fixture_exec (fixture, exec_args, 1, NULL, &error);
  elapsed_ms = (g_get_monotonic_time () - started) / 1000;
  g_test_message ("exec with a 1 s timeout returned after %" G_GINT64_FORMAT " ms", elapsed_ms);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_nonnull (strstr (error->message, "timed out after 1 s"));
  g_assert_null (result);
  g_assert_cmpint (elapsed_ms, <, 3000);
  /* conmon killed the exec'd sleep: only the container's init is left */
  g_assert_cmpuint (count_container_processes (fixture), ==, 1);
  assert_no_exec_scratch (fixture);
}

static gboolean
on_cancel_timeout (gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
  return G_SOURCE_REMOVE;
}

static void
test_exec_cancel (Fixture *fixture, gconstpointer user_data)
{
  const char *const args[] = { "sleep", "1000", NULL };
  const char *const exec_args[] = { "sleep", "100", NULL };
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveExecResult) result = NULL;
  gint64 started = 0;

  if (fixture->skip)
    return;
  run_container (fixture, args);
  g_timeout_add (500, on_cancel_timeout, cancellable);
  started = g_get_monotonic_time ();
  result = fixture_exec (fixture, exec_args, 0, cancellable, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (result);
  g_assert_cmpint (g_get_monotonic_time () - started, <, 3 * G_USEC_PER_SEC);
  g_assert_cmpuint (count_container_processes (fixture), ==, 1);
  assert_no_exec_scratch (fixture);
}

static void
test_reopen_log (Fixture *fixture, gconstpointer user_data)
{
  const char *const args[]
      = { "sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done", NULL };
  g_autofree char *rotated = g_strconcat (fixture->log_path, ".1", NULL);
  g_autoptr (GError) error = NULL;

  if (fixture->skip)
    return;
  run_container (fixture, args);
  wait_for_line (fixture->log_path, " stdout F line 1$");
  g_assert_cmpint (rename (fixture->log_path, rotated), ==, 0);
  g_assert_true (
      grove_oci_runtime_reopen_log (fixture->runtime, fixture->bundle, fixture->run_dir, &error));
  g_assert_no_error (error);
  /* new lines land in a new file at the original path */
  wait_for_line (fixture->log_path, " stdout F line \\d+$");
  g_assert_true (g_file_test (rotated, G_FILE_TEST_IS_REGULAR));
}

static void
test_create_fails (Fixture *fixture, gconstpointer user_data)
{
  const char *const args[] = { "/no/such/binary", NULL };
  g_autoptr (GError) error = NULL;
  g_autofree char *status = NULL;
  g_autofree char *conmon_pid_path = g_build_filename (fixture->run_dir, "conmon.pid", NULL);
  g_autofree char *conmon_pid_text = NULL;
  g_autofree char *prefix = NULL;

  if (fixture->skip)
    return;
  write_config (fixture, args);
  g_assert_false (fixture_create (fixture, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_FAILED);
  g_test_message ("create failed as it should: %s", error->message);
  prefix = g_strdup_printf ("%s create %s: ", fixture->runtime_name, fixture->container_id);
  g_assert_true (g_str_has_prefix (error->message, prefix));
  g_assert_nonnull (strstr (error->message, "/no/such/binary"));
  g_clear_error (&error);

  /* nothing is left running: conmon ended and the runtime has no such container */
  if (g_file_get_contents (conmon_pid_path, &conmon_pid_text, NULL, NULL))
    fixture->conmon_pid = atoi (conmon_pid_text);
  g_assert_true (fixture->conmon_pid > 0);
  g_assert_true (wait_pid_gone (fixture->conmon_pid));
  status = fixture_state (fixture, NULL, &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
}

/* a create cancelled while conmon works reports CANCELLED and leaves nothing behind */
static void
test_create_cancel (Fixture *fixture, gconstpointer user_data)
{
  const char *const args[] = { "sleep", "1000", NULL };
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *status = NULL;
  g_autofree char *conmon_pid_path = g_build_filename (fixture->run_dir, "conmon.pid", NULL);
  g_autofree char *conmon_pid_text = NULL;
  GroveCreateOptions options = {
    .container_id = fixture->container_id,
    .bundle = fixture->bundle,
    .run_dir = fixture->run_dir,
    .exit_dir = fixture->exit_dir,
    .log_path = fixture->log_path,
  };

  if (fixture->skip)
    return;
  write_config (fixture, args);
  grove_oci_runtime_create_async (fixture->runtime, &options, cancellable, on_async_result,
                                  &result);
  g_timeout_add (20, on_cancel_timeout, cancellable);
  g_assert_false (grove_oci_runtime_create_finish (fixture->runtime, wait_for_result (&result),
                                                   &fixture->pid, &fixture->conmon_pid, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  if (g_file_get_contents (conmon_pid_path, &conmon_pid_text, NULL, NULL))
    fixture->conmon_pid = atoi (conmon_pid_text);
  if (fixture->conmon_pid > 0)
    g_assert_true (wait_pid_gone (fixture->conmon_pid));
  status = fixture_state (fixture, NULL, &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* cancelled before it starts: nothing is spawned at all */
  g_clear_object (&result);
  grove_oci_runtime_create_async (fixture->runtime, &options, cancellable, on_async_result,
                                  &result);
  g_assert_false (grove_oci_runtime_create_finish (fixture->runtime, wait_for_result (&result),
                                                   NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

static void
test_unknown_container (Fixture *fixture, gconstpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *status = NULL;

  if (fixture->skip)
    return;
  status = fixture_state (fixture, NULL, &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_false (fixture_kill (fixture, SIGTERM, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_true (fixture_delete (fixture, TRUE, &error));
  g_assert_no_error (error);
}

/* ---- tests without containers ---- */

static void
test_not_found (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveOciRuntime) runtime = NULL;
  g_autofree char *tmp_dir = grove_test_make_tmpdir ();

  runtime = grove_oci_runtime_new ("ghost", "/no/such/runtime", tmp_dir, "/bin/true", &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "/no/such/runtime"));
  g_assert_null (runtime);
  g_clear_error (&error);

  runtime = grove_oci_runtime_new ("ghost", "grove-no-such-runtime", tmp_dir, "/bin/true", &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "grove-no-such-runtime"));
  g_clear_error (&error);

  runtime = grove_oci_runtime_new ("true", "true", tmp_dir, "/no/such/conmon", &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "/no/such/conmon"));
  grove_test_rm_rf (tmp_dir);
}

/* the wrapper script conmon gets for a runtime with prefix arguments */
static void
test_wrapper_script (void)
{
  g_autofree char *tmp_dir = grove_test_make_tmpdir ();
  g_autofree char *state_root = g_build_filename (tmp_dir, "state", NULL);
  g_autofree char *script = g_build_filename (state_root, ".grove-runtime-echo", NULL);
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveOciRuntime) runtime = NULL;
  const char *const argv[] = { "echo", "it's", "two  spaces", NULL };
  struct stat st;

  runtime = grove_oci_runtime_new_with_argv ("echo", argv, state_root, "/bin/true", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (grove_oci_runtime_get_name (runtime), ==, "echo");
  g_assert_true (g_path_is_absolute (grove_oci_runtime_get_path (runtime)));
  g_assert_cmpint (stat (state_root, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0700);
  g_assert_cmpint (grove_test_run (&out, script, "--root=x", "create", NULL), ==, 0);
  g_assert_cmpstr (out, ==, "it's two  spaces --root=x create\n");
  grove_test_rm_rf (tmp_dir);
}

/* a conmon that fails before it reports: its stderr and status make the error */
static void
test_conmon_fails (void)
{
  g_autofree char *tmp_dir = grove_test_make_tmpdir ();
  g_autofree char *state_root = g_build_filename (tmp_dir, "state", NULL);
  g_autofree char *run_dir = g_build_filename (tmp_dir, "run", NULL);
  g_autofree char *exit_dir = g_build_filename (tmp_dir, "exits", NULL);
  g_autofree char *log_path = g_build_filename (tmp_dir, "ctr.log", NULL);
  g_autofree char *conmon = g_build_filename (tmp_dir, "broken-conmon", NULL);
  g_autoptr (GroveOciRuntime) runtime = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  const char *script = "#!/bin/sh\necho 'broken on purpose' >&2\nexit 7\n";
  GroveCreateOptions options = {
    .container_id = "c1",
    .bundle = tmp_dir,
    .run_dir = run_dir,
    .exit_dir = exit_dir,
    .log_path = log_path,
  };

  g_assert_true (g_file_set_contents (conmon, script, -1, NULL));
  g_assert_cmpint (chmod (conmon, 0755), ==, 0);
  runtime = grove_oci_runtime_new ("true", "true", state_root, conmon, &error);
  g_assert_no_error (error);
  grove_oci_runtime_create_async (runtime, &options, NULL, on_async_result, &result);
  g_assert_false (
      grove_oci_runtime_create_finish (runtime, wait_for_result (&result), NULL, NULL, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==,
                   "true create c1: conmon exited with status 7: broken on purpose");
  grove_test_rm_rf (tmp_dir);
}

static void
test_exit_file (void)
{
  g_autofree char *tmp_dir = grove_test_make_tmpdir ();
  g_autofree char *path = g_build_filename (tmp_dir, "c1", NULL);
  g_autoptr (GError) error = NULL;
  gboolean exited = TRUE;
  int code = -1;

  g_assert_true (grove_read_exit_file (tmp_dir, "c1", &exited, &code, &error));
  g_assert_no_error (error);
  g_assert_false (exited);

  g_assert_true (g_file_set_contents (path, "", 0, NULL));
  g_assert_true (grove_read_exit_file (tmp_dir, "c1", &exited, &code, &error));
  g_assert_false (exited);

  g_assert_true (g_file_set_contents (path, "137\n", -1, NULL));
  g_assert_true (grove_read_exit_file (tmp_dir, "c1", &exited, &code, &error));
  g_assert_no_error (error);
  g_assert_true (exited);
  g_assert_cmpint (code, ==, 137);

  g_assert_true (g_file_set_contents (path, "garbage", -1, NULL));
  g_assert_false (grove_read_exit_file (tmp_dir, "c1", &exited, &code, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_FAILED);
  g_clear_error (&error);

  g_assert_false (grove_read_exit_file (tmp_dir, "../c1", &exited, &code, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  grove_test_rm_rf (tmp_dir);
}

static void
add_runtime_tests (const char *runtime_name)
{
  const struct
  {
    const char *name;
    void (*func) (Fixture *, gconstpointer);
  } tests[] = {
    { "lifecycle", test_lifecycle },
    { "exit-code", test_exit_code },
    { "exec-sync", test_exec_sync },
    { "exec-timeout", test_exec_timeout },
    { "exec-cancel", test_exec_cancel },
    { "reopen-log", test_reopen_log },
    { "create-fails", test_create_fails },
    { "create-cancel", test_create_cancel },
    { "unknown-container", test_unknown_container },
  };

  for (guint i = 0; i < G_N_ELEMENTS (tests); i++)
    {
      g_autofree char *path
          = g_strdup_printf ("/grove/oci-runtime/%s/%s", runtime_name, tests[i].name);
      g_test_add (path, Fixture, runtime_name, fixture_setup, tests[i].func, fixture_teardown);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/grove/oci-runtime/not-found", test_not_found);
  g_test_add_func ("/grove/oci-runtime/wrapper-script", test_wrapper_script);
  g_test_add_func ("/grove/oci-runtime/exit-file", test_exit_file);
  g_test_add_func ("/grove/oci-runtime/conmon-fails", test_conmon_fails);
  add_runtime_tests ("runc");
  add_runtime_tests ("crun");
  return g_test_run ();
}
