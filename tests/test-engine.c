/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestEngine"

/*
 * GroveEngine driven through real conmon, runc and crun: pods and containers that really
 * run. Each test removes its pods, so no mount, netns, cgroup or process outlives it.
 */

#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grove-engine.h"
#include "grove-record.h"
#include "grove-test-utils.h"
#include "grove-utils.h"

typedef struct
{
  char *tmpdir;
  char *cgroup_parent;
  gboolean recorded;
  GroveStore *store;
  GroveEngine *engine;
} Fixture;

static char *
write_recorder (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *log = g_strdup_printf ("%s.log", path);
  g_autofree char *script = g_strdup_printf (
      "#!/bin/sh\n"
      "# records each call and the container type the spec announces, then runs runc\n"
      "bundle=\n"
      "prev=\n"
      "for arg in \"$@\"; do\n"
      "  [ \"$prev\" = --bundle ] || [ \"$prev\" = -b ] && bundle=$arg\n"
      "  prev=$arg\n"
      "done\n"
      "type=\n"
      "if [ -n \"$bundle\" ]; then\n"
      "  type=$(grep -o '\"io.kubernetes.cri.container-type\" *: *\"[a-z]*\"' "
      "\"$bundle/config.json\""
      " | sed 's/.*: *//; s/\"//g')\n"
      "fi\n"
      "echo \"$* type=$type\" >> %s\n"
      "exec runc \"$@\"\n",
      log);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, script, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (chmod (path, 0755), ==, 0);
  return g_steal_pointer (&path);
}

/* an engine on the fixture's state; a second one after the first is gone finds its pods */
static GroveEngine *
new_engine (Fixture *fx)
{
  g_autofree char *exec_helper
      = g_test_build_filename (G_TEST_BUILT, "..", "grove-runtime-exec", NULL);
  g_autofree char *recorder_default = write_recorder (fx->tmpdir, "default-runtime");
  g_autofree char *recorder_trusted = write_recorder (fx->tmpdir, "trusted-runtime");
  const GroveTestHandler handlers[] = {
    { "runc", (const char *const[]){ "runc", NULL } },
    { "crun", (const char *const[]){ exec_helper, "crun", NULL } },
    { "recorded", (const char *const[]){ recorder_default, NULL } },
    { "recorded-trusted", (const char *const[]){ recorder_trusted, NULL } },
    { NULL, NULL },
  };
  GroveEngineOptions options = { 0 };

  options.cgroup_parent = fx->cgroup_parent;
  options.default_handler = fx->recorded ? "recorded" : "runc";
  options.trusted_handler = fx->recorded ? "recorded-trusted" : "runc";
  return grove_test_new_engine_full (fx->store, fx->tmpdir, &options, handlers);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  if (!grove_test_is_root () || g_find_program_in_path ("conmon") == NULL)
    {
      g_test_skip ("needs root and conmon");
      return;
    }
  fx->tmpdir = grove_test_make_tmpdir ();
  fx->cgroup_parent = g_strdup_printf ("/grove-test-%d", (int)getpid ());
  fx->store = grove_test_open_store_with_busybox (fx->tmpdir);
  fx->recorded = data != NULL;
  fx->engine = new_engine (fx);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  grove_test_remove_all_pods (fx->engine);
  g_clear_object (&fx->engine);
  g_clear_object (&fx->store);
  grove_test_remove_engine_dirs (fx->tmpdir, fx->cgroup_parent);
  g_clear_pointer (&fx->tmpdir, g_free);
  g_clear_pointer (&fx->cgroup_parent, g_free);
}

static JsonObject *
parse (const char *json)
{
  g_autoptr (GError) error = NULL;
  JsonObject *object = grove_record_parse (json, -1, "test JSON", &error);

  g_assert_no_error (error);
  return object;
}

static JsonObject *
pod_config (const char *name, const char *extra)
{
  g_autofree char *json = g_strdup_printf (
      "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"uid\":\"uid-%s\"},"
      "\"hostname\":\"%s-host\",\"labels\":{\"app\":\"%s\"},"
      "\"dnsConfig\":{\"servers\":[\"10.0.0.53\"],\"searches\":[\"svc.local\"]}%s%s}",
      name, name, name, name, extra ? "," : "", extra ? extra : "");
  return parse (json);
}

/* a container from busybox running `sh -c SCRIPT`, with the log under the tmpdir */
static GroveContainer *
create_container (Fixture *fx, GrovePod *pod, const char *name, const char *script,
                  const char *extra)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *escaped = g_strescape (script, NULL);
  g_autofree char *json = g_strdup_printf (
      "{\"metadata\":{\"name\":\"%s\"},\"image\":{\"image\":\"localhost/busybox:latest\"},"
      "\"command\":[\"/bin/sh\",\"-c\",\"%s\"],\"logPath\":\"%s.log\"%s%s}",
      name, escaped, name, extra ? "," : "", extra ? extra : "");
  g_autoptr (JsonObject) config = parse (json);
  g_autofree char *with_dir = NULL;
  GroveContainer *container;

  /* the pod config has no logDirectory: give the log an absolute place */
  with_dir = g_build_filename (fx->tmpdir, "logs", grove_record_string (config, "logPath"), NULL);
  json_object_set_string_member (config, "logPath", with_dir);
  grove_engine_create_container_async (fx->engine, grove_pod_get_id (pod), config, NULL,
                                       grove_test_result_cb, &result);
  container
      = grove_engine_create_container_finish (fx->engine, grove_test_wait_result (&result), &error);
  g_assert_no_error (error);
  g_assert_cmpint (grove_container_get_state (container), ==, GROVE_CONTAINER_STATE_CREATED);
  return container;
}

