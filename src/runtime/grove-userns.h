/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

gboolean grove_userns_read_options (JsonObject *pod_config, JsonObject **out_mappings,
                                    GError **error);
gboolean grove_userns_root_ids (JsonObject *mappings, guint32 *out_uid, guint32 *out_gid);
gboolean grove_userns_create (const char *holder, JsonObject *mappings, const char *userns_path,
                              const char *netns_path, GError **error);
int grove_userns_open (const char *userns_path, GError **error);
gboolean grove_userns_remove (const char *userns_path, GError **error);
gboolean grove_userns_probe (const char *holder, const char *dir, GError **error);

G_END_DECLS
