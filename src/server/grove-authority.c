/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveAuthority"

/*
 * Asks polkit whether a D-Bus caller may do something, over plain GDBus (no libpolkit):
 * org.freedesktop.PolicyKit1.Authority.CheckAuthorization with the caller's unique bus name
 * as a "system-bus-name" subject, on the bus groved serves on (where polkitd must be too).
 *
 * An authority made without a connection has its checks disabled and allows everything:
 * groved on a session or private bus, or with `[daemon] polkit = no`. An enabled one fails
 * closed: polkit missing, a polkit error or a caller that cannot be identified is a denial.
 */

#include "grove-authority.h"
#include "grove-utils.h"

#define DBUS_NAME "org.freedesktop.DBus"
#define DBUS_PATH "/org/freedesktop/DBus"
#define POLKIT_NAME "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"
/* CheckAuthorization's flag AllowUserInteraction */
#define POLKIT_CHECK_ALLOW_USER_INTERACTION 1u

struct _GroveAuthority
{
  GObject parent_instance;
  GDBusConnection *connection; /* NULL: checks disabled */
};

G_DEFINE_TYPE (GroveAuthority, grove_authority, G_TYPE_OBJECT)

/* what a check needs between its two round trips */
typedef struct
{
  char *sender;
  char *action_id;
  GroveAuthorityFlags flags;
} Check;

static void
check_free (gpointer data)
{
  Check *check = data;

  g_free (check->sender);
  g_free (check->action_id);
  g_free (check);
}

static void
grove_authority_finalize (GObject *object)
{
  GroveAuthority *self = GROVE_AUTHORITY (object);

  g_clear_object (&self->connection);
  G_OBJECT_CLASS (grove_authority_parent_class)->finalize (object);
}

static void
grove_authority_class_init (GroveAuthorityClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = grove_authority_finalize;
}

static void
grove_authority_init (GroveAuthority *self)
{
}

/**
 * grove_authority_new:
 * @connection: (nullable): the message bus connection on which callers and polkitd are;
 *   %NULL disables the checks
 *
 * Makes an authority that asks polkit on @connection, or, without a connection, one that
 * allows everything.
 *
 * Returns: (transfer full): a new #GroveAuthority
 */
GroveAuthority *
grove_authority_new (GDBusConnection *connection)
{
  GroveAuthority *self;

  g_return_val_if_fail (connection == NULL || G_IS_DBUS_CONNECTION (connection), NULL);
  self = g_object_new (GROVE_TYPE_AUTHORITY, NULL);
  if (connection != NULL)
    self->connection = g_object_ref (connection);
  return self;
}

/**
 * grove_authority_get_enabled:
 * @self: a #GroveAuthority
 *
 * Returns: %TRUE when calls are checked with polkit, %FALSE when everything is allowed
 */
gboolean
grove_authority_get_enabled (GroveAuthority *self)
{
  g_return_val_if_fail (GROVE_IS_AUTHORITY (self), FALSE);
  return self->connection != NULL;
}

/* polkit absent: not on the bus and not activatable, or its activation failed */
static gboolean
error_is_polkit_missing (const GError *error)
{
  g_autofree char *remote = g_dbus_error_get_remote_error (error);

  if (g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN)
      || g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER))
    return TRUE;
  return remote != NULL && g_str_has_prefix (remote, "org.freedesktop.DBus.Error.Spawn.");
}

/* takes @error: a failure to get an answer is a denial, except a cancellation */
static void
return_check_error (GTask *task, GError *error, gboolean from_polkit)
{
  Check *check = g_task_get_task_data (task);
  g_autoptr (GError) owned = error;
  gboolean polkit_missing = error_is_polkit_missing (owned);

  if (g_error_matches (owned, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_task_return_error (task, g_steal_pointer (&owned));
      return;
    }
  g_dbus_error_strip_remote_error (owned);
  if (from_polkit && polkit_missing)
    g_task_return_new_error (task, GROVE_ERROR, GROVE_ERROR_PERMISSION_DENIED,
                             "cannot check %s for %s: polkit is not running (%s)", check->action_id,
                             check->sender, owned->message);
  else
    g_task_return_new_error (task, GROVE_ERROR, GROVE_ERROR_PERMISSION_DENIED,
                             "cannot check %s for %s: %s: %s", check->action_id, check->sender,
                             from_polkit ? "polkit failed" : "the bus does not say who it is",
                             owned->message);
}

static void
check_authorization_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  Check *check = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  gboolean authorized = FALSE;
  gboolean challenge = FALSE;

  if (reply == NULL)
    {
      return_check_error (task, g_steal_pointer (&error), TRUE);
      return;
    }
  g_variant_get (reply, "((bb@a{ss}))", &authorized, &challenge, NULL);
  if (authorized)
    {
      g_debug ("polkit allows %s to %s", check->sender, check->action_id);
      g_task_return_boolean (task, TRUE);
      return;
    }
  /* a challenge means a password would do, had the caller allowed polkit to ask for one */
  g_task_return_new_error (
      task, GROVE_ERROR, GROVE_ERROR_PERMISSION_DENIED, "not authorized for %s%s", check->action_id,
      !challenge ? ""
      : (check->flags & GROVE_AUTHORITY_FLAGS_INTERACTIVE) != 0
          ? ": authentication failed or was dismissed"
          : ": authentication is required (call with interactive authorization allowed, with "
            "an authentication agent running)");
}

