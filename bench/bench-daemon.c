/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveBenchDaemon"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench-util.h"
#include "grove-utils.h"

/*
 * `make bench`: figures for groved as a process, seen from outside over D-Bus. It starts a
 * dbus-daemon and a groved of its own (state in a fresh directory, pods under the cgroup
 * /grove-bench-<pid>) and measures
 *   1. groved's memory (VmRSS) idle after start and with N running pods (infra only),
 *      beside the targets and containerd's idle RSS on this machine;
 *   2. the round trip of cheap D-Bus methods from a GDBus client, beside a Peer.Ping of
 *      groved (answered in GDBus's worker thread: the floor) and of the bus itself;
 *   3. `grovectl run --rm busybox echo hi` end to end, beside `grovectl info`, which is what
 *      the CLI costs before any work.
 * Timings never fail the run; only something that breaks gives a non-zero exit.
 */

#define GROVE_NAME "org.grove.Runtime1"
#define GROVE_PATH "/org/grove/Runtime1"
#define GROVE_IFACE "org.grove.Runtime1"
#define IDLE_TARGET_MIB 8.0
#define PODS_TARGET_MIB 20.0
#define TARGET_PODS 100
#define CONTAINERD_IDLE_MIB 42.0
#define WARMUP_CALLS 50
#define SLOW_CALL_TIMEOUT_MS (120 * 1000)
#define FAST_CALL_TIMEOUT_MS (10 * 1000)

typedef struct
{
  char *groved;
  char *grovectl;
  char *pause;
  char *runtime_exec;
  char *python;
  char *mkimage;
  char *parent;
  char *handler;
  int pods;
  int calls;
  int runs;
  int pod_budget;
  char *workdir;
  char *runroot;
  char *cgroup_parent; /* /grove-bench-<pid>, in every hierarchy */
  char *bus_address;
  GSubprocess *bus;
  GSubprocess *daemon;
  int daemon_pid;
  GDBusConnection *connection;
  GPtrArray *pod_paths; /* object paths of the pods that exist */
  GString *summary;
} Bench;

typedef struct
{
  guint64 rss_kb;
  guint64 anon_kb;
  guint64 peak_kb;
  guint64 pss_kb;
  guint64 private_kb;
  guint64 threads;
} Memory;

static void
bench_clear (Bench *b)
{
  g_clear_pointer (&b->groved, g_free);
  g_clear_pointer (&b->grovectl, g_free);
  g_clear_pointer (&b->pause, g_free);
  g_clear_pointer (&b->runtime_exec, g_free);
  g_clear_pointer (&b->python, g_free);
  g_clear_pointer (&b->mkimage, g_free);
  g_clear_pointer (&b->parent, g_free);
  g_clear_pointer (&b->handler, g_free);
  g_clear_pointer (&b->workdir, g_free);
  g_clear_pointer (&b->runroot, g_free);
  g_clear_pointer (&b->cgroup_parent, g_free);
  g_clear_pointer (&b->bus_address, g_free);
  g_clear_object (&b->connection);
  g_clear_object (&b->daemon);
  g_clear_object (&b->bus);
  g_clear_pointer (&b->pod_paths, g_ptr_array_unref);
  if (b->summary != NULL)
    g_string_free (g_steal_pointer (&b->summary), TRUE);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Bench, bench_clear)

/* ---- figures ---- */

static double
mean (GArray *samples)
{
  double sum = 0;

  for (guint i = 0; i < samples->len; i++)
    sum += g_array_index (samples, double, i);
  return samples->len > 0 ? sum / samples->len : 0;
}

/* ---- groved's memory ---- */

static gboolean
read_memory (Bench *b, Memory *out, GError **error)
{
  g_autofree char *status = NULL;
  g_autofree char *rollup = NULL;

  if (!bench_read_proc_memory (b->daemon_pid, &status, &rollup, error))
    return g_prefix_error (error, "reading groved's memory: "), FALSE;
  out->pss_kb = bench_proc_kb (rollup, "Pss");
  out->private_kb
      = bench_proc_kb (rollup, "Private_Clean") + bench_proc_kb (rollup, "Private_Dirty");
  out->rss_kb = bench_proc_kb (status, "VmRSS");
  out->anon_kb = bench_proc_kb (status, "RssAnon");
  out->peak_kb = bench_proc_kb (status, "VmHWM");
  out->threads = bench_proc_kb (status, "Threads");
  if (out->rss_kb == 0)
    return grove_throw (error, GROVE_ERROR_FAILED, "/proc/%d/status has no VmRSS", b->daemon_pid);
  return TRUE;
}

