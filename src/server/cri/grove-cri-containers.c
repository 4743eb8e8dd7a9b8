/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveCriService"

/*
 * The CRI's container calls. A ContainerConfig reaches the engine as the protobuf JSON
 * mapping of the message; statuses are read back from the GroveContainer and the config
 * it keeps. Stop and remove succeed for containers that are already gone.
 */

#include "grove-cri-service-private.h"
#include "grove-protobuf-json.h"
#include "grove-record.h"
#include "grove-utils.h"

static JsonObject *
object_member (JsonObject *object, const char *member)
{
  return object != NULL ? grove_record_object (object, member) : NULL;
}

static char *
image_ref (GPtrArray *arena, GroveContainer *container)
{
  const char *id = grove_container_get_image_id (container);

  if (id == NULL || id[0] == '\0')
    return grove_cri_arena_strdup (arena, "");
  if (g_str_has_prefix (id, "sha256:"))
    return grove_cri_arena_strdup (arena, id);
  return grove_cri_arena_keep (arena, g_strconcat ("sha256:", id, NULL));
}

static Runtime__V1__ContainerMetadata *
container_metadata (GPtrArray *arena, GroveContainer *container)
{
  Runtime__V1__ContainerMetadata *metadata = grove_cri_arena_new (
      arena, Runtime__V1__ContainerMetadata, RUNTIME__V1__CONTAINER_METADATA__INIT);

  metadata->name = grove_cri_arena_strdup (arena, grove_container_get_name (container));
  metadata->attempt = grove_container_get_attempt (container);
  return metadata;
}

static Runtime__V1__ImageSpec *
image_spec (GPtrArray *arena, GroveContainer *container)
{
  Runtime__V1__ImageSpec *spec
      = grove_cri_arena_new (arena, Runtime__V1__ImageSpec, RUNTIME__V1__IMAGE_SPEC__INIT);

  spec->image = grove_cri_arena_strdup (arena, grove_container_get_image_name (container));
  return spec;
}

static Runtime__V1__Mount *
mount_message (GPtrArray *arena, JsonObject *mount)
{
  const char *const propagations[]
      = { "PROPAGATION_PRIVATE", "PROPAGATION_HOST_TO_CONTAINER", "PROPAGATION_BIDIRECTIONAL" };
  Runtime__V1__Mount *message
      = grove_cri_arena_new (arena, Runtime__V1__Mount, RUNTIME__V1__MOUNT__INIT);
  const char *propagation = grove_record_string (mount, "propagation");

  message->container_path
      = grove_cri_arena_strdup (arena, grove_record_string (mount, "containerPath"));
  message->host_path = grove_cri_arena_strdup (arena, grove_record_string (mount, "hostPath"));
  message->readonly = grove_record_bool (mount, "readonly");
  message->selinux_relabel = grove_record_bool (mount, "selinuxRelabel");
  for (guint i = 0; propagation != NULL && i < G_N_ELEMENTS (propagations); i++)
    if (g_str_equal (propagation, propagations[i]))
      message->propagation = (Runtime__V1__MountPropagation)i;
  return message;
}

static Runtime__V1__Mount **
container_mounts (GPtrArray *arena, JsonObject *config, size_t *n_out)
{
  JsonArray *mounts = NULL;
  Runtime__V1__Mount **messages = NULL;
  guint n = 0;

  if (config != NULL && json_object_has_member (config, "mounts")
      && JSON_NODE_HOLDS_ARRAY (json_object_get_member (config, "mounts")))
    mounts = json_object_get_array_member (config, "mounts");
  messages = grove_cri_arena_keep (
      arena,
      g_new0 (Runtime__V1__Mount *, (mounts != NULL ? json_array_get_length (mounts) : 0) + 1));
  for (guint i = 0; mounts != NULL && i < json_array_get_length (mounts); i++)
    {
      JsonNode *node = json_array_get_element (mounts, i);

      if (JSON_NODE_HOLDS_OBJECT (node))
        messages[n++] = mount_message (arena, json_node_get_object (node));
    }
  *n_out = n;
  return messages;
}

