/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveCni"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "grove-cni.h"
#include "grove-netns.h"
#include "grove-record.h"
#include "grove-utils.h"

/*
 * Pod networking through CNI plugins, following the CNI spec's exec protocol: each plugin
 * is a program run with CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_ARGS and
 * CNI_PATH in its environment, the network config on stdin and a result (or an error
 * object) on stdout. A network config list runs its plugins in order on ADD, each getting
 * the result of the one before as prevResult, and in reverse order on DEL.
 *
 * An attachment is one JSON object, kept in the pod's dir: the exact ADD input (network
 * config list, container ID, netns, interface, CNI_ARGS, runtimeConfig) and the result. DEL
 * runs from it, never from whatever config is current, so portmap removes exactly the
 * rules it added. Plugins run from a worker thread, which does their I/O and reaps them.
 */

#define LOOPBACK_TYPE "loopback"
#define POD_IFNAME "eth0"
#define HOST_LOCAL_SHARED_DIR "/var/lib/cni/networks"

/* the versions the plugins Debian ships (containernetworking-plugins 1.1.1) understand */
static const char *const supported_versions[]
    = { "0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", NULL };

struct _GroveCni
{
  GObject parent_instance;
  char *conf_dir;
  GStrv plugin_dirs;
  guint timeout_seconds;
};

G_DEFINE_TYPE (GroveCni, grove_cni, G_TYPE_OBJECT)

static void
grove_cni_finalize (GObject *object)
{
  GroveCni *self = GROVE_CNI (object);

  g_clear_pointer (&self->conf_dir, g_free);
  g_clear_pointer (&self->plugin_dirs, g_strfreev);
  G_OBJECT_CLASS (grove_cni_parent_class)->finalize (object);
}

static void
grove_cni_class_init (GroveCniClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = grove_cni_finalize;
}

static void
grove_cni_init (GroveCni *self)
{
}

/**
 * grove_cni_new:
 * @conf_dir: (nullable): where network configs are (the first `.conflist`, `.conf` or
 *   `.json` file in lexical order is used); %NULL for none at all (pods then get loopback
 *   only, and attachments kept from before can still be detached)
 * @plugin_dirs: (nullable): where plugins are looked for, in order; %NULL for
 *   %GROVE_CNI_DEFAULT_PLUGIN_DIRS
 * @timeout_seconds: how long one plugin may run before it is killed
 *
 * Returns: (transfer full): a new #GroveCni; it reads its config afresh on every use
 */
GroveCni *
grove_cni_new (const char *conf_dir, const char *const *plugin_dirs, guint timeout_seconds)
{
  GroveCni *self = g_object_new (GROVE_TYPE_CNI, NULL);

  self->conf_dir = g_strdup (conf_dir);
  self->plugin_dirs = plugin_dirs != NULL ? g_strdupv ((char **)plugin_dirs)
                                          : g_strsplit (GROVE_CNI_DEFAULT_PLUGIN_DIRS, ":", -1);
  self->timeout_seconds = MAX (timeout_seconds, 1);
  return self;
}

/**
 * grove_cni_get_conf_dir:
 * @self: a #GroveCni
 *
 * Returns: (transfer none) (nullable): the directory network configs are read from
 */
const char *
grove_cni_get_conf_dir (GroveCni *self)
{
  g_return_val_if_fail (GROVE_IS_CNI (self), NULL);
  return self->conf_dir;
}

/* ---- network configs ---- */

static gboolean find_config_name (const char *dir, char **out_name, GError **error);

/**
 * grove_cni_has_config:
 * @self: a #GroveCni
 *
 * Whether the config directory holds a network config file at all, valid or not. Without
 * one, pods get loopback only; with a broken one, they fail to start.
 *
 * Returns: %TRUE if there is a file to use
 */
gboolean
grove_cni_has_config (GroveCni *self)
{
  g_autofree char *name = NULL;

  g_return_val_if_fail (GROVE_IS_CNI (self), FALSE);
  return self->conf_dir != NULL && find_config_name (self->conf_dir, &name, NULL) && name != NULL;
}

static gboolean
is_config_name (const char *name)
{
  return name[0] != '.'
         && (g_str_has_suffix (name, ".conflist") || g_str_has_suffix (name, ".conf")
             || g_str_has_suffix (name, ".json"));
}

/* the first config file in lexical order, as libcni picks it; none is no error */
static gboolean
find_config_name (const char *dir, char **out_name, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GDir) d = g_dir_open (dir, 0, &local_error);
  g_autofree char *first = NULL;
  const char *entry;

  if (d == NULL)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "no CNI network config: %s",
                        local_error->message);
  while ((entry = g_dir_read_name (d)) != NULL)
    if (is_config_name (entry) && (first == NULL || strcmp (entry, first) < 0))
      {
        g_free (first);
        first = g_strdup (entry);
      }
  *out_name = g_steal_pointer (&first);
  return TRUE;
}

