/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveConfig"

/*
 * groved's configuration. Each file is parsed on its own (so an error names its file and
 * line), checked key by key against what groved knows, and folded into one merged key file
 * in which later files win; the merged values are then checked and turned into a
 * GroveConfig. Nothing is half-applied: any error fails the whole load.
 */

#include <errno.h>
#include <string.h>

#include "grove-cni.h"
#include "grove-config.h"
#include "grove-utils.h"

#ifndef LIBEXECDIR
#error "LIBEXECDIR must be defined by the build"
#endif

#define MAX_CONFIG_SIZE (1024 * 1024)
#define HANDLER_PREFIX "handler."
#define REGISTRY_PREFIX "registry."

typedef struct
{
  GKeyFile *merged;
  /* "group\037key" → "file:line" of the value that won, for errors found after merging */
  GHashTable *origins;
} Loader;

static void
loader_clear (Loader *loader)
{
  g_clear_pointer (&loader->merged, g_key_file_unref);
  g_clear_pointer (&loader->origins, g_hash_table_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Loader, loader_clear)

static char *
origin_key (const char *group, const char *key)
{
  return g_strconcat (group, "\037", key, NULL);
}

static const char *
origin_of (Loader *loader, const char *group, const char *key)
{
  g_autofree char *okey = origin_key (group, key);
  const char *origin = g_hash_table_lookup (loader->origins, okey);

  return origin != NULL ? origin : "(built-in default)";
}

static gboolean
handler_name_valid (const char *name)
{
  if (name[0] == '\0')
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("-_.", *p) == NULL)
      return FALSE;
  return TRUE;
}

/* "host" or "host:port", as the domain of an image reference */
static gboolean
registry_host_valid (const char *host)
{
  const char *colon = strrchr (host, ':');
  guint64 port = 0;

  if (host[0] == '\0' || host[0] == '.' || host[0] == '-' || host[0] == ':')
    return FALSE;
  for (const char *p = host; *p != '\0' && p != colon; p++)
    if (!g_ascii_isalnum (*p) && strchr ("-.", *p) == NULL)
      return FALSE;
  return colon == NULL || g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &port, NULL);
}

static gboolean
group_known (const char *group)
{
  if (g_str_equal (group, "daemon") || g_str_equal (group, "storage")
      || g_str_equal (group, "runtime") || g_str_equal (group, "cri")
      || g_str_equal (group, "network") || g_str_equal (group, "registries"))
    return TRUE;
  if (g_str_has_prefix (group, REGISTRY_PREFIX))
    return registry_host_valid (group + strlen (REGISTRY_PREFIX));
  return g_str_has_prefix (group, HANDLER_PREFIX)
         && handler_name_valid (group + strlen (HANDLER_PREFIX));
}

static gboolean
key_known (const char *group, const char *key)
{
  const char *const storage[] = { "root", "runroot", NULL };
  const char *const runtime[]
      = { "conmon",          "pause", "cgroup_parent", "default_handler", "trusted_handler",
          "seccomp_profile", NULL };
  const char *const handler[] = { "path", "args", NULL };
  const char *const daemon[] = { "polkit", NULL };
  const char *const cri[]
      = { "listen",          "stream_address", "stream_port", "stream_token_lifetime",
          "stream_tls_cert", "stream_tls_key", NULL };
  const char *const network[] = { "conf_dir", "plugin_dirs", NULL };
  const char *const registries[]
      = { "default_registry", "auth_file", "stall_timeout", "max_concurrent_downloads", NULL };
  const char *const registry[] = { "insecure", "ca_file", "mirrors", NULL };

  if (g_str_equal (group, "daemon"))
    return g_strv_contains (daemon, key);
  if (g_str_equal (group, "storage"))
    return g_strv_contains (storage, key);
  if (g_str_equal (group, "runtime"))
    return g_strv_contains (runtime, key);
  if (g_str_equal (group, "cri"))
    return g_strv_contains (cri, key);
  if (g_str_equal (group, "network"))
    return g_strv_contains (network, key);
  if (g_str_equal (group, "registries"))
    return g_strv_contains (registries, key);
  if (g_str_has_prefix (group, REGISTRY_PREFIX))
    return g_strv_contains (registry, key);
  return g_strv_contains (handler, key);
}