static void
print_memory (const char *when, const Memory *m)
{
  /* RSS counts shared library pages whole: PSS and private memory say what groved adds */
  g_print ("  groved %s: RSS %.2f MiB (anon %.2f, file %.2f), PSS %.2f MiB, private %.2f MiB, "
           "peak RSS %.2f MiB, %" G_GUINT64_FORMAT " threads\n",
           when, bench_mib (m->rss_kb), bench_mib (m->anon_kb), bench_mib (m->rss_kb - m->anon_kb),
           bench_mib (m->pss_kb), bench_mib (m->private_kb), bench_mib (m->peak_kb), m->threads);
}

/* ---- D-Bus ---- */

static GVariant *
call_groved (Bench *b, const char *path, const char *interface, const char *method,
             GVariant *parameters, const char *reply_type, int timeout_ms, GError **error)
{
  return g_dbus_connection_call_sync (b->connection, GROVE_NAME, path, interface, method,
                                      parameters,
                                      reply_type != NULL ? G_VARIANT_TYPE (reply_type) : NULL,
                                      G_DBUS_CALL_FLAGS_NO_AUTO_START, timeout_ms, NULL, error);
}

static gboolean
daemon_running (Bench *b)
{
  return b->daemon != NULL && g_subprocess_get_identifier (b->daemon) != NULL;
}

/* groved's log, for errors that happen in it */
static char *
daemon_log_tail (Bench *b)
{
  g_autofree char *path = g_build_filename (b->workdir, "groved.log", NULL);
  g_autofree char *text = NULL;
  gsize length = 0;

  if (!g_file_get_contents (path, &text, &length, NULL) || length == 0)
    return g_strdup ("(groved logged nothing)");
  return g_strdup (g_strstrip (text + (length > 2000 ? length - 2000 : 0)));
}

/* ---- setup ---- */

static gboolean
make_workdir (Bench *b, GError **error)
{
  struct utsname uts;

  b->workdir = bench_make_workdir (b->parent, "grove-bench-daemon-XXXXXX", error);
  if (b->workdir == NULL)
    return FALSE;
  b->runroot = g_build_filename (b->workdir, "run", NULL);
  b->cgroup_parent = g_strdup_printf ("/grove-bench-%d", (int)getpid ());
  uname (&uts);
  g_print ("groved benchmark: %s, kernel %s, %ld CPUs, cgroup parent %s\n", b->workdir, uts.release,
           sysconf (_SC_NPROCESSORS_ONLN), b->cgroup_parent);
  return TRUE;
}

/* a bus of our own: groved owns a name there and nothing else disturbs the round trips */
static gboolean
start_bus (Bench *b, GError **error)
{
  const char *const argv[] = { "dbus-daemon", "--session", "--nofork", "--print-address=1", NULL };
  g_autoptr (GDataInputStream) out = NULL;
  g_autofree char *line = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autofree char *log = g_build_filename (b->workdir, "dbus-daemon.log", NULL);
  g_autoptr (GSubprocessLauncher) launcher
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);

  /* its warnings (it may not raise its fd limit) are no figures: keep them in a log */
  g_subprocess_launcher_set_stderr_file_path (launcher, log);
  b->bus = g_subprocess_launcher_spawnv (launcher, argv, error);
  if (b->bus == NULL)
    return g_prefix_error (error, "starting dbus-daemon: "), FALSE;
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (b->bus));
  line = g_data_input_stream_read_line_utf8 (out, NULL, NULL, &local_error);
  if (line == NULL)
    return grove_throw (error, GROVE_ERROR_FAILED, "dbus-daemon printed no address: %s",
                        local_error != NULL ? local_error->message : "end of output");
  b->bus_address = g_strdup (g_strstrip (line));
  b->connection = g_dbus_connection_new_for_address_sync (
      b->bus_address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, error);
  if (b->connection == NULL)
    return g_prefix_error (error, "connecting to %s: ", b->bus_address), FALSE;
  return TRUE;
}

static gboolean
write_config (Bench *b, const char *path, GError **error)
{
  /* the helpers are in the build tree, not installed: say where they are */
  g_autofree char *text = g_strdup_printf ("[runtime]\n"
                                           "pause = %s\n"
                                           "cgroup_parent = %s\n"
                                           /* no CNI config of the machine's */
                                           "[network]\n"
                                           "conf_dir = /nonexistent/grove-bench\n"
                                           "[handler.crun]\n"
                                           "path = %s\n"
                                           "args = crun\n",
                                           b->pause, b->cgroup_parent, b->runtime_exec);

  return g_file_set_contents (path, text, -1, error);
}

/* until groved owns its name and answers; a groved that ends early says why in its log */
static gboolean
wait_ready (Bench *b, GError **error)
{
  gint64 start = g_get_monotonic_time ();

  while (bench_seconds_since (start) < 20)
    {
      g_autoptr (GVariant) reply = NULL;

      if (!daemon_running (b))
        {
          g_autofree char *log = daemon_log_tail (b);

          return grove_throw (error, GROVE_ERROR_FAILED, "groved ended at start: %s", log);
        }
      reply = call_groved (b, GROVE_PATH, "org.freedesktop.DBus.Peer", "Ping", NULL, NULL, 1000,
                           NULL);
      if (reply != NULL)
        {
          g_print ("  groved (PID %d) answers after %.0f ms\n", b->daemon_pid,
                   bench_seconds_since (start) * 1000);
          return TRUE;
        }
      g_usleep (10000);
    }
  return grove_throw (error, GROVE_ERROR_FAILED, "groved did not own %s within 20 s", GROVE_NAME);
}