static char *
find_config_file (const char *dir, GError **error)
{
  g_autofree char *name = NULL;

  if (dir == NULL)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "no CNI network config directory is set"),
           NULL;
  if (!find_config_name (dir, &name, error))
    return NULL;
  if (name == NULL)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND,
                        "no CNI network config (*.conflist, *.conf or *.json) in %s", dir),
           NULL;
  return g_build_filename (dir, name, NULL);
}

static gboolean
validate_plugin (JsonObject *plugin, const char *path, guint index, GError **error)
{
  const char *type = grove_record_string (plugin, "type");

  if (type == NULL || *type == '\0')
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "network config %s: plugin %u has no \"type\"", path, index);
  if (strchr (type, '/') != NULL || g_str_equal (type, "..") || g_str_equal (type, "."))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "network config %s: plugin type '%s' is not a plain program name", path,
                        type);
  return TRUE;
}

static gboolean
validate_network (JsonObject *list, const char *path, GError **error)
{
  const char *name = grove_record_string (list, "name");
  const char *version = grove_record_string (list, "cniVersion");
  JsonNode *plugins = json_object_get_member (list, "plugins");
  JsonArray *array = NULL;

  if (name == NULL || *name == '\0')
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "network config %s: no \"name\"",
                        path);
  if (version == NULL || !g_strv_contains (supported_versions, version))
    return grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                        "network config %s: cniVersion %s is not supported (0.1.0 to 1.0.0)", path,
                        version != NULL ? version : "(none)");
  if (plugins == NULL || !JSON_NODE_HOLDS_ARRAY (plugins)
      || json_array_get_length (json_node_get_array (plugins)) == 0)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "network config %s: no \"plugins\" list", path);
  array = json_node_get_array (plugins);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      if (!JSON_NODE_HOLDS_OBJECT (node))
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "network config %s: plugin %u is not an object", path, i);
      if (!validate_plugin (json_node_get_object (node), path, i, error))
        return FALSE;
    }
  return TRUE;
}

/* a single plugin's config (.conf) becomes a list of one */
static JsonObject *
network_from_single (JsonObject *plugin)
{
  JsonObject *list = json_object_new ();
  JsonArray *plugins = json_array_new ();
  const char *name = grove_record_string (plugin, "name");
  const char *version = grove_record_string (plugin, "cniVersion");

  if (name != NULL)
    json_object_set_string_member (list, "name", name);
  if (version != NULL)
    json_object_set_string_member (list, "cniVersion", version);
  json_array_add_object_element (plugins, grove_record_copy (plugin));
  json_object_set_array_member (list, "plugins", plugins);
  return list;
}

static JsonObject *
parse_network (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (JsonObject) object = NULL;
  g_autofree char *what = g_strdup_printf ("network config %s", path);
  gsize length = 0;

  if (!g_file_get_contents (path, &text, &length, &local_error))
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "reading network config: %s",
                        local_error->message),
           NULL;
  object = grove_record_parse (text, length, what, error);
  if (object == NULL)
    return NULL;
  if (!g_str_has_suffix (path, ".conflist") && !json_object_has_member (object, "plugins"))
    {
      g_autoptr (JsonObject) single = g_steal_pointer (&object);
      if (!validate_plugin (single, path, 0, error))
        return NULL;
      object = network_from_single (single);
    }
  if (!validate_network (object, path, error))
    return NULL;
  return g_steal_pointer (&object);
}

/**
 * grove_cni_load_network:
 * @self: a #GroveCni
 * @out_path: (out) (optional) (transfer full): the file it came from
 * @error: return location
 *
 * Reads and checks the network config: the first file in the config directory, a
 * `.conflist`, or a single plugin's `.conf` (made a list of one).
 *
 * Returns: (transfer full) (nullable): the config list, with `name`, `cniVersion` and a
 *   non-empty `plugins` array
 */
JsonObject *
grove_cni_load_network (GroveCni *self, char **out_path, GError **error)
{
  g_autofree char *path = NULL;
  JsonObject *network = NULL;

  g_return_val_if_fail (GROVE_IS_CNI (self), NULL);
  path = find_config_file (self->conf_dir, error);
  if (path == NULL)
    return NULL;
  network = parse_network (path, error);
  if (network != NULL && out_path != NULL)
    *out_path = g_steal_pointer (&path);
  return network;
}

static char *
find_plugin (GroveCni *self, const char *type, GError **error)
{
  g_autofree char *dirs = NULL;

  for (guint i = 0; self->plugin_dirs[i] != NULL; i++)
    {
      g_autofree char *path = g_build_filename (self->plugin_dirs[i], type, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE) && !g_file_test (path, G_FILE_TEST_IS_DIR))
        return g_steal_pointer (&path);
    }
  dirs = g_strjoinv (", ", self->plugin_dirs);
  return grove_throw (error, GROVE_ERROR_NOT_FOUND, "CNI plugin '%s' not found in %s", type, dirs),
         NULL;
}

static JsonArray *
network_plugins (JsonObject *network)
{
  return json_node_get_array (json_object_get_member (network, "plugins"));
}

