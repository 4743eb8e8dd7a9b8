/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveContainer"

#include "grove-container.h"
#include "grove-record.h"
#include "grove-runtime-private.h"
#include "grove-utils.h"

/*
 * A container as the engine knows it, kept in one JSON record (containers/<id>/container.json
 * beside the OCI config.json): "id", "podId", "config" (the CRI ContainerConfig), "imageId",
 * "imageName", "state", "createdAt", "startedAt", "finishedAt" (ns), "exitCode", "reason",
 * "message", "pid", "conmonPid", "logPath", "handler". The engine is the only writer.
 */
struct _GroveContainer
{
  GObject parent_instance;
  JsonObject *record;
};

G_DEFINE_TYPE (GroveContainer, grove_container, G_TYPE_OBJECT)

static void
grove_container_finalize (GObject *object)
{
  GroveContainer *self = GROVE_CONTAINER (object);

  g_clear_pointer (&self->record, json_object_unref);
  G_OBJECT_CLASS (grove_container_parent_class)->finalize (object);
}

static void
grove_container_class_init (GroveContainerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = grove_container_finalize;
}

static void
grove_container_init (GroveContainer *self)
{
}

/**
 * grove_container_new_from_json:
 * @record: a container record (as grove_container_to_json() wrote it)
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the container, or %NULL if @record lacks an ID, pod
 *   ID or config
 */
GroveContainer *
grove_container_new_from_json (JsonNode *record, GError **error)
{
  g_autoptr (GroveContainer) self = g_object_new (GROVE_TYPE_CONTAINER, NULL);
  JsonObject *object;

  g_return_val_if_fail (record != NULL, NULL);
  if (!JSON_NODE_HOLDS_OBJECT (record))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "a container record is a JSON object"),
           NULL;
  object = json_node_get_object (record);
  if (grove_record_string (object, "id") == NULL || grove_record_string (object, "podId") == NULL
      || grove_record_object (object, "config") == NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "a container record needs an id, a podId and a config"),
           NULL;
  self->record = grove_record_copy (object);
  return g_steal_pointer (&self);
}

/**
 * grove_container_to_json:
 * @self: a #GroveContainer
 *
 * Returns: (transfer full): a copy of the container's record
 */
JsonNode *
grove_container_to_json (GroveContainer *self)
{
  g_autoptr (JsonObject) copy = NULL;

  g_return_val_if_fail (GROVE_IS_CONTAINER (self), NULL);
  copy = grove_record_copy (self->record);
  return json_node_init_object (json_node_alloc (), copy);
}

/**
 * grove_container_copy:
 * @self: a #GroveContainer
 *
 * Returns: (transfer full): an independent copy, for a worker thread to read
 */
GroveContainer *
grove_container_copy (GroveContainer *self)
{
  g_autoptr (JsonNode) node = grove_container_to_json (self);
  return grove_container_new_from_json (node, NULL);
}

/**
 * grove_container_get_record: (skip)
 * @self: a #GroveContainer
 *
 * Returns: (transfer none): the record itself, for the engine to change
 */
JsonObject *
grove_container_get_record (GroveContainer *self)
{
  return self->record;
}

/**
 * grove_container_state_to_string:
 * @state: a #GroveContainerState
 *
 * Returns: "created", "running", "exited" or "unknown"
 */
const char *
grove_container_state_to_string (GroveContainerState state)
{
  static const char *const names[] = { "created", "running", "exited", "unknown" };
  return state <= GROVE_CONTAINER_STATE_UNKNOWN ? names[state] : "unknown";
}

/**
 * grove_container_get_state:
 * @self: a #GroveContainer
 *
 * Returns: the container's state
 */
GroveContainerState
grove_container_get_state (GroveContainer *self)
{
  const char *state;

  g_return_val_if_fail (GROVE_IS_CONTAINER (self), GROVE_CONTAINER_STATE_UNKNOWN);
  state = grove_record_string (self->record, "state");
  for (GroveContainerState s = GROVE_CONTAINER_STATE_CREATED; s <= GROVE_CONTAINER_STATE_UNKNOWN;
       s++)
    if (g_strcmp0 (state, grove_container_state_to_string (s)) == 0)
      return s;
  return GROVE_CONTAINER_STATE_UNKNOWN;
}

/**
 * grove_container_get_config:
 * @self: a #GroveContainer
 *
 * Returns: (transfer none): the CRI `ContainerConfig` it was created with (JSON mapping)
 */
