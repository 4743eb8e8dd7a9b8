/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestDBusService"

/*
 * GroveDBusService on a private bus (a dbus-daemon of its own), driven only over D-Bus from a
 * second connection: the engine behind it runs real pods and containers through conmon and runc.
 * The service and the client share this process's main context, so every call is async and the test
 * turns the main loop while it waits.
 */

#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "grove-dbus-generated.h"
#include "grove-dbus-service.h"
#include "grove-engine.h"
#include "grove-record.h"
#include "grove-test-utils.h"
#include "grove-utils.h"

typedef struct
{
  char *tmpdir;
  char *cgroup_parent;
  char *image_dir;
  GroveStore *store;
  GroveEngine *engine;
  GSubprocess *bus;
  char *bus_address;
  GDBusConnection *service_connection;
  GDBusConnection *client;
  GroveDBusService *service;
  GDBusObjectManager *objects;
  GPtrArray *added;   /* object paths, as InterfacesAdded came */
  GPtrArray *removed; /* object paths, as InterfacesRemoved came */
  GPtrArray *changes; /* "<path> State=<state>", as PropertiesChanged came */
} Fixture;

/* turns the main loop until @list holds @item (or fails the test after 20 s) */
static void
wait_item (GPtrArray *list, const char *item)
{
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  while (!g_ptr_array_find_with_equal_func (list, item, g_str_equal, NULL))
    {
      if (g_get_monotonic_time () >= deadline)
        g_test_message ("waited in vain for %s", item);
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (5000);
    }
}

static GDBusConnection *
connect_bus (Fixture *fx)
{
  g_autoptr (GError) error = NULL;
  GDBusConnection *connection = g_dbus_connection_new_for_address_sync (
      fx->bus_address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);

  g_assert_no_error (error);
  return connection;
}

/* a private bus whose socket is in the test dir, so tests/tap-test ends it if a test aborts */
static void
start_bus (Fixture *fx)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *listen = g_strdup_printf ("--address=unix:path=%s/bus", fx->tmpdir);
  g_autoptr (GDataInputStream) out = NULL;

  fx->bus = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, "dbus-daemon", "--session",
                              "--nofork", "--print-address=1", listen, NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (fx->bus));
  fx->bus_address = g_data_input_stream_read_line (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (fx->bus_address);
}

static gboolean
have_program (const char *name)
{
  g_autofree char *path = g_find_program_in_path (name);
  return path != NULL;
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *store_root = NULL;

  if (!grove_test_is_root () || !have_program ("conmon") || !have_program ("runc")
      || !have_program ("dbus-daemon") || !have_program ("gdbus"))
    {
      g_test_skip ("needs root, conmon, runc, dbus-daemon and gdbus");
      return;
    }
  fx->tmpdir = grove_test_make_tmpdir ();
  fx->cgroup_parent = g_strdup_printf ("/grove-test-%d", (int)getpid ());
  store_root = g_build_filename (fx->tmpdir, "store", NULL);
  fx->store = grove_store_open (store_root, NULL, &error);
  g_assert_no_error (error);
  fx->image_dir = g_build_filename (fx->tmpdir, "busybox", NULL);
  grove_test_mkimage ("busybox", "--format", "oci-dir", "--tag", "localhost/busybox:latest",
                      fx->image_dir, NULL);
  fx->engine = grove_test_new_engine (fx->store, fx->tmpdir, fx->cgroup_parent);
  start_bus (fx);
  fx->service_connection = connect_bus (fx);
  fx->client = connect_bus (fx);
  fx->added = g_ptr_array_new_with_free_func (g_free);
  fx->removed = g_ptr_array_new_with_free_func (g_free);
  fx->changes = g_ptr_array_new_with_free_func (g_free);
}

static void
object_added_cb (GDBusObjectManager *manager, GDBusObject *object, Fixture *fx)
{
  g_ptr_array_add (fx->added, g_strdup (g_dbus_object_get_object_path (object)));
}

static void
object_removed_cb (GDBusObjectManager *manager, GDBusObject *object, Fixture *fx)
{
  g_ptr_array_add (fx->removed, g_strdup (g_dbus_object_get_object_path (object)));
}

static void
properties_changed_cb (GDBusObjectManagerClient *manager, GDBusObjectProxy *object,
                       GDBusProxy *proxy, GVariant *changed, const char *const *invalidated,
                       Fixture *fx)
{
  const char *state = NULL;

  if (g_variant_lookup (changed, "State", "&s", &state))
    g_ptr_array_add (fx->changes,
                     g_strdup_printf ("%s State=%s",
                                      g_dbus_object_get_object_path (G_DBUS_OBJECT (object)),
                                      state));
}

/* exports the service and watches it through a client-side object manager */
static void
start_service (Fixture *fx)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) result = NULL;

  fx->service = grove_dbus_service_new (fx->engine);
  g_assert_true (grove_dbus_service_export (fx->service, fx->service_connection, &error));
  g_assert_no_error (error);
  grove_dbus_object_manager_client_new (fx->client,
                                        G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                        g_dbus_connection_get_unique_name (fx->service_connection),
                                        GROVE_DBUS_PATH, NULL, grove_test_result_cb, &result);
  fx->objects
      = grove_dbus_object_manager_client_new_finish (grove_test_wait_result (&result), &error);
  g_assert_no_error (error);
  g_signal_connect (fx->objects, "object-added", G_CALLBACK (object_added_cb), fx);
  g_signal_connect (fx->objects, "object-removed", G_CALLBACK (object_removed_cb), fx);
  g_signal_connect (fx->objects, "interface-proxy-properties-changed",
                    G_CALLBACK (properties_changed_cb), fx);
}

