/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveSpec"

#include <string.h>

#include "grove-spec-private.h"
#include "grove-utils.h"

/*
 * The CRI requests reach the spec generator in protobuf's JSON mapping: these read its
 * members with errors that name the member's path, and write the spec's string arrays.
 */

char *
grove_spec_member_path (const char *path, const char *member)
{
  if (path == NULL || *path == '\0')
    return g_strdup (member);
  return g_strconcat (path, ".", member, NULL);
}

/* proto3's JSON mapping reads null as the default, like an absent member */
JsonNode *
grove_spec_lookup (JsonObject *obj, const char *member)
{
  JsonNode *node = NULL;

  if (obj == NULL)
    return NULL;
  node = json_object_get_member (obj, member);
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return NULL;
  return node;
}

gboolean
grove_spec_throw_expected (GError **error, const char *path, const char *member,
                           const char *expected)
{
  g_autofree char *full = grove_spec_member_path (path, member);

  return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s: expected %s", full, expected);
}

gboolean
grove_spec_read_object (JsonObject *obj, const char *path, const char *member, JsonObject **out,
                        GError **error)
{
  JsonNode *node = grove_spec_lookup (obj, member);

  *out = NULL;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return grove_spec_throw_expected (error, path, member, "an object");
  *out = json_node_get_object (node);
  return TRUE;
}

gboolean
grove_spec_read_array (JsonObject *obj, const char *path, const char *member, JsonArray **out,
                       GError **error)
{
  JsonNode *node = grove_spec_lookup (obj, member);

  *out = NULL;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return grove_spec_throw_expected (error, path, member, "an array");
  *out = json_node_get_array (node);
  return TRUE;
}

gboolean
grove_spec_node_is_string (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

/* absent: %NULL */
gboolean
grove_spec_read_string (JsonObject *obj, const char *path, const char *member, const char **out,
                        GError **error)
{
  JsonNode *node = grove_spec_lookup (obj, member);

  *out = NULL;
  if (node == NULL)
    return TRUE;
  if (!grove_spec_node_is_string (node))
    return grove_spec_throw_expected (error, path, member, "a string");
  *out = json_node_get_string (node);
  return TRUE;
}

gboolean
grove_spec_read_bool (JsonObject *obj, const char *path, const char *member, gboolean *out,
                      GError **error)
{
  JsonNode *node = grove_spec_lookup (obj, member);

  *out = FALSE;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return grove_spec_throw_expected (error, path, member, "a boolean");
  *out = json_node_get_boolean (node);
  return TRUE;
}

/* int64 comes as a JSON number or, per the mapping, a decimal string */
gboolean
grove_spec_node_get_int64 (JsonNode *node, gint64 *out)
{
  GType type = G_TYPE_INVALID;
  double d = 0;

  if (!JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  type = json_node_get_value_type (node);
  if (type == G_TYPE_INT64)
    {
      *out = json_node_get_int (node);
      return TRUE;
    }
  if (type == G_TYPE_STRING)
    return g_ascii_string_to_signed (json_node_get_string (node), 10, G_MININT64, G_MAXINT64, out,
                                     NULL);
  if (type != G_TYPE_DOUBLE)
    return FALSE;
  /* 1e3 and 5.0 are integers too, as long as a double holds them exactly */
  d = json_node_get_double (node);
  if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || (double)(gint64)d != d)
    return FALSE;
  *out = (gint64)d;
  return TRUE;
}

/* absent: 0 */
gboolean
grove_spec_read_int64 (JsonObject *obj, const char *path, const char *member, gint64 *out,
                       GError **error)
{
  JsonNode *node = grove_spec_lookup (obj, member);

  *out = 0;
  if (node == NULL)
    return TRUE;
  if (!grove_spec_node_get_int64 (node, out))
    return grove_spec_throw_expected (error, path, member, "an integer");
  return TRUE;
}

/* CRI's Int64Value wrapper, `{"value": N}`; a bare number is taken as well */
gboolean
grove_spec_read_int64_value (JsonObject *obj, const char *path, const char *member,
                             gboolean *out_set, gint64 *out, GError **error)
{
  JsonNode *node = grove_spec_lookup (obj, member);
  g_autofree char *full = grove_spec_member_path (path, member);

  *out_set = FALSE;
  *out = 0;
  if (node == NULL)
    return TRUE;
  *out_set = TRUE;
  if (JSON_NODE_HOLDS_OBJECT (node))
    return grove_spec_read_int64 (json_node_get_object (node), full, "value", out, error);
  if (!grove_spec_node_get_int64 (node, out))
    return grove_spec_throw_expected (error, path, member, "an Int64Value ({\"value\": N})");
  return TRUE;
}

/* absent: %NULL; otherwise an array of borrowed strings */
gboolean
grove_spec_read_strv (JsonObject *obj, const char *path, const char *member, GPtrArray **out,
                      GError **error)
{
  JsonArray *array = NULL;
  g_autoptr (GPtrArray) strings = NULL;

  *out = NULL;
  if (!grove_spec_read_array (obj, path, member, &array, error))
    return FALSE;
  if (array == NULL)
    return TRUE;
  strings = g_ptr_array_new ();
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      g_autofree char *element = g_strdup_printf ("%s[%u]", member, i);

      if (!grove_spec_node_is_string (node))
        return grove_spec_throw_expected (error, path, element, "a string");
      g_ptr_array_add (strings, (gpointer)json_node_get_string (node));
    }
  *out = g_steal_pointer (&strings);
  return TRUE;
}