/* the limits the container runs with, as kubelet's in-place resize reads them back */
static Runtime__V1__ContainerResources *
container_resources (GPtrArray *arena, JsonObject *config)
{
  JsonObject *resources = object_member (object_member (config, "linux"), "resources");
  Runtime__V1__LinuxContainerResources *linux_resources = NULL;
  Runtime__V1__ContainerResources *message = NULL;

  if (resources == NULL)
    return NULL;
  linux_resources = grove_cri_arena_new (arena, Runtime__V1__LinuxContainerResources,
                                         RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT);
  linux_resources->cpu_period = grove_record_int (resources, "cpuPeriod", 0);
  linux_resources->cpu_quota = grove_record_int (resources, "cpuQuota", 0);
  linux_resources->cpu_shares = grove_record_int (resources, "cpuShares", 0);
  linux_resources->memory_limit_in_bytes = grove_record_int (resources, "memoryLimitInBytes", 0);
  linux_resources->oom_score_adj = grove_record_int (resources, "oomScoreAdj", 0);
  linux_resources->memory_swap_limit_in_bytes
      = grove_record_int (resources, "memorySwapLimitInBytes", 0);
  linux_resources->cpuset_cpus
      = grove_cri_arena_strdup (arena, grove_record_string (resources, "cpusetCpus"));
  linux_resources->cpuset_mems
      = grove_cri_arena_strdup (arena, grove_record_string (resources, "cpusetMems"));
  message = grove_cri_arena_new (arena, Runtime__V1__ContainerResources,
                                 RUNTIME__V1__CONTAINER_RESOURCES__INIT);
  message->linux = linux_resources;
  return message;
}

/**
 * grove_cri_container_status: (skip)
 * @arena: where the message lives
 * @container: a container
 *
 * Returns: the container's CRI ContainerStatus
 */
Runtime__V1__ContainerStatus *
grove_cri_container_status (GPtrArray *arena, GroveContainer *container)
{
  JsonObject *config = grove_container_get_config (container);
  Runtime__V1__ContainerStatus *status = grove_cri_arena_new (arena, Runtime__V1__ContainerStatus,
                                                              RUNTIME__V1__CONTAINER_STATUS__INIT);

  status->id = grove_cri_arena_strdup (arena, grove_container_get_id (container));
  status->metadata = container_metadata (arena, container);
  status->state = (Runtime__V1__ContainerState)grove_container_get_state (container);
  status->created_at = grove_container_get_created_at (container);
  status->started_at = grove_container_get_started_at (container);
  status->finished_at = grove_container_get_finished_at (container);
  status->exit_code = grove_container_get_exit_code (container);
  status->image = image_spec (arena, container);
  status->image_ref = image_ref (arena, container);
  status->image_id = image_ref (arena, container);
  status->reason = grove_cri_arena_strdup (arena, grove_container_get_reason (container));
  status->message = grove_cri_arena_strdup (arena, grove_container_get_message (container));
  status->labels
      = grove_cri_string_map (arena, &runtime__v1__container_status__labels_entry__descriptor,
                              object_member (config, "labels"), &status->n_labels);
  status->annotations
      = grove_cri_string_map (arena, &runtime__v1__container_status__annotations_entry__descriptor,
                              object_member (config, "annotations"), &status->n_annotations);
  status->mounts = container_mounts (arena, config, &status->n_mounts);
  status->log_path = grove_cri_arena_strdup (arena, grove_container_get_log_path (container));
  status->resources = container_resources (arena, config);
  return status;
}

/* CreateContainer */

static void
create_container_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveCriAsyncCall) async_call = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GroveContainer) container
      = grove_engine_create_container_finish (GROVE_ENGINE (source), result, &local_error);
  Runtime__V1__CreateContainerResponse response = RUNTIME__V1__CREATE_CONTAINER_RESPONSE__INIT;

  if (container == NULL)
    return grove_cri_reply_error (async_call->call, local_error);
  response.container_id = (char *)grove_container_get_id (container);
  grove_cri_reply (async_call->call, &response.base);
}

static void
handle_create_container (GroveCriService *self, GroveGrpcCall *call,
                         const ProtobufCMessage *message)
{
  const Runtime__V1__CreateContainerRequest *request
      = (const Runtime__V1__CreateContainerRequest *)message;
  g_autoptr (JsonObject) config = NULL;

  if (request->pod_sandbox_id == NULL || request->pod_sandbox_id[0] == '\0')
    return grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT,
                                   "CreateContainer: pod_sandbox_id is required");
  if (request->config == NULL)
    return grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT,
                                   "CreateContainer: config is required");
  config = grove_protobuf_to_json (&request->config->base);
  grove_engine_create_container_async (self->engine, request->pod_sandbox_id, config,
                                       grove_grpc_call_get_cancellable (call), create_container_cb,
                                       grove_cri_async_call_new (self, call));
}

