/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveCriService"

/*
 * What every part of the CRI service uses to answer: responses built in an arena (stack
 * and heap memory freed once the message is packed, never protobuf-c's own allocations),
 * replies and statuses, the `map<string,string>` fields, and calls answered later.
 */

#include <string.h>

#include "grove-cri-service-private.h"

/* every `map<string, string>` entry type has this layout (protobuf-c makes one struct per
 * map field, all alike), so one function fills any of them */
typedef struct
{
  ProtobufCMessage base;
  char *key;
  char *value;
} StringEntry;

/**
 * grove_cri_arena_keep: (skip)
 * @arena: a response's arena
 * @data: (transfer full): memory the response points into
 *
 * Returns: @data, freed with @arena
 */
gpointer
grove_cri_arena_keep (GPtrArray *arena, gpointer data)
{
  g_ptr_array_add (arena, data);
  return data;
}

/**
 * grove_cri_arena_strdup: (skip)
 * @arena: a response's arena
 * @text: (nullable): a string; %NULL gives ""
 *
 * Returns: a copy of @text, freed with @arena
 */
char *
grove_cri_arena_strdup (GPtrArray *arena, const char *text)
{
  return grove_cri_arena_keep (arena, g_strdup (text != NULL ? text : ""));
}

/**
 * grove_cri_arena_strv: (skip)
 * @arena: a response's arena
 * @strv: (nullable): strings
 * @n_out: (out): how many
 *
 * Returns: a copy of @strv for a `repeated string` field, freed with @arena
 */
char **
grove_cri_arena_strv (GPtrArray *arena, const char *const *strv, size_t *n_out)
{
  guint n = strv != NULL ? g_strv_length ((char **)strv) : 0;
  char **copy = grove_cri_arena_keep (arena, g_new0 (char *, n + 1));

  for (guint i = 0; i < n; i++)
    copy[i] = grove_cri_arena_strdup (arena, strv[i]);
  *n_out = n;
  return copy;
}

/**
 * grove_cri_arena_new_array: (skip)
 *
 * Returns: (transfer full): a new arena
 */
GPtrArray *
grove_cri_arena_new_array (void)
{
  return g_ptr_array_new_with_free_func (g_free);
}

/**
 * grove_cri_reply: (skip)
 * @call: a unary call
 * @message: its response
 *
 * Answers @call with @message.
 */
void
grove_cri_reply (GroveGrpcCall *call, const ProtobufCMessage *message)
{
  g_autoptr (GBytes) bytes = grove_cri_pack (message);

  grove_grpc_call_return_message (call, bytes);
}

/**
 * grove_cri_reply_error: (skip)
 * @call: a call
 * @error: why it failed
 *
 * Ends @call with the gRPC status @error maps to, and its message.
 */
void
grove_cri_reply_error (GroveGrpcCall *call, const GError *error)
{
  GroveGrpcStatus status = grove_cri_status_from_error (error);

  g_debug ("%s: status %d: %s", grove_grpc_call_get_method (call), status, error->message);
  grove_grpc_call_return_status (call, status, error->message);
}

/**
 * grove_cri_reply_status: (skip)
 * @call: a call
 * @status: a gRPC status
 * @format: printf format of the message
 * @...: arguments
 *
 * Ends @call with @status.
 */
void
grove_cri_reply_status (GroveGrpcCall *call, GroveGrpcStatus status, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_debug ("%s: status %d: %s", grove_grpc_call_get_method (call), status, message);
  grove_grpc_call_return_status (call, status, message);
}

/**
 * grove_cri_info_map: (skip)
 * @arena: a response's arena
 * @entry_descriptor: the `info` map's entry type
 * @json: (transfer full): the verbose information as JSON text
 * @n_out: (out): how many entries
 *
 * Returns: the verbose `info` map of a response: one entry, "info", holding @json
 */
gpointer
grove_cri_info_map (GPtrArray *arena, const ProtobufCMessageDescriptor *entry_descriptor,
                    char *json, size_t *n_out)
{
  StringEntry **entries = grove_cri_arena_keep (arena, g_new0 (StringEntry *, 2));
  StringEntry *entry = grove_cri_arena_keep (arena, g_new0 (StringEntry, 1));

  g_return_val_if_fail (entry_descriptor->sizeof_message == sizeof (StringEntry), NULL);
  protobuf_c_message_init (entry_descriptor, entry);
  entry->key = grove_cri_arena_strdup (arena, "info");
  entry->value = grove_cri_arena_keep (arena, json);
  entries[0] = entry;
  *n_out = 1;
  return entries;
}

