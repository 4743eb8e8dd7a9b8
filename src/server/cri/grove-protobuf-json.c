/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveProtobufJson"

/*
 * CRI requests to the engine's JSON, driven by protobuf-c's descriptors: the engine takes
 * pod and container configs in the protobuf JSON mapping (lowerCamelCase names, enums by
 * name, maps as objects), so the CRI frontend needs no hand-written copy of the dozens of
 * fields of PodSandboxConfig and ContainerConfig, and a field kubelet adds reaches the
 * engine as soon as the proto has it. Like the proto3 JSON mapping, fields holding their
 * default value (0, "", false, empty, absent) are left out. 64-bit integers stay JSON
 * numbers, which is what the engine reads.
 */

#include <string.h>

#include "grove-protobuf-json.h"

/* deeper nesting than any CRI message has: a malicious message cannot recurse forever */
#define MAX_DEPTH 32

static JsonNode *message_to_json (const ProtobufCMessage *message, guint depth);

/* "supplemental_groups_policy" → "supplementalGroupsPolicy" */
static char *
json_name (const char *name)
{
  GString *out = g_string_sized_new (strlen (name));
  gboolean upper = FALSE;

  for (const char *p = name; *p != '\0'; p++)
    {
      if (*p == '_')
        {
          upper = TRUE;
          continue;
        }
      g_string_append_c (out, upper ? g_ascii_toupper (*p) : *p);
      upper = FALSE;
    }
  return g_string_free (out, FALSE);
}

/* a map<K,V> field is a repeated field of a generated "…Entry" message with key and value */
static gboolean
is_map_entry (const ProtobufCMessageDescriptor *descriptor)
{
  return descriptor->n_fields == 2 && g_str_has_suffix (descriptor->short_name, "Entry")
         && strcmp (descriptor->fields[0].name, "key") == 0 && descriptor->fields[0].id == 1
         && strcmp (descriptor->fields[1].name, "value") == 0 && descriptor->fields[1].id == 2;
}

/* one value of @field at @member; %NULL when it holds the default (proto3 leaves it out) */
static JsonNode *
value_to_json (const ProtobufCFieldDescriptor *field, const void *member, gboolean keep_default,
               guint depth)
{
  JsonNode *node = json_node_alloc ();
  gint64 integer = 0;

  switch (field->type)
    {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
      integer = *(const int32_t *)member;
      break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
      integer = *(const uint32_t *)member;
      break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
      integer = *(const int64_t *)member;
      break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
      /* CRI's uint64 fields (sizes, limits) stay far below 2^63 */
      integer = (gint64)MIN (*(const uint64_t *)member, (uint64_t)G_MAXINT64);
      break;
    case PROTOBUF_C_TYPE_BOOL:
      if (!*(const protobuf_c_boolean *)member && !keep_default)
        return json_node_unref (node), NULL;
      return json_node_init_boolean (node, *(const protobuf_c_boolean *)member);
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
      {
        double number = field->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)member
                                                             : *(const double *)member;
        if (number == 0 && !keep_default)
          return json_node_unref (node), NULL;
        return json_node_init_double (node, number);
      }
    case PROTOBUF_C_TYPE_ENUM:
      {
        int number = *(const int *)member;
        const ProtobufCEnumValue *value
            = protobuf_c_enum_descriptor_get_value (field->descriptor, number);

        if (number == 0 && !keep_default)
          return json_node_unref (node), NULL;
        if (value != NULL)
          return json_node_init_string (node, value->name);
        integer = number;
        break;
      }
    case PROTOBUF_C_TYPE_STRING:
      {
        const char *text = *(char *const *)member;

        if ((text == NULL || text[0] == '\0') && !keep_default)
          return json_node_unref (node), NULL;
        return json_node_init_string (node, text != NULL ? text : "");
      }
    case PROTOBUF_C_TYPE_BYTES:
      {
        const ProtobufCBinaryData *data = member;
        g_autofree char *encoded = NULL;

        if (data->len == 0 && !keep_default)
          return json_node_unref (node), NULL;
        encoded = g_base64_encode (data->data, data->len);
        return json_node_init_string (node, encoded);
      }
    case PROTOBUF_C_TYPE_MESSAGE:
      json_node_unref (node);
      return message_to_json (*(ProtobufCMessage *const *)member, depth + 1);
    default:
      json_node_unref (node);
      return NULL;
    }
  if (integer == 0 && !keep_default)
    return json_node_unref (node), NULL;
  return json_node_init_int (node, integer);
}

