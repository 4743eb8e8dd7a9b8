/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveCtl"

/*
 * grovectl: the command-line client. It talks to groved only over D-Bus, through the
 * proxies gdbus-codegen generates from data/org.grove.Runtime1.xml; the one thing it reads
 * itself is a container's log file, which lives on the same host as the daemon.
 *
 * Exit codes: 0 ok, 1 error, 2 bad usage, 125 daemon unreachable, 130 import interrupted
 * with Ctrl-C; exec and run return the command's own exit code.
 */

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n.h>
#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <signal.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "grove-dbus-generated.h"
#include "grove-dbus-service.h"
#include "grove-reference.h"
#include "grove-utils.h"
#include "grovectl-exec.h"
#include "grovectl-job.h"

#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 125
#define EXIT_INTERRUPTED 130
#define SHORT_ID_LEN 12
#define FOLLOW_INTERVAL_MS 200

typedef struct
{
  char *bus;
  char *output;
  gboolean json;
  int status;
  GDBusConnection *connection;
  GroveDBusRuntime1 *runtime;
  GDBusObjectManager *manager;
} Ctl;

typedef enum
{
  KIND_IMAGE,
  KIND_POD,
  KIND_CONTAINER,
} Kind;

typedef struct _Command Command;

typedef gboolean (*CommandRun) (Ctl *ctl, const Command *command, int argc, char **argv,
                                GError **error);

/* "grovectl [GROUP] NAME ARGS": what it does and the function that does it */
struct _Command
{
  const char *group;
  const char *name;
  const char *args;
  const char *summary;
  CommandRun run;
};

static void
ctl_clear (Ctl *ctl)
{
  g_clear_object (&ctl->manager);
  g_clear_object (&ctl->runtime);
  g_clear_object (&ctl->connection);
  g_clear_pointer (&ctl->bus, g_free);
  g_clear_pointer (&ctl->output, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Ctl, ctl_clear)

/* errors that mean groved (or the bus) cannot be reached, which exit with 125 */
static gboolean
error_is_unreachable (const GError *error)
{
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED)
         || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED)
         || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN)
         || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER)
         || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NO_REPLY)
         || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_DISCONNECTED);
}

static gboolean
usage_error (GError **error, const char *message)
{
  g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, message);
  return FALSE;
}

/* ---- connecting ---- */

static GDBusConnection *
open_bus (const char *bus, GError **error)
{
  if (bus == NULL || *bus == '\0' || g_str_equal (bus, "system"))
    return g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, error);
  if (g_str_equal (bus, "session"))
    return g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, error);
  return g_dbus_connection_new_for_address_sync (
      bus,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, error);
}

static gboolean
ctl_connect (Ctl *ctl, GError **error)
{
  const char *bus = ctl->bus != NULL ? ctl->bus : g_getenv ("GROVE_BUS_ADDRESS");
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GroveDBusRuntime1) runtime = NULL;
  g_autofree char *owner = NULL;

  if (ctl->runtime != NULL)
    return TRUE;
  ctl->connection = open_bus (bus, &local_error);
  if (ctl->connection == NULL)
    {
      /* TRANSLATORS: the first %s is "system", "session" or a D-Bus address */
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                   _ ("Cannot connect to the %s bus: %s"), bus != NULL ? bus : "system",
                   local_error->message);
      return FALSE;
    }
  runtime
      = grove_dbus_runtime1_proxy_new_sync (ctl->connection, G_DBUS_PROXY_FLAGS_NONE,
                                            GROVE_DBUS_NAME, GROVE_DBUS_PATH, NULL, &local_error);
  if (runtime != NULL)
    owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (runtime));
  if (owner == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                   /* TRANSLATORS: %s is the D-Bus name org.grove.Runtime1 */
                   _ ("groved is not running: nothing owns %s on the bus"), GROVE_DBUS_NAME);
      return FALSE;
    }
  /* imports, pod starts and exec can take long: the daemon bounds them, not the client */
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (runtime), G_MAXINT);
  ctl->runtime = g_steal_pointer (&runtime);
  return TRUE;
}

/* the object manager is only a cache of properties: without it, proxies are made one by one */
static GDBusObjectManager *
ctl_get_manager (Ctl *ctl)
{
  g_autoptr (GError) local_error = NULL;

  if (ctl->manager == NULL)
    ctl->manager = grove_dbus_object_manager_client_new_sync (
        ctl->connection, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START, GROVE_DBUS_NAME,
        GROVE_DBUS_PATH, NULL, &local_error);
  if (ctl->manager == NULL)
    g_debug ("no object manager at %s: %s", GROVE_DBUS_PATH, local_error->message);
  return ctl->manager;
}

static const char *
kind_interface (Kind kind)
{
  switch (kind)
    {
    case KIND_IMAGE:
      return "org.grove.Image1";
    case KIND_POD:
      return "org.grove.Pod1";
    case KIND_CONTAINER:
    default:
      return "org.grove.Container1";
    }
}

static GType
kind_proxy_type (Kind kind)
{
  switch (kind)
    {
    case KIND_IMAGE:
      return GROVE_DBUS_TYPE_IMAGE1_PROXY;
    case KIND_POD:
      return GROVE_DBUS_TYPE_POD1_PROXY;
    case KIND_CONTAINER:
    default:
      return GROVE_DBUS_TYPE_CONTAINER1_PROXY;
    }
}

static GDBusProxy *
ctl_get_proxy (Ctl *ctl, Kind kind, const char *path, GError **error)
{
  g_autoptr (GDBusInterface) iface = NULL;
  GDBusProxy *proxy;

  if (ctl->manager != NULL)
    iface = g_dbus_object_manager_get_interface (ctl->manager, path, kind_interface (kind));
  if (iface != NULL)
    proxy = G_DBUS_PROXY (g_steal_pointer (&iface));
  else
    proxy = g_initable_new (kind_proxy_type (kind), NULL, error, "g-flags",
                            G_DBUS_PROXY_FLAGS_DO_NOT_AUTO_START, "g-name", GROVE_DBUS_NAME,
                            "g-connection", ctl->connection, "g-object-path", path,
                            "g-interface-name", kind_interface (kind), NULL);
  if (proxy != NULL)
    g_dbus_proxy_set_default_timeout (proxy, G_MAXINT);
  return proxy;
}

/* @filter: (nullable): borrowed, not floating */
static gboolean
list_paths (Ctl *ctl, Kind kind, GVariant *filter, char ***out_paths, GError **error)
{
  g_autoptr (GVariant) empty = g_variant_ref_sink (g_variant_new ("a{sv}", NULL));

  switch (kind)
    {
    case KIND_IMAGE:
      return grove_dbus_runtime1_call_list_images_sync (ctl->runtime, out_paths, NULL, error);
    case KIND_POD:
      return grove_dbus_runtime1_call_list_pods_sync (ctl->runtime, filter ? filter : empty,
                                                      out_paths, NULL, error);
    case KIND_CONTAINER:
    default:
      return grove_dbus_runtime1_call_list_containers_sync (ctl->runtime, filter ? filter : empty,
                                                            out_paths, NULL, error);
    }
}

/* the objects the daemon lists, in its order, with their properties */
static GPtrArray *
list_objects (Ctl *ctl, Kind kind, GVariant *filter, GError **error)
{
  g_autoptr (GVariant) sunk = filter != NULL ? g_variant_ref_sink (filter) : NULL;
  g_auto (GStrv) paths = NULL;
  g_autoptr (GPtrArray) proxies = g_ptr_array_new_with_free_func (g_object_unref);

  if (!ctl_connect (ctl, error))
    return NULL;
  ctl_get_manager (ctl);
  if (!list_paths (ctl, kind, sunk, &paths, error))
    return NULL;
  for (guint i = 0; paths[i] != NULL; i++)
    {
      GDBusProxy *proxy = ctl_get_proxy (ctl, kind, paths[i], error);
      if (proxy == NULL)
        return NULL;
      g_ptr_array_add (proxies, proxy);
    }
  return g_steal_pointer (&proxies);
}

