/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestSecurity"

/*
 * Security contexts, with the container as the attacker: real pods and containers on runc
 * (and crun for seccomp) run grove-attacker, a static helper that tries what they should
 * not be able to do. Containers that would fail only for want of a capability are given
 * it, so that what stops them is the seccomp filter.
 */

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "grove-engine.h"
#include "grove-record.h"
#include "grove-test-utils.h"
#include "grove-utils.h"

#define IMAGE "localhost/attacker:latest"
#define IMAGE_AS_APP "localhost/attacker:app"

/* what the default profile must refuse even with the capability the call needs */
static const char *const denied_probes[]
    = { "keyctl",        "add_key",    "bpf",        "perf_event_open",
        "finit_module",  "reboot",     "kexec_load", "clock_settime",
        "settimeofday",  "adjtimex",   "mount",      "unshare-user",
        "unshare-mount", "clone-user", "setns",      "open_by_handle_at",
        "swapon",        NULL };
/* what ordinary workloads do */
static const char *const allowed_probes[]
    = { "fork", "thread", "loopback", "unshare-files", "mkdir", "mkdirat", NULL };
/* the capabilities that get the probes past the kernel's own checks */
#define PROBE_CAPABILITIES                                                                         \
  "'addCapabilities': ['SYS_ADMIN', 'SYS_MODULE', 'SYS_BOOT', 'SYS_TIME', 'DAC_READ_SEARCH']"

typedef struct
{
  char *tmpdir;
  char *cgroup_parent;
  GroveStore *store;
  GroveEngine *engine;
} Fixture;

/* JSON with ' for ", so that the configs below stay readable */
static JsonObject *
parse (const char *text)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *json = g_strdup (text);
  JsonObject *object = NULL;

  g_strdelimit (json, "'", '"');
  object = grove_record_parse (json, -1, "test JSON", &error);
  g_assert_no_error (error);
  return object;
}

static void
build_images (Fixture *fx)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *attacker = g_test_build_filename (G_TEST_BUILT, "grove-attacker", NULL);
  g_autofree char *binary = g_strdup_printf ("bin/grove-attacker=%s", attacker);
  g_autofree char *image = g_build_filename (fx->tmpdir, "attacker", NULL);
  g_autoptr (GPtrArray) images = NULL;

  grove_test_mkimage ("busybox", "--binary", binary, "--tag", "localhost/attacker:latest", image,
                      NULL);
  /* the same image whose config runs it as the user app (1000, a member of extra 2000) */
  grove_test_mkimage ("busybox", "--binary", binary, "--user", "app", "--tag",
                      "localhost/attacker:app", image, NULL);
  images = grove_store_import_image (fx->store, image, GROVE_IMAGE_FORMAT_AUTO, NULL, NULL, NULL,
                                     NULL, &error);
  g_assert_no_error (error);
}

/* an engine on the fixture's store and dirs, loaded: what groved makes at each start */
static void
open_engine (Fixture *fx)
{
  g_autofree char *exec_helper
      = g_test_build_filename (G_TEST_BUILT, "..", "grove-runtime-exec", NULL);
  g_autofree char *profile
      = g_test_build_filename (G_TEST_DIST, "..", "data", "seccomp-default.json", NULL);
  g_autofree char *profile_path = g_canonicalize_filename (profile, NULL);
  const GroveTestHandler handlers[] = {
    { "runc", (const char *const[]){ "runc", NULL } },
    { "crun", (const char *const[]){ exec_helper, "crun", NULL } },
    { NULL, NULL },
  };
  GroveEngineOptions options = { 0 };

  options.cgroup_parent = fx->cgroup_parent;
  options.seccomp_profile = profile_path;
  fx->engine = grove_test_new_engine_full (fx->store, fx->tmpdir, &options, handlers);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *store_root = NULL;

  if (!grove_test_is_root () || g_find_program_in_path ("conmon") == NULL
      || g_find_program_in_path ("runc") == NULL)
    {
      g_test_skip ("needs root, conmon and runc");
      return;
    }
  fx->tmpdir = grove_test_make_tmpdir ();
  /* user-namespaced pods reach their rootfs and volumes below it as an unmapped user */
  grove_test_make_searchable (fx->tmpdir);
  fx->cgroup_parent = g_strdup_printf ("/grove-test-%d", (int)getpid ());
  store_root = g_build_filename (fx->tmpdir, "store", NULL);
  fx->store = grove_store_open (store_root, NULL, &error);
  g_assert_no_error (error);
  build_images (fx);
  open_engine (fx);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_autoptr (GPtrArray) pods = fx->engine ? grove_engine_list_pods (fx->engine, NULL) : NULL;

  for (guint i = 0; pods != NULL && i < pods->len; i++)
    {
      g_autoptr (GAsyncResult) result = NULL;
      g_autoptr (GError) error = NULL;

      grove_engine_remove_pod_async (fx->engine, grove_pod_get_id (pods->pdata[i]), NULL,
                                     grove_test_result_cb, &result);
      grove_engine_remove_pod_finish (fx->engine, grove_test_wait_result (&result), &error);
      g_assert_no_error (error);
    }
  g_clear_object (&fx->engine);
  g_clear_object (&fx->store);
  if (fx->tmpdir != NULL)
    grove_test_remove_engine_dirs (fx->tmpdir, fx->cgroup_parent);
  g_clear_pointer (&fx->tmpdir, g_free);
  g_clear_pointer (&fx->cgroup_parent, g_free);
}