/* StartContainer, StopContainer, RemoveContainer */

static gboolean
require_id (GroveGrpcCall *call, const char *method, const char *id)
{
  if (id != NULL && id[0] != '\0')
    return TRUE;
  grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT, "%s: container_id is required",
                          method);
  return FALSE;
}

static void
start_container_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveCriAsyncCall) async_call = user_data;
  g_autoptr (GError) local_error = NULL;
  Runtime__V1__StartContainerResponse response = RUNTIME__V1__START_CONTAINER_RESPONSE__INIT;

  if (!grove_engine_start_container_finish (GROVE_ENGINE (source), result, &local_error))
    return grove_cri_reply_error (async_call->call, local_error);
  grove_cri_reply (async_call->call, &response.base);
}

static void
handle_start_container (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__StartContainerRequest *request
      = (const Runtime__V1__StartContainerRequest *)message;

  if (!require_id (call, "StartContainer", request->container_id))
    return;
  grove_engine_start_container_async (self->engine, request->container_id,
                                      grove_grpc_call_get_cancellable (call), start_container_cb,
                                      grove_cri_async_call_new (self, call));
}

static void
stop_container_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveCriAsyncCall) async_call = user_data;
  g_autoptr (GError) local_error = NULL;
  Runtime__V1__StopContainerResponse response = RUNTIME__V1__STOP_CONTAINER_RESPONSE__INIT;

  if (!grove_engine_stop_container_finish (GROVE_ENGINE (source), result, &local_error)
      && !g_error_matches (local_error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND))
    return grove_cri_reply_error (async_call->call, local_error);
  grove_cri_reply (async_call->call, &response.base);
}

static void
handle_stop_container (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__StopContainerRequest *request
      = (const Runtime__V1__StopContainerRequest *)message;

  if (!require_id (call, "StopContainer", request->container_id))
    return;
  if (request->timeout < 0)
    return grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT,
                                   "StopContainer: timeout %" G_GINT64_FORMAT " is negative",
                                   request->timeout);
  grove_engine_stop_container_async (self->engine, request->container_id,
                                     (guint)MIN (request->timeout, G_MAXUINT),
                                     grove_grpc_call_get_cancellable (call), stop_container_cb,
                                     grove_cri_async_call_new (self, call));
}

static void
remove_container_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveCriAsyncCall) async_call = user_data;
  g_autoptr (GError) local_error = NULL;
  Runtime__V1__RemoveContainerResponse response = RUNTIME__V1__REMOVE_CONTAINER_RESPONSE__INIT;

  if (!grove_engine_remove_container_finish (GROVE_ENGINE (source), result, &local_error)
      && !g_error_matches (local_error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND))
    return grove_cri_reply_error (async_call->call, local_error);
  grove_cri_reply (async_call->call, &response.base);
}

static void
handle_remove_container (GroveCriService *self, GroveGrpcCall *call,
                         const ProtobufCMessage *message)
{
  const Runtime__V1__RemoveContainerRequest *request
      = (const Runtime__V1__RemoveContainerRequest *)message;

  if (!require_id (call, "RemoveContainer", request->container_id))
    return;
  grove_engine_remove_container_async (self->engine, request->container_id,
                                       grove_grpc_call_get_cancellable (call), remove_container_cb,
                                       grove_cri_async_call_new (self, call));
}

/* ListContainers, ContainerStatus */

