/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GrovePod"

#include "grove-pod.h"
#include "grove-record.h"
#include "grove-runtime-private.h"
#include "grove-utils.h"

/*
 * A pod sandbox as the engine knows it. Everything lives in one JSON record, which is what
 * pods/<id>/pod.json holds: "id", "config" (the CRI PodSandboxConfig), "state",
 * "createdAt" (ns), "handler", "trusted", "netnsPath", "ips" (from CNI), "infraPid",
 * "infraConmonPid", ...
 * The engine is the only writer; the object the adapters see is the engine's own.
 */
struct _GrovePod
{
  GObject parent_instance;
  JsonObject *record;
};

G_DEFINE_TYPE (GrovePod, grove_pod, G_TYPE_OBJECT)

static void
grove_pod_finalize (GObject *object)
{
  GrovePod *self = GROVE_POD (object);

  g_clear_pointer (&self->record, json_object_unref);
  G_OBJECT_CLASS (grove_pod_parent_class)->finalize (object);
}

static void
grove_pod_class_init (GrovePodClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = grove_pod_finalize;
}

static void
grove_pod_init (GrovePod *self)
{
}

/**
 * grove_pod_new_from_json:
 * @record: a pod record (as grove_pod_to_json() wrote it)
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the pod, or %NULL if @record lacks an ID or config
 */
GrovePod *
grove_pod_new_from_json (JsonNode *record, GError **error)
{
  g_autoptr (GrovePod) self = g_object_new (GROVE_TYPE_POD, NULL);
  JsonObject *object;

  g_return_val_if_fail (record != NULL, NULL);
  if (!JSON_NODE_HOLDS_OBJECT (record))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "a pod record is a JSON object"), NULL;
  object = json_node_get_object (record);
  if (grove_record_string (object, "id") == NULL || grove_record_object (object, "config") == NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "a pod record needs an id and a config"),
           NULL;
  self->record = grove_record_copy (object);
  return g_steal_pointer (&self);
}

/**
 * grove_pod_to_json:
 * @self: a #GrovePod
 *
 * Returns: (transfer full): a copy of the pod's record
 */
JsonNode *
grove_pod_to_json (GrovePod *self)
{
  g_autoptr (JsonObject) copy = NULL;

  g_return_val_if_fail (GROVE_IS_POD (self), NULL);
  copy = grove_record_copy (self->record);
  return json_node_init_object (json_node_alloc (), copy);
}

/**
 * grove_pod_copy:
 * @self: a #GrovePod
 *
 * Returns: (transfer full): an independent copy, for a worker thread to read
 */
GrovePod *
grove_pod_copy (GrovePod *self)
{
  g_autoptr (JsonNode) node = grove_pod_to_json (self);
  return grove_pod_new_from_json (node, NULL);
}

/**
 * grove_pod_get_record: (skip)
 * @self: a #GrovePod
 *
 * Returns: (transfer none): the record itself, for the engine to change
 */
JsonObject *
grove_pod_get_record (GrovePod *self)
{
  return self->record;
}

/**
 * grove_pod_get_id:
 * @self: a #GrovePod
 *
 * Returns: the pod's ID: 64 hex digits, also the ID of its infra container
 */
const char *
grove_pod_get_id (GrovePod *self)
{
  g_return_val_if_fail (GROVE_IS_POD (self), NULL);
  return grove_record_string (self->record, "id");
}

/**
 * grove_pod_get_config:
 * @self: a #GrovePod
 *
 * Returns: (transfer none): the CRI `PodSandboxConfig` it was created with (JSON mapping)
 */
JsonObject *
grove_pod_get_config (GrovePod *self)
{
  g_return_val_if_fail (GROVE_IS_POD (self), NULL);
  return grove_record_object (self->record, "config");
}

/**
 * grove_pod_state_to_string:
 * @state: a #GrovePodState
 *
 * Returns: "ready" or "notready"
 */
const char *
grove_pod_state_to_string (GrovePodState state)
{
  return state == GROVE_POD_STATE_READY ? "ready" : "notready";
}

/**
 * grove_pod_get_state:
 * @self: a #GrovePod
 *
 * Returns: the pod's state
 */
GrovePodState
grove_pod_get_state (GrovePod *self)
{
  g_return_val_if_fail (GROVE_IS_POD (self), GROVE_POD_STATE_NOTREADY);
  return g_strcmp0 (grove_record_string (self->record, "state"), "ready") == 0
             ? GROVE_POD_STATE_READY
             : GROVE_POD_STATE_NOTREADY;
}

/**
 * grove_pod_get_created_at:
 * @self: a #GrovePod
 *
 * Returns: creation time, nanoseconds since the epoch
 */
gint64
grove_pod_get_created_at (GrovePod *self)
{
  g_return_val_if_fail (GROVE_IS_POD (self), 0);
  return grove_record_int (self->record, "createdAt", 0);
}

