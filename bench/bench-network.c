/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveBenchNetwork"

#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "bench-util.h"
#include "grove-engine.h"
#include "grove-record.h"
#include "grove-utils.h"

/*
 * `make bench-network`: RunPodSandbox with the pod network (CNI: bridge, host-local,
 * portmap, loopback) beside RunPodSandbox on the host's network, which skips CNI, in one
 * run: the pods alternate, so both see the same machine. Runs in a network namespace of its
 * own, so the bridge, veths and iptables rules go with it. Timings never fail the run.
 */

#define CNI_ADDS_TARGET_MS 40.0
#define PLUGIN_DIR "/usr/lib/cni"

enum
{
  KIND_CNI,
  KIND_HOST,
  N_KINDS
};

typedef struct
{
  char *pause;
  char *parent;
  int pods;
  char *workdir;
  char *runroot;
  char *cgroup_parent;
  GroveStore *store;
  GroveEngine *engine;
  GPtrArray *pod_ids;
  GArray *ms[N_KINDS];
  GString *summary;
} Bench;

static void
bench_clear (Bench *b)
{
  g_clear_object (&b->engine);
  g_clear_object (&b->store);
  g_clear_pointer (&b->pod_ids, g_ptr_array_unref);
  for (guint k = 0; k < N_KINDS; k++)
    g_clear_pointer (&b->ms[k], g_array_unref);
  if (b->summary != NULL)
    g_string_free (g_steal_pointer (&b->summary), TRUE);
  g_free (b->pause);
  g_free (b->parent);
  g_free (b->workdir);
  g_free (b->runroot);
  g_free (b->cgroup_parent);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Bench, bench_clear)

static void
result_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **)user_data = g_object_ref (result);
}

static GAsyncResult *
wait_result (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

static gboolean
write_network (Bench *b, const char *conf_dir, GError **error)
{
  g_autofree char *path = g_build_filename (conf_dir, "10-bench.conflist", NULL);
  g_autofree char *text = g_strdup_printf (
      "{\"cniVersion\":\"1.0.0\",\"name\":\"grove-bench\",\"plugins\":["
      "{\"type\":\"bridge\",\"bridge\":\"grove0\",\"isGateway\":true,\"ipMasq\":true,"
      "\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"%s/ipam\","
      "\"ranges\":[[{\"subnet\":\"10.88.0.0/16\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}},"
      "{\"type\":\"portmap\",\"capabilities\":{\"portMappings\":true}}]}",
      b->workdir);

  return grove_mkdir_p_at (AT_FDCWD, conf_dir, 0755, error)
         && grove_write_file_at (AT_FDCWD, path, text, strlen (text), 0644, error);
}

static gboolean
make_engine (Bench *b, GError **error)
{
  g_autofree char *root = g_build_filename (b->workdir, "state", NULL);
  g_autofree char *store_root = g_build_filename (b->workdir, "store", NULL);
  g_autofree char *conf_dir = g_build_filename (b->workdir, "net.d", NULL);
  const char *const plugin_dirs[] = { PLUGIN_DIR, NULL };
  const char *const runc[] = { "runc", NULL };
  g_autoptr (GAsyncResult) loaded = NULL;
  GroveEngineOptions options = { 0 };

  if (!write_network (b, conf_dir, error))
    return FALSE;
  b->store = grove_store_open (store_root, NULL, error);
  if (b->store == NULL)
    return FALSE;
  options.root = root;
  options.runroot = b->runroot;
  options.pause_path = b->pause;
  options.cgroup_parent = b->cgroup_parent;
  options.cni_conf_dir = conf_dir;
  options.cni_plugin_dirs = plugin_dirs;
  b->engine = grove_engine_new (b->store, &options, error);
  if (b->engine == NULL || !grove_engine_add_handler (b->engine, "runc", runc, error))
    return FALSE;
  grove_engine_load_async (b->engine, NULL, result_cb, &loaded);
  return grove_engine_load_finish (b->engine, wait_result (&loaded), error);
}

static gboolean
run_one (Bench *b, guint kind, guint index, GError **error)
{
  g_autofree char *json = g_strdup_printf (
      "{\"metadata\":{\"name\":\"bench-%u-%u\",\"namespace\":\"bench\",\"uid\":\"u-%u-%u\"}%s}",
      kind, index, kind, index,
      kind == KIND_HOST ? ",\"linux\":{\"securityContext\":{\"namespaceOptions\":"
                          "{\"network\":\"NODE\"}}}"
                        : "");
  g_autoptr (JsonObject) config = grove_record_parse (json, -1, "pod config", error);
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GrovePod) pod = NULL;
  gint64 start = g_get_monotonic_time ();

  if (config == NULL)
    return FALSE;
  grove_engine_run_pod_async (b->engine, config, NULL, NULL, result_cb, &result);
  pod = grove_engine_run_pod_finish (b->engine, wait_result (&result), error);
  if (pod == NULL)
    return FALSE;
  g_array_append_val (b->ms[kind], (double){ bench_seconds_since (start) * 1000.0 });
  g_ptr_array_add (b->pod_ids, g_strdup (grove_pod_get_id (pod)));
  return TRUE;
}

static gboolean
remove_pods (Bench *b, GError **error)
{
  for (guint i = 0; i < b->pod_ids->len; i++)
    {
      g_autoptr (GAsyncResult) result = NULL;
      grove_engine_remove_pod_async (b->engine, b->pod_ids->pdata[i], NULL, result_cb, &result);
      if (!grove_engine_remove_pod_finish (b->engine, wait_result (&result), error))
        return FALSE;
    }
  g_ptr_array_set_size (b->pod_ids, 0);
  return TRUE;
}

