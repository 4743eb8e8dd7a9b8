/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveBenchRuntime"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench-util.h"
#include "grove-engine.h"
#include "grove-utils.h"

/*
 * `make bench`: figures for the runtime, each beside a peer measured in the same run.
 *   1. run_pod + create_container + start_container of a busybox container, per OCI runtime,
 *      vs the floor: `runtime create` + `runtime start` of an infra-like bundle and of a
 *      container bundle prepared beforehand (what such a start needs of the runtime at least).
 *      A third column runs the same bundles through conmon (GroveOciRuntime), which splits
 *      the engine's extra time into conmon's share and the engine's own work.
 *   2. the memory of the conmon processes that watch 10 running pods
 * Timings never fail the run; only something that breaks gives a non-zero exit.
 */

#define BUSYBOX "/bin/busybox"
#define CONTAINERD_P50_MS 361.0
#define CONTAINERD_SHIM_MIB 13.6
#define START_RATIO_TARGET 1.3
#define MEMORY_TARGET_MIB 3.5

enum
{
  ROLE_INFRA,
  ROLE_CONTAINER,
  N_ROLES
};

/* the three ways a pod + container start is measured */
enum
{
  KIND_ENGINE, /* run_pod + create_container + start_container */
  KIND_CONMON, /* the floor's bundles through conmon, as the engine runs the runtime */
  KIND_FLOOR,  /* `runtime create` + `runtime start` of the bundles, nothing else */
  N_KINDS
};

/* engine steps: run_pod, create_container, start_container; the others: create and start
 * of the infra bundle, then of the container bundle */
#define N_STEPS (2 * N_ROLES)
#define N_ENGINE_STEPS 3

typedef struct
{
  const char *name;              /* "runc" or "crun": the engine's handler of the same name */
  char **prefix;                 /* how the floor runs it: runc, or grove-runtime-exec crun */
  char *state_root;              /* the floor's --root */
  char *bundles[N_ROLES];        /* the floor's bundles, made once */
  char *conmon_bundles[N_ROLES]; /* copies for the conmon peer (conmon adds FIFOs) */
  GroveOciRuntime *oci;          /* the conmon peer's runtime */
  GPtrArray *floor_live;         /* floor containers that exist, for the cleanup */
  GPtrArray *conmon_live;        /* the conmon peer's containers that exist */
  GArray *conmon_pids;           /* and their conmons */
  GArray *total[N_KINDS];        /* ms of each timed start */
  GArray *steps[N_KINDS][N_STEPS];
} Runtime;

typedef struct
{
  char *python;
  char *mkimage;
  char *pause;
  char *runtime_exec;
  char *parent;
  int repetitions;
  int pods;
  int budget;
  char *workdir;
  char *runroot;
  char *cgroup_parent; /* /grove-bench-<pid>, in every hierarchy */
  GroveStore *store;
  GroveEngine *engine;
  Runtime runtimes[2];
  guint n_runtimes;
  GString *summary;
} Bench;

static void
runtime_clear (Runtime *rt)
{
  g_clear_pointer (&rt->prefix, g_strfreev);
  g_clear_pointer (&rt->state_root, g_free);
  for (guint i = 0; i < N_ROLES; i++)
    {
      g_clear_pointer (&rt->bundles[i], g_free);
      g_clear_pointer (&rt->conmon_bundles[i], g_free);
    }
  g_clear_object (&rt->oci);
  g_clear_pointer (&rt->floor_live, g_ptr_array_unref);
  g_clear_pointer (&rt->conmon_live, g_ptr_array_unref);
  g_clear_pointer (&rt->conmon_pids, g_array_unref);
  for (guint k = 0; k < N_KINDS; k++)
    {
      g_clear_pointer (&rt->total[k], g_array_unref);
      for (guint i = 0; i < N_STEPS; i++)
        g_clear_pointer (&rt->steps[k][i], g_array_unref);
    }
}

static void
bench_clear (Bench *b)
{
  g_clear_pointer (&b->python, g_free);
  g_clear_pointer (&b->mkimage, g_free);
  g_clear_pointer (&b->pause, g_free);
  g_clear_pointer (&b->runtime_exec, g_free);
  g_clear_pointer (&b->parent, g_free);
  g_clear_pointer (&b->workdir, g_free);
  g_clear_pointer (&b->runroot, g_free);
  g_clear_pointer (&b->cgroup_parent, g_free);
  g_clear_object (&b->engine);
  g_clear_object (&b->store);
  for (guint i = 0; i < G_N_ELEMENTS (b->runtimes); i++)
    runtime_clear (&b->runtimes[i]);
  if (b->summary != NULL)
    g_string_free (g_steal_pointer (&b->summary), TRUE);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Bench, bench_clear)

/* ---- figures ---- */

static double
ms_between (gint64 from, gint64 to)
{
  return (double)(to - from) / 1000.0;
}

/* the steps of one timed start and their sum */
static void
record_start (Runtime *rt, guint kind, const double *ms, guint n_steps)
{
  double total = 0;

  for (guint i = 0; i < n_steps; i++)
    {
      g_array_append_val (rt->steps[kind][i], ms[i]);
      total += ms[i];
    }
  g_array_append_val (rt->total[kind], total);
}

/* ---- commands ---- */

/* runs @argv with stdout and stderr in @log (never a pipe: `runtime create` hands its stdio
 * to the container, which keeps it open); the log's text goes into the error on failure */