/* a pod named @name; @pod_linux: (nullable): the members of its `linux` object */
static GrovePod *
try_run_pod (Fixture *fx, const char *name, const char *pod_linux, const char *handler,
             GError **error)
{
  g_autofree char *json
      = g_strdup_printf ("{'metadata': {'name': '%s', 'namespace': 'security', 'uid': 'uid-%s'},"
                         " 'hostname': '%s', 'linux': {%s}}",
                         name, name, name, pod_linux != NULL ? pod_linux : "");
  g_autoptr (JsonObject) config = parse (json);
  g_autoptr (GAsyncResult) result = NULL;

  grove_engine_run_pod_async (fx->engine, config, handler, NULL, grove_test_result_cb, &result);
  return grove_engine_run_pod_finish (fx->engine, grove_test_wait_result (&result), error);
}

static GrovePod *
run_pod (Fixture *fx, const char *name, const char *pod_linux, const char *handler)
{
  g_autoptr (GError) error = NULL;
  GrovePod *pod = try_run_pod (fx, name, pod_linux, handler, &error);

  g_assert_no_error (error);
  return pod;
}

/* a container sleeping in @pod; @security: the members of its securityContext; @extra:
 * (nullable): more members of its config */
static GroveContainer *
try_create (Fixture *fx, GrovePod *pod, const char *name, const char *image, const char *security,
            const char *extra, GError **error)
{
  g_autofree char *json = g_strdup_printf (
      "{'metadata': {'name': '%s'}, 'image': {'image': '%s'}, 'command': ['/bin/sleep', '600'],"
      " 'logPath': '%s/%s.log', 'linux': {'securityContext': {%s}}%s%s}",
      name, image, fx->tmpdir, name, security, extra != NULL ? ", " : "",
      extra != NULL ? extra : "");
  g_autoptr (JsonObject) config = parse (json);
  g_autoptr (GAsyncResult) result = NULL;

  grove_engine_create_container_async (fx->engine, grove_pod_get_id (pod), config, NULL,
                                       grove_test_result_cb, &result);
  return grove_engine_create_container_finish (fx->engine, grove_test_wait_result (&result), error);
}

/* created and started */
static GroveContainer *
run_container (Fixture *fx, GrovePod *pod, const char *name, const char *image,
               const char *security, const char *extra)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  GroveContainer *container = try_create (fx, pod, name, image, security, extra, &error);

  g_assert_no_error (error);
  grove_engine_start_container_async (fx->engine, grove_container_get_id (container), NULL,
                                      grove_test_result_cb, &result);
  grove_engine_start_container_finish (fx->engine, grove_test_wait_result (&result), &error);
  g_assert_no_error (error);
  return container;
}

/* what `sh -c SCRIPT` prints in the container, and its exit code */
static char *
run_in (Fixture *fx, GroveContainer *container, const char *script, int *out_exit_code)
{
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveExecResult) exec = NULL;
  const char *argv[] = { "/bin/sh", "-c", script, NULL };

  grove_engine_exec_sync_async (fx->engine, grove_container_get_id (container), argv, 20, NULL,
                                grove_test_result_cb, &result);
  exec = grove_engine_exec_sync_finish (fx->engine, grove_test_wait_result (&result), &error);
  g_assert_no_error (error);
  if (out_exit_code != NULL)
    *out_exit_code = exec->exit_code;
  else
    g_assert_cmpint (exec->exit_code, ==, 0);
  return g_strndup (g_bytes_get_data (exec->stdout_data, NULL),
                    g_bytes_get_size (exec->stdout_data));
}

/* probe → "ok" or "errno=N", from grove-attacker run by exec */
static GHashTable *
probe (Fixture *fx, GroveContainer *container, const char *const *probes)
{
  g_autofree char *list = g_strjoinv (" ", (char **)probes);
  /* one process each: a probe that succeeds (a new user namespace) changes what follows */
  g_autofree char *script = g_strdup_printf ("for p in %s; do /bin/grove-attacker $p; done", list);
  g_autofree char *output = run_in (fx, container, script, NULL);
  g_auto (GStrv) lines = g_strsplit (output, "\n", -1);
  GHashTable *results = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  for (guint i = 0; lines[i] != NULL && lines[i][0] != '\0'; i++)
    {
      g_auto (GStrv) fields = g_strsplit (lines[i], " ", 2);

      g_assert_cmpuint (g_strv_length (fields), ==, 2);
      g_hash_table_insert (results, g_strdup (fields[0]), g_strdup (fields[1]));
    }
  g_assert_cmpuint (g_hash_table_size (results), ==, g_strv_length ((char **)probes));
  return results;
}

static void
assert_probe (GHashTable *results, const char *name, const char *expected)
{
  g_test_message ("%s: %s", name, (const char *)g_hash_table_lookup (results, name));
  g_assert_cmpstr (g_hash_table_lookup (results, name), ==, expected);
}

/* seccomp */

static void
check_runtime_default (Fixture *fx, const char *handler)
{
  g_autoptr (GrovePod) pod = run_pod (fx, "confined", NULL, handler);
  g_autoptr (GroveContainer) container
      = run_container (fx, pod, "attacker", IMAGE,
                       "'seccomp': {'profileType': 'RuntimeDefault'},"
                       " 'capabilities': {" PROBE_CAPABILITIES "}",
                       NULL);
  g_autoptr (GHashTable) denied = probe (fx, container, denied_probes);
  g_autoptr (GHashTable) allowed = probe (fx, container, allowed_probes);
  g_autofree char *shell = run_in (fx, container, "echo $((6 * 7)) | cat", NULL);
  g_autofree char *errno_perm = g_strdup_printf ("errno=%d", EPERM);

  for (guint i = 0; denied_probes[i] != NULL; i++)
    assert_probe (denied, denied_probes[i], errno_perm);
  for (guint i = 0; allowed_probes[i] != NULL; i++)
    assert_probe (allowed, allowed_probes[i], "ok");
  g_assert_cmpstr (shell, ==, "42\n");
}

static void
test_seccomp_default_runc (Fixture *fx, gconstpointer data)
{
  check_runtime_default (fx, "runc");
}

