/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * Pods and containers are kept as JSON records: the record is what is persisted
 * (pod.json, container.json), and the objects' getters read it. Only the engine writes.
 */
JsonObject *grove_record_object (JsonObject *object, const char *member);
const char *grove_record_string (JsonObject *object, const char *member);
gint64 grove_record_int (JsonObject *object, const char *member, gint64 fallback);
gboolean grove_record_bool (JsonObject *object, const char *member);
const char *grove_record_path_string (JsonObject *object, const char *path);
gboolean grove_record_labels_match (JsonObject *labels, GHashTable *selector);
JsonObject *grove_record_copy (JsonObject *object);
JsonNode *grove_record_copy_node (JsonNode *node);
char *grove_record_serialize (JsonObject *object, gsize *out_length);
JsonObject *grove_record_parse (const char *data, gsize length, const char *what, GError **error);

G_END_DECLS