/* ---- resolving names ---- */

static const char *
proxy_get_string (GDBusProxy *proxy, const char *name)
{
  g_autoptr (GVariant) value = g_dbus_proxy_get_cached_property (proxy, name);

  if (value == NULL || !g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    return "";
  /* the proxy's cache keeps the value alive */
  return g_variant_get_string (value, NULL);
}

static gboolean
throw_not_found (Kind kind, const char *name, GError **error)
{
  switch (kind)
    {
    case KIND_IMAGE:
      return grove_throw (error, GROVE_ERROR_NOT_FOUND,
                          _ ("No image has the ID, ID prefix or name “%s”"), name);
    case KIND_POD:
      return grove_throw (error, GROVE_ERROR_NOT_FOUND,
                          _ ("No pod has the ID, ID prefix or name “%s”"), name);
    case KIND_CONTAINER:
    default:
      return grove_throw (error, GROVE_ERROR_NOT_FOUND,
                          _ ("No container has the ID, ID prefix or name “%s”"), name);
    }
}

static gboolean
throw_ambiguous (Kind kind, const char *name, guint n, GError **error)
{
  switch (kind)
    {
    case KIND_IMAGE:
      return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                          _ ("“%s” matches %u images: give more of the ID"), name, n);
    case KIND_POD:
      return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                          _ ("“%s” matches %u pods: give more of the ID"), name, n);
    case KIND_CONTAINER:
    default:
      return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                          _ ("“%s” matches %u containers: give more of the ID"), name, n);
    }
}

static gboolean
is_hex (const char *text)
{
  if (*text == '\0')
    return FALSE;
  for (; *text != '\0'; text++)
    if (!g_ascii_isxdigit (*text) || g_ascii_isupper (*text))
      return FALSE;
  return TRUE;
}

static GDBusProxy *
pick_one (GPtrArray *matches, Kind kind, const char *name, GError **error)
{
  if (matches->len > 1)
    {
      throw_ambiguous (kind, name, matches->len, error);
      return NULL;
    }
  if (matches->len == 0)
    {
      throw_not_found (kind, name, error);
      return NULL;
    }
  return g_object_ref (matches->pdata[0]);
}

/* a pod or container by ID, unique ID prefix (the daemon's "id" filter) or unique name */
static GDBusProxy *
resolve_runtime_object (Ctl *ctl, Kind kind, const char *name, GError **error)
{
  g_autoptr (GPtrArray) objects = NULL;
  g_autoptr (GPtrArray) matches = g_ptr_array_new ();

  if (is_hex (name))
    {
      GVariantDict filter;
      g_variant_dict_init (&filter, NULL);
      g_variant_dict_insert (&filter, "id", "s", name);
      objects = list_objects (ctl, kind, g_variant_dict_end (&filter), error);
      if (objects == NULL)
        return NULL;
      if (objects->len > 0)
        return pick_one (objects, kind, name, error);
      g_clear_pointer (&objects, g_ptr_array_unref);
    }
  objects = list_objects (ctl, kind, NULL, error);
  if (objects == NULL)
    return NULL;
  for (guint i = 0; i < objects->len; i++)
    if (g_str_equal (proxy_get_string (objects->pdata[i], "Name"), name))
      g_ptr_array_add (matches, objects->pdata[i]);
  return pick_one (matches, kind, name, error);
}

static gboolean
strv_has (GVariant *strv, const char *value)
{
  g_autofree const char **items = NULL;

  if (strv == NULL || value == NULL)
    return FALSE;
  items = g_variant_get_strv (strv, NULL);
  return g_strv_contains (items, value);
}

static gboolean
image_has_name (GDBusProxy *image, const char *name, const char *normalized)
{
  g_autoptr (GVariant) names = g_dbus_proxy_get_cached_property (image, "Names");
  g_autoptr (GVariant) digests = g_dbus_proxy_get_cached_property (image, "RepoDigests");

  return strv_has (names, name) || strv_has (names, normalized) || strv_has (digests, name)
         || strv_has (digests, normalized);
}

/* an image by ID, name, or unique ID prefix, as the store looks images up */
static GDBusProxy *
resolve_image (Ctl *ctl, const char *name, GError **error)
{
  g_autoptr (GPtrArray) images = list_objects (ctl, KIND_IMAGE, NULL, error);
  g_autoptr (GPtrArray) matches = g_ptr_array_new ();
  g_autofree char *normalized = NULL;
  const char *id = g_str_has_prefix (name, "sha256:") ? name + strlen ("sha256:") : name;

  if (images == NULL)
    return NULL;
  normalized = grove_reference_normalize (name, NULL);
  for (guint i = 0; i < images->len; i++)
    {
      GDBusProxy *image = images->pdata[i];
      if (g_str_equal (proxy_get_string (image, "Id"), id)
          || image_has_name (image, name, normalized))
        return g_object_ref (image);
    }
  for (guint i = 0; is_hex (id) && i < images->len; i++)
    if (g_str_has_prefix (proxy_get_string (images->pdata[i], "Id"), id))
      g_ptr_array_add (matches, images->pdata[i]);
  return pick_one (matches, KIND_IMAGE, name, error);
}

static GDBusProxy *
resolve (Ctl *ctl, Kind kind, const char *name, GError **error)
{
  if (kind == KIND_IMAGE)
    return resolve_image (ctl, name, error);
  return resolve_runtime_object (ctl, kind, name, error);
}

/* ---- output ---- */

static char *
short_id (const char *id)
{
  return g_strndup (id, SHORT_ID_LEN);
}

static char *
format_age (guint64 ns)
{
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gint64 then = (gint64)(ns / 1000000000);
  gint64 seconds = MAX (now - then, 0);

  if (ns == 0)
    return g_strdup ("-");
  if (seconds < 60)
    return g_strdup_printf (ngettext ("%d second ago", "%d seconds ago", seconds), (int)seconds);
  if (seconds < 3600)
    return g_strdup_printf (ngettext ("%d minute ago", "%d minutes ago", seconds / 60),
                            (int)(seconds / 60));
  if (seconds < 86400)
    return g_strdup_printf (ngettext ("%d hour ago", "%d hours ago", seconds / 3600),
                            (int)(seconds / 3600));
  return g_strdup_printf (ngettext ("%d day ago", "%d days ago", seconds / 86400),
                          (int)(seconds / 86400));
}

static char *
format_time (guint64 ns)
{
  g_autoptr (GDateTime) time = NULL;

  if (ns == 0)
    return g_strdup ("-");
  time = g_date_time_new_from_unix_local ((gint64)(ns / 1000000000));
  return time != NULL ? g_date_time_format (time, "%Y-%m-%d %H:%M:%S %z") : g_strdup ("-");
}

/* rows of cells, the first row the header; columns padded to their widest cell */
static void
print_table (GPtrArray *rows)
{
  g_autofree gsize *widths = NULL;
  guint columns = rows->len > 0 ? g_strv_length (rows->pdata[0]) : 0;

  widths = g_new0 (gsize, columns);
  for (guint r = 0; r < rows->len; r++)
    for (guint c = 0; c < columns; c++)
      widths[c] = MAX (widths[c], (gsize)g_utf8_strlen (((char **)rows->pdata[r])[c], -1));
  for (guint r = 0; r < rows->len; r++)
    {
      g_autoptr (GString) line = g_string_new (NULL);
      char **row = rows->pdata[r];
      for (guint c = 0; c < columns; c++)
        {
          g_string_append (line, row[c]);
          if (c + 1 < columns)
            for (gsize pad = g_utf8_strlen (row[c], -1); pad < widths[c] + 3; pad++)
              g_string_append_c (line, ' ');
        }
      g_print ("%s\n", line->str);
    }
}