/* GKeyFile does not say where a syntax error is: the first prefix of lines that fails */
static guint
find_syntax_error_line (const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr (GString) prefix = g_string_new (NULL);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr (GKeyFile) keyfile = g_key_file_new ();
      g_string_append (prefix, lines[i]);
      g_string_append_c (prefix, '\n');
      if (!g_key_file_load_from_data (keyfile, prefix->str, prefix->len, G_KEY_FILE_NONE, NULL))
        return i + 1;
    }
  return 0;
}

/* the group line gives the group; "key = value" lines give keys (GKeyFile's own rules) */
static gboolean
scan_line (Loader *loader, const char *path, guint lineno, const char *line, char **group,
           GError **error)
{
  g_autofree char *key = NULL;
  const char *equals;

  if (line[0] == '\0' || line[0] == '#')
    return TRUE;
  if (line[0] == '[')
    {
      const char *end = strrchr (line, ']');
      g_free (*group);
      *group = g_strndup (line + 1, end != NULL ? (gsize)(end - line - 1) : strlen (line + 1));
      if (!group_known (*group))
        return grove_throw (
            error, GROVE_ERROR_INVALID_ARGUMENT,
            "%s:%u: [%s]: unknown group (groups are daemon, storage, runtime, cri, network, "
            "registries, handler.NAME, NAME made of letters, digits, '-', '_' and '.', and "
            "registry.HOST[:PORT])",
            path, lineno, *group);
      /* the key "" stands for the group itself */
      g_hash_table_replace (loader->origins, origin_key (*group, ""),
                            g_strdup_printf ("%s:%u", path, lineno));
      return TRUE;
    }
  equals = strchr (line, '=');
  if (equals == NULL || *group == NULL)
    return TRUE;
  key = g_strstrip (g_strndup (line, equals - line));
  if (!key_known (*group, key))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s:%u: [%s] %s: unknown key", path,
                        lineno, *group, key);
  g_hash_table_replace (loader->origins, origin_key (*group, key),
                        g_strdup_printf ("%s:%u", path, lineno));
  return TRUE;
}

static gboolean
scan_file (Loader *loader, const char *path, const char *text, GError **error)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autofree char *group = NULL;

  for (guint i = 0; lines[i] != NULL; i++)
    if (!scan_line (loader, path, i + 1, g_strstrip (lines[i]), &group, error))
      return FALSE;
  return TRUE;
}

static void
merge_keyfile (Loader *loader, GKeyFile *keyfile)
{
  g_auto (GStrv) groups = g_key_file_get_groups (keyfile, NULL);

  for (guint i = 0; groups[i] != NULL; i++)
    {
      g_auto (GStrv) keys = g_key_file_get_keys (keyfile, groups[i], NULL, NULL);
      /* an empty group still counts (a handler without a path is an error) */
      if (!g_key_file_has_group (loader->merged, groups[i]))
        {
          g_key_file_set_value (loader->merged, groups[i], "placeholder", "");
          g_key_file_remove_key (loader->merged, groups[i], "placeholder", NULL);
        }
      for (guint j = 0; keys != NULL && keys[j] != NULL; j++)
        {
          g_autofree char *raw = g_key_file_get_value (keyfile, groups[i], keys[j], NULL);
          g_key_file_set_value (loader->merged, groups[i], keys[j], raw);
        }
    }
}

static gboolean
load_file (Loader *loader, const char *path, gboolean may_be_missing, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GKeyFile) keyfile = g_key_file_new ();
  g_autofree char *text = NULL;
  gsize length = 0;

  if (!g_file_get_contents (path, &text, &length, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return may_be_missing ? TRUE
                              : grove_throw (error, GROVE_ERROR_NOT_FOUND,
                                             "config file %s does not exist", path);
      return grove_throw (error, GROVE_ERROR_FAILED, "reading config file %s: %s", path,
                          local_error->message);
    }
  if (length > MAX_CONFIG_SIZE || memchr (text, '\0', length) != NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "config file %s: not a text file of at most %u bytes", path,
                        MAX_CONFIG_SIZE);
  if (!g_key_file_load_from_data (keyfile, text, length, G_KEY_FILE_NONE, &local_error))
    {
      guint line = find_syntax_error_line (text);
      if (line == 0)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s: syntax error: %s", path,
                            local_error->message);
      return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s:%u: syntax error: %s", path,
                          line, local_error->message);
    }
  if (!scan_file (loader, path, text, error))
    return FALSE;
  merge_keyfile (loader, keyfile);
  g_debug ("read config file %s", path);
  return TRUE;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