/* every plugin of @network and loopback are there */
static gboolean
check_plugins (GroveCni *self, JsonObject *network, const char *path, GError **error)
{
  JsonArray *plugins = network_plugins (network);
  g_autofree char *loopback = find_plugin (self, LOOPBACK_TYPE, error);

  if (loopback == NULL)
    return FALSE;
  for (guint i = 0; i < json_array_get_length (plugins); i++)
    {
      JsonObject *plugin = json_array_get_object_element (plugins, i);
      g_autofree char *found = find_plugin (self, grove_record_string (plugin, "type"), error);
      if (found == NULL)
        return g_prefix_error (error, "network config %s: ", path), FALSE;
    }
  return TRUE;
}

/**
 * grove_cni_check:
 * @self: a #GroveCni
 * @error: return location
 *
 * Whether pods can be attached: a valid network config exists and its plugins (and
 * loopback) are found. Reads the config directory afresh.
 *
 * Returns: %TRUE if ready, else %FALSE with @error saying what is wrong
 */
gboolean
grove_cni_check (GroveCni *self, GError **error)
{
  g_autofree char *path = NULL;
  g_autoptr (JsonObject) network = NULL;

  g_return_val_if_fail (GROVE_IS_CNI (self), FALSE);
  network = grove_cni_load_network (self, &path, error);
  return network != NULL && check_plugins (self, network, path, error);
}

/* ---- running plugins ---- */

/*
 * One plugin run. Plugins are spawned and reaped here, in the worker thread, with poll() and
 * waitpid() on their own PID: no GLib child watch is involved. (With GSubprocess, 30 pods
 * attached at once under load left some waits never completing although the plugins had
 * been reaped.)
 */
typedef struct
{
  const char *type;
  const char *command;
  const char *network;
  GPid pid;
  int fds[3]; /* stdin, stdout, stderr; -1 once closed */
  GBytes *config;
  gsize written;
  GByteArray *out;
  GByteArray *err;
  gint64 started;
  gint64 deadline;
  int status;
  gboolean timed_out;
} PluginCall;

static void
plugin_call_close (PluginCall *call, guint which)
{
  grove_close_fd (&call->fds[which]);
}