static GPtrArray *table_new (const char *first, ...) G_GNUC_NULL_TERMINATED;

static GPtrArray *
table_new (const char *first, ...)
{
  GPtrArray *rows = g_ptr_array_new_with_free_func ((GDestroyNotify)g_strfreev);
  g_autoptr (GStrvBuilder) header = g_strv_builder_new ();
  va_list args;

  va_start (args, first);
  for (const char *cell = first; cell != NULL; cell = va_arg (args, const char *))
    g_strv_builder_add (header, cell);
  va_end (args);
  g_ptr_array_add (rows, g_strv_builder_end (header));
  return rows;
}

static JsonNode *
property_to_json (const char *name, GVariant *value)
{
  if (g_str_equal (name, "Config") && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    {
      JsonNode *parsed = json_from_string (g_variant_get_string (value, NULL), NULL);
      if (parsed != NULL)
        return parsed;
    }
  return json_gvariant_serialize (value);
}

/* every property of the object's interface, with Config as JSON rather than JSON text */
static JsonNode *
proxy_to_json (GDBusProxy *proxy)
{
  GDBusInterfaceInfo *info = g_dbus_proxy_get_interface_info (proxy);
  g_autoptr (JsonObject) object = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  for (guint i = 0; info != NULL && info->properties != NULL && info->properties[i] != NULL; i++)
    {
      const char *name = info->properties[i]->name;
      g_autoptr (GVariant) value = g_dbus_proxy_get_cached_property (proxy, name);
      if (value != NULL)
        json_object_set_member (object, name, property_to_json (name, value));
    }
  json_node_set_object (node, object);
  return node;
}

static void
print_json (JsonNode *node)
{
  g_autofree char *text = json_to_string (node, TRUE);

  g_print ("%s\n", text);
}

static void
print_objects_json (GPtrArray *objects)
{
  g_autoptr (JsonArray) array = json_array_new ();
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_ARRAY);

  for (guint i = 0; i < objects->len; i++)
    json_array_add_element (array, proxy_to_json (objects->pdata[i]));
  json_node_set_array (node, array);
  print_json (node);
}

static char *
format_value (const char *name, GVariant *value)
{
  g_autoptr (GString) text = g_string_new (NULL);
  GVariantIter iter;
  const char *key, *item;

  if (g_str_equal (name, "Config") && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    {
      /* one line, whatever layout the daemon keeps */
      g_autoptr (JsonNode) config = json_from_string (g_variant_get_string (value, NULL), NULL);
      if (config != NULL)
        return json_to_string (config, FALSE);
    }
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
    return g_strdup (g_variant_get_string (value, NULL));
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64) && g_str_has_suffix (name, "At"))
    return format_time (g_variant_get_uint64 (value));
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64) && g_str_equal (name, "Size"))
    return g_format_size_full (g_variant_get_uint64 (value), G_FORMAT_SIZE_LONG_FORMAT);
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING_ARRAY))
    {
      g_autofree const char **items = g_variant_get_strv (value, NULL);
      return g_strjoinv (", ", (char **)items);
    }
  if (!g_variant_is_of_type (value, G_VARIANT_TYPE ("a{ss}")))
    return g_variant_print (value, FALSE);
  g_variant_iter_init (&iter, value);
  while (g_variant_iter_next (&iter, "{&s&s}", &key, &item))
    g_string_append_printf (text, "%s%s=%s", text->len > 0 ? ", " : "", key, item);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* one "Name  value" line per property, for people */
static void
print_properties (GDBusProxy *proxy)
{
  GDBusInterfaceInfo *info = g_dbus_proxy_get_interface_info (proxy);
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify)g_strfreev);

  for (guint i = 0; info != NULL && info->properties != NULL && info->properties[i] != NULL; i++)
    {
      const char *name = info->properties[i]->name;
      g_autoptr (GVariant) value = g_dbus_proxy_get_cached_property (proxy, name);
      char **row;
      if (value == NULL)
        continue;
      row = g_new0 (char *, 3);
      row[0] = g_strconcat (name, ":", NULL);
      row[1] = format_value (name, value);
      g_ptr_array_add (rows, row);
    }
  print_table (rows);
}

/* ---- reading input ---- */

static char *
read_config (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();

  if (g_str_equal (path, "-"))
    {
      g_autoptr (GInputStream) in = g_unix_input_stream_new (STDIN_FILENO, FALSE);
      g_autoptr (GOutputStream) out = g_memory_output_stream_new_resizable ();
      if (g_output_stream_splice (out, in, G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, error) < 0)
        return NULL;
      text = g_strndup (g_memory_output_stream_get_data (G_MEMORY_OUTPUT_STREAM (out)),
                        g_memory_output_stream_get_data_size (G_MEMORY_OUTPUT_STREAM (out)));
    }
  else if (!g_file_get_contents (path, &text, NULL, error))
    return NULL;
  /* say where a syntax error is here; the daemon judges the content */
  if (!json_parser_load_from_data (parser, text, -1, error))
    {
      g_prefix_error (error, "%s: ", g_str_equal (path, "-") ? _ ("standard input") : path);
      return NULL;
    }
  return g_steal_pointer (&text);
}

static char *
path_basename (const char *path)
{
  const char *slash = strrchr (path, '/');

  return g_strdup (slash != NULL ? slash + 1 : path);
}

/* ---- argument parsing ---- */

static void
drop_separator (int *argc, char **argv, int index)
{
  if (*argc <= index || !g_str_equal (argv[index], "--"))
    return;
  /* moves the terminating NULL too */
  memmove (&argv[index], &argv[index + 1], (*argc - index) * sizeof (char *));
  (*argc)--;
}

static gboolean
parse_command_line (Ctl *ctl, const Command *command, const GOptionEntry *entries, gboolean posix,
                    int *argc, char ***argv, int min_args, int max_args, GError **error)
{
  g_autofree char *name
      = g_strjoin (" ", "grovectl", command->group ? command->group : command->name,
                   command->group ? command->name : NULL, NULL);
  g_autoptr (GOptionContext) context = g_option_context_new (command->args);
  const GOptionEntry output_entries[] = { { "output", 'o', 0, G_OPTION_ARG_STRING, &ctl->output,
                                            /* TRANSLATORS: --output takes "table" or "json" */
                                            N_ ("Output format: table or json"), N_ ("FORMAT") },
                                          { NULL } };

  g_set_prgname (name);
  g_option_context_set_summary (context, _ (command->summary));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_set_strict_posix (context, posix);
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, output_entries, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, argc, argv, error))
    return FALSE;
  /* drop the "--" that ends the options, if it is still there; exec and run also take one
   * between the container or image and the command */
  drop_separator (argc, *argv, 1);
  if (posix)
    drop_separator (argc, *argv, 2);
  if (max_args == 0 && *argc > 1)
    {
      /* TRANSLATORS: %s is a command like "grovectl image ls" */
      g_autofree char *message = g_strdup_printf (_ ("“%s” takes no arguments"), name);
      return usage_error (error, message);
    }
  if (*argc - 1 < min_args || (max_args >= 0 && *argc - 1 > max_args))
    {
      g_autofree char *message
          /* TRANSLATORS: the first %s is a command like "grovectl pod run", the second its
           * arguments, e.g. "CONFIG.json" */
          = g_strdup_printf (_ ("Usage: %s %s"), name, command->args);
      return usage_error (error, message);
    }
  if (ctl->output != NULL && !g_str_equal (ctl->output, "json")
      && !g_str_equal (ctl->output, "table"))
    return usage_error (error, _ ("--output takes “table” or “json”"));
  ctl->json = ctl->output != NULL && g_str_equal (ctl->output, "json");
  return TRUE;
}