static gboolean
run_logged (const char *const *argv, const char *log, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr (GSubprocess) proc = NULL;
  g_autofree char *output = NULL;
  g_autofree char *command = g_strjoinv (" ", (char **)argv);

  g_subprocess_launcher_set_stdout_file_path (launcher, log);
  proc = g_subprocess_launcher_spawnv (launcher, argv, error);
  if (proc == NULL || !g_subprocess_wait (proc, NULL, error))
    return g_prefix_error (error, "running %s: ", command), FALSE;
  if (g_subprocess_get_successful (proc))
    return TRUE;
  g_file_get_contents (log, &output, NULL, NULL);
  return grove_throw (error, GROVE_ERROR_FAILED, "%s failed: %s", command,
                      output != NULL ? g_strstrip (output) : "(no output)");
}

/* the floor's `<runtime> --root R <verb> ARGS...` */
static gboolean floor_command (Bench *b, Runtime *rt, GError **error, const char *verb,
                               ...) G_GNUC_NULL_TERMINATED;

static gboolean
floor_command (Bench *b, Runtime *rt, GError **error, const char *verb, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *log = g_build_filename (b->workdir, "floor.log", NULL);
  va_list args;

  for (guint i = 0; rt->prefix[i] != NULL; i++)
    g_ptr_array_add (argv, rt->prefix[i]);
  g_ptr_array_add (argv, "--root");
  g_ptr_array_add (argv, rt->state_root);
  va_start (args, verb);
  for (const char *arg = verb; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (char *)arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  return run_logged ((const char *const *)argv->pdata, log, error);
}

/* ---- the engine, driven from the main loop ---- */

typedef struct
{
  GAsyncResult *result;
  gint64 at; /* when the callback ran */
} Waiter;

static void
waiter_clear (Waiter *waiter)
{
  g_clear_object (&waiter->result);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Waiter, waiter_clear)

static void
waiter_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Waiter *waiter = user_data;

  waiter->at = g_get_monotonic_time ();
  waiter->result = g_object_ref (result);
}

static GAsyncResult *
waiter_wait (Waiter *waiter)
{
  while (waiter->result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return waiter->result;
}

static JsonObject *
parse_object (const char *json, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root = NULL;

  if (!json_parser_load_from_data (parser, json, -1, error))
    return NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "not a JSON object: %s", json), NULL;
  return json_object_ref (json_node_get_object (root));
}

static JsonObject *
pod_config_new (const char *name, GError **error)
{
  g_autofree char *json = g_strdup_printf (
      "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"bench\",\"uid\":\"uid-%s\"},"
      "\"hostname\":\"%s\"}",
      name, name, name);

  return parse_object (json, error);
}

/* the log is named after the pod: pods run side by side in section 2 */
static JsonObject *
container_config_new (Bench *b, const char *pod_name, GError **error)
{
  g_autofree char *log = g_strdup_printf ("%s/logs/%s.log", b->workdir, pod_name);
  g_autofree char *json = g_strdup_printf (
      "{\"metadata\":{\"name\":\"sleeper\"},\"image\":{\"image\":\"localhost/busybox:latest\"},"
      "\"command\":[\"sleep\",\"1000\"],\"logPath\":\"%s\"}",
      log);

  return parse_object (json, error);
}

/* a pod of @handler with one running `sleep 1000`; @out_ms gets the time of each step */
static gboolean
engine_start_pod (Bench *b, const char *handler, const char *name, char **out_pod_id,
                  char **out_container_id, double *out_ms, GError **error)
{
  g_autoptr (JsonObject) pod_config = NULL;
  g_autoptr (JsonObject) container_config = NULL;
  g_auto (Waiter) ran = { NULL, 0 };
  g_auto (Waiter) created = { NULL, 0 };
  g_auto (Waiter) started = { NULL, 0 };
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GroveContainer) container = NULL;
  gint64 start = 0;

  pod_config = pod_config_new (name, error);
  if (pod_config == NULL)
    return FALSE;
  container_config = container_config_new (b, name, error);
  if (container_config == NULL)
    return FALSE;
  start = g_get_monotonic_time ();
  grove_engine_run_pod_async (b->engine, pod_config, handler, NULL, waiter_cb, &ran);
  pod = grove_engine_run_pod_finish (b->engine, waiter_wait (&ran), error);
  if (pod == NULL)
    return g_prefix_error (error, "run_pod %s (%s): ", name, handler), FALSE;
  *out_pod_id = g_strdup (grove_pod_get_id (pod));
  grove_engine_create_container_async (b->engine, grove_pod_get_id (pod), container_config, NULL,
                                       waiter_cb, &created);
  container = grove_engine_create_container_finish (b->engine, waiter_wait (&created), error);
  if (container == NULL)
    return g_prefix_error (error, "create_container in %s (%s): ", name, handler), FALSE;
  *out_container_id = g_strdup (grove_container_get_id (container));
  grove_engine_start_container_async (b->engine, grove_container_get_id (container), NULL,
                                      waiter_cb, &started);
  if (!grove_engine_start_container_finish (b->engine, waiter_wait (&started), error))
    return g_prefix_error (error, "start_container in %s (%s): ", name, handler), FALSE;
  out_ms[0] = ms_between (start, ran.at);
  out_ms[1] = ms_between (ran.at, created.at);
  out_ms[2] = ms_between (created.at, started.at);
  return TRUE;
}

static gboolean
engine_remove_pod (Bench *b, const char *pod_id, GError **error)
{
  g_auto (Waiter) removed = { NULL, 0 };

  grove_engine_remove_pod_async (b->engine, pod_id, NULL, waiter_cb, &removed);
  if (!grove_engine_remove_pod_finish (b->engine, waiter_wait (&removed), error))
    return g_prefix_error (error, "removing pod %s: ", pod_id), FALSE;
  return TRUE;
}

