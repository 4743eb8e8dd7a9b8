/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "grove-exec-session.h"

G_BEGIN_DECLS

#define GROVE_TYPE_DBUS_EXEC (grove_dbus_exec_get_type ())
G_DECLARE_FINAL_TYPE (GroveDBusExec, grove_dbus_exec, GROVE, DBUS_EXEC, GObject)

GroveDBusExec *grove_dbus_exec_new (GroveExecSession *session, GDBusObjectManagerServer *manager,
                                    const char *path, const char *owner, const char *const *argv);
const char *grove_dbus_exec_get_path (GroveDBusExec *self);
void grove_dbus_exec_close (GroveDBusExec *self);

G_END_DECLS