static gboolean
start_groved (Bench *b, GError **error)
{
  g_autofree char *config = g_build_filename (b->workdir, "grove.conf", NULL);
  g_autofree char *root = g_build_filename (b->workdir, "root", NULL);
  g_autofree char *log = g_build_filename (b->workdir, "groved.log", NULL);
  const char *const argv[] = { b->groved,   "--bus",    b->bus_address, "--root", root,
                               "--runroot", b->runroot, "--config",     config,   NULL };
  g_autoptr (GSubprocessLauncher) launcher
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_MERGE);

  if (!write_config (b, config, error))
    return FALSE;
  g_subprocess_launcher_set_stdout_file_path (launcher, log);
  b->daemon = g_subprocess_launcher_spawnv (launcher, argv, error);
  if (b->daemon == NULL)
    return g_prefix_error (error, "starting %s: ", b->groved), FALSE;
  b->daemon_pid = atoi (g_subprocess_get_identifier (b->daemon));
  return wait_ready (b, error);
}

static gboolean
bench_setup (Bench *b, GError **error)
{
  if (!make_workdir (b, error) || !start_bus (b, error))
    return FALSE;
  g_print ("  bus %s\n", b->bus_address);
  return start_groved (b, error);
}

/* ---- 1. memory, idle ---- */

static gboolean
bench_idle (Bench *b, GError **error)
{
  Memory m = { 0 };
  double rss = 0;

  g_print ("\n== 1a. groved's memory, idle ==\n");
  /* let the start-up work settle before the first look */
  g_usleep (G_USEC_PER_SEC);
  if (!read_memory (b, &m, error))
    return FALSE;
  rss = bench_mib (m.rss_kb);
  print_memory ("idle after start", &m);
  g_print ("  target: < %.0f MiB (%s); containerd idle here: %.0f MiB\n", IDLE_TARGET_MIB,
           bench_verdict (rss < IDLE_TARGET_MIB), CONTAINERD_IDLE_MIB);
  g_string_append_printf (b->summary,
                          "groved RSS idle:          %6.2f MiB  target < %.0f (%s); containerd "
                          "idle: %.0f MiB\n",
                          rss, IDLE_TARGET_MIB, bench_verdict (rss < IDLE_TARGET_MIB),
                          CONTAINERD_IDLE_MIB);
  return TRUE;
}

static gboolean
import_busybox (Bench *b, GError **error)
{
  g_autofree char *image = g_build_filename (b->workdir, "busybox", NULL);
  const char *const argv[] = {
    b->python, b->mkimage, "busybox", "--format", "oci-dir", "--tag", "localhost/busybox:latest",
    image,     NULL
  };
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autofree char *output = NULL;
  gint64 start = g_get_monotonic_time ();

  proc = bench_communicate (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
                            b->mkimage, &output, NULL, error);
  if (proc == NULL)
    return FALSE;
  if (!g_subprocess_get_successful (proc))
    return grove_throw (error, GROVE_ERROR_FAILED, "%s busybox failed: %s", b->mkimage,
                        output != NULL ? g_strstrip (output) : "(no output)");
  reply = call_groved (b, GROVE_PATH, GROVE_IFACE, "ImportImage", g_variant_new ("(ss)", image, ""),
                       "(ao)", SLOW_CALL_TIMEOUT_MS, error);
  if (reply == NULL)
    return g_prefix_error (error, "importing %s: ", image), FALSE;
  g_print ("\n  busybox image made and imported in %.2f s\n", bench_seconds_since (start));
  return TRUE;
}

/* ---- 2. D-Bus round trips ---- */

/* @n timed calls after a warm-up; @destination NULL means groved */
static gboolean
time_calls (Bench *b, const char *destination, const char *interface, const char *method,
            GVariant *parameters, int n, GArray *samples, GError **error)
{
  g_autoptr (GVariant) args = parameters != NULL ? g_variant_ref_sink (parameters) : NULL;

  for (int i = 0; i < WARMUP_CALLS + n; i++)
    {
      gint64 start = g_get_monotonic_time ();
      g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
          b->connection, destination != NULL ? destination : GROVE_NAME,
          destination != NULL ? "/org/freedesktop/DBus" : GROVE_PATH, interface, method, args, NULL,
          G_DBUS_CALL_FLAGS_NO_AUTO_START, FAST_CALL_TIMEOUT_MS, NULL, error);
      double us = (double)(g_get_monotonic_time () - start);

      if (reply == NULL)
        return g_prefix_error (error, "calling %s.%s: ", interface, method), FALSE;
      if (i >= WARMUP_CALLS)
        g_array_append_val (samples, us);
    }
  return TRUE;
}

