/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestCni"

/*
 * Pod networking through the real CNI plugins (bridge, host-local, portmap, loopback), with
 * real pods. The whole program runs in a network namespace of its own (unshare at start),
 * so the bridges, veths and iptables rules it makes live there and vanish with it; each test
 * has its own bridge, subnet (10.88.N.0/24), config dir and host-local dataDir.
 */

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "grove-cni.h"
#include "grove-engine.h"
#include "grove-netns.h"
#include "grove-record.h"
#include "grove-test-utils.h"
#include "grove-utils.h"

#define NETWORK_NAME "grove-test"
#define N_MANY 30

typedef struct
{
  char *tmpdir;
  char *cgroup_parent;
  char *conf_dir;
  char *plugin_dir;
  char *data_dir;
  guint subnet;
  GroveStore *store;
  GroveEngine *engine;
} Fixture;

static GroveEngine *
new_engine (Fixture *fx)
{
  const char *const plugin_dirs[] = { fx->plugin_dir, "/usr/lib/cni", NULL };
  GroveEngineOptions options = { 0 };

  options.cgroup_parent = fx->cgroup_parent;
  options.cni_conf_dir = fx->conf_dir;
  options.cni_plugin_dirs = plugin_dirs;
  return grove_test_new_engine_full (fx->store, fx->tmpdir, &options, NULL);
}

static void
write_file (const char *path, const char *text, mode_t mode)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (chmod (path, mode), ==, 0);
}

