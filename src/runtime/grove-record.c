/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveRecord"

#include "grove-record.h"
#include "grove-utils.h"

/**
 * grove_record_object:
 * @object: (nullable): a JSON object
 * @member: a member name
 *
 * Returns: (transfer none) (nullable): the member if it is an object, else %NULL
 */
JsonObject *
grove_record_object (JsonObject *object, const char *member)
{
  JsonNode *node = object ? json_object_get_member (object, member) : NULL;
  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

/**
 * grove_record_string:
 * @object: (nullable): a JSON object
 * @member: a member name
 *
 * Returns: (transfer none) (nullable): the member if it is a string, else %NULL
 */
const char *
grove_record_string (JsonObject *object, const char *member)
{
  JsonNode *node = object ? json_object_get_member (object, member) : NULL;
  return node != NULL && JSON_NODE_HOLDS_VALUE (node)
                 && json_node_get_value_type (node) == G_TYPE_STRING
             ? json_node_get_string (node)
             : NULL;
}

/**
 * grove_record_int:
 * @object: (nullable): a JSON object
 * @member: a member name
 * @fallback: what to return when the member is absent or not a number
 *
 * Accepts a number or a decimal string, as protobuf's JSON mapping writes int64.
 *
 * Returns: the value
 */
gint64
grove_record_int (JsonObject *object, const char *member, gint64 fallback)
{
  JsonNode *node = object ? json_object_get_member (object, member) : NULL;
  gint64 value = 0;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return fallback;
  if (json_node_get_value_type (node) == G_TYPE_INT64)
    return json_node_get_int (node);
  if (json_node_get_value_type (node) == G_TYPE_DOUBLE)
    return (gint64)json_node_get_double (node);
  if (json_node_get_value_type (node) == G_TYPE_STRING
      && g_ascii_string_to_signed (json_node_get_string (node), 10, G_MININT64, G_MAXINT64, &value,
                                   NULL))
    return value;
  return fallback;
}

/**
 * grove_record_bool:
 * @object: (nullable): a JSON object
 * @member: a member name
 *
 * Returns: the member's value if it is a boolean, else %FALSE
 */
gboolean
grove_record_bool (JsonObject *object, const char *member)
{
  JsonNode *node = object ? json_object_get_member (object, member) : NULL;
  return node != NULL && JSON_NODE_HOLDS_VALUE (node)
         && json_node_get_value_type (node) == G_TYPE_BOOLEAN && json_node_get_boolean (node);
}

/**
 * grove_record_path_string:
 * @object: (nullable): a JSON object
 * @path: dot-separated member names, e.g. "metadata.name"
 *
 * Returns: (transfer none) (nullable): the string at @path, or %NULL
 */
const char *
grove_record_path_string (JsonObject *object, const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, ".", -1);
  guint n = g_strv_length (parts);

  for (guint i = 0; object != NULL && i + 1 < n; i++)
    object = grove_record_object (object, parts[i]);
  return n > 0 ? grove_record_string (object, parts[n - 1]) : NULL;
}

/**
 * grove_record_labels_match:
 * @labels: (nullable): a JSON object of string members
 * @selector: (nullable): required key → value pairs
 *
 * Returns: %TRUE if every pair of @selector is in @labels
 */
gboolean
grove_record_labels_match (JsonObject *labels, GHashTable *selector)
{
  GHashTableIter iter;
  const char *key;
  const char *value;

  if (selector == NULL)
    return TRUE;
  g_hash_table_iter_init (&iter, selector);
  while (g_hash_table_iter_next (&iter, (gpointer *)&key, (gpointer *)&value))
    if (g_strcmp0 (grove_record_string (labels, key), value) != 0)
      return FALSE;
  return TRUE;
}

static JsonArray *
deep_copy_array (JsonArray *array)
{
  guint n = json_array_get_length (array);
  JsonArray *copy = json_array_sized_new (n);

  for (guint i = 0; i < n; i++)
    json_array_add_element (copy, grove_record_copy_node (json_array_get_element (array, i)));
  return copy;
}

/**
 * grove_record_copy_node:
 * @node: a JSON node
 *
 * json_node_copy() only takes a reference on objects and arrays; records handed to another
 * thread must share nothing.
 *
 * Returns: (transfer full): a deep copy of @node
 */
JsonNode *
grove_record_copy_node (JsonNode *node)
{
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT:
      {
        g_autoptr (JsonObject) object = grove_record_copy (json_node_get_object (node));
        return json_node_init_object (json_node_alloc (), object);
      }
    case JSON_NODE_ARRAY:
      {
        g_autoptr (JsonArray) array = deep_copy_array (json_node_get_array (node));
        return json_node_init_array (json_node_alloc (), array);
      }
    case JSON_NODE_VALUE:
    case JSON_NODE_NULL:
    default:
      return json_node_copy (node);
    }
}

/**
 * grove_record_copy:
 * @object: a JSON object
 *
 * Returns: (transfer full): a deep copy of @object, sharing nothing with it
 */
JsonObject *
grove_record_copy (JsonObject *object)
{
  JsonObject *copy = json_object_new ();
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;

  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &name, &member))
    json_object_set_member (copy, name, grove_record_copy_node (member));
  return copy;
}

/**
 * grove_record_serialize:
 * @object: a JSON object
 * @out_length: (out) (optional): length of the text
 *
 * Returns: (transfer full): @object as pretty-printed JSON text
 */
char *
grove_record_serialize (JsonObject *object, gsize *out_length)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), object);

  json_generator_set_pretty (generator, TRUE);
  json_generator_set_root (generator, node);
  return json_generator_to_data (generator, out_length);
}

/* json-glib recurses once per nesting level: refuse absurd depths before parsing */
static gboolean
depth_ok (const char *data, gsize length)
{
  int depth = 0;
  gboolean in_string = FALSE;

  for (gsize i = 0; i < length; i++)
    {
      char c = data[i];
      if (in_string && c == '\\')
        i++;
      else if (c == '"')
        in_string = !in_string;
      else if (!in_string && (c == '{' || c == '['))
        {
          if (++depth > 64)
            return FALSE;
        }
      else if (!in_string && (c == '}' || c == ']'))
        depth--;
    }
  return TRUE;
}

/**
 * grove_record_parse:
 * @data: JSON text
 * @length: its length, or -1 if NUL-terminated
 * @what: what it is, for messages
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the object, or %NULL with
 *   %GROVE_ERROR_INVALID_ARGUMENT
 */
JsonObject *
grove_record_parse (const char *data, gsize length, const char *what, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local_error = NULL;
  JsonNode *root;

  if (length == (gsize)-1)
    length = strlen (data);
  if (!depth_ok (data, length))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s: nested too deeply", what), NULL;
  if (!json_parser_load_from_data (parser, data, (gssize)length, &local_error))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s: %s", what, local_error->message),
           NULL;
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s: not a JSON object", what), NULL;
  return json_node_dup_object (root);
}