static void
remove_all_pods (Fixture *fx)
{
  g_autoptr (GPtrArray) pods = grove_engine_list_pods (fx->engine, NULL);

  for (guint i = 0; i < pods->len; i++)
    {
      g_autoptr (GAsyncResult) result = NULL;
      g_autoptr (GError) error = NULL;
      grove_engine_remove_pod_async (fx->engine, grove_pod_get_id (pods->pdata[i]), NULL,
                                     grove_test_result_cb, &result);
      grove_engine_remove_pod_finish (fx->engine, grove_test_wait_result (&result), &error);
      g_assert_no_error (error);
    }
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  if (fx->engine != NULL)
    remove_all_pods (fx);
  if (fx->service != NULL)
    grove_dbus_service_unexport (fx->service);
  g_clear_object (&fx->objects);
  g_clear_object (&fx->service);
  if (fx->client != NULL)
    g_dbus_connection_close_sync (fx->client, NULL, NULL);
  if (fx->service_connection != NULL)
    g_dbus_connection_close_sync (fx->service_connection, NULL, NULL);
  g_clear_object (&fx->client);
  g_clear_object (&fx->service_connection);
  if (fx->bus != NULL)
    {
      g_autoptr (GError) error = NULL;
      g_subprocess_send_signal (fx->bus, SIGTERM);
      g_subprocess_wait (fx->bus, NULL, &error);
      g_assert_no_error (error);
    }
  g_clear_object (&fx->bus);
  g_clear_pointer (&fx->bus_address, g_free);
  g_clear_object (&fx->engine);
  g_clear_object (&fx->store);
  grove_test_remove_engine_dirs (fx->tmpdir, fx->cgroup_parent);
  g_clear_pointer (&fx->added, g_ptr_array_unref);
  g_clear_pointer (&fx->removed, g_ptr_array_unref);
  g_clear_pointer (&fx->changes, g_ptr_array_unref);
  g_clear_pointer (&fx->image_dir, g_free);
  g_clear_pointer (&fx->tmpdir, g_free);
  g_clear_pointer (&fx->cgroup_parent, g_free);
}

/* a method call from @connection, waited for with the main loop turning */
static GVariant *
call_from (Fixture *fx, GDBusConnection *connection, const char *path, const char *interface,
           const char *method, GVariant *parameters, const char *reply_type, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  g_dbus_connection_call (connection, g_dbus_connection_get_unique_name (fx->service_connection),
                          path, interface, method, parameters,
                          reply_type ? G_VARIANT_TYPE (reply_type) : NULL, G_DBUS_CALL_FLAGS_NONE,
                          60 * 1000, NULL, grove_test_result_cb, &result);
  return g_dbus_connection_call_finish (connection, grove_test_wait_result (&result), error);
}

/* a method call from the client connection */
static GVariant *
call (Fixture *fx, const char *path, const char *interface, const char *method,
      GVariant *parameters, const char *reply_type, GError **error)
{
  return call_from (fx, fx->client, path, interface, method, parameters, reply_type, error);
}

static GVariant *
call_ok (Fixture *fx, const char *path, const char *interface, const char *method,
         GVariant *parameters, const char *reply_type)
{
  g_autoptr (GError) error = NULL;
  GVariant *reply = call (fx, path, interface, method, parameters, reply_type, &error);

  g_assert_no_error (error);
  return reply;
}

static void
call_void (Fixture *fx, const char *path, const char *interface, const char *method,
           GVariant *parameters)
{
  g_autoptr (GVariant) reply = call_ok (fx, path, interface, method, parameters, "()");
}

static void
assert_call_fails (Fixture *fx, const char *path, const char *interface, const char *method,
                   GVariant *parameters, const char *error_name, const char *message_part)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = call (fx, path, interface, method, parameters, NULL, &error);
  g_autofree char *remote = NULL;

  g_assert_null (reply);
  g_assert_nonnull (error);
  remote = g_dbus_error_get_remote_error (error);
  g_test_message ("%s.%s: %s", interface, method, error->message);
  g_assert_cmpstr (remote, ==, error_name);
  if (message_part != NULL)
    g_assert_nonnull (strstr (error->message, message_part));
}

static GVariant *
get_property (Fixture *fx, const char *path, const char *interface, const char *name)
{
  g_autoptr (GVariant) reply = call_ok (fx, path, "org.freedesktop.DBus.Properties", "Get",
                                        g_variant_new ("(ss)", interface, name), "(v)");
  GVariant *value = NULL;

  g_variant_get (reply, "(v)", &value);
  return value;
}

static char *
get_string (Fixture *fx, const char *path, const char *interface, const char *name)
{
  g_autoptr (GVariant) value = get_property (fx, path, interface, name);
  return g_variant_dup_string (value, NULL);
}

/* ImportImage of the busybox layout: one image, named as the layout names it */
static char *
import_image (Fixture *fx)
{
  g_autoptr (GVariant) reply = call_ok (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "ImportImage",
                                        g_variant_new ("(ss)", fx->image_dir, ""), "(ao)");
  g_autofree const char **paths = NULL;

  g_variant_get (reply, "(^a&o)", &paths);
  g_assert_cmpuint (g_strv_length ((char **)paths), ==, 1);
  return g_strdup (paths[0]);
}

static char *
pod_config (const char *name)
{
  return g_strdup_printf (
      "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"uid\":\"uid-%s\"},"
      "\"hostname\":\"%s-host\",\"labels\":{\"app\":\"%s\"}}",
      name, name, name, name);
}

static char *
create_pod (Fixture *fx, const char *name)
{
  g_autofree char *config = pod_config (name);
  g_autoptr (GVariant) reply = call_ok (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "CreatePod",
                                        g_variant_new ("(ss)", config, ""), "(o)");
  char *path = NULL;

  g_variant_get (reply, "(o)", &path);
  return path;
}

