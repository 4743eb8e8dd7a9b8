/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveDaemon"
#define G_LOG_USE_STRUCTURED 1

/*
 * groved: the store and engine on one root, served on D-Bus as org.grove.Runtime1 and, when
 * a socket is configured, as the CRI (runtime.v1) over gRPC.
 *
 * Start-up is store → engine → load → CRI socket → bus → export → name; any failure before the name
 * is owned ends the run with an error, so groved never serves half-configured. SIGTERM and SIGINT
 * stop serving and drop the engine and store; containers keep running under their conmons, which is
 * also why groved is not a child subreaper. SIGHUP reloads the config and applies what can change
 * under a running engine (new handlers); the rest is logged as needing a restart.
 */

#include <glib-unix.h>
#include <signal.h>
#include <string.h>

#include "grove-config.h"
#include "grove-cri-service.h"
#include "grove-stream-server.h"
#include "grove-daemon.h"
#include "grove-dbus-service.h"
#include "grove-engine.h"
#include "grove-utils.h"

struct _GroveDaemon
{
  GObject parent_instance;

  /* the command line */
  char *config_path;
  char *root_override;
  char *runroot_override;
  char *pause_override;
  char *cri_socket_override; /* "" for none */
  GBusType bus_type;         /* G_BUS_TYPE_NONE: bus_address */
  char *bus_address;

  GroveConfig *config;          /* the config the engine was made with */
  GHashTable *running_handlers; /* name → argv joined by " ", as the engine has them */
  GroveStore *store;
  GroveEngine *engine;
  GDBusConnection *connection;
  GroveDBusService *service;
  GroveGrpcServer *cri_server;
  GroveCriService *cri_service;
  GroveStreamServer *stream_server;
  guint name_owner_id;
  gulong closed_id;

  GMainLoop *loop;
  GCancellable *cancellable;
  GError *exit_error; /* why the loop ended, when it failed */
  guint signal_ids[3];
};

G_DEFINE_TYPE (GroveDaemon, grove_daemon, G_TYPE_OBJECT)

static void
grove_daemon_finalize (GObject *object)
{
  GroveDaemon *self = GROVE_DAEMON (object);

  g_clear_pointer (&self->config_path, g_free);
  g_clear_pointer (&self->root_override, g_free);
  g_clear_pointer (&self->runroot_override, g_free);
  g_clear_pointer (&self->pause_override, g_free);
  g_clear_pointer (&self->cri_socket_override, g_free);
  g_clear_pointer (&self->bus_address, g_free);
  g_clear_pointer (&self->config, grove_config_free);
  g_clear_pointer (&self->running_handlers, g_hash_table_unref);
  g_clear_object (&self->service);
  g_clear_object (&self->cri_server);
  g_clear_object (&self->cri_service);
  g_clear_object (&self->stream_server);
  g_clear_object (&self->connection);
  g_clear_object (&self->engine);
  g_clear_object (&self->store);
  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_clear_object (&self->cancellable);
  g_clear_error (&self->exit_error);
  G_OBJECT_CLASS (grove_daemon_parent_class)->finalize (object);
}

static void
grove_daemon_class_init (GroveDaemonClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = grove_daemon_finalize;
}

static void
grove_daemon_init (GroveDaemon *self)
{
  self->running_handlers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->loop = g_main_loop_new (NULL, FALSE);
  self->cancellable = g_cancellable_new ();
}

static void
override_str (char **field, const char *value)
{
  if (value == NULL)
    return;
  g_free (*field);
  *field = g_strdup (value);
}

/* the command line wins over the config */
static void
apply_overrides (GroveDaemon *self, GroveConfig *config)
{
  override_str (&config->root, self->root_override);
  override_str (&config->runroot, self->runroot_override);
  override_str (&config->pause, self->pause_override);
}

static gboolean
parse_bus (GroveDaemon *self, const char *bus, GError **error)
{
  if (bus == NULL)
    bus = g_getenv ("GROVE_BUS_ADDRESS");
  if (bus == NULL || bus[0] == '\0' || g_str_equal (bus, "system"))
    self->bus_type = G_BUS_TYPE_SYSTEM;
  else if (g_str_equal (bus, "session"))
    self->bus_type = G_BUS_TYPE_SESSION;
  else if (g_dbus_is_address (bus))
    {
      self->bus_type = G_BUS_TYPE_NONE;
      self->bus_address = g_strdup (bus);
    }
  else
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "invalid bus '%s': expected system, session or a D-Bus address", bus);
  return TRUE;
}