static void
test_seccomp_default_crun (Fixture *fx, gconstpointer data)
{
  if (g_find_program_in_path ("crun") == NULL)
    {
      g_test_skip ("needs crun");
      return;
    }
  check_runtime_default (fx, "crun");
}

/* the same calls without a filter reach the kernel, which answers for itself */
static void
test_seccomp_unconfined (Fixture *fx, gconstpointer data)
{
  g_autoptr (GrovePod) pod = run_pod (fx, "unconfined", NULL, "runc");
  g_autoptr (GroveContainer) container = run_container (fx, pod, "attacker", IMAGE,
                                                        "'seccomp': {'profileType': 'Unconfined'},"
                                                        " 'capabilities': {" PROBE_CAPABILITIES "}",
                                                        NULL);
  g_autoptr (GHashTable) results = probe (fx, container, denied_probes);
  g_autofree char *einval = g_strdup_printf ("errno=%d", EINVAL);
  g_autofree char *mounts = run_in (fx, container, "grep grove-mnt /proc/mounts", NULL);

  assert_probe (results, "keyctl", "ok");
  assert_probe (results, "add_key", "ok");
  assert_probe (results, "bpf", einval);
  assert_probe (results, "reboot", einval);
  assert_probe (results, "clock_settime", einval);
  assert_probe (results, "settimeofday", einval);
  assert_probe (results, "adjtimex", "ok");
  assert_probe (results, "mount", "ok");
  assert_probe (results, "unshare-user", "ok");
  assert_probe (results, "unshare-mount", "ok");
  assert_probe (results, "clone-user", "ok");
  assert_probe (results, "setns", "ok");
  /* the rest get the kernel's own answer (kexec_load may be ENOSYS, a kernel without it) */
  for (guint i = 0; denied_probes[i] != NULL; i++)
    g_assert_cmpstr (g_hash_table_lookup (results, denied_probes[i]), !=, "errno=1");
  g_assert_true (g_str_has_prefix (mounts, "none /tmp/grove-mnt tmpfs"));
}

/* a Localhost profile written from @text (' for "); @out_security: the securityContext
 * members that ask for it */
static char *
write_profile (Fixture *fx, const char *name, const char *text, char **out_security)
{
  g_autofree char *path = g_build_filename (fx->tmpdir, name, NULL);
  g_autofree char *json = g_strdup (text);
  g_autoptr (GError) error = NULL;

  g_strdelimit (json, "'", '"');
  g_file_set_contents (path, json, -1, &error);
  g_assert_no_error (error);
  *out_security
      = g_strdup_printf ("'seccomp': {'profileType': 'Localhost', 'localhostRef': '%s'}", path);
  return g_steal_pointer (&path);
}

static void
test_seccomp_localhost (Fixture *fx, gconstpointer data)
{
  g_autofree char *security = NULL;
  g_autofree char *profile = write_profile (
      fx, "deny-mkdir.json",
      "{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': [{'names': ['mkdir', 'mkdirat'],"
      " 'action': 'SCMP_ACT_ERRNO', 'errnoRet': 28}]}",
      &security);
  g_autoptr (GrovePod) pod = run_pod (fx, "localhost", NULL, "runc");
  g_autoptr (GroveContainer) container = run_container (fx, pod, "nomkdir", IMAGE, security, NULL);
  const char *const probes[] = { "mkdir", "mkdirat", "fork", NULL };
  g_autoptr (GHashTable) results = probe (fx, container, probes);
  int exit_code = 0;
  g_autofree char *shell = run_in (fx, container, "mkdir /tmp/d 2>&1", &exit_code);
  g_autofree char *errno_nospc = g_strdup_printf ("errno=%d", ENOSPC);

  assert_probe (results, "mkdir", errno_nospc);
  assert_probe (results, "mkdirat", errno_nospc);
  assert_probe (results, "fork", "ok");
  g_assert_cmpint (exit_code, !=, 0);
  g_assert_nonnull (strstr (shell, "No space left on device"));
}

/* runc and crun would skip the unknown name: Grove refuses the profile at create */
static void
test_seccomp_misspelt (Fixture *fx, gconstpointer data)
{
  g_autofree char *security = NULL;
  g_autofree char *profile = write_profile (
      fx, "typo.json",
      "{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': [{'names': ['mkdir', 'mkdirta'],"
      " 'action': 'SCMP_ACT_ERRNO'}]}",
      &security);
  g_autoptr (GrovePod) pod = run_pod (fx, "misspelt", NULL, "runc");
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveContainer) container
      = try_create (fx, pod, "typo", IMAGE, security, NULL, &error);
  g_autoptr (GPtrArray) containers = NULL;
  GroveListFilter filter = { .pod_id = grove_pod_get_id (pod), .state = -1 };

  g_assert_null (container);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, profile));
  g_assert_nonnull (strstr (error->message, "unknown system call 'mkdirta'"));
  containers = grove_engine_list_containers (fx->engine, &filter);
  g_assert_cmpuint (containers->len, ==, 0);
}

/* capabilities, users, privileged, read-only rootfs */

static guint64
capability_mask (const int *caps, guint n)
{
  guint64 mask = 0;

  for (guint i = 0; i < n; i++)
    mask |= G_GUINT64_CONSTANT (1) << caps[i];
  return mask;
}

static guint64
cap_eff (Fixture *fx, GroveContainer *container)
{
  g_autofree char *line = run_in (fx, container, "grep CapEff /proc/self/status", NULL);

  g_assert_true (g_str_has_prefix (line, "CapEff:"));
  return g_ascii_strtoull (line + strlen ("CapEff:"), NULL, 16);
}

