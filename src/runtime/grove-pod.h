/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * GrovePodState:
 * @GROVE_POD_STATE_READY: the infra container runs
 * @GROVE_POD_STATE_NOTREADY: stopped, or the infra container died
 *
 * A pod's state, as the CRI's `PodSandboxState`.
 */
typedef enum
{
  GROVE_POD_STATE_READY,
  GROVE_POD_STATE_NOTREADY,
} GrovePodState;

#define GROVE_TYPE_POD (grove_pod_get_type ())
G_DECLARE_FINAL_TYPE (GrovePod, grove_pod, GROVE, POD, GObject)

GrovePod *grove_pod_new_from_json (JsonNode *record, GError **error);
JsonNode *grove_pod_to_json (GrovePod *self);
GrovePod *grove_pod_copy (GrovePod *self);

const char *grove_pod_get_id (GrovePod *self);
JsonObject *grove_pod_get_config (GrovePod *self);
GrovePodState grove_pod_get_state (GrovePod *self);
const char *grove_pod_state_to_string (GrovePodState state);
gint64 grove_pod_get_created_at (GrovePod *self);
const char *grove_pod_get_name (GrovePod *self);
const char *grove_pod_get_namespace (GrovePod *self);
const char *grove_pod_get_uid (GrovePod *self);
guint grove_pod_get_attempt (GrovePod *self);
const char *grove_pod_get_handler (GrovePod *self);
const char *grove_pod_get_netns_path (GrovePod *self);
GStrv grove_pod_get_ips (GrovePod *self);
gboolean grove_pod_get_trusted (GrovePod *self);
int grove_pod_get_infra_pid (GrovePod *self);
const char *grove_pod_get_label (GrovePod *self, const char *key);
gboolean grove_pod_matches_labels (GrovePod *self, GHashTable *selector);

G_END_DECLS
