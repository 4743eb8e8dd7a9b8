/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestSpec"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "grove-seccomp.h"
#include "grove-spec.h"
#include "grove-test-utils.h"
#include "grove-utils.h"

#define PASSWD                                                                                     \
  "root:x:0:0:root:/root:/bin/sh\n"                                                                \
  "app:x:1000:1000:app:/home/app:/bin/sh\n"                                                        \
  "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
#define GROUP                                                                                      \
  "root:x:0:\n"                                                                                    \
  "app:x:1000:\n"                                                                                  \
  "extra:x:2000:other,app\n"                                                                       \
  "nogroup:x:65534:\n"

typedef struct
{
  char *tmpdir;
  char *rootfs;
  char *host_file;
  char *runc_rootfs;
  char *runc_cgroups_path;
  GPtrArray *objects;
  GroveSpecInput input;
} Fixture;

static void
write_file (const char *path, const char *contents)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

/* a rootfs with etc/passwd (root, app 1000, nobody) and etc/group (app; extra lists app) */
static char *
make_rootfs (const char *parent, const char *name)
{
  g_autofree char *rootfs = g_build_filename (parent, name, NULL);
  g_autofree char *etc = g_build_filename (rootfs, "etc", NULL);
  g_autofree char *passwd = g_build_filename (etc, "passwd", NULL);
  g_autofree char *group = g_build_filename (etc, "group", NULL);

  g_assert_cmpint (g_mkdir_with_parents (etc, 0755), ==, 0);
  write_file (passwd, PASSWD);
  write_file (group, GROUP);
  return g_steal_pointer (&rootfs);
}

/* JSON with ' for ", so that the configs below stay readable */
static JsonObject *
fx_parse (Fixture *fx, const char *text)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *json = g_strdup (text);
  g_autoptr (JsonNode) node = NULL;
  JsonObject *object = NULL;

  g_strdelimit (json, "'", '"');
  node = json_from_string (json, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  object = json_node_dup_object (node);
  g_ptr_array_add (fx->objects, object);
  return object;
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fx->tmpdir = grove_test_make_tmpdir ();
  fx->rootfs = make_rootfs (fx->tmpdir, "rootfs");
  fx->host_file = g_build_filename (fx->tmpdir, "host-passwd", NULL);
  fx->objects = g_ptr_array_new_with_free_func ((GDestroyNotify)json_object_unref);
  fx->input.container_id = "ctr1";
  fx->input.sandbox_id = "pod1";
  fx->input.is_infra = FALSE;
  fx->input.container_config = fx_parse (fx, "{'metadata': {'name': 'web'}}");
  fx->input.pod_config = fx_parse (fx, "{'metadata': {'name': 'mypod', 'namespace': 'default',"
                                       " 'uid': 'uid-1'}, 'hostname': 'mypod-host'}");
  fx->input.image_config = fx_parse (
      fx, "{'config': {'Entrypoint': ['/entry'], 'Cmd': ['from-cmd'], 'WorkingDir': '/srv',"
          " 'Env': ['PATH=/image/bin', 'LANG=C', 'EMPTY=']}}");
  fx->input.image_name = "registry.test/app:1";
  fx->input.rootfs = fx->rootfs;
  fx->input.hostname_path = "/run/grove/pod1/hostname";
  fx->input.hosts_path = "/run/grove/pod1/hosts";
  fx->input.resolv_path = "/run/grove/pod1/resolv.conf";
  fx->input.shm_path = "/run/grove/pod1/shm";
  fx->input.netns_path = "/run/netns/pod1";
  fx->input.infra_pid = 4242;
  fx->input.cgroups_path = "/grove/pod1/ctr1";
  fx->input.oom_score_adj_min = 0;
  fx->input.nofile_max = 1048576;
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_clear_pointer (&fx->objects, g_ptr_array_unref);
  if (fx->tmpdir != NULL)
    grove_test_rm_rf (fx->tmpdir);
  g_free (fx->tmpdir);
  g_free (fx->rootfs);
  g_free (fx->host_file);
  g_free (fx->runc_rootfs);
  g_free (fx->runc_cgroups_path);
}

static JsonObject *
fx_generate (Fixture *fx)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = grove_spec_generate (&fx->input, &error);
  JsonObject *spec = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (node);
  spec = json_node_dup_object (node);
  g_ptr_array_add (fx->objects, spec);
  return spec;
}

static void
fx_generate_fails (Fixture *fx, GroveError code, const char *message)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = grove_spec_generate (&fx->input, &error);

  g_assert_error (error, GROVE_ERROR, (int)code);
  g_assert_null (node);
  g_test_message ("error: %s", error->message);
  g_assert_nonnull (strstr (error->message, message));
}

static void
fx_set_container (Fixture *fx, const char *json)
{
  fx->input.container_config = fx_parse (fx, json);
}

static void
fx_set_pod (Fixture *fx, const char *json)
{
  fx->input.pod_config = fx_parse (fx, json);
}

/* the node at a dotted path, %NULL when something on the way is missing */
static JsonNode *
spec_get (JsonObject *spec, const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, ".", -1);
  JsonObject *obj = spec;
  JsonNode *node = NULL;

  for (guint i = 0; parts[i] != NULL; i++)
    {
      if (obj == NULL || !json_object_has_member (obj, parts[i]))
        return NULL;
      node = json_object_get_member (obj, parts[i]);
      obj = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
    }
  return node;
}

static gboolean
spec_has (JsonObject *spec, const char *path)
{
  return spec_get (spec, path) != NULL;
}

static const char *
spec_string (JsonObject *spec, const char *path)
{
  JsonNode *node = spec_get (spec, path);

  g_assert_nonnull (node);
  return json_node_get_string (node);
}

static gint64
spec_int (JsonObject *spec, const char *path)
{
  JsonNode *node = spec_get (spec, path);

  g_assert_nonnull (node);
  return json_node_get_int (node);
}

static gboolean
spec_bool (JsonObject *spec, const char *path)
{
  JsonNode *node = spec_get (spec, path);

  g_assert_nonnull (node);
  return json_node_get_boolean (node);
}

/* an array of strings or numbers, joined with @separator */
static char *
join_array (JsonArray *array, const char *separator)
{
  g_autoptr (GString) joined = g_string_new (NULL);

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);

      if (i > 0)
        g_string_append (joined, separator);
      if (json_node_get_value_type (node) == G_TYPE_STRING)
        g_string_append (joined, json_node_get_string (node));
      else
        g_string_append_printf (joined, "%" G_GINT64_FORMAT, json_node_get_int (node));
    }
  return g_string_free (g_steal_pointer (&joined), FALSE);
}

static char *
spec_join (JsonObject *spec, const char *path)
{
  JsonNode *node = spec_get (spec, path);

  g_assert_nonnull (node);
  return join_array (json_node_get_array (node), " ");
}

static JsonObject *
find_by (JsonObject *spec, const char *path, const char *member, const char *value)
{
  JsonArray *array = json_node_get_array (spec_get (spec, path));

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *obj = json_array_get_object_element (array, i);

      if (g_strcmp0 (json_object_get_string_member_with_default (obj, member, NULL), value) == 0)
        return obj;
    }
  return NULL;
}

static JsonObject *
find_mount (JsonObject *spec, const char *destination)
{
  return find_by (spec, "mounts", "destination", destination);
}

static char *
mount_options (JsonObject *spec, const char *destination)
{
  JsonObject *mount = find_mount (spec, destination);

  g_assert_nonnull (mount);
  return join_array (json_object_get_array_member (mount, "options"), ",");
}

/* "type" or "type=path" for each namespace, in order */
static char *
namespaces_summary (JsonObject *spec)
{
  JsonArray *namespaces = json_node_get_array (spec_get (spec, "linux.namespaces"));
  g_autoptr (GString) summary = g_string_new (NULL);

  for (guint i = 0; i < json_array_get_length (namespaces); i++)
    {
      JsonObject *ns = json_array_get_object_element (namespaces, i);
      const char *path = json_object_get_string_member_with_default (ns, "path", NULL);

      g_string_append_printf (summary, "%s%s%s%s", i > 0 ? " " : "",
                              json_object_get_string_member (ns, "type"), path ? "=" : "",
                              path ? path : "");
    }
  return g_string_free (g_steal_pointer (&summary), FALSE);
}

