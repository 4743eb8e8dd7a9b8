/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveCriService"

/*
 * The CRI's pod sandbox calls. A PodSandboxConfig reaches the engine as the protobuf JSON
 * mapping of the message, which is what the engine keeps as the pod's config; statuses
 * are read back from the GrovePod. Stop and remove succeed for pods that are already
 * gone, as kubelet expects.
 */

#include "grove-cri-service-private.h"
#include "grove-protobuf-json.h"
#include "grove-record.h"
#include "grove-utils.h"

static JsonObject *
config_object (JsonObject *config, const char *member)
{
  return config != NULL ? grove_record_object (config, member) : NULL;
}

static Runtime__V1__PodSandboxMetadata *
pod_metadata (GPtrArray *arena, GrovePod *pod)
{
  Runtime__V1__PodSandboxMetadata *metadata = grove_cri_arena_new (
      arena, Runtime__V1__PodSandboxMetadata, RUNTIME__V1__POD_SANDBOX_METADATA__INIT);

  metadata->name = grove_cri_arena_strdup (arena, grove_pod_get_name (pod));
  metadata->uid = grove_cri_arena_strdup (arena, grove_pod_get_uid (pod));
  metadata->namespace_ = grove_cri_arena_strdup (arena, grove_pod_get_namespace (pod));
  metadata->attempt = grove_pod_get_attempt (pod);
  return metadata;
}

/* the namespace modes the pod asked for, as its status reports them */
static Runtime__V1__LinuxPodSandboxStatus *
pod_linux_status (GPtrArray *arena, JsonObject *config)
{
  const char *const modes[] = { "POD", "CONTAINER", "NODE", "TARGET", NULL };
  const char *const kinds[] = { "network", "pid", "ipc" };
  JsonObject *options = config_object (
      config_object (config_object (config, "linux"), "securityContext"), "namespaceOptions");
  Runtime__V1__NamespaceOption *option = grove_cri_arena_new (arena, Runtime__V1__NamespaceOption,
                                                              RUNTIME__V1__NAMESPACE_OPTION__INIT);
  Runtime__V1__NamespaceMode *fields[] = { &option->network, &option->pid, &option->ipc };
  Runtime__V1__Namespace *namespace_
      = grove_cri_arena_new (arena, Runtime__V1__Namespace, RUNTIME__V1__NAMESPACE__INIT);
  Runtime__V1__LinuxPodSandboxStatus *status = grove_cri_arena_new (
      arena, Runtime__V1__LinuxPodSandboxStatus, RUNTIME__V1__LINUX_POD_SANDBOX_STATUS__INIT);

  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
    {
      JsonNode *node = options != NULL ? json_object_get_member (options, kinds[i]) : NULL;

      if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
        continue;
      if (json_node_get_value_type (node) == G_TYPE_STRING)
        {
          for (guint m = 0; modes[m] != NULL; m++)
            if (g_strcmp0 (json_node_get_string (node), modes[m]) == 0)
              *fields[i] = (Runtime__V1__NamespaceMode)m;
        }
      else
        *fields[i] = (Runtime__V1__NamespaceMode)CLAMP (json_node_get_int (node), 0, 3);
    }
  namespace_->options = option;
  status->namespaces = namespace_;
  return status;
}

/* the pod's addresses from CNI: the first is the pod IP, the others additional IPs */
static void
pod_ips (GPtrArray *arena, GrovePod *pod, Runtime__V1__PodSandboxNetworkStatus *network)
{
  g_auto (GStrv) ips = grove_pod_get_ips (pod);
  guint n = ips != NULL ? g_strv_length (ips) : 0;

  network->ip = grove_cri_arena_strdup (arena, n > 0 ? ips[0] : "");
  network->additional_ips = grove_cri_arena_keep (arena, g_new0 (Runtime__V1__PodIP *, MAX (n, 1)));
  for (guint i = 1; i < n; i++)
    {
      Runtime__V1__PodIP *ip
          = grove_cri_arena_new (arena, Runtime__V1__PodIP, RUNTIME__V1__POD_IP__INIT);

      ip->ip = grove_cri_arena_strdup (arena, ips[i]);
      network->additional_ips[network->n_additional_ips++] = ip;
    }
}

/**
 * grove_cri_pod_status: (skip)
 * @arena: where the message lives
 * @pod: a pod
 *
 * Returns: the pod's CRI PodSandboxStatus
 */