static gboolean
parse_simple (Ctl *ctl, const Command *command, int *argc, char ***argv, int n_args, GError **error)
{
  return parse_command_line (ctl, command, NULL, FALSE, argc, argv, n_args, n_args, error);
}

/* ---- image commands ---- */

/* a job's outcome: its images' IDs on stdout, or why it did not succeed */
static gboolean
finish_image_job (Ctl *ctl, GroveDBusJob1 *job, gboolean interrupted, const char *what,
                  GError **error)
{
  const char *state = grove_dbus_job1_get_state (job);
  const char *const *images = NULL;

  if (g_strcmp0 (state, "cancelled") == 0 && interrupted)
    {
      /* TRANSLATORS: %s is what was cancelled: "import" or "pull" */
      g_printerr (_ ("grovectl: %s cancelled\n"), what);
      ctl->status = EXIT_INTERRUPTED;
      return TRUE;
    }
  if (g_strcmp0 (state, "succeeded") != 0)
    return grove_throw (error, GROVE_ERROR_FAILED, "%s", grove_dbus_job1_get_error (job));
  images = grove_dbus_job1_get_result (job);
  for (guint i = 0; images != NULL && images[i] != NULL; i++)
    {
      g_autofree char *id = path_basename (images[i]);
      g_print ("%s\n", id);
    }
  return TRUE;
}

static GroveDBusJob1 *
job_proxy (Ctl *ctl, const char *path, GError **error)
{
  return grove_dbus_job1_proxy_new_sync (ctl->connection, G_DBUS_PROXY_FLAGS_NONE, GROVE_DBUS_NAME,
                                         path, NULL, error);
}

static gboolean
cmd_image_import (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  g_autofree char *tag = NULL;
  g_autofree char *path = NULL;
  g_autofree char *job_path = NULL;
  g_autoptr (GroveDBusJob1) job = NULL;
  gboolean interrupted = FALSE;
  const GOptionEntry entries[]
      = { { "tag", 't', 0, G_OPTION_ARG_STRING, &tag, N_ ("Name the imported image"), N_ ("NAME") },
          { NULL } };

  if (!parse_command_line (ctl, command, entries, FALSE, &argc, &argv, 1, 1, error))
    return FALSE;
  if (!ctl_connect (ctl, error))
    return FALSE;
  /* the daemon resolves paths in its own working directory */
  path = g_canonicalize_filename (argv[1], NULL);
  if (!grove_dbus_runtime1_call_start_import_sync (ctl->runtime, path, tag ? tag : "", &job_path,
                                                   NULL, error))
    return FALSE;
  job = job_proxy (ctl, job_path, error);
  if (job == NULL || !grovectl_job_wait (job, grovectl_job_show_bar, NULL, &interrupted, error))
    return FALSE;
  return finish_image_job (ctl, job, interrupted, "import", error);
}

/* --creds USER:PASSWORD as pull options */
static gboolean
pull_options (const char *creds, GVariantBuilder *options, GError **error)
{
  const char *colon = creds != NULL ? strchr (creds, ':') : NULL;
  g_autofree char *user = NULL;

  if (creds == NULL)
    return TRUE;
  if (colon == NULL || colon == creds)
    return usage_error (error, _ ("--creds takes USER:PASSWORD"));
  user = g_strndup (creds, colon - creds);
  g_variant_builder_add (options, "{sv}", "username", g_variant_new_string (user));
  g_variant_builder_add (options, "{sv}", "password", g_variant_new_string (colon + 1));
  return TRUE;
}

static gboolean
cmd_image_pull (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  g_autofree char *creds = NULL;
  gboolean quiet = FALSE;
  g_autofree char *job_path = NULL;
  g_autoptr (GroveDBusJob1) job = NULL;
  gboolean interrupted = FALSE;
  guint lines = 0;
  GVariantBuilder options;
  const GOptionEntry entries[]
      = { { "creds", 0, 0, G_OPTION_ARG_STRING, &creds, N_ ("Log in to the registry as USER"),
            N_ ("USER:PASSWORD") },
          { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_ ("Show no progress"), NULL },
          { NULL } };

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  if (!parse_command_line (ctl, command, entries, FALSE, &argc, &argv, 1, 1, error)
      || !pull_options (creds, &options, error))
    {
      g_variant_builder_clear (&options);
      return FALSE;
    }
  if (!ctl_connect (ctl, error))
    {
      g_variant_builder_clear (&options);
      return FALSE;
    }
  if (!grove_dbus_runtime1_call_start_pull_sync (
          ctl->runtime, argv[1], g_variant_builder_end (&options), &job_path, NULL, error))
    return FALSE;
  job = job_proxy (ctl, job_path, error);
  if (job == NULL
      || !grovectl_job_wait (job, quiet ? NULL : grovectl_job_show_layers, &lines, &interrupted,
                             error))
    return FALSE;
  return finish_image_job (ctl, job, interrupted, "pull", error);
}

static char *
image_names (GDBusProxy *image)
{
  g_autoptr (GVariant) names = g_dbus_proxy_get_cached_property (image, "Names");
  g_autoptr (GPtrArray) familiar = g_ptr_array_new_with_free_func (g_free);
  g_autofree const char **items = names != NULL ? g_variant_get_strv (names, NULL) : NULL;

  for (guint i = 0; items != NULL && items[i] != NULL; i++)
    g_ptr_array_add (familiar, grove_reference_familiar (items[i]));
  if (familiar->len == 0)
    return g_strdup ("<none>");
  g_ptr_array_add (familiar, NULL);
  return g_strjoinv (", ", (char **)familiar->pdata);
}

static gboolean
cmd_image_ls (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) images = NULL;
  g_autoptr (GPtrArray) rows = NULL;

  if (!parse_simple (ctl, command, &argc, &argv, 0, error))
    return FALSE;
  images = list_objects (ctl, KIND_IMAGE, NULL, error);
  if (images == NULL)
    return FALSE;
  if (ctl->json)
    {
      print_objects_json (images);
      return TRUE;
    }
  /* TRANSLATORS: table headers of "grovectl image ls" */
  rows = table_new (_ ("IMAGE ID"), _ ("NAMES"), _ ("SIZE"), NULL);
  for (guint i = 0; i < images->len; i++)
    {
      GroveDBusImage1 *image = images->pdata[i];
      char **row = g_new0 (char *, 4);
      row[0] = short_id (grove_dbus_image1_get_id (image));
      row[1] = image_names (images->pdata[i]);
      row[2] = g_format_size (grove_dbus_image1_get_size (image));
      g_ptr_array_add (rows, row);
    }
  print_table (rows);
  return TRUE;
}

static gboolean
inspect (Ctl *ctl, Kind kind, const char *name, GError **error)
{
  g_autoptr (GDBusProxy) proxy = resolve (ctl, kind, name, error);
  g_autoptr (JsonNode) node = NULL;

  if (proxy == NULL)
    return FALSE;
  if (!ctl->json)
    {
      print_properties (proxy);
      return TRUE;
    }
  node = proxy_to_json (proxy);
  print_json (node);
  return TRUE;
}

static gboolean
cmd_image_inspect (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  if (!parse_simple (ctl, command, &argc, &argv, 1, error))
    return FALSE;
  return inspect (ctl, KIND_IMAGE, argv[1], error);
}

static gboolean
cmd_image_rm (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  if (!parse_simple (ctl, command, &argc, &argv, 1, error) || !ctl_connect (ctl, error))
    return FALSE;
  return grove_dbus_runtime1_call_remove_image_sync (ctl->runtime, argv[1], NULL, error);
}

static gboolean
cmd_image_tag (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  if (!parse_simple (ctl, command, &argc, &argv, 2, error) || !ctl_connect (ctl, error))
    return FALSE;
  return grove_dbus_runtime1_call_tag_image_sync (ctl->runtime, argv[1], argv[2], NULL, error);
}

/* ---- pod commands ---- */