/* one timed start (the pod is removed after, untimed); @record FALSE for a warm-up */
static gboolean
engine_start_once (Bench *b, Runtime *rt, int rep, gboolean record, GError **error)
{
  g_autofree char *name = g_strdup_printf ("bench-%s-%d", rt->name, rep);
  g_autofree char *pod_id = NULL;
  g_autofree char *container_id = NULL;
  double ms[N_STEPS] = { 0 };

  if (!engine_start_pod (b, rt->name, name, &pod_id, &container_id, ms, error))
    return FALSE;
  if (record)
    record_start (rt, KIND_ENGINE, ms, N_ENGINE_STEPS);
  return engine_remove_pod (b, pod_id, error);
}

/* ---- the floor: the runtime alone, on bundles made beforehand ---- */

static gboolean
floor_delete_all (Bench *b, Runtime *rt, GError **error)
{
  /* the container first, as its pod would go */
  while (rt->floor_live != NULL && rt->floor_live->len > 0)
    {
      g_autofree char *id = g_ptr_array_steal_index (rt->floor_live, rt->floor_live->len - 1);

      if (!floor_command (b, rt, error, "delete", "--force", id, NULL))
        return FALSE;
    }
  return TRUE;
}

static char *
start_id (Runtime *rt, const char *kind, int rep, guint role)
{
  return g_strdup_printf ("bench-%s-%s-%d-%s", kind, rt->name, rep,
                          role == ROLE_INFRA ? "infra" : "ctr");
}

static gboolean
floor_start_once (Bench *b, Runtime *rt, int rep, gboolean record, GError **error)
{
  double ms[N_STEPS] = { 0 };
  gint64 mark = g_get_monotonic_time ();

  for (guint i = 0; i < N_ROLES; i++)
    {
      g_autofree char *id = start_id (rt, "floor", rep, i);
      gint64 now;

      if (!floor_command (b, rt, error, "create", "--bundle", rt->bundles[i], id, NULL))
        return FALSE;
      g_ptr_array_add (rt->floor_live, g_strdup (id));
      now = g_get_monotonic_time ();
      ms[2 * i] = ms_between (mark, now);
      mark = now;
      if (!floor_command (b, rt, error, "start", id, NULL))
        return FALSE;
      now = g_get_monotonic_time ();
      ms[2 * i + 1] = ms_between (mark, now);
      mark = now;
    }
  if (record)
    record_start (rt, KIND_FLOOR, ms, N_STEPS);
  return floor_delete_all (b, rt, error);
}

/* ---- the conmon peer: the same bundles through GroveOciRuntime ---- */

/* alive and not a zombie (a reparented conmon stays one until PID 1 reaps it) */
static gboolean
process_running (int pid)
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
conmon_delete_all (Runtime *rt, GError **error)
{
  while (rt->conmon_live != NULL && rt->conmon_live->len > 0)
    {
      g_autofree char *id = g_ptr_array_steal_index (rt->conmon_live, rt->conmon_live->len - 1);
      g_auto (Waiter) deleted = { NULL, 0 };

      grove_oci_runtime_delete_async (rt->oci, id, TRUE, NULL, waiter_cb, &deleted);
      if (!grove_oci_runtime_delete_finish (rt->oci, waiter_wait (&deleted), error))
        return FALSE;
    }
  /* each conmon ends once its container has: wait, so none piles up (5 s at most) */
  for (guint i = 0; rt->conmon_pids != NULL && i < rt->conmon_pids->len; i++)
    for (guint tries = 0; tries < 500 && process_running (g_array_index (rt->conmon_pids, int, i));
         tries++)
      g_usleep (10000);
  if (rt->conmon_pids != NULL)
    g_array_set_size (rt->conmon_pids, 0);
  return TRUE;
}

/* conmon makes its ctl and winsz FIFOs in the bundle: gone before the next create */
static void
clear_conmon_fifos (Runtime *rt)
{
  const char *const fifos[] = { "ctl", "winsz", NULL };

  for (guint i = 0; i < N_ROLES; i++)
    for (guint f = 0; fifos[f] != NULL; f++)
      {
        g_autofree char *path = g_build_filename (rt->conmon_bundles[i], fifos[f], NULL);
        unlink (path);
      }
}

static gboolean
conmon_create_start (Bench *b, Runtime *rt, const char *id, guint role, double *out_ms,
                     GError **error)
{
  g_autofree char *run_dir = g_build_filename (b->workdir, "conmon-run", id, NULL);
  g_autofree char *exit_dir = g_build_filename (b->workdir, "conmon-run", "exits", NULL);
  g_autofree char *log = g_build_filename (run_dir, "ctr.log", NULL);
  GroveCreateOptions options
      = { id, rt->conmon_bundles[role], run_dir, exit_dir, log, FALSE, FALSE, FALSE };
  g_auto (Waiter) created = { NULL, 0 };
  g_auto (Waiter) started = { NULL, 0 };
  gint64 start = g_get_monotonic_time ();
  int conmon = 0;

  grove_oci_runtime_create_async (rt->oci, &options, NULL, waiter_cb, &created);
  if (!grove_oci_runtime_create_finish (rt->oci, waiter_wait (&created), NULL, &conmon, error))
    return g_prefix_error (error, "conmon peer: "), FALSE;
  g_ptr_array_add (rt->conmon_live, g_strdup (id));
  g_array_append_val (rt->conmon_pids, conmon);
  grove_oci_runtime_start_async (rt->oci, id, NULL, waiter_cb, &started);
  if (!grove_oci_runtime_start_finish (rt->oci, waiter_wait (&started), error))
    return g_prefix_error (error, "conmon peer: "), FALSE;
  out_ms[0] = ms_between (start, created.at);
  out_ms[1] = ms_between (created.at, started.at);
  return TRUE;
}