static char *
absolute_path (const char *path)
{
  return path != NULL ? g_canonicalize_filename (path, NULL) : NULL;
}

/**
 * grove_daemon_new:
 * @options: the command line
 * @error: return location
 *
 * Reads the config (with @options overriding it); nothing is opened until
 * grove_daemon_run().
 *
 * Returns: (transfer full) (nullable): the daemon, or %NULL with @error set
 */
GroveDaemon *
grove_daemon_new (const GroveDaemonOptions *options, GError **error)
{
  g_autoptr (GroveDaemon) self = g_object_new (GROVE_TYPE_DAEMON, NULL);

  g_return_val_if_fail (options != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self->config_path = absolute_path (options->config_path);
  self->root_override = absolute_path (options->root);
  self->runroot_override = absolute_path (options->runroot);
  self->pause_override = absolute_path (options->pause);
  if (options->cri_socket != NULL)
    self->cri_socket_override
        = options->cri_socket[0] != '\0' ? absolute_path (options->cri_socket) : g_strdup ("");
  if (!parse_bus (self, options->bus, error))
    return NULL;
  self->config = grove_config_load (self->config_path, error);
  if (self->config == NULL)
    return NULL;
  apply_overrides (self, self->config);
  return g_steal_pointer (&self);
}

/* the loop ends; the first error is the one reported */
static void
quit (GroveDaemon *self, GError *error)
{
  if (error != NULL && self->exit_error == NULL)
    self->exit_error = g_error_copy (error);
  g_cancellable_cancel (self->cancellable);
  g_main_loop_quit (self->loop);
}

static char *
join_argv (char **argv)
{
  return g_strjoinv (" ", argv);
}

static gboolean
add_handler (GroveDaemon *self, const GroveHandlerConfig *handler, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  gboolean required = g_str_equal (handler->name, self->config->default_handler)
                      || g_str_equal (handler->name, self->config->trusted_handler);

  if (!grove_engine_add_handler (self->engine, handler->name, (const char *const *)handler->argv,
                                 &local_error))
    {
      /* a built-in whose runtime is not installed is no error unless it is needed */
      if (handler->builtin && !required)
        {
          g_message ("runtime handler %s not available: %s", handler->name, local_error->message);
          return TRUE;
        }
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error),
                                  "runtime handler %s: ", handler->name);
      return FALSE;
    }
  g_hash_table_replace (self->running_handlers, g_strdup (handler->name),
                        join_argv (handler->argv));
  g_debug ("runtime handler %s: %s", handler->name,
           (const char *)g_hash_table_lookup (self->running_handlers, handler->name));
  return TRUE;
}

static gboolean
open_engine (GroveDaemon *self, GError **error)
{
  g_autofree char *store_root = g_build_filename (self->config->root, "storage", NULL);
  GroveEngineOptions options = { 0 };

  self->store = grove_store_open (store_root, self->cancellable, error);
  if (self->store == NULL)
    return FALSE;
  grove_store_set_registry_config (self->store, self->config->registries);
  options.root = self->config->root;
  options.runroot = self->config->runroot;
  options.conmon_path = self->config->conmon;
  options.pause_path = self->config->pause;
  options.cgroup_parent = self->config->cgroup_parent;
  options.default_handler = self->config->default_handler;
  options.trusted_handler = self->config->trusted_handler;
  options.seccomp_profile = self->config->seccomp_profile;
  /* unset: the installed profile, else the copy built into groved (an uninstalled build) */
  if (options.seccomp_profile == NULL
      && g_file_test (GROVE_SECCOMP_DEFAULT_PATH, G_FILE_TEST_IS_REGULAR))
    options.seccomp_profile = GROVE_SECCOMP_DEFAULT_PATH;
  options.cni_conf_dir = self->config->cni_conf_dir;
  options.cni_plugin_dirs = (const char *const *)self->config->cni_plugin_dirs;
  self->engine = grove_engine_new (self->store, &options, error);
  if (self->engine == NULL)
    return FALSE;
  for (guint i = 0; i < self->config->handlers->len; i++)
    if (!add_handler (self, self->config->handlers->pdata[i], error))
      return FALSE;
  return TRUE;
}