static void
test_capabilities (Fixture *fx, gconstpointer data)
{
  /* containerd's default set, by number */
  static const int defaults[] = { 0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31 };
  guint64 default_mask = capability_mask (defaults, G_N_ELEMENTS (defaults));
  g_autoptr (GrovePod) pod = run_pod (fx, "caps", NULL, "runc");
  g_autoptr (GroveContainer) plain = run_container (fx, pod, "plain", IMAGE, "", NULL);
  g_autoptr (GroveContainer) changed = run_container (
      fx, pod, "changed", IMAGE,
      "'capabilities': {'addCapabilities': ['NET_ADMIN'], 'dropCapabilities': ['CHOWN']}", NULL);
  g_autoptr (GroveContainer) none = run_container (
      fx, pod, "none", IMAGE, "'capabilities': {'dropCapabilities': ['ALL']}", NULL);
  g_autoptr (GroveContainer) non_root
      = run_container (fx, pod, "nonroot", IMAGE, "'runAsUser': {'value': 1000}", NULL);

  g_assert_cmphex (cap_eff (fx, plain), ==, default_mask);
  /* NET_ADMIN is 12, CHOWN 0 */
  g_assert_cmphex (cap_eff (fx, changed), ==,
                   (default_mask | (G_GUINT64_CONSTANT (1) << 12)) & ~G_GUINT64_CONSTANT (1));
  g_assert_cmphex (cap_eff (fx, none), ==, 0);
  /* a non-root process keeps no effective capability: nothing is ambient */
  g_assert_cmphex (cap_eff (fx, non_root), ==, 0);
}

static void
test_users (Fixture *fx, gconstpointer data)
{
  g_autoptr (GrovePod) pod = run_pod (fx, "users", NULL, "runc");
  g_autoptr (GroveContainer) merged = run_container (
      fx, pod, "merged", IMAGE,
      "'runAsUser': {'value': 1000}, 'runAsGroup': {'value': 3000}, 'supplementalGroups': [4000]",
      NULL);
  g_autoptr (GroveContainer) strict
      = run_container (fx, pod, "strict", IMAGE,
                       "'runAsUsername': 'app', 'supplementalGroups': [4000],"
                       " 'supplementalGroupsPolicy': 'Strict'",
                       NULL);
  g_autoptr (GroveContainer) image_user = run_container (fx, pod, "image", IMAGE_AS_APP, "", NULL);
  g_autoptr (GroveContainer) overridden
      = run_container (fx, pod, "override", IMAGE_AS_APP, "'runAsUser': {'value': 65534}", NULL);
  g_autofree char *id_merged = run_in (fx, merged, "id", NULL);
  g_autofree char *id_strict = run_in (fx, strict, "id", NULL);
  g_autofree char *id_image = run_in (fx, image_user, "id", NULL);
  g_autofree char *id_override = run_in (fx, overridden, "id", NULL);

  g_assert_cmpstr (id_merged, ==, "uid=1000(app) gid=3000 groups=2000(extra),4000\n");
  g_assert_cmpstr (id_strict, ==, "uid=1000(app) gid=1000(app) groups=4000\n");
  g_assert_cmpstr (id_image, ==, "uid=1000(app) gid=1000(app) groups=2000(extra)\n");
  /* runAsUser replaces the image's USER, with that user's passwd group and no other */
  g_assert_cmpstr (id_override, ==, "uid=65534(nobody) gid=65534(nogroup)\n");
}

static guint
count_devices (Fixture *fx, GroveContainer *container)
{
  g_autofree char *count = run_in (fx, container, "ls /dev | wc -l", NULL);

  return (guint)g_ascii_strtoull (count, NULL, 10);
}

static void
test_privileged (Fixture *fx, gconstpointer data)
{
  g_autoptr (GrovePod) plain_pod = run_pod (fx, "plain", NULL, "runc");
  g_autoptr (GrovePod) privileged_pod
      = run_pod (fx, "privileged", "'securityContext': {'privileged': true}", "runc");
  g_autoptr (GroveContainer) plain = run_container (fx, plain_pod, "plain", IMAGE, "", NULL);
  g_autoptr (GroveContainer) privileged
      = run_container (fx, privileged_pod, "privileged", IMAGE,
                       "'privileged': true, 'seccomp': {'profileType': 'RuntimeDefault'}", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveContainer) refused
      = try_create (fx, plain_pod, "sneaky", IMAGE, "'privileged': true", NULL, &error);
  const char *const probes[] = { "keyctl", NULL };
  g_autoptr (GHashTable) results = probe (fx, privileged, probes);
  g_autofree char *host_devices = NULL;
  guint plain_count = count_devices (fx, plain);
  guint privileged_count = count_devices (fx, privileged);

  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_PERMISSION_DENIED);
  g_assert_null (refused);
  g_assert_true (grove_test_run (&host_devices, "sh", "-c", "ls /dev | wc -l", NULL) == 0);
  g_test_message ("devices: plain %u, privileged %u, host %s", plain_count, privileged_count,
                  host_devices);
  g_assert_cmpuint (privileged_count, >, plain_count);
  g_assert_cmpuint (privileged_count, >=, (guint)g_ascii_strtoull (host_devices, NULL, 10) / 2);
  /* no filter, whatever the container asked for */
  assert_probe (results, "keyctl", "ok");
}