static gboolean
cmd_pod_run (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  g_autofree char *handler = NULL;
  g_autofree char *config = NULL;
  g_autofree char *path = NULL;
  g_autofree char *id = NULL;
  const GOptionEntry entries[] = { { "handler", 0, 0, G_OPTION_ARG_STRING, &handler,
                                     N_ ("Run the pod on this runtime handler"), N_ ("HANDLER") },
                                   { NULL } };

  if (!parse_command_line (ctl, command, entries, FALSE, &argc, &argv, 1, 1, error))
    return FALSE;
  config = read_config (argv[1], error);
  if (config == NULL || !ctl_connect (ctl, error))
    return FALSE;
  if (!grove_dbus_runtime1_call_create_pod_sync (ctl->runtime, config, handler ? handler : "",
                                                 &path, NULL, error))
    return FALSE;
  id = path_basename (path);
  g_print ("%s\n", id);
  return TRUE;
}

static GVariant *
state_filter (const char *state)
{
  GVariantDict filter;

  g_variant_dict_init (&filter, NULL);
  if (state != NULL)
    g_variant_dict_insert (&filter, "state", "s", state);
  return g_variant_dict_end (&filter);
}

static gboolean
cmd_pod_ls (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) pods = NULL;
  g_autoptr (GPtrArray) rows = NULL;

  if (!parse_simple (ctl, command, &argc, &argv, 0, error))
    return FALSE;
  pods = list_objects (ctl, KIND_POD, NULL, error);
  if (pods == NULL)
    return FALSE;
  if (ctl->json)
    {
      print_objects_json (pods);
      return TRUE;
    }
  /* TRANSLATORS: table headers of "grovectl pod ls" */
  rows = table_new (_ ("POD ID"), _ ("NAME"), _ ("NAMESPACE"), _ ("STATE"), _ ("CREATED"),
                    _ ("HANDLER"), NULL);
  for (guint i = 0; i < pods->len; i++)
    {
      GroveDBusPod1 *pod = pods->pdata[i];
      char **row = g_new0 (char *, 7);
      row[0] = short_id (grove_dbus_pod1_get_id (pod));
      row[1] = g_strdup (grove_dbus_pod1_get_name (pod));
      row[2] = g_strdup (grove_dbus_pod1_get_namespace (pod));
      row[3] = g_strdup (grove_dbus_pod1_get_state (pod));
      row[4] = format_age (grove_dbus_pod1_get_created_at (pod));
      row[5] = g_strdup (grove_dbus_pod1_get_handler (pod));
      g_ptr_array_add (rows, row);
    }
  print_table (rows);
  return TRUE;
}

static gboolean
cmd_pod_inspect (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  if (!parse_simple (ctl, command, &argc, &argv, 1, error))
    return FALSE;
  return inspect (ctl, KIND_POD, argv[1], error);
}

static gboolean
pod_act (Ctl *ctl, const Command *command, int argc, char **argv, gboolean remove, GError **error)
{
  g_autoptr (GDBusProxy) pod = NULL;

  if (!parse_simple (ctl, command, &argc, &argv, 1, error))
    return FALSE;
  pod = resolve (ctl, KIND_POD, argv[1], error);
  if (pod == NULL)
    return FALSE;
  if (remove ? !grove_dbus_pod1_call_remove_sync (GROVE_DBUS_POD1 (pod), NULL, error)
             : !grove_dbus_pod1_call_stop_sync (GROVE_DBUS_POD1 (pod), NULL, error))
    return FALSE;
  g_print ("%s\n", proxy_get_string (pod, "Id"));
  return TRUE;
}

static gboolean
cmd_pod_stop (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  return pod_act (ctl, command, argc, argv, FALSE, error);
}

static gboolean
cmd_pod_rm (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  return pod_act (ctl, command, argc, argv, TRUE, error);
}

/* ---- container commands ---- */

static gboolean
cmd_create (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  g_autoptr (GDBusProxy) pod = NULL;
  g_autofree char *config = NULL;
  g_autofree char *path = NULL;
  g_autofree char *id = NULL;

  if (!parse_simple (ctl, command, &argc, &argv, 2, error))
    return FALSE;
  config = read_config (argv[2], error);
  if (config == NULL)
    return FALSE;
  pod = resolve (ctl, KIND_POD, argv[1], error);
  if (pod == NULL)
    return FALSE;
  if (!grove_dbus_runtime1_call_create_container_sync (ctl->runtime, proxy_get_string (pod, "Id"),
                                                       config, &path, NULL, error))
    return FALSE;
  id = path_basename (path);
  g_print ("%s\n", id);
  return TRUE;
}

static gboolean
cmd_start (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  g_autoptr (GDBusProxy) container = NULL;

  if (!parse_simple (ctl, command, &argc, &argv, 1, error))
    return FALSE;
  container = resolve (ctl, KIND_CONTAINER, argv[1], error);
  if (container == NULL
      || !grove_dbus_container1_call_start_sync (GROVE_DBUS_CONTAINER1 (container), NULL, error))
    return FALSE;
  g_print ("%s\n", proxy_get_string (container, "Id"));
  return TRUE;
}

static gboolean
cmd_stop (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  g_autoptr (GDBusProxy) container = NULL;
  int timeout = 10;
  const GOptionEntry entries[]
      = { { "time", 't', 0, G_OPTION_ARG_INT, &timeout,
            N_ ("Seconds to wait after SIGTERM before SIGKILL (default 10)"), N_ ("SECONDS") },
          { NULL } };

  if (!parse_command_line (ctl, command, entries, FALSE, &argc, &argv, 1, 1, error))
    return FALSE;
  if (timeout < 0)
    return usage_error (error, _ ("--time must not be negative"));
  container = resolve (ctl, KIND_CONTAINER, argv[1], error);
  if (container == NULL
      || !grove_dbus_container1_call_stop_sync (GROVE_DBUS_CONTAINER1 (container), timeout, NULL,
                                                error))
    return FALSE;
  g_print ("%s\n", proxy_get_string (container, "Id"));
  return TRUE;
}

static gboolean
cmd_rm (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  g_autoptr (GDBusProxy) container = NULL;

  if (!parse_simple (ctl, command, &argc, &argv, 1, error))
    return FALSE;
  container = resolve (ctl, KIND_CONTAINER, argv[1], error);
  if (container == NULL
      || !grove_dbus_container1_call_remove_sync (GROVE_DBUS_CONTAINER1 (container), NULL, error))
    return FALSE;
  g_print ("%s\n", proxy_get_string (container, "Id"));
  return TRUE;
}

static char **
container_row (GroveDBusContainer1 *container)
{
  char **row = g_new0 (char *, 7);
  const char *state = grove_dbus_container1_get_state (container);

  row[0] = short_id (grove_dbus_container1_get_id (container));
  row[1] = g_strdup (grove_dbus_container1_get_name (container));
  row[2] = g_strdup (grove_dbus_container1_get_image (container));
  if (g_strcmp0 (state, "exited") == 0)
    /* TRANSLATORS: the STATE column of "grovectl ps" for an exited container */
    row[3] = g_strdup_printf (_ ("exited (%d)"), grove_dbus_container1_get_exit_code (container));
  else
    row[3] = g_strdup (state);
  row[4] = format_age (grove_dbus_container1_get_created_at (container));
  row[5] = short_id (grove_dbus_container1_get_pod_id (container));
  return row;
}