static void
assert_args (Fixture *fx, const char *container, const char *expected)
{
  g_autofree char *args = NULL;

  fx_set_container (fx, container);
  args = spec_join (fx_generate (fx), "process.args");
  g_assert_cmpstr (args, ==, expected);
}

static void
test_args (Fixture *fx, gconstpointer data)
{
  assert_args (fx, "{'command': ['/bin/app', '-v'], 'args': ['a', 'b']}", "/bin/app -v a b");
  /* a command alone drops the image's Cmd */
  assert_args (fx, "{'command': ['/bin/app']}", "/bin/app");
  assert_args (fx, "{'args': ['x', 'y']}", "/entry x y");
  assert_args (fx, "{}", "/entry from-cmd");
  fx->input.image_config = fx_parse (fx, "{'config': {'Cmd': ['/bin/sh']}}");
  assert_args (fx, "{}", "/bin/sh");
  fx->input.image_config = fx_parse (fx, "{'config': {}}");
  assert_args (fx, "{'args': ['/bin/echo', 'hi']}", "/bin/echo hi");
  fx_set_container (fx, "{'command': []}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT,
                     "no command: the image has no Entrypoint or Cmd and the container gives none");
  fx_set_container (fx, "{'command': ['/bin/app', 7]}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "command[1]: expected a string");
}

static void
test_args_infra (Fixture *fx, gconstpointer data)
{
  fx->input.is_infra = TRUE;
  /* the infra container runs its command as given, never the image's */
  assert_args (fx, "{'metadata': {'name': 'pause'}, 'command': ['/pause']}", "/pause");
  fx_set_container (fx, "{'metadata': {'name': 'pause'}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "no command");
}

static void
test_env (Fixture *fx, gconstpointer data)
{
  g_autofree char *env = NULL;

  fx_set_container (fx, "{'envs': [{'key': 'LANG', 'value': 'en_US.UTF-8'},"
                        " {'key': 'NEW', 'value': 'a=b'}, {'key': 'NEW', 'value': 'last'},"
                        " {'key': 'NOVALUE'}]}");
  env = spec_join (fx_generate (fx), "process.env");
  /* a later key replaces an earlier one in its place */
  g_assert_cmpstr (env, ==,
                   "HOSTNAME=mypod-host PATH=/image/bin LANG=en_US.UTF-8 EMPTY= NEW=last NOVALUE=");
  g_clear_pointer (&env, g_free);

  fx->input.image_config = fx_parse (fx, "{'config': {'Cmd': ['/x']}}");
  fx_set_pod (fx, "{'metadata': {'name': 'p'}}");
  fx_set_container (fx, "{}");
  env = spec_join (fx_generate (fx), "process.env");
  g_assert_cmpstr (env, ==, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");

  fx->input.image_config = fx_parse (fx, "{'config': {'Cmd': ['/x'], 'Env': ['A=1', 'NOEQUALS']}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_IMAGE,
                     "image.config.Env[1]: 'NOEQUALS' is not NAME=VALUE");
  fx->input.image_config = fx_parse (fx, "{'config': {'Cmd': ['/x']}}");
  fx_set_container (fx, "{'envs': [{'value': 'x'}]}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "envs[0].key: expected a non-empty name");
  fx_set_container (fx, "{'envs': {'A': 'b'}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "envs: expected an array");
}

static void
test_cwd_tty (Fixture *fx, gconstpointer data)
{
  JsonObject *spec = fx_generate (fx);

  g_assert_cmpstr (spec_string (spec, "process.cwd"), ==, "/srv");
  g_assert_false (spec_bool (spec, "process.terminal"));
  fx_set_container (fx, "{'workingDir': '/work', 'tty': true}");
  spec = fx_generate (fx);
  g_assert_cmpstr (spec_string (spec, "process.cwd"), ==, "/work");
  g_assert_true (spec_bool (spec, "process.terminal"));
  fx->input.image_config = fx_parse (fx, "{'config': {'Cmd': ['/x']}}");
  fx_set_container (fx, "{}");
  g_assert_cmpstr (spec_string (fx_generate (fx), "process.cwd"), ==, "/");
  fx_set_container (fx, "{'workingDir': 'relative'}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "workingDir: 'relative' is not");
  fx_set_container (fx, "{'tty': 'yes'}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "tty: expected a boolean");
}

static void
assert_user (Fixture *fx, const char *user, guint32 uid, guint32 gid, const char *gids)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) additional = NULL;
  g_autoptr (GString) joined = g_string_new (NULL);
  guint32 got_uid = 0;
  guint32 got_gid = 0;

  g_assert_true (
      grove_spec_resolve_user (fx->rootfs, user, &got_uid, &got_gid, &additional, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (got_uid, ==, uid);
  g_assert_cmpuint (got_gid, ==, gid);
  for (guint i = 0; i < additional->len; i++)
    g_string_append_printf (joined, "%s%u", i > 0 ? " " : "",
                            g_array_index (additional, guint32, i));
  g_assert_cmpstr (joined->str, ==, gids);
}

static void
assert_user_fails (const char *rootfs, const char *user, const char *message)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) additional = NULL;
  guint32 uid = 0;
  guint32 gid = 0;

  g_assert_false (grove_spec_resolve_user (rootfs, user, &uid, &gid, &additional, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_assert_cmpstr (error->message, ==, message);
}

static void
test_resolve_user (Fixture *fx, gconstpointer data)
{
  assert_user (fx, NULL, 0, 0, "");
  assert_user (fx, "", 0, 0, "");
  assert_user (fx, "app", 1000, 1000, "2000");
  assert_user (fx, "1000", 1000, 1000, "2000");
  assert_user (fx, "nobody", 65534, 65534, "");
  /* a uid the image does not know runs with gid 0 */
  assert_user (fx, "4321", 4321, 0, "");
  assert_user (fx, "4321:77", 4321, 77, "");
  assert_user (fx, "1000:65534", 1000, 65534, "2000");
  assert_user (fx, "app:extra", 1000, 2000, "2000");
  assert_user (fx, "0:nogroup", 0, 65534, "");
  assert_user_fails (fx->rootfs, "ghost", "user 'ghost' not found in the image's /etc/passwd");
  assert_user_fails (fx->rootfs, "app:ghosts",
                     "group 'ghosts' not found in the image's /etc/group");
}

static void
test_user_from_config (Fixture *fx, gconstpointer data)
{
  JsonObject *spec = NULL;
  g_autofree char *gids = NULL;

  fx->input.image_config = fx_parse (fx, "{'config': {'Cmd': ['/x'], 'User': 'app'}}");
  spec = fx_generate (fx);
  g_assert_cmpint (spec_int (spec, "process.user.uid"), ==, 1000);
  g_assert_cmpint (spec_int (spec, "process.user.gid"), ==, 1000);
  gids = spec_join (spec, "process.user.additionalGids");
  g_assert_cmpstr (gids, ==, "2000");
  g_clear_pointer (&gids, g_free);

  /* runAsUser replaces the image's user; runAsGroup its group */
  fx_set_container (fx, "{'linux': {'securityContext': {'runAsUser': {'value': '65534'},"
                        " 'runAsGroup': {'value': 5}, 'supplementalGroups': [3000, '2000']}}}");
  spec = fx_generate (fx);
  g_assert_cmpint (spec_int (spec, "process.user.uid"), ==, 65534);
  g_assert_cmpint (spec_int (spec, "process.user.gid"), ==, 5);
  gids = spec_join (spec, "process.user.additionalGids");
  g_assert_cmpstr (gids, ==, "3000 2000");

  g_clear_pointer (&gids, g_free);

  /* Merge (the default) adds the image's /etc/group memberships of the user, Strict not */
  fx_set_container (fx, "{'linux': {'securityContext': {'runAsUser': {'value': 1000},"
                        " 'supplementalGroups': [3000], 'supplementalGroupsPolicy': 'Merge'}}}");
  gids = spec_join (fx_generate (fx), "process.user.additionalGids");
  g_assert_cmpstr (gids, ==, "2000 3000");
  g_clear_pointer (&gids, g_free);
  fx_set_container (fx, "{'linux': {'securityContext': {'runAsUser': {'value': 1000},"
                        " 'supplementalGroups': [3000], 'supplementalGroupsPolicy': 'Strict'}}}");
  gids = spec_join (fx_generate (fx), "process.user.additionalGids");
  g_assert_cmpstr (gids, ==, "3000");
  fx_set_container (fx, "{'linux': {'securityContext': {'runAsUsername': 'app',"
                        " 'supplementalGroupsPolicy': 1}}}");
  g_assert_false (spec_has (fx_generate (fx), "process.user.additionalGids"));
  fx_set_container (fx, "{'linux': {'securityContext': {'supplementalGroupsPolicy': 'Lax'}}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT,
                     "linux.securityContext.supplementalGroupsPolicy: expected one of Merge, "
                     "Strict");

  fx_set_container (fx, "{'linux': {'securityContext': {'runAsUser': {}}}}");
  spec = fx_generate (fx);
  g_assert_cmpint (spec_int (spec, "process.user.uid"), ==, 0);
  g_assert_false (spec_has (spec, "process.user.additionalGids"));

  fx_set_container (fx, "{'linux': {'securityContext': {'runAsUsername': 'nobody'}}}");
  g_assert_cmpint (spec_int (fx_generate (fx), "process.user.uid"), ==, 65534);
  fx_set_container (fx, "{'linux': {'securityContext': {'runAsUsername': 'ghost'}}}");
  fx_generate_fails (fx, GROVE_ERROR_NOT_FOUND,
                     "user 'ghost' not found in the image's /etc/passwd");
  fx_set_container (fx, "{'linux': {'securityContext': {'runAsUser': {'value': -1}}}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT,
                     "linux.securityContext.runAsUser: -1 is not a valid id");
}

/* an etc/passwd symlink to a host file must not reach it */
static void
test_user_symlink_escape (Fixture *fx, gconstpointer data)
{
  g_autofree char *rootfs = g_build_filename (fx->tmpdir, "escape", NULL);
  g_autofree char *etc = g_build_filename (rootfs, "etc", NULL);
  g_autofree char *passwd = g_build_filename (etc, "passwd", NULL);
  g_autofree char *group = g_build_filename (etc, "group", NULL);
  g_autofree char *inside = g_build_filename (rootfs, fx->host_file, NULL);
  g_autofree char *inside_dir = g_path_get_dirname (inside);
  g_autoptr (GError) error = NULL;
  guint32 uid = 0;
  guint32 gid = 0;

  write_file (fx->host_file, PASSWD "hostonly:x:4000:4000::/:/bin/sh\n");
  g_assert_cmpint (g_mkdir_with_parents (etc, 0755), ==, 0);
  g_assert_cmpint (symlink (fx->host_file, passwd), ==, 0);
  g_assert_cmpint (symlink ("../../../../../../../../host-group", group), ==, 0);
  /* the host file is there, but the absolute link resolves inside the rootfs */
  assert_user_fails (rootfs, "hostonly", "user 'hostonly' not found in the image's /etc/passwd");
  assert_user_fails (rootfs, "0:root", "group 'root' not found in the image's /etc/group");
  g_assert_true (grove_spec_resolve_user (rootfs, "4000", &uid, &gid, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (gid, ==, 0);

  /* the same link finds the file of that name inside the rootfs */
  g_assert_cmpint (g_mkdir_with_parents (inside_dir, 0755), ==, 0);
  write_file (inside, "inside:x:5000:5001::/:/bin/sh\n");
  g_assert_true (grove_spec_resolve_user (rootfs, "inside", &uid, &gid, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (uid, ==, 5000);
  g_assert_cmpuint (gid, ==, 5001);
  assert_user_fails (rootfs, "hostonly", "user 'hostonly' not found in the image's /etc/passwd");
}

/* CapBnd of this process */
static guint64
test_bounding_set (void)
{
  g_autofree char *status = NULL;
  const char *line = NULL;

  g_assert_true (g_file_get_contents ("/proc/self/status", &status, NULL, NULL));
  line = strstr (status, "\nCapBnd:");
  g_assert_nonnull (line);
  return g_ascii_strtoull (line + strlen ("\nCapBnd:"), NULL, 16);
}

static char *
capabilities_with (Fixture *fx, const char *capabilities)
{
  g_autofree char *json
      = g_strdup_printf ("{'linux': {'securityContext': {'capabilities': %s}}}", capabilities);
  JsonObject *spec = NULL;
  g_autofree char *effective = NULL;
  g_autofree char *permitted = NULL;
  g_autofree char *inheritable = NULL;

  fx_set_container (fx, json);
  spec = fx_generate (fx);
  effective = spec_join (spec, "process.capabilities.effective");
  permitted = spec_join (spec, "process.capabilities.permitted");
  inheritable = spec_join (spec, "process.capabilities.inheritable");
  g_assert_cmpstr (effective, ==, permitted);
  g_assert_cmpstr (inheritable, ==, "");
  return spec_join (spec, "process.capabilities.bounding");
}

static void
test_capabilities (Fixture *fx, gconstpointer data)
{
  g_autofree char *caps = NULL;
  g_autofree char *all = NULL;

  caps = capabilities_with (fx, "{}");
  g_assert_cmpstr (caps, ==,
                   "CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_FSETID CAP_KILL CAP_SETGID "
                   "CAP_SETUID CAP_SETPCAP CAP_NET_BIND_SERVICE CAP_NET_RAW CAP_SYS_CHROOT "
                   "CAP_MKNOD CAP_AUDIT_WRITE CAP_SETFCAP");
  g_clear_pointer (&caps, g_free);
  caps = capabilities_with (fx, "{'addCapabilities': ['sys_admin', 'CAP_NET_ADMIN'],"
                                " 'dropCapabilities': ['cap_chown', 'KILL', 'MKNOD', 'NET_RAW',"
                                " 'SETPCAP', 'FSETID', 'SETFCAP', 'AUDIT_WRITE']}");
  g_assert_cmpstr (caps, ==,
                   "CAP_DAC_OVERRIDE CAP_FOWNER CAP_SETGID CAP_SETUID CAP_NET_BIND_SERVICE "
                   "CAP_NET_ADMIN CAP_SYS_CHROOT CAP_SYS_ADMIN");
  g_clear_pointer (&caps, g_free);
  caps = capabilities_with (
      fx, "{'dropCapabilities': ['ALL'], 'addCapabilities': ['NET_BIND_SERVICE']}");
  g_assert_cmpstr (caps, ==, "CAP_NET_BIND_SERVICE");
  g_clear_pointer (&caps, g_free);
  all = capabilities_with (fx, "{'addCapabilities': ['all']}");
  g_assert_nonnull (strstr (all, "CAP_SYS_ADMIN"));
  g_assert_nonnull (strstr (all, "CAP_SYS_MODULE"));
  caps = capabilities_with (fx, "{'addCapabilities': ['ALL'], 'dropCapabilities': ['SYS_ADMIN']}");
  g_assert_null (strstr (caps, "CAP_SYS_ADMIN"));
  g_assert_nonnull (strstr (caps, "CAP_SYS_MODULE"));
  /* naming a capability this process lacks fails here, not in the runtime */
  if ((test_bounding_set () & (G_GUINT64_CONSTANT (1) << 24)) == 0)
    {
      fx_set_container (fx, "{'linux': {'securityContext': {'capabilities':"
                            " {'addCapabilities': ['SYS_RESOURCE']}}}}");
      fx_generate_fails (fx, GROVE_ERROR_PERMISSION_DENIED,
                         "addCapabilities[0]: cannot grant CAP_SYS_RESOURCE");
      g_assert_null (strstr (all, "CAP_SYS_RESOURCE"));
    }
  fx_set_container (fx, "{'linux': {'securityContext': {'capabilities':"
                        " {'addCapabilities': ['FLY']}}}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT,
                     "linux.securityContext.capabilities.addCapabilities[0]: unknown capability "
                     "'FLY'");
}

static void
test_privileged (Fixture *fx, gconstpointer data)
{
  JsonObject *spec = NULL;
  g_autofree char *caps = NULL;
  g_autofree char *cap_last = NULL;
  g_autofree char *sys_options = NULL;
  g_autofree char *rules = NULL;
  guint64 last = 0;

  fx_set_container (fx, "{'linux': {'securityContext': {'privileged': true,"
                        " 'capabilities': {'dropCapabilities': ['ALL']}}}}");
  spec = fx_generate (fx);
  caps = spec_join (spec, "process.capabilities.bounding");
  g_assert_true (g_file_get_contents ("/proc/sys/kernel/cap_last_cap", &cap_last, NULL, NULL));
  last = g_ascii_strtoull (cap_last, NULL, 10);
  /* all the kernel knows, but those this process cannot pass on (here CAP_SYS_RESOURCE) */
  g_assert_nonnull (strstr (caps, "CAP_SYS_ADMIN"));
  g_assert_nonnull (strstr (caps, "CAP_CHOWN"));
  if (last >= 40)
    g_assert_nonnull (strstr (caps, "CAP_CHECKPOINT_RESTORE"));
  g_assert_false (spec_has (spec, "linux.maskedPaths"));
  g_assert_false (spec_has (spec, "linux.readonlyPaths"));
  sys_options = mount_options (spec, "/sys");
  g_assert_cmpstr (sys_options, ==, "nosuid,noexec,nodev,rw");
  rules = json_to_string (spec_get (spec, "linux.resources.devices"), FALSE);
  g_assert_cmpstr (rules, ==, "[{\"allow\":true,\"access\":\"rwm\"}]");
}

static void
test_default_mounts (Fixture *fx, gconstpointer data)
{
  JsonObject *spec = fx_generate (fx);
  g_autofree char *destinations = NULL;
  g_autoptr (JsonArray) mounts = json_array_ref (json_node_get_array (spec_get (spec, "mounts")));
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  g_autofree char *options = NULL;

  for (guint i = 0; i < json_array_get_length (mounts); i++)
    g_ptr_array_add (names, (gpointer)json_object_get_string_member (
                                json_array_get_object_element (mounts, i), "destination"));
  g_ptr_array_add (names, NULL);
  destinations = g_strjoinv (" ", (char **)names->pdata);
  g_assert_cmpstr (destinations, ==,
                   "/proc /dev /dev/pts /dev/mqueue /sys /sys/fs/cgroup /dev/shm /etc/hostname "
                   "/etc/hosts /etc/resolv.conf");
  options = mount_options (spec, "/dev");
  g_assert_cmpstr (options, ==, "nosuid,strictatime,mode=755,size=65536k");
  g_clear_pointer (&options, g_free);
  options = mount_options (spec, "/dev/pts");
  g_assert_cmpstr (options, ==, "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5");
  g_clear_pointer (&options, g_free);
  options = mount_options (spec, "/sys/fs/cgroup");
  g_assert_cmpstr (options, ==, "nosuid,noexec,nodev,relatime,ro");
  g_clear_pointer (&options, g_free);
  options = mount_options (spec, "/etc/resolv.conf");
  g_assert_cmpstr (options, ==, "rbind,rprivate,rw");
  g_assert_cmpstr (json_object_get_string_member (find_mount (spec, "/dev/shm"), "source"), ==,
                   "/run/grove/pod1/shm");

  /* no shm path: a tmpfs of its own; no file paths: no file mounts */
  fx->input.shm_path = NULL;
  fx->input.hostname_path = NULL;
  fx->input.resolv_path = NULL;
  spec = fx_generate (fx);
  g_assert_cmpstr (json_object_get_string_member (find_mount (spec, "/dev/shm"), "type"), ==,
                   "tmpfs");
  g_assert_null (find_mount (spec, "/etc/hostname"));
  g_assert_null (find_mount (spec, "/etc/resolv.conf"));
  g_assert_nonnull (find_mount (spec, "/etc/hosts"));
}

static void
test_cri_mounts (Fixture *fx, gconstpointer data)
{
  g_autofree char *json = NULL;
  JsonObject *spec = NULL;
  JsonArray *mounts = NULL;
  guint n = 0;
  g_autofree char *options = NULL;
  g_autoptr (GString) order = g_string_new (NULL);

  json = g_strdup_printf (
      "{'mounts': [{'containerPath': '/data/sub', 'hostPath': '%s', 'readonly': true},"
      " {'containerPath': '/data/', 'hostPath': '%s', 'propagation': "
      "'PROPAGATION_HOST_TO_CONTAINER'},"
      " {'containerPath': '/shared', 'hostPath': '%s', 'propagation': 2},"
      " {'containerPath': '/etc/hosts', 'hostPath': '%s/etc/passwd'}]}",
      fx->tmpdir, fx->tmpdir, fx->tmpdir, fx->rootfs);
  fx_set_container (fx, json);
  spec = fx_generate (fx);
  mounts = json_node_get_array (spec_get (spec, "mounts"));
  n = json_array_get_length (mounts);
  /* a CRI mount replaces the default at its destination; parents come first */
  g_assert_cmpuint (n, ==, 13);
  for (guint i = n - 4; i < n; i++)
    g_string_append_printf (
        order, " %s",
        json_object_get_string_member (json_array_get_object_element (mounts, i), "destination"));
  g_assert_cmpstr (order->str, ==, " /data /shared /data/sub /etc/hosts");
  options = mount_options (spec, "/data/sub");
  g_assert_cmpstr (options, ==, "rbind,rprivate,ro");
  g_clear_pointer (&options, g_free);
  options = mount_options (spec, "/data");
  g_assert_cmpstr (options, ==, "rbind,rslave,rw");
  g_clear_pointer (&options, g_free);
  options = mount_options (spec, "/shared");
  g_assert_cmpstr (options, ==, "rbind,rshared,rw");
  g_assert_cmpstr (json_object_get_string_member (find_mount (spec, "/shared"), "type"), ==,
                   "bind");
  g_assert_true (
      g_str_has_suffix (json_object_get_string_member (find_mount (spec, "/etc/hosts"), "source"),
                        "rootfs/etc/passwd"));
  g_assert_cmpstr (spec_string (spec, "linux.rootfsPropagation"), ==, "rshared");
}

static void
test_cri_mount_errors (Fixture *fx, gconstpointer data)
{
  g_autofree char *relative
      = g_strdup_printf ("{'mounts': [{'containerPath': 'data', 'hostPath': '%s'}]}", fx->tmpdir);

  fx_set_container (fx, "{'mounts': [{'containerPath': '/data', 'hostPath': '/nonexistent/x'}]}");
  fx_generate_fails (fx, GROVE_ERROR_NOT_FOUND,
                     "mounts[0].hostPath: /nonexistent/x does not exist");
  fx_set_container (fx, relative);
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT,
                     "mounts[0].containerPath: 'data' is not an absolute path");
  fx_set_container (fx, "{'mounts': [{'containerPath': '/d', 'hostPath': '/', 'propagation':"
                        " 'PROPAGATION_SIDEWAYS'}]}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT,
                     "mounts[0].propagation: expected one of PROPAGATION_PRIVATE");
  fx_set_container (fx, "{'mounts': [{'containerPath': '/d', 'hostPath': '/', 'propagation': 9}]}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "mounts[0].propagation: expected one of");
  fx_set_container (fx, "{'mounts': [{'containerPath': '/d', 'image': {'image': 'busybox'}}]}");
  fx_generate_fails (fx, GROVE_ERROR_UNSUPPORTED, "mounts[0].image: image volumes");
}

static void
assert_namespaces (Fixture *fx, const char *expected)
{
  g_autofree char *summary = namespaces_summary (fx_generate (fx));

  g_assert_cmpstr (summary, ==, expected);
}

static void
test_namespaces_infra (Fixture *fx, gconstpointer data)
{
  fx->input.is_infra = TRUE;
  fx->input.infra_pid = 0;
  fx_set_container (fx, "{'command': ['/pause']}");
  assert_namespaces (fx, "mount network=/run/netns/pod1 ipc uts pid");
  fx_set_pod (fx, "{'linux': {'securityContext': {'namespaceOptions': {'pid': 'NODE',"
                  " 'ipc': 'NODE'}}}}");
  assert_namespaces (fx, "mount network=/run/netns/pod1 uts");
  /* host network: no network namespace, and the host's UTS namespace */
  fx->input.netns_path = NULL;
  fx_set_pod (fx, "{'hostname': 'node1', 'linux': {'securityContext': {'namespaceOptions':"
                  " {'network': 'NODE', 'pid': 1}}}}");
  assert_namespaces (fx, "mount ipc pid");
  g_assert_false (spec_has (fx_generate (fx), "hostname"));
}

static void
test_namespaces_container (Fixture *fx, gconstpointer data)
{
  /* proto's default pid mode is POD: the pod's PID namespace */
  assert_namespaces (fx, "mount network=/run/netns/pod1 ipc=/proc/4242/ns/ipc "
                         "uts=/proc/4242/ns/uts pid=/proc/4242/ns/pid");
  fx_set_pod (fx, "{'linux': {'securityContext': {'namespaceOptions': {'pid': 'CONTAINER'}}}}");
  assert_namespaces (fx, "mount network=/run/netns/pod1 ipc=/proc/4242/ns/ipc "
                         "uts=/proc/4242/ns/uts pid");
  /* the container's own options win over the pod's */
  fx_set_container (fx, "{'linux': {'securityContext': {'namespaceOptions': {'pid': 'POD'}}}}");
  assert_namespaces (fx, "mount network=/run/netns/pod1 ipc=/proc/4242/ns/ipc "
                         "uts=/proc/4242/ns/uts pid=/proc/4242/ns/pid");
  fx_set_container (fx, "{'linux': {'securityContext': {'namespaceOptions': {'pid': 'NODE',"
                        " 'ipc': 'NODE', 'network': 'POD'}}}}");
  assert_namespaces (fx, "mount network=/run/netns/pod1 uts=/proc/4242/ns/uts");
  fx->input.netns_path = NULL;
  fx_set_container (fx, "{'linux': {'securityContext': {'namespaceOptions': {'pid': 'CONTAINER',"
                        " 'network': 'NODE'}}}}");
  assert_namespaces (fx, "mount ipc=/proc/4242/ns/ipc pid");
  fx->input.infra_pid = 0;
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "no infra PID was given");
  fx_set_container (fx, "{'linux': {'securityContext': {'namespaceOptions': {'pid': 'TARGET'}}}}");
  fx_generate_fails (fx, GROVE_ERROR_UNSUPPORTED, "TARGET");
  fx_set_container (fx, "{'linux': {'securityContext': {'namespaceOptions': {'pid': 'NOPE'}}}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT,
                     "linux.securityContext.namespaceOptions.pid: expected one of POD, CONTAINER, "
                     "NODE, TARGET");
}

static void
test_hostname_root (Fixture *fx, gconstpointer data)
{
  JsonObject *spec = fx_generate (fx);

  g_assert_cmpstr (spec_string (spec, "ociVersion"), ==, "1.0.2-dev");
  g_assert_cmpstr (spec_string (spec, "hostname"), ==, "mypod-host");
  g_assert_cmpstr (spec_string (spec, "root.path"), ==, fx->rootfs);
  g_assert_false (spec_bool (spec, "root.readonly"));
  g_assert_cmpstr (spec_string (spec, "linux.cgroupsPath"), ==, "/grove/pod1/ctr1");
  g_assert_false (spec_bool (spec, "process.noNewPrivileges"));
  fx_set_container (fx, "{'linux': {'securityContext': {'readonlyRootfs': true,"
                        " 'noNewPrivs': true}}}");
  spec = fx_generate (fx);
  g_assert_true (spec_bool (spec, "root.readonly"));
  g_assert_true (spec_bool (spec, "process.noNewPrivileges"));
  /* the infra container takes the pod's security context */
  fx->input.is_infra = TRUE;
  fx_set_container (fx, "{'command': ['/pause']}");
  fx_set_pod (fx, "{'linux': {'securityContext': {'readonlyRootfs': true,"
                  " 'runAsUser': {'value': 65534}}}}");
  spec = fx_generate (fx);
  g_assert_true (spec_bool (spec, "root.readonly"));
  g_assert_cmpint (spec_int (spec, "process.user.uid"), ==, 65534);
  g_assert_false (spec_has (spec, "hostname"));
}

static void
test_oom_nofile (Fixture *fx, gconstpointer data)
{
  JsonObject *spec = fx_generate (fx);
  JsonObject *rlimit = NULL;

  g_assert_cmpint (spec_int (spec, "process.oomScoreAdj"), ==, 0);
  rlimit = json_node_get_object (
      json_array_get_element (json_node_get_array (spec_get (spec, "process.rlimits")), 0));
  g_assert_cmpstr (json_object_get_string_member (rlimit, "type"), ==, "RLIMIT_NOFILE");
  g_assert_cmpint (json_object_get_int_member (rlimit, "hard"), ==, 1048576);
  g_assert_cmpint (json_object_get_int_member (rlimit, "soft"), ==, 1048576);

  fx->input.oom_score_adj_min = -500;
  fx->input.nofile_max = 20000;
  fx_set_container (fx, "{'linux': {'resources': {'oomScoreAdj': -998}}}");
  spec = fx_generate (fx);
  g_assert_cmpint (spec_int (spec, "process.oomScoreAdj"), ==, -500);
  rlimit = json_node_get_object (
      json_array_get_element (json_node_get_array (spec_get (spec, "process.rlimits")), 0));
  g_assert_cmpint (json_object_get_int_member (rlimit, "hard"), ==, 20000);
  g_assert_cmpint (json_object_get_int_member (rlimit, "soft"), ==, 20000);
  fx_set_container (fx, "{'linux': {'resources': {'oomScoreAdj': '999'}}}");
  g_assert_cmpint (spec_int (fx_generate (fx), "process.oomScoreAdj"), ==, 999);
  fx->input.nofile_max = G_MAXUINT64;
  fx_set_container (fx, "{'linux': {'resources': {'oomScoreAdj': 1001}}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "linux.resources.oomScoreAdj: 1001");
}

static void
test_resources (Fixture *fx, gconstpointer data)
{
  JsonObject *spec = NULL;
  g_autofree char *json = NULL;

  spec = fx_generate (fx);
  g_assert_false (spec_has (spec, "linux.resources.cpu"));
  g_assert_false (spec_has (spec, "linux.resources.memory"));
  g_assert_false (spec_has (spec, "linux.resources.pids"));
  fx_set_container (fx,
                    "{'linux': {'resources': {'cpuShares': 512, 'cpuQuota': '50000',"
                    " 'cpuPeriod': 100000, 'cpusetCpus': '0-1', 'cpusetMems': '',"
                    " 'memoryLimitInBytes': '268435456', 'memorySwapLimitInBytes': 5.36870912e8,"
                    " 'hugepageLimits': [{'pageSize': '2MB', 'limit': 4194304}]}}}");
  spec = fx_generate (fx);
  g_assert_cmpint (spec_int (spec, "linux.resources.cpu.shares"), ==, 512);
  g_assert_cmpint (spec_int (spec, "linux.resources.cpu.quota"), ==, 50000);
  g_assert_cmpint (spec_int (spec, "linux.resources.cpu.period"), ==, 100000);
  g_assert_cmpstr (spec_string (spec, "linux.resources.cpu.cpus"), ==, "0-1");
  g_assert_false (spec_has (spec, "linux.resources.cpu.mems"));
  g_assert_cmpint (spec_int (spec, "linux.resources.memory.limit"), ==, 268435456);
  g_assert_cmpint (spec_int (spec, "linux.resources.memory.swap"), ==, 536870912);
  json = json_to_string (spec_get (spec, "linux.resources.hugepageLimits"), FALSE);
  g_assert_cmpstr (json, ==, "[{\"pageSize\":\"2MB\",\"limit\":4194304}]");

  fx_set_container (fx, "{'linux': {'resources': {'cpuShares': 'many'}}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT,
                     "linux.resources.cpuShares: expected an integer");
  fx_set_container (fx, "{'linux': {'resources': {'cpuShares': 1.5}}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT,
                     "linux.resources.cpuShares: expected an integer");
  fx_set_container (fx, "{'linux': {'resources': {'memoryLimitInBytes': -1}}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT,
                     "linux.resources.memoryLimitInBytes: -1 is negative");
  fx_set_container (fx, "{'linux': {'resources': []}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "linux.resources: expected an object");
}

static void
test_devices (Fixture *fx, gconstpointer data)
{
  JsonObject *spec = fx_generate (fx);
  g_autofree char *rules = json_to_string (spec_get (spec, "linux.resources.devices"), FALSE);
  g_autofree char *devices = NULL;

  g_assert_true (g_str_has_prefix (rules, "[{\"allow\":false,\"access\":\"rwm\"},"
                                          "{\"allow\":true,\"type\":\"c\",\"major\":1,\"minor\":3,"
                                          "\"access\":\"rwm\"},"));
  g_assert_true (g_str_has_suffix (rules, "{\"allow\":true,\"type\":\"c\",\"major\":136,"
                                          "\"access\":\"rwm\"}]"));
  g_assert_false (spec_has (spec, "linux.devices"));
  g_clear_pointer (&rules, g_free);

  fx_set_container (fx, "{'devices': [{'containerPath': '/dev/xnull', 'hostPath': '/dev/null',"
                        " 'permissions': 'rw'}]}");
  spec = fx_generate (fx);
  devices = json_to_string (spec_get (spec, "linux.devices"), FALSE);
  g_assert_cmpstr (devices, ==,
                   "[{\"path\":\"/dev/xnull\",\"type\":\"c\",\"major\":1,\"minor\":3,"
                   "\"fileMode\":438,\"uid\":0,\"gid\":0}]");
  rules = json_to_string (spec_get (spec, "linux.resources.devices"), FALSE);
  g_assert_true (g_str_has_suffix (rules, "{\"allow\":true,\"type\":\"c\",\"major\":1,"
                                          "\"minor\":3,\"access\":\"rw\"}]"));

  fx_set_container (fx, "{'devices': [{'containerPath': '/dev/x', 'hostPath': '/dev/nope'}]}");
  fx_generate_fails (fx, GROVE_ERROR_NOT_FOUND, "devices[0].hostPath: device /dev/nope");
  fx_set_container (fx, "{'devices': [{'containerPath': '/dev/x', 'hostPath': '/etc/passwd'}]}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "is not a device node");
  fx_set_container (fx, "{'devices': [{'containerPath': '/dev/x', 'hostPath': '/dev/null',"
                        " 'permissions': 'rwx'}]}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "devices[0].permissions");
}

static void
test_masked_paths_sysctl (Fixture *fx, gconstpointer data)
{
  JsonObject *spec = fx_generate (fx);
  g_autofree char *masked = spec_join (spec, "linux.maskedPaths");
  g_autofree char *readonly = spec_join (spec, "linux.readonlyPaths");
  g_autofree char *sysctl = NULL;

  g_assert_true (g_str_has_prefix (masked, "/proc/acpi /proc/kcore /proc/keys"));
  g_assert_true (g_str_has_suffix (masked, "/sys/firmware /sys/devices/virtual/powercap"));
  g_assert_cmpstr (readonly, ==,
                   "/proc/asound /proc/bus /proc/fs /proc/irq /proc/sys /proc/sysrq-trigger");
  g_assert_false (spec_has (spec, "linux.sysctl"));
  g_clear_pointer (&masked, g_free);
  g_clear_pointer (&readonly, g_free);

  fx_set_container (fx, "{'linux': {'securityContext': {'maskedPaths': ['/proc/x'],"
                        " 'readonlyPaths': []}}}");
  fx_set_pod (fx, "{'linux': {'sysctls': {'net.ipv4.ip_forward': '1'}}}");
  spec = fx_generate (fx);
  masked = spec_join (spec, "linux.maskedPaths");
  readonly = spec_join (spec, "linux.readonlyPaths");
  g_assert_cmpstr (masked, ==, "/proc/x");
  g_assert_cmpstr (readonly, ==, "");
  /* sysctls belong to the infra container only */
  g_assert_false (spec_has (spec, "linux.sysctl"));
  fx->input.is_infra = TRUE;
  fx_set_container (fx, "{'command': ['/pause']}");
  sysctl = json_to_string (spec_get (fx_generate (fx), "linux.sysctl"), FALSE);
  g_assert_cmpstr (sysctl, ==, "{\"net.ipv4.ip_forward\":\"1\"}");
  fx_set_pod (fx, "{'linux': {'sysctls': {'net.ipv4.ip_forward': 1}}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT,
                     "sandboxConfig.linux.sysctls.net.ipv4.ip_forward: expected a string");
}

static void
test_sysctl_namespaced (Fixture *fx, gconstpointer data)
{
  static const char *const allowed[] = { "net.core.somaxconn", "net/ipv4/ip_local_port_range",
                                         "kernel.shmmax",      "kernel.shm_rmid_forced",
                                         "kernel.msgmni",      "kernel.sem",
                                         "fs.mqueue.msg_max",  NULL };
  static const char *const refused[][2] = {
    { "vm.swappiness", "sysctl vm.swappiness: not namespaced" },
    { "kernel.hostname", "sysctl kernel.hostname: not namespaced" },
    { "kernel.semx", "sysctl kernel.semx: not namespaced" },
    { "fs.file-max", "sysctl fs.file-max: not namespaced" },
    { "net..x", "sysctl 'net..x': not a sysctl name" },
  };

  fx->input.is_infra = TRUE;
  fx_set_container (fx, "{'command': ['/pause']}");
  for (guint i = 0; allowed[i] != NULL; i++)
    {
      g_autofree char *json = g_strdup_printf ("{'linux': {'sysctls': {'%s': '1'}}}", allowed[i]);

      fx_set_pod (fx, json);
      g_assert_true (spec_has (fx_generate (fx), "linux.sysctl"));
    }
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autofree char *json = g_strdup_printf (
          "{'linux': {'sysctls': {'net.core.somaxconn': '1', '%s': '1'}}}", refused[i][0]);

      fx_set_pod (fx, json);
      fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, refused[i][1]);
    }
  /* the host's namespaces are the host's */
  fx_set_pod (fx, "{'linux': {'sysctls': {'net.core.somaxconn': '1'}, 'securityContext':"
                  " {'namespaceOptions': {'network': 'NODE'}}}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT,
                     "sandboxConfig.linux.sysctls: sysctl net.core.somaxconn: a pod on the host's "
                     "network cannot set net.* sysctls");
  fx_set_pod (fx, "{'linux': {'sysctls': {'kernel.shmmax': '1'}, 'securityContext':"
                  " {'namespaceOptions': {'ipc': 'NODE'}}}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "host's IPC namespace");
  fx_set_pod (fx, "{'linux': {'sysctls': {'kernel.shmmax': '1'}, 'securityContext':"
                  " {'namespaceOptions': {'network': 'NODE'}}}}");
  g_assert_true (spec_has (fx_generate (fx), "linux.sysctl"));
}

/* the number of rules of linux.seccomp that name @syscall */
static guint
seccomp_rules_naming (JsonObject *spec, const char *syscall)
{
  JsonArray *rules = json_node_get_array (spec_get (spec, "linux.seccomp.syscalls"));
  guint count = 0;

  for (guint i = 0; i < json_array_get_length (rules); i++)
    {
      JsonArray *names
          = json_object_get_array_member (json_array_get_object_element (rules, i), "names");

      for (guint j = 0; j < json_array_get_length (names); j++)
        count += strcmp (json_array_get_string_element (names, j), syscall) == 0;
    }
  return count;
}

static void
test_seccomp (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *source
      = g_test_build_filename (G_TEST_DIST, "..", "data", "seccomp-default.json", NULL);
  g_autofree char *path = g_canonicalize_filename (source, NULL);
  g_autofree char *origin = NULL;
  g_autofree char *text = grove_seccomp_read_default (path, &origin, &error);
  g_autofree char *local = g_build_filename (fx->tmpdir, "deny-mkdir.json", NULL);
  g_autofree char *typo = g_build_filename (fx->tmpdir, "typo.json", NULL);
  g_autofree char *json = NULL;
  JsonObject *spec = NULL;

  g_assert_no_error (error);
  fx->input.seccomp_default = text;
  fx->input.seccomp_default_origin = origin;
  write_file (local,
              "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": "
              "[\"mkdir\", \"mkdirat\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 28}]}");
  write_file (typo, "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": "
                    "[\"mkdir\", \"mkdirat\", \"rmdri\"], \"action\": \"SCMP_ACT_ERRNO\"}]}");

  /* neither seccomp nor the deprecated path: unconfined, as with containerd */
  g_assert_false (spec_has (fx_generate (fx), "linux.seccomp"));
  fx_set_container (fx,
                    "{'linux': {'securityContext': {'seccomp': {'profileType': 'Unconfined'}}}}");
  g_assert_false (spec_has (fx_generate (fx), "linux.seccomp"));
  /* the message with its default profile type, RuntimeDefault */
  fx_set_container (fx, "{'linux': {'securityContext': {'seccomp': {}}}}");
  spec = fx_generate (fx);
  g_assert_cmpstr (spec_string (spec, "linux.seccomp.defaultAction"), ==, "SCMP_ACT_ERRNO");
  g_assert_cmpuint (seccomp_rules_naming (spec, "mount"), ==, 0);
  g_assert_cmpuint (seccomp_rules_naming (spec, "ptrace"), ==, 1);
  /* the profile's capability conditions follow the container's capabilities */
  fx_set_container (fx, "{'linux': {'securityContext': {'seccomp': {'profileType': 0},"
                        " 'capabilities': {'addCapabilities': ['SYS_PTRACE']}}}}");
  g_assert_cmpuint (seccomp_rules_naming (fx_generate (fx), "ptrace"), ==, 2);
  fx_set_container (fx,
                    "{'linux': {'securityContext': {'seccompProfilePath': 'runtime/default'}}}");
  g_assert_true (spec_has (fx_generate (fx), "linux.seccomp.syscalls"));
  /* privileged: no filter whatever is asked */
  fx_set_container (fx, "{'linux': {'securityContext': {'privileged': true,"
                        " 'seccomp': {'profileType': 'RuntimeDefault'}}}}");
  g_assert_false (spec_has (fx_generate (fx), "linux.seccomp"));

  json = g_strdup_printf ("{'linux': {'securityContext': {'seccomp': {'profileType': 'Localhost',"
                          " 'localhostRef': '%s'}}}}",
                          local);
  fx_set_container (fx, json);
  spec = fx_generate (fx);
  g_assert_cmpstr (spec_string (spec, "linux.seccomp.defaultAction"), ==, "SCMP_ACT_ALLOW");
  g_assert_cmpuint (seccomp_rules_naming (spec, "mkdirat"), ==, 1);
  g_clear_pointer (&json, g_free);
  json = g_strdup_printf ("{'linux': {'securityContext': {'seccompProfilePath': 'localhost/%s'}}}",
                          local);
  fx_set_container (fx, json);
  g_assert_cmpuint (seccomp_rules_naming (fx_generate (fx), "mkdir"), ==, 1);
  g_clear_pointer (&json, g_free);

  /* refused at create, naming the profile and the name */
  json = g_strdup_printf ("{'linux': {'securityContext': {'seccomp': {'profileType': 'Localhost',"
                          " 'localhostRef': '%s'}}}}",
                          typo);
  fx_set_container (fx, json);
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "syscalls[0]: unknown system call 'rmdri'");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, typo);
  fx_set_container (fx, "{'linux': {'securityContext': {'seccomp': {'profileType': 'Localhost',"
                        " 'localhostRef': 'profiles/x.json'}}}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT,
                     "linux.securityContext.seccomp.localhostRef: 'profiles/x.json' is not an "
                     "absolute path");
  fx_set_container (fx, "{'linux': {'securityContext': {'seccomp': {'profileType': 'Localhost',"
                        " 'localhostRef': '/nonexistent/profile.json'}}}}");
  fx_generate_fails (fx, GROVE_ERROR_NOT_FOUND, "/nonexistent/profile.json");
  fx_set_container (fx, "{'linux': {'securityContext': {'seccompProfilePath': 'default'}}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "seccompProfilePath: 'default'");
  fx->input.seccomp_default = NULL;
  fx_set_container (fx, "{'linux': {'securityContext': {'seccomp': {}}}}");
  fx_generate_fails (fx, GROVE_ERROR_UNSUPPORTED, "no RuntimeDefault seccomp profile");
}

static void
test_annotations (Fixture *fx, gconstpointer data)
{
  JsonObject *spec = NULL;
  g_autofree char *json = NULL;

  fx_set_container (fx, "{'metadata': {'name': 'web'}, 'annotations': {'a.b/c': 'd',"
                        " 'io.kubernetes.cri.container-type': 'spoofed'}}");
  spec = fx_generate (fx);
  json = json_to_string (spec_get (spec, "annotations"), FALSE);
  g_assert_cmpstr (json, ==,
                   "{\"a.b/c\":\"d\",\"io.kubernetes.cri.container-type\":\"container\","
                   "\"io.kubernetes.cri.sandbox-id\":\"pod1\","
                   "\"io.kubernetes.cri.sandbox-name\":\"mypod\","
                   "\"io.kubernetes.cri.sandbox-namespace\":\"default\","
                   "\"io.kubernetes.cri.sandbox-uid\":\"uid-1\","
                   "\"io.kubernetes.cri.container-name\":\"web\","
                   "\"io.kubernetes.cri.image-name\":\"registry.test/app:1\"}");
  g_clear_pointer (&json, g_free);
  fx->input.is_infra = TRUE;
  fx->input.container_id = "pod1";
  fx_set_container (fx, "{'metadata': {'name': 'pause'}, 'command': ['/pause']}");
  spec = fx_generate (fx);
  json = json_to_string (spec_get (spec, "annotations"), FALSE);
  g_assert_cmpstr (json, ==,
                   "{\"io.kubernetes.cri.container-type\":\"sandbox\","
                   "\"io.kubernetes.cri.sandbox-id\":\"pod1\","
                   "\"io.kubernetes.cri.sandbox-name\":\"mypod\","
                   "\"io.kubernetes.cri.sandbox-namespace\":\"default\","
                   "\"io.kubernetes.cri.sandbox-uid\":\"uid-1\"}");
  fx_set_container (fx, "{'command': ['/pause'], 'annotations': {'x': ['y']}}");
  fx_generate_fails (fx, GROVE_ERROR_INVALID_ARGUMENT, "annotations.x: expected a string");
}

/* runc */

static void
remove_test_cgroups (const char *parent, const char *id)
{
  g_autoptr (GDir) dir = g_dir_open ("/sys/fs/cgroup", 0, NULL);
  const char *controller = NULL;

  while (dir != NULL && (controller = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *leaf = g_build_filename ("/sys/fs/cgroup", controller, parent, id, NULL);
      g_autofree char *top = g_build_filename ("/sys/fs/cgroup", controller, parent, NULL);

      if (rmdir (leaf) < 0 && errno != ENOENT && errno != ENOTDIR)
        g_test_message ("rmdir %s: %s", leaf, g_strerror (errno));
      if (rmdir (top) < 0 && errno != ENOENT && errno != ENOTDIR)
        g_test_message ("rmdir %s: %s", top, g_strerror (errno));
    }
}

static int
run_runc (char **out_stdout, const char *first_arg, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *err = NULL;
  int status = 0;
  va_list args;

  g_ptr_array_add (argv, (gpointer) "runc");
  va_start (args, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer)arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  g_spawn_sync (NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, out_stdout, &err,
                &status, &error);
  g_assert_no_error (error);
  if (err != NULL && *err != '\0')
    g_test_message ("runc %s: %s", first_arg, err);
  return WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
}

static char *
make_runc_bundle (Fixture *fx, const char *id)
{
  g_autofree char *bundle = g_build_filename (fx->tmpdir, "bundle", NULL);
  char *rootfs = fx->runc_rootfs = make_rootfs (bundle, "rootfs");
  g_autofree char *bin = g_build_filename (rootfs, "bin", NULL);
  g_autofree char *busybox = g_build_filename (bin, "busybox", NULL);
  g_autofree char *parent = g_strdup_printf ("/grove-test-%d", (int)getpid ());
  g_autofree char *own_oom = NULL;
  struct rlimit nofile;

  g_assert_cmpint (g_mkdir_with_parents (bin, 0755), ==, 0);
  g_assert_cmpint (grove_test_run (NULL, "cp", "/bin/busybox", busybox, NULL), ==, 0);
  g_assert_cmpint (chmod (bundle, 0755), ==, 0);
  g_assert_true (g_file_get_contents ("/proc/self/oom_score_adj", &own_oom, NULL, NULL));
  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &nofile), ==, 0);
  fx->input.container_id = id;
  fx->input.sandbox_id = id;
  fx->input.is_infra = TRUE;
  fx->input.rootfs = rootfs;
  fx->input.hostname_path = NULL;
  fx->input.hosts_path = NULL;
  fx->input.resolv_path = NULL;
  fx->input.shm_path = NULL;
  fx->input.netns_path = NULL;
  fx->input.infra_pid = 0;
  fx->input.oom_score_adj_min = atoi (own_oom);
  fx->input.nofile_max = nofile.rlim_max;
  fx->runc_cgroups_path = g_build_filename (parent, id, NULL);
  fx->input.cgroups_path = fx->runc_cgroups_path;
  return g_steal_pointer (&bundle);
}

static void
write_runc_config (Fixture *fx, const char *bundle)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = grove_spec_generate (&fx->input, &error);
  g_autofree char *config = g_build_filename (bundle, "config.json", NULL);
  g_autofree char *json = NULL;

  g_assert_no_error (error);
  json = json_to_string (node, TRUE);
  write_file (config, json);
}

static gboolean
runc_available (void)
{
  g_autofree char *runc = g_find_program_in_path ("runc");

  if (grove_test_is_root () && runc != NULL && g_file_test ("/bin/busybox", G_FILE_TEST_EXISTS))
    return TRUE;
  g_test_skip ("needs root, runc and /bin/busybox");
  return FALSE;
}

/* runs the spec of @container (an infra container on the host network) with runc */
static char *
run_with_runc (Fixture *fx, const char *container)
{
  g_autofree char *id = g_strdup_printf ("grove-spec-test-%d", (int)getpid ());
  g_autofree char *parent = g_strdup_printf ("grove-test-%d", (int)getpid ());
  g_autofree char *bundle = make_runc_bundle (fx, id);
  g_autofree char *out = NULL;
  int status = 0;

  fx_set_pod (fx, "{'metadata': {'name': 'p', 'namespace': 'n', 'uid': 'u'},"
                  " 'hostname': 'grove-pod'}");
  fx_set_container (fx, container);
  write_runc_config (fx, bundle);
  status = run_runc (&out, "run", "--bundle", bundle, id, NULL);
  run_runc (NULL, "delete", "--force", id, NULL);
  remove_test_cgroups (parent, id);
  g_test_message ("runc run: %s", out);
  g_assert_cmpint (status, ==, 0);
  return g_steal_pointer (&out);
}

static void
test_runc (Fixture *fx, gconstpointer data)
{
  g_autofree char *out = NULL;
  g_autofree char *expected = NULL;

  if (!runc_available ())
    return;
  out = run_with_runc (fx, "{'metadata': {'name': 'pause'}, 'command': ['/bin/busybox', 'sh', '-c',"
                           " 'id; echo HOSTNAME=$HOSTNAME GREETING=$GREETING; ulimit -n;"
                           " cat /proc/self/oom_score_adj; pwd'], 'workingDir': '/etc',"
                           " 'envs': [{'key': 'GREETING', 'value': 'hello'}],"
                           " 'linux': {'resources': {'oomScoreAdj': -998},"
                           " 'securityContext': {'runAsUser': {'value': 1000}}}}");
  g_assert_nonnull (strstr (out, "uid=1000"));
  g_assert_nonnull (strstr (out, "gid=1000"));
  g_assert_nonnull (strstr (out, "2000"));
  g_assert_nonnull (strstr (out, "HOSTNAME=grove-pod GREETING=hello\n"));
  /* both clamped: to the hard RLIMIT_NOFILE and to our own oom_score_adj */
  expected = g_strdup_printf ("\n%" G_GUINT64_FORMAT "\n%d\n/etc\n", fx->input.nofile_max,
                              MAX (-998, fx->input.oom_score_adj_min));
  g_assert_true (g_str_has_suffix (out, expected));
}

/* a privileged spec asks for no capability this process cannot grant */
static void
test_runc_privileged (Fixture *fx, gconstpointer data)
{
  g_autofree char *out = NULL;
  g_autofree char *expected = NULL;

  if (!runc_available ())
    return;
  out = run_with_runc (fx, "{'metadata': {'name': 'pause'}, 'command': ['/bin/busybox', 'sh',"
                           " '-c', 'grep CapEff /proc/self/status; touch /sys/fs/cgroup/x 2>&1;"
                           " echo done'], 'linux': {'securityContext': {'privileged': true}}}");
  expected = g_strdup_printf ("CapEff:\t%016" G_GINT64_MODIFIER "x\ndone\n", test_bounding_set ());
  /* and nothing in between: the cgroup mount is writable */
  g_assert_cmpstr (out, ==, expected);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, func)                                                                            \
  g_test_add ("/grove/spec/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("args", test_args);
  ADD ("args-infra", test_args_infra);
  ADD ("env", test_env);
  ADD ("cwd-tty", test_cwd_tty);
  ADD ("resolve-user", test_resolve_user);
  ADD ("user-from-config", test_user_from_config);
  ADD ("user-symlink-escape", test_user_symlink_escape);
  ADD ("capabilities", test_capabilities);
  ADD ("privileged", test_privileged);
  ADD ("default-mounts", test_default_mounts);
  ADD ("cri-mounts", test_cri_mounts);
  ADD ("cri-mount-errors", test_cri_mount_errors);
  ADD ("namespaces-infra", test_namespaces_infra);
  ADD ("namespaces-container", test_namespaces_container);
  ADD ("hostname-root", test_hostname_root);
  ADD ("oom-nofile", test_oom_nofile);
  ADD ("resources", test_resources);
  ADD ("devices", test_devices);
  ADD ("masked-paths-sysctl", test_masked_paths_sysctl);
  ADD ("seccomp", test_seccomp);
  ADD ("sysctl-namespaced", test_sysctl_namespaced);
  ADD ("annotations", test_annotations);
  ADD ("runc", test_runc);
  ADD ("runc-privileged", test_runc_privileged);
#undef ADD
  return g_test_run ();
}