static void
plugin_call_free (PluginCall *call)
{
  for (guint i = 0; i < 3; i++)
    plugin_call_close (call, i);
  /* a call is freed before it was finished only on an error path: never leave a zombie */
  if (call->pid > 0)
    {
      kill (call->pid, SIGKILL);
      while (waitpid (call->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    }
  g_clear_pointer (&call->config, g_bytes_unref);
  g_clear_pointer (&call->out, g_byte_array_unref);
  g_clear_pointer (&call->err, g_byte_array_unref);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PluginCall, plugin_call_free)

/* what the spec puts in the environment; the rest (PATH, for iptables) is groved's own */
typedef struct
{
  const char *command;
  const char *container_id;
  const char *netns;
  const char *ifname;
  const char *args;
} CniEnv;

static GStrv
plugin_environ (GroveCni *self, const CniEnv *env)
{
  g_auto (GStrv) environ_ = g_get_environ ();
  g_autofree char *path = g_strjoinv (":", self->plugin_dirs);

  environ_ = g_environ_setenv (environ_, "CNI_COMMAND", env->command, TRUE);
  environ_ = g_environ_setenv (environ_, "CNI_CONTAINERID", env->container_id, TRUE);
  environ_ = g_environ_setenv (environ_, "CNI_NETNS", env->netns, TRUE);
  environ_ = g_environ_setenv (environ_, "CNI_IFNAME", env->ifname, TRUE);
  environ_ = g_environ_setenv (environ_, "CNI_ARGS", env->args, TRUE);
  environ_ = g_environ_setenv (environ_, "CNI_PATH", path, TRUE);
  environ_ = g_environ_setenv (
      environ_, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", FALSE);
  return g_steal_pointer (&environ_);
}

/* writes what is left of the config; EPIPE (the plugin closed its stdin) ends the writing */
static void
plugin_call_write (PluginCall *call)
{
  const struct timespec no_wait = { 0, 0 };
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (call->config, &size);
  sigset_t pipe_set;
  sigset_t old_set;
  ssize_t n = 0;

  sigemptyset (&pipe_set);
  sigaddset (&pipe_set, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_set, &old_set);
  n = write (call->fds[0], data + call->written, size - call->written);
  if (n < 0 && errno == EPIPE && !sigismember (&old_set, SIGPIPE))
    while (sigtimedwait (&pipe_set, NULL, &no_wait) < 0 && errno == EINTR)
      ;
  pthread_sigmask (SIG_SETMASK, &old_set, NULL);
  if (n > 0)
    call->written += (gsize)n;
  if ((n < 0 && errno != EINTR && errno != EAGAIN) || call->written == size)
    plugin_call_close (call, 0);
}

/* starts @type with @config to go to its stdin; plugin_call_finish() does the I/O */
static PluginCall *
plugin_call_start (GroveCni *self, const char *type, const char *network, const CniEnv *env,
                   GBytes *config, GError **error)
{
  g_autoptr (PluginCall) call = g_new0 (PluginCall, 1);
  g_autofree char *program = find_plugin (self, type, error);
  g_auto (GStrv) environ_ = plugin_environ (self, env);
  char *argv[] = { program, NULL };

  if (program == NULL)
    return NULL;
  call->type = type;
  call->command = env->command;
  call->network = network;
  call->config = g_bytes_ref (config);
  call->out = g_byte_array_new ();
  call->err = g_byte_array_new ();
  call->started = g_get_monotonic_time ();
  call->deadline = call->started + (gint64)self->timeout_seconds * G_USEC_PER_SEC;
  if (!g_spawn_async_with_pipes_and_fds (
          NULL, (const char *const *)argv, (const char *const *)environ_,
          G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_CLOEXEC_PIPES, NULL, NULL, -1, -1, -1, NULL, NULL, 0,
          &call->pid, &call->fds[0], &call->fds[1], &call->fds[2], error))
    return g_prefix_error (error, "CNI plugin %s (%s, network %s): ", type, env->command, network),
           NULL;
  for (guint i = 0; i < 3; i++)
    g_unix_set_fd_nonblocking (call->fds[i], TRUE, NULL);
  /* a config fits the pipe: the plugin can run on before its call is finished */
  plugin_call_write (call);
  return g_steal_pointer (&call);
}

static void
plugin_call_read (PluginCall *call, guint which)
{
  GByteArray *into = which == 1 ? call->out : call->err;
  guint8 buffer[16384];
  ssize_t n = read (call->fds[which], buffer, sizeof buffer);

  if (n > 0)
    g_byte_array_append (into, buffer, (guint)n);
  else if (n == 0 || (errno != EINTR && errno != EAGAIN))
    plugin_call_close (call, which);
}

/* one round of poll(); FALSE when the deadline has passed */
static gboolean
plugin_call_pump (PluginCall *call)
{
  struct pollfd fds[3];
  guint which[3];
  nfds_t n = 0;
  gint64 left = call->deadline - g_get_monotonic_time ();

  if (left <= 0)
    return FALSE;
  for (guint i = 0; i < 3; i++)
    if (call->fds[i] >= 0)
      {
        fds[n] = (struct pollfd){ call->fds[i], i == 0 ? POLLOUT : POLLIN, 0 };
        which[n++] = i;
      }
  if (poll (fds, n, (int)MIN (left / 1000 + 1, G_MAXINT)) < 0)
    return errno == EINTR;
  for (nfds_t i = 0; i < n; i++)
    {
      if (fds[i].revents == 0)
        continue;
      if (which[i] == 0)
        plugin_call_write (call);
      else
        plugin_call_read (call, which[i]);
    }
  return TRUE;
}

/* until stdout and stderr end and the plugin is reaped, or it is killed at the deadline */
static void
plugin_call_wait (PluginCall *call)
{
  int status = 0;
  pid_t got = 0;

  while ((call->fds[1] >= 0 || call->fds[2] >= 0) && !call->timed_out)
    call->timed_out = !plugin_call_pump (call);
  for (guint i = 0; i < 3; i++)
    plugin_call_close (call, i);
  while (!call->timed_out && (got = waitpid (call->pid, &status, WNOHANG)) == 0)
    {
      call->timed_out = g_get_monotonic_time () >= call->deadline;
      g_usleep (1000);
    }
  if (call->timed_out || got < 0)
    {
      kill (call->pid, SIGKILL);
      while (waitpid (call->pid, &status, 0) < 0 && errno == EINTR)
        ;
    }
  call->status = status;
  call->pid = 0;
  g_debug ("CNI plugin %s (%s, network %s) took %.1f ms", call->type, call->command, call->network,
           (g_get_monotonic_time () - call->started) / 1000.0);
}

static char *
bytes_text (GByteArray *bytes)
{
  return g_strstrip (g_strndup (bytes->len > 0 ? (const char *)bytes->data : "", bytes->len));
}

/* the spec's error object on stdout: {"code": N, "msg": "...", "details": "..."} */
static gboolean
throw_plugin_error (PluginCall *call, GError **error)
{
  g_autofree char *out = bytes_text (call->out);
  g_autofree char *err = bytes_text (call->err);
  g_autoptr (JsonObject) object = out[0] == '{' ? grove_record_parse (out, -1, "", NULL) : NULL;
  const char *msg = grove_record_string (object, "msg");
  const char *details = grove_record_string (object, "details");
  const char *said = *err != '\0' ? err : out;
  gboolean signaled = WIFSIGNALED (call->status);

  if (msg != NULL)
    return grove_throw (
        error, GROVE_ERROR_FAILED, "CNI plugin %s (%s, network %s): %s%s%s (code %d)", call->type,
        call->command, call->network, msg, details != NULL && *details != '\0' ? ": " : "",
        details != NULL ? details : "", (int)grove_record_int (object, "code", 0));
  return grove_throw (error, GROVE_ERROR_FAILED, "CNI plugin %s (%s, network %s) %s %d%s%s",
                      call->type, call->command, call->network,
                      signaled ? "was killed by signal" : "exited with status",
                      signaled ? WTERMSIG (call->status) : WEXITSTATUS (call->status),
                      *said != '\0' ? ": " : "", said);
}

/* waits for @call; on success @out_result (if given) gets its stdout, NULL if empty */
static gboolean
plugin_call_finish (PluginCall *call, JsonObject **out_result, GError **error)
{
  g_autofree char *out = NULL;
  g_autofree char *what = NULL;

  plugin_call_wait (call);
  if (call->timed_out)
    return grove_throw (error, GROVE_ERROR_FAILED,
                        "CNI plugin %s (%s, network %s) did not finish in time and was killed",
                        call->type, call->command, call->network);
  if (!WIFEXITED (call->status) || WEXITSTATUS (call->status) != 0)
    return throw_plugin_error (call, error);
  out = bytes_text (call->out);
  if (out_result == NULL || *out == '\0')
    return TRUE;
  what = g_strdup_printf ("the result of CNI plugin %s (%s, network %s)", call->type, call->command,
                          call->network);
  *out_result = grove_record_parse (out, -1, what, error);
  return *out_result != NULL;
}

/* ---- ADD and DEL ---- */

static gboolean
version_has_prev_result_on_del (const char *version)
{
  return g_strcmp0 (version, "0.4.0") == 0 || g_strcmp0 (version, "1.0.0") == 0;
}

/* what one plugin of the list gets on stdin: libcni's rules for lists and capabilities */
static GBytes *
plugin_config (JsonObject *network, JsonObject *plugin, JsonObject *prev_result,
               JsonObject *runtime_config)
{
  g_autoptr (JsonObject) config = grove_record_copy (plugin);
  JsonObject *capabilities = grove_record_object (plugin, "capabilities");
  g_autoptr (JsonObject) wanted = json_object_new ();
  g_autoptr (GList) keys = runtime_config ? json_object_get_members (runtime_config) : NULL;
  gsize length = 0;
  char *text = NULL;

  json_object_set_string_member (config, "name", grove_record_string (network, "name"));
  json_object_set_string_member (config, "cniVersion", grove_record_string (network, "cniVersion"));
  if (prev_result != NULL)
    json_object_set_object_member (config, "prevResult", grove_record_copy (prev_result));
  for (GList *l = keys; l != NULL; l = l->next)
    if (grove_record_bool (capabilities, l->data))
      json_object_set_member (
          wanted, l->data,
          grove_record_copy_node (json_object_get_member (runtime_config, l->data)));
  json_object_remove_member (config, "runtimeConfig");
  if (json_object_get_size (wanted) > 0)
    json_object_set_object_member (config, "runtimeConfig", g_steal_pointer (&wanted));
  text = grove_record_serialize (config, &length);
  return g_bytes_new_take (text, length);
}

static GBytes *
loopback_config (JsonObject *network)
{
  g_autofree char *text = g_strdup_printf (
      "{\"cniVersion\":\"%s\",\"name\":\"grove-loopback\",\"type\":\"" LOOPBACK_TYPE "\"}",
      grove_record_string (network, "cniVersion"));
  gsize length = strlen (text);

  return g_bytes_new_take (g_steal_pointer (&text), length);
}

static void
attachment_env (JsonObject *attachment, const char *command, gboolean loopback, CniEnv *env)
{
  env->command = command;
  env->container_id = grove_record_string (attachment, "containerId");
  env->netns = grove_record_string (attachment, "netns");
  env->ifname = loopback ? "lo" : grove_record_string (attachment, "ifName");
  env->args = grove_record_string (attachment, "args");
}

/* the list's plugins in order, each with the result of the one before */
static JsonObject *
add_chain (GroveCni *self, JsonObject *attachment, GError **error)
{
  JsonObject *network = grove_record_object (attachment, "network");
  JsonObject *runtime_config = grove_record_object (attachment, "runtimeConfig");
  const char *name = grove_record_string (network, "name");
  JsonArray *plugins = network_plugins (network);
  g_autoptr (JsonObject) prev = NULL;
  CniEnv env;

  attachment_env (attachment, "ADD", FALSE, &env);
  for (guint i = 0; i < json_array_get_length (plugins); i++)
    {
      JsonObject *plugin = json_array_get_object_element (plugins, i);
      g_autoptr (GBytes) config = plugin_config (network, plugin, prev, runtime_config);
      g_autoptr (PluginCall) call = plugin_call_start (self, grove_record_string (plugin, "type"),
                                                       name, &env, config, error);
      g_autoptr (JsonObject) result = NULL;

      if (call == NULL || !plugin_call_finish (call, &result, error))
        return NULL;
      if (result != NULL)
        {
          g_clear_pointer (&prev, json_object_unref);
          prev = g_steal_pointer (&result);
        }
    }
  if (prev == NULL)
    return grove_throw (error, GROVE_ERROR_FAILED, "network %s: no plugin gave a result", name),
           NULL;
  return g_steal_pointer (&prev);
}

/* loopback runs beside the list: it touches only lo, the list only eth0 */
static JsonObject *
run_add (GroveCni *self, JsonObject *attachment, GError **error)
{
  JsonObject *network = grove_record_object (attachment, "network");
  g_autoptr (GBytes) lo_config = loopback_config (network);
  g_autoptr (GError) lo_error = NULL;
  g_autoptr (PluginCall) lo = NULL;
  g_autoptr (JsonObject) result = NULL;
  CniEnv env;

  attachment_env (attachment, "ADD", TRUE, &env);
  lo = plugin_call_start (self, LOOPBACK_TYPE, "grove-loopback", &env, lo_config, error);
  if (lo == NULL)
    return NULL;
  result = add_chain (self, attachment, error);
  if (!plugin_call_finish (lo, NULL, &lo_error) && result != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&lo_error));
      return NULL;
    }
  return g_steal_pointer (&result);
}

/* DEL of each plugin, last first; all of them run, the first failure is reported */
static gboolean
del_chain (GroveCni *self, JsonObject *attachment, GError **error)
{
  JsonObject *network = grove_record_object (attachment, "network");
  JsonObject *result = grove_record_object (attachment, "result");
  JsonObject *runtime_config = grove_record_object (attachment, "runtimeConfig");
  const char *name = grove_record_string (network, "name");
  JsonArray *plugins = network_plugins (network);
  g_autoptr (GError) first_error = NULL;
  CniEnv env;

  if (!version_has_prev_result_on_del (grove_record_string (network, "cniVersion")))
    result = NULL;
  attachment_env (attachment, "DEL", FALSE, &env);
  for (guint i = json_array_get_length (plugins); i > 0; i--)
    {
      JsonObject *plugin = json_array_get_object_element (plugins, i - 1);
      g_autoptr (GBytes) config = plugin_config (network, plugin, result, runtime_config);
      g_autoptr (GError) local_error = NULL;
      g_autoptr (PluginCall) call = plugin_call_start (self, grove_record_string (plugin, "type"),
                                                       name, &env, config, &local_error);

      if (call != NULL)
        plugin_call_finish (call, NULL, &local_error);
      if (local_error != NULL && first_error == NULL)
        first_error = g_steal_pointer (&local_error);
    }
  if (first_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&first_error));
      return FALSE;
    }
  return TRUE;
}