static gboolean
cmd_ps (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  gboolean all = FALSE;
  g_autoptr (GPtrArray) containers = NULL;
  g_autoptr (GPtrArray) rows = NULL;
  const GOptionEntry entries[] = { { "all", 'a', 0, G_OPTION_ARG_NONE, &all,
                                     N_ ("Show all containers, not only running ones"), NULL },
                                   { NULL } };

  if (!parse_command_line (ctl, command, entries, FALSE, &argc, &argv, 0, 0, error))
    return FALSE;
  containers = list_objects (ctl, KIND_CONTAINER, state_filter (all ? NULL : "running"), error);
  if (containers == NULL)
    return FALSE;
  if (ctl->json)
    {
      print_objects_json (containers);
      return TRUE;
    }
  /* TRANSLATORS: table headers of "grovectl ps" */
  rows = table_new (_ ("CONTAINER ID"), _ ("NAME"), _ ("IMAGE"), _ ("STATE"), _ ("CREATED"),
                    _ ("POD ID"), NULL);
  for (guint i = 0; i < containers->len; i++)
    g_ptr_array_add (rows, container_row (containers->pdata[i]));
  print_table (rows);
  return TRUE;
}

static gboolean
cmd_inspect (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  if (!parse_simple (ctl, command, &argc, &argv, 1, error))
    return FALSE;
  return inspect (ctl, KIND_CONTAINER, argv[1], error);
}

/* ---- logs ---- */

/* one CRI log record, "<time> <stream> <P|F> <message>": P is a partial line */
static void
print_log_record (const char *line, gsize len)
{
  const char *end = line + len;
  const char *stream = memchr (line, ' ', len);
  const char *tag = stream != NULL ? memchr (stream + 1, ' ', end - stream - 1) : NULL;
  const char *message = tag != NULL ? memchr (tag + 1, ' ', end - tag - 1) : NULL;
  FILE *out = stdout;

  if (message == NULL)
    {
      /* not a CRI record: show it as it is */
      fwrite (line, 1, len, stdout);
      fputc ('\n', stdout);
      return;
    }
  if ((gsize)(tag - stream - 1) == strlen ("stderr")
      && memcmp (stream + 1, "stderr", tag - stream - 1) == 0)
    out = stderr;
  message++;
  fwrite (message, 1, end - message, out);
  if (tag[1] != 'P')
    fputc ('\n', out);
}

/* prints the complete records in @pending and keeps the incomplete rest */
static void
print_log_records (GString *pending, gboolean flush_rest)
{
  gsize start = 0;
  const char *newline;

  while ((newline = memchr (pending->str + start, '\n', pending->len - start)) != NULL)
    {
      gsize len = newline - (pending->str + start);
      print_log_record (pending->str + start, len);
      start += len + 1;
    }
  if (flush_rest && start < pending->len)
    {
      print_log_record (pending->str + start, pending->len - start);
      start = pending->len;
    }
  g_string_erase (pending, 0, start);
  fflush (stdout);
  fflush (stderr);
}

static gboolean
read_log (int fd, GString *pending, GError **error)
{
  char buffer[8192];

  for (;;)
    {
      ssize_t n = read (fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return grove_throw_errno (error, _ ("Reading the container log"));
      if (n == 0)
        return TRUE;
      g_string_append_len (pending, buffer, n);
      print_log_records (pending, FALSE);
    }
}

typedef struct
{
  GDBusProxy *container;
  int fd;
  GString *pending;
  gboolean done;
  GError *error;
} Follow;

static gboolean
refresh_property (GDBusProxy *proxy, const char *name, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) value = NULL;

  reply = g_dbus_connection_call_sync (
      g_dbus_proxy_get_connection (proxy), GROVE_DBUS_NAME, g_dbus_proxy_get_object_path (proxy),
      "org.freedesktop.DBus.Properties", "Get",
      g_variant_new ("(ss)", g_dbus_proxy_get_interface_name (proxy), name), G_VARIANT_TYPE ("(v)"),
      G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, error);
  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(v)", &value);
  g_dbus_proxy_set_cached_property (proxy, name, value);
  return TRUE;
}

static gboolean
open_log (Follow *follow)
{
  const char *path = proxy_get_string (follow->container, "LogPath");

  /* no file yet: the container has not started */
  if (follow->fd >= 0 || *path == '\0')
    return TRUE;
  follow->fd = open (path, O_RDONLY | O_CLOEXEC);
  if (follow->fd < 0 && errno != ENOENT)
    return grove_throw_errno_code (&follow->error, errno, _ ("Opening the log %s"), path);
  return TRUE;
}

static gboolean
follow_tick_cb (gpointer user_data)
{
  Follow *follow = user_data;
  const char *state;

  /* the state is read before the log, so a final read gets all the container wrote */
  if (!refresh_property (follow->container, "State", &follow->error))
    {
      follow->done = TRUE;
      return G_SOURCE_REMOVE;
    }
  state = proxy_get_string (follow->container, "State");
  if (!open_log (follow))
    {
      follow->done = TRUE;
      return G_SOURCE_REMOVE;
    }
  if (follow->fd >= 0 && !read_log (follow->fd, follow->pending, &follow->error))
    {
      follow->done = TRUE;
      return G_SOURCE_REMOVE;
    }
  if (g_str_equal (state, "created") || g_str_equal (state, "running"))
    return G_SOURCE_CONTINUE;
  print_log_records (follow->pending, TRUE);
  follow->done = TRUE;
  return G_SOURCE_REMOVE;
}

/* prints the log; with @follow, until the container is neither created nor running */
static gboolean
show_log (GDBusProxy *container, gboolean follow_log, GError **error)
{
  g_autoptr (GString) pending = g_string_new (NULL);
  Follow follow = { container, -1, pending, FALSE, NULL };
  grove_autofd int fd = -1;

  if (follow_log)
    {
      g_timeout_add (FOLLOW_INTERVAL_MS, follow_tick_cb, &follow);
      if (follow_tick_cb (&follow) == G_SOURCE_REMOVE)
        g_source_remove_by_user_data (&follow);
      while (!follow.done)
        g_main_context_iteration (NULL, TRUE);
      fd = follow.fd;
      if (follow.error != NULL)
        {
          g_propagate_error (error, follow.error);
          return FALSE;
        }
      return TRUE;
    }
  if (!open_log (&follow))
    {
      g_propagate_error (error, follow.error);
      return FALSE;
    }
  fd = follow.fd;
  if (fd >= 0 && !read_log (fd, pending, error))
    return FALSE;
  print_log_records (pending, TRUE);
  return TRUE;
}

static gboolean
cmd_logs (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  gboolean follow = FALSE;
  g_autoptr (GDBusProxy) container = NULL;
  const GOptionEntry entries[] = { { "follow", 'f', 0, G_OPTION_ARG_NONE, &follow,
                                     N_ ("Keep printing until the container exits"), NULL },
                                   { NULL } };

  if (!parse_command_line (ctl, command, entries, FALSE, &argc, &argv, 1, 1, error))
    return FALSE;
  container = resolve (ctl, KIND_CONTAINER, argv[1], error);
  if (container == NULL)
    return FALSE;
  return show_log (container, follow, error);
}

/* ---- exec ---- */

static void
write_bytes (GVariant *bytes, FILE *out)
{
  gsize len = 0;
  const char *data = g_variant_get_fixed_array (bytes, &len, 1);

  /* a bytestring-style reply carries a trailing NUL that is not output */
  if (len > 0 && data[len - 1] == '\0')
    len--;
  fwrite (data, 1, len, out);
  fflush (out);
}

/* with a timeout: ExecSync, which collects the output and kills the command when time is up */
static gboolean
exec_with_timeout (Ctl *ctl, GDBusProxy *container, char **argv, int timeout, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) out = NULL;
  g_autoptr (GVariant) err = NULL;

  /* called by hand: the generated wrapper would read the "ay" outputs as C strings */
  reply = g_dbus_proxy_call_sync (container, "ExecSync",
                                  g_variant_new ("(^asu)", argv, (guint32)timeout),
                                  G_DBUS_CALL_FLAGS_NONE, G_MAXINT, NULL, error);
  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(i@ay@ay)", &ctl->status, &out, &err);
  write_bytes (out, stdout);
  write_bytes (err, stderr);
  return TRUE;
}