static void
print_round_trips (const char *label, GArray *samples, double floor_p50)
{
  double p50 = bench_percentile (samples, 0.5);

  g_print ("  %-40s p50 %6.0f us  p90 %6.0f  p99 %6.0f  mean %6.0f", label, p50,
           bench_percentile (samples, 0.9), bench_percentile (samples, 0.99), mean (samples));
  if (floor_p50 > 0)
    g_print ("  (%.2fx the Ping floor)", p50 / floor_p50);
  g_print ("\n");
}

typedef struct
{
  const char *label;
  const char *destination;
  const char *interface;
  const char *method;
} Method;

static gboolean
bench_round_trips (Bench *b, const char *when, guint n_pods, GError **error)
{
  const Method methods[] = {
    { "bus GetId (dbus-daemon only)", "org.freedesktop.DBus", "org.freedesktop.DBus", "GetId" },
    { "groved Peer.Ping (the floor)", NULL, "org.freedesktop.DBus.Peer", "Ping" },
    { "groved Properties.Get Runtime1.Version", NULL, "org.freedesktop.DBus.Properties", "Get" },
    { "groved Runtime1.ListPods", NULL, GROVE_IFACE, "ListPods" },
  };
  double floor_p50 = 0;

  g_print ("\n== 2. D-Bus round trips, %s: %d calls each after %d warm-up calls ==\n", when,
           b->calls, WARMUP_CALLS);
  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    {
      const Method *m = &methods[i];
      g_autoptr (GArray) samples = bench_doubles_new ();
      GVariant *args = NULL;

      if (g_str_equal (m->method, "Get"))
        args = g_variant_new ("(ss)", GROVE_IFACE, "Version");
      else if (g_str_equal (m->method, "ListPods"))
        args = g_variant_new_parsed ("(@a{sv} {},)");
      if (!time_calls (b, m->destination, m->interface, m->method, args, b->calls, samples, error))
        return FALSE;
      print_round_trips (m->label, samples, i > 1 ? floor_p50 : 0);
      if (i == 1)
        floor_p50 = bench_percentile (samples, 0.5);
      if (i > 0 && (n_pods == 0 || g_str_equal (m->method, "ListPods")))
        g_string_append_printf (b->summary, "round trip %-38s p50 %5.0f us, p90 %5.0f us%s\n",
                                m->label + strlen ("groved "), bench_percentile (samples, 0.5),
                                bench_percentile (samples, 0.9),
                                n_pods > 0 ? " (with the pods)" : "");
    }
  return TRUE;
}

/* ---- 3. grovectl run ---- */

/* runs @argv, timed from spawn to exit; its stdout must be @expect */
static gboolean
time_command (const char *const *argv, const char *expect, double *out_ms, GError **error)
{
  g_autoptr (GSubprocess) proc = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *command = g_strjoinv (" ", (char **)argv);
  gint64 start = g_get_monotonic_time ();

  proc = bench_communicate (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                            command, &out, &err, error);
  if (proc == NULL)
    return FALSE;
  *out_ms = (double)(g_get_monotonic_time () - start) / 1000.0;
  if (!g_subprocess_get_successful (proc))
    return grove_throw (error, GROVE_ERROR_FAILED, "%s failed: %s", command,
                        err != NULL ? g_strstrip (err) : "(no output)");
  if (expect != NULL && !g_str_equal (g_strstrip (out), expect))
    return grove_throw (error, GROVE_ERROR_FAILED, "%s printed \"%s\", not \"%s\"", command, out,
                        expect);
  return TRUE;
}

/* one untimed run first: the first pod also makes the pause image */
static gboolean
time_runs (const char *const *argv, const char *expect, int runs, GArray *samples, GError **error)
{
  for (int i = 0; i <= runs; i++)
    {
      double ms = 0;

      if (!time_command (argv, expect, &ms, error))
        return FALSE;
      if (i > 0)
        g_array_append_val (samples, ms);
    }
  return TRUE;
}