static gboolean
run_del (GroveCni *self, JsonObject *attachment, GError **error)
{
  const char *netns = grove_record_string (attachment, "netns");
  g_autoptr (GBytes) lo_config = loopback_config (grove_record_object (attachment, "network"));
  g_autoptr (GError) lo_error = NULL;
  g_autoptr (PluginCall) lo = NULL;
  gboolean ok = FALSE;
  CniEnv env;

  /* a namespace that is gone has no lo to take down, nor an eth0 to delete */
  if (netns != NULL && *netns != '\0' && !grove_netns_exists (netns))
    json_object_set_string_member (attachment, "netns", "");
  netns = grove_record_string (attachment, "netns");
  attachment_env (attachment, "DEL", TRUE, &env);
  if (netns != NULL && *netns != '\0')
    lo = plugin_call_start (self, LOOPBACK_TYPE, "grove-loopback", &env, lo_config, &lo_error);
  ok = del_chain (self, attachment, error);
  if (lo != NULL)
    plugin_call_finish (lo, NULL, &lo_error);
  if (ok && lo_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&lo_error));
      return FALSE;
    }
  return ok;
}

/* ---- attachments ---- */

/* CRI port mappings (protocol as name or enum number) → portmap's runtimeConfig */
static JsonArray *
port_mappings (JsonArray *cri)
{
  const char *const protocols[] = { "tcp", "udp", "sctp" };
  JsonArray *out = json_array_new ();

  for (guint i = 0; cri != NULL && i < json_array_get_length (cri); i++)
    {
      JsonObject *mapping = json_array_get_object_element (cri, i);
      const char *protocol = grove_record_string (mapping, "protocol");
      gint64 number = grove_record_int (mapping, "protocol", 0);
      const char *host_ip = grove_record_string (mapping, "hostIp");
      g_autofree char *lower = g_ascii_strdown (protocol != NULL ? protocol : "", -1);
      JsonObject *entry = NULL;

      if (mapping == NULL || grove_record_int (mapping, "hostPort", 0) <= 0)
        continue;
      entry = json_object_new ();
      json_object_set_int_member (entry, "hostPort", grove_record_int (mapping, "hostPort", 0));
      json_object_set_int_member (entry, "containerPort",
                                  grove_record_int (mapping, "containerPort", 0));
      json_object_set_string_member (entry, "protocol",
                                     protocol != NULL            ? lower
                                     : number >= 0 && number < 3 ? protocols[number]
                                                                 : "tcp");
      if (host_ip != NULL && *host_ip != '\0')
        json_object_set_string_member (entry, "hostIP", host_ip);
      json_array_add_object_element (out, entry);
    }
  return out;
}