static Runtime__V1__Container *
container_summary (GPtrArray *arena, GroveContainer *container)
{
  JsonObject *config = grove_container_get_config (container);
  Runtime__V1__Container *summary
      = grove_cri_arena_new (arena, Runtime__V1__Container, RUNTIME__V1__CONTAINER__INIT);

  summary->id = grove_cri_arena_strdup (arena, grove_container_get_id (container));
  summary->pod_sandbox_id = grove_cri_arena_strdup (arena, grove_container_get_pod_id (container));
  summary->metadata = container_metadata (arena, container);
  summary->image = image_spec (arena, container);
  summary->image_ref = image_ref (arena, container);
  summary->image_id = image_ref (arena, container);
  summary->state = (Runtime__V1__ContainerState)grove_container_get_state (container);
  summary->created_at = grove_container_get_created_at (container);
  summary->labels = grove_cri_string_map (arena, &runtime__v1__container__labels_entry__descriptor,
                                          object_member (config, "labels"), &summary->n_labels);
  summary->annotations
      = grove_cri_string_map (arena, &runtime__v1__container__annotations_entry__descriptor,
                              object_member (config, "annotations"), &summary->n_annotations);
  return summary;
}

static void
handle_list_containers (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__ListContainersRequest *request
      = (const Runtime__V1__ListContainersRequest *)message;
  const Runtime__V1__ContainerFilter *cri_filter = request->filter;
  g_autoptr (GPtrArray) arena = grove_cri_arena_new_array ();
  g_autoptr (GHashTable) labels = NULL;
  g_autoptr (GPtrArray) containers = NULL;
  GroveListFilter filter = { .state = -1 };
  Runtime__V1__ListContainersResponse response = RUNTIME__V1__LIST_CONTAINERS_RESPONSE__INIT;

  if (cri_filter != NULL)
    {
      labels = grove_cri_selector ((ProtobufCMessage **)cri_filter->label_selector,
                                   cri_filter->n_label_selector);
      filter.id = cri_filter->id != NULL && cri_filter->id[0] != '\0' ? cri_filter->id : NULL;
      filter.pod_id = cri_filter->pod_sandbox_id != NULL && cri_filter->pod_sandbox_id[0] != '\0'
                          ? cri_filter->pod_sandbox_id
                          : NULL;
      filter.state = cri_filter->state != NULL ? (int)cri_filter->state->state : -1;
      filter.labels = labels;
    }
  containers = grove_engine_list_containers (self->engine, &filter);
  response.containers
      = grove_cri_arena_keep (arena, g_new0 (Runtime__V1__Container *, containers->len + 1));
  for (guint i = 0; i < containers->len; i++)
    response.containers[i] = container_summary (arena, containers->pdata[i]);
  response.n_containers = containers->len;
  grove_cri_reply (call, &response.base);
}

static char *
container_info (GroveContainer *container)
{
  g_autoptr (JsonNode) record = grove_container_to_json (container);

  return json_to_string (record, FALSE);
}

static void
handle_container_status (GroveCriService *self, GroveGrpcCall *call,
                         const ProtobufCMessage *message)
{
  const Runtime__V1__ContainerStatusRequest *request
      = (const Runtime__V1__ContainerStatusRequest *)message;
  g_autoptr (GPtrArray) arena = grove_cri_arena_new_array ();
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GroveContainer) container = NULL;
  Runtime__V1__ContainerStatusResponse response = RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INIT;

  if (!require_id (call, "ContainerStatus", request->container_id))
    return;
  container = grove_engine_get_container (self->engine, request->container_id, &local_error);
  if (container == NULL)
    return grove_cri_reply_error (call, local_error);
  response.status = grove_cri_container_status (arena, container);
  if (request->verbose)
    response.info = grove_cri_info_map (
        arena, &runtime__v1__container_status_response__info_entry__descriptor,
        container_info (container), &response.n_info);
  grove_cri_reply (call, &response.base);
}

/* UpdateContainerResources, ReopenContainerLog */

static void
update_resources_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveCriAsyncCall) async_call = user_data;
  g_autoptr (GError) local_error = NULL;
  Runtime__V1__UpdateContainerResourcesResponse response
      = RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_RESPONSE__INIT;

  if (!grove_engine_update_container_resources_finish (GROVE_ENGINE (source), result, &local_error))
    return grove_cri_reply_error (async_call->call, local_error);
  grove_cri_reply (async_call->call, &response.base);
}

static void
handle_update_resources (GroveCriService *self, GroveGrpcCall *call,
                         const ProtobufCMessage *message)
{
  const Runtime__V1__UpdateContainerResourcesRequest *request
      = (const Runtime__V1__UpdateContainerResourcesRequest *)message;
  g_autoptr (JsonObject) resources = NULL;

  if (!require_id (call, "UpdateContainerResources", request->container_id))
    return;
  if (request->linux == NULL)
    return grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT,
                                   "UpdateContainerResources: linux resources are required");
  resources = grove_protobuf_to_json (&request->linux->base);
  grove_engine_update_container_resources_async (
      self->engine, request->container_id, resources, grove_grpc_call_get_cancellable (call),
      update_resources_cb, grove_cri_async_call_new (self, call));
}

