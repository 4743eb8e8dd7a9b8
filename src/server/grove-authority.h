/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * GROVE_ACTION_MANAGE_CONTAINERS:
 *
 * The polkit action of every call that changes pods, containers or images.
 */
#define GROVE_ACTION_MANAGE_CONTAINERS "org.grove.manage-containers"

/**
 * GROVE_ACTION_RUN_PRIVILEGED:
 *
 * The polkit action of creating a privileged pod or container, or one that shares a
 * namespace of the host; it implies %GROVE_ACTION_MANAGE_CONTAINERS.
 */
#define GROVE_ACTION_RUN_PRIVILEGED "org.grove.run-privileged"

/**
 * GroveAuthorityFlags:
 * @GROVE_AUTHORITY_FLAGS_NONE: no flags
 * @GROVE_AUTHORITY_FLAGS_INTERACTIVE: the caller allows polkit to ask for a password
 *   (it set %G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION on its call)
 *
 * How a check may go.
 */
typedef enum
{
  GROVE_AUTHORITY_FLAGS_NONE = 0,
  GROVE_AUTHORITY_FLAGS_INTERACTIVE = 1 << 0,
} GroveAuthorityFlags;

#define GROVE_TYPE_AUTHORITY (grove_authority_get_type ())
G_DECLARE_FINAL_TYPE (GroveAuthority, grove_authority, GROVE, AUTHORITY, GObject)

GroveAuthority *grove_authority_new (GDBusConnection *connection);
gboolean grove_authority_get_enabled (GroveAuthority *self);
void grove_authority_check_async (GroveAuthority *self, const char *sender, const char *action_id,
                                  GroveAuthorityFlags flags, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
gboolean grove_authority_check_finish (GroveAuthority *self, GAsyncResult *result, GError **error);

G_END_DECLS