static void
test_readonly_rootfs (Fixture *fx, gconstpointer data)
{
  g_autofree char *scratch = g_build_filename (fx->tmpdir, "scratch", NULL);
  g_autofree char *written = g_build_filename (scratch, "written", NULL);
  g_autofree char *mount
      = g_strdup_printf ("'mounts': [{'containerPath': '/tmp', 'hostPath': '%s'}]", scratch);
  g_autoptr (GrovePod) pod = run_pod (fx, "readonly", NULL, "runc");
  g_autoptr (GroveContainer) container = NULL;
  int exit_code = 0;
  g_autofree char *refused = NULL;
  g_autofree char *allowed = NULL;

  /* an emptyDir-style volume: a host directory of the pod's */
  g_assert_cmpint (g_mkdir_with_parents (scratch, 0755), ==, 0);
  container = run_container (fx, pod, "ro", IMAGE, "'readonlyRootfs': true", mount);
  refused = run_in (fx, container, "touch /etc/x 2>&1", &exit_code);
  g_assert_cmpint (exit_code, !=, 0);
  g_assert_nonnull (strstr (refused, "Read-only file system"));
  allowed = run_in (fx, container, "echo data > /tmp/written && cat /tmp/written", NULL);
  g_assert_cmpstr (allowed, ==, "data\n");
  g_assert_true (g_file_test (written, G_FILE_TEST_IS_REGULAR));
}

/* sysctls */

static void
test_sysctls (Fixture *fx, gconstpointer data)
{
  g_autoptr (GrovePod) pod
      = run_pod (fx, "sysctls",
                 "'sysctls': {'net.ipv4.ip_unprivileged_port_start': '80', 'kernel.shmmni': '1234',"
                 " 'net.core.somaxconn': '321'}",
                 "runc");
  g_autoptr (GroveContainer) container = run_container (fx, pod, "reader", IMAGE, "", NULL);
  g_autofree char *values = run_in (fx, container,
                                    "cat /proc/sys/net/ipv4/ip_unprivileged_port_start"
                                    " /proc/sys/kernel/shmmni /proc/sys/net/core/somaxconn",
                                    NULL);
  g_autofree char *host = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GrovePod) refused = NULL;
  g_autoptr (GPtrArray) pods = NULL;

  g_assert_cmpstr (values, ==, "80\n1234\n321\n");
  /* the pod's own namespaces only */
  g_assert_true (g_file_get_contents ("/proc/sys/kernel/shmmni", &host, NULL, NULL));
  g_assert_cmpstr (host, !=, "1234\n");

  refused = try_run_pod (fx, "swappy", "'sysctls': {'vm.swappiness': '10'}", "runc", &error);
  g_assert_null (refused);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "sysctl vm.swappiness: not namespaced"));
  g_clear_error (&error);
  refused = try_run_pod (fx, "hostnet",
                         "'sysctls': {'net.core.somaxconn': '10'}, 'securityContext':"
                         " {'namespaceOptions': {'network': 'NODE'}}",
                         "runc", &error);
  g_assert_null (refused);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "sysctl net.core.somaxconn: a pod on the host's"));
  g_clear_error (&error);
  /* a refused pod leaves nothing behind */
  pods = grove_engine_list_pods (fx->engine, NULL);
  g_assert_cmpuint (pods->len, ==, 1);
}

/* user namespaces */

#define USERNS_MAPPINGS                                                                            \
  "'uids': [{'containerId': 0, 'hostId': 100000, 'length': 65536}],"                               \
  " 'gids': [{'containerId': 0, 'hostId': 100000, 'length': 65536}]"
#define USERNS_POD                                                                                 \
  "'securityContext': {'namespaceOptions': {'usernsOptions': {'mode': 'POD', " USERNS_MAPPINGS "}" \
  "}"                                                                                              \
  "}"

/* the `Uid:` line of /proc/PID/status: real, effective, saved, filesystem */
static char *
host_uids (int pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/status", pid);
  g_autofree char *status = NULL;
  g_auto (GStrv) lines = NULL;

  g_assert_true (g_file_get_contents (path, &status, NULL, NULL));
  lines = g_strsplit (status, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "Uid:"))
      return g_strdup (g_strstrip (lines[i] + strlen ("Uid:")));
  g_assert_not_reached ();
}

/* every file of the shared checkouts still belongs to the host's root */
static void
assert_checkouts_unchanged (Fixture *fx)
{
  g_autofree char *checkouts = g_build_filename (fx->tmpdir, "store", "checkouts", NULL);
  g_autofree char *owners = NULL;

  g_assert_cmpint (
      grove_test_run (&owners, "find", checkouts, "-mindepth", "1", "!", "-user", "0", NULL), ==,
      0);
  g_assert_cmpstr (owners, ==, "");
}

/* how many mount points below @dir /proc/self/mountinfo lists */
static guint
count_mounts_below (const char *dir)
{
  g_autofree char *prefix = g_strconcat (dir, "/", NULL);
  g_auto (GStrv) points = grove_test_mount_points ();
  guint count = 0;

  for (guint i = 0; points[i] != NULL; i++)
    count += g_str_has_prefix (points[i], prefix);
  return count;
}

/* no rootfs, idmapped stage or clone, or namespace left: only the namespace dirs' own bind
 * mounts */
static void
assert_nothing_mounted (Fixture *fx)
{
  g_autofree char *mountinfo = NULL;
  g_auto (GStrv) lines = NULL;
  g_autofree char *netns_dir = g_build_filename (fx->tmpdir, "run", "netns", NULL);
  g_autofree char *userns_dir = g_build_filename (fx->tmpdir, "run", "userns", NULL);
  g_autofree char *idmapped_dir = g_build_filename (fx->tmpdir, "run", "idmapped", NULL);
  g_autoptr (GDir) clones = g_dir_open (idmapped_dir, 0, NULL);

  g_assert_cmpuint (count_mounts_below (idmapped_dir), ==, 0);
  g_assert_true (clones == NULL || g_dir_read_name (clones) == NULL);
  g_assert_true (g_file_get_contents ("/proc/self/mountinfo", &mountinfo, NULL, NULL));
  lines = g_strsplit (mountinfo, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) fields = g_strsplit (lines[i], " ", 6);

      if (g_strv_length (fields) < 5 || !g_str_has_prefix (fields[4], fx->tmpdir))
        continue;
      g_test_message ("still mounted: %s", lines[i]);
      g_assert_true (g_str_equal (fields[4], netns_dir) || g_str_equal (fields[4], userns_dir));
      g_assert_null (strstr (lines[i], "nsfs"));
    }
}