/* a bridge + host-local (+ portmap) list of this test's own; @extra: one more plugin */
static void
write_network (Fixture *fx, const char *name, const char *extra)
{
  g_autofree char *path = g_build_filename (fx->conf_dir, name, NULL);
  g_autofree char *text = g_strdup_printf (
      "{\"cniVersion\":\"1.0.0\",\"name\":\"" NETWORK_NAME "\",\"plugins\":["
      "{\"type\":\"bridge\",\"bridge\":\"gt%u\",\"isGateway\":true,\"ipMasq\":true,"
      "\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"%s\","
      "\"ranges\":[[{\"subnet\":\"10.88.%u.0/24\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}},"
      "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}%s%s]}",
      fx->subnet, fx->data_dir, fx->subnet, extra ? "," : "", extra ? extra : "");

  write_file (path, text, 0644);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  if (!grove_test_is_root () || g_find_program_in_path ("conmon") == NULL
      || !g_file_test ("/usr/lib/cni/bridge", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("needs root, conmon and the CNI plugins in /usr/lib/cni");
      return;
    }
  fx->tmpdir = grove_test_make_tmpdir ();
  fx->cgroup_parent = g_strdup_printf ("/grove-test-%d", (int)getpid ());
  fx->conf_dir = g_build_filename (fx->tmpdir, "net.d", NULL);
  fx->plugin_dir = g_build_filename (fx->tmpdir, "plugins", NULL);
  fx->data_dir = g_build_filename (fx->tmpdir, "ipam", NULL);
  fx->subnet = GPOINTER_TO_UINT (data);
  g_assert_cmpint (g_mkdir (fx->conf_dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (fx->plugin_dir, 0755), ==, 0);
  write_network (fx, "10-test.conflist", NULL);
  fx->store = grove_test_open_store_with_busybox (fx->tmpdir);
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
  g_clear_pointer (&fx->conf_dir, g_free);
  g_clear_pointer (&fx->plugin_dir, g_free);
  g_clear_pointer (&fx->data_dir, g_free);
}

static JsonObject *
pod_config (const char *name, const char *extra)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *json = g_strdup_printf (
      "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"uid\":\"uid-%s\"},"
      "\"hostname\":\"%s\",\"dnsConfig\":{\"servers\":[\"10.0.0.53\"],"
      "\"searches\":[\"svc.test\"],\"options\":[\"ndots:2\"]}%s%s}",
      name, name, name, extra ? "," : "", extra ? extra : "");
  JsonObject *object = grove_record_parse (json, -1, "test JSON", &error);

  g_assert_no_error (error);
  return object;
}

static GrovePod *
run_pod_result (Fixture *fx, JsonObject *config, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  grove_engine_run_pod_async (fx->engine, config, NULL, NULL, grove_test_result_cb, &result);
  return grove_engine_run_pod_finish (fx->engine, grove_test_wait_result (&result), error);
}

static GroveContainer *
start_container (Fixture *fx, GrovePod *pod, const char *name, const char *script)
{
  g_autoptr (GAsyncResult) created = NULL;
  g_autoptr (GAsyncResult) started = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *escaped = g_strescape (script, NULL);
  g_autofree char *json = g_strdup_printf (
      "{\"metadata\":{\"name\":\"%s\"},\"image\":{\"image\":\"localhost/busybox:latest\"},"
      "\"command\":[\"/bin/sh\",\"-c\",\"%s\"],\"logPath\":\"%s/%s.log\"}",
      name, escaped, fx->tmpdir, name);
  g_autoptr (JsonObject) config = grove_record_parse (json, -1, "test JSON", &error);
  g_autoptr (GroveContainer) container = NULL;

  g_assert_no_error (error);
  grove_engine_create_container_async (fx->engine, grove_pod_get_id (pod), config, NULL,
                                       grove_test_result_cb, &created);
  container = grove_engine_create_container_finish (fx->engine, grove_test_wait_result (&created),
                                                    &error);
  g_assert_no_error (error);
  grove_engine_start_container_async (fx->engine, grove_container_get_id (container), NULL,
                                      grove_test_result_cb, &started);
  grove_engine_start_container_finish (fx->engine, grove_test_wait_result (&started), &error);
  g_assert_no_error (error);
  return g_steal_pointer (&container);
}

/* runs @script in @container; its stdout, after asserting it exited 0 */
static char *
command_output (const char *first_arg, ...)
{
  g_autofree char *out = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  int status = 0;
  va_list args;

  va_start (args, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer)arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  g_spawn_sync (NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL,
                &status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  return g_steal_pointer (&out);
}

static guint
count_lines (const char *text, const char *containing)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint n = 0;

  for (guint i = 0; lines[i] != NULL; i++)
    if (lines[i][0] != '\0' && lines[i][0] != '#' && strstr (lines[i], containing) != NULL)
      n++;
  return n;
}

static guint
count_entries (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  guint n = 0;

  while (dir != NULL && g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* what pods leave in this namespace: links, rules, addresses held, namespaces */
typedef struct
{
  guint links;
  guint veths;
  guint rules;
  guint addresses;
  guint netns;
} Footprint;

static void
take_footprint (Fixture *fx, Footprint *out)
{
  g_autofree char *links = command_output ("ip", "-o", "link", "show", NULL);
  g_autofree char *veths = command_output ("ip", "-o", "link", "show", "type", "veth", NULL);
  g_autofree char *rules = command_output ("iptables-save", NULL);
  g_autofree char *ipam = g_build_filename (fx->data_dir, NETWORK_NAME, NULL);
  g_autofree char *netns = g_build_filename (fx->tmpdir, "run", "netns", NULL);
  g_autoptr (GDir) dir = g_dir_open (ipam, 0, NULL);
  const char *entry;

  out->links = count_lines (links, "");
  out->veths = count_lines (veths, "");
  /* the table headers and chain policies carry packet counters: count rules and chains */
  out->rules = count_lines (rules, "-A ") + count_lines (rules, ":CNI-");
  out->addresses = 0;
  while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
    out->addresses += g_hostname_is_ip_address (entry) ? 1 : 0;
  out->netns = count_entries (netns);
}

static void
assert_footprint (Fixture *fx, const Footprint *before)
{
  Footprint after;

  take_footprint (fx, &after);
  g_assert_cmpuint (after.links, ==, before->links);
  g_assert_cmpuint (after.veths, ==, before->veths);
  g_assert_cmpuint (after.rules, ==, before->rules);
  g_assert_cmpuint (after.addresses, ==, before->addresses);
  g_assert_cmpuint (after.netns, ==, before->netns);
}

static void
assert_ip_in_subnet (Fixture *fx, GrovePod *pod)
{
  g_auto (GStrv) ips = grove_pod_get_ips (pod);
  g_autofree char *prefix = g_strdup_printf ("10.88.%u.", fx->subnet);

  g_assert_cmpuint (g_strv_length (ips), ==, 1);
  g_assert_true (g_str_has_prefix (ips[0], prefix));
}

static void
warm_up (Fixture *fx, Footprint *before)
{
  g_autoptr (JsonObject) config = pod_config ("warm-up", NULL);
  g_autoptr (GrovePod) pod = grove_test_run_pod (fx->engine, config, NULL);

  grove_test_remove_pod (fx->engine, grove_pod_get_id (pod));
  take_footprint (fx, before);
}

/* an HTTP GET from this (the host's) namespace to @address:@port; the answer */
static char *
http_get (const char *address, guint16 port)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnection) connection = NULL;
  g_autoptr (GError) error = NULL;
  const char request[] = "GET / HTTP/1.0\r\n\r\n";
  char buffer[4096] = { 0 };
  gsize got = 0;

  g_socket_client_set_timeout (client, 10);
  connection = g_socket_client_connect_to_host (client, address, port, NULL, &error);
  g_assert_no_error (error);
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)), request,
                             strlen (request), NULL, NULL, &error);
  g_assert_no_error (error);
  g_input_stream_read_all (g_io_stream_get_input_stream (G_IO_STREAM (connection)), buffer,
                           sizeof buffer - 1, &got, NULL, &error);
  g_assert_no_error (error);
  return g_strndup (buffer, got);
}

