/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveDBusExec"

/*
 * One org.grove.Exec1 object: the bus's view of a GroveExecSession started by
 * Container1.Exec. It belongs to the client that started it: only that client may resize
 * or signal it, and when that client leaves the bus the process is killed, as a terminal
 * session ends with its terminal. After the process has ended the object stays a while so
 * that a client that missed the Exited signal can read ExitCode.
 */

#include <signal.h>

#include "grove-dbus-exec.h"
#include "grove-dbus-generated.h"
#include "grove-utils.h"

/* how long an ended session stays on the bus for its client to read the exit code */
#define EXEC_KEEP_SECONDS 60

struct _GroveDBusExec
{
  GObject parent_instance;

  GroveExecSession *session;
  GDBusObjectManagerServer *manager;
  GroveDBusExec1 *iface;
  char *path;
  char *owner;
  guint watch_id;
  guint expire_id;
  gboolean owner_gone;
  gboolean closed;
};

enum
{
  SIGNAL_CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GroveDBusExec, grove_dbus_exec, G_TYPE_OBJECT)

static void
grove_dbus_exec_dispose (GObject *object)
{
  grove_dbus_exec_close (GROVE_DBUS_EXEC (object));
  G_OBJECT_CLASS (grove_dbus_exec_parent_class)->dispose (object);
}

static void
grove_dbus_exec_finalize (GObject *object)
{
  GroveDBusExec *self = GROVE_DBUS_EXEC (object);

  g_clear_object (&self->session);
  g_clear_object (&self->manager);
  g_clear_object (&self->iface);
  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->owner, g_free);
  G_OBJECT_CLASS (grove_dbus_exec_parent_class)->finalize (object);
}