static gboolean
bench_cli (Bench *b, GError **error)
{
  const char *const run[]
      = { b->grovectl, "--bus", b->bus_address, "run", "--rm", "localhost/busybox:latest", "echo",
          "hi",        NULL };
  const char *const info[] = { b->grovectl, "--bus", b->bus_address, "info", NULL };
  g_autoptr (GArray) run_ms = bench_doubles_new ();
  g_autoptr (GArray) info_ms = bench_doubles_new ();
  double p50 = 0;

  g_print ("\n== 3. grovectl end to end: %d runs each after one warm-up ==\n", b->runs);
  if (!time_runs (info, NULL, b->runs, info_ms, error)
      || !time_runs (run, "hi", b->runs, run_ms, error))
    return FALSE;
  p50 = bench_percentile (run_ms, 0.5);
  g_print ("  grovectl info (spawn, connect, one call)   p50 %7.1f ms  p90 %7.1f  min %7.1f\n",
           bench_percentile (info_ms, 0.5), bench_percentile (info_ms, 0.9),
           bench_percentile (info_ms, 0));
  g_print ("  grovectl run --rm busybox echo hi          p50 %7.1f ms  p90 %7.1f  min %7.1f\n", p50,
           bench_percentile (run_ms, 0.9), bench_percentile (run_ms, 0));
  g_string_append_printf (b->summary,
                          "grovectl run --rm echo hi: p50 %6.1f ms, p90 %.1f ms (grovectl info: "
                          "p50 %.1f ms)\n",
                          p50, bench_percentile (run_ms, 0.9), bench_percentile (info_ms, 0.5));
  return TRUE;
}

/* ---- 1b. memory with pods ---- */

static gboolean
create_pod (Bench *b, int i, double *out_ms, GError **error)
{
  g_autofree char *config = g_strdup_printf (
      "{\"metadata\":{\"name\":\"bench-%d\",\"namespace\":\"bench\",\"uid\":\"bench-uid-%d\"}}", i,
      i);
  g_autoptr (GVariant) reply = NULL;
  gint64 start = g_get_monotonic_time ();
  char *path = NULL;

  reply = call_groved (b, GROVE_PATH, GROVE_IFACE, "CreatePod",
                       g_variant_new ("(ss)", config, b->handler), "(o)", SLOW_CALL_TIMEOUT_MS,
                       error);
  if (reply == NULL)
    return g_prefix_error (error, "creating pod bench-%d: ", i), FALSE;
  *out_ms = (double)(g_get_monotonic_time () - start) / 1000.0;
  g_variant_get (reply, "(o)", &path);
  g_ptr_array_add (b->pod_paths, path);
  return TRUE;
}

/* up to --pods pods, fewer if they would take longer than --pod-budget seconds */
static gboolean
create_pods (Bench *b, GArray *samples, GError **error)
{
  gint64 start = g_get_monotonic_time ();

  for (int i = 0; i < b->pods; i++)
    {
      double ms = 0;

      if (bench_seconds_since (start) > b->pod_budget)
        {
          g_print ("  stopped at %d of %d pods: the --pod-budget of %d s is spent\n", i, b->pods,
                   b->pod_budget);
          break;
        }
      if (!create_pod (b, i, &ms, error))
        return FALSE;
      g_array_append_val (samples, ms);
      if ((i + 1) % 10 == 0 || i + 1 == b->pods)
        g_print ("  %3d pods running after %5.1f s\n", i + 1, bench_seconds_since (start));
    }
  g_print ("  %u pods in %.1f s: CreatePod p50 %.0f ms, p90 %.0f ms, max %.0f ms\n", samples->len,
           bench_seconds_since (start), bench_percentile (samples, 0.5),
           bench_percentile (samples, 0.9), bench_percentile (samples, 1));
  return TRUE;
}

/* every pod we made is there and ready, so the memory figure is that of N running pods */
static gboolean
check_pods_ready (Bench *b, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) paths = NULL;

  reply = call_groved (b, GROVE_PATH, GROVE_IFACE, "ListPods",
                       g_variant_new_parsed ("({'state': <'ready'>},)"), "(ao)",
                       FAST_CALL_TIMEOUT_MS, error);
  if (reply == NULL)
    return g_prefix_error (error, "listing ready pods: "), FALSE;
  paths = g_variant_get_child_value (reply, 0);
  if (g_variant_n_children (paths) != b->pod_paths->len)
    return grove_throw (error, GROVE_ERROR_FAILED,
                        "%" G_GSIZE_FORMAT " pods are ready, not the %u created",
                        g_variant_n_children (paths), b->pod_paths->len);
  return TRUE;
}

static void
report_pods_memory (Bench *b, const Memory *before, const Memory *with)
{
  guint n = b->pod_paths->len;
  double rss = bench_mib (with->rss_kb);
  double per_pod_kib = n > 0 ? (double)(with->rss_kb - MIN (with->rss_kb, before->rss_kb)) / n : 0;
  double at_target = bench_mib (before->rss_kb) + per_pod_kib * TARGET_PODS / 1024.0;

  print_memory ("before the pods", before);
  print_memory ("with the pods", with);
  g_print ("  %u running pods: +%.1f KiB per pod\n", n, per_pod_kib);
  if (n == TARGET_PODS)
    g_print ("  target with %d pods: < %.0f MiB (%s)\n", TARGET_PODS, PODS_TARGET_MIB,
             bench_verdict (rss < PODS_TARGET_MIB));
  else
    g_print ("  only %u pods: %.2f MiB extrapolated to %d; target < %.0f MiB (%s)\n", n, at_target,
             TARGET_PODS, PODS_TARGET_MIB, bench_verdict (at_target < PODS_TARGET_MIB));
  g_string_append_printf (b->summary,
                          "groved RSS, %3u pods:     %6.2f MiB  target < %.0f with %d (%s); +%.0f "
                          "KiB per pod\n",
                          n, rss, PODS_TARGET_MIB, TARGET_PODS,
                          bench_verdict ((n == TARGET_PODS ? rss : at_target) < PODS_TARGET_MIB),
                          per_pod_kib);
}