static void
start_container (Fixture *fx, GroveContainer *container)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  grove_engine_start_container_async (fx->engine, grove_container_get_id (container), NULL,
                                      grove_test_result_cb, &result);
  g_assert_true (
      grove_engine_start_container_finish (fx->engine, grove_test_wait_result (&result), &error));
  g_assert_no_error (error);
}

/* waits (turning the main loop) until the container has exited */
static void
wait_exited (GroveContainer *container, guint seconds)
{
  gint64 deadline = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;

  while (grove_container_get_state (container) != GROVE_CONTAINER_STATE_EXITED)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (10000);
    }
}

static char *
read_text (const char *path)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;

  g_file_get_contents (path, &text, NULL, &error);
  g_assert_no_error (error);
  return g_steal_pointer (&text);
}

/* the messages of a CRI-format log: "<RFC3339Nano> <stdout|stderr> <P|F> <msg>" */
static char *
log_messages (const char *path)
{
  g_autofree char *text = read_text (path);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr (GRegex) format = g_regex_new ("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d+(Z|[+-"
                                           "]\\d\\d:\\d\\d) (stdout|stderr) F (.*)$",
                                           0, 0, NULL);
  GString *out = g_string_new ("");

  for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++)
    {
      g_autoptr (GMatchInfo) match = NULL;
      g_autofree char *stream = NULL;
      g_autofree char *message = NULL;

      g_assert_true (g_regex_match (format, lines[i], 0, &match));
      stream = g_match_info_fetch (match, 2);
      message = g_match_info_fetch (match, 3);
      g_string_append_printf (out, "%s:%s\n", stream, message);
    }
  return g_string_free (out, FALSE);
}

static void
wait_log (GroveContainer *container, const char *expected)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (TRUE)
    {
      g_autofree char *messages = NULL;
      if (g_file_test (grove_container_get_log_path (container), G_FILE_TEST_EXISTS))
        {
          messages = log_messages (grove_container_get_log_path (container));
          if (strstr (messages, expected) != NULL)
            return;
        }
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_usleep (20000);
    }
}

static JsonObject *
read_spec (Fixture *fx, const char *id)
{
  g_autofree char *path
      = g_build_filename (fx->tmpdir, "state", "containers", id, "config.json", NULL);
  g_autofree char *text = read_text (path);
  return parse (text);
}

static void
test_pod_two_containers (Fixture *fx, gconstpointer data)
{
  g_autoptr (JsonObject) config = NULL;
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GroveContainer) web = NULL;
  g_autoptr (GroveContainer) job = NULL;
  g_autoptr (GroveContainer) peer = NULL;
  g_autoptr (JsonObject) spec = NULL;
  g_autoptr (JsonObject) infra_spec = NULL;
  g_autofree char *messages = NULL;
  g_autofree char *hostname = NULL;
  g_autofree char *resolv = NULL;
  g_autofree char *web_ns = NULL;
  g_autofree char *peer_ns = NULL;
  g_autofree char *expected_ns = NULL;
  struct stat st;

  if (fx->engine == NULL)
    return;
  config = pod_config ("web", "\"linux\":{\"securityContext\":{\"namespaceOptions\":"
                              "{\"pid\":\"CONTAINER\"}}}");
  pod = grove_test_run_pod (fx->engine, config, NULL);
  web = create_container (fx, pod, "web", "echo hello; echo oops >&2; exec sleep 1000", NULL);
  job = create_container (fx, pod, "job", "echo $FOO; id -u; id -G; pwd; exit 3",
                          "\"envs\":[{\"key\":\"FOO\",\"value\":\"bar\"}],\"workingDir\":\"/tmp\","
                          "\"linux\":{\"securityContext\":{\"runAsUsername\":\"app\"}}");
  start_container (fx, web);
  start_container (fx, job);

  /* a container that exits: its code, reason and output in the CRI log format */
  wait_exited (job, 20);
  g_assert_cmpint (grove_container_get_exit_code (job), ==, 3);
  g_assert_cmpstr (grove_container_get_reason (job), ==, "Error");
  g_assert_cmpint (grove_container_get_finished_at (job), >=, grove_container_get_started_at (job));
  messages = log_messages (grove_container_get_log_path (job));
  g_assert_cmpstr (messages, ==, "stdout:bar\nstdout:1000\nstdout:1000 2000\nstdout:/tmp\n");
  wait_log (web, "stdout:hello\n");
  wait_log (web, "stderr:oops\n");

  /* the pod's hostname and DNS, and one network namespace for all its containers */
  hostname = grove_test_exec_output (fx->engine, web, "hostname");
  g_assert_cmpstr (hostname, ==, "web-host\n");
  resolv = grove_test_exec_output (fx->engine, web, "cat /etc/resolv.conf");
  g_assert_nonnull (strstr (resolv, "nameserver 10.0.0.53\n"));
  g_assert_nonnull (strstr (resolv, "search svc.local\n"));
  peer = create_container (fx, pod, "peer", "exec sleep 1000", NULL);
  start_container (fx, peer);
  web_ns = grove_test_exec_output (fx->engine, web, "readlink /proc/self/ns/net");
  peer_ns = grove_test_exec_output (fx->engine, peer, "readlink /proc/self/ns/net");
  g_assert_cmpstr (web_ns, ==, peer_ns);
  g_assert_cmpint (stat (grove_pod_get_netns_path (pod), &st), ==, 0);
  expected_ns = g_strdup_printf ("net:[%lu]\n", (unsigned long)st.st_ino);
  g_assert_cmpstr (web_ns, ==, expected_ns);

  /* the annotations a VM runtime goes by */
  spec = read_spec (fx, grove_container_get_id (web));
  infra_spec = read_spec (fx, grove_pod_get_id (pod));
  g_assert_cmpstr (grove_record_string (grove_record_object (spec, "annotations"),
                                        "io.kubernetes.cri.container-type"),
                   ==, "container");
  g_assert_cmpstr (grove_record_string (grove_record_object (spec, "annotations"),
                                        "io.kubernetes.cri.sandbox-id"),
                   ==, grove_pod_get_id (pod));
  g_assert_cmpstr (grove_record_string (grove_record_object (infra_spec, "annotations"),
                                        "io.kubernetes.cri.container-type"),
                   ==, "sandbox");
  g_assert_cmpstr (grove_record_string (grove_record_object (infra_spec, "annotations"),
                                        "io.kubernetes.cri.sandbox-id"),
                   ==, grove_pod_get_id (pod));
}