static void
handle_reopen_log (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__ReopenContainerLogRequest *request
      = (const Runtime__V1__ReopenContainerLogRequest *)message;
  g_autoptr (GError) local_error = NULL;
  Runtime__V1__ReopenContainerLogResponse response
      = RUNTIME__V1__REOPEN_CONTAINER_LOG_RESPONSE__INIT;

  if (!require_id (call, "ReopenContainerLog", request->container_id))
    return;
  if (!grove_engine_reopen_log (self->engine, request->container_id, &local_error))
    return grove_cri_reply_error (call, local_error);
  grove_cri_reply (call, &response.base);
}

/* ExecSync: the timeout is enforced by Grove, which kills the process */

static void
exec_sync_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveCriAsyncCall) async_call = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GroveExecResult) exec
      = grove_engine_exec_sync_finish (GROVE_ENGINE (source), result, &local_error);
  Runtime__V1__ExecSyncResponse response = RUNTIME__V1__EXEC_SYNC_RESPONSE__INIT;
  gsize len = 0;

  if (exec == NULL)
    return grove_cri_reply_error (async_call->call, local_error);
  response.stdout.data = (guint8 *)g_bytes_get_data (exec->stdout_data, &len);
  response.stdout.len = len;
  response.stderr.data = (guint8 *)g_bytes_get_data (exec->stderr_data, &len);
  response.stderr.len = len;
  response.exit_code = exec->exit_code;
  grove_cri_reply (async_call->call, &response.base);
}

static void
handle_exec_sync (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__ExecSyncRequest *request = (const Runtime__V1__ExecSyncRequest *)message;
  g_autofree const char **argv = NULL;

  if (!require_id (call, "ExecSync", request->container_id))
    return;
  if (request->n_cmd == 0 || request->cmd[0][0] == '\0')
    return grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT,
                                   "ExecSync: cmd is required");
  if (request->timeout < 0)
    return grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT,
                                   "ExecSync: timeout %" G_GINT64_FORMAT " is negative",
                                   request->timeout);
  argv = g_new0 (const char *, request->n_cmd + 1);
  for (size_t i = 0; i < request->n_cmd; i++)
    argv[i] = request->cmd[i];
  grove_engine_exec_sync_async (
      self->engine, request->container_id, argv, (guint)MIN (request->timeout, G_MAXUINT),
      grove_grpc_call_get_cancellable (call), exec_sync_cb, grove_cri_async_call_new (self, call));
}

const GroveCriMethod grove_cri_container_methods[] = {
  GROVE_CRI_RUNTIME_METHOD ("CreateContainer", runtime__v1__create_container_request,
                            handle_create_container),
  GROVE_CRI_RUNTIME_METHOD ("StartContainer", runtime__v1__start_container_request,
                            handle_start_container),
  GROVE_CRI_RUNTIME_METHOD ("StopContainer", runtime__v1__stop_container_request,
                            handle_stop_container),
  GROVE_CRI_RUNTIME_METHOD ("RemoveContainer", runtime__v1__remove_container_request,
                            handle_remove_container),
  GROVE_CRI_RUNTIME_METHOD ("ListContainers", runtime__v1__list_containers_request,
                            handle_list_containers),
  GROVE_CRI_RUNTIME_METHOD ("ContainerStatus", runtime__v1__container_status_request,
                            handle_container_status),
  GROVE_CRI_RUNTIME_METHOD ("UpdateContainerResources",
                            runtime__v1__update_container_resources_request,
                            handle_update_resources),
  GROVE_CRI_RUNTIME_METHOD ("ReopenContainerLog", runtime__v1__reopen_container_log_request,
                            handle_reopen_log),
  GROVE_CRI_RUNTIME_METHOD ("ExecSync", runtime__v1__exec_sync_request, handle_exec_sync),
};

const guint grove_cri_n_container_methods = G_N_ELEMENTS (grove_cri_container_methods);