#define SERVE_SCRIPT                                                                               \
  "mkdir -p /www && echo hello-from-$(hostname) > /www/index.html && exec httpd -f -p 8080 -h "    \
  "/www"
#define WAIT_SCRIPT "for i in $(seq 100); do %s && exit 0; sleep 0.1; done; exit 1"

static void
test_two_pods (Fixture *fx, gconstpointer data)
{
  g_autoptr (JsonObject) server_config = NULL;
  g_autoptr (JsonObject) client_config = pod_config ("client", NULL);
  g_autoptr (GrovePod) server = NULL;
  g_autoptr (GrovePod) client = NULL;
  g_autoptr (GroveContainer) httpd = NULL;
  g_autoptr (GroveContainer) shell = NULL;
  g_auto (GStrv) server_ips = NULL;
  g_auto (GStrv) client_ips = NULL;
  g_autofree char *get = NULL;
  g_autofree char *script = NULL;
  g_autofree char *page = NULL;
  g_autofree char *resolv = NULL;
  g_autofree char *gateway = g_strdup_printf ("10.88.%u.1", fx->subnet);
  g_autofree char *answer = NULL;

  if (fx->engine == NULL)
    return;
  server_config = pod_config ("server", "\"portMappings\":[{\"protocol\":\"TCP\","
                                        "\"containerPort\":8080,\"hostPort\":18080}]");
  server = grove_test_run_pod (fx->engine, server_config, NULL);
  client = grove_test_run_pod (fx->engine, client_config, NULL);
  assert_ip_in_subnet (fx, server);
  assert_ip_in_subnet (fx, client);
  server_ips = grove_pod_get_ips (server);
  client_ips = grove_pod_get_ips (client);
  g_assert_cmpstr (server_ips[0], !=, client_ips[0]);

  /* pod to pod over the bridge */
  httpd = start_container (fx, server, "httpd", SERVE_SCRIPT);
  shell = start_container (fx, client, "shell", "exec sleep 600");
  get = g_strdup_printf ("wget -q -O - http://%s:8080/", server_ips[0]);
  script = g_strdup_printf (WAIT_SCRIPT, get);
  page = grove_test_exec_output (fx->engine, shell, script);
  g_assert_cmpstr (page, ==, "hello-from-server\n");

  /* the host port, from this namespace, to the bridge's address (portmap's DNAT) */
  answer = http_get (gateway, 18080);
  g_assert_nonnull (strstr (answer, "hello-from-server"));

  /* DNS options reach resolv.conf */
  resolv = grove_test_exec_output (fx->engine, httpd, "cat /etc/resolv.conf");
  g_assert_nonnull (strstr (resolv, "nameserver 10.0.0.53"));
  g_assert_nonnull (strstr (resolv, "search svc.test"));
  g_assert_nonnull (strstr (resolv, "options ndots:2"));
}