static gboolean
conmon_start_once (Bench *b, Runtime *rt, int rep, gboolean record, GError **error)
{
  double ms[N_STEPS] = { 0 };

  for (guint i = 0; i < N_ROLES; i++)
    {
      g_autofree char *id = start_id (rt, "conmon", rep, i);

      if (!conmon_create_start (b, rt, id, i, &ms[2 * i], error))
        return FALSE;
    }
  if (record)
    record_start (rt, KIND_CONMON, ms, N_STEPS);
  if (!conmon_delete_all (rt, error))
    return FALSE;
  clear_conmon_fifos (rt);
  return TRUE;
}

static gboolean
make_rootfs (const char *rootfs, GError **error)
{
  const char *const dirs[] = { "bin", "proc", "sys", "dev", "tmp", "etc", NULL };
  const char *const applets[] = { "sh", "sleep", NULL };
  g_autofree char *busybox = g_build_filename (rootfs, "bin", "busybox", NULL);
  g_autoptr (GFile) source = g_file_new_for_path (BUSYBOX);
  g_autoptr (GFile) target = g_file_new_for_path (busybox);

  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *dir = g_build_filename (rootfs, dirs[i], NULL);

      if (!grove_mkdir_p_at (AT_FDCWD, dir, 0755, error))
        return FALSE;
    }
  if (!g_file_copy (source, target, G_FILE_COPY_NONE, NULL, NULL, NULL, error))
    return g_prefix_error (error, "copying %s: ", BUSYBOX), FALSE;
  if (chmod (busybox, 0755) < 0)
    return grove_throw_errno_code (error, errno, "chmod %s", busybox);
  for (guint i = 0; applets[i] != NULL; i++)
    {
      g_autofree char *link = g_build_filename (rootfs, "bin", applets[i], NULL);

      if (symlink ("busybox", link) < 0)
        return grove_throw_errno_code (error, errno, "symlink %s", link);
    }
  return TRUE;
}

/* `runc spec`, then `sleep 1000`, no terminal, the shared writable rootfs, our own cgroup */
static gboolean
write_bundle (Bench *b, const char *bundle, const char *rootfs, const char *cgroup, GError **error)
{
  g_autofree char *config_path = g_build_filename (bundle, "config.json", NULL);
  g_autofree char *log = g_build_filename (b->workdir, "floor.log", NULL);
  g_autofree char *cgroups_path = g_strdup_printf ("%s/%s", b->cgroup_parent, cgroup);
  const char *const spec_argv[] = { "runc", "spec", "--bundle", bundle, NULL };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  JsonObject *config = NULL;
  JsonObject *process = NULL;
  JsonObject *root = NULL;
  JsonArray *args = NULL;

  if (!grove_mkdir_p_at (AT_FDCWD, bundle, 0700, error) || !run_logged (spec_argv, log, error)
      || !json_parser_load_from_file (parser, config_path, error))
    return FALSE;
  config = json_node_get_object (json_parser_get_root (parser));
  process = json_object_get_object_member (config, "process");
  json_object_set_boolean_member (process, "terminal", FALSE);
  args = json_array_new ();
  json_array_add_string_element (args, "sleep");
  json_array_add_string_element (args, "1000");
  json_object_set_array_member (process, "args", args);
  root = json_object_new ();
  json_object_set_string_member (root, "path", rootfs);
  json_object_set_boolean_member (root, "readonly", FALSE);
  json_object_set_object_member (config, "root", root);
  json_object_set_string_member (json_object_get_object_member (config, "linux"), "cgroupsPath",
                                 cgroups_path);
  json_generator_set_root (generator, json_parser_get_root (parser));
  json_generator_set_pretty (generator, TRUE);
  return json_generator_to_file (generator, config_path, error);
}

static gboolean
prepare_runtime_peers (Bench *b, Runtime *rt, const char *rootfs, GError **error)
{
  const char *const roles[N_ROLES] = { "infra", "ctr" };
  g_autofree char *conmon_state
      = g_strdup_printf ("%s/floor/conmon-state-%s", b->workdir, rt->name);

  rt->state_root = g_strdup_printf ("%s/floor/state-%s", b->workdir, rt->name);
  for (guint i = 0; i < N_ROLES; i++)
    {
      g_autofree char *cgroup = g_strdup_printf ("floor-%s-%s", rt->name, roles[i]);
      g_autofree char *conmon_cgroup = g_strdup_printf ("conmon-%s-%s", rt->name, roles[i]);

      rt->bundles[i] = g_strdup_printf ("%s/floor/%s-%s", b->workdir, rt->name, roles[i]);
      rt->conmon_bundles[i]
          = g_strdup_printf ("%s/floor/conmon-%s-%s", b->workdir, rt->name, roles[i]);
      if (!write_bundle (b, rt->bundles[i], rootfs, cgroup, error)
          || !write_bundle (b, rt->conmon_bundles[i], rootfs, conmon_cgroup, error))
        return FALSE;
    }
  rt->oci = grove_oci_runtime_new_with_argv (rt->name, (const char *const *)rt->prefix,
                                             conmon_state, NULL, error);
  return rt->oci != NULL;
}

static gboolean
prepare_floor (Bench *b, GError **error)
{
  g_autofree char *rootfs = g_build_filename (b->workdir, "floor", "rootfs", NULL);

  if (!make_rootfs (rootfs, error))
    return FALSE;
  for (guint r = 0; r < b->n_runtimes; r++)
    if (!prepare_runtime_peers (b, &b->runtimes[r], rootfs, error))
      return FALSE;
  return TRUE;
}