static gboolean
remove_pod (Bench *b, const char *path, GError **error)
{
  g_autoptr (GVariant) reply
      = call_groved (b, path, "org.grove.Pod1", "Remove", NULL, NULL, SLOW_CALL_TIMEOUT_MS, error);

  if (reply == NULL)
    return g_prefix_error (error, "removing pod %s: ", path), FALSE;
  return TRUE;
}

/* newest first; a pod leaves b->pod_paths once it is gone */
static gboolean
remove_pods (Bench *b, GError **error)
{
  while (b->pod_paths->len > 0)
    {
      if (!remove_pod (b, b->pod_paths->pdata[b->pod_paths->len - 1], error))
        return FALSE;
      g_ptr_array_remove_index (b->pod_paths, b->pod_paths->len - 1);
    }
  return TRUE;
}

static gboolean
bench_pods (Bench *b, GError **error)
{
  g_autoptr (GArray) create_ms = bench_doubles_new ();
  Memory before = { 0 };
  Memory with = { 0 };
  Memory after = { 0 };
  gint64 start = 0;
  guint n = 0;

  g_print ("\n== 1b. groved's memory with %d running pods (infra container only) ==\n", b->pods);
  if (!read_memory (b, &before, error) || !create_pods (b, create_ms, error)
      || !check_pods_ready (b, error))
    return FALSE;
  g_usleep (G_USEC_PER_SEC);
  if (!read_memory (b, &with, error))
    return FALSE;
  report_pods_memory (b, &before, &with);
  bench_print_load ("with the pods");
  if (!bench_round_trips (b, "with the pods", b->pod_paths->len, error))
    return FALSE;
  g_print ("\n");
  n = b->pod_paths->len;
  start = g_get_monotonic_time ();
  if (!remove_pods (b, error) || !read_memory (b, &after, error))
    return FALSE;
  g_print ("  %u pods removed in %.1f s\n", n, bench_seconds_since (start));
  print_memory ("after removing them", &after);
  g_string_append_printf (b->summary,
                          "pods: %u created in %.1f s (CreatePod p50 %.0f ms); RSS after their "
                          "removal %.2f MiB\n",
                          create_ms->len, mean (create_ms) * create_ms->len / 1000.0,
                          bench_percentile (create_ms, 0.5), bench_mib (after.rss_kb));
  return TRUE;
}

/* ---- cleanup ---- */

/* pods our bookkeeping missed, e.g. when a CreatePod timed out */
static void
remove_listed_pods (Bench *b)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariantIter) iter = NULL;
  const char *path = NULL;

  if (!remove_pods (b, &local_error))
    g_printerr ("bench-daemon: %s\n", local_error->message);
  g_clear_error (&local_error);
  reply
      = call_groved (b, GROVE_PATH, GROVE_IFACE, "ListPods", g_variant_new_parsed ("(@a{sv} {},)"),
                     "(ao)", FAST_CALL_TIMEOUT_MS, &local_error);
  if (reply == NULL)
    {
      g_printerr ("bench-daemon: listing the pods left: %s\n", local_error->message);
      return;
    }
  g_variant_get (reply, "(ao)", &iter);
  while (g_variant_iter_next (iter, "&o", &path))
    {
      if (!remove_pod (b, path, &local_error))
        g_printerr ("bench-daemon: %s\n", local_error->message);
      g_clear_error (&local_error);
    }
}

/* SIGTERM, then SIGKILL after @grace_s; the child watch in GLib's worker thread reaps it.
 * Dying of a signal other than @allowed_signal (0: none) or a non-zero status is an error. */
static gboolean
stop_process (GSubprocess *proc, const char *name, int grace_s, int allowed_signal, GError **error)
{
  gint64 start = g_get_monotonic_time ();

  if (g_subprocess_get_identifier (proc) == NULL)
    return TRUE;
  g_subprocess_send_signal (proc, SIGTERM);
  while (g_subprocess_get_identifier (proc) != NULL && bench_seconds_since (start) < grace_s)
    g_usleep (10000);
  if (g_subprocess_get_identifier (proc) != NULL)
    {
      g_printerr ("bench-daemon: %s ignored SIGTERM for %d s: killing it\n", name, grace_s);
      g_subprocess_force_exit (proc);
    }
  if (!g_subprocess_wait (proc, NULL, error))
    return FALSE;
  if (g_subprocess_get_if_signaled (proc) && g_subprocess_get_term_sig (proc) != allowed_signal)
    return grove_throw (error, GROVE_ERROR_FAILED, "%s ended with signal %d", name,
                        g_subprocess_get_term_sig (proc));
  if (g_subprocess_get_if_exited (proc) && g_subprocess_get_exit_status (proc) != 0)
    return grove_throw (error, GROVE_ERROR_FAILED, "%s exited with status %d", name,
                        g_subprocess_get_exit_status (proc));
  return TRUE;
}

