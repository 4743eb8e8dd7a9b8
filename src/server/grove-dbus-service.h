/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "grove-authority.h"
#include "grove-engine.h"

G_BEGIN_DECLS

#define GROVE_DBUS_NAME "org.grove.Runtime1"
#define GROVE_DBUS_PATH "/org/grove/Runtime1"

#define GROVE_TYPE_DBUS_SERVICE (grove_dbus_service_get_type ())
G_DECLARE_FINAL_TYPE (GroveDBusService, grove_dbus_service, GROVE, DBUS_SERVICE, GObject)

GroveDBusService *grove_dbus_service_new (GroveEngine *engine);
gboolean grove_dbus_service_export (GroveDBusService *self, GDBusConnection *connection,
                                    GError **error);
void grove_dbus_service_unexport (GroveDBusService *self);
void grove_dbus_service_set_authority (GroveDBusService *self, GroveAuthority *authority);

G_END_DECLS