/* owner of @dir/@name on the host, as "uid:gid" */
static char *
host_owner (const char *dir, const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  struct stat st;

  g_assert_cmpint (lstat (path, &st), ==, 0);
  return g_strdup_printf ("%u:%u", st.st_uid, st.st_gid);
}

static void
check_user_namespace (Fixture *fx, const char *handler)
{
  g_autofree char *volume = g_build_filename (fx->tmpdir, "volume", NULL);
  g_autofree char *readonly = g_build_filename (fx->tmpdir, "readonly", NULL);
  g_autofree char *readonly_x = g_build_filename (readonly, "x", NULL);
  g_autofree char *file = g_build_filename (fx->tmpdir, "config-file", NULL);
  g_autofree char *idmapped_dir = g_build_filename (fx->tmpdir, "run", "idmapped", NULL);
  g_autofree char *mounts
      = g_strdup_printf ("'mounts': [{'containerPath': '/volume', 'hostPath': '%s'},"
                         " {'containerPath': '/readonly', 'hostPath': '%s', 'readonly': true},"
                         " {'containerPath': '/etc/config', 'hostPath': '%s'}]",
                         volume, readonly, file);
  g_autofree char *owner = NULL;
  g_autofree char *volumes = NULL;
  int exit_code = 0;
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GroveContainer) first = NULL;
  g_autoptr (GroveContainer) second = NULL;
  g_autofree char *inside = NULL;
  g_autofree char *uids = NULL;
  g_autofree char *first_ns = NULL;
  g_autofree char *second_ns = NULL;
  g_autofree char *host_ns = NULL;
  g_autofree char *upper = NULL;
  g_autofree char *created = NULL;
  struct stat st;

  /* volumes as kubelet makes them: owned by the host's root, not chowned for the pod */
  g_assert_cmpint (g_mkdir_with_parents (volume, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (readonly, 0755), ==, 0);
  g_assert_true (g_file_set_contents (file, "setting\n", -1, NULL));
  pod = run_pod (fx, "userns", USERNS_POD, handler);
  first = run_container (fx, pod, "first", IMAGE, "", mounts);
  inside = run_in (fx, first,
                   "id -u; tr -s ' ' < /proc/self/uid_map; stat -c %u /bin/busybox /volume;"
                   " touch /created && echo root-writable; echo v > /volume/v && echo "
                   "volume-writable; cat /etc/hosts > /dev/null && echo hosts-readable;"
                   " stat -c %u:%g /etc/hosts /etc/resolv.conf /etc/config /readonly;"
                   " cat /etc/config",
                   NULL);
  g_assert_cmpstr (inside, ==,
                   "0\n 0 100000 65536\n0\n0\nroot-writable\nvolume-writable\nhosts-readable\n"
                   "0:0\n0:0\n0:0\n0:0\nsetting\n");
  /* as with containerd: what the pod's root writes on a volume belongs to the host's root */
  owner = host_owner (volume, "v");
  g_assert_cmpstr (owner, ==, "0:0");
  volumes = run_in (fx, first, "touch /readonly/x 2>&1", &exit_code);
  g_assert_cmpint (exit_code, !=, 0);
  g_assert_nonnull (strstr (volumes, "Read-only file system"));
  g_assert_false (g_file_test (readonly_x, G_FILE_TEST_EXISTS));
  /* Grove's clones: three volumes and the pod's files, of the container and the infra one */
  g_assert_cmpuint (count_mounts_below (idmapped_dir), >=, 4);
  uids = host_uids (grove_container_get_pid (first));
  g_assert_cmpstr (uids, ==, "100000\t100000\t100000\t100000");
  /* what the container wrote is the host's 100000 in its upper dir */
  upper = grove_store_get_writable_path (grove_engine_get_store (fx->engine),
                                         grove_container_get_id (first));
  created = g_build_filename (upper, "created", NULL);
  g_assert_cmpint (lstat (created, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, 100000);
  g_assert_cmpuint (st.st_gid, ==, 100000);
  /* a second container joins the same user namespace, not the host's */
  second = run_container (fx, pod, "second", IMAGE, "", NULL);
  first_ns = run_in (fx, first, "readlink /proc/self/ns/user", NULL);
  second_ns = run_in (fx, second, "readlink /proc/self/ns/user", NULL);
  host_ns = g_file_read_link ("/proc/self/ns/user", NULL);
  g_assert_cmpstr (first_ns, ==, second_ns);
  g_assert_false (g_str_has_prefix (first_ns, host_ns));
  assert_checkouts_unchanged (fx);
  grove_test_remove_all_pods (fx->engine);
  assert_nothing_mounted (fx);
}

/* @data: the handler */
static void
test_userns (Fixture *fx, gconstpointer data)
{
  g_autofree char *binary = g_find_program_in_path (data);

  if (binary == NULL)
    {
      g_test_skip ("needs the handler's binary");
      return;
    }
  check_user_namespace (fx, data);
}

/* a user namespace left by a crash (its pod gone) is unmounted and removed at the next load */
static void
test_userns_stray (Fixture *fx, gconstpointer data)
{
  g_autofree char *dir = g_build_filename (fx->tmpdir, "run", "userns", NULL);
  g_autofree char *stray = g_build_filename (
      dir, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", NULL);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0711), ==, 0);
  g_assert_true (g_file_set_contents (stray, "", 0, NULL));
  g_assert_cmpint (grove_test_run (NULL, "mount", "--bind", "/proc/self/ns/user", stray, NULL), ==,
                   0);
  g_clear_object (&fx->engine);
  open_engine (fx);
  g_assert_false (g_file_test (stray, G_FILE_TEST_EXISTS));
  assert_nothing_mounted (fx);
}

/* an idmapped clone left by a crash (its container gone) is detached at the next load, and
 * the volume below it keeps its files */
static void
test_idmapped_stray (Fixture *fx, gconstpointer data)
{
  g_autofree char *volume = g_build_filename (fx->tmpdir, "stray-volume", NULL);
  g_autofree char *kept = g_build_filename (volume, "kept", NULL);
  g_autofree char *dir
      = g_build_filename (fx->tmpdir, "run", "idmapped",
                          "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210", NULL);
  g_autofree char *clone = g_build_filename (dir, "0", NULL);
  g_autofree char *seen = g_build_filename (clone, "kept", NULL);

  g_assert_cmpint (g_mkdir_with_parents (volume, 0755), ==, 0);
  g_assert_true (g_file_set_contents (kept, "data", -1, NULL));
  g_assert_cmpint (g_mkdir_with_parents (clone, 0700), ==, 0);
  g_assert_cmpint (grove_test_run (NULL, "mount", "--bind", volume, clone, NULL), ==, 0);
  g_assert_true (g_file_test (seen, G_FILE_TEST_EXISTS));
  g_clear_object (&fx->engine);
  open_engine (fx);
  g_assert_false (g_file_test (dir, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (kept, G_FILE_TEST_EXISTS));
  assert_nothing_mounted (fx);
}

/* a mount's own uidMappings/gidMappings: only the pod's, which it gets anyway */
static void
test_idmapped_mount_mappings (Fixture *fx, gconstpointer data)
{
  g_autofree char *volume = g_build_filename (fx->tmpdir, "mapped-volume", NULL);
  const char *const same
      = "'uidMappings': [{'hostId': 100000, 'length': 65536}],"
        " 'gidMappings': [{'containerId': 0, 'hostId': 100000, 'length': 65536}]";
  const char *const other
      = "'uidMappings': [{'containerId': 0, 'hostId': 200000, 'length': 65536}],"
        " 'gidMappings': [{'containerId': 0, 'hostId': 200000, 'length': 65536}]";
  g_autofree char *same_mounts = g_strdup_printf (
      "'mounts': [{'containerPath': '/volume', 'hostPath': '%s', %s}]", volume, same);
  g_autofree char *other_mounts = g_strdup_printf (
      "'mounts': [{'containerPath': '/volume', 'hostPath': '%s', %s}]", volume, other);
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (GrovePod) plain = NULL;
  g_autoptr (GroveContainer) container = NULL;
  g_autoptr (GroveContainer) refused = NULL;
  g_autoptr (GroveContainer) refused_plain = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *inside = NULL;

  g_assert_cmpint (g_mkdir_with_parents (volume, 0755), ==, 0);
  pod = run_pod (fx, "mapped", USERNS_POD, "runc");
  container = run_container (fx, pod, "same", IMAGE, "", same_mounts);
  inside = run_in (fx, container, "stat -c %u /volume", NULL);
  g_assert_cmpstr (inside, ==, "0\n");
  refused = try_create (fx, pod, "other", IMAGE, "", other_mounts, &error);
  g_assert_null (refused);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "must both equal the pod's user namespace mappings"));
  g_clear_error (&error);
  plain = run_pod (fx, "unmapped", NULL, "runc");
  refused_plain = try_create (fx, plain, "same", IMAGE, "", same_mounts, &error);
  g_assert_null (refused_plain);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "only in a pod with its own user namespace"));
  grove_test_remove_all_pods (fx->engine);
  assert_nothing_mounted (fx);
}