/* adds @pid to @pids when its command line names the work dir (groved, conmons) */
static void
add_if_naming (GHashTable *pids, const char *workdir, const char *pid)
{
  g_autofree char *cmdline = bench_cmdline_naming (pid, workdir);

  if (cmdline != NULL)
    g_hash_table_add (pids, g_strdup (pid));
}

/* adds the processes of cgroup @dir and those below it */
static void
add_cgroup_procs (GHashTable *pids, const char *dir)
{
  g_autofree char *procs_path = g_build_filename (dir, "cgroup.procs", NULL);
  g_autofree char *procs = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GDir) children = g_dir_open (dir, 0, NULL);
  const char *name = NULL;

  if (children == NULL)
    return;
  if (g_file_get_contents (procs_path, &procs, NULL, NULL))
    lines = g_strsplit (procs, "\n", -1);
  for (guint i = 0; lines != NULL && lines[i] != NULL; i++)
    if (*lines[i] != '\0')
      g_hash_table_add (pids, g_strdup (lines[i]));
  while ((name = g_dir_read_name (children)) != NULL)
    {
      g_autofree char *child = g_build_filename (dir, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        add_cgroup_procs (pids, child);
    }
}

/* the processes of our run still alive: in our cgroups, or naming our work dir */
static GHashTable *
leftover_processes (Bench *b)
{
  GHashTable *pids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  g_autoptr (GDir) hierarchies = g_dir_open ("/sys/fs/cgroup", 0, NULL);
  const char *name = NULL;

  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    if (g_ascii_isdigit (name[0]))
      add_if_naming (pids, b->workdir, name);
  while (hierarchies != NULL && (name = g_dir_read_name (hierarchies)) != NULL)
    {
      g_autofree char *dir = g_build_filename ("/sys/fs/cgroup", name, b->cgroup_parent, NULL);

      add_cgroup_procs (pids, dir);
    }
  return pids;
}

/* conmons end just after their containers: give them 2 s, then kill and count what is left */
static guint
kill_leftover_processes (Bench *b)
{
  g_autoptr (GHashTable) pids = NULL;
  GHashTableIter iter;
  gpointer pid = NULL;

  for (guint tries = 0; tries < 200; tries++)
    {
      g_clear_pointer (&pids, g_hash_table_unref);
      pids = leftover_processes (b);
      if (g_hash_table_size (pids) == 0)
        return 0;
      g_usleep (10000);
    }
  g_hash_table_iter_init (&iter, pids);
  while (g_hash_table_iter_next (&iter, &pid, NULL))
    {
      g_printerr ("bench-daemon: PID %s outlived its pod: killing it\n", (const char *)pid);
      kill ((pid_t)atoi (pid), SIGKILL);
    }
  return g_hash_table_size (pids);
}

static gboolean
stop_daemons (Bench *b, GError **error)
{
  g_autoptr (GError) bus_error = NULL;
  gboolean ok = TRUE;

  if (daemon_running (b))
    remove_listed_pods (b);
  if (b->daemon != NULL)
    {
      ok = stop_process (b->daemon, "groved", 30, 0, error);
      if (ok)
        g_print ("groved stopped cleanly\n");
    }
  g_clear_object (&b->connection);
  if (b->bus != NULL && !stop_process (b->bus, "dbus-daemon", 5, SIGTERM, &bus_error))
    g_printerr ("bench-daemon: %s\n", bus_error->message);
  return ok;
}

/* undoes everything, whatever the run got to; says what was left */
static gboolean
bench_cleanup (Bench *b, GError **error)
{
  g_autoptr (GError) stop_error = NULL;
  g_autofree char *netns_dir = NULL;
  guint leaked = 0;

  if (b->workdir == NULL)
    return TRUE;
  netns_dir = g_build_filename (b->runroot, "netns", NULL);
  if (!stop_daemons (b, &stop_error))
    g_printerr ("bench-daemon: %s\n", stop_error->message);
  leaked += kill_leftover_processes (b);
  /* groved's netns dir is a bind mount of itself and stays after it; anything else is a leak */
  if (!bench_unmount_below ("bench-daemon", b->workdir, netns_dir, TRUE, &leaked, error))
    return FALSE;
  leaked += bench_remove_cgroups ("bench-daemon", b->cgroup_parent);
  if (!grove_rm_rf_at (AT_FDCWD, b->workdir, NULL, error))
    return g_prefix_error (error, "cleaning up %s: ", b->workdir), FALSE;
  g_print ("removed %s and cgroup %s\n", b->workdir, b->cgroup_parent);
  if (stop_error != NULL)
    return g_propagate_error (error, g_steal_pointer (&stop_error)), FALSE;
  if (leaked > 0)
    return grove_throw (error, GROVE_ERROR_FAILED,
                        "%u processes, mounts or cgroups outlived their pods (see above)", leaked);
  return TRUE;
}