static gboolean
file_contains (const char *path, const char *needle)
{
  g_autofree char *text = NULL;
  return g_file_get_contents (path, &text, NULL, NULL) && strstr (text, needle) != NULL;
}

/* privileged and host-namespace pods, and their containers, go to the trusted runtime */
static void
test_trusted_runtime (Fixture *fx, gconstpointer data)
{
  g_autoptr (JsonObject) plain_config = NULL;
  g_autoptr (JsonObject) privileged_config = NULL;
  g_autoptr (JsonObject) host_config = NULL;
  g_autoptr (GrovePod) plain = NULL;
  g_autoptr (GrovePod) privileged = NULL;
  g_autoptr (GrovePod) host = NULL;
  g_autoptr (GroveContainer) inside = NULL;
  g_autofree char *default_log = NULL;
  g_autofree char *trusted_log = NULL;

  if (fx->engine == NULL)
    return;
  default_log = g_build_filename (fx->tmpdir, "default-runtime.log", NULL);
  trusted_log = g_build_filename (fx->tmpdir, "trusted-runtime.log", NULL);
  plain_config = pod_config ("plain", NULL);
  plain = grove_test_run_pod (fx->engine, plain_config, NULL);
  g_assert_cmpstr (grove_pod_get_handler (plain), ==, "recorded");
  g_assert_false (grove_pod_get_trusted (plain));
  g_assert_true (file_contains (default_log, "type=sandbox"));
  g_assert_false (g_file_test (trusted_log, G_FILE_TEST_EXISTS));

  privileged_config = pod_config ("priv", "\"linux\":{\"securityContext\":{\"privileged\":true}}");
  privileged = grove_test_run_pod (fx->engine, privileged_config, "runc");
  g_assert_cmpstr (grove_pod_get_handler (privileged), ==, "recorded-trusted");
  g_assert_true (grove_pod_get_trusted (privileged));
  g_assert_true (file_contains (trusted_log, "type=sandbox"));
  inside = create_container (fx, privileged, "inside", "echo in", NULL);
  start_container (fx, inside);
  g_assert_cmpstr (grove_container_get_handler (inside), ==, "recorded-trusted");
  g_assert_true (file_contains (trusted_log, "type=container"));
  g_assert_false (file_contains (default_log, "type=container"));

  host_config = pod_config ("host", "\"linux\":{\"securityContext\":{\"namespaceOptions\":"
                                    "{\"network\":\"NODE\"}}}");
  host = grove_test_run_pod (fx->engine, host_config, NULL);
  g_assert_cmpstr (grove_pod_get_handler (host), ==, "recorded-trusted");
  g_assert_null (grove_pod_get_netns_path (host));
}

static void
stop_container (Fixture *fx, GroveContainer *container, guint timeout)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  grove_engine_stop_container_async (fx->engine, grove_container_get_id (container), timeout, NULL,
                                     grove_test_result_cb, &result);
  g_assert_true (
      grove_engine_stop_container_finish (fx->engine, grove_test_wait_result (&result), &error));
  g_assert_no_error (error);
}

/* a process that ignores SIGTERM: stop ends it with SIGKILL when the timeout is up */
static void
test_stop_and_exec (Fixture *fx, gconstpointer data)
{
  g_autoptr (JsonObject) config = NULL;
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GroveContainer) stubborn = NULL;
  g_autoptr (GroveExecResult) result = NULL;
  g_autoptr (GError) error = NULL;
  gint64 start;

  if (fx->engine == NULL)
    return;
  config = pod_config ("stop", NULL);
  pod = grove_test_run_pod (fx->engine, config, NULL);
  stubborn = create_container (fx, pod, "stubborn", "trap '' TERM; exec sleep 1000", NULL);
  start_container (fx, stubborn);

  /* exec: output, exit code, and a timeout that kills */
  result
      = grove_test_exec_sync (fx->engine, stubborn, "echo out; echo err >&2; exit 4", 10, &error);
  g_assert_no_error (error);
  g_assert_cmpint (result->exit_code, ==, 4);
  g_assert_cmpmem (g_bytes_get_data (result->stdout_data, NULL),
                   g_bytes_get_size (result->stdout_data), "out\n", 4);
  g_assert_cmpmem (g_bytes_get_data (result->stderr_data, NULL),
                   g_bytes_get_size (result->stderr_data), "err\n", 4);
  g_clear_pointer (&result, grove_exec_result_free);
  start = g_get_monotonic_time ();
  result = grove_test_exec_sync (fx->engine, stubborn, "sleep 30", 1, &error);
  g_assert_null (result);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 10 * G_USEC_PER_SEC);
  g_clear_error (&error);

  start = g_get_monotonic_time ();
  stop_container (fx, stubborn, 1);
  g_test_message ("stop with a 1 s timeout took %" G_GINT64_FORMAT " ms",
                  (g_get_monotonic_time () - start) / 1000);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, G_USEC_PER_SEC);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 8 * G_USEC_PER_SEC);
  g_assert_cmpint (grove_container_get_state (stubborn), ==, GROVE_CONTAINER_STATE_EXITED);
  g_assert_cmpint (grove_container_get_exit_code (stubborn), ==, 137);

  /* exec in a stopped container, start of an exited one: wrong state */
  g_assert_null (grove_test_exec_sync (fx->engine, stubborn, "true", 1, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_WRONG_STATE);
  g_clear_error (&error);
  stop_container (fx, stubborn, 1);
}