static char *
container_config (Fixture *fx, const char *name, const char *script)
{
  g_autofree char *escaped = g_strescape (script, NULL);
  g_autofree char *log = g_build_filename (fx->tmpdir, "logs", name, NULL);

  return g_strdup_printf (
      "{\"metadata\":{\"name\":\"%s\"},\"image\":{\"image\":\"localhost/busybox:latest\"},"
      "\"command\":[\"/bin/sh\",\"-c\",\"%s\"],\"logPath\":\"%s.log\","
      "\"labels\":{\"tier\":\"%s\"}}",
      name, escaped, log, name);
}

static char *
create_container (Fixture *fx, const char *pod_id, const char *name, const char *script)
{
  g_autofree char *config = container_config (fx, name, script);
  g_autoptr (GVariant) reply
      = call_ok (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "CreateContainer",
                 g_variant_new ("(ss)", pod_id, config), "(o)");
  char *path = NULL;

  g_variant_get (reply, "(o)", &path);
  return path;
}

static guint
list_count (Fixture *fx, const char *method, GVariant *filter)
{
  g_autoptr (GVariant) reply = call_ok (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", method,
                                        g_variant_new ("(@a{sv})", filter), "(ao)");
  g_autoptr (GVariant) paths = g_variant_get_child_value (reply, 0);

  return (guint)g_variant_n_children (paths);
}

static GVariant *
filter_of (const char *key, GVariant *value)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE_VARDICT);
  if (key != NULL)
    g_variant_builder_add (&builder, "{sv}", key, value);
  return g_variant_builder_end (&builder);
}

static GVariant *
labels_of (const char *key, const char *value)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ss}"));
  g_variant_builder_add (&builder, "{ss}", key, value);
  return g_variant_builder_end (&builder);
}

/* the image: its object and Id, and names that follow TagImage and UntagImage */
static char *
check_image (Fixture *fx)
{
  g_autofree char *path = import_image (fx);
  g_autofree char *id = get_string (fx, path, "org.grove.Image1", "Id");
  g_autofree char *expected = g_strconcat (GROVE_DBUS_PATH "/images/", id, NULL);
  g_autoptr (GVariant) names = NULL;
  g_autoptr (GDBusObject) object = NULL;
  g_autoptr (GVariant) listed = NULL;
  g_autoptr (GVariant) reply = NULL;

  g_assert_cmpstr (path, ==, expected);
  g_assert_cmpuint (strlen (id), ==, 64);
  wait_item (fx->added, path);
  object = g_dbus_object_manager_get_object (fx->objects, path);
  g_assert_nonnull (object);
  g_assert_cmpstr (
      grove_dbus_image1_get_id (grove_dbus_object_peek_image1 (GROVE_DBUS_OBJECT (object))), ==,
      id);
  reply = call_ok (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "ListImages", NULL, "(ao)");
  listed = g_variant_get_child_value (reply, 0);
  g_assert_cmpuint (g_variant_n_children (listed), ==, 1);

  call_void (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "TagImage",
             g_variant_new ("(ss)", id, "localhost/other:1"));
  names = get_property (fx, path, "org.grove.Image1", "Names");
  g_assert_cmpuint (g_variant_n_children (names), ==, 2);
  call_void (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "UntagImage",
             g_variant_new ("(s)", "localhost/other:1"));
  g_clear_pointer (&names, g_variant_unref);
  names = get_property (fx, path, "org.grove.Image1", "Names");
  g_assert_cmpuint (g_variant_n_children (names), ==, 1);
  return g_steal_pointer (&path);
}