/**
 * grove_pod_get_name:
 * @self: a #GrovePod
 *
 * Returns: (nullable): `metadata.name`
 */
const char *
grove_pod_get_name (GrovePod *self)
{
  g_return_val_if_fail (GROVE_IS_POD (self), NULL);
  return grove_record_path_string (grove_pod_get_config (self), "metadata.name");
}

/**
 * grove_pod_get_namespace:
 * @self: a #GrovePod
 *
 * Returns: (nullable): `metadata.namespace`
 */
const char *
grove_pod_get_namespace (GrovePod *self)
{
  g_return_val_if_fail (GROVE_IS_POD (self), NULL);
  return grove_record_path_string (grove_pod_get_config (self), "metadata.namespace");
}

/**
 * grove_pod_get_uid:
 * @self: a #GrovePod
 *
 * Returns: (nullable): `metadata.uid`
 */
const char *
grove_pod_get_uid (GrovePod *self)
{
  g_return_val_if_fail (GROVE_IS_POD (self), NULL);
  return grove_record_path_string (grove_pod_get_config (self), "metadata.uid");
}

/**
 * grove_pod_get_attempt:
 * @self: a #GrovePod
 *
 * Returns: `metadata.attempt`
 */
guint
grove_pod_get_attempt (GrovePod *self)
{
  g_return_val_if_fail (GROVE_IS_POD (self), 0);
  return (guint)grove_record_int (grove_record_object (grove_pod_get_config (self), "metadata"),
                                  "attempt", 0);
}

/**
 * grove_pod_get_handler:
 * @self: a #GrovePod
 *
 * Returns: the runtime handler its containers run on
 */
const char *
grove_pod_get_handler (GrovePod *self)
{
  g_return_val_if_fail (GROVE_IS_POD (self), NULL);
  return grove_record_string (self->record, "handler");
}

/**
 * grove_pod_get_netns_path:
 * @self: a #GrovePod
 *
 * Returns: (nullable): the pod's network namespace, %NULL for host network
 */
const char *
grove_pod_get_netns_path (GrovePod *self)
{
  g_return_val_if_fail (GROVE_IS_POD (self), NULL);
  return grove_record_string (self->record, "netnsPath");
}

/**
 * grove_pod_get_ips:
 * @self: a #GrovePod
 *
 * The pod's addresses on the pod network, as its CNI ADD result gave them (without prefix
 * lengths), the first being the primary one. A pod on the host's network, a stopped pod
 * and a pod without a configured network have none.
 *
 * Returns: (transfer full): the addresses, maybe none
 */
GStrv
grove_pod_get_ips (GrovePod *self)
{
  JsonNode *node = NULL;
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  g_return_val_if_fail (GROVE_IS_POD (self), NULL);
  node = json_object_get_member (self->record, "ips");
  if (node != NULL && JSON_NODE_HOLDS_ARRAY (node))
    for (guint i = 0; i < json_array_get_length (json_node_get_array (node)); i++)
      {
        const char *ip = json_array_get_string_element (json_node_get_array (node), i);
        if (ip != NULL)
          g_strv_builder_add (builder, ip);
      }
  return g_strv_builder_end (builder);
}

/**
 * grove_pod_get_trusted:
 * @self: a #GrovePod
 *
 * Returns: %TRUE if the pod is privileged or uses a host namespace, and so runs on the
 *   trusted runtime
 */
gboolean
grove_pod_get_trusted (GrovePod *self)
{
  g_return_val_if_fail (GROVE_IS_POD (self), FALSE);
  return grove_record_bool (self->record, "trusted");
}

/**
 * grove_pod_get_infra_pid:
 * @self: a #GrovePod
 *
 * Returns: the infra container's PID, 0 when it does not run
 */
int
grove_pod_get_infra_pid (GrovePod *self)
{
  g_return_val_if_fail (GROVE_IS_POD (self), 0);
  return (int)grove_record_int (self->record, "infraPid", 0);
}

/**
 * grove_pod_get_label:
 * @self: a #GrovePod
 * @key: a label key
 *
 * Returns: (nullable): the label's value
 */
const char *
grove_pod_get_label (GrovePod *self, const char *key)
{
  g_return_val_if_fail (GROVE_IS_POD (self), NULL);
  return grove_record_string (grove_record_object (grove_pod_get_config (self), "labels"), key);
}

/**
 * grove_pod_matches_labels:
 * @self: a #GrovePod
 * @selector: (nullable): label key → value, all of which must match
 *
 * Returns: %TRUE when the pod has every label of @selector
 */
gboolean
grove_pod_matches_labels (GrovePod *self, GHashTable *selector)
{
  g_return_val_if_fail (GROVE_IS_POD (self), FALSE);
  return grove_record_labels_match (grove_record_object (grove_pod_get_config (self), "labels"),
                                    selector);
}