static void
test_stop_detaches (Fixture *fx, gconstpointer data)
{
  g_autoptr (JsonObject) config = NULL;
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GrovePod) stopped = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) ips = NULL;
  g_autofree char *attachment = NULL;
  g_autofree char *text = NULL;
  g_autofree char *rules = NULL;
  Footprint before;

  if (fx->engine == NULL)
    return;
  /* the bridge is made by the first pod and stays: count from after it */
  warm_up (fx, &before);
  config = pod_config ("ported", "\"portMappings\":[{\"protocol\":\"UDP\","
                                 "\"containerPort\":53,\"hostPort\":10053}]");
  pod = grove_test_run_pod (fx->engine, config, NULL);
  attachment = g_build_filename (fx->tmpdir, "state", "pods", grove_pod_get_id (pod),
                                 "network.json", NULL);
  g_file_get_contents (attachment, &text, NULL, &error);
  g_assert_no_error (error);
  /* the exact ADD input is kept: the port mapping in portmap's form, the netns, the args */
  g_assert_nonnull (strstr (text, "\"hostPort\" : 10053"));
  g_assert_nonnull (strstr (text, "\"protocol\" : \"udp\""));
  g_assert_nonnull (strstr (text, "K8S_POD_NAME=ported"));
  rules = command_output ("iptables-save", "-t", "nat", NULL);
  g_assert_cmpuint (count_lines (rules, "10053"), >, 0);

  grove_test_stop_pod (fx->engine, grove_pod_get_id (pod));
  stopped = grove_engine_get_pod (fx->engine, grove_pod_get_id (pod), &error);
  g_assert_no_error (error);
  ips = grove_pod_get_ips (stopped);
  g_assert_cmpuint (g_strv_length (ips), ==, 0);
  g_assert_false (g_file_test (attachment, G_FILE_TEST_EXISTS));
  assert_footprint (fx, &before);
  /* a second stop is harmless */
  grove_test_stop_pod (fx->engine, grove_pod_get_id (pod));
  grove_test_remove_pod (fx->engine, grove_pod_get_id (pod));
  assert_footprint (fx, &before);
}

/* 30 pods, each with a host port, then removed: nothing is left. One after the other:
 * started all at once, the engine's conmon/runtime waits (grove_runtime_create_sync) can
 * hang under load, which is not what this test is about. */