static gsize
type_size (ProtobufCType type)
{
  switch (type)
    {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
      return 8;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
      return sizeof (void *);
    case PROTOBUF_C_TYPE_BYTES:
      return sizeof (ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_BOOL:
      return sizeof (protobuf_c_boolean);
    default:
      return 4;
    }
}

/* a map field's entries as one JSON object */
static JsonNode *
map_to_json (ProtobufCMessage *const *entries, gsize n_entries)
{
  g_autoptr (JsonObject) object = json_object_new ();
  JsonNode *node = json_node_alloc ();

  for (gsize i = 0; i < n_entries; i++)
    {
      const ProtobufCMessageDescriptor *descriptor = entries[i]->descriptor;
      const char *key = *(char *const *)((const char *)entries[i] + descriptor->fields[0].offset);
      JsonNode *value = value_to_json (
          &descriptor->fields[1], (const char *)entries[i] + descriptor->fields[1].offset, TRUE, 0);

      if (value != NULL && key != NULL)
        json_object_set_member (object, key, value);
      else if (value != NULL)
        json_node_unref (value);
    }
  return json_node_init_object (node, object);
}

static JsonNode *
repeated_to_json (const ProtobufCFieldDescriptor *field, const ProtobufCMessage *message,
                  guint depth)
{
  gsize count = *(const size_t *)((const char *)message + field->quantifier_offset);
  const char *items = *(char *const *)((const char *)message + field->offset);
  g_autoptr (JsonArray) array = NULL;
  JsonNode *node = NULL;

  if (count == 0 || items == NULL)
    return NULL;
  if (field->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry (field->descriptor))
    return map_to_json ((ProtobufCMessage *const *)items, count);
  array = json_array_sized_new (count);
  for (gsize i = 0; i < count; i++)
    {
      JsonNode *item = value_to_json (field, items + i * type_size (field->type), TRUE, depth);

      json_array_add_element (array, item != NULL ? item : json_node_new (JSON_NODE_NULL));
    }
  node = json_node_alloc ();
  return json_node_init_array (node, array);
}

static JsonNode *
message_to_json (const ProtobufCMessage *message, guint depth)
{
  const ProtobufCMessageDescriptor *descriptor = NULL;
  g_autoptr (JsonObject) object = NULL;
  JsonNode *node = NULL;

  if (message == NULL || depth > MAX_DEPTH)
    return NULL;
  descriptor = message->descriptor;
  object = json_object_new ();
  for (guint i = 0; i < descriptor->n_fields; i++)
    {
      const ProtobufCFieldDescriptor *field = &descriptor->fields[i];
      const char *member = (const char *)message + field->offset;
      JsonNode *value = NULL;

      if (field->label == PROTOBUF_C_LABEL_REPEATED)
        value = repeated_to_json (field, message, depth);
      else if (field->label == PROTOBUF_C_LABEL_OPTIONAL && field->type != PROTOBUF_C_TYPE_MESSAGE
               && field->type != PROTOBUF_C_TYPE_STRING
               && !*(const protobuf_c_boolean *)((const char *)message + field->quantifier_offset))
        value = NULL;
      else
        value = value_to_json (field, member, FALSE, depth);
      if (value != NULL)
        {
          g_autofree char *name = json_name (field->name);
          json_object_set_member (object, name, value);
        }
    }
  node = json_node_alloc ();
  return json_node_init_object (node, object);
}

/**
 * grove_protobuf_to_json:
 * @message: a protobuf-c message
 *
 * Converts @message to the proto3 JSON mapping: lowerCamelCase member names, enums by
 * name, maps as objects, bytes in base64, and fields holding their default left out.
 *
 * Returns: (transfer full): the message as a JSON object
 */
JsonObject *
grove_protobuf_to_json (const ProtobufCMessage *message)
{
  g_autoptr (JsonNode) node = NULL;

  g_return_val_if_fail (message != NULL, NULL);
  node = message_to_json (message, 0);
  return json_object_ref (json_node_get_object (node));
}