static void
grove_dbus_exec_class_init (GroveDBusExecClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = grove_dbus_exec_dispose;
  object_class->finalize = grove_dbus_exec_finalize;

  /**
   * GroveDBusExec::closed:
   * @self: the object
   *
   * The object has left the bus; its owner may forget it.
   */
  signals[SIGNAL_CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                         NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
grove_dbus_exec_init (GroveDBusExec *self)
{
}

static gboolean
check_owner (GroveDBusExec *self, GDBusMethodInvocation *invocation)
{
  if (g_strcmp0 (g_dbus_method_invocation_get_sender (invocation), self->owner) == 0)
    return TRUE;
  g_dbus_method_invocation_return_error (invocation, GROVE_ERROR, GROVE_ERROR_PERMISSION_DENIED,
                                         "exec %s belongs to the client that started it",
                                         grove_exec_session_get_id (self->session));
  return FALSE;
}

static gboolean
handle_resize (GroveDBusExec1 *iface, GDBusMethodInvocation *invocation, guint rows, guint cols,
               GroveDBusExec *self)
{
  g_autoptr (GError) local_error = NULL;

  if (!check_owner (self, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  if (!grove_exec_session_resize (self->session, rows, cols, &local_error))
    g_dbus_method_invocation_return_gerror (invocation, local_error);
  else
    grove_dbus_exec1_complete_resize (iface, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_kill (GroveDBusExec1 *iface, GDBusMethodInvocation *invocation, int signal,
             GroveDBusExec *self)
{
  g_autoptr (GError) local_error = NULL;

  if (!check_owner (self, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  if (!grove_exec_session_kill (self->session, signal, &local_error))
    g_dbus_method_invocation_return_gerror (invocation, local_error);
  else
    grove_dbus_exec1_complete_kill (iface, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
expire_cb (gpointer user_data)
{
  GroveDBusExec *self = user_data;

  self->expire_id = 0;
  grove_dbus_exec_close (self);
  return G_SOURCE_REMOVE;
}

static void
session_exited_cb (GroveExecSession *session, int exit_code, GroveDBusExec *self)
{
  grove_dbus_exec1_set_state (self->iface, "exited");
  grove_dbus_exec1_set_exit_code (self->iface, exit_code);
  /* PropertiesChanged goes out before Exited, so the state is final when it comes */
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self->iface));
  grove_dbus_exec1_emit_exited (self->iface, exit_code);
  if (self->owner_gone)
    grove_dbus_exec_close (self);
  else
    self->expire_id = g_timeout_add_seconds (EXEC_KEEP_SECONDS, expire_cb, self);
}

static void
owner_vanished_cb (GDBusConnection *connection, const char *name, gpointer user_data)
{
  GroveDBusExec *self = user_data;

  self->owner_gone = TRUE;
  g_clear_handle_id (&self->watch_id, g_bus_unwatch_name);
  if (grove_exec_session_get_state (self->session) == GROVE_EXEC_STATE_EXITED)
    {
      grove_dbus_exec_close (self);
      return;
    }
  g_debug ("exec %s: its client %s left the bus, killing the process",
           grove_exec_session_get_id (self->session), name);
  grove_exec_session_kill (self->session, SIGKILL, NULL);
}

/**
 * grove_dbus_exec_new:
 * @session: a running session
 * @manager: the object manager to export the object with
 * @path: the object's path
 * @owner: the unique bus name of the client that started the session
 * @argv: (array zero-terminated=1): the session's command
 *
 * Exports @session as an org.grove.Exec1 object, until it has ended and its client read
 * it, or grove_dbus_exec_close().
 *
 * Returns: (transfer full): the new object
 */
GroveDBusExec *
grove_dbus_exec_new (GroveExecSession *session, GDBusObjectManagerServer *manager, const char *path,
                     const char *owner, const char *const *argv)
{
  g_autoptr (GroveDBusExec) self = g_object_new (GROVE_TYPE_DBUS_EXEC, NULL);
  g_autoptr (GroveDBusObjectSkeleton) object = grove_dbus_object_skeleton_new (path);
  g_autoptr (GDBusConnection) connection = NULL;

  g_return_val_if_fail (GROVE_IS_EXEC_SESSION (session), NULL);
  self->session = g_object_ref (session);
  self->manager = g_object_ref (manager);
  self->path = g_strdup (path);
  self->owner = g_strdup (owner);
  self->iface = grove_dbus_exec1_skeleton_new ();
  grove_dbus_exec1_set_version (self->iface, 1);
  grove_dbus_exec1_set_id (self->iface, grove_exec_session_get_id (session));
  grove_dbus_exec1_set_container_id (self->iface, grove_exec_session_get_container_id (session));
  grove_dbus_exec1_set_argv (self->iface, argv);
  grove_dbus_exec1_set_tty (self->iface, grove_exec_session_get_tty (session));
  grove_dbus_exec1_set_pid (self->iface, grove_exec_session_get_pid (session));
  grove_dbus_exec1_set_state (self->iface, "running");
  grove_dbus_exec1_set_exit_code (self->iface, -1);
  g_signal_connect_object (self->iface, "handle-resize", G_CALLBACK (handle_resize), self, 0);
  g_signal_connect_object (self->iface, "handle-kill", G_CALLBACK (handle_kill), self, 0);
  grove_dbus_object_skeleton_set_exec1 (object, self->iface);
  g_dbus_object_manager_server_export (manager, G_DBUS_OBJECT_SKELETON (object));
  g_signal_connect_object (session, "exited", G_CALLBACK (session_exited_cb), self, 0);
  connection = g_dbus_object_manager_server_get_connection (manager);
  if (connection != NULL && owner != NULL)
    self->watch_id = g_bus_watch_name_on_connection (
        connection, owner, G_BUS_NAME_WATCHER_FLAGS_NONE, NULL, owner_vanished_cb, self, NULL);
  /* a process quicker than the engine's reply has ended already */
  if (grove_exec_session_get_state (session) == GROVE_EXEC_STATE_EXITED)
    session_exited_cb (session, grove_exec_session_get_exit_code (session), self);
  return g_steal_pointer (&self);
}

/**
 * grove_dbus_exec_get_path:
 * @self: a #GroveDBusExec
 *
 * Returns: the object's path
 */
const char *
grove_dbus_exec_get_path (GroveDBusExec *self)
{
  g_return_val_if_fail (GROVE_IS_DBUS_EXEC (self), NULL);
  return self->path;
}

/**
 * grove_dbus_exec_close:
 * @self: a #GroveDBusExec
 *
 * Takes the object off the bus, killing its process if it still runs, and emits
 * #GroveDBusExec::closed. Closing twice does nothing.
 */
void
grove_dbus_exec_close (GroveDBusExec *self)
{
  g_return_if_fail (GROVE_IS_DBUS_EXEC (self));
  if (self->closed)
    return;
  self->closed = TRUE;
  if (grove_exec_session_get_state (self->session) == GROVE_EXEC_STATE_RUNNING)
    grove_exec_session_kill (self->session, SIGKILL, NULL);
  g_signal_handlers_disconnect_by_data (self->session, self);
  g_clear_handle_id (&self->watch_id, g_bus_unwatch_name);
  g_clear_handle_id (&self->expire_id, g_source_remove);
  g_dbus_object_manager_server_unexport (self->manager, self->path);
  g_signal_emit (self, signals[SIGNAL_CLOSED], 0);
}