Runtime__V1__PodSandboxStatus *
grove_cri_pod_status (GPtrArray *arena, GrovePod *pod)
{
  JsonObject *config = grove_pod_get_config (pod);
  Runtime__V1__PodSandboxStatus *status = grove_cri_arena_new (
      arena, Runtime__V1__PodSandboxStatus, RUNTIME__V1__POD_SANDBOX_STATUS__INIT);
  Runtime__V1__PodSandboxNetworkStatus *network = grove_cri_arena_new (
      arena, Runtime__V1__PodSandboxNetworkStatus, RUNTIME__V1__POD_SANDBOX_NETWORK_STATUS__INIT);

  status->id = grove_cri_arena_strdup (arena, grove_pod_get_id (pod));
  status->metadata = pod_metadata (arena, pod);
  status->state = grove_pod_get_state (pod) == GROVE_POD_STATE_READY
                      ? RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
                      : RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
  status->created_at = grove_pod_get_created_at (pod);
  pod_ips (arena, pod, network);
  status->network = network;
  status->linux = pod_linux_status (arena, config);
  status->labels
      = grove_cri_string_map (arena, &runtime__v1__pod_sandbox_status__labels_entry__descriptor,
                              config_object (config, "labels"), &status->n_labels);
  status->annotations = grove_cri_string_map (
      arena, &runtime__v1__pod_sandbox_status__annotations_entry__descriptor,
      config_object (config, "annotations"), &status->n_annotations);
  status->runtime_handler = grove_cri_arena_strdup (arena, grove_pod_get_handler (pod));
  return status;
}

/* RunPodSandbox */

static void
run_pod_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveCriAsyncCall) async_call = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GrovePod) pod
      = grove_engine_run_pod_finish (GROVE_ENGINE (source), result, &local_error);
  Runtime__V1__RunPodSandboxResponse response = RUNTIME__V1__RUN_POD_SANDBOX_RESPONSE__INIT;

  if (pod == NULL)
    return grove_cri_reply_error (async_call->call, local_error);
  response.pod_sandbox_id = (char *)grove_pod_get_id (pod);
  grove_cri_reply (async_call->call, &response.base);
}

static void
handle_run_pod (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__RunPodSandboxRequest *request
      = (const Runtime__V1__RunPodSandboxRequest *)message;
  g_autoptr (JsonObject) config = NULL;
  const char *handler = request->runtime_handler;

  if (request->config == NULL)
    return grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT,
                                   "RunPodSandbox: config is required");
  config = grove_protobuf_to_json (&request->config->base);
  /* kubelet's "" is the default handler, as is the engine's NULL */
  grove_engine_run_pod_async (
      self->engine, config, handler != NULL && handler[0] != '\0' ? handler : NULL,
      grove_grpc_call_get_cancellable (call), run_pod_cb, grove_cri_async_call_new (self, call));
}

/* StopPodSandbox, RemovePodSandbox: a pod that is gone already is done */

static void
stop_pod_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveCriAsyncCall) async_call = user_data;
  g_autoptr (GError) local_error = NULL;
  Runtime__V1__StopPodSandboxResponse response = RUNTIME__V1__STOP_POD_SANDBOX_RESPONSE__INIT;

  if (!grove_engine_stop_pod_finish (GROVE_ENGINE (source), result, &local_error)
      && !g_error_matches (local_error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND))
    return grove_cri_reply_error (async_call->call, local_error);
  grove_cri_reply (async_call->call, &response.base);
}

static void
handle_stop_pod (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__StopPodSandboxRequest *request
      = (const Runtime__V1__StopPodSandboxRequest *)message;

  if (request->pod_sandbox_id == NULL || request->pod_sandbox_id[0] == '\0')
    return grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT,
                                   "StopPodSandbox: pod_sandbox_id is required");
  grove_engine_stop_pod_async (self->engine, request->pod_sandbox_id,
                               grove_grpc_call_get_cancellable (call), stop_pod_cb,
                               grove_cri_async_call_new (self, call));
}

static void
remove_pod_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveCriAsyncCall) async_call = user_data;
  g_autoptr (GError) local_error = NULL;
  Runtime__V1__RemovePodSandboxResponse response = RUNTIME__V1__REMOVE_POD_SANDBOX_RESPONSE__INIT;

  if (!grove_engine_remove_pod_finish (GROVE_ENGINE (source), result, &local_error)
      && !g_error_matches (local_error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND))
    return grove_cri_reply_error (async_call->call, local_error);
  grove_cri_reply (async_call->call, &response.base);
}

static void
handle_remove_pod (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__RemovePodSandboxRequest *request
      = (const Runtime__V1__RemovePodSandboxRequest *)message;

  if (request->pod_sandbox_id == NULL || request->pod_sandbox_id[0] == '\0')
    return grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT,
                                   "RemovePodSandbox: pod_sandbox_id is required");
  grove_engine_remove_pod_async (self->engine, request->pod_sandbox_id,
                                 grove_grpc_call_get_cancellable (call), remove_pod_cb,
                                 grove_cri_async_call_new (self, call));
}

/* PodSandboxStatus */

static char *
pod_info (GrovePod *pod)
{
  g_autoptr (JsonNode) record = grove_pod_to_json (pod);

  return json_to_string (record, FALSE);
}

/**
 * grove_cri_pod_container_statuses: (skip)
 * @self: the service
 * @arena: where the messages live
 * @pod_id: a pod
 * @n_out: (out): how many
 *
 * Returns: the statuses of the pod's containers, for kubelet's evented PLEG
 */
