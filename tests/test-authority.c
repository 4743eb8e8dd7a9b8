/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestAuthority"

/*
 * GroveAuthority on a private bus (GTestDBus) where polkit is not: with checks disabled
 * everything goes; enabled, root goes without polkit being asked, and everything else it
 * cannot ask about is refused, naming the action. tests/test-polkit.sh covers the answers
 * of a real polkitd.
 */

#include <string.h>
#include <unistd.h>

#include "grove-authority.h"
#include "grove-error.h"
#include "grove-test-utils.h"

typedef struct
{
  GTestDBus *bus;
  GDBusConnection *connection;
} Fixture;

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fx->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (fx->bus);
  fx->connection = g_dbus_connection_new_for_address_sync (
      g_test_dbus_get_bus_address (fx->bus),
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_dbus_connection_close_sync (fx->connection, NULL, NULL);
  g_clear_object (&fx->connection);
  g_test_dbus_down (fx->bus);
  g_clear_object (&fx->bus);
}

/* runs a check to its end; its error, if any, in @error */
static gboolean
check (GroveAuthority *authority, const char *sender, GCancellable *cancellable, GError **error)
{
  g_autoptr (GAsyncResult) result = NULL;

  grove_authority_check_async (authority, sender, GROVE_ACTION_RUN_PRIVILEGED,
                               GROVE_AUTHORITY_FLAGS_NONE, cancellable, grove_test_result_cb,
                               &result);
  grove_test_wait_result (&result);
  return grove_authority_check_finish (authority, result, error);
}

static void
test_disabled (Fixture *fx, gconstpointer data)
{
  g_autoptr (GroveAuthority) authority = grove_authority_new (NULL);
  g_autoptr (GError) error = NULL;

  g_assert_false (grove_authority_get_enabled (authority));
  /* nobody is asked, so even a call without a sender goes */
  g_assert_true (check (authority, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (check (authority, ":1.4242", NULL, &error));
  g_assert_no_error (error);
}

static void
test_root (Fixture *fx, gconstpointer data)
{
  g_autoptr (GroveAuthority) authority = grove_authority_new (fx->connection);
  g_autoptr (GError) error = NULL;

  if (getuid () != 0)
    {
      g_test_skip ("needs root");
      return;
    }
  g_assert_true (grove_authority_get_enabled (authority));
  /* this connection is root's; there is no polkit on this bus to ask */
  g_assert_true (
      check (authority, g_dbus_connection_get_unique_name (fx->connection), NULL, &error));
  g_assert_no_error (error);
}

static void
test_refused (Fixture *fx, gconstpointer data)
{
  g_autoptr (GroveAuthority) authority = grove_authority_new (fx->connection);
  g_autoptr (GError) error = NULL;

  g_assert_false (check (authority, NULL, NULL, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, GROVE_ACTION_RUN_PRIVILEGED));
  g_assert_nonnull (strstr (error->message, "no sender"));
  g_clear_error (&error);

  /* a caller that has left cannot be identified: fail closed */
  g_assert_false (check (authority, ":1.4242", NULL, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_PERMISSION_DENIED);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, GROVE_ACTION_RUN_PRIVILEGED " for :1.4242"));
  g_assert_nonnull (strstr (error->message, "the bus does not say who it is"));
}

static void
test_cancelled (Fixture *fx, gconstpointer data)
{
  g_autoptr (GroveAuthority) authority = grove_authority_new (fx->connection);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GError) error = NULL;

  g_cancellable_cancel (cancellable);
  g_assert_false (
      check (authority, g_dbus_connection_get_unique_name (fx->connection), cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_setup, func, fixture_teardown)
  ADD ("/grove/authority/disabled", test_disabled);
  ADD ("/grove/authority/root", test_root);
  ADD ("/grove/authority/refused", test_refused);
  ADD ("/grove/authority/cancelled", test_cancelled);
#undef ADD
  return g_test_run ();
}