static void
test_many_pods (Fixture *fx, gconstpointer data)
{
  g_autoptr (GHashTable) ips = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) pods = g_ptr_array_new_with_free_func (g_object_unref);
  Footprint before;
  Footprint during;

  if (fx->engine == NULL)
    return;
  warm_up (fx, &before);
  for (guint i = 0; i < N_MANY; i++)
    {
      g_autofree char *name = g_strdup_printf ("many-%u", i);
      g_autofree char *ports = g_strdup_printf (
          "\"portMappings\":[{\"containerPort\":80,\"hostPort\":%u}]", 21000 + i);
      g_autoptr (JsonObject) config = pod_config (name, ports);
      GrovePod *pod = grove_test_run_pod (fx->engine, config, NULL);
      g_auto (GStrv) pod_ips = grove_pod_get_ips (pod);

      g_ptr_array_add (pods, pod);
      assert_ip_in_subnet (fx, pod);
      g_assert_true (g_hash_table_add (ips, g_strdup (pod_ips[0])));
    }
  take_footprint (fx, &during);
  g_assert_cmpuint (during.veths, ==, before.veths + N_MANY);
  g_assert_cmpuint (during.addresses, ==, before.addresses + N_MANY);
  g_assert_cmpuint (during.netns, ==, before.netns + N_MANY);
  g_assert_cmpuint (during.rules, >, before.rules + N_MANY);
  for (guint i = 0; i < pods->len; i++)
    grove_test_remove_pod (fx->engine, grove_pod_get_id (pods->pdata[i]));
  assert_footprint (fx, &before);
}

/* nothing of a pod is left: no record, dirs, namespace, address */
static void
assert_no_pods_left (Fixture *fx)
{
  g_autofree char *pods = g_build_filename (fx->tmpdir, "state", "pods", NULL);
  g_autofree char *containers = g_build_filename (fx->tmpdir, "state", "containers", NULL);
  g_autofree char *netns = g_build_filename (fx->tmpdir, "run", "netns", NULL);
  g_autoptr (GPtrArray) listed = grove_engine_list_pods (fx->engine, NULL);
  g_autofree char *veths = command_output ("ip", "-o", "link", "show", "type", "veth", NULL);
  g_autofree char *ipam = g_build_filename (fx->data_dir, NETWORK_NAME, NULL);
  g_autoptr (GDir) dir = g_dir_open (ipam, 0, NULL);
  const char *entry;

  g_assert_cmpuint (listed->len, ==, 0);
  g_assert_cmpuint (count_entries (pods), ==, 0);
  g_assert_cmpuint (count_entries (containers), ==, 0);
  g_assert_cmpuint (count_entries (netns), ==, 0);
  g_assert_cmpuint (count_lines (veths, ""), ==, 0);
  while (dir != NULL && (entry = g_dir_read_name (dir)) != NULL)
    g_assert_false (g_hostname_is_ip_address (entry));
}

static void
assert_not_ready (Fixture *fx, const char *expected)
{
  gboolean ready = TRUE;
  g_autofree char *reason = NULL;
  g_autofree char *message = NULL;

  grove_engine_get_network_status (fx->engine, &ready, &reason, &message);
  g_assert_false (ready);
  g_assert_cmpstr (reason, ==, "NetworkPluginNotReady");
  g_test_message ("not ready: %s", message);
  g_assert_nonnull (strstr (message, expected));
}

static void
assert_pod_fails (Fixture *fx, const char *name, const char *expected)
{
  g_autoptr (JsonObject) config = pod_config (name, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GrovePod) pod = run_pod_result (fx, config, &error);

  g_assert_null (pod);
  g_assert_nonnull (error);
  g_test_message ("failed as expected: %s", error->message);
  g_assert_nonnull (strstr (error->message, expected));
  assert_no_pods_left (fx);
}

static void
test_broken_config (Fixture *fx, gconstpointer data)
{
  g_autofree char *path = NULL;

  if (fx->engine == NULL)
    return;
  /* sorts before the good one, so it is the one used */
  path = g_build_filename (fx->conf_dir, "05-broken.conflist", NULL);
  write_file (path, "{\"cniVersion\": \"1.0.0\", \"name\": ", 0644);
  assert_not_ready (fx, path);
  assert_pod_fails (fx, "broken", path);
  write_file (path, "{\"cniVersion\":\"1.1.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"bridge\"}]}",
              0644);
  assert_not_ready (fx, "cniVersion 1.1.0 is not supported");
  assert_pod_fails (fx, "too-new", "cniVersion 1.1.0 is not supported");
  write_file (path, "{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"plugins\":[{\"type\":\"nosuch\"}]}",
              0644);
  assert_not_ready (fx, "CNI plugin 'nosuch' not found");
  assert_pod_fails (fx, "missing-plugin", "CNI plugin 'nosuch' not found");
}

