/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestPull"

/*
 * grove_store_pull_image_async() against a loopback docker-registry (started through
 * tests/grove_registry.py), then a container from the pulled image run through the engine.
 * The failure cases and the registry variants are in test-pull.py.
 */

#include <string.h>
#include <unistd.h>

#include "grove-engine.h"
#include "grove-record.h"
#include "grove-test-utils.h"
#include "grove-utils.h"

typedef struct
{
  char *tmpdir;
  char *registry_dir;
  char *host;
  char *cgroup_parent;
  GroveStore *store;
  GroveEngine *engine;
} Fixture;

/* runs tests/grove_registry.py COMMAND DIR [ARGS]; its stdout */
static char *
registry_tool (const char *command, const char *dir, const char *arg1, const char *arg2)
{
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "grove_registry.py", NULL);
  g_autofree char *out = NULL;

  g_assert_cmpint (
      grove_test_run (&out, "/usr/bin/python3", script, command, dir, arg1, arg2, NULL), ==, 0);
  return g_steal_pointer (&out);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autofree char *started = NULL;
  g_autofree char *dest = NULL;
  g_autofree char *store_root = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) lines = NULL;

  if (!grove_test_is_root () || g_find_program_in_path ("docker-registry") == NULL
      || g_find_program_in_path ("skopeo") == NULL || g_find_program_in_path ("conmon") == NULL)
    {
      g_test_skip ("needs root, docker-registry, skopeo and conmon");
      return;
    }
  fx->tmpdir = grove_test_make_tmpdir ();
  fx->registry_dir = g_build_filename (fx->tmpdir, "registry", NULL);
  started = registry_tool ("start", fx->registry_dir, NULL, NULL);
  lines = g_strsplit (started, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "HOST="))
      fx->host = g_strdup (lines[i] + strlen ("HOST="));
  g_assert_nonnull (fx->host);
  dest = g_strdup_printf ("%s/busybox:1", fx->host);
  g_free (registry_tool ("push", fx->registry_dir, "busybox", dest));
  store_root = g_build_filename (fx->tmpdir, "store", NULL);
  fx->store = grove_store_open (store_root, NULL, &error);
  g_assert_no_error (error);
  fx->cgroup_parent = g_strdup_printf ("/grove-test-%d", (int)getpid ());
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  if (fx->tmpdir == NULL)
    return;
  if (fx->engine != NULL)
    grove_test_remove_all_pods (fx->engine);
  g_clear_object (&fx->engine);
  g_clear_object (&fx->store);
  g_free (registry_tool ("stop", fx->registry_dir, NULL, NULL));
  grove_test_remove_engine_dirs (fx->tmpdir, fx->cgroup_parent);
  g_clear_pointer (&fx->tmpdir, g_free);
  g_clear_pointer (&fx->registry_dir, g_free);
  g_clear_pointer (&fx->host, g_free);
  g_clear_pointer (&fx->cgroup_parent, g_free);
}

typedef struct
{
  gint calls;
  gint in_call;
  gint overlapped;
  gint64 last_done;
  gint64 last_total;
  gboolean all_done;
} Progress;

static void
progress_cb (const GrovePullProgress *progress, gpointer user_data)
{
  Progress *seen = user_data;
  gboolean all_done = progress->n_layers > 0;

  if (!g_atomic_int_compare_and_exchange (&seen->in_call, 0, 1))
    g_atomic_int_inc (&seen->overlapped);
  for (guint i = 0; i < progress->n_layers; i++)
    all_done = all_done && progress->layers[i].done;
  g_atomic_int_inc (&seen->calls);
  seen->last_done = progress->bytes_done;
  seen->last_total = progress->bytes_total;
  seen->all_done = all_done;
  g_atomic_int_set (&seen->in_call, 0);
}

static GroveImage *
pull (Fixture *fx, const char *reference, Progress *seen, GError **error)
{
  g_autoptr (GroveRegistryConfig) config = grove_registry_config_new ();
  g_autoptr (GAsyncResult) result = NULL;

  grove_registry_config_add_host (config, fx->host)->insecure = TRUE;
  grove_store_set_registry_config (fx->store, config);
  grove_store_pull_image_async (fx->store, reference, NULL, progress_cb, seen, NULL,
                                grove_test_result_cb, &result);
  return grove_store_pull_image_finish (fx->store, grove_test_wait_result (&result), error);
}

static GroveContainer *
run_container (Fixture *fx, const char *pod_id, const char *image)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *json = g_strdup_printf (
      "{\"metadata\":{\"name\":\"pulled\"},\"image\":{\"image\":\"%s\"},"
      "\"command\":[\"/bin/sh\",\"-c\",\"sleep 60\"],\"logPath\":\"%s/pulled.log\"}",
      image, fx->tmpdir);
  g_autoptr (JsonObject) config = grove_record_parse (json, -1, "container config", &error);

  g_assert_no_error (error);
  return grove_test_start_container (fx->engine, pod_id, config);
}

static void
test_pull_and_run (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *reference = NULL;
  g_autoptr (GroveImage) image = NULL;
  g_autoptr (GPtrArray) images = NULL;
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GroveContainer) container = NULL;
  g_autoptr (JsonObject) pod_config = NULL;
  g_autofree char *output = NULL;
  Progress seen = { 0 };

  if (fx->tmpdir == NULL)
    return;
  reference = g_strdup_printf ("%s/busybox:1", fx->host);
  image = pull (fx, reference, &seen, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (grove_image_get_names (image)[0], ==, reference);
  g_assert_cmpint (seen.calls, >=, 1);
  g_assert_cmpint (seen.overlapped, ==, 0);
  g_assert_true (seen.all_done);
  g_assert_cmpint (seen.last_done, ==, seen.last_total);
  g_assert_cmpint (seen.last_total, >, 0);
  images = grove_store_list_images (fx->store, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (images->len, ==, 1);

  fx->engine = grove_test_new_engine (fx->store, fx->tmpdir, fx->cgroup_parent);
  pod_config = grove_record_parse ("{\"metadata\":{\"name\":\"pull\",\"namespace\":\"default\","
                                   "\"uid\":\"uid-pull\"}}",
                                   -1, "pod config", &error);
  g_assert_no_error (error);
  pod = grove_test_run_pod (fx->engine, pod_config, NULL);
  container = run_container (fx, grove_pod_get_id (pod), reference);
  output = grove_test_exec_output (fx->engine, container, "echo pulled-$(ls /bin/busybox)");
  g_assert_cmpstr (output, ==, "pulled-/bin/busybox\n");
}

static void
test_missing (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *reference = NULL;
  g_autoptr (GroveImage) image = NULL;
  Progress seen = { 0 };

  if (fx->tmpdir == NULL)
    return;
  reference = g_strdup_printf ("%s/nothing:here", fx->host);
  image = pull (fx, reference, &seen, &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_assert_null (image);
  g_assert_cmpint (seen.calls, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/grove/pull/pull-and-run", Fixture, NULL, fixture_setup, test_pull_and_run,
              fixture_teardown);
  g_test_add ("/grove/pull/missing", Fixture, NULL, fixture_setup, test_missing, fixture_teardown);
  return g_test_run ();
}