/* ---- main ---- */

static gboolean
parse_options (Bench *b, int *argc, char ***argv, GError **error)
{
  GOptionEntry entries[] = {
    { "groved", 0, 0, G_OPTION_ARG_FILENAME, &b->groved, "The groved binary", "PATH" },
    { "grovectl", 0, 0, G_OPTION_ARG_FILENAME, &b->grovectl, "The grovectl binary", "PATH" },
    { "pause", 0, 0, G_OPTION_ARG_FILENAME, &b->pause, "The grove-pause binary", "PATH" },
    { "runtime-exec", 0, 0, G_OPTION_ARG_FILENAME, &b->runtime_exec,
      "The grove-runtime-exec binary (the crun handler)", "PATH" },
    { "python", 0, 0, G_OPTION_ARG_FILENAME, &b->python, "Python for mkimage.py", "PATH" },
    { "mkimage", 0, 0, G_OPTION_ARG_FILENAME, &b->mkimage, "tests/mkimage.py", "PATH" },
    { "workdir-parent", 0, 0, G_OPTION_ARG_FILENAME, &b->parent, "Where to work", "DIR" },
    { "handler", 0, 0, G_OPTION_ARG_STRING, &b->handler, "The pods' runtime handler", "NAME" },
    { "pods", 0, 0, G_OPTION_ARG_INT, &b->pods, "Running pods for the memory figure", "N" },
    { "pod-budget", 0, 0, G_OPTION_ARG_INT, &b->pod_budget, "Seconds the pods may take", "S" },
    { "calls", 0, 0, G_OPTION_ARG_INT, &b->calls, "Timed D-Bus calls of each method", "N" },
    { "runs", 0, 0, G_OPTION_ARG_INT, &b->runs, "Timed grovectl runs", "N" },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- groved benchmarks");

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, argc, argv, error))
    return FALSE;
  if (b->groved == NULL || b->grovectl == NULL || b->pause == NULL || b->runtime_exec == NULL
      || b->mkimage == NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "--groved, --grovectl, --pause, --runtime-exec and --mkimage are required");
  if (b->pods < 1 || b->calls < 1 || b->runs < 1 || b->pod_budget < 1)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "counts must be at least 1");
  /* groved and its config get these paths: make them absolute */
  bench_make_absolute (&b->groved);
  bench_make_absolute (&b->grovectl);
  bench_make_absolute (&b->pause);
  bench_make_absolute (&b->runtime_exec);
  if (b->python == NULL)
    b->python = g_strdup ("python3");
  if (b->parent == NULL)
    b->parent = g_strdup ("/var/tmp");
  if (b->handler == NULL)
    b->handler = g_strdup ("");
  return TRUE;
}

static gboolean
check_host (GError **error)
{
  const char *const needed[] = { "dbus-daemon", "runc", "conmon", NULL };

  if (geteuid () != 0)
    return grove_throw (error, GROVE_ERROR_PERMISSION_DENIED,
                        "run as root: groved starts containers, mounts and makes cgroups");
  return bench_check_programs (needed, error);
}

static gboolean
bench_run (Bench *b, GError **error)
{
  if (!bench_setup (b, error) || !bench_idle (b, error) || !import_busybox (b, error))
    return FALSE;
  bench_print_load ("before the round trips");
  return bench_round_trips (b, "idle", 0, error) && bench_cli (b, error) && bench_pods (b, error);
}

int
main (int argc, char **argv)
{
  g_auto (Bench) b = { .pods = TARGET_PODS,
                       .calls = 1000,
                       .runs = 10,
                       .pod_budget = 150,
                       .pod_paths = g_ptr_array_new_with_free_func (g_free),
                       .summary = g_string_new (NULL) };
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) cleanup_error = NULL;
  gint64 start = g_get_monotonic_time ();
  gboolean ok = FALSE;

  if (!parse_options (&b, &argc, &argv, &error) || !check_host (&error))
    {
      g_printerr ("bench-daemon: %s\n", error->message);
      return 1;
    }
  ok = bench_run (&b, &error);
  g_print ("\n");
  bench_cleanup (&b, &cleanup_error);
  return bench_exit_status ("bench-daemon", ok ? NULL : error, cleanup_error, start, b.summary);
}