/* ExecSync: output and exit code; a timeout is the bus's Timeout */
static void
check_exec (Fixture *fx, const char *path)
{
  const char *const argv[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 4", NULL };
  const char *const slow[] = { "sleep", "30", NULL };
  g_autoptr (GVariant) reply = call_ok (fx, path, "org.grove.Container1", "ExecSync",
                                        g_variant_new ("(^asu)", argv, 10), "(iayay)");
  g_autoptr (GVariant) out = g_variant_get_child_value (reply, 1);
  g_autoptr (GVariant) err = g_variant_get_child_value (reply, 2);
  gint32 exit_code = 0;

  g_variant_get_child (reply, 0, "i", &exit_code);
  g_assert_cmpint (exit_code, ==, 4);
  g_assert_cmpstr (g_variant_get_bytestring (out), ==, "out\n");
  g_assert_cmpstr (g_variant_get_bytestring (err), ==, "err\n");
  assert_call_fails (fx, path, "org.grove.Container1", "ExecSync",
                     g_variant_new ("(^asu)", slow, 1), "org.freedesktop.DBus.Error.Timeout", NULL);
}

static void
check_lists (Fixture *fx, const char *pod_id)
{
  g_autofree char *prefix = g_strndup (pod_id, 12);

  g_assert_cmpuint (list_count (fx, "ListPods", filter_of (NULL, NULL)), ==, 1);
  g_assert_cmpuint (
      list_count (fx, "ListPods", filter_of ("state", g_variant_new_string ("ready"))), ==, 1);
  g_assert_cmpuint (
      list_count (fx, "ListPods", filter_of ("state", g_variant_new_string ("notready"))), ==, 0);
  g_assert_cmpuint (list_count (fx, "ListPods", filter_of ("labels", labels_of ("app", "web"))), ==,
                    1);
  g_assert_cmpuint (list_count (fx, "ListPods", filter_of ("labels", labels_of ("app", "db"))), ==,
                    0);
  g_assert_cmpuint (list_count (fx, "ListPods", filter_of ("id", g_variant_new_string (prefix))),
                    ==, 1);
  g_assert_cmpuint (
      list_count (fx, "ListContainers", filter_of ("pod", g_variant_new_string (prefix))), ==, 1);
  g_assert_cmpuint (
      list_count (fx, "ListContainers", filter_of ("state", g_variant_new_string ("running"))), ==,
      1);
  g_assert_cmpuint (
      list_count (fx, "ListContainers", filter_of ("state", g_variant_new_string ("exited"))), ==,
      0);
  g_assert_cmpuint (
      list_count (fx, "ListContainers", filter_of ("labels", labels_of ("tier", "app"))), ==, 1);
  g_assert_cmpuint (
      list_count (fx, "ListContainers", filter_of ("id", g_variant_new_string ("000"))), ==, 0);
}

static void
check_pod_properties (Fixture *fx, const char *path, const char *pod_id)
{
  g_autoptr (GDBusObject) object = g_dbus_object_manager_get_object (fx->objects, path);
  GroveDBusPod1 *pod = NULL;
  g_autoptr (GVariant) labels = NULL;
  const char *app = NULL;

  g_assert_nonnull (object);
  pod = grove_dbus_object_peek_pod1 (GROVE_DBUS_OBJECT (object));
  g_assert_nonnull (pod);
  g_assert_cmpstr (grove_dbus_pod1_get_name (pod), ==, "web");
  g_assert_cmpstr (grove_dbus_pod1_get_namespace (pod), ==, "default");
  g_assert_cmpstr (grove_dbus_pod1_get_state (pod), ==, "ready");
  g_assert_cmpstr (grove_dbus_pod1_get_handler (pod), ==, "runc");
  g_assert_cmpuint (grove_dbus_pod1_get_version (pod), ==, 1);
  g_assert_cmpuint (grove_dbus_pod1_get_created_at (pod), >, 0);
  g_assert_true (g_str_has_prefix (grove_dbus_pod1_get_netns_path (pod), fx->tmpdir));
  g_assert_nonnull (strstr (grove_dbus_pod1_get_config (pod), "\"web-host\""));
  labels = grove_dbus_pod1_dup_labels (pod);
  g_assert_true (g_variant_lookup (labels, "app", "&s", &app));
  g_assert_cmpstr (app, ==, "web");
  g_assert_cmpstr (path + strlen (GROVE_DBUS_PATH "/pods/"), ==, pod_id);
}

/* Stop and Remove: the objects go with InterfacesRemoved, and the image can go then */
static void
check_removal (Fixture *fx, const char *pod_path, const char *container_path,
               const char *image_path)
{
  g_autofree char *notready = g_strdup_printf ("%s State=notready", pod_path);

  call_void (fx, container_path, "org.grove.Container1", "Remove", NULL);
  wait_item (fx->removed, container_path);
  call_void (fx, pod_path, "org.grove.Pod1", "Stop", NULL);
  wait_item (fx->changes, notready);
  call_void (fx, pod_path, "org.grove.Pod1", "Remove", NULL);
  wait_item (fx->removed, pod_path);
  g_assert_null (g_dbus_object_manager_get_object (fx->objects, pod_path));
  call_void (fx, image_path, "org.grove.Image1", "Remove", NULL);
  wait_item (fx->removed, image_path);
}

/* a pod with a container, from import to removal, all over D-Bus */
static void
test_lifecycle (Fixture *fx, gconstpointer data)
{
  g_autofree char *image_path = NULL;
  g_autofree char *pod_path = NULL;
  g_autofree char *pod_id = NULL;
  g_autofree char *container_path = NULL;
  g_autofree char *running = NULL;
  g_autofree char *exited = NULL;
  g_autoptr (GVariant) pid = NULL;
  g_autoptr (GVariant) state = NULL;

  if (fx->engine == NULL)
    return;
  start_service (fx);
  image_path = check_image (fx);

  pod_path = create_pod (fx, "web");
  wait_item (fx->added, pod_path);
  pod_id = get_string (fx, pod_path, "org.grove.Pod1", "Id");
  check_pod_properties (fx, pod_path, pod_id);

  container_path = create_container (fx, pod_id, "app", "echo hi; exec sleep 1000");
  wait_item (fx->added, container_path);
  state = get_property (fx, container_path, "org.grove.Container1", "State");
  g_assert_cmpstr (g_variant_get_string (state, NULL), ==, "created");
  call_void (fx, container_path, "org.grove.Container1", "Start", NULL);
  running = g_strdup_printf ("%s State=running", container_path);
  wait_item (fx->changes, running);
  pid = get_property (fx, container_path, "org.grove.Container1", "Pid");
  g_assert_cmpuint (g_variant_get_uint32 (pid), >, 0);
  call_void (fx, container_path, "org.grove.Container1", "ReopenLog", NULL);

  check_exec (fx, container_path);
  check_lists (fx, pod_id);

  /* an image in use stays; an exited container does not start again */
  assert_call_fails (fx, image_path, "org.grove.Image1", "Remove", NULL, "org.grove.Error.Busy",
                     "in use");
  call_void (fx, container_path, "org.grove.Container1", "Stop", g_variant_new ("(u)", 0));
  exited = g_strdup_printf ("%s State=exited", container_path);
  wait_item (fx->changes, exited);
  assert_call_fails (fx, container_path, "org.grove.Container1", "Start", NULL,
                     "org.grove.Error.WrongState", NULL);
  check_removal (fx, pod_path, container_path, image_path);
}

/* each error by its name, with a message that says what */
static void
test_errors (Fixture *fx, gconstpointer data)
{
  g_autofree char *image_path = NULL;
  g_autofree char *pod_path = NULL;
  g_autofree char *pod_id = NULL;
  g_autofree char *config = NULL;
  g_autofree char *container = NULL;
  const char *unknown = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

  if (fx->engine == NULL)
    return;
  start_service (fx);
  image_path = import_image (fx);
  container = container_config (fx, "app", "true");
  assert_call_fails (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "CreateContainer",
                     g_variant_new ("(ss)", unknown, container), "org.grove.Error.NotFound",
                     unknown);
  assert_call_fails (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "RemoveImage",
                     g_variant_new ("(s)", "localhost/nothing:1"), "org.grove.Error.NotFound",
                     NULL);
  assert_call_fails (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "CreatePod",
                     g_variant_new ("(ss)", "{\"metadata\": {", ""),
                     "org.grove.Error.InvalidArgument", "pod config");
  assert_call_fails (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "CreatePod",
                     g_variant_new ("(ss)", "[1, 2]", ""), "org.grove.Error.InvalidArgument", NULL);
  assert_call_fails (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "ListPods",
                     g_variant_new ("(@a{sv})", filter_of ("colour", g_variant_new_string ("x"))),
                     "org.grove.Error.InvalidArgument", "colour");
  assert_call_fails (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "ListPods",
                     g_variant_new ("(@a{sv})", filter_of ("pod", g_variant_new_string ("x"))),
                     "org.grove.Error.InvalidArgument", "pod");
  assert_call_fails (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "ListContainers",
                     g_variant_new ("(@a{sv})", filter_of ("id", g_variant_new_uint32 (3))),
                     "org.grove.Error.InvalidArgument", "id");
  assert_call_fails (
      fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "ListContainers",
      g_variant_new ("(@a{sv})", filter_of ("state", g_variant_new_string ("ready"))),
      "org.grove.Error.InvalidArgument", "ready");

  pod_path = create_pod (fx, "dup");
  pod_id = get_string (fx, pod_path, "org.grove.Pod1", "Id");
  config = pod_config ("dup");
  assert_call_fails (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "CreatePod",
                     g_variant_new ("(ss)", config, ""), "org.grove.Error.AlreadyExists", NULL);
  assert_call_fails (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "CreateContainer",
                     g_variant_new ("(ss)", pod_id, "{\"metadata\":{\"name\":\"x\"},"),
                     "org.grove.Error.InvalidArgument", "container config");
}

/* objects made before export are there; unexport takes everything away */
static void
test_existing_and_unexport (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) images = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GrovePod) pod = NULL;
  g_autoptr (JsonObject) config = NULL;
  g_autofree char *config_text = pod_config ("early");
  g_autofree char *pod_path = NULL;
  g_autofree char *image_path = NULL;
  g_autoptr (GVariant) version = NULL;
  g_autoptr (GVariant) reply = NULL;

  if (fx->engine == NULL)
    return;
  images = grove_store_import_image (fx->store, fx->image_dir, GROVE_IMAGE_FORMAT_AUTO, NULL, NULL,
                                     NULL, NULL, &error);
  g_assert_no_error (error);
  config = grove_record_parse (config_text, -1, "test pod config", &error);
  g_assert_no_error (error);
  grove_engine_run_pod_async (fx->engine, config, NULL, NULL, grove_test_result_cb, &result);
  pod = grove_engine_run_pod_finish (fx->engine, grove_test_wait_result (&result), &error);
  g_assert_no_error (error);

  start_service (fx);
  pod_path = g_strconcat (GROVE_DBUS_PATH "/pods/", grove_pod_get_id (pod), NULL);
  image_path
      = g_strconcat (GROVE_DBUS_PATH "/images/", grove_image_get_id (images->pdata[0]), NULL);
  g_assert_nonnull (g_dbus_object_manager_get_object (fx->objects, pod_path));
  g_assert_nonnull (g_dbus_object_manager_get_object (fx->objects, image_path));
  version = get_property (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "Version");
  g_assert_cmpuint (g_variant_get_uint32 (version), ==, 1);

  /* a pod removed behind the service's back still goes from the bus */
  remove_all_pods (fx);
  wait_item (fx->removed, pod_path);

  grove_dbus_service_unexport (fx->service);
  wait_item (fx->removed, image_path);
  reply = call (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "ListImages", NULL, NULL, &error);
  g_assert_null (reply);
  g_assert_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD);
  g_clear_error (&error);

  /* and it can be exported again */
  g_ptr_array_set_size (fx->added, 0);
  g_assert_true (grove_dbus_service_export (fx->service, fx->service_connection, &error));
  g_assert_no_error (error);
  wait_item (fx->added, image_path);
  reply = call_ok (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "ListImages", NULL, "(ao)");
}

