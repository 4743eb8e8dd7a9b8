/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * GroveContainerState:
 * @GROVE_CONTAINER_STATE_CREATED: created, not started
 * @GROVE_CONTAINER_STATE_RUNNING: its process runs
 * @GROVE_CONTAINER_STATE_EXITED: its process ended
 * @GROVE_CONTAINER_STATE_UNKNOWN: its state could not be found out
 *
 * A container's state, as the CRI's `ContainerState`.
 */
typedef enum
{
  GROVE_CONTAINER_STATE_CREATED,
  GROVE_CONTAINER_STATE_RUNNING,
  GROVE_CONTAINER_STATE_EXITED,
  GROVE_CONTAINER_STATE_UNKNOWN,
} GroveContainerState;

#define GROVE_TYPE_CONTAINER (grove_container_get_type ())
G_DECLARE_FINAL_TYPE (GroveContainer, grove_container, GROVE, CONTAINER, GObject)

GroveContainer *grove_container_new_from_json (JsonNode *record, GError **error);
JsonNode *grove_container_to_json (GroveContainer *self);
GroveContainer *grove_container_copy (GroveContainer *self);

const char *grove_container_get_id (GroveContainer *self);
const char *grove_container_get_pod_id (GroveContainer *self);
JsonObject *grove_container_get_config (GroveContainer *self);
const char *grove_container_get_name (GroveContainer *self);
guint grove_container_get_attempt (GroveContainer *self);
GroveContainerState grove_container_get_state (GroveContainer *self);
const char *grove_container_state_to_string (GroveContainerState state);
gint64 grove_container_get_created_at (GroveContainer *self);
gint64 grove_container_get_started_at (GroveContainer *self);
gint64 grove_container_get_finished_at (GroveContainer *self);
int grove_container_get_exit_code (GroveContainer *self);
const char *grove_container_get_reason (GroveContainer *self);
const char *grove_container_get_message (GroveContainer *self);
const char *grove_container_get_image_id (GroveContainer *self);
const char *grove_container_get_image_name (GroveContainer *self);
const char *grove_container_get_log_path (GroveContainer *self);
int grove_container_get_pid (GroveContainer *self);
const char *grove_container_get_handler (GroveContainer *self);
gboolean grove_container_matches_labels (GroveContainer *self, GHashTable *selector);

G_END_DECLS