/* `<dir of path>/grove.conf.d/ *.conf` in name order; a missing directory has none */
static GPtrArray *
list_dropins (const char *path, GError **error)
{
  g_autofree char *parent = g_path_get_dirname (path);
  g_autofree char *dir_path = g_build_filename (parent, "grove.conf.d", NULL);
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GDir) dir = g_dir_open (dir_path, 0, &local_error);
  const char *name;

  if (dir == NULL)
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return g_steal_pointer (&files);
      return grove_throw (error, GROVE_ERROR_FAILED, "reading config directory %s: %s", dir_path,
                          local_error->message),
             NULL;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    if (name[0] != '.' && g_str_has_suffix (name, ".conf"))
      g_ptr_array_add (files, g_strdup (name));
  g_ptr_array_sort (files, compare_names);
  for (guint i = 0; i < files->len; i++)
    {
      char *full = g_build_filename (dir_path, files->pdata[i], NULL);
      g_free (files->pdata[i]);
      files->pdata[i] = full;
    }
  return g_steal_pointer (&files);
}

static gboolean
get_string (Loader *loader, const char *group, const char *key, char **out, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree char *value = NULL;

  if (!g_key_file_has_key (loader->merged, group, key, NULL))
    return TRUE;
  /* GLib 2.74 may return a string along with the error for a bad escape */
  value = g_key_file_get_string (loader->merged, group, key, &local_error);
  if (value == NULL || local_error != NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s: [%s] %s: bad value: %s",
                        origin_of (loader, group, key), group, key, local_error->message);
  g_free (*out);
  *out = g_steal_pointer (&value);
  return TRUE;
}

typedef enum
{
  PATH_ABSOLUTE,
  PATH_ABSOLUTE_OR_COMMAND,
} PathKind;

/* @out keeps its default when the key is not set; an empty value means "the default" */
static gboolean
get_path (Loader *loader, const char *group, const char *key, PathKind kind, char **out,
          GError **error)
{
  g_autofree char *value = NULL;

  if (!get_string (loader, group, key, &value, error))
    return FALSE;
  if (value == NULL || value[0] == '\0')
    return TRUE;
  if (!g_path_is_absolute (value) && (kind == PATH_ABSOLUTE || strchr (value, '/') != NULL))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s: [%s] %s: '%s' is not an absolute path%s",
                        origin_of (loader, group, key), group, key, value,
                        kind == PATH_ABSOLUTE ? "" : " nor a command name looked up in PATH");
  g_free (*out);
  *out = g_path_is_absolute (value) ? g_canonicalize_filename (value, "/")
                                    : g_steal_pointer (&value);
  return TRUE;
}

static void
handler_config_free (gpointer data)
{
  GroveHandlerConfig *handler = data;

  g_free (handler->name);
  g_strfreev (handler->argv);
  g_free (handler);
}

static GroveHandlerConfig *
handler_config_new (const char *name, const char *const *argv, gboolean builtin)
{
  GroveHandlerConfig *handler = g_new0 (GroveHandlerConfig, 1);

  handler->name = g_strdup (name);
  handler->argv = g_strdupv ((char **)argv);
  handler->builtin = builtin;
  return handler;
}

static GroveHandlerConfig *
read_handler (Loader *loader, const char *group, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree char *path = NULL;
  g_auto (GStrv) args = NULL;
  g_autoptr (GStrvBuilder) argv = g_strv_builder_new ();
  g_auto (GStrv) built = NULL;

  if (!get_path (loader, group, "path", PATH_ABSOLUTE_OR_COMMAND, &path, error))
    return NULL;
  if (path == NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s: [%s]: the handler has no path (the runtime binary)",
                        origin_of (loader, group, ""), group),
           NULL;
  if (g_key_file_has_key (loader->merged, group, "args", NULL))
    {
      args = g_key_file_get_string_list (loader->merged, group, "args", NULL, &local_error);
      if (args == NULL || local_error != NULL)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s: [%s] args: bad value: %s",
                            origin_of (loader, group, "args"), group, local_error->message),
               NULL;
    }
  g_strv_builder_add (argv, path);
  if (args != NULL)
    g_strv_builder_addv (argv, (const char **)args);
  built = g_strv_builder_end (argv);
  return handler_config_new (group + strlen (HANDLER_PREFIX), (const char *const *)built, FALSE);
}