static JsonObject *
new_attachment (const GroveCniRequest *request, JsonObject *network, const char *path)
{
  JsonObject *attachment = json_object_new ();
  JsonObject *runtime_config = json_object_new ();
  JsonArray *ports = port_mappings (request->port_mappings);
  g_autofree char *args = g_strdup_printf (
      "IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s;K8S_POD_INFRA_CONTAINER_ID=%s;"
      "K8S_POD_UID=%s",
      request->pod_namespace, request->pod_name, request->container_id, request->pod_uid);

  json_object_set_int_member (attachment, "version", 1);
  json_object_set_string_member (attachment, "configFile", path);
  json_object_set_string_member (attachment, "containerId", request->container_id);
  json_object_set_string_member (attachment, "netns", request->netns);
  json_object_set_string_member (attachment, "ifName", POD_IFNAME);
  json_object_set_string_member (attachment, "args", args);
  json_object_set_object_member (attachment, "network", grove_record_copy (network));
  if (json_array_get_length (ports) > 0)
    json_object_set_array_member (runtime_config, "portMappings", ports);
  else
    json_array_unref (ports);
  json_object_set_object_member (attachment, "runtimeConfig", runtime_config);
  return attachment;
}

static gboolean
write_attachment (const char *path, JsonObject *attachment, GError **error)
{
  gsize length = 0;
  g_autofree char *text = grove_record_serialize (attachment, &length);

  return grove_write_file_at (AT_FDCWD, path, text, length, 0600, error);
}