Runtime__V1__ContainerStatus **
grove_cri_pod_container_statuses (GroveCriService *self, GPtrArray *arena, const char *pod_id,
                                  size_t *n_out)
{
  GroveListFilter filter = { .pod_id = pod_id, .state = -1 };
  g_autoptr (GPtrArray) containers = grove_engine_list_containers (self->engine, &filter);
  Runtime__V1__ContainerStatus **statuses
      = grove_cri_arena_keep (arena, g_new0 (Runtime__V1__ContainerStatus *, containers->len + 1));

  for (guint i = 0; i < containers->len; i++)
    statuses[i] = grove_cri_container_status (arena, containers->pdata[i]);
  *n_out = containers->len;
  return statuses;
}

static void
handle_pod_status (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__PodSandboxStatusRequest *request
      = (const Runtime__V1__PodSandboxStatusRequest *)message;
  g_autoptr (GPtrArray) arena = grove_cri_arena_new_array ();
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GrovePod) pod
      = grove_engine_get_pod (self->engine, request->pod_sandbox_id, &local_error);
  Runtime__V1__PodSandboxStatusResponse response = RUNTIME__V1__POD_SANDBOX_STATUS_RESPONSE__INIT;

  if (pod == NULL)
    return grove_cri_reply_error (call, local_error);
  response.status = grove_cri_pod_status (arena, pod);
  response.containers_statuses = grove_cri_pod_container_statuses (
      self, arena, grove_pod_get_id (pod), &response.n_containers_statuses);
  response.timestamp = g_get_real_time () * 1000;
  if (request->verbose)
    response.info = grove_cri_info_map (
        arena, &runtime__v1__pod_sandbox_status_response__info_entry__descriptor, pod_info (pod),
        &response.n_info);
  grove_cri_reply (call, &response.base);
}

/* ListPodSandbox */

static Runtime__V1__PodSandbox *
pod_summary (GPtrArray *arena, GrovePod *pod)
{
  JsonObject *config = grove_pod_get_config (pod);
  Runtime__V1__PodSandbox *summary
      = grove_cri_arena_new (arena, Runtime__V1__PodSandbox, RUNTIME__V1__POD_SANDBOX__INIT);

  summary->id = grove_cri_arena_strdup (arena, grove_pod_get_id (pod));
  summary->metadata = pod_metadata (arena, pod);
  summary->state = grove_pod_get_state (pod) == GROVE_POD_STATE_READY
                       ? RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
                       : RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
  summary->created_at = grove_pod_get_created_at (pod);
  summary->labels
      = grove_cri_string_map (arena, &runtime__v1__pod_sandbox__labels_entry__descriptor,
                              config_object (config, "labels"), &summary->n_labels);
  summary->annotations
      = grove_cri_string_map (arena, &runtime__v1__pod_sandbox__annotations_entry__descriptor,
                              config_object (config, "annotations"), &summary->n_annotations);
  summary->runtime_handler = grove_cri_arena_strdup (arena, grove_pod_get_handler (pod));
  return summary;
}

static void
handle_list_pods (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__ListPodSandboxRequest *request
      = (const Runtime__V1__ListPodSandboxRequest *)message;
  const Runtime__V1__PodSandboxFilter *cri_filter = request->filter;
  g_autoptr (GPtrArray) arena = grove_cri_arena_new_array ();
  g_autoptr (GHashTable) labels = NULL;
  g_autoptr (GPtrArray) pods = NULL;
  GroveListFilter filter = { .state = -1 };
  Runtime__V1__ListPodSandboxResponse response = RUNTIME__V1__LIST_POD_SANDBOX_RESPONSE__INIT;

  if (cri_filter != NULL)
    {
      labels = grove_cri_selector ((ProtobufCMessage **)cri_filter->label_selector,
                                   cri_filter->n_label_selector);
      filter.id = cri_filter->id != NULL && cri_filter->id[0] != '\0' ? cri_filter->id : NULL;
      filter.state = cri_filter->state != NULL ? (int)cri_filter->state->state : -1;
      filter.labels = labels;
    }
  pods = grove_engine_list_pods (self->engine, &filter);
  response.items = grove_cri_arena_keep (arena, g_new0 (Runtime__V1__PodSandbox *, pods->len + 1));
  for (guint i = 0; i < pods->len; i++)
    response.items[i] = pod_summary (arena, pods->pdata[i]);
  response.n_items = pods->len;
  grove_cri_reply (call, &response.base);
}

const GroveCriMethod grove_cri_pod_methods[] = {
  GROVE_CRI_RUNTIME_METHOD ("RunPodSandbox", runtime__v1__run_pod_sandbox_request, handle_run_pod),
  GROVE_CRI_RUNTIME_METHOD ("StopPodSandbox", runtime__v1__stop_pod_sandbox_request,
                            handle_stop_pod),
  GROVE_CRI_RUNTIME_METHOD ("RemovePodSandbox", runtime__v1__remove_pod_sandbox_request,
                            handle_remove_pod),
  GROVE_CRI_RUNTIME_METHOD ("PodSandboxStatus", runtime__v1__pod_sandbox_status_request,
                            handle_pod_status),
  GROVE_CRI_RUNTIME_METHOD ("ListPodSandbox", runtime__v1__list_pod_sandbox_request,
                            handle_list_pods),
};

const guint grove_cri_n_pod_methods = G_N_ELEMENTS (grove_cri_pod_methods);