/* the command line, else the config, else the standard socket for the standard system
 * daemon only: a groved on its own root or bus (tests, a second instance) has none */
static const char *
cri_socket_path (GroveDaemon *self)
{
  const char *path = self->cri_socket_override;

  if (path == NULL)
    path = self->config->cri_listen;
  if (path == NULL && self->bus_type == G_BUS_TYPE_SYSTEM
      && g_str_equal (self->config->root, GROVE_DEFAULT_ROOT)
      && g_str_equal (self->config->runroot, GROVE_DEFAULT_RUNROOT))
    path = GROVE_DEFAULT_CRI_SOCKET;
  return path != NULL && path[0] != '\0' ? path : NULL;
}

static gboolean
serve_cri (GroveDaemon *self, GError **error)
{
  const char *path = cri_socket_path (self);
  g_autoptr (GTlsCertificate) certificate = NULL;

  if (path == NULL)
    {
      g_debug ("no CRI socket configured");
      return TRUE;
    }
  self->cri_server = grove_grpc_server_new (path, error);
  if (self->cri_server == NULL)
    return FALSE;
  if (self->config->stream_tls_cert != NULL)
    {
      certificate = g_tls_certificate_new_from_files (self->config->stream_tls_cert,
                                                      self->config->stream_tls_key, error);
      if (certificate == NULL)
        return g_prefix_error (
                   error, "the streaming server's certificate %s: ", self->config->stream_tls_cert),
               FALSE;
    }
  self->stream_server = grove_stream_server_new (
      self->engine, self->config->stream_address, self->config->stream_port,
      self->config->stream_token_lifetime, certificate, error);
  if (self->stream_server == NULL)
    return FALSE;
  self->cri_service = grove_cri_service_new (self->engine);
  grove_cri_service_set_stream_server (self->cri_service, self->stream_server);
  grove_cri_service_set_default_registry (self->cri_service,
                                          self->config->registries->default_registry);
  grove_cri_service_register (self->cri_service, self->cri_server);
  g_message ("serving the CRI (runtime.v1) on %s", path);
  return TRUE;
}

static const char *
bus_description (GroveDaemon *self)
{
  if (self->bus_address != NULL)
    return self->bus_address;
  return self->bus_type == G_BUS_TYPE_SESSION ? "the session bus" : "the system bus";
}

static void
name_acquired_cb (GDBusConnection *connection, const char *name, gpointer user_data)
{
  GroveDaemon *self = user_data;

  g_message ("serving %s on %s (root %s, runroot %s)", name, bus_description (self),
             self->config->root, self->config->runroot);
}

static void
name_lost_cb (GDBusConnection *connection, const char *name, gpointer user_data)
{
  GroveDaemon *self = user_data;
  g_autoptr (GError) error = NULL;

  g_set_error (&error, GROVE_ERROR, GROVE_ERROR_BUSY,
               "could not own or lost the D-Bus name %s (is another groved on this bus?)", name);
  quit (self, error);
}

static void
connection_closed_cb (GDBusConnection *connection, gboolean remote_peer_vanished, GError *error,
                      gpointer user_data)
{
  GroveDaemon *self = user_data;
  g_autoptr (GError) closed = NULL;

  g_set_error (&closed, GROVE_ERROR, GROVE_ERROR_FAILED, "the D-Bus connection closed: %s",
               error != NULL ? error->message : "by the bus");
  quit (self, closed);
}

/* auto: only on the system bus, where polkitd is; callers elsewhere are the bus owner's */
static gboolean
polkit_wanted (GroveDaemon *self)
{
  if (self->config->polkit == GROVE_CONFIG_POLKIT_AUTO)
    return self->bus_type == G_BUS_TYPE_SYSTEM;
  return self->config->polkit == GROVE_CONFIG_POLKIT_YES;
}

