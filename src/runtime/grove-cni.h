/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * GROVE_CNI_DEFAULT_CONF_DIR:
 *
 * Where network configs are looked for when none is configured.
 */
#define GROVE_CNI_DEFAULT_CONF_DIR "/etc/cni/net.d"

/**
 * GROVE_CNI_DEFAULT_PLUGIN_DIRS:
 *
 * Where plugins are looked for when nothing else is configured, ':'-separated.
 */
#define GROVE_CNI_DEFAULT_PLUGIN_DIRS "/usr/lib/cni:/opt/cni/bin"

/**
 * GroveCniRequest:
 * @container_id: the pod's ID (`CNI_CONTAINERID`)
 * @netns: the pod's network namespace (`CNI_NETNS`)
 * @pod_name: the pod's name, for `CNI_ARGS`
 * @pod_namespace: the pod's namespace, for `CNI_ARGS`
 * @pod_uid: the pod's UID, for `CNI_ARGS`
 * @port_mappings: (nullable): the CRI `portMappings` of the pod config
 *
 * What an attachment of a pod to the network needs.
 */
typedef struct
{
  const char *container_id;
  const char *netns;
  const char *pod_name;
  const char *pod_namespace;
  const char *pod_uid;
  JsonArray *port_mappings;
} GroveCniRequest;

#define GROVE_TYPE_CNI (grove_cni_get_type ())
G_DECLARE_FINAL_TYPE (GroveCni, grove_cni, GROVE, CNI, GObject)

GroveCni *grove_cni_new (const char *conf_dir, const char *const *plugin_dirs,
                         guint timeout_seconds);
const char *grove_cni_get_conf_dir (GroveCni *self);
gboolean grove_cni_has_config (GroveCni *self);
JsonObject *grove_cni_load_network (GroveCni *self, char **out_path, GError **error);
gboolean grove_cni_check (GroveCni *self, GError **error);
JsonObject *grove_cni_attach (GroveCni *self, const GroveCniRequest *request,
                              const char *cache_path, GCancellable *cancellable, GError **error);
gboolean grove_cni_detach (GroveCni *self, const char *cache_path, GCancellable *cancellable,
                           GError **error);
GStrv grove_cni_result_ips (JsonObject *attachment);
gboolean grove_cni_collect_garbage (GroveCni *self, GHashTable *live_ids, const char *netns_dir,
                                    GCancellable *cancellable, GError **error);

G_END_DECLS
