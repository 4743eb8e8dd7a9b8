/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* reading protobuf's JSON mapping (grove-spec-json.c): members that are absent or null read
 * as the default; a member of the wrong type is an error naming `path.member` */
char *grove_spec_member_path (const char *path, const char *member);
JsonNode *grove_spec_lookup (JsonObject *obj, const char *member);
gboolean grove_spec_throw_expected (GError **error, const char *path, const char *member,
                                    const char *expected);
gboolean grove_spec_read_object (JsonObject *obj, const char *path, const char *member,
                                 JsonObject **out, GError **error);
gboolean grove_spec_read_array (JsonObject *obj, const char *path, const char *member,
                                JsonArray **out, GError **error);
gboolean grove_spec_node_is_string (JsonNode *node);
gboolean grove_spec_read_string (JsonObject *obj, const char *path, const char *member,
                                 const char **out, GError **error);
gboolean grove_spec_read_bool (JsonObject *obj, const char *path, const char *member, gboolean *out,
                               GError **error);
gboolean grove_spec_node_get_int64 (JsonNode *node, gint64 *out);
gboolean grove_spec_read_int64 (JsonObject *obj, const char *path, const char *member, gint64 *out,
                                GError **error);
gboolean grove_spec_read_int64_value (JsonObject *obj, const char *path, const char *member,
                                      gboolean *out_set, gint64 *out, GError **error);
gboolean grove_spec_read_strv (JsonObject *obj, const char *path, const char *member,
                               GPtrArray **out, GError **error);
gboolean grove_spec_read_int64_array (JsonObject *obj, const char *path, const char *member,
                                      GArray **out, GError **error);
gboolean grove_spec_read_enum (JsonObject *obj, const char *path, const char *member,
                               const char *const *names, int *out, GError **error);
gboolean grove_spec_read_string_map (JsonObject *obj, const char *path, const char *member,
                                     JsonObject **out, GError **error);
guint grove_spec_strv_len (GPtrArray *strings);

/* writing the spec */
JsonArray *grove_spec_array_from_strings (GPtrArray *strings);
JsonArray *grove_spec_array_from_strv (const char *const *strv);

G_END_DECLS