/* ---- setup ---- */

static gboolean
import_busybox (Bench *b, GError **error)
{
  g_autofree char *image = g_build_filename (b->workdir, "busybox", NULL);
  g_autofree char *store_root = g_build_filename (b->workdir, "store", NULL);
  g_autofree char *log = g_build_filename (b->workdir, "mkimage.log", NULL);
  const char *const argv[] = {
    b->python, b->mkimage, "busybox", "--format", "oci-dir", "--tag", "localhost/busybox:latest",
    image,     NULL
  };
  g_autoptr (GPtrArray) images = NULL;

  if (!run_logged (argv, log, error))
    return FALSE;
  b->store = grove_store_open (store_root, NULL, error);
  if (b->store == NULL)
    return FALSE;
  images = grove_store_import_image (b->store, image, GROVE_IMAGE_FORMAT_AUTO, NULL, NULL, NULL,
                                     NULL, error);
  return images != NULL;
}

static gboolean
make_engine (Bench *b, GError **error)
{
  g_autofree char *root = g_build_filename (b->workdir, "state", NULL);
  g_auto (Waiter) loaded = { NULL, 0 };
  GroveEngineOptions options = { 0 };

  options.root = root;
  options.runroot = b->runroot;
  options.pause_path = b->pause;
  options.cgroup_parent = b->cgroup_parent;
  options.default_handler = "runc";
  options.trusted_handler = "runc";
  b->engine = grove_engine_new (b->store, &options, error);
  if (b->engine == NULL)
    return FALSE;
  for (guint r = 0; r < b->n_runtimes; r++)
    if (!grove_engine_add_handler (b->engine, b->runtimes[r].name,
                                   (const char *const *)b->runtimes[r].prefix, error))
      return FALSE;
  grove_engine_load_async (b->engine, NULL, waiter_cb, &loaded);
  return grove_engine_load_finish (b->engine, waiter_wait (&loaded), error);
}

static void
runtime_init (Runtime *rt, const char *name, const char *const *prefix)
{
  rt->name = name;
  rt->prefix = g_strdupv ((char **)prefix);
  rt->floor_live = g_ptr_array_new_with_free_func (g_free);
  rt->conmon_live = g_ptr_array_new_with_free_func (g_free);
  rt->conmon_pids = g_array_new (FALSE, FALSE, sizeof (int));
  for (guint k = 0; k < N_KINDS; k++)
    {
      rt->total[k] = bench_doubles_new ();
      for (guint i = 0; i < N_STEPS; i++)
        rt->steps[k][i] = bench_doubles_new ();
    }
}

static void
init_runtimes (Bench *b)
{
  const char *const runc[] = { "runc", NULL };
  const char *const crun[] = { b->runtime_exec, "crun", NULL };
  g_autofree char *crun_path = g_find_program_in_path ("crun");

  runtime_init (&b->runtimes[b->n_runtimes++], "runc", runc);
  if (crun_path != NULL && g_file_test (b->runtime_exec, G_FILE_TEST_IS_EXECUTABLE))
    runtime_init (&b->runtimes[b->n_runtimes++], "crun", crun);
  else
    g_print ("note: crun or %s is missing: runc only\n", b->runtime_exec);
}

static gboolean
make_workdir (Bench *b, GError **error)
{
  struct utsname uts;

  b->workdir = bench_make_workdir (b->parent, "grove-bench-runtime-XXXXXX", error);
  if (b->workdir == NULL)
    return FALSE;
  b->runroot = g_build_filename (b->workdir, "run", NULL);
  b->cgroup_parent = g_strdup_printf ("/grove-bench-%d", (int)getpid ());
  uname (&uts);
  g_print ("grove runtime benchmark: %s, kernel %s, %ld CPUs, cgroup parent %s\n", b->workdir,
           uts.release, sysconf (_SC_NPROCESSORS_ONLN), b->cgroup_parent);
  return TRUE;
}

static gboolean
bench_setup (Bench *b, GError **error)
{
  gint64 start = g_get_monotonic_time ();

  init_runtimes (b);
  if (!make_workdir (b, error) || !import_busybox (b, error) || !make_engine (b, error)
      || !prepare_floor (b, error))
    return FALSE;
  g_print ("setup (busybox image, engine, floor bundles): %.1f s\n", bench_seconds_since (start));
  return TRUE;
}

/* ---- 1. start latency ---- */

static gboolean
start_once (Bench *b, Runtime *rt, guint kind, int rep, gboolean record, GError **error)
{
  switch (kind)
    {
    case KIND_ENGINE:
      return engine_start_once (b, rt, rep, record, error);
    case KIND_CONMON:
      return conmon_start_once (b, rt, rep, record, error);
    default:
      return floor_start_once (b, rt, rep, record, error);
    }
}

/* one round: each runtime through the engine, the conmon peer and the floor; the order
 * rotates so no kind always runs right after the same other */
static gboolean
start_round (Bench *b, int rep, gboolean record, GError **error)
{
  for (guint r = 0; r < b->n_runtimes; r++)
    for (guint k = 0; k < N_KINDS; k++)
      if (!start_once (b, &b->runtimes[r], (k + (guint)rep) % N_KINDS, rep, record, error))
        return FALSE;
  return TRUE;
}