/* root in the pod is nobody on the host: what it cannot reach through the kernel's checks */
static void
test_userns_attacker (Fixture *fx, gconstpointer data)
{
  g_autofree char *host_dir = g_build_filename (fx->tmpdir, "host-owned", NULL);
  g_autofree char *host_file = g_build_filename (host_dir, "x", NULL);
  g_autofree char *volume = g_build_filename (fx->tmpdir, "attacker-volume", NULL);
  g_autofree char *escape = g_build_filename (volume, "escape", NULL);
  g_autofree char *foreign = g_build_filename (volume, "foreign", NULL);
  g_autofree char *mounts
      = g_strdup_printf ("'mounts': [{'containerPath': '/volume', 'hostPath': '%s'}]", volume);
  g_autofree char *foreign_text = NULL;
  g_autoptr (GrovePod) pod = run_pod (fx, "userns-attacker", USERNS_POD, "runc");
  g_autoptr (GroveContainer) container = NULL;
  g_autofree char *output = NULL;
  g_autofree char *errno_perm = g_strdup_printf ("errno=%d", EPERM);
  g_autoptr (GHashTable) results = NULL;
  const char *const probes[] = { "swapon", NULL };
  int exit_code = 0;

  g_assert_cmpint (g_mkdir_with_parents (host_dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (volume, 0755), ==, 0);
  /* a way out planted in the volume, and a file of a host user outside the pod's range */
  g_assert_cmpint (symlink (host_dir, escape), ==, 0);
  g_assert_true (g_file_set_contents (foreign, "foreign\n", -1, NULL));
  g_assert_cmpint (chown (foreign, 200000, 200000), ==, 0);
  /* every capability and no seccomp filter: only the user namespace stands in the way */
  container = run_container (fx, pod, "attacker", IMAGE,
                             "'seccomp': {'profileType': 'Unconfined'},"
                             " 'capabilities': {'addCapabilities': ['ALL']}",
                             mounts);
  /* the volume is idmapped, but nothing of the host beyond it is: the symlink resolves in
   * the container, and a host user the pod does not map stays nobody */
  output = run_in (fx, container,
                   "stat -c %u /volume/foreign; { echo x >> /volume/foreign; } 2>&1;"
                   " touch /volume/escape/x 2>&1",
                   &exit_code);
  g_test_message ("attacker: %s", output);
  g_assert_cmpint (exit_code, !=, 0);
  g_assert_true (g_str_has_prefix (output, "65534\n"));
  g_assert_nonnull (strstr (output, "Permission denied"));
  g_assert_nonnull (strstr (output, "No such file or directory"));
  g_assert_false (g_file_test (host_file, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_get_contents (foreign, &foreign_text, NULL, NULL));
  g_assert_cmpstr (foreign_text, ==, "foreign\n");
  g_clear_pointer (&output, g_free);
  output = run_in (fx, container, "mknod /tmp/mem c 1 1 2>&1", &exit_code);
  g_assert_cmpint (exit_code, !=, 0);
  g_assert_nonnull (strstr (output, "Operation not permitted"));
  results = probe (fx, container, probes);
  /* host-wide: the kernel wants the capability in the host's user namespace (module loading
   * and kexec cannot be tried here: this kernel has neither, ENOSYS even for the host's root) */
  for (guint i = 0; probes[i] != NULL; i++)
    assert_probe (results, probes[i], errno_perm);
}

/* bad mappings are refused before anything is made */
static void
test_userns_invalid (Fixture *fx, gconstpointer data)
{
  const struct
  {
    const char *options;
    GroveError code;
    const char *message;
  } cases[] = {
    { "'mode': 'POD'", GROVE_ERROR_INVALID_ARGUMENT, "Grove does not pick host IDs" },
    { "'mode': 'POD', 'uids': [{'containerId': 0, 'hostId': 100000, 'length': 10},"
      " {'containerId': 5, 'hostId': 200000, 'length': 10}],"
      " 'gids': [{'containerId': 0, 'hostId': 100000, 'length': 10}]",
      GROVE_ERROR_INVALID_ARGUMENT, "uids[1] overlaps" },
    { "'mode': 'POD', 'uids': [{'containerId': 1, 'hostId': 100000, 'length': 10}],"
      " 'gids': [{'containerId': 0, 'hostId': 100000, 'length': 10}]",
      GROVE_ERROR_INVALID_ARGUMENT, "containerId 0 (the pod's root) is not mapped" },
    { "'mode': 'POD', 'uids': [{'containerId': 0, 'hostId': 4294967295, 'length': 2}],"
      " 'gids': [{'containerId': 0, 'hostId': 100000, 'length': 10}]",
      GROVE_ERROR_INVALID_ARGUMENT, "leaves the 32-bit IDs" },
    { "'mode': 'POD', 'uids': [{'containerId': 0, 'hostId': 0, 'length': 10}],"
      " 'gids': [{'containerId': 0, 'hostId': 100000, 'length': 10}]",
      GROVE_ERROR_INVALID_ARGUMENT, "maps the host's root" },
    { "'mode': 'CONTAINER'", GROVE_ERROR_UNSUPPORTED, "CONTAINER user namespaces" },
    { "'mode': 'TARGET'", GROVE_ERROR_UNSUPPORTED, "TARGET user namespaces" },
  };
  g_autoptr (GPtrArray) pods = NULL;
  gboolean features = FALSE;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *pod_linux = g_strdup_printf (
          "'securityContext': {'namespaceOptions': {'usernsOptions': {%s}}}", cases[i].options);
      g_autoptr (GError) error = NULL;
      g_autoptr (GrovePod) pod = try_run_pod (fx, "bad-userns", pod_linux, "runc", &error);

      g_assert_null (pod);
      g_assert_error (error, GROVE_ERROR, (int)cases[i].code);
      g_assert_nonnull (strstr (error->message, cases[i].message));
    }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GrovePod) pod
        = try_run_pod (fx, "userns-hostnet",
                       "'securityContext': {'namespaceOptions': {'network': 'NODE',"
                       " 'usernsOptions': {'mode': 'POD', " USERNS_MAPPINGS "}}}",
                       "runc", &error);
    g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "cannot use the host's network"));
  }
  pods = grove_engine_list_pods (fx->engine, NULL);
  g_assert_cmpuint (pods->len, ==, 0);
  /* the probe at construction found that they work here */
  g_assert_true (grove_engine_get_handler_features (fx->engine, "runc", &features));
  g_assert_true (features);
  g_assert_false (grove_engine_get_handler_features (fx->engine, "nonexistent", &features));
  g_assert_false (features);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, func)                                                                            \
  g_test_add ("/grove/security/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("seccomp-default-runc", test_seccomp_default_runc);
  ADD ("seccomp-default-crun", test_seccomp_default_crun);
  ADD ("seccomp-unconfined", test_seccomp_unconfined);
  ADD ("seccomp-localhost", test_seccomp_localhost);
  ADD ("seccomp-misspelt", test_seccomp_misspelt);
  ADD ("capabilities", test_capabilities);
  ADD ("users", test_users);
  ADD ("privileged", test_privileged);
  ADD ("readonly-rootfs", test_readonly_rootfs);
  ADD ("sysctls", test_sysctls);
  g_test_add ("/grove/security/userns-runc", Fixture, "runc", fixture_setup, test_userns,
              fixture_teardown);
  g_test_add ("/grove/security/userns-crun", Fixture, "crun", fixture_setup, test_userns,
              fixture_teardown);
  ADD ("userns-attacker", test_userns_attacker);
  ADD ("userns-invalid", test_userns_invalid);
  ADD ("userns-stray", test_userns_stray);
  ADD ("idmapped-stray", test_idmapped_stray);
  ADD ("idmapped-mount-mappings", test_idmapped_mount_mappings);
#undef ADD
  return g_test_run ();
}