/* what the client saw of jobs: "<path> Progress=<value>" and "<path> Completed=<success>" */
typedef struct
{
  Fixture *fx;
  GPtrArray *events;
  gboolean cancel_next; /* cancel the first job that reports progress */
  char *cancelled;      /* the job it cancelled */
} JobWatch;

static void
job_cancel_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);

  g_assert_no_error (error);
}

static void
job_signal_cb (GDBusConnection *connection, const char *sender, const char *path,
               const char *interface, const char *signal, GVariant *parameters, gpointer user_data)
{
  JobWatch *watch = user_data;
  g_autoptr (GVariant) changed = NULL;
  const char *error_text = NULL;
  gboolean success = FALSE;
  double progress = 0.0;

  if (g_str_equal (signal, "Completed"))
    {
      g_variant_get (parameters, "(b&s)", &success, &error_text);
      g_ptr_array_add (watch->events,
                       g_strdup_printf ("%s Completed=%s", path, success ? "true" : "false"));
      return;
    }
  if (!g_str_has_prefix (path, GROVE_DBUS_PATH "/jobs/"))
    return;
  changed = g_variant_get_child_value (parameters, 1);
  if (!g_variant_lookup (changed, "Progress", "d", &progress))
    return;
  g_ptr_array_add (watch->events, g_strdup_printf ("%s Progress=%.9f", path, progress));
  if (watch->cancel_next)
    {
      /* at once, from here, so that the import is surely still running */
      watch->cancel_next = FALSE;
      watch->cancelled = g_strdup (path);
      g_dbus_connection_call (connection, sender, path, "org.grove.Job1", "Cancel", NULL,
                              G_VARIANT_TYPE ("()"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                              job_cancel_done_cb, NULL);
    }
}

/* the progress values one job reported, in order */
static GArray *
job_progress (JobWatch *watch, const char *path)
{
  g_autofree char *prefix = g_strconcat (path, " Progress=", NULL);
  GArray *values = g_array_new (FALSE, FALSE, sizeof (double));

  for (guint i = 0; i < watch->events->len; i++)
    if (g_str_has_prefix (watch->events->pdata[i], prefix))
      {
        double value = g_ascii_strtod ((char *)watch->events->pdata[i] + strlen (prefix), NULL);
        g_array_append_val (values, value);
      }
  return values;
}

static char *
start_import (Fixture *fx, const char *image_dir, const char *tag)
{
  g_autoptr (GVariant) reply = call_ok (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "StartImport",
                                        g_variant_new ("(ss)", image_dir, tag), "(o)");
  char *path = NULL;

  g_variant_get (reply, "(o)", &path);
  g_assert_true (g_str_has_prefix (path, GROVE_DBUS_PATH "/jobs/"));
  return path;
}

static guint
count_images (Fixture *fx)
{
  g_autoptr (GVariant) reply
      = call_ok (fx, GROVE_DBUS_PATH, "org.grove.Runtime1", "ListImages", NULL, "(ao)");
  g_autoptr (GVariant) listed = g_variant_get_child_value (reply, 0);

  return (guint)g_variant_n_children (listed);
}

/* a finished import job: Progress rose to 1, and Result holds the image */
static void
check_import_job (Fixture *fx, JobWatch *watch, const char *job)
{
  g_autoptr (GArray) values = job_progress (watch, job);
  g_autoptr (GVariant) result = get_property (fx, job, "org.grove.Job1", "Result");
  g_autoptr (GVariant) total = get_property (fx, job, "org.grove.Job1", "BytesTotal");
  g_autoptr (GVariant) files = get_property (fx, job, "org.grove.Job1", "Files");
  g_autofree char *state = get_string (fx, job, "org.grove.Job1", "State");
  g_autofree char *operation = get_string (fx, job, "org.grove.Job1", "Operation");
  g_autofree const char **paths = NULL;
  g_autofree char *id = NULL;

  g_test_message ("%u progress updates", values->len);
  g_assert_cmpuint (values->len, >=, 2);
  g_assert_cmpfloat (g_array_index (values, double, 0), <, 1.0);
  for (guint i = 1; i < values->len; i++)
    g_assert_cmpfloat (g_array_index (values, double, i), >, g_array_index (values, double, i - 1));
  g_assert_cmpfloat (g_array_index (values, double, values->len - 1), ==, 1.0);
  g_assert_cmpstr (state, ==, "succeeded");
  g_assert_cmpstr (operation, ==, "import");
  g_assert_cmpuint (g_variant_get_uint64 (total), >=, 30000000);
  g_assert_cmpuint (g_variant_get_uint64 (files), >=, 3000);
  paths = g_variant_get_objv (result, NULL);
  g_assert_cmpuint (g_strv_length ((char **)paths), ==, 1);
  id = get_string (fx, paths[0], "org.grove.Image1", "Id");
  g_assert_cmpuint (strlen (id), ==, 64);
}

static guint
subscribe_jobs (Fixture *fx, JobWatch *watch, const char *interface, const char *member)
{
  return g_dbus_connection_signal_subscribe (
      fx->client, g_dbus_connection_get_unique_name (fx->service_connection), interface, member,
      NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE, job_signal_cb, watch, NULL);
}

/* StartImport: a job with rising progress and a result; a cancelled one leaves no image */
static void
test_import_job (Fixture *fx, gconstpointer data)
{
  g_autoptr (GPtrArray) events = g_ptr_array_new_with_free_func (g_free);
  JobWatch watch = { fx, events, FALSE, NULL };
  g_autofree char *big = NULL;
  g_autofree char *bigger = NULL;
  g_autofree char *job = NULL;
  g_autofree char *second = NULL;
  g_autofree char *item = NULL;
  g_autofree char *state = NULL;
  g_autofree char *error_text = NULL;
  guint subscriptions[2];
  guint n_images;

  if (fx->engine == NULL)
    return;
  big = g_build_filename (fx->tmpdir, "big", NULL);
  bigger = g_build_filename (fx->tmpdir, "bigger", NULL);
  grove_test_mkimage ("bigimage", "--files", "3000", "--total-bytes", "30000000", "--tag",
                      "localhost/big:1", big, NULL);
  grove_test_mkimage ("bigimage", "--files", "6000", "--total-bytes", "60000000", "--tag",
                      "localhost/bigger:1", bigger, NULL);
  start_service (fx);
  subscriptions[0]
      = subscribe_jobs (fx, &watch, "org.freedesktop.DBus.Properties", "PropertiesChanged");
  subscriptions[1] = subscribe_jobs (fx, &watch, "org.grove.Job1", "Completed");

  job = start_import (fx, big, "");
  item = g_strconcat (job, " Completed=true", NULL);
  wait_item (events, item);
  check_import_job (fx, &watch, job);
  n_images = count_images (fx);
  g_assert_cmpuint (n_images, ==, 1);

  watch.cancel_next = TRUE;
  second = start_import (fx, bigger, "");
  g_assert_cmpstr (second, !=, job);
  g_clear_pointer (&item, g_free);
  item = g_strconcat (second, " Completed=false", NULL);
  wait_item (events, item);
  g_assert_cmpstr (watch.cancelled, ==, second);
  state = get_string (fx, second, "org.grove.Job1", "State");
  g_assert_cmpstr (state, ==, "cancelled");
  error_text = get_string (fx, second, "org.grove.Job1", "Error");
  g_assert_cmpstr (error_text, !=, "");
  g_assert_cmpuint (count_images (fx), ==, n_images);
  /* cancelling a finished job changes nothing */
  call_void (fx, job, "org.grove.Job1", "Cancel", NULL);
  g_clear_pointer (&state, g_free);
  state = get_string (fx, job, "org.grove.Job1", "State");
  g_assert_cmpstr (state, ==, "succeeded");

  g_dbus_connection_signal_unsubscribe (fx->client, subscriptions[0]);
  g_dbus_connection_signal_unsubscribe (fx->client, subscriptions[1]);
  g_free (watch.cancelled);
}

/* Container1.Exec from @connection with @options; the fds in @fds go along */
static char *
start_exec (Fixture *fx, GDBusConnection *connection, const char *container_path,
            const char *script, GVariant *options, GUnixFDList *fds, GError **error)
{
  const char *const argv[] = { "/bin/sh", "-c", script, NULL };
  g_autoptr (GAsyncResult) result = NULL;
  g_autoptr (GVariant) reply = NULL;
  char *path = NULL;

  g_dbus_connection_call_with_unix_fd_list (
      connection, g_dbus_connection_get_unique_name (fx->service_connection), container_path,
      "org.grove.Container1", "Exec", g_variant_new ("(^as@a{sv})", argv, options),
      G_VARIANT_TYPE ("(o)"), G_DBUS_CALL_FLAGS_NONE, 60 * 1000, fds, NULL, grove_test_result_cb,
      &result);
  reply = g_dbus_connection_call_with_unix_fd_list_finish (connection, NULL,
                                                           grove_test_wait_result (&result), error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(o)", &path);
  return path;
}

static GVariant *
stdio_options (GUnixFDList *fds, int in, int out, int err, gboolean tty)
{
  g_auto (GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  const char *const keys[] = { "stdin", "stdout", "stderr" };
  int fd[] = { in, out, err };

  for (guint i = 0; i < G_N_ELEMENTS (fd); i++)
    if (fd[i] >= 0)
      g_variant_builder_add (&builder, "{sv}", keys[i],
                             g_variant_new_handle (g_unix_fd_list_append (fds, fd[i], NULL)));
  if (tty)
    {
      g_variant_builder_add (&builder, "{sv}", "tty", g_variant_new_boolean (TRUE));
      g_variant_builder_add (&builder, "{sv}", "rows", g_variant_new_uint32 (20));
      g_variant_builder_add (&builder, "{sv}", "cols", g_variant_new_uint32 (50));
    }
  return g_variant_builder_end (&builder);
}

static char *
read_all (int fd)
{
  GString *text = g_string_new (NULL);
  char buffer[1024];
  ssize_t n = 0;

  while ((n = read (fd, buffer, sizeof buffer)) > 0)
    g_string_append_len (text, buffer, n);
  g_assert_cmpint (n, ==, 0);
  close (fd);
  return g_string_free (text, FALSE);
}

/* stdin in, stdout and stderr back through the fds, the exit code in ExitCode */
static void
check_exec_pipes (Fixture *fx, const char *container_path)
{
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *exited = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GVariant) code = NULL;
  int in[2], out_pipe[2], err_pipe[2];

  g_assert_true (g_unix_open_pipe (in, FD_CLOEXEC, NULL));
  g_assert_true (g_unix_open_pipe (out_pipe, FD_CLOEXEC, NULL));
  g_assert_true (g_unix_open_pipe (err_pipe, FD_CLOEXEC, NULL));
  path = start_exec (fx, fx->client, container_path, "tr a-z A-Z; echo oops >&2; exit 5",
                     stdio_options (fds, in[0], out_pipe[1], err_pipe[1], FALSE), fds, &error);
  g_assert_no_error (error);
  close (in[0]);
  close (out_pipe[1]);
  close (err_pipe[1]);
  g_clear_object (&fds);
  wait_item (fx->added, path);
  g_assert_cmpint (write (in[1], "grove\n", 6), ==, 6);
  close (in[1]);
  exited = g_strdup_printf ("%s State=exited", path);
  wait_item (fx->changes, exited);
  code = get_property (fx, path, "org.grove.Exec1", "ExitCode");
  g_assert_cmpint (g_variant_get_int32 (code), ==, 5);
  out = read_all (out_pipe[0]);
  err = read_all (err_pipe[0]);
  g_assert_cmpstr (out, ==, "GROVE\n");
  g_assert_cmpstr (err, ==, "oops\n");
}

/* a terminal that only its owner may resize */
static void
check_exec_tty (Fixture *fx, const char *container_path)
{
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GDBusConnection) other = connect_bus (fx);
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autofree char *exited = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GString) seen = g_string_new (NULL);
  int sockets[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets), ==, 0);
  path = start_exec (fx, fx->client, container_path, "stty size; read x; stty size; exit 2",
                     stdio_options (fds, sockets[1], sockets[1], -1, TRUE), fds, &error);
  g_assert_no_error (error);
  close (sockets[1]);
  for (guint i = 0; i < 2; i++)
    {
      g_autofree char *remote = NULL;

      reply = call_from (fx, other, path, "org.grove.Exec1", i == 0 ? "Resize" : "Kill",
                         i == 0 ? g_variant_new ("(uu)", 5, 5) : g_variant_new ("(i)", 9), NULL,
                         &error);
      g_assert_null (reply);
      remote = g_dbus_error_get_remote_error (error);
      g_assert_cmpstr (remote, ==, "org.grove.Error.PermissionDenied");
      g_clear_error (&error);
    }
  /* the first size, before the resize: the process may only now be starting */
  grove_test_read_until (sockets[0], seen, "20 50\r\n");
  assert_call_fails (fx, path, "org.grove.Exec1", "Resize", g_variant_new ("(uu)", 0, 5),
                     "org.grove.Error.InvalidArgument", "terminal size");
  call_void (fx, path, "org.grove.Exec1", "Resize", g_variant_new ("(uu)", 30, 60));
  g_assert_cmpint (write (sockets[0], "\n", 1), ==, 1);
  grove_test_read_until (sockets[0], seen, "30 60\r\n");
  exited = g_strdup_printf ("%s State=exited", path);
  wait_item (fx->changes, exited);
  reply = get_property (fx, path, "org.grove.Exec1", "ExitCode");
  g_assert_cmpint (g_variant_get_int32 (reply), ==, 2);
  close (sockets[0]);
}