/* bridge and host-local succeed, then the third plugin fails: DEL undoes the first two */
static void
test_failing_plugin (Fixture *fx, gconstpointer data)
{
  g_autofree char *plugin = g_build_filename (fx->plugin_dir, "grove-test-fail", NULL);
  g_autofree char *conf = g_build_filename (fx->conf_dir, "10-test.conflist", NULL);
  g_autofree char *rules = NULL;
  gboolean ready = FALSE;

  if (fx->engine == NULL)
    return;
  write_file (plugin,
              "#!/bin/sh\n"
              "# SPDX-License-Identifier: LGPL-2.1-or-later\n"
              "# a CNI plugin whose ADD always fails with the spec's error object\n"
              "cat > /dev/null\n"
              "[ \"$CNI_COMMAND\" = ADD ] || exit 0\n"
              "echo '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"no luck today\","
              "\"details\":\"the test plugin always fails\"}'\n"
              "exit 1\n",
              0755);
  unlink (conf);
  write_network (fx, "10-test.conflist", "{\"type\":\"grove-test-fail\"}");
  grove_engine_get_network_status (fx->engine, &ready, NULL, NULL);
  g_assert_true (ready);
  assert_pod_fails (fx, "unlucky",
                    "CNI plugin grove-test-fail (ADD, network " NETWORK_NAME
                    "): no luck today: the test plugin always fails (code 11)");
  /* bridge's masquerade chain of the pod is gone (portmap's CNI-HOSTPORT-* are shared) */
  rules = command_output ("iptables-save", "-t", "nat", NULL);
  g_assert_cmpuint (count_lines (rules, ":CNI-"), ==, count_lines (rules, ":CNI-HOSTPORT-"));
}

/* no config: not ready, pods get loopback only; host-network pods never use CNI */
static void
test_status_and_host_network (Fixture *fx, gconstpointer data)
{
  g_autofree char *conf = g_build_filename (fx->conf_dir, "10-test.conflist", NULL);
  g_autoptr (JsonObject) isolated_config = pod_config ("isolated", NULL);
  g_autoptr (JsonObject) host_config = NULL;
  g_autoptr (GrovePod) isolated = NULL;
  g_autoptr (GrovePod) host = NULL;
  g_auto (GStrv) isolated_ips = NULL;
  g_auto (GStrv) host_ips = NULL;
  g_autofree char *message = NULL;
  gboolean ready = FALSE;
  Footprint before;

  if (fx->engine == NULL)
    return;
  g_assert_cmpint (unlink (conf), ==, 0);
  assert_not_ready (fx, "no CNI network config");
  take_footprint (fx, &before);
  isolated = grove_test_run_pod (fx->engine, isolated_config, NULL);
  isolated_ips = grove_pod_get_ips (isolated);
  g_assert_cmpuint (g_strv_length (isolated_ips), ==, 0);
  g_assert_nonnull (grove_pod_get_netns_path (isolated));

  /* a config that appears is seen at the next call */
  write_network (fx, "10-test.conflist", NULL);
  grove_engine_get_network_status (fx->engine, &ready, NULL, &message);
  g_assert_true (ready);
  g_assert_null (message);
  host_config = pod_config (
      "host", "\"linux\":{\"securityContext\":{\"namespaceOptions\":{\"network\":\"NODE\"}}}");
  host = grove_test_run_pod (fx->engine, host_config, NULL);
  host_ips = grove_pod_get_ips (host);
  g_assert_cmpuint (g_strv_length (host_ips), ==, 0);
  g_assert_null (grove_pod_get_netns_path (host));
  grove_test_remove_pod (fx->engine, grove_pod_get_id (isolated));
  grove_test_remove_pod (fx->engine, grove_pod_get_id (host));
  assert_footprint (fx, &before);
}