static gboolean
bench_run_pods (Bench *b, GError **error)
{
  double cni50, host50;

  /* one of each first, untimed: the bridge, the pause image, the page cache */
  if (!run_one (b, KIND_CNI, 999, error) || !run_one (b, KIND_HOST, 999, error)
      || !remove_pods (b, error))
    return FALSE;
  g_array_set_size (b->ms[KIND_CNI], 0);
  g_array_set_size (b->ms[KIND_HOST], 0);
  for (int i = 0; i < b->pods; i++)
    for (guint k = 0; k < N_KINDS; k++)
      if (!run_one (b, (k + (guint)i) % N_KINDS, (guint)i, error))
        return FALSE;
  cni50 = bench_percentile (b->ms[KIND_CNI], 0.5);
  host50 = bench_percentile (b->ms[KIND_HOST], 0.5);
  g_string_append_printf (b->summary,
                          "RunPodSandbox, %d pods each: pod network (CNI) p50 %.1f, p90 %.1f ms; "
                          "host network p50 %.1f, p90 %.1f ms\n"
                          "CNI adds %.1f ms at p50 (target < %.0f ms: %s)\n",
                          b->pods, cni50, bench_percentile (b->ms[KIND_CNI], 0.9), host50,
                          bench_percentile (b->ms[KIND_HOST], 0.9), cni50 - host50,
                          CNI_ADDS_TARGET_MS, bench_verdict (cni50 - host50 < CNI_ADDS_TARGET_MS));
  return remove_pods (b, error);
}

static gboolean
bench_setup (Bench *b, GError **error)
{
  b->workdir = bench_make_workdir (b->parent, "grove-bench-network-XXXXXX", error);
  if (b->workdir == NULL)
    return FALSE;
  b->runroot = g_build_filename (b->workdir, "run", NULL);
  b->cgroup_parent = g_strdup_printf ("/grove-bench-%d", (int)getpid ());
  g_print ("grove network benchmark: %s, %ld CPUs, plugins from %s\n", b->workdir,
           sysconf (_SC_NPROCESSORS_ONLN), PLUGIN_DIR);
  bench_print_load ("before");
  return make_engine (b, error);
}

static gboolean
bench_cleanup (Bench *b, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree char *netns_dir = NULL;
  guint leaked = 0;

  if (b->workdir == NULL)
    return TRUE;
  netns_dir = g_build_filename (b->runroot, "netns", NULL);
  if (b->engine != NULL && !remove_pods (b, &local_error))
    g_printerr ("bench-network: %s\n", local_error->message);
  g_clear_object (&b->engine);
  g_clear_object (&b->store);
  if (!bench_unmount_below ("bench-network", b->workdir, netns_dir, TRUE, &leaked, error))
    return FALSE;
  leaked += bench_remove_cgroups ("bench-network", b->cgroup_parent);
  if (!grove_rm_rf_at (AT_FDCWD, b->workdir, NULL, error))
    return FALSE;
  if (leaked > 0)
    return grove_throw (error, GROVE_ERROR_FAILED, "%u mounts or cgroups outlived their pods",
                        leaked);
  return TRUE;
}

static gboolean
parse_options (Bench *b, int *argc, char ***argv, GError **error)
{
  GOptionEntry entries[] = {
    { "pause", 0, 0, G_OPTION_ARG_FILENAME, &b->pause, "The grove-pause binary", "PATH" },
    { "workdir-parent", 0, 0, G_OPTION_ARG_FILENAME, &b->parent, "Where to work", "DIR" },
    { "pods", 0, 0, G_OPTION_ARG_INT, &b->pods, "Timed pods of each kind", "N" },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- Grove pod network benchmark");
  const char *const needed[] = { "runc", "conmon", "iptables", NULL };

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, argc, argv, error))
    return FALSE;
  if (b->pause == NULL || b->pods < 1)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "--pause and --pods >= 1 needed");
  bench_make_absolute (&b->pause);
  if (b->parent == NULL)
    b->parent = g_strdup ("/var/tmp");
  if (geteuid () != 0)
    return grove_throw (error, GROVE_ERROR_PERMISSION_DENIED, "run as root");
  if (!g_file_test (PLUGIN_DIR "/bridge", G_FILE_TEST_IS_EXECUTABLE))
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "the CNI plugins are not in %s", PLUGIN_DIR);
  return bench_check_programs (needed, error);
}

/* the bridge, veths and rules live and die with a namespace of the benchmark's own */
static gboolean
enter_own_netns (GError **error)
{
  const char *const argv[] = { "ip", "link", "set", "lo", "up", NULL };
  g_autoptr (GSubprocess) ip = NULL;

  if (unshare (CLONE_NEWNET) < 0)
    return grove_throw_errno_code (error, errno, "making a network namespace");
  ip = bench_communicate (argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE, "ip", NULL, NULL, error);
  return ip != NULL && g_subprocess_get_successful (ip);
}

int
main (int argc, char **argv)
{
  g_auto (Bench) b = { .pods = 30, .summary = g_string_new (NULL) };
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) cleanup_error = NULL;
  gint64 start = g_get_monotonic_time ();
  gboolean ok = FALSE;

  b.pod_ids = g_ptr_array_new_with_free_func (g_free);
  for (guint k = 0; k < N_KINDS; k++)
    b.ms[k] = bench_doubles_new ();
  if (!parse_options (&b, &argc, &argv, &error) || !enter_own_netns (&error))
    {
      g_printerr ("bench-network: %s\n", error->message);
      return 1;
    }
  ok = bench_setup (&b, &error) && bench_run_pods (&b, &error);
  bench_cleanup (&b, &cleanup_error);
  return bench_exit_status ("bench-network", ok ? NULL : error, cleanup_error, start, b.summary);
}