static gboolean
cmd_exec (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  int timeout = -1;
  gboolean interactive = FALSE;
  gboolean tty = FALSE;
  g_auto (GStrv) env = NULL;
  g_autofree char *workdir = NULL;
  g_autoptr (GDBusProxy) container = NULL;
  GrovectlExecRequest request = { 0 };
  const GOptionEntry entries[]
      = { { "interactive", 'i', 0, G_OPTION_ARG_NONE, &interactive,
            N_ ("Pass standard input to the command"), NULL },
          { "tty", 't', 0, G_OPTION_ARG_NONE, &tty, N_ ("Run the command on a terminal"), NULL },
          { "env", 'e', 0, G_OPTION_ARG_STRING_ARRAY, &env,
            N_ ("Set an environment variable (repeatable)"), N_ ("KEY=VALUE") },
          { "workdir", 'w', 0, G_OPTION_ARG_FILENAME, &workdir,
            N_ ("Working directory inside the container"), N_ ("DIR") },
          { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout,
            N_ ("Collect the output and kill the command after this many seconds"),
            N_ ("SECONDS") },
          { NULL } };

  if (!parse_command_line (ctl, command, entries, TRUE, &argc, &argv, 2, -1, error))
    return FALSE;
  if (timeout >= 0 && (interactive || tty || env != NULL || workdir != NULL))
    return usage_error (error, _ ("--timeout cannot be combined with -i, -t, -e or -w"));
  if (timeout < -1)
    return usage_error (error, _ ("--timeout must not be negative"));
  container = resolve (ctl, KIND_CONTAINER, argv[1], error);
  if (container == NULL)
    return FALSE;
  if (timeout >= 0)
    return exec_with_timeout (ctl, container, &argv[2], timeout, error);
  request.container_path = g_dbus_proxy_get_object_path (container);
  request.argv = (const char *const *)&argv[2];
  request.env = (const char *const *)env;
  request.workdir = workdir;
  request.interactive = interactive;
  request.tty = tty;
  return grovectl_exec (ctl->connection, &request, &ctl->status, error);
}

/* ---- run ---- */

static char *
build_json (JsonBuilder *builder)
{
  g_autoptr (JsonNode) root = json_builder_get_root (builder);

  return json_to_string (root, FALSE);
}

static char *
run_pod_config (const char *name)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autofree char *uid = g_uuid_string_random ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "metadata");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, name);
  json_builder_set_member_name (builder, "namespace");
  json_builder_add_string_value (builder, "grovectl");
  json_builder_set_member_name (builder, "uid");
  json_builder_add_string_value (builder, uid);
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "hostname");
  json_builder_add_string_value (builder, name);
  json_builder_end_object (builder);
  return build_json (builder);
}

/* CMD becomes the CRI "args": the image's entrypoint stays, as with podman run */
static char *
run_container_config (const char *name, const char *image, char **cmd)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "metadata");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, name);
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "image");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "image");
  json_builder_add_string_value (builder, image);
  json_builder_end_object (builder);
  if (cmd[0] != NULL)
    {
      json_builder_set_member_name (builder, "args");
      json_builder_begin_array (builder);
      for (guint i = 0; cmd[i] != NULL; i++)
        json_builder_add_string_value (builder, cmd[i]);
      json_builder_end_array (builder);
    }
  json_builder_end_object (builder);
  return build_json (builder);
}

static gboolean
run_in_pod (Ctl *ctl, const char *pod_id, const char *name, const char *image, char **cmd,
            gboolean *out_created, GError **error)
{
  g_autofree char *config = run_container_config (name, image, cmd);
  g_autofree char *path = NULL;
  g_autoptr (GDBusProxy) container = NULL;

  if (!grove_dbus_runtime1_call_create_container_sync (ctl->runtime, pod_id, config, &path, NULL,
                                                       error))
    return FALSE;
  *out_created = TRUE;
  container = ctl_get_proxy (ctl, KIND_CONTAINER, path, error);
  if (container == NULL
      || !grove_dbus_container1_call_start_sync (GROVE_DBUS_CONTAINER1 (container), NULL, error)
      || !show_log (container, TRUE, error) || !refresh_property (container, "ExitCode", error))
    return FALSE;
  ctl->status = grove_dbus_container1_get_exit_code (GROVE_DBUS_CONTAINER1 (container));
  return TRUE;
}

static gboolean
remove_pod_path (Ctl *ctl, const char *path, GError **error)
{
  g_autoptr (GDBusProxy) pod = ctl_get_proxy (ctl, KIND_POD, path, error);

  return pod != NULL && grove_dbus_pod1_call_remove_sync (GROVE_DBUS_POD1 (pod), NULL, error);
}

static gboolean
cmd_run (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  gboolean remove = FALSE;
  gboolean created = FALSE;
  g_autofree char *handler = NULL;
  g_autofree char *name = NULL;
  g_autofree char *pod_config = NULL;
  g_autofree char *pod_path = NULL;
  g_autofree char *pod_id = NULL;
  g_autoptr (GError) remove_error = NULL;
  const GOptionEntry entries[] = { { "rm", 0, 0, G_OPTION_ARG_NONE, &remove,
                                     N_ ("Remove the pod when the command ends"), NULL },
                                   { "name", 0, 0, G_OPTION_ARG_STRING, &name,
                                     N_ ("Name the pod and the container"), N_ ("NAME") },
                                   { "handler", 0, 0, G_OPTION_ARG_STRING, &handler,
                                     N_ ("Run the pod on this runtime handler"), N_ ("HANDLER") },
                                   { NULL } };

  if (!parse_command_line (ctl, command, entries, TRUE, &argc, &argv, 1, -1, error)
      || !ctl_connect (ctl, error))
    return FALSE;
  if (name == NULL)
    name = g_strdup_printf ("run-%08x", g_random_int ());
  pod_config = run_pod_config (name);
  if (!grove_dbus_runtime1_call_create_pod_sync (ctl->runtime, pod_config, handler ? handler : "",
                                                 &pod_path, NULL, error))
    return FALSE;
  pod_id = path_basename (pod_path);
  if (!run_in_pod (ctl, pod_id, name, argv[1], &argv[2], &created, error))
    {
      /* a pod without its container is of no use; one whose start failed shows why */
      if ((remove || !created) && !remove_pod_path (ctl, pod_path, &remove_error))
        g_warning ("cannot remove pod %s: %s", pod_id, remove_error->message);
      return FALSE;
    }
  return !remove || remove_pod_path (ctl, pod_path, error);
}

/* ---- info ---- */

static gboolean
count_objects (Ctl *ctl, Kind kind, const char *state, guint *out_count, GError **error)
{
  g_auto (GStrv) paths = NULL;
  g_autoptr (GVariant) filter = g_variant_ref_sink (state_filter (state));

  if (!list_paths (ctl, kind, kind == KIND_IMAGE ? NULL : filter, &paths, error))
    return FALSE;
  *out_count = g_strv_length (paths);
  return TRUE;
}

static void
print_info_json (Ctl *ctl, const guint counts[5])
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  const char *names[] = { "Images", "Pods", "PodsReady", "Containers", "ContainersRunning" };

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "DaemonVersion");
  json_builder_add_string_value (builder, grove_dbus_runtime1_get_daemon_version (ctl->runtime));
  json_builder_set_member_name (builder, "Version");
  json_builder_add_int_value (builder, grove_dbus_runtime1_get_version (ctl->runtime));
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      json_builder_set_member_name (builder, names[i]);
      json_builder_add_int_value (builder, counts[i]);
    }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  print_json (root);
}