/* what a groved killed half-way through leaves: a namespace and an address of a pod that
 * has no record any more */
static void
make_stray_attachment (Fixture *fx, const char *id)
{
  g_autofree char *netns = g_build_filename (fx->tmpdir, "run", "netns", id, NULL);
  g_autofree char *cache = g_build_filename (fx->tmpdir, "stray.json", NULL);
  const char *const plugin_dirs[] = { "/usr/lib/cni", NULL };
  g_autoptr (GroveCni) cni = grove_cni_new (fx->conf_dir, plugin_dirs, 30);
  g_autoptr (JsonObject) attachment = NULL;
  g_autoptr (GError) error = NULL;
  GroveCniRequest request = { id, netns, "stray", "default", "uid-stray", NULL };

  grove_netns_create (netns, &error);
  g_assert_no_error (error);
  attachment = grove_cni_attach (cni, &request, cache, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (unlink (cache), ==, 0);
}

static void
test_recovery (Fixture *fx, gconstpointer data)
{
  g_autoptr (JsonObject) config = pod_config ("survivor", NULL);
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GrovePod) found = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) ips = NULL;
  g_auto (GStrv) found_ips = NULL;
  g_autofree char *id = NULL;
  Footprint before;
  Footprint with_pod;
  Footprint with_stray;

  if (fx->engine == NULL)
    return;
  warm_up (fx, &before);
  pod = grove_test_run_pod (fx->engine, config, NULL);
  id = g_strdup (grove_pod_get_id (pod));
  ips = grove_pod_get_ips (pod);
  take_footprint (fx, &with_pod);
  g_clear_object (&pod);
  g_clear_object (&fx->engine);

  /* a restart keeps the pod, its namespace and address; a stray of a crash goes */
  make_stray_attachment (fx, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
  take_footprint (fx, &with_stray);
  g_assert_cmpuint (with_stray.addresses, ==, with_pod.addresses + 1);
  g_assert_cmpuint (with_stray.netns, ==, with_pod.netns + 1);
  fx->engine = new_engine (fx);
  assert_footprint (fx, &with_pod);
  found = grove_engine_get_pod (fx->engine, id, &error);
  g_assert_no_error (error);
  found_ips = grove_pod_get_ips (found);
  g_assert_cmpstrv (found_ips, ips);

  /* a pod whose namespace is gone still stops, and its address is freed */
  grove_netns_remove (grove_pod_get_netns_path (found), &error);
  g_assert_no_error (error);
  grove_test_stop_pod (fx->engine, id);
  take_footprint (fx, &with_pod);
  g_assert_cmpuint (with_pod.addresses, ==, before.addresses);
  g_assert_cmpuint (with_pod.veths, ==, before.veths);
  grove_test_remove_pod (fx->engine, id);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* everything in a network namespace of this program's own */
  if (grove_test_is_root ())
    {
      g_autofree char *out = NULL;
      if (unshare (CLONE_NEWNET) < 0)
        {
          g_printerr ("cannot make a network namespace: %s\n", g_strerror (errno));
          return 77;
        }
      g_assert_cmpint (grove_test_run (&out, "ip", "link", "set", "lo", "up", NULL), ==, 0);
    }
#define ADD(name, subnet, func)                                                                    \
  g_test_add ("/grove/cni/" name, Fixture, GUINT_TO_POINTER (subnet), fixture_setup, func,         \
              fixture_teardown)
  ADD ("two-pods", 1, test_two_pods);
  ADD ("stop-detaches", 2, test_stop_detaches);
  ADD ("many-pods", 3, test_many_pods);
  ADD ("broken-config", 4, test_broken_config);
  ADD ("failing-plugin", 5, test_failing_plugin);
  ADD ("status-host-network", 6, test_status_and_host_network);
  ADD ("recovery", 7, test_recovery);
  return g_test_run ();
}