static void
remove_container (Fixture *fx, const char *id)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;

  grove_engine_remove_container_async (fx->engine, id, NULL, grove_test_result_cb, &result);
  g_assert_true (
      grove_engine_remove_container_finish (fx->engine, grove_test_wait_result (&result), &error));
  g_assert_no_error (error);
}

/* stop and remove are idempotent; a removed pod leaves no netns, mount or dir */
static void
test_remove_twice (Fixture *fx, gconstpointer data)
{
  g_autoptr (JsonObject) config = NULL;
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GroveContainer) first = NULL;
  g_autoptr (GroveContainer) second = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *netns = NULL;
  g_autofree char *pod_id = NULL;
  g_autofree char *pod_dir = NULL;
  g_autoptr (GPtrArray) listed = NULL;
  GroveListFilter filter = { NULL, NULL, GROVE_CONTAINER_STATE_RUNNING, NULL };

  if (fx->engine == NULL)
    return;
  config = pod_config ("twice", NULL);
  pod = grove_test_run_pod (fx->engine, config, NULL);
  pod_id = g_strdup (grove_pod_get_id (pod));
  netns = g_strdup (grove_pod_get_netns_path (pod));
  first = create_container (fx, pod, "first", "exec sleep 1000", NULL);
  second = create_container (fx, pod, "second", "exec sleep 1000", NULL);
  start_container (fx, first);
  start_container (fx, second);
  listed = grove_engine_list_containers (fx->engine, &filter);
  g_assert_cmpuint (listed->len, ==, 2);

  remove_container (fx, grove_container_get_id (first));
  remove_container (fx, grove_container_get_id (first));
  g_assert_null (grove_engine_get_container (fx->engine, grove_container_get_id (first), &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_clear_error (&error);

  grove_test_stop_pod (fx->engine, pod_id);
  grove_test_stop_pod (fx->engine, pod_id);
  g_assert_cmpint (grove_pod_get_state (pod), ==, GROVE_POD_STATE_NOTREADY);
  g_assert_cmpint (grove_container_get_state (second), ==, GROVE_CONTAINER_STATE_EXITED);
  g_assert_false (g_file_test (netns, G_FILE_TEST_EXISTS));

  grove_test_remove_pod (fx->engine, pod_id);
  grove_test_remove_pod (fx->engine, pod_id);
  pod_dir = g_build_filename (fx->tmpdir, "state", "pods", pod_id, NULL);
  g_assert_false (g_file_test (pod_dir, G_FILE_TEST_EXISTS));
  g_assert_null (grove_engine_get_container (fx->engine, grove_container_get_id (second), &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
}

/* the engine goes away while containers run; a new one finds them, and the real exit code
 * of one that ended meanwhile */
static void
test_recovery (Fixture *fx, gconstpointer data)
{
  g_autoptr (JsonObject) config = NULL;
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GroveContainer) longer = NULL;
  g_autoptr (GroveContainer) shorter = NULL;
  g_autoptr (GroveContainer) found_long = NULL;
  g_autoptr (GroveContainer) found_short = NULL;
  g_autoptr (GrovePod) found_pod = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *long_id = NULL;
  g_autofree char *short_id = NULL;
  g_autofree char *pod_id = NULL;
  g_autofree char *exit_file = NULL;
  g_autofree char *output = NULL;
  int long_pid;

  if (fx->engine == NULL)
    return;
  config = pod_config ("survivor", NULL);
  pod = grove_test_run_pod (fx->engine, config, NULL);
  longer = create_container (fx, pod, "long", "exec sleep 1000", NULL);
  shorter = create_container (fx, pod, "short", "sleep 2; exit 7", NULL);
  start_container (fx, longer);
  start_container (fx, shorter);
  long_id = g_strdup (grove_container_get_id (longer));
  short_id = g_strdup (grove_container_get_id (shorter));
  pod_id = g_strdup (grove_pod_get_id (pod));
  long_pid = grove_container_get_pid (longer);
  g_assert_cmpint (long_pid, >, 0);
  g_clear_object (&longer);
  g_clear_object (&shorter);
  g_clear_object (&pod);
  g_clear_object (&fx->engine);

  /* no engine while the short one exits */
  exit_file = g_build_filename (fx->tmpdir, "run", "exits", short_id, NULL);
  for (guint i = 0; i < 500 && !g_file_test (exit_file, G_FILE_TEST_EXISTS); i++)
    g_usleep (20000);
  g_assert_true (g_file_test (exit_file, G_FILE_TEST_EXISTS));

  fx->engine = new_engine (fx);
  found_pod = grove_engine_get_pod (fx->engine, pod_id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (grove_pod_get_state (found_pod), ==, GROVE_POD_STATE_READY);
  found_long = grove_engine_get_container (fx->engine, long_id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (grove_container_get_state (found_long), ==, GROVE_CONTAINER_STATE_RUNNING);
  g_assert_cmpint (grove_container_get_pid (found_long), ==, long_pid);
  found_short = grove_engine_get_container (fx->engine, short_id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (grove_container_get_state (found_short), ==, GROVE_CONTAINER_STATE_EXITED);
  g_assert_cmpint (grove_container_get_exit_code (found_short), ==, 7);
  output = grove_test_exec_output (fx->engine, found_long, "echo still here");
  g_assert_cmpstr (output, ==, "still here\n");
}

static void
test_crun (Fixture *fx, gconstpointer data)
{
  g_autoptr (JsonObject) config = NULL;
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GroveContainer) container = NULL;

  if (fx->engine == NULL)
    return;
  if (g_find_program_in_path ("crun") == NULL)
    {
      g_test_skip ("crun is not installed");
      return;
    }
  config = pod_config ("crun", NULL);
  pod = grove_test_run_pod (fx->engine, config, "crun");
  g_assert_cmpstr (grove_pod_get_handler (pod), ==, "crun");
  container = create_container (fx, pod, "hello", "echo hello from crun; exit 0", NULL);
  start_container (fx, container);
  wait_exited (container, 20);
  g_assert_cmpint (grove_container_get_exit_code (container), ==, 0);
  g_assert_cmpstr (grove_container_get_reason (container), ==, "Completed");
  wait_log (container, "stdout:hello from crun\n");
}

static GroveExecSession *
exec_start (Fixture *fx, const char *container_id, const GroveExecOptions *options, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  grove_engine_exec_async (fx->engine, container_id, options, NULL, grove_test_result_cb, &result);
  return grove_engine_exec_finish (fx->engine, grove_test_wait_result (&result), error);
}

static void
wait_session_exited (GroveExecSession *session, guint seconds)
{
  gint64 deadline = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;

  while (grove_exec_session_get_state (session) != GROVE_EXEC_STATE_EXITED)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (5000);
    }
}

/* reads @fd until end of file (the session closes its copy when the process has ended) */
static char *
read_to_end (int fd)
{
  GString *out = g_string_new (NULL);
  char buffer[4096];
  ssize_t n = 0;

  while ((n = read (fd, buffer, sizeof buffer)) > 0)
    g_string_append_len (out, buffer, n);
  g_assert_cmpint (n, ==, 0);
  return g_string_free (out, FALSE);
}

static guint
count_exec_dirs (Fixture *fx, const char *container_id)
{
  g_autofree char *run_dir = g_build_filename (fx->tmpdir, "run", "containers", container_id, NULL);
  g_autoptr (GDir) dir = g_dir_open (run_dir, 0, NULL);
  const char *name = NULL;
  guint count = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    count += g_str_has_prefix (name, "exec-");
  return count;
}

/* stdin in, stdout and stderr apart, the exit code; the session's fds close at the end */
static void
exec_pipes (Fixture *fx, const char *container_id)
{
  const char *argv[] = { "/bin/sh", "-c", "cat; echo err >&2; exit 5", NULL };
  const char *env[] = { "GREETING=hi", NULL };
  int in[2], out[2], err[2];
  GroveExecOptions options = { .argv = argv, .env = env };
  g_autoptr (GroveExecSession) session = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *out_text = NULL;
  g_autofree char *err_text = NULL;

  g_assert_true (g_unix_open_pipe (in, FD_CLOEXEC, NULL));
  g_assert_true (g_unix_open_pipe (out, FD_CLOEXEC, NULL));
  g_assert_true (g_unix_open_pipe (err, FD_CLOEXEC, NULL));
  options.stdin_fd = in[0];
  options.stdout_fd = out[1];
  options.stderr_fd = err[1];
  session = exec_start (fx, container_id, &options, &error);
  g_assert_no_error (error);
  /* the session holds its own copies */
  close (in[0]);
  close (out[1]);
  close (err[1]);
  g_assert_cmpint (grove_exec_session_get_state (session), ==, GROVE_EXEC_STATE_RUNNING);
  g_assert_cmpint (grove_exec_session_get_pid (session), >, 0);
  g_assert_cmpint (write (in[1], "hello\nworld", 11), ==, 11);
  close (in[1]);
  wait_session_exited (session, 20);
  g_assert_cmpint (grove_exec_session_get_exit_code (session), ==, 5);
  out_text = read_to_end (out[0]);
  err_text = read_to_end (err[0]);
  g_assert_cmpstr (out_text, ==, "hello\nworld");
  g_assert_cmpstr (err_text, ==, "err\n");
  close (out[0]);
  close (err[0]);
  g_assert_cmpuint (count_exec_dirs (fx, container_id), ==, 0);
}

/* a terminal of the asked size that follows a resize; stdout and stderr are one stream */
static void
exec_tty (Fixture *fx, const char *container_id)
{
  const char *argv[]
      = { "/bin/sh", "-c", "stty size; echo on-tty >&2; read x; stty size; exit 3", NULL };
  int sockets[2];
  GroveExecOptions options = { .argv = argv, .tty = TRUE, .rows = 33, .cols = 77 };
  g_autoptr (GroveExecSession) session = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets), ==, 0);
  options.stdin_fd = options.stdout_fd = sockets[1];
  options.stderr_fd = -1;
  session = exec_start (fx, container_id, &options, &error);
  g_assert_no_error (error);
  close (sockets[1]);
  grove_test_read_until (sockets[0], seen, "on-tty");
  g_assert_nonnull (strstr (seen->str, "33 77\r\n"));
  g_assert_true (grove_exec_session_resize (session, 40, 100, &error));
  g_assert_no_error (error);
  g_assert_cmpint (write (sockets[0], "\n", 1), ==, 1);
  grove_test_read_until (sockets[0], seen, "40 100\r\n");
  wait_session_exited (session, 20);
  g_assert_cmpint (grove_exec_session_get_exit_code (session), ==, 3);
  g_assert_false (grove_exec_session_resize (session, 1, 1, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_WRONG_STATE);
  close (sockets[0]);
}

/* kill, a command that does not exist, and a dropped session taking its process along */
static void
exec_kill_and_errors (Fixture *fx, const char *container_id)
{
  const char *sleep_argv[] = { "/bin/sleep", "1000", NULL };
  const char *missing_argv[] = { "/no/such/program", NULL };
  GroveExecOptions options
      = { .argv = sleep_argv, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };
  g_autoptr (GroveExecSession) session = NULL;
  g_autoptr (GError) error = NULL;
  GroveExecSession *weak = NULL;
  gint64 deadline = 0;
  int pid = 0;

  session = exec_start (fx, container_id, &options, &error);
  g_assert_no_error (error);
  g_assert_false (grove_exec_session_resize (session, 10, 10, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (grove_exec_session_kill (session, SIGKILL, &error));
  g_assert_no_error (error);
  wait_session_exited (session, 20);
  g_assert_cmpint (grove_exec_session_get_exit_code (session), ==, 137);
  g_clear_object (&session);

  /* the session lives on without the caller's reference, until the process ends */
  session = exec_start (fx, container_id, &options, &error);
  g_assert_no_error (error);
  pid = grove_exec_session_get_pid (session);
  weak = session;
  g_object_add_weak_pointer (G_OBJECT (weak), (gpointer *)&weak);
  g_clear_object (&session);
  g_assert_nonnull (weak);
  g_assert_true (grove_exec_session_kill (weak, SIGTERM, &error));
  g_assert_no_error (error);
  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (weak != NULL)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (5000);
    }
  g_assert_cmpint (kill (pid, 0), ==, -1);

  options.argv = missing_argv;
  g_assert_null (exec_start (fx, container_id, &options, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "/no/such/program"));
  g_clear_error (&error);
  g_assert_null (exec_start (fx, "no-such-container", &options, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_assert_cmpuint (count_exec_dirs (fx, container_id), ==, 0);
}

static void
test_exec_session (Fixture *fx, gconstpointer data)
{
  g_autoptr (JsonObject) config = NULL;
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GroveContainer) container = NULL;
  const char *argv[] = { "/bin/true", NULL };
  GroveExecOptions options = { .argv = argv, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };
  g_autoptr (GError) error = NULL;

  if (fx->engine == NULL)
    return;
  if (data != NULL && g_find_program_in_path (data) == NULL)
    {
      g_test_skip ("crun is not installed");
      return;
    }
  config = pod_config ("exec", NULL);
  pod = grove_test_run_pod (fx->engine, config, data);
  container = create_container (fx, pod, "shell", "exec sleep 1000", NULL);
  g_assert_null (exec_start (fx, grove_container_get_id (container), &options, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_WRONG_STATE);
  g_clear_error (&error);
  start_container (fx, container);
  exec_pipes (fx, grove_container_get_id (container));
  exec_tty (fx, grove_container_get_id (container));
  exec_kill_and_errors (fx, grove_container_get_id (container));
  stop_container (fx, container, 1);
}

static GPtrArray *
container_stats (Fixture *fx, GroveContainer *container)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GPtrArray) containers = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  GPtrArray *stats = NULL;

  g_ptr_array_add (containers, container);
  grove_engine_container_stats_async (fx->engine, containers, NULL, grove_test_result_cb, &result);
  stats
      = grove_engine_container_stats_finish (fx->engine, grove_test_wait_result (&result), &error);
  g_assert_no_error (error);
  return stats;
}

/* CPU and memory from the cgroup while it runs, the writable layer's size always */
static void
test_stats (Fixture *fx, gconstpointer data)
{
  g_autoptr (JsonObject) config = NULL;
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GroveContainer) container = NULL;
  g_autoptr (GPtrArray) stats = NULL;
  GroveContainerStats *one = NULL;

  if (fx->engine == NULL)
    return;
  config = pod_config ("stats", NULL);
  pod = grove_test_run_pod (fx->engine, config, NULL);
  container = create_container (
      fx, pod, "busy",
      "dd if=/dev/zero of=/blob bs=1024 count=3072 2>/dev/null; mkdir /d1 /d2; "
      "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo ready; exec sleep 1000",
      NULL);
  stats = container_stats (fx, container);
  g_assert_cmpuint (stats->len, ==, 1);
  one = stats->pdata[0];
  g_assert_false (one->have_cgroup);
  g_assert_cmpuint (one->writable_inodes, ==, 1);
  g_clear_pointer (&stats, g_ptr_array_unref);

  start_container (fx, container);
  wait_log (container, "stdout:ready\n");
  stats = container_stats (fx, container);
  g_assert_cmpuint (stats->len, ==, 1);
  one = stats->pdata[0];
  g_assert_cmpstr (one->container_id, ==, grove_container_get_id (container));
  g_assert_true (one->have_cgroup);
  g_test_message ("cpu %" G_GUINT64_FORMAT " ns, working set %" G_GUINT64_FORMAT
                  " bytes, writable %" G_GUINT64_FORMAT " bytes in %" G_GUINT64_FORMAT " inodes",
                  one->cgroup.cpu_usage_ns, one->cgroup.memory_working_set_bytes,
                  one->writable_bytes, one->writable_inodes);
  g_assert_cmpuint (one->cgroup.cpu_usage_ns, >, 1000000);
  g_assert_cmpuint (one->cgroup.memory_working_set_bytes, >, 0);
  g_assert_cmpuint (one->cgroup.memory_usage_bytes, >=, one->cgroup.memory_working_set_bytes);
  g_assert_cmpuint (one->cgroup.pids, >=, 1);
  g_assert_cmpuint (one->writable_bytes, >=, 3072 * 1024);
  g_assert_cmpuint (one->writable_bytes, <, 8 * 1024 * 1024);
  g_assert_cmpuint (one->writable_inodes, >=, 4);
  g_assert_cmpint (one->timestamp, >, 0);
  g_clear_pointer (&stats, g_ptr_array_unref);

  stop_container (fx, container, 1);
  stats = container_stats (fx, container);
  g_assert_cmpuint (stats->len, ==, 1);
  one = stats->pdata[0];
  g_assert_false (one->have_cgroup);
  g_assert_cmpuint (one->writable_bytes, >=, 3072 * 1024);
}

static gboolean
update_resources (Fixture *fx, const char *id, const char *json, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (JsonObject) resources = parse (json);

  grove_engine_update_container_resources_async (fx->engine, id, resources, NULL,
                                                 grove_test_result_cb, &result);
  return grove_engine_update_container_resources_finish (fx->engine,
                                                         grove_test_wait_result (&result), error);
}

static char *
cgroup_value (const char *controller, const char *cgroups_path, const char *file)
{
  g_autofree char *path = g_build_filename ("/sys/fs/cgroup", controller, cgroups_path, file, NULL);
  g_autofree char *text = read_text (path);

  return g_strdup (g_strstrip (text));
}

/* UpdateContainerResources: the cgroup, config.json and the record follow */
static void
test_update_resources (Fixture *fx, gconstpointer data)
{
  g_autoptr (JsonObject) config = NULL;
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GroveContainer) container = NULL;
  g_autoptr (GroveContainer) updated = NULL;
  g_autoptr (JsonObject) spec = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *memory = NULL;
  g_autofree char *quota = NULL;
  const char *cgroups_path = NULL;
  const char *id = NULL;

  if (fx->engine == NULL)
    return;
  if (data != NULL && g_find_program_in_path (data) == NULL)
    {
      g_test_skip ("crun is not installed");
      return;
    }
  config = pod_config ("update", NULL);
  pod = grove_test_run_pod (fx->engine, config, data);
  container = create_container (fx, pod, "limited", "exec sleep 1000", NULL);
  id = grove_container_get_id (container);
  start_container (fx, container);
  g_assert_true (update_resources (
      fx, id, "{\"memoryLimitInBytes\": 67108864, \"cpuQuota\": 50000, \"cpuPeriod\": 100000}",
      &error));
  g_assert_no_error (error);
  spec = read_spec (fx, id);
  cgroups_path = grove_record_path_string (spec, "linux.cgroupsPath");
  memory = cgroup_value ("memory", cgroups_path, "memory.limit_in_bytes");
  quota = cgroup_value ("cpu", cgroups_path, "cpu.cfs_quota_us");
  g_assert_cmpstr (memory, ==, "67108864");
  g_assert_cmpstr (quota, ==, "50000");
  g_assert_cmpint (
      json_object_get_int_member (
          grove_record_object (
              grove_record_object (grove_record_object (spec, "linux"), "resources"), "memory"),
          "limit"),
      ==, 67108864);
  updated = grove_engine_get_container (fx->engine, id, &error);
  g_assert_no_error (error);
  g_assert_cmpint (
      grove_record_int (
          grove_record_object (grove_record_object (grove_container_get_config (updated), "linux"),
                               "resources"),
          "cpuQuota", 0),
      ==, 50000);

  g_assert_false (update_resources (fx, id, "{\"memoryLimitInBytes\": -5}", &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (update_resources (fx, "no-such-container", "{}", &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  stop_container (fx, container, 1);
  g_assert_false (update_resources (fx, id, "{\"cpuShares\": 512}", &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_WRONG_STATE);
}

/* attach to a container's own stdio: its output comes, stdin goes in, detach leaves it running */
static void
test_attach (Fixture *fx, gconstpointer data)
{
  g_autoptr (JsonObject) config = NULL;
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GroveContainer) container = NULL;
  g_autoptr (GroveExecSession) session = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  GroveExecOptions options = { .stderr_fd = -1 };
  int in[2], out[2];

  if (fx->engine == NULL)
    return;
  config = pod_config ("attach", NULL);
  pod = grove_test_run_pod (fx->engine, config, NULL);
  container = create_container (fx, pod, "echoer",
                                "echo started; while read line; do echo got:$line; done",
                                "\"stdin\": true");
  start_container (fx, container);
  wait_log (container, "stdout:started\n");
  g_assert_true (g_unix_open_pipe (in, FD_CLOEXEC, NULL));
  g_assert_true (g_unix_open_pipe (out, FD_CLOEXEC, NULL));
  options.stdin_fd = in[0];
  options.stdout_fd = out[1];
  session = grove_engine_attach (fx->engine, grove_container_get_id (container), &options, &error);
  g_assert_no_error (error);
  close (in[0]);
  close (out[1]);
  g_assert_false (grove_exec_session_kill (session, SIGTERM, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_cmpint (write (in[1], "one\n", 4), ==, 4);
  grove_test_read_until (out[0], seen, "got:one\n");
  grove_exec_session_detach (session);
  g_assert_cmpint (grove_exec_session_get_state (session), ==, GROVE_EXEC_STATE_EXITED);
  /* the container runs on, and a second attach works */
  g_assert_cmpint (grove_container_get_state (container), ==, GROVE_CONTAINER_STATE_RUNNING);
  g_clear_object (&session);
  close (in[1]);
  close (out[0]);
  g_assert_true (g_unix_open_pipe (in, FD_CLOEXEC, NULL));
  g_assert_true (g_unix_open_pipe (out, FD_CLOEXEC, NULL));
  options.stdin_fd = in[0];
  options.stdout_fd = out[1];
  session = grove_engine_attach (fx->engine, grove_container_get_id (container), &options, &error);
  g_assert_no_error (error);
  close (in[0]);
  close (out[1]);
  g_string_truncate (seen, 0);
  g_assert_cmpint (write (in[1], "two\n", 4), ==, 4);
  grove_test_read_until (out[0], seen, "got:two\n");
  /* the container ending ends the session */
  stop_container (fx, container, 1);
  while (grove_exec_session_get_state (session) != GROVE_EXEC_STATE_EXITED)
    g_main_context_iteration (NULL, TRUE);
  close (in[1]);
  close (out[0]);
  g_assert_null (
      grove_engine_attach (fx->engine, grove_container_get_id (container), &options, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_WRONG_STATE);
}

/* filters by ID prefix, state and labels; log rotation; an OOM kill says so */
static void
test_list_log_oom (Fixture *fx, gconstpointer data)
{
  g_autoptr (JsonObject) config_a = NULL;
  g_autoptr (JsonObject) config_b = NULL;
  g_autoptr (GrovePod) a = NULL;
  g_autoptr (GrovePod) b = NULL;
  g_autoptr (GroveContainer) talker = NULL;
  g_autoptr (GroveContainer) hog = NULL;
  g_autoptr (GPtrArray) listed = NULL;
  g_autoptr (GHashTable) labels = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) error = NULL;
  g_autofree char *rotated = NULL;
  g_autofree char *prefix = NULL;
  GroveListFilter filter = { NULL, NULL, -1, NULL };

  if (fx->engine == NULL)
    return;
  config_a = pod_config ("alpha", NULL);
  config_b = pod_config ("beta", NULL);
  a = grove_test_run_pod (fx->engine, config_a, NULL);
  b = grove_test_run_pod (fx->engine, config_b, NULL);
  g_hash_table_insert (labels, "app", "beta");
  filter.labels = labels;
  listed = grove_engine_list_pods (fx->engine, &filter);
  g_assert_cmpuint (listed->len, ==, 1);
  g_assert_cmpstr (grove_pod_get_id (listed->pdata[0]), ==, grove_pod_get_id (b));
  g_clear_pointer (&listed, g_ptr_array_unref);
  prefix = g_strndup (grove_pod_get_id (a), 8);
  filter.labels = NULL;
  filter.id = prefix;
  filter.state = GROVE_POD_STATE_READY;
  listed = grove_engine_list_pods (fx->engine, &filter);
  g_assert_cmpuint (listed->len, ==, 1);
  g_clear_pointer (&listed, g_ptr_array_unref);
  filter.id = NULL;
  filter.state = GROVE_POD_STATE_NOTREADY;
  listed = grove_engine_list_pods (fx->engine, &filter);
  g_assert_cmpuint (listed->len, ==, 0);

  /* a duplicate pod name is refused */
  {
    g_autoptr (GAsyncResult) result = NULL;
    grove_engine_run_pod_async (fx->engine, config_a, NULL, NULL, grove_test_result_cb, &result);
    g_assert_null (
        grove_engine_run_pod_finish (fx->engine, grove_test_wait_result (&result), &error));
    g_assert_error (error, GROVE_ERROR, GROVE_ERROR_ALREADY_EXISTS);
    g_clear_error (&error);
  }

  /* log rotation: after reopen, new output goes to a new file at the old path */
  talker = create_container (fx, a, "talker",
                             "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done", NULL);
  start_container (fx, talker);
  wait_log (talker, "stdout:line 1\n");
  rotated = g_strdup_printf ("%s.1", grove_container_get_log_path (talker));
  g_assert_cmpint (rename (grove_container_get_log_path (talker), rotated), ==, 0);
  g_assert_true (grove_engine_reopen_log (fx->engine, grove_container_get_id (talker), &error));
  g_assert_no_error (error);
  wait_log (talker, "stdout:line");
  g_assert_true (g_file_test (rotated, G_FILE_TEST_EXISTS));

  /* a container over its memory limit is killed, and the reason says so */
  hog = create_container (fx, b, "hog", "dd if=/dev/zero of=/dev/null bs=100M count=1",
                          "\"linux\":{\"resources\":{\"memoryLimitInBytes\":\"16777216\"}}");
  start_container (fx, hog);
  wait_exited (hog, 60);
  g_test_message ("hog: exit %d, reason %s", grove_container_get_exit_code (hog),
                  grove_container_get_reason (hog));
  g_assert_cmpint (grove_container_get_exit_code (hog), !=, 0);
  g_assert_cmpstr (grove_container_get_reason (hog), ==, "OOMKilled");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, data, func)                                                                      \
  g_test_add ("/grove/engine/" name, Fixture, data, fixture_setup, func, fixture_teardown)
  ADD ("pod-two-containers", NULL, test_pod_two_containers);
  ADD ("trusted-runtime", "recorded", test_trusted_runtime);
  ADD ("stop-and-exec", NULL, test_stop_and_exec);
  ADD ("remove-twice", NULL, test_remove_twice);
  ADD ("recovery", NULL, test_recovery);
  ADD ("crun", NULL, test_crun);
  ADD ("list-log-oom", NULL, test_list_log_oom);
  ADD ("exec-session", NULL, test_exec_session);
  ADD ("stats", NULL, test_stats);
  ADD ("attach", NULL, test_attach);
  ADD ("update-resources", NULL, test_update_resources);
  ADD ("update-resources-crun", "crun", test_update_resources);
  ADD ("exec-session-crun", "crun", test_exec_session);
  return g_test_run ();
}