static void
print_kind (Runtime *rt, guint kind)
{
  const char *const labels[N_KINDS] = { "engine", "conmon peer", "floor" };
  double p50 = bench_percentile (rt->total[kind], 0.5);
  double p90 = bench_percentile (rt->total[kind], 0.9);
  GArray *const *steps = rt->steps[kind];

  if (kind == KIND_ENGINE)
    g_print ("    %-12s p50 %6.1f, p90 %6.1f ms: run_pod %.1f, create_container %.1f, "
             "start_container %.1f\n",
             labels[kind], p50, p90, bench_percentile (steps[0], 0.5),
             bench_percentile (steps[1], 0.5), bench_percentile (steps[2], 0.5));
  else
    g_print ("    %-12s p50 %6.1f, p90 %6.1f ms: infra create %.1f + start %.1f, container "
             "create %.1f + start %.1f\n",
             labels[kind], p50, p90, bench_percentile (steps[0], 0.5),
             bench_percentile (steps[1], 0.5), bench_percentile (steps[2], 0.5),
             bench_percentile (steps[3], 0.5));
}

static void
report_start (Bench *b, Runtime *rt)
{
  double engine50 = bench_percentile (rt->total[KIND_ENGINE], 0.5);
  double engine90 = bench_percentile (rt->total[KIND_ENGINE], 0.9);
  double conmon50 = bench_percentile (rt->total[KIND_CONMON], 0.5);
  double floor50 = bench_percentile (rt->total[KIND_FLOOR], 0.5);
  double floor90 = bench_percentile (rt->total[KIND_FLOOR], 0.9);
  double ratio = engine50 / floor50;
  gboolean met = ratio <= START_RATIO_TARGET;

  g_print ("  %s, %u runs of each (medians of each step; they need not add up to the total's):\n",
           rt->name, rt->total[KIND_ENGINE]->len);
  for (guint k = 0; k < N_KINDS; k++)
    print_kind (rt, k);
  g_print ("    ratio engine/floor: p50 %.2f (target: <= %.1fx) %s; p90 %.2f\n", ratio,
           START_RATIO_TARGET, bench_verdict (met), engine90 / floor90);
  g_print ("    the engine's extra %.1f ms (p50): conmon %.1f (conmon peer - floor), the engine's "
           "own work %.1f (engine - conmon peer)\n",
           engine50 - floor50, conmon50 - floor50, engine50 - conmon50);
  g_string_append_printf (b->summary,
                          "start %s: engine p50 %.0f ms, p90 %.0f ms; floor p50 %.0f ms, p90 "
                          "%.0f ms; ratio %.2f (target <= %.1f, %s); conmon peer p50 %.0f ms; "
                          "%u runs\n",
                          rt->name, engine50, engine90, floor50, floor90, ratio, START_RATIO_TARGET,
                          bench_verdict (met), conmon50, rt->total[KIND_ENGINE]->len);
}

static void
report_containerd (Bench *b)
{
  Runtime *crun = b->n_runtimes > 1 ? &b->runtimes[1] : NULL;
  double goal = CONTAINERD_P50_MS / 2;
  double crun50 = crun != NULL ? bench_percentile (crun->total[KIND_ENGINE], 0.5) : 0;

  g_print ("  containerd 1.6 + runc measured here earlier: %.0f ms p50; Grove aims at half of "
           "that with crun\n",
           CONTAINERD_P50_MS);
  if (crun == NULL)
    return;
  g_print ("    Grove + crun p50 %.1f ms vs %.1f ms (half of containerd) %s; %.2f of containerd\n",
           crun50, goal, bench_verdict (crun50 <= goal), crun50 / CONTAINERD_P50_MS);
  g_string_append_printf (
      b->summary,
      "start vs containerd 1.6 + runc (%.0f ms p50, earlier): Grove + crun "
      "%.0f ms = %.2fx (aim <= 0.5, %s); Grove + runc %.0f ms = %.2fx\n",
      CONTAINERD_P50_MS, crun50, crun50 / CONTAINERD_P50_MS, bench_verdict (crun50 <= goal),
      bench_percentile (b->runtimes[0].total[KIND_ENGINE], 0.5),
      bench_percentile (b->runtimes[0].total[KIND_ENGINE], 0.5) / CONTAINERD_P50_MS);
}

static gboolean
bench_start (Bench *b, GError **error)
{
  gint64 start = 0;
  int done = 0;

  g_print ("\n== 1. pod + container start: run_pod + create + start vs runtime create + start "
           "of two prepared bundles ==\n");
  start = g_get_monotonic_time ();
  /* warm-up: the first pod makes the pause image; caches fill */
  if (!start_round (b, b->repetitions, FALSE, error))
    return FALSE;
  g_print ("  warm-up round (makes the pause image): %.1f s\n", bench_seconds_since (start));
  bench_print_load ("before");
  start = g_get_monotonic_time ();
  for (done = 0; done < b->repetitions; done++)
    {
      double elapsed = bench_seconds_since (start);

      /* stop early rather than run past the time budget */
      if (done > 0 && elapsed / done * (done + 1) > b->budget)
        break;
      if (!start_round (b, done, TRUE, error))
        return FALSE;
    }
  g_print ("  %d rounds in %.1f s%s\n", done, bench_seconds_since (start),
           done < b->repetitions ? " (fewer than asked: the time budget was reached)" : "");
  bench_print_load ("after");
  for (guint r = 0; r < b->n_runtimes; r++)
    report_start (b, &b->runtimes[r]);
  report_containerd (b);
  return TRUE;
}

/* ---- 2. monitor memory ---- */

typedef struct
{
  guint64 rss_kb;
  guint64 rss_anon_kb;
  guint64 pss_kb;
  guint64 pss_anon_kb;
  guint64 uss_kb;
  guint count;
} Memory;