static int
compare_handlers (gconstpointer a, gconstpointer b)
{
  const GroveHandlerConfig *ha = *(const GroveHandlerConfig *const *)a;
  const GroveHandlerConfig *hb = *(const GroveHandlerConfig *const *)b;

  return strcmp (ha->name, hb->name);
}

static gboolean
read_handlers (Loader *loader, GroveConfig *config, GError **error)
{
  g_auto (GStrv) groups = g_key_file_get_groups (loader->merged, NULL);
  const char *const runc[] = { "runc", NULL };
  const char *const crun[] = { LIBEXECDIR "/grove-runtime-exec", "crun", NULL };

  for (guint i = 0; groups[i] != NULL; i++)
    {
      GroveHandlerConfig *handler = NULL;
      if (!g_str_has_prefix (groups[i], HANDLER_PREFIX))
        continue;
      handler = read_handler (loader, groups[i], error);
      if (handler == NULL)
        return FALSE;
      g_ptr_array_add (config->handlers, handler);
    }
  if (grove_config_get_handler (config, "runc") == NULL)
    g_ptr_array_add (config->handlers, handler_config_new ("runc", runc, TRUE));
  if (grove_config_get_handler (config, "crun") == NULL)
    g_ptr_array_add (config->handlers, handler_config_new ("crun", crun, TRUE));
  g_ptr_array_sort (config->handlers, compare_handlers);
  return TRUE;
}

static char *
handler_names (GroveConfig *config)
{
  g_autoptr (GString) names = g_string_new (NULL);

  for (guint i = 0; i < config->handlers->len; i++)
    {
      const GroveHandlerConfig *handler = config->handlers->pdata[i];
      g_string_append_printf (names, "%s%s", i > 0 ? ", " : "", handler->name);
    }
  return g_string_free (g_steal_pointer (&names), FALSE);
}

static gboolean
check_handler_ref (Loader *loader, GroveConfig *config, const char *key, const char *name,
                   GError **error)
{
  g_autofree char *names = NULL;

  if (grove_config_get_handler (config, name) != NULL)
    return TRUE;
  names = handler_names (config);
  return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                      "%s: [runtime] %s: no handler '%s' (handlers: %s)",
                      origin_of (loader, "runtime", key), key, name, names);
}

/* unlike other paths, an empty value means something: no CRI socket at all */
static gboolean
get_cri_listen (Loader *loader, GroveConfig *config, GError **error)
{
  g_autofree char *value = NULL;

  if (!get_string (loader, "cri", "listen", &value, error))
    return FALSE;
  if (value == NULL)
    return TRUE;
  if (value[0] != '\0' && !g_path_is_absolute (value))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s: [cri] listen: '%s' is not an absolute path (or empty, for no CRI "
                        "socket)",
                        origin_of (loader, "cri", "listen"), value);
  g_free (config->cri_listen);
  config->cri_listen = value[0] != '\0' ? g_canonicalize_filename (value, "/") : g_strdup ("");
  return TRUE;
}

/* where the streaming server for CRI Exec/Attach/PortForward listens */
static gboolean
get_stream_listen (Loader *loader, GroveConfig *config, GError **error)
{
  g_autofree char *address = NULL;
  g_autofree char *port = NULL;
  g_autofree char *lifetime = NULL;
  g_autoptr (GInetAddress) inet = NULL;
  guint64 number = 0;

  if (!get_string (loader, "cri", "stream_address", &address, error)
      || !get_string (loader, "cri", "stream_port", &port, error)
      || !get_string (loader, "cri", "stream_token_lifetime", &lifetime, error))
    return FALSE;
  if (lifetime != NULL)
    {
      if (!g_ascii_string_to_unsigned (lifetime, 10, 1, 3600, &number, NULL))
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "%s: [cri] stream_token_lifetime: '%s' is not 1 to 3600 seconds",
                            origin_of (loader, "cri", "stream_token_lifetime"), lifetime);
      config->stream_token_lifetime = (guint)number;
    }
  if (address != NULL)
    {
      inet = g_inet_address_new_from_string (address);
      if (inet == NULL)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "%s: [cri] stream_address: '%s' is not an IP address",
                            origin_of (loader, "cri", "stream_address"), address);
      g_free (config->stream_address);
      g_free (config->stream_tls_cert);
      g_free (config->stream_tls_key);
      config->stream_address = g_steal_pointer (&address);
    }
  if (port != NULL)
    {
      if (!g_ascii_string_to_unsigned (port, 10, 0, 65535, &number, NULL))
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "%s: [cri] stream_port: '%s' is not a port (0 to 65535)",
                            origin_of (loader, "cri", "stream_port"), port);
      config->stream_port = (guint)number;
    }
  return TRUE;
}