/**
 * grove_cri_json_text: (skip)
 * @builder: a finished builder
 *
 * Returns: (transfer full): what it built, as JSON text
 */
char *
grove_cri_json_text (JsonBuilder *builder)
{
  g_autoptr (JsonNode) root = json_builder_get_root (builder);

  return json_to_string (root, FALSE);
}

/**
 * grove_cri_async_call_new: (skip)
 * @self: the service
 * @call: a call answered later
 *
 * Returns: (transfer full): both, referenced until grove_cri_async_call_free()
 */
GroveCriAsyncCall *
grove_cri_async_call_new (GroveCriService *self, GroveGrpcCall *call)
{
  GroveCriAsyncCall *async_call = g_new0 (GroveCriAsyncCall, 1);

  async_call->self = g_object_ref (self);
  async_call->call = g_object_ref (call);
  return async_call;
}

/**
 * grove_cri_async_call_free: (skip)
 * @async_call: (transfer full): what grove_cri_async_call_new() made
 */
void
grove_cri_async_call_free (GroveCriAsyncCall *async_call)
{
  g_clear_object (&async_call->self);
  g_clear_object (&async_call->call);
  g_free (async_call);
}

/**
 * grove_cri_string_map: (skip)
 * @arena: where the entries live
 * @entry_descriptor: the map field's entry type
 * @object: (nullable): string members to put in the map
 * @n_out: (out): how many entries
 *
 * Returns: the entries of a `map<string,string>` field
 */
gpointer
grove_cri_string_map (GPtrArray *arena, const ProtobufCMessageDescriptor *entry_descriptor,
                      JsonObject *object, size_t *n_out)
{
  guint size = object != NULL ? json_object_get_size (object) : 0;
  StringEntry **entries = grove_cri_arena_keep (arena, g_new0 (StringEntry *, size + 1));
  JsonObjectIter iter;
  const char *key = NULL;
  JsonNode *value = NULL;
  guint n = 0;

  g_return_val_if_fail (entry_descriptor->sizeof_message == sizeof (StringEntry), NULL);
  *n_out = 0;
  if (object == NULL)
    return entries;
  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &key, &value))
    {
      StringEntry *entry = NULL;

      if (!JSON_NODE_HOLDS_VALUE (value) || json_node_get_value_type (value) != G_TYPE_STRING)
        continue;
      entry = grove_cri_arena_keep (arena, g_new0 (StringEntry, 1));
      protobuf_c_message_init (entry_descriptor, entry);
      entry->key = grove_cri_arena_strdup (arena, key);
      entry->value = grove_cri_arena_strdup (arena, json_node_get_string (value));
      entries[n++] = entry;
    }
  *n_out = n;
  return entries;
}

/**
 * grove_cri_selector: (skip)
 * @entries: a request's `map<string,string>` entries, e.g. a filter's label_selector
 * @n_entries: how many
 *
 * Returns: (transfer full) (nullable): the map as a hash table, %NULL when it is empty
 */
GHashTable *
grove_cri_selector (ProtobufCMessage **entries, size_t n_entries)
{
  GHashTable *table = NULL;

  if (n_entries == 0)
    return NULL;
  table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (size_t i = 0; i < n_entries; i++)
    {
      StringEntry *entry = (StringEntry *)entries[i];
      g_hash_table_insert (table, g_strdup (entry->key != NULL ? entry->key : ""),
                           g_strdup (entry->value != NULL ? entry->value : ""));
    }
  return table;
}

/**
 * grove_cri_pack: (skip)
 * @message: a response
 *
 * Returns: (transfer full): @message serialised
 */
GBytes *
grove_cri_pack (const ProtobufCMessage *message)
{
  gsize size = protobuf_c_message_get_packed_size (message);
  guint8 *buffer = g_malloc (MAX (size, 1));

  protobuf_c_message_pack (message, buffer);
  return g_bytes_new_take (buffer, size);
}