gboolean
grove_spec_read_int64_array (JsonObject *obj, const char *path, const char *member, GArray **out,
                             GError **error)
{
  JsonArray *array = NULL;
  g_autoptr (GArray) values = g_array_new (FALSE, FALSE, sizeof (gint64));

  *out = NULL;
  if (!grove_spec_read_array (obj, path, member, &array, error))
    return FALSE;
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      gint64 value = 0;
      g_autofree char *element = g_strdup_printf ("%s[%u]", member, i);

      if (!grove_spec_node_get_int64 (json_array_get_element (array, i), &value))
        return grove_spec_throw_expected (error, path, element, "an integer");
      g_array_append_val (values, value);
    }
  *out = g_steal_pointer (&values);
  return TRUE;
}

/* an enum as its name or its number; absent: 0 */
gboolean
grove_spec_read_enum (JsonObject *obj, const char *path, const char *member,
                      const char *const *names, int *out, GError **error)
{
  JsonNode *node = grove_spec_lookup (obj, member);
  guint n_names = g_strv_length ((char **)names);
  gint64 number = 0;
  g_autofree char *full = grove_spec_member_path (path, member);
  g_autofree char *expected = g_strjoinv (", ", (char **)names);

  *out = 0;
  if (node == NULL)
    return TRUE;
  if (grove_spec_node_is_string (node) && g_strv_contains (names, json_node_get_string (node)))
    {
      for (guint i = 0; i < n_names; i++)
        if (strcmp (names[i], json_node_get_string (node)) == 0)
          *out = (int)i;
      return TRUE;
    }
  if (!grove_spec_node_is_string (node) && grove_spec_node_get_int64 (node, &number) && number >= 0
      && number < (gint64)n_names)
    {
      *out = (int)number;
      return TRUE;
    }
  return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s: expected one of %s", full,
                      expected);
}

/* a map<string,string>; absent: %NULL */
gboolean
grove_spec_read_string_map (JsonObject *obj, const char *path, const char *member, JsonObject **out,
                            GError **error)
{
  JsonObjectIter iter;
  const char *key = NULL;
  JsonNode *value = NULL;
  g_autofree char *full = grove_spec_member_path (path, member);

  if (!grove_spec_read_object (obj, path, member, out, error))
    return FALSE;
  if (*out == NULL)
    return TRUE;
  json_object_iter_init (&iter, *out);
  while (json_object_iter_next (&iter, &key, &value))
    {
      if (!grove_spec_node_is_string (value))
        return grove_spec_throw_expected (error, full, key, "a string");
    }
  return TRUE;
}

guint
grove_spec_strv_len (GPtrArray *strings)
{
  return strings == NULL ? 0 : strings->len;
}

/* writing the spec */

JsonArray *
grove_spec_array_from_strings (GPtrArray *strings)
{
  JsonArray *array = json_array_new ();

  for (guint i = 0; strings != NULL && i < strings->len; i++)
    json_array_add_string_element (array, g_ptr_array_index (strings, i));
  return array;
}

JsonArray *
grove_spec_array_from_strv (const char *const *strv)
{
  JsonArray *array = json_array_new ();

  for (guint i = 0; strv[i] != NULL; i++)
    json_array_add_string_element (array, strv[i]);
  return array;
}