static void
serve (GroveDaemon *self, GDBusConnection *connection)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveAuthority) authority
      = grove_authority_new (polkit_wanted (self) ? connection : NULL);

  self->connection = g_object_ref (connection);
  g_dbus_connection_set_exit_on_close (connection, FALSE);
  self->closed_id
      = g_signal_connect (connection, "closed", G_CALLBACK (connection_closed_cb), self);
  self->service = grove_dbus_service_new (self->engine);
  grove_dbus_service_set_authority (self->service, authority);
  g_message ("calls that change something are %s", grove_authority_get_enabled (authority)
                                                       ? "checked with polkit"
                                                       : "not checked with polkit");
  if (!grove_dbus_service_export (self->service, connection, &error))
    {
      g_prefix_error (&error, "exporting the D-Bus objects: ");
      quit (self, error);
      return;
    }
  self->name_owner_id = g_bus_own_name_on_connection (connection, GROVE_DBUS_NAME,
                                                      G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                                      name_acquired_cb, name_lost_cb, self, NULL);
}

static void
bus_ready_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveDaemon) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) connection = NULL;

  if (self->bus_address != NULL)
    connection = g_dbus_connection_new_for_address_finish (result, &error);
  else
    connection = g_bus_get_finish (result, &error);
  if (g_cancellable_is_cancelled (self->cancellable))
    return;
  if (connection == NULL)
    {
      g_prefix_error (&error, "connecting to %s: ", bus_description (self));
      quit (self, error);
      return;
    }
  serve (self, connection);
}

static void
engine_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveDaemon) self = user_data;
  g_autoptr (GError) error = NULL;

  if (!grove_engine_load_finish (GROVE_ENGINE (source), result, &error))
    {
      if (!g_cancellable_is_cancelled (self->cancellable))
        {
          g_prefix_error (&error, "loading the pods and containers in %s: ", self->config->root);
          quit (self, error);
        }
      return;
    }
  if (g_cancellable_is_cancelled (self->cancellable))
    return;
  if (!serve_cri (self, &error))
    {
      g_prefix_error (&error, "serving the CRI: ");
      quit (self, error);
      return;
    }
  g_debug ("engine loaded; connecting to D-Bus");
  if (self->bus_address != NULL)
    g_dbus_connection_new_for_address (self->bus_address,
                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
                                           | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                       NULL, self->cancellable, bus_ready_cb, g_object_ref (self));
  else
    g_bus_get (self->bus_type, self->cancellable, bus_ready_cb, g_object_ref (self));
}

/* new handlers are added; anything else that changed needs a restart */
static void
reload_handlers (GroveDaemon *self, GroveConfig *config)
{
  GHashTableIter iter;
  gpointer name = NULL;

  for (guint i = 0; i < config->handlers->len; i++)
    {
      const GroveHandlerConfig *handler = config->handlers->pdata[i];
      g_autofree char *argv = join_argv (handler->argv);
      const char *running = g_hash_table_lookup (self->running_handlers, handler->name);
      g_autoptr (GError) error = NULL;

      if (running != NULL && !g_str_equal (running, argv))
        g_message ("reload: runtime handler %s changed to '%s': needs a restart", handler->name,
                   argv);
      if (running != NULL || grove_config_get_handler (self->config, handler->name) != NULL)
        continue;
      if (!add_handler (self, handler, &error))
        g_warning ("reload: %s", error->message);
      else if (g_hash_table_contains (self->running_handlers, handler->name))
        g_message ("reload: added runtime handler %s (%s)", handler->name, argv);
    }
  g_hash_table_iter_init (&iter, self->running_handlers);
  while (g_hash_table_iter_next (&iter, &name, NULL))
    if (grove_config_get_handler (config, name) == NULL)
      g_message ("reload: runtime handler %s was removed: needs a restart", (const char *)name);
}

/* registries apply to the next pull at once */
static void
reload_registries (GroveDaemon *self, GroveConfig *config)
{
  GroveRegistryConfig *registries = config->registries;

  config->registries = self->config->registries;
  self->config->registries = registries;
  if (self->store != NULL)
    grove_store_set_registry_config (self->store, registries);
  if (self->cri_service != NULL)
    grove_cri_service_set_default_registry (self->cri_service, registries->default_registry);
  g_message ("reload: [registries] and [registry.HOST] apply to the next pull");
}

static void
reload_setting (const char *group_key, const char *running, const char *wanted)
{
  if (g_strcmp0 (running, wanted) != 0)
    g_message ("reload: %s changed from '%s' to '%s': needs a restart", group_key,
               running != NULL ? running : "(none)", wanted != NULL ? wanted : "(none)");
}