/* a certificate and its key for HTTPS: absolute paths, both or neither */
static gboolean
get_stream_tls (Loader *loader, GroveConfig *config, GError **error)
{
  const char *const keys[] = { "stream_tls_cert", "stream_tls_key" };
  char **fields[] = { &config->stream_tls_cert, &config->stream_tls_key };

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_autofree char *value = NULL;

      if (!get_string (loader, "cri", keys[i], &value, error))
        return FALSE;
      if (value == NULL)
        continue;
      if (value[0] != '\0' && !g_path_is_absolute (value))
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "%s: [cri] %s: '%s' is not an absolute path",
                            origin_of (loader, "cri", keys[i]), keys[i], value);
      g_free (*fields[i]);
      *fields[i] = value[0] != '\0' ? g_steal_pointer (&value) : NULL;
    }
  if ((config->stream_tls_cert == NULL) != (config->stream_tls_key == NULL))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "[cri] stream_tls_cert and stream_tls_key go together: %s is set alone",
                        config->stream_tls_cert != NULL ? "stream_tls_cert" : "stream_tls_key");
  return TRUE;
}

static gboolean
get_polkit (Loader *loader, GroveConfigPolkit *out, GError **error)
{
  const char *const names[] = { "auto", "yes", "no", NULL };
  g_autofree char *value = NULL;

  if (!get_string (loader, "daemon", "polkit", &value, error))
    return FALSE;
  if (value == NULL)
    return TRUE;
  for (guint i = 0; names[i] != NULL; i++)
    if (g_str_equal (value, names[i]))
      {
        *out = (GroveConfigPolkit)i;
        return TRUE;
      }
  return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                      "%s: [daemon] polkit: '%s' is not auto, yes or no",
                      origin_of (loader, "daemon", "polkit"), value);
}

/* like CNI_PATH: absolute directories separated by ':' */
static gboolean
get_plugin_dirs (Loader *loader, GroveConfig *config, GError **error)
{
  g_autofree char *value = NULL;
  g_auto (GStrv) dirs = NULL;
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  if (!get_string (loader, "network", "plugin_dirs", &value, error))
    return FALSE;
  if (value == NULL || value[0] == '\0')
    return TRUE;
  dirs = g_strsplit (value, ":", -1);
  for (guint i = 0; dirs[i] != NULL; i++)
    {
      g_autofree char *canonical = NULL;
      if (dirs[i][0] == '\0')
        continue;
      if (!g_path_is_absolute (dirs[i]))
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "%s: [network] plugin_dirs: '%s' is not an absolute path",
                            origin_of (loader, "network", "plugin_dirs"), dirs[i]);
      canonical = g_canonicalize_filename (dirs[i], "/");
      g_strv_builder_add (builder, canonical);
    }
  g_strfreev (config->cni_plugin_dirs);
  config->cni_plugin_dirs = g_strv_builder_end (builder);
  return TRUE;
}

static gboolean
get_number (Loader *loader, const char *group, const char *key, guint max, guint *out,
            GError **error)
{
  g_autofree char *value = NULL;
  guint64 number = 0;

  if (!get_string (loader, group, key, &value, error))
    return FALSE;
  if (value == NULL)
    return TRUE;
  if (!g_ascii_string_to_unsigned (value, 10, 1, max, &number, NULL))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s: [%s] %s: '%s' is not 1 to %u",
                        origin_of (loader, group, key), group, key, value, max);
  *out = (guint)number;
  return TRUE;
}