/* a session whose client leaves the bus takes its process and its object along */
static void
check_exec_owner_gone (Fixture *fx, const char *container_path)
{
  g_autoptr (GDBusConnection) owner = connect_bus (fx);
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GVariant) pid = NULL;
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  path = start_exec (fx, owner, container_path, "exec sleep 1000",
                     stdio_options (fds, -1, -1, -1, FALSE), fds, &error);
  g_assert_no_error (error);
  pid = get_property (fx, path, "org.grove.Exec1", "Pid");
  g_assert_cmpuint (g_variant_get_uint32 (pid), >, 0);
  g_dbus_connection_close_sync (owner, NULL, &error);
  g_assert_no_error (error);
  wait_item (fx->removed, path);
  while (kill ((pid_t)g_variant_get_uint32 (pid), 0) == 0)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (5000);
    }
}

/* bad options are InvalidArgument before anything runs */
static void
check_exec_errors (Fixture *fx, const char *container_path)
{
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_auto (GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  const char *const cases[][2] = {
    { "{'colour': <'red'>}", "unknown exec option \"colour\"" },
    { "{'tty': <'yes'>}", "must be of type b, not s" },
    { "{'stdout': <handle 3>}", "names file descriptor 3, but the message carries 0" },
    { "{'env': <['NOEQUALS']>}", "is not KEY=VALUE" },
    { "{'workdir': <'relative'>}", "is not an absolute path" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *path = start_exec (fx, fx->client, container_path, "true",
                                          g_variant_new_parsed (cases[i][0]), NULL, &error);
      g_autofree char *remote = NULL;

      g_assert_null (path);
      remote = g_dbus_error_get_remote_error (error);
      g_assert_cmpstr (remote, ==, "org.grove.Error.InvalidArgument");
      g_assert_nonnull (strstr (error->message, cases[i][1]));
    }
  g_variant_builder_clear (&builder);
}

static void
test_exec (Fixture *fx, gconstpointer data)
{
  g_autofree char *pod_path = NULL;
  g_autofree char *pod_id = NULL;
  g_autofree char *container_path = NULL;
  g_autofree char *running = NULL;
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;

  if (fx->engine == NULL)
    return;
  start_service (fx);
  g_free (import_image (fx));
  pod_path = create_pod (fx, "shell");
  pod_id = get_string (fx, pod_path, "org.grove.Pod1", "Id");
  container_path = create_container (fx, pod_id, "sh", "exec sleep 1000");
  path = start_exec (fx, fx->client, container_path, "true", stdio_options (fds, -1, -1, -1, FALSE),
                     fds, &error);
  g_assert_null (path);
  g_assert_true (g_dbus_error_is_remote_error (error));
  g_assert_nonnull (strstr (error->message, "is not running"));
  call_void (fx, container_path, "org.grove.Container1", "Start", NULL);
  running = g_strdup_printf ("%s State=running", container_path);
  wait_item (fx->changes, running);
  check_exec_pipes (fx, container_path);
  check_exec_tty (fx, container_path);
  check_exec_owner_gone (fx, container_path);
  check_exec_errors (fx, container_path);
}

/* `gdbus introspect` walks the exported tree */
static void
test_introspect (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) gdbus = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autofree char *out = NULL;
  g_autofree char *pod_path = NULL;
  g_autofree char *image_path = NULL;

  if (fx->engine == NULL)
    return;
  start_service (fx);
  image_path = import_image (fx);
  pod_path = create_pod (fx, "look");
  /* the service answers on this thread's main loop: gdbus must run alongside it */
  gdbus = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, "gdbus", "introspect",
                            "--address", fx->bus_address, "--dest",
                            g_dbus_connection_get_unique_name (fx->service_connection),
                            "--object-path", GROVE_DBUS_PATH, "-r", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (gdbus, NULL, NULL, grove_test_result_cb, &result);
  g_subprocess_communicate_utf8_finish (gdbus, grove_test_wait_result (&result), &out, NULL,
                                        &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_successful (gdbus));
  g_assert_nonnull (strstr (out, "interface org.grove.Runtime1 {"));
  g_assert_nonnull (strstr (out, "interface org.freedesktop.DBus.ObjectManager {"));
  g_assert_nonnull (strstr (out, "interface org.grove.Pod1 {"));
  g_assert_nonnull (strstr (out, "interface org.grove.Image1 {"));
  g_assert_nonnull (strstr (out, pod_path));
  g_assert_nonnull (strstr (out, image_path));
  g_assert_nonnull (strstr (out, "DaemonVersion = '" PACKAGE_VERSION "'"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, func)                                                                            \
  g_test_add ("/grove/dbus-service/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("lifecycle", test_lifecycle);
  ADD ("errors", test_errors);
  ADD ("existing-and-unexport", test_existing_and_unexport);
  ADD ("introspect", test_introspect);
  ADD ("import-job", test_import_job);
  ADD ("exec", test_exec);
  return g_test_run ();
}