/**
 * grove_cni_attach:
 * @self: a #GroveCni
 * @request: the pod and its namespace
 * @cache_path: where the attachment is kept (the ADD input, then the result too)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Attaches a pod's network namespace: CNI ADD of loopback (for `lo`) and of the network's
 * plugins (for `eth0`). The ADD input is written to @cache_path before any plugin runs, so
 * that even an engine that dies half-way leaves what grove_cni_detach() needs. If ADD fails,
 * DEL runs and @cache_path is removed: nothing is left. Blocks: call it in a worker thread.
 *
 * Returns: (transfer full) (nullable): the attachment, with the ADD result in `result`
 */
JsonObject *
grove_cni_attach (GroveCni *self, const GroveCniRequest *request, const char *cache_path,
                  GCancellable *cancellable, GError **error)
{
  g_autofree char *path = NULL;
  g_autoptr (JsonObject) network = NULL;
  g_autoptr (JsonObject) attachment = NULL;
  g_autoptr (JsonObject) result = NULL;
  g_autoptr (GError) del_error = NULL;

  g_return_val_if_fail (GROVE_IS_CNI (self), NULL);
  g_return_val_if_fail (request != NULL && cache_path != NULL, NULL);
  network = grove_cni_load_network (self, &path, error);
  if (network == NULL || !check_plugins (self, network, path, error))
    return NULL;
  attachment = new_attachment (request, network, path);
  if (!write_attachment (cache_path, attachment, error))
    return NULL;
  result = run_add (self, attachment, error);
  if (result == NULL)
    {
      if (!run_del (self, attachment, &del_error))
        g_warning ("undoing the network attachment of %s: %s", request->container_id,
                   del_error->message);
      unlink (cache_path);
      return NULL;
    }
  json_object_set_object_member (attachment, "result", g_steal_pointer (&result));
  if (!write_attachment (cache_path, attachment, error))
    return NULL;
  return g_steal_pointer (&attachment);
}

/**
 * grove_cni_detach:
 * @self: a #GroveCni
 * @cache_path: what grove_cni_attach() kept
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * CNI DEL with exactly the ADD input kept at @cache_path (the network's plugins in reverse
 * order, then loopback), then removes @cache_path. A missing @cache_path means nothing is
 * attached: success. A namespace that is gone already is fine: the plugins still free
 * what they hold outside it (IP allocations, port mappings). On failure @cache_path stays,
 * for a retry. Blocks: call it in a worker thread.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_cni_detach (GroveCni *self, const char *cache_path, GCancellable *cancellable, GError **error)
{
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (JsonObject) attachment = NULL;

  g_return_val_if_fail (GROVE_IS_CNI (self), FALSE);
  bytes = grove_read_file_at (AT_FDCWD, cache_path, 16 * 1024 * 1024, &local_error);
  if (bytes == NULL && g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    return TRUE;
  if (bytes == NULL)
    return g_propagate_error (error, g_steal_pointer (&local_error)), FALSE;
  attachment = grove_record_parse (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                   cache_path, error);
  if (attachment == NULL)
    return FALSE;
  if (grove_record_object (attachment, "network") == NULL
      || !validate_network (grove_record_object (attachment, "network"), cache_path, error))
    return FALSE;
  if (!run_del (self, attachment, error))
    return FALSE;
  if (unlink (cache_path) < 0 && errno != ENOENT)
    return grove_throw_errno_code (error, errno, "removing %s", cache_path);
  return TRUE;
}

static void
add_address (GPtrArray *ips, const char *address)
{
  g_autofree char *ip = NULL;

  if (address == NULL)
    return;
  ip = g_strndup (address, strcspn (address, "/"));
  if (!g_ptr_array_find_with_equal_func (ips, ip, g_str_equal, NULL))
    g_ptr_array_add (ips, g_steal_pointer (&ip));
}

/**
 * grove_cni_result_ips:
 * @attachment: what grove_cni_attach() returned
 *
 * The pod's addresses from the ADD result, without prefix lengths, in the result's order:
 * `ips[].address` (CNI 0.3.0 and later) or `ip4.ip`, `ip6.ip` (0.1.0, 0.2.0).
 *
 * Returns: (transfer full): the addresses, maybe none
 */