static void
ask_polkit (GroveAuthority *self, GTask *task)
{
  Check *check = g_task_get_task_data (task);
  gboolean interactive = (check->flags & GROVE_AUTHORITY_FLAGS_INTERACTIVE) != 0;
  GVariantBuilder subject;

  g_variant_builder_init (&subject, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&subject, "{sv}", "name", g_variant_new_string (check->sender));
  /* a password prompt waits for a person, so it gets no timeout of ours */
  g_dbus_connection_call (
      self->connection, POLKIT_NAME, POLKIT_PATH, POLKIT_INTERFACE, "CheckAuthorization",
      g_variant_new ("((sa{sv})sa{ss}us)", "system-bus-name", &subject, check->action_id, NULL,
                     interactive ? POLKIT_CHECK_ALLOW_USER_INTERACTION : 0u, ""),
      G_VARIANT_TYPE ("((bba{ss}))"), G_DBUS_CALL_FLAGS_NONE, interactive ? G_MAXINT : -1,
      g_task_get_cancellable (task), check_authorization_cb, task);
}

static void
get_unix_user_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  GroveAuthority *self = NULL;
  Check *check = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  guint32 uid = 0;

  if (reply == NULL)
    {
      return_check_error (task, g_steal_pointer (&error), FALSE);
      return;
    }
  g_variant_get (reply, "(u)", &uid);
  /*
   * Root goes through without asking. polkitd authorizes uid 0 for every action anyway, so
   * the answer would be the same; what skipping changes is that root, who can run runc and
   * edit groved's state directly, still manages its containers while polkitd is stopped or
   * broken, and that root's calls cost no extra round trip. Everyone else fails closed.
   */
  if (uid == 0)
    {
      g_debug ("%s is root: %s allowed without asking polkit", check->sender, check->action_id);
      g_task_return_boolean (task, TRUE);
      return;
    }
  self = g_task_get_source_object (task);
  ask_polkit (self, g_steal_pointer (&task));
}

/**
 * grove_authority_check_async:
 * @self: a #GroveAuthority
 * @sender: (nullable): the caller's unique bus name
 * @action_id: a polkit action, e.g. %GROVE_ACTION_MANAGE_CONTAINERS
 * @flags: how the check may go
 * @cancellable: (nullable): a #GCancellable
 * @callback: called with the answer
 * @user_data: data for @callback
 *
 * Asks whether @sender may do @action_id. With checks disabled, the answer is yes at once;
 * root (uid 0, as the bus says) is allowed without asking polkit; everyone else gets what
 * polkit says, and a denial when polkit cannot be asked. With
 * %GROVE_AUTHORITY_FLAGS_INTERACTIVE, polkit may ask the caller for a password.
 */
void
grove_authority_check_async (GroveAuthority *self, const char *sender, const char *action_id,
                             GroveAuthorityFlags flags, GCancellable *cancellable,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  Check *check = NULL;

  g_return_if_fail (GROVE_IS_AUTHORITY (self));
  g_return_if_fail (action_id != NULL);
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, grove_authority_check_async);
  if (self->connection == NULL)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  if (sender == NULL)
    {
      g_task_return_new_error (task, GROVE_ERROR, GROVE_ERROR_PERMISSION_DENIED,
                               "cannot check %s: the call has no sender", action_id);
      return;
    }
  check = g_new0 (Check, 1);
  check->sender = g_strdup (sender);
  check->action_id = g_strdup (action_id);
  check->flags = flags;
  g_task_set_task_data (task, check, check_free);
  g_dbus_connection_call (self->connection, DBUS_NAME, DBUS_PATH, DBUS_NAME,
                          "GetConnectionUnixUser", g_variant_new ("(s)", sender),
                          G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, cancellable,
                          get_unix_user_cb, g_steal_pointer (&task));
}

/**
 * grove_authority_check_finish:
 * @self: a #GroveAuthority
 * @result: the #GAsyncResult given to the callback
 * @error: return location
 *
 * Returns: %TRUE when the caller may go on; %FALSE with @error set, a
 *   %GROVE_ERROR_PERMISSION_DENIED naming the action (or %G_IO_ERROR_CANCELLED)
 */
gboolean
grove_authority_check_finish (GroveAuthority *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (GROVE_IS_AUTHORITY (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