static gboolean
cmd_info (Ctl *ctl, const Command *command, int argc, char **argv, GError **error)
{
  guint counts[5] = { 0 };

  if (!parse_simple (ctl, command, &argc, &argv, 0, error) || !ctl_connect (ctl, error))
    return FALSE;
  if (!count_objects (ctl, KIND_IMAGE, NULL, &counts[0], error)
      || !count_objects (ctl, KIND_POD, NULL, &counts[1], error)
      || !count_objects (ctl, KIND_POD, "ready", &counts[2], error)
      || !count_objects (ctl, KIND_CONTAINER, NULL, &counts[3], error)
      || !count_objects (ctl, KIND_CONTAINER, "running", &counts[4], error))
    return FALSE;
  if (ctl->json)
    {
      print_info_json (ctl, counts);
      return TRUE;
    }
  g_print (_ ("Daemon version:    %s\n"), grove_dbus_runtime1_get_daemon_version (ctl->runtime));
  g_print (_ ("Interface version: %u\n"), grove_dbus_runtime1_get_version (ctl->runtime));
  g_print (_ ("Images:            %u\n"), counts[0]);
  /* TRANSLATORS: pods in total, then how many of them are ready */
  g_print (_ ("Pods:              %u (%u ready)\n"), counts[1], counts[2]);
  /* TRANSLATORS: containers in total, then how many of them run */
  g_print (_ ("Containers:        %u (%u running)\n"), counts[3], counts[4]);
  return TRUE;
}

/* ---- dispatch ---- */

static const Command command_table[] = {
  { "image", "import", "[--tag TAG] PATH",
    N_ ("Import an OCI layout, OCI archive or docker archive"), cmd_image_import },
  { "image", "pull", "[--creds USER:PASSWORD] [-q] REFERENCE", N_ ("Pull an image from a registry"),
    cmd_image_pull },
  { "image", "ls", "", N_ ("List images"), cmd_image_ls },
  { "image", "inspect", "IMAGE", N_ ("Show an image’s details"), cmd_image_inspect },
  { "image", "rm", "IMAGE", N_ ("Remove an image"), cmd_image_rm },
  { "image", "tag", "IMAGE TAG", N_ ("Give an image another name"), cmd_image_tag },
  { "pod", "run", "[--handler HANDLER] CONFIG.json",
    N_ ("Create and start a pod from a PodSandboxConfig (- for stdin)"), cmd_pod_run },
  { "pod", "ls", "", N_ ("List pods"), cmd_pod_ls },
  { "pod", "inspect", "POD", N_ ("Show a pod’s details"), cmd_pod_inspect },
  { "pod", "stop", "POD", N_ ("Stop a pod and its containers"), cmd_pod_stop },
  { "pod", "rm", "POD", N_ ("Remove a pod and its containers"), cmd_pod_rm },
  { NULL, "create", "POD CONFIG.json", N_ ("Create a container from a ContainerConfig"),
    cmd_create },
  { NULL, "start", "CONTAINER", N_ ("Start a created container"), cmd_start },
  { NULL, "stop", "[-t SECONDS] CONTAINER", N_ ("Stop a container"), cmd_stop },
  { NULL, "rm", "CONTAINER", N_ ("Remove a container"), cmd_rm },
  { NULL, "ps", "[-a]", N_ ("List running containers, or all with -a"), cmd_ps },
  { NULL, "inspect", "CONTAINER", N_ ("Show a container’s details"), cmd_inspect },
  { NULL, "logs", "[-f] CONTAINER", N_ ("Print a container’s log"), cmd_logs },
  { NULL, "exec", "[-i] [-t] [-e KEY=VALUE] [-w DIR] [--timeout SECONDS] CONTAINER CMD...",
    N_ ("Run a command in a running container"), cmd_exec },
  { NULL, "run", "[--rm] [--name NAME] IMAGE [CMD...]",
    N_ ("Run a command in a new pod and wait for it"), cmd_run },
  { NULL, "pull", "[--creds USER:PASSWORD] [-q] REFERENCE",
    N_ ("Pull an image from a registry (as image pull)"), cmd_image_pull },
  { NULL, "info", "", N_ ("Show the daemon’s version and object counts"), cmd_info },
};

static char *
commands_help (void)
{
  g_autoptr (GString) text = g_string_new (_ ("Commands:"));

  g_string_append_c (text, '\n');
  for (guint i = 0; i < G_N_ELEMENTS (command_table); i++)
    {
      const Command *entry = &command_table[i];
      g_autofree char *usage = g_strjoin (" ", entry->group ? entry->group : entry->name,
                                          entry->group ? entry->name : entry->args,
                                          entry->group ? entry->args : NULL, NULL);
      g_string_append_printf (text, "  %-40s %s\n", g_strstrip (usage), _ (entry->summary));
    }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static const Command *
find_command (int argc, char **argv, int *out_skip)
{
  for (guint i = 0; i < G_N_ELEMENTS (command_table); i++)
    {
      const Command *entry = &command_table[i];
      if (entry->group == NULL && g_str_equal (argv[0], entry->name))
        {
          *out_skip = 0;
          return entry;
        }
      if (entry->group != NULL && argc > 1 && g_str_equal (argv[0], entry->group)
          && g_str_equal (argv[1], entry->name))
        {
          *out_skip = 1;
          return entry;
        }
    }
  return NULL;
}

static gboolean
dispatch (Ctl *ctl, int argc, char **argv, GError **error)
{
  int skip = 0;
  const Command *entry;

  if (argc < 2)
    return usage_error (error, _ ("No command given"));
  entry = find_command (argc - 1, &argv[1], &skip);
  if (entry == NULL)
    {
      g_autofree char *message = g_strdup_printf (_ ("Unknown command “%s%s%s”"), argv[1],
                                                  argc > 2 ? " " : "", argc > 2 ? argv[2] : "");
      return usage_error (error, message);
    }
  return entry->run (ctl, entry, argc - 1 - skip, &argv[1 + skip], error);
}

static gboolean
parse_global (Ctl *ctl, int *argc, char ***argv, GError **error)
{
  g_autoptr (GOptionContext) context = g_option_context_new (_ ("COMMAND [ARGUMENTS…]"));
  g_autofree char *description = commands_help ();
  const GOptionEntry entries[]
      = { { "bus", 0, 0, G_OPTION_ARG_STRING, &ctl->bus,
            /* TRANSLATORS: "system" and "session" are literal values */
            N_ ("The bus groved is on: system (default), session or a D-Bus address; "
                "also $GROVE_BUS_ADDRESS"),
            N_ ("BUS") },
          { "output", 'o', 0, G_OPTION_ARG_STRING, &ctl->output,
            N_ ("Output format: table or json"), N_ ("FORMAT") },
          { NULL } };

  g_option_context_set_summary (context, _ ("Manage groved’s images, pods and containers."));
  g_option_context_set_description (context, description);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  /* options after the command belong to the command */
  g_option_context_set_strict_posix (context, TRUE);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  return g_option_context_parse (context, argc, argv, error);
}

static int
report_error (GError *error)
{
  int status = 1;

  if (error->domain == G_OPTION_ERROR)
    status = EXIT_USAGE;
  else if (error_is_unreachable (error))
    status = EXIT_UNREACHABLE;
  g_dbus_error_strip_remote_error (error);
  if (status == EXIT_UNREACHABLE && error->domain == G_DBUS_ERROR)
    /* TRANSLATORS: groved went away during the command; %s says how */
    g_printerr (_ ("grovectl: lost the connection to groved: %s\n"), error->message);
  else
    g_printerr ("grovectl: %s\n", error->message);
  if (status == EXIT_USAGE)
    g_printerr (_ ("Try “grovectl --help” for more information.\n"));
  return status;
}

int
main (int argc, char **argv)
{
  g_auto (Ctl) ctl = { 0 };
  g_autoptr (GError) error = NULL;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  /* map org.grove.Error.* replies to GROVE_ERROR codes */
  (void)grove_error_quark ();

  if (!parse_global (&ctl, &argc, &argv, &error) || !dispatch (&ctl, argc, argv, &error))
    return report_error (error);
  return ctl.status;
}