/* the conmon of container @id, by its PID file, checked to be that conmon (`-c <id>`) */
static int
conmon_pid (Bench *b, const char *id, GError **error)
{
  g_autofree char *pid_path = g_build_filename (b->runroot, "containers", id, "conmon.pid", NULL);
  g_autofree char *text = NULL;
  g_autofree char *cmdline_path = NULL;
  g_autofree char *cmdline = NULL;
  gsize length = 0;
  gint64 pid = 0;

  if (!g_file_get_contents (pid_path, &text, NULL, error))
    return -1;
  if (!g_ascii_string_to_signed (g_strstrip (text), 10, 1, G_MAXINT, &pid, error))
    return g_prefix_error (error, "%s: ", pid_path), -1;
  cmdline_path = g_strdup_printf ("/proc/%d/cmdline", (int)pid);
  if (!g_file_get_contents (cmdline_path, &cmdline, &length, error))
    return -1;
  for (gsize i = 0; i + 1 < length; i += strlen (cmdline + i) + 1)
    {
      const char *next = cmdline + i + strlen (cmdline + i) + 1;

      if (g_str_equal (cmdline + i, "-c") && next < cmdline + length && g_str_equal (next, id))
        return (int)pid;
    }
  return grove_throw (error, GROVE_ERROR_FAILED, "PID %d in %s is not the conmon of %s", (int)pid,
                      pid_path, id),
         -1;
}

static gboolean
add_conmon_memory (Bench *b, const char *id, Memory *memory, GError **error)
{
  int pid = conmon_pid (b, id, error);
  g_autofree char *status = NULL;
  g_autofree char *rollup = NULL;

  if (pid < 0 || !bench_read_proc_memory (pid, &status, &rollup, error))
    return FALSE;
  memory->rss_kb += bench_proc_kb (status, "VmRSS");
  memory->rss_anon_kb += bench_proc_kb (status, "RssAnon");
  memory->pss_kb += bench_proc_kb (rollup, "Pss");
  memory->pss_anon_kb += bench_proc_kb (rollup, "Pss_Anon");
  memory->uss_kb
      += bench_proc_kb (rollup, "Private_Clean") + bench_proc_kb (rollup, "Private_Dirty");
  memory->count++;
  return TRUE;
}

static void
report_memory (Bench *b, const Memory *m)
{
  double per_pod_rss = bench_mib (m->rss_kb) / b->pods;
  double per_pod_pss = bench_mib (m->pss_kb) / b->pods;

  g_print ("  %u conmon processes for %d pods (infra + container each)\n", m->count, b->pods);
  g_print ("  per conmon: RSS %.2f MiB (anon %.2f), PSS %.2f MiB (anon %.2f), private %.2f MiB\n",
           bench_mib (m->rss_kb) / m->count, bench_mib (m->rss_anon_kb) / m->count,
           bench_mib (m->pss_kb) / m->count, bench_mib (m->pss_anon_kb) / m->count,
           bench_mib (m->uss_kb) / m->count);
  g_print ("  per pod: RSS %.2f MiB %s, PSS %.2f MiB %s (target: < %.1f MiB per pod)\n",
           per_pod_rss, bench_verdict (per_pod_rss < MEMORY_TARGET_MIB), per_pod_pss,
           bench_verdict (per_pod_pss < MEMORY_TARGET_MIB), MEMORY_TARGET_MIB);
  g_print ("  containerd's shim took %.1f MiB per pod here\n", CONTAINERD_SHIM_MIB);
  g_string_append_printf (b->summary,
                          "monitor memory per pod (2 conmons): RSS %.2f MiB (%s), PSS %.2f MiB "
                          "(%s), target < %.1f; containerd's shim: %.1f MiB\n",
                          per_pod_rss, bench_verdict (per_pod_rss < MEMORY_TARGET_MIB), per_pod_pss,
                          bench_verdict (per_pod_pss < MEMORY_TARGET_MIB), MEMORY_TARGET_MIB,
                          CONTAINERD_SHIM_MIB);
}

static gboolean
bench_memory (Bench *b, GError **error)
{
  g_autoptr (GPtrArray) pods = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) containers = g_ptr_array_new_with_free_func (g_free);
  Memory memory = { 0 };
  gint64 start = g_get_monotonic_time ();

  g_print ("\n== 2. monitor memory: the conmons of %d running pods (runc) ==\n", b->pods);
  for (int i = 0; i < b->pods; i++)
    {
      g_autofree char *name = g_strdup_printf ("bench-memory-%d", i);
      g_autofree char *pod_id = NULL;
      g_autofree char *container_id = NULL;
      double ms[N_STEPS] = { 0 };

      /* a pod that failed half-way is removed by the cleanup */
      if (!engine_start_pod (b, "runc", name, &pod_id, &container_id, ms, error))
        return FALSE;
      g_ptr_array_add (pods, g_steal_pointer (&pod_id));
      g_ptr_array_add (containers, g_steal_pointer (&container_id));
    }
  for (guint i = 0; i < pods->len; i++)
    if (!add_conmon_memory (b, pods->pdata[i], &memory, error)
        || !add_conmon_memory (b, containers->pdata[i], &memory, error))
      return FALSE;
  report_memory (b, &memory);
  for (guint i = 0; i < pods->len; i++)
    if (!engine_remove_pod (b, pods->pdata[i], error))
      return FALSE;
  g_print ("  (%.1f s)\n", bench_seconds_since (start));
  return TRUE;
}

/* ---- cleanup ---- */

/* processes whose command line names the work dir (conmons do); @report says which */
static guint
count_processes_naming (const char *workdir, gboolean report)
{
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name = NULL;
  guint left = 0;

  while (proc != NULL && (name = g_dir_read_name (proc)) != NULL)
    {
      g_autofree char *cmdline = NULL;

      if (!g_ascii_isdigit (name[0]))
        continue;
      cmdline = bench_cmdline_naming (name, workdir);
      if (cmdline == NULL)
        continue;
      if (report)
        g_printerr ("bench-runtime: PID %s is left: %s\n", name, cmdline);
      left++;
    }
  return left;
}

