/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "grove-store.h"

G_BEGIN_DECLS

#define GROVE_TYPE_DBUS_JOB (grove_dbus_job_get_type ())
G_DECLARE_FINAL_TYPE (GroveDBusJob, grove_dbus_job, GROVE, DBUS_JOB, GObject)

GroveDBusJob *grove_dbus_job_new (GDBusObjectManagerServer *manager, const char *path,
                                  const char *operation);
const char *grove_dbus_job_get_path (GroveDBusJob *self);
GCancellable *grove_dbus_job_get_cancellable (GroveDBusJob *self);
gpointer grove_dbus_job_get_iface (GroveDBusJob *self);
void grove_dbus_job_import_progress (const GroveImportProgress *progress, gpointer user_data);
void grove_dbus_job_pull_progress (const GrovePullProgress *progress, gpointer user_data);
void grove_dbus_job_finish (GroveDBusJob *self, const char *const *result, const GError *error);
void grove_dbus_job_close (GroveDBusJob *self);

G_END_DECLS