static gboolean
sighup_cb (gpointer user_data)
{
  GroveDaemon *self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveConfig) config = NULL;
  GroveConfig *running = self->config;

  g_message ("SIGHUP: reloading the configuration");
  config = grove_config_load (self->config_path, &error);
  if (config == NULL)
    {
      g_warning ("reload failed, keeping the running configuration: %s", error->message);
      return G_SOURCE_CONTINUE;
    }
  apply_overrides (self, config);
  reload_setting ("[storage] root", running->root, config->root);
  reload_setting ("[storage] runroot", running->runroot, config->runroot);
  reload_setting ("[runtime] conmon", running->conmon, config->conmon);
  reload_setting ("[runtime] pause", running->pause, config->pause);
  reload_setting ("[runtime] cgroup_parent", running->cgroup_parent, config->cgroup_parent);
  reload_setting ("[runtime] default_handler", running->default_handler, config->default_handler);
  reload_setting ("[runtime] trusted_handler", running->trusted_handler, config->trusted_handler);
  reload_setting ("[runtime] seccomp_profile", running->seccomp_profile, config->seccomp_profile);
  if (running->polkit != config->polkit)
    g_message ("reload: [daemon] polkit changed: needs a restart");
  reload_setting ("[cri] listen", running->cri_listen, config->cri_listen);
  if (self->engine != NULL)
    reload_handlers (self, config);
  reload_registries (self, config);
  g_message ("reload done");
  return G_SOURCE_CONTINUE;
}

static gboolean
sigterm_cb (gpointer user_data)
{
  GroveDaemon *self = user_data;

  g_message ("shutting down on a signal; containers keep running");
  quit (self, NULL);
  return G_SOURCE_CONTINUE;
}

/* stop serving first, so no request reaches an engine that is going away */
static void
shut_down (GroveDaemon *self)
{
  for (guint i = 0; i < G_N_ELEMENTS (self->signal_ids); i++)
    g_clear_handle_id (&self->signal_ids[i], g_source_remove);
  g_clear_handle_id (&self->name_owner_id, g_bus_unown_name);
  if (self->cri_server != NULL)
    grove_grpc_server_shutdown (self->cri_server);
  g_clear_object (&self->cri_server);
  g_clear_object (&self->cri_service);
  if (self->stream_server != NULL)
    grove_stream_server_shutdown (self->stream_server);
  g_clear_object (&self->stream_server);
  if (self->service != NULL)
    grove_dbus_service_unexport (self->service);
  g_clear_object (&self->service);
  if (self->connection != NULL)
    {
      g_clear_signal_handler (&self->closed_id, self->connection);
      g_dbus_connection_flush_sync (self->connection, NULL, NULL);
    }
  g_clear_object (&self->connection);
  g_clear_object (&self->engine);
  g_clear_object (&self->store);
}

/**
 * grove_daemon_run:
 * @self: a #GroveDaemon
 * @error: return location
 *
 * Opens the store and engine, serves them on D-Bus and runs the main loop until SIGTERM or
 * SIGINT (a clean stop) or a failure: the store in use by another groved, the engine failing
 * to load, the bus unreachable or the name taken or lost.
 *
 * Returns: %TRUE after a clean stop, %FALSE with @error set on failure
 */
gboolean
grove_daemon_run (GroveDaemon *self, GError **error)
{
  g_return_val_if_fail (GROVE_IS_DAEMON (self), FALSE);
  g_return_val_if_fail (self->engine == NULL, FALSE);

  self->signal_ids[0] = g_unix_signal_add (SIGTERM, sigterm_cb, self);
  self->signal_ids[1] = g_unix_signal_add (SIGINT, sigterm_cb, self);
  self->signal_ids[2] = g_unix_signal_add (SIGHUP, sighup_cb, self);
  if (!open_engine (self, error))
    {
      shut_down (self);
      return FALSE;
    }
  grove_engine_load_async (self->engine, self->cancellable, engine_loaded_cb, g_object_ref (self));
  g_main_loop_run (self->loop);
  shut_down (self);
  if (self->exit_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&self->exit_error));
      return FALSE;
    }
  g_message ("stopped");
  return TRUE;
}