GStrv
grove_cni_result_ips (JsonObject *attachment)
{
  JsonObject *result = grove_record_object (attachment, "result");
  JsonNode *ips = result != NULL ? json_object_get_member (result, "ips") : NULL;
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);

  g_return_val_if_fail (attachment != NULL, NULL);
  if (ips != NULL && JSON_NODE_HOLDS_ARRAY (ips))
    for (guint i = 0; i < json_array_get_length (json_node_get_array (ips)); i++)
      {
        JsonNode *node = json_array_get_element (json_node_get_array (ips), i);
        if (JSON_NODE_HOLDS_OBJECT (node))
          add_address (out, grove_record_string (json_node_get_object (node), "address"));
      }
  add_address (out, grove_record_string (grove_record_object (result, "ip4"), "ip"));
  add_address (out, grove_record_string (grove_record_object (result, "ip6"), "ip"));
  g_ptr_array_add (out, NULL);
  return (GStrv)g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

/* ---- garbage ---- */

/* host-local's allocations, <dataDir>/<network>/<ip> holding "<container id>\r\n<ifname>" */
static void
collect_allocations (const char *dir, GHashTable *live_ids, GHashTable *orphans)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *entry;

  while (d != NULL && (entry = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, entry, NULL);
      g_autofree char *text = NULL;
      g_auto (GStrv) lines = NULL;

      if (!g_hostname_is_ip_address (entry) || !g_file_get_contents (path, &text, NULL, NULL))
        continue;
      lines = g_strsplit_set (text, "\r\n", -1);
      if (lines[0] == NULL || lines[0][0] == '\0' || g_hash_table_contains (live_ids, lines[0]))
        continue;
      g_hash_table_replace (orphans, g_strdup (lines[0]), g_strdup (path));
    }
}

/* with its namespace, if that is still there, so bridge finds the addresses whose
 * masquerade rules it removes */
static void
release_orphan (GroveCni *self, JsonObject *network, const char *netns_dir, const char *path,
                const char *id)
{
  g_autoptr (JsonObject) attachment = json_object_new ();
  g_autoptr (GError) local_error = NULL;
  g_autofree char *netns = netns_dir != NULL ? g_build_filename (netns_dir, id, NULL) : NULL;

  json_object_set_string_member (attachment, "containerId", id);
  json_object_set_string_member (attachment, "netns",
                                 netns != NULL && grove_netns_exists (netns) ? netns : "");
  json_object_set_string_member (attachment, "ifName", POD_IFNAME);
  json_object_set_string_member (attachment, "args", "IgnoreUnknown=1");
  json_object_set_object_member (attachment, "network", grove_record_copy (network));
  if (run_del (self, attachment, &local_error))
    g_message ("released the address %s of pod %s, which no longer exists", path, id);
  else
    g_warning ("releasing the address %s of pod %s: %s", path, id, local_error->message);
}

/**
 * grove_cni_collect_garbage:
 * @self: a #GroveCni
 * @live_ids: (element-type utf8 utf8): the IDs of the pods that exist (as keys)
 * @netns_dir: (nullable): where pods' network namespaces are, named by pod ID
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * After a crash: runs CNI DEL for each address that the current network's host-local IPAM
 * holds for a container not in @live_ids, so addresses of pods that are gone are freed. Only
 * a host-local `dataDir` of the network's own is looked at, never the shared default
 * (/var/lib/cni/networks), whose entries may belong to another runtime. A missing or broken
 * config means there is nothing to look at. Blocks: call it in a worker thread.
 *
 * Returns: %TRUE (failures to release one address are logged)
 */
gboolean
grove_cni_collect_garbage (GroveCni *self, GHashTable *live_ids, const char *netns_dir,
                           GCancellable *cancellable, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (JsonObject) network = grove_cni_load_network (self, NULL, &local_error);
  g_autoptr (GHashTable) orphans = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter iter;
  gpointer id, path;

  g_return_val_if_fail (GROVE_IS_CNI (self), FALSE);
  if (network == NULL)
    return g_debug ("no network garbage to collect: %s", local_error->message), TRUE;
  for (guint i = 0; i < json_array_get_length (network_plugins (network)); i++)
    {
      JsonObject *ipam = grove_record_object (
          json_array_get_object_element (network_plugins (network), i), "ipam");
      const char *data_dir = grove_record_string (ipam, "dataDir");
      g_autofree char *dir = NULL;

      if (g_strcmp0 (grove_record_string (ipam, "type"), "host-local") != 0 || data_dir == NULL
          || g_strcmp0 (data_dir, HOST_LOCAL_SHARED_DIR) == 0)
        continue;
      dir = g_build_filename (data_dir, grove_record_string (network, "name"), NULL);
      collect_allocations (dir, live_ids, orphans);
    }
  g_hash_table_iter_init (&iter, orphans);
  while (g_hash_table_iter_next (&iter, &id, &path))
    release_orphan (self, network, netns_dir, path, id);
  return TRUE;
}
