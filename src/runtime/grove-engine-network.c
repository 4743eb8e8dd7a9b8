/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveEngine"

#include <string.h>

#include "grove-engine-private.h"
#include "grove-userns.h"
#include "grove-netns.h"
#include "grove-utils.h"

/*
 * Pod networking: a pod's namespace is attached through CNI right after it is made and
 * before the infra container exists; the attachment (the exact ADD input and its result)
 * is kept in pods/<id>/network.json, and the pod's addresses in its record ("ips"). Stop
 * and removal detach with that file, before the namespace goes.
 */

#define ATTACHMENT_NAME "network.json"

static char *
attachment_path (GroveEngine *self, JsonObject *record)
{
  g_autofree char *pod_dir = grove_engine_pod_dir (self, grove_record_string (record, "id"));

  return g_build_filename (pod_dir, ATTACHMENT_NAME, NULL);
}

/**
 * grove_pod_network_attach: (skip)
 *
 * CNI ADD for the pod of @record (in a worker thread), when it has a namespace of its own
 * and a network is configured; sets the record's "ips". Without any network config the
 * pod keeps loopback only. On failure nothing of the attachment is left.
 */
gboolean
grove_pod_network_attach (GroveEngine *self, JsonObject *record, GCancellable *cancellable,
                          GError **error)
{
  JsonObject *config = grove_record_object (record, "config");
  JsonNode *ports = config != NULL ? json_object_get_member (config, "portMappings") : NULL;
  g_autofree char *path = attachment_path (self, record);
  g_autoptr (JsonObject) attachment = NULL;
  g_auto (GStrv) ips = NULL;
  JsonArray *array = json_array_new ();
  GroveCniRequest request = {
    .container_id = grove_record_string (record, "id"),
    .netns = grove_record_string (record, "netnsPath"),
    .pod_name = grove_record_path_string (config, "metadata.name"),
    .pod_namespace = grove_record_path_string (config, "metadata.namespace"),
    .pod_uid = grove_record_path_string (config, "metadata.uid"),
    .port_mappings
    = ports != NULL && JSON_NODE_HOLDS_ARRAY (ports) ? json_node_get_array (ports) : NULL,
  };

  json_object_set_array_member (record, "ips", array);
  if (request.netns == NULL)
    return TRUE;
  if (!grove_cni_has_config (self->cni))
    {
      g_debug ("pod %s: no network config, loopback only", request.container_id);
      return TRUE;
    }
  attachment = grove_cni_attach (self->cni, &request, path, cancellable, error);
  if (attachment == NULL)
    return g_prefix_error (error, "attaching pod %s to the network: ", request.container_id), FALSE;
  ips = grove_cni_result_ips (attachment);
  for (guint i = 0; ips[i] != NULL; i++)
    json_array_add_string_element (array, ips[i]);
  return TRUE;
}

/**
 * grove_pod_network_detach: (skip)
 *
 * CNI DEL with the attachment the pod's dir keeps (in a worker thread), then clears the
 * record's "ips". A pod without one (host network, stopped already) is fine.
 */
gboolean
grove_pod_network_detach (GroveEngine *self, JsonObject *record, GCancellable *cancellable,
                          GError **error)
{
  g_autofree char *path = attachment_path (self, record);

  if (!grove_cni_detach (self->cni, path, cancellable, error))
    return g_prefix_error (
               error, "detaching pod %s from the network: ", grove_record_string (record, "id")),
           FALSE;
  json_object_remove_member (record, "ips");
  return TRUE;
}

/* removes the namespace files in @dir (named by pod ID) of pods not in @live_ids */
static void
remove_stray_namespaces (const char *dir, GHashTable *live_ids, const char *what,
                         gboolean (*remove) (const char *path, GError **error))
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *entry;

  while (d != NULL && (entry = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, entry, NULL);
      g_autoptr (GError) local_error = NULL;

      if (g_hash_table_contains (live_ids, entry))
        continue;
      if (remove (path, &local_error))
        g_message ("removed the %s namespace of pod %s, which no longer exists", what, entry);
      else
        g_warning ("%s", local_error->message);
    }
}

/**
 * grove_engine_collect_network_garbage: (skip)
 *
 * At load, after a crash: removes the network and user namespaces and frees the IPAM
 * addresses of pods that no longer exist (not in @pod_records). Runs in the load's worker thread.
 */
void
grove_engine_collect_network_garbage (GroveEngine *self, GPtrArray *pod_records,
                                      GCancellable *cancellable)
{
  g_autoptr (GHashTable) live_ids = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) local_error = NULL;
  g_autofree char *netns_dir = g_build_filename (self->runroot, "netns", NULL);
  g_autofree char *userns_dir = g_build_filename (self->runroot, "userns", NULL);

  for (guint i = 0; i < pod_records->len; i++)
    g_hash_table_add (live_ids, (gpointer)grove_record_string (pod_records->pdata[i], "id"));
  /* DEL first, while the namespaces are there */
  if (!grove_cni_collect_garbage (self->cni, live_ids, netns_dir, cancellable, &local_error))
    g_warning ("collecting network garbage: %s", local_error->message);
  remove_stray_namespaces (netns_dir, live_ids, "network", grove_netns_remove);
  remove_stray_namespaces (userns_dir, live_ids, "user", grove_userns_remove);
}

/**
 * grove_engine_get_network_status:
 * @self: a #GroveEngine
 * @out_ready: (out): whether pods can be attached to a network
 * @out_reason: (out) (optional) (nullable) (transfer full): when not ready, a CamelCase
 *   reason (`NetworkPluginNotReady`), as the CRI's RuntimeCondition has it
 * @out_message: (out) (optional) (nullable) (transfer full): when not ready, what is wrong
 *
 * Whether the pod network is ready: a valid CNI network config exists and its plugins are
 * found. The config directory is read afresh on each call (it is a few small files), so a
 * config that appears or breaks is seen at the next call. Reads files: cheap enough for the
 * main thread.
 */
void
grove_engine_get_network_status (GroveEngine *self, gboolean *out_ready, char **out_reason,
                                 char **out_message)
{
  g_autoptr (GError) local_error = NULL;
  gboolean ready = FALSE;

  g_return_if_fail (GROVE_IS_ENGINE (self));
  g_return_if_fail (out_ready != NULL);
  ready = grove_cni_check (self->cni, &local_error);
  *out_ready = ready;
  if (out_reason != NULL)
    *out_reason = ready ? NULL : g_strdup ("NetworkPluginNotReady");
  if (out_message != NULL)
    *out_message = ready ? NULL : g_strdup (local_error->message);
}