JsonObject *
grove_container_get_config (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), NULL);
  return grove_record_object (self->record, "config");
}

/**
 * grove_container_get_name:
 * @self: a #GroveContainer
 *
 * Returns: (nullable): `metadata.name`
 */
const char *
grove_container_get_name (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), NULL);
  return grove_record_path_string (grove_container_get_config (self), "metadata.name");
}

/**
 * grove_container_get_attempt:
 * @self: a #GroveContainer
 *
 * Returns: `metadata.attempt`
 */
guint
grove_container_get_attempt (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), 0);
  return (guint)grove_record_int (
      grove_record_object (grove_container_get_config (self), "metadata"), "attempt", 0);
}

/**
 * grove_container_matches_labels:
 * @self: a #GroveContainer
 * @selector: (nullable): label key → value, all of which must match
 *
 * Returns: %TRUE when the container has every label of @selector
 */
gboolean
grove_container_matches_labels (GroveContainer *self, GHashTable *selector)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), FALSE);
  return grove_record_labels_match (
      grove_record_object (grove_container_get_config (self), "labels"), selector);
}

/**
 * grove_container_get_id:
 * @self: a #GroveContainer
 *
 * Returns: the container's ID (64 hex digits)
 */
const char *
grove_container_get_id (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), NULL);
  return grove_record_string (self->record, "id");
}

/**
 * grove_container_get_pod_id:
 * @self: a #GroveContainer
 *
 * Returns: the ID of its pod
 */
const char *
grove_container_get_pod_id (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), NULL);
  return grove_record_string (self->record, "podId");
}

/**
 * grove_container_get_reason:
 * @self: a #GroveContainer
 *
 * Returns: (nullable): why it exited: "Completed", "Error", "OOMKilled"
 */
const char *
grove_container_get_reason (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), NULL);
  return grove_record_string (self->record, "reason");
}

/**
 * grove_container_get_message:
 * @self: a #GroveContainer
 *
 * Returns: (nullable): more about the exit
 */
const char *
grove_container_get_message (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), NULL);
  return grove_record_string (self->record, "message");
}

/**
 * grove_container_get_image_id:
 * @self: a #GroveContainer
 *
 * Returns: the ID of the image its rootfs comes from
 */
const char *
grove_container_get_image_id (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), NULL);
  return grove_record_string (self->record, "imageId");
}

/**
 * grove_container_get_image_name:
 * @self: a #GroveContainer
 *
 * Returns: the image as the container config names it
 */
const char *
grove_container_get_image_name (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), NULL);
  return grove_record_string (self->record, "imageName");
}

/**
 * grove_container_get_log_path:
 * @self: a #GroveContainer
 *
 * Returns: (nullable): the CRI log file
 */
const char *
grove_container_get_log_path (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), NULL);
  return grove_record_string (self->record, "logPath");
}

/**
 * grove_container_get_handler:
 * @self: a #GroveContainer
 *
 * Returns: the runtime handler it runs on
 */
const char *
grove_container_get_handler (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), NULL);
  return grove_record_string (self->record, "handler");
}

/**
 * grove_container_get_created_at:
 * @self: a #GroveContainer
 *
 * Returns: creation time, ns since the epoch
 */
gint64
grove_container_get_created_at (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), 0);
  return grove_record_int (self->record, "createdAt", 0);
}

/**
 * grove_container_get_started_at:
 * @self: a #GroveContainer
 *
 * Returns: start time, ns since the epoch, 0 if never started
 */
gint64
grove_container_get_started_at (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), 0);
  return grove_record_int (self->record, "startedAt", 0);
}

/**
 * grove_container_get_finished_at:
 * @self: a #GroveContainer
 *
 * Returns: exit time, ns since the epoch, 0 if not exited
 */
gint64
grove_container_get_finished_at (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), 0);
  return grove_record_int (self->record, "finishedAt", 0);
}

/**
 * grove_container_get_exit_code:
 * @self: a #GroveContainer
 *
 * Returns: the exit code (128 + signal when killed); 0 before it exits
 */
int
grove_container_get_exit_code (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), 0);
  return (int)grove_record_int (self->record, "exitCode", 0);
}

/**
 * grove_container_get_pid:
 * @self: a #GroveContainer
 *
 * Returns: the container process's PID, 0 when it does not run
 */
int
grove_container_get_pid (GroveContainer *self)
{
  g_return_val_if_fail (GROVE_IS_CONTAINER (self), 0);
  return (int)grove_record_int (self->record, "pid", 0);
}