static gboolean
get_boolean (Loader *loader, const char *group, const char *key, gboolean *out, GError **error)
{
  g_autofree char *value = NULL;

  if (!get_string (loader, group, key, &value, error))
    return FALSE;
  if (value == NULL)
    return TRUE;
  if (!g_str_equal (value, "true") && !g_str_equal (value, "false"))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s: [%s] %s: '%s' is neither true nor false",
                        origin_of (loader, group, key), group, key, value);
  *out = g_str_equal (value, "true");
  return TRUE;
}

static gboolean
get_mirrors (Loader *loader, const char *group, GStrv *out, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_auto (GStrv) mirrors = NULL;

  if (!g_key_file_has_key (loader->merged, group, "mirrors", NULL))
    return TRUE;
  mirrors = g_key_file_get_string_list (loader->merged, group, "mirrors", NULL, &local_error);
  if (mirrors == NULL || local_error != NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s: [%s] mirrors: bad value: %s",
                        origin_of (loader, group, "mirrors"), group,
                        local_error ? local_error->message : "empty");
  for (guint i = 0; mirrors[i] != NULL; i++)
    if (!registry_host_valid (g_strstrip (mirrors[i])))
      return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                          "%s: [%s] mirrors: '%s' is not HOST or HOST:PORT",
                          origin_of (loader, group, "mirrors"), group, mirrors[i]);
  *out = g_steal_pointer (&mirrors);
  return TRUE;
}