/* a conmon writes its exit file just before it ends: give the last ones 2 s to go */
static guint
count_leftover_processes (Bench *b)
{
  for (guint tries = 0; tries < 200 && count_processes_naming (b->workdir, FALSE) > 0; tries++)
    g_usleep (10000);
  return count_processes_naming (b->workdir, TRUE);
}

static gboolean
remove_engine_pods (Bench *b, GError **error)
{
  g_autoptr (GPtrArray) pods = NULL;

  if (b->engine == NULL)
    return TRUE;
  pods = grove_engine_list_pods (b->engine, NULL);
  for (guint i = 0; i < pods->len; i++)
    if (!engine_remove_pod (b, grove_pod_get_id (pods->pdata[i]), error))
      return FALSE;
  return TRUE;
}

/* undoes everything, whatever the run got to; says what was left */
static gboolean
bench_cleanup (Bench *b, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree char *netns_dir = NULL;
  guint leaked = 0;

  if (b->workdir == NULL)
    return TRUE;
  netns_dir = g_build_filename (b->runroot, "netns", NULL);
  if (!remove_engine_pods (b, &local_error))
    g_printerr ("bench-runtime: %s\n", local_error->message);
  g_clear_error (&local_error);
  for (guint r = 0; r < b->n_runtimes; r++)
    {
      if (!floor_delete_all (b, &b->runtimes[r], &local_error))
        g_printerr ("bench-runtime: %s\n", local_error->message);
      g_clear_error (&local_error);
      if (!conmon_delete_all (&b->runtimes[r], &local_error))
        g_printerr ("bench-runtime: %s\n", local_error->message);
      g_clear_error (&local_error);
    }
  g_clear_object (&b->engine);
  g_clear_object (&b->store);
  for (guint r = 0; r < b->n_runtimes; r++)
    g_clear_object (&b->runtimes[r].oci);
  leaked += count_leftover_processes (b);
  /* the engine's netns dir is a bind mount of itself and stays; anything else is a leak */
  if (!bench_unmount_below ("bench-runtime", b->workdir, netns_dir, TRUE, &leaked, error))
    return FALSE;
  leaked += bench_remove_cgroups ("bench-runtime", b->cgroup_parent);
  if (!grove_rm_rf_at (AT_FDCWD, b->workdir, NULL, error))
    return g_prefix_error (error, "cleaning up %s: ", b->workdir), FALSE;
  g_print ("\nremoved %s and cgroup %s\n", b->workdir, b->cgroup_parent);
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
    { "python", 0, 0, G_OPTION_ARG_FILENAME, &b->python, "Python for mkimage.py", "PATH" },
    { "mkimage", 0, 0, G_OPTION_ARG_FILENAME, &b->mkimage, "tests/mkimage.py", "PATH" },
    { "pause", 0, 0, G_OPTION_ARG_FILENAME, &b->pause, "The grove-pause binary", "PATH" },
    { "runtime-exec", 0, 0, G_OPTION_ARG_FILENAME, &b->runtime_exec,
      "The grove-runtime-exec binary (runs crun)", "PATH" },
    { "workdir-parent", 0, 0, G_OPTION_ARG_FILENAME, &b->parent, "Where to work", "DIR" },
    { "repetitions", 0, 0, G_OPTION_ARG_INT, &b->repetitions, "Timed starts of each kind", "N" },
    { "pods", 0, 0, G_OPTION_ARG_INT, &b->pods, "Pods whose conmons are measured", "N" },
    { "budget", 0, 0, G_OPTION_ARG_INT, &b->budget, "Seconds the start rounds may take", "S" },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- Grove runtime benchmarks");

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, argc, argv, error))
    return FALSE;
  if (b->mkimage == NULL || b->pause == NULL || b->runtime_exec == NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "--mkimage, --pause and --runtime-exec are required");
  if (b->repetitions < 1 || b->pods < 1 || b->budget < 1)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "counts must be at least 1");
  /* the engine and conmon get these paths: make them absolute */
  bench_make_absolute (&b->pause);
  bench_make_absolute (&b->runtime_exec);
  if (b->python == NULL)
    b->python = g_strdup ("python3");
  if (b->parent == NULL)
    b->parent = g_strdup ("/var/tmp");
  return TRUE;
}

static gboolean
check_host (GError **error)
{
  const char *const needed[] = { "runc", "conmon", NULL };

  if (geteuid () != 0)
    return grove_throw (error, GROVE_ERROR_PERMISSION_DENIED,
                        "run as root: it starts containers, mounts and makes cgroups");
  if (!bench_check_programs (needed, error))
    return FALSE;
  if (!g_file_test (BUSYBOX, G_FILE_TEST_IS_EXECUTABLE))
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "%s (busybox-static) is missing", BUSYBOX);
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_auto (Bench) b
      = { .repetitions = 50, .pods = 10, .budget = 180, .summary = g_string_new (NULL) };
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) cleanup_error = NULL;
  gint64 start = g_get_monotonic_time ();
  gboolean ok = FALSE;

  if (!parse_options (&b, &argc, &argv, &error) || !check_host (&error))
    {
      g_printerr ("bench-runtime: %s\n", error->message);
      return 1;
    }
  ok = bench_setup (&b, &error) && bench_start (&b, &error) && bench_memory (&b, &error);
  bench_cleanup (&b, &cleanup_error);
  return bench_exit_status ("bench-runtime", ok ? NULL : error, cleanup_error, start, b.summary);
}
