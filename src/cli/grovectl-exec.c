/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveCtl"

/*
 * grovectl exec: hands grovectl's own stdin, stdout and stderr to groved (Container1.Exec
 * with fd passing), so the process in the container writes straight to the user's terminal
 * or pipe; grovectl only waits for the Exited signal, passes on window size changes and
 * signals, and exits with the process's exit code. With a terminal, grovectl puts its own
 * in raw mode so that every key, Ctrl-C included, reaches the process.
 */

#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "grove-dbus-service.h"
#include "grovectl-exec.h"

typedef struct
{
  GDBusConnection *connection;
  GMainLoop *loop;
  char *path;         /* the session, once Exec returned */
  GHashTable *exited; /* path → exit code, for Exited signals that came before the reply */
  gboolean done;
  int exit_code;
  gboolean daemon_gone;
  int size_fd; /* the terminal whose size the process's terminal follows, or -1 */
} ExecClient;

static void
exec_client_clear (ExecClient *client)
{
  g_clear_pointer (&client->loop, g_main_loop_unref);
  g_clear_pointer (&client->path, g_free);
  g_clear_pointer (&client->exited, g_hash_table_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (ExecClient, exec_client_clear)

static void
exited_cb (GDBusConnection *connection, const char *sender, const char *path, const char *interface,
           const char *signal, GVariant *parameters, gpointer user_data)
{
  ExecClient *client = user_data;
  int exit_code = -1;

  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(i)")))
    return;
  g_variant_get (parameters, "(i)", &exit_code);
  if (client->path == NULL)
    {
      g_hash_table_insert (client->exited, g_strdup (path), GINT_TO_POINTER (exit_code));
      return;
    }
  if (!g_str_equal (path, client->path))
    return;
  client->exit_code = exit_code;
  client->done = TRUE;
  g_main_loop_quit (client->loop);
}

static void
daemon_vanished_cb (GDBusConnection *connection, const char *name, gpointer user_data)
{
  ExecClient *client = user_data;

  client->daemon_gone = TRUE;
  g_main_loop_quit (client->loop);
}

static void
call_session (ExecClient *client, const char *method, GVariant *parameters)
{
  g_dbus_connection_call (client->connection, GROVE_DBUS_NAME, client->path, "org.grove.Exec1",
                          method, parameters, NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL, NULL);
}

static gboolean
window_changed_cb (gpointer user_data)
{
  ExecClient *client = user_data;
  struct winsize size = { 0 };

  if (client->path != NULL && ioctl (client->size_fd, TIOCGWINSZ, &size) == 0 && size.ws_row > 0)
    call_session (client, "Resize", g_variant_new ("(uu)", size.ws_row, size.ws_col));
  return G_SOURCE_CONTINUE;
}

static gboolean
forward_signal (ExecClient *client, int signal)
{
  if (client->path != NULL)
    call_session (client, "Kill", g_variant_new ("(i)", signal));
  return G_SOURCE_CONTINUE;
}

static gboolean
interrupt_cb (gpointer user_data)
{
  return forward_signal (user_data, SIGINT);
}

static gboolean
terminate_cb (gpointer user_data)
{
  return forward_signal (user_data, SIGTERM);
}

static gboolean
hangup_cb (gpointer user_data)
{
  return forward_signal (user_data, SIGHUP);
}

/* options for Container1.Exec, with grovectl's own stdio in @fds */
static GVariant *
exec_options (const GrovectlExecRequest *request, int size_fd, GUnixFDList *fds, GError **error)
{
  g_auto (GVariantBuilder) builder = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  const char *const streams[] = { "stdin", "stdout", "stderr" };
  struct winsize size = { 0 };

  for (int fd = request->interactive ? 0 : 1; fd <= 2; fd++)
    {
      int handle = g_unix_fd_list_append (fds, fd, error);

      if (handle < 0)
        return NULL;
      g_variant_builder_add (&builder, "{sv}", streams[fd], g_variant_new_handle (handle));
    }
  g_variant_builder_add (&builder, "{sv}", "tty", g_variant_new_boolean (request->tty));
  if (request->tty && size_fd >= 0 && ioctl (size_fd, TIOCGWINSZ, &size) == 0 && size.ws_row > 0)
    {
      g_variant_builder_add (&builder, "{sv}", "rows", g_variant_new_uint32 (size.ws_row));
      g_variant_builder_add (&builder, "{sv}", "cols", g_variant_new_uint32 (size.ws_col));
    }
  if (request->env != NULL)
    g_variant_builder_add (&builder, "{sv}", "env", g_variant_new_strv (request->env, -1));
  if (request->workdir != NULL)
    g_variant_builder_add (&builder, "{sv}", "workdir", g_variant_new_string (request->workdir));
  return g_variant_builder_end (&builder);
}

static gboolean
start_exec (ExecClient *client, const GrovectlExecRequest *request, GError **error)
{
  g_autoptr (GUnixFDList) fds = g_unix_fd_list_new ();
  g_autoptr (GVariant) reply = NULL;
  GVariant *options = exec_options (request, client->size_fd, fds, error);
  gpointer early = NULL;

  if (options == NULL)
    return FALSE;
  reply = g_dbus_connection_call_with_unix_fd_list_sync (
      client->connection, GROVE_DBUS_NAME, request->container_path, "org.grove.Container1", "Exec",
      g_variant_new ("(^as@a{sv})", request->argv, options), G_VARIANT_TYPE ("(o)"),
      G_DBUS_CALL_FLAGS_NONE, G_MAXINT, fds, NULL, NULL, error);
  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(o)", &client->path);
  /* a quick process may have ended before the reply came */
  if (g_hash_table_lookup_extended (client->exited, client->path, NULL, &early))
    {
      client->exit_code = GPOINTER_TO_INT (early);
      client->done = TRUE;
    }
  return TRUE;
}

/* puts grovectl's terminal in raw mode; *@saved gets what to restore */
static gboolean
make_raw (int fd, struct termios *saved)
{
  struct termios raw;

  if (tcgetattr (fd, saved) < 0)
    return FALSE;
  raw = *saved;
  cfmakeraw (&raw);
  return tcsetattr (fd, TCSADRAIN, &raw) == 0;
}

static gboolean
run_session (ExecClient *client, const GrovectlExecRequest *request, GError **error)
{
  guint subscription = g_dbus_connection_signal_subscribe (
      client->connection, GROVE_DBUS_NAME, "org.grove.Exec1", "Exited", NULL, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, exited_cb, client, NULL);
  guint watch = g_bus_watch_name_on_connection (client->connection, GROVE_DBUS_NAME,
                                                G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
                                                daemon_vanished_cb, client, NULL);
  guint sources[] = {
    g_unix_signal_add (SIGWINCH, window_changed_cb, client),
    g_unix_signal_add (SIGINT, interrupt_cb, client),
    g_unix_signal_add (SIGTERM, terminate_cb, client),
    g_unix_signal_add (SIGHUP, hangup_cb, client),
  };
  gboolean ok = start_exec (client, request, error);

  if (ok && !client->done && !client->daemon_gone)
    g_main_loop_run (client->loop);
  for (guint i = 0; i < G_N_ELEMENTS (sources); i++)
    g_source_remove (sources[i]);
  g_bus_unwatch_name (watch);
  g_dbus_connection_signal_unsubscribe (client->connection, subscription);
  if (ok && !client->done)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED,
                   _ ("groved left the bus before the command ended"));
      return FALSE;
    }
  return ok;
}

/**
 * grovectl_exec:
 * @connection: the bus groved is on
 * @request: what to run where
 * @out_status: (out): the command's exit code (128 + signal when it was killed)
 * @error: return location
 *
 * Runs a command in a container with grovectl's own stdio, and waits for it to end.
 *
 * Returns: %TRUE when the command ran
 */
gboolean
grovectl_exec (GDBusConnection *connection, const GrovectlExecRequest *request, int *out_status,
               GError **error)
{
  g_auto (ExecClient) client = { 0 };
  struct termios saved;
  gboolean raw = FALSE;
  gboolean ok = FALSE;

  client.connection = connection;
  client.loop = g_main_loop_new (NULL, FALSE);
  client.exited = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  client.size_fd = isatty (STDOUT_FILENO) ? STDOUT_FILENO : (isatty (STDIN_FILENO) ? 0 : -1);
  if (request->tty && request->interactive && isatty (STDIN_FILENO))
    raw = make_raw (STDIN_FILENO, &saved);
  ok = run_session (&client, request, error);
  if (raw)
    tcsetattr (STDIN_FILENO, TCSADRAIN, &saved);
  if (ok)
    *out_status = client.exit_code >= 0 ? client.exit_code : 255;
  return ok;
}