static gboolean
read_registry_hosts (Loader *loader, GroveRegistryConfig *registries, GError **error)
{
  g_auto (GStrv) groups = g_key_file_get_groups (loader->merged, NULL);

  for (guint i = 0; groups[i] != NULL; i++)
    {
      GroveRegistryHostConfig *host = NULL;

      if (!g_str_has_prefix (groups[i], REGISTRY_PREFIX))
        continue;
      host = grove_registry_config_add_host (registries, groups[i] + strlen (REGISTRY_PREFIX));
      if (!get_boolean (loader, groups[i], "insecure", &host->insecure, error)
          || !get_path (loader, groups[i], "ca_file", PATH_ABSOLUTE, &host->ca_file, error)
          || !get_mirrors (loader, groups[i], &host->mirrors, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
read_registries (Loader *loader, GroveRegistryConfig *registries, GError **error)
{
  const char *group = "registries";

  if (!get_string (loader, group, "default_registry", &registries->default_registry, error)
      || !get_path (loader, group, "auth_file", PATH_ABSOLUTE, &registries->auth_file, error)
      || !get_number (loader, group, "stall_timeout", 3600, &registries->stall_timeout, error)
      || !get_number (loader, group, "max_concurrent_downloads", 64,
                      &registries->max_concurrent_downloads, error))
    return FALSE;
  if (registries->default_registry != NULL && registries->default_registry[0] == '\0')
    g_clear_pointer (&registries->default_registry, g_free);
  if (registries->default_registry != NULL && !registry_host_valid (registries->default_registry))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s: [registries] default_registry: '%s' is not HOST or HOST:PORT",
                        origin_of (loader, group, "default_registry"),
                        registries->default_registry);
  return read_registry_hosts (loader, registries, error);
}

static gboolean
read_config (Loader *loader, GroveConfig *config, GError **error)
{
  if (!get_path (loader, "storage", "root", PATH_ABSOLUTE, &config->root, error)
      || !get_path (loader, "storage", "runroot", PATH_ABSOLUTE, &config->runroot, error)
      || !get_path (loader, "runtime", "conmon", PATH_ABSOLUTE, &config->conmon, error)
      || !get_path (loader, "runtime", "pause", PATH_ABSOLUTE, &config->pause, error)
      || !get_path (loader, "runtime", "cgroup_parent", PATH_ABSOLUTE, &config->cgroup_parent,
                    error)
      || !get_string (loader, "runtime", "default_handler", &config->default_handler, error)
      || !get_string (loader, "runtime", "trusted_handler", &config->trusted_handler, error)
      || !get_path (loader, "runtime", "seccomp_profile", PATH_ABSOLUTE, &config->seccomp_profile,
                    error)
      || !get_path (loader, "network", "conf_dir", PATH_ABSOLUTE, &config->cni_conf_dir, error)
      || !get_plugin_dirs (loader, config, error) || !get_cri_listen (loader, config, error)
      || !get_stream_listen (loader, config, error) || !get_stream_tls (loader, config, error)
      || !read_handlers (loader, config, error) || !get_polkit (loader, &config->polkit, error)
      || !read_registries (loader, config->registries, error))
    return FALSE;
  return check_handler_ref (loader, config, "default_handler", config->default_handler, error)
         && check_handler_ref (loader, config, "trusted_handler", config->trusted_handler, error);
}

static GroveConfig *
config_new_default (void)
{
  GroveConfig *config = g_new0 (GroveConfig, 1);

  config->root = g_strdup (GROVE_DEFAULT_ROOT);
  config->runroot = g_strdup (GROVE_DEFAULT_RUNROOT);
  config->pause = g_strdup (LIBEXECDIR "/grove-pause");
  config->cgroup_parent = g_strdup ("/grove");
  config->stream_address = g_strdup ("127.0.0.1");
  config->stream_token_lifetime = 60;
  config->default_handler = g_strdup ("runc");
  config->trusted_handler = g_strdup ("runc");
  config->cni_conf_dir = g_strdup (GROVE_CNI_DEFAULT_CONF_DIR);
  config->cni_plugin_dirs = g_strsplit (GROVE_CNI_DEFAULT_PLUGIN_DIRS, ":", -1);
  config->handlers = g_ptr_array_new_with_free_func (handler_config_free);
  config->polkit = GROVE_CONFIG_POLKIT_AUTO;
  config->registries = grove_registry_config_new ();
  return config;
}

/**
 * grove_config_load:
 * @path: (nullable): the main config file; %NULL for %GROVE_CONFIG_DEFAULT_PATH
 * @error: return location
 *
 * Reads @path, then `grove.conf.d/ *.conf` beside it in name order, later values winning.
 * Only the default path may be missing. A syntax error, an unknown group or key, a relative
 * path or a default or trusted handler that is not defined fails the load with a message
 * naming the file, line, group and key.
 *
 * Returns: (transfer full) (nullable): the config, or %NULL with @error set
 */
GroveConfig *
grove_config_load (const char *path, GError **error)
{
  g_auto (Loader) loader = { NULL };
  g_autoptr (GroveConfig) config = config_new_default ();
  g_autoptr (GPtrArray) dropins = NULL;

  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  loader.merged = g_key_file_new ();
  loader.origins = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (!load_file (&loader, path != NULL ? path : GROVE_CONFIG_DEFAULT_PATH, path == NULL, error))
    return NULL;
  dropins = list_dropins (path != NULL ? path : GROVE_CONFIG_DEFAULT_PATH, error);
  if (dropins == NULL)
    return NULL;
  for (guint i = 0; i < dropins->len; i++)
    if (!load_file (&loader, dropins->pdata[i], FALSE, error))
      return NULL;
  if (!read_config (&loader, config, error))
    return NULL;
  return g_steal_pointer (&config);
}

/**
 * grove_config_get_handler:
 * @config: a #GroveConfig
 * @name: a handler name
 *
 * Returns: (transfer none) (nullable): the handler called @name, or %NULL
 */
const GroveHandlerConfig *
grove_config_get_handler (GroveConfig *config, const char *name)
{
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  for (guint i = 0; i < config->handlers->len; i++)
    {
      const GroveHandlerConfig *handler = config->handlers->pdata[i];
      if (g_str_equal (handler->name, name))
        return handler;
    }
  return NULL;
}

/**
 * grove_config_free:
 * @config: (transfer full) (nullable): a #GroveConfig
 *
 * Frees @config.
 */
void
grove_config_free (GroveConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->root);
  g_free (config->runroot);
  g_free (config->conmon);
  g_free (config->pause);
  g_free (config->seccomp_profile);
  g_free (config->cgroup_parent);
  g_free (config->cni_conf_dir);
  g_strfreev (config->cni_plugin_dirs);
  g_free (config->default_handler);
  g_free (config->trusted_handler);
  g_free (config->cri_listen);
  g_free (config->stream_address);
  g_free (config->stream_tls_cert);
  g_free (config->stream_tls_key);
  g_clear_pointer (&config->handlers, g_ptr_array_unref);
  g_clear_pointer (&config->registries, grove_registry_config_free);
  g_free (config);
}
