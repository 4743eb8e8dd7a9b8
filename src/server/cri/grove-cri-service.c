/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveCriService"

/*
 * The CRI face of a GroveEngine and its store: runtime.v1 RuntimeService and ImageService
 * methods on a GroveGrpcServer. It only translates: a request's protobuf-c message into
 * engine and store calls, their results into a response message, and GErrors into gRPC
 * statuses. Methods not listed in the table below are answered UNIMPLEMENTED by the
 * server itself.
 *
 * A response is built from stack and arena memory (everything it points to is freed
 * once it is packed), never from protobuf-c's own allocations.
 */

#include <string.h>

#include <json-glib/json-glib.h>

#include "api.pb-c.h"
#include "grove-cri-service-private.h"
#include "grove-reference.h"
#include "grove-utils.h"

/* the version of the kubelet-runtime API itself, which the CRI fixes at 0.1.0 */
#define KUBELET_API_VERSION "0.1.0"
#define RUNTIME_NAME "grove"
#define CRI_API_VERSION "v1"

G_DEFINE_TYPE (GroveCriService, grove_cri_service, G_TYPE_OBJECT)

/* what one registered method's handler gets */
typedef struct
{
  GroveCriService *self;
  const GroveCriMethod *method;
} Binding;

static void
free_message (ProtobufCMessage *message)
{
  protobuf_c_message_free_unpacked (message, NULL);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ProtobufCMessage, free_message)

/* Runtime: version, status, config */

static void
handle_version (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *request)
{
  Runtime__V1__VersionResponse response = RUNTIME__V1__VERSION_RESPONSE__INIT;

  response.version = (char *)KUBELET_API_VERSION;
  response.runtime_name = (char *)RUNTIME_NAME;
  response.runtime_version = (char *)PACKAGE_VERSION;
  response.runtime_api_version = (char *)CRI_API_VERSION;
  grove_cri_reply (call, &response.base);
}

static char *
status_info (GroveCriService *self, const char *const *handlers, gboolean network_ready)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "runtimeName");
  json_builder_add_string_value (builder, RUNTIME_NAME);
  json_builder_set_member_name (builder, "runtimeVersion");
  json_builder_add_string_value (builder, PACKAGE_VERSION);
  json_builder_set_member_name (builder, "storeRoot");
  json_builder_add_string_value (builder,
                                 grove_store_get_root (grove_engine_get_store (self->engine)));
  json_builder_set_member_name (builder, "cgroupDriver");
  json_builder_add_string_value (builder, "cgroupfs");
  json_builder_set_member_name (builder, "runtimeHandlers");
  json_builder_begin_array (builder);
  for (guint i = 0; handlers[i] != NULL; i++)
    json_builder_add_string_value (builder, handlers[i]);
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "podCIDR");
  json_builder_add_string_value (builder, self->pod_cidr != NULL ? self->pod_cidr : "");
  json_builder_set_member_name (builder, "cniConfigured");
  json_builder_add_boolean_value (builder, network_ready);
  json_builder_end_object (builder);
  return grove_cri_json_text (builder);
}

/* each handler the engine has, with what it offers; recursive read-only mounts it does not */
static Runtime__V1__RuntimeHandler **
status_handlers (GroveCriService *self, GPtrArray *arena, const char *const *names, size_t *n_out)
{
  guint n = g_strv_length ((char **)names);
  Runtime__V1__RuntimeHandler **handlers
      = grove_cri_arena_keep (arena, g_new0 (Runtime__V1__RuntimeHandler *, n + 1));

  for (guint i = 0; i < n; i++)
    {
      handlers[i] = grove_cri_arena_new (arena, Runtime__V1__RuntimeHandler,
                                         RUNTIME__V1__RUNTIME_HANDLER__INIT);
      handlers[i]->name = grove_cri_arena_strdup (arena, names[i]);
      handlers[i]->features = grove_cri_arena_new (arena, Runtime__V1__RuntimeHandlerFeatures,
                                                   RUNTIME__V1__RUNTIME_HANDLER_FEATURES__INIT);
      grove_engine_get_handler_features (self->engine, names[i],
                                         &handlers[i]->features->user_namespaces);
    }
  *n_out = n;
  return handlers;
}

static void
handle_status (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__StatusRequest *request = (const Runtime__V1__StatusRequest *)message;
  g_autoptr (GPtrArray) arena = grove_cri_arena_new_array ();
  g_auto (GStrv) names = grove_engine_dup_handler_names (self->engine);
  Runtime__V1__RuntimeCondition runtime_ready = RUNTIME__V1__RUNTIME_CONDITION__INIT;
  Runtime__V1__RuntimeCondition network_ready = RUNTIME__V1__RUNTIME_CONDITION__INIT;
  Runtime__V1__RuntimeCondition *conditions[] = { &runtime_ready, &network_ready };
  Runtime__V1__RuntimeStatus status = RUNTIME__V1__RUNTIME_STATUS__INIT;
  Runtime__V1__RuntimeFeatures features = RUNTIME__V1__RUNTIME_FEATURES__INIT;
  Runtime__V1__StatusResponse response = RUNTIME__V1__STATUS_RESPONSE__INIT;
  g_autofree char *reason = NULL;
  g_autofree char *why = NULL;
  gboolean ready = FALSE;

  runtime_ready.type = (char *)"RuntimeReady";
  runtime_ready.status = TRUE;
  /* the CNI config dir is read again on every call: a config that appears is seen */
  grove_engine_get_network_status (self->engine, &ready, &reason, &why);
  network_ready.type = (char *)"NetworkReady";
  network_ready.status = ready;
  network_ready.reason = ready ? NULL : reason;
  network_ready.message = ready ? NULL : why;
  status.n_conditions = G_N_ELEMENTS (conditions);
  status.conditions = conditions;
  response.status = &status;
  response.runtime_handlers
      = status_handlers (self, arena, (const char *const *)names, &response.n_runtime_handlers);
  response.features = &features;
  if (request->verbose)
    response.info = grove_cri_info_map (
        arena, &runtime__v1__status_response__info_entry__descriptor,
        status_info (self, (const char *const *)names, ready), &response.n_info);
  grove_cri_reply (call, &response.base);
}

static void
handle_runtime_config (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *request)
{
  Runtime__V1__LinuxRuntimeConfiguration linux_config
      = RUNTIME__V1__LINUX_RUNTIME_CONFIGURATION__INIT;
  Runtime__V1__RuntimeConfigResponse response = RUNTIME__V1__RUNTIME_CONFIG_RESPONSE__INIT;

  /* the engine puts containers below its cgroup parent on cgroupfs, never through systemd */
  linux_config.cgroup_driver = RUNTIME__V1__CGROUP_DRIVER__CGROUPFS;
  response.linux = &linux_config;
  grove_cri_reply (call, &response.base);
}

/* one CIDR or a dual-stack pair separated by a comma, as kubelet sends them */
static gboolean
check_pod_cidr (const char *text, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);

  for (guint i = 0; parts[i] != NULL; i++)
    {
      g_autoptr (GInetAddressMask) mask = NULL;
      g_autoptr (GError) local_error = NULL;
      mask = g_inet_address_mask_new_from_string (g_strstrip (parts[i]), &local_error);
      if (mask == NULL)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "runtime_config.network_config.pod_cidr: '%s' is not a CIDR: %s", text,
                            local_error->message);
    }
  return TRUE;
}

static void
handle_update_runtime_config (GroveCriService *self, GroveGrpcCall *call,
                              const ProtobufCMessage *message)
{
  const Runtime__V1__UpdateRuntimeConfigRequest *request
      = (const Runtime__V1__UpdateRuntimeConfigRequest *)message;
  Runtime__V1__UpdateRuntimeConfigResponse response
      = RUNTIME__V1__UPDATE_RUNTIME_CONFIG_RESPONSE__INIT;
  g_autoptr (GError) error = NULL;
  const char *cidr = NULL;

  if (request->runtime_config != NULL && request->runtime_config->network_config != NULL)
    cidr = request->runtime_config->network_config->pod_cidr;
  /* an empty CIDR leaves the one known */
  if (cidr != NULL && cidr[0] != '\0')
    {
      if (!check_pod_cidr (cidr, &error))
        {
          grove_cri_reply_error (call, error);
          return;
        }
      if (g_strcmp0 (self->pod_cidr, cidr) != 0)
        g_message ("CRI: the pod CIDR is now %s", cidr);
      g_free (self->pod_cidr);
      self->pod_cidr = g_strdup (cidr);
    }
  grove_cri_reply (call, &response.base);
}

/* Images */

/* image documents are bytes, not NUL-terminated strings */
static JsonNode *
parse_json_bytes (GBytes *json)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  gsize length = 0;
  const char *data = json != NULL ? g_bytes_get_data (json, &length) : NULL;

  if (data == NULL || !json_parser_load_from_data (parser, data, (gssize)length, NULL))
    return NULL;
  return json_parser_steal_root (parser);
}

static char *
image_ref (GroveImage *image)
{
  return g_strconcat ("sha256:", grove_image_get_id (image), NULL);
}

/* the image config's User, "name", "uid", "name:group" or "uid:gid": a numeric user is a
 * uid, anything else a user name, nothing when the image names no user */
static void
image_user (GPtrArray *arena, GroveImage *image, Runtime__V1__Image *message)
{
  g_autoptr (JsonNode) root = parse_json_bytes (grove_image_get_config (image));
  g_autofree char *user = NULL;
  JsonObject *object = NULL;
  guint64 uid = 0;

  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return;
  object = json_node_get_object (root);
  if (json_object_has_member (object, "config")
      && JSON_NODE_HOLDS_OBJECT (json_object_get_member (object, "config")))
    object = json_object_get_object_member (object, "config");
  else
    return;
  user = g_strdup (json_object_get_string_member_with_default (object, "User", ""));
  *strchrnul (user, ':') = '\0';
  if (user[0] == '\0')
    return;
  if (g_ascii_string_to_unsigned (user, 10, 0, G_MAXINT64, &uid, NULL))
    {
      message->uid
          = grove_cri_arena_new (arena, Runtime__V1__Int64Value, RUNTIME__V1__INT64_VALUE__INIT);
      message->uid->value = (int64_t)uid;
    }
  else
    message->username = grove_cri_arena_strdup (arena, user);
}

static Runtime__V1__Image *
image_message (GPtrArray *arena, GroveImage *image)
{
  Runtime__V1__Image *message
      = grove_cri_arena_new (arena, Runtime__V1__Image, RUNTIME__V1__IMAGE__INIT);
  g_auto (GStrv) digests = grove_image_dup_repo_digests (image);

  message->id = grove_cri_arena_keep (arena, image_ref (image));
  message->repo_tags
      = grove_cri_arena_strv (arena, grove_image_get_names (image), &message->n_repo_tags);
  message->repo_digests
      = grove_cri_arena_strv (arena, (const char *const *)digests, &message->n_repo_digests);
  message->size = grove_image_get_size (image);
  message->spec
      = grove_cri_arena_new (arena, Runtime__V1__ImageSpec, RUNTIME__V1__IMAGE_SPEC__INIT);
  message->spec->image = message->id;
  image_user (arena, image, message);
  return message;
}

static void
add_json_member (JsonBuilder *builder, const char *name, GBytes *json)
{
  g_autoptr (JsonNode) node = parse_json_bytes (json);

  if (node == NULL)
    return;
  json_builder_set_member_name (builder, name);
  json_builder_add_value (builder, g_steal_pointer (&node));
}

static void
add_strv_member (JsonBuilder *builder, const char *name, const char *const *strv)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_array (builder);
  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    json_builder_add_string_value (builder, strv[i]);
  json_builder_end_array (builder);
}

/* what crictl inspecti shows beside the status: Grove's view and the OCI documents */
static char *
image_info (GroveImage *image)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_auto (GStrv) digests = grove_image_dup_repo_digests (image);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, grove_image_get_id (image));
  add_strv_member (builder, "names", grove_image_get_names (image));
  add_strv_member (builder, "repoDigests", (const char *const *)digests);
  json_builder_set_member_name (builder, "manifestDigest");
  json_builder_add_string_value (builder, grove_image_get_manifest_digest (image));
  json_builder_set_member_name (builder, "size");
  json_builder_add_int_value (builder, (gint64)grove_image_get_size (image));
  json_builder_set_member_name (builder, "commit");
  json_builder_add_string_value (builder, grove_image_get_commit (image));
  add_strv_member (builder, "layers", grove_image_get_layers (image));
  add_json_member (builder, "manifest", grove_image_get_manifest (image));
  add_json_member (builder, "config", grove_image_get_config (image));
  json_builder_end_object (builder);
  return grove_cri_json_text (builder);
}

/* the image a spec names; %NULL and no error when there is none */
static GroveImage *
lookup_spec (GroveCriService *self, const Runtime__V1__ImageSpec *spec, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  GroveImage *image = NULL;

  if (spec == NULL || spec->image == NULL || spec->image[0] == '\0')
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "image.image: no image is named"),
           NULL;
  image = grove_store_lookup_image (grove_engine_get_store (self->engine), spec->image, NULL,
                                    &local_error);
  if (image == NULL && !g_error_matches (local_error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND))
    g_propagate_error (error, g_steal_pointer (&local_error));
  return image;
}

static void
handle_list_images (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__ListImagesRequest *request = (const Runtime__V1__ListImagesRequest *)message;
  const Runtime__V1__ImageSpec *spec = request->filter != NULL ? request->filter->image : NULL;
  g_autoptr (GPtrArray) arena = grove_cri_arena_new_array ();
  g_autoptr (GPtrArray) images = NULL;
  g_autoptr (GroveImage) wanted = NULL;
  g_autoptr (GError) error = NULL;
  Runtime__V1__ListImagesResponse response = RUNTIME__V1__LIST_IMAGES_RESPONSE__INIT;

  images = grove_store_list_images (grove_engine_get_store (self->engine), NULL, &error);
  if (images != NULL && spec != NULL && spec->image != NULL && spec->image[0] != '\0')
    {
      wanted = lookup_spec (self, spec, &error);
      g_ptr_array_set_size (images, 0);
      if (wanted != NULL)
        g_ptr_array_add (images, g_object_ref (wanted));
    }
  if (error != NULL)
    {
      grove_cri_reply_error (call, error);
      return;
    }
  response.images = grove_cri_arena_keep (arena, g_new0 (Runtime__V1__Image *, images->len + 1));
  for (guint i = 0; i < images->len; i++)
    response.images[response.n_images++] = image_message (arena, images->pdata[i]);
  grove_cri_reply (call, &response.base);
}

static void
handle_image_status (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__ImageStatusRequest *request = (const Runtime__V1__ImageStatusRequest *)message;
  g_autoptr (GPtrArray) arena = grove_cri_arena_new_array ();
  g_autoptr (GroveImage) image = NULL;
  g_autoptr (GError) error = NULL;
  Runtime__V1__ImageStatusResponse response = RUNTIME__V1__IMAGE_STATUS_RESPONSE__INIT;

  image = lookup_spec (self, request->image, &error);
  if (error != NULL)
    {
      grove_cri_reply_error (call, error);
      return;
    }
  /* an image that is not there is an empty answer: kubelet then pulls it */
  if (image != NULL)
    {
      response.image = image_message (arena, image);
      if (request->verbose)
        response.info = grove_cri_info_map (
            arena, &runtime__v1__image_status_response__info_entry__descriptor, image_info (image),
            &response.n_info);
    }
  grove_cri_reply (call, &response.base);
}

/* PullImage */

/* what a PullImage waits for; the progress figures are written by the pull's workers and
 * read once it is done */
typedef struct
{
  GroveCriService *self;
  GroveGrpcCall *call;
  char *reference;
  gint64 started;
  guint64 bytes_done;
  guint64 bytes_total;
} PullCall;

static void
pull_call_free (PullCall *pull)
{
  g_clear_object (&pull->self);
  g_clear_object (&pull->call);
  g_free (pull->reference);
  g_free (pull);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (PullCall, pull_call_free)

static char *
nonempty (char *text)
{
  return text != NULL && text[0] != '\0' ? text : NULL;
}

/* a request's AuthConfig as the store takes it, the strings borrowed (the pull copies
 * them); %FALSE when it carries no credentials. server_address is not used: kubelet
 * already picks the credentials of the image's registry */
static gboolean
auth_from_request (const Runtime__V1__AuthConfig *config, GroveRegistryAuth *auth)
{
  if (config == NULL)
    return FALSE;
  *auth = (GroveRegistryAuth){ nonempty (config->username), nonempty (config->password),
                               nonempty (config->auth), nonempty (config->identity_token),
                               nonempty (config->registry_token) };
  return auth->username != NULL || auth->password != NULL || auth->auth != NULL
         || auth->identity_token != NULL || auth->registry_token != NULL;
}

static void
pull_progress_cb (const GrovePullProgress *progress, gpointer user_data)
{
  PullCall *pull = user_data;

  pull->bytes_done = progress->bytes_done;
  pull->bytes_total = progress->bytes_total;
}

/* The client gives up at its deadline and resets the stream; the server's copy of the
 * deadline (arrival + the grpc-timeout sent, rounded up) falls a few ms later (7 ms
 * measured on loopback): a cancel this close to it is the deadline. */
#define DEADLINE_SLACK_US (G_USEC_PER_SEC / 4)

/* a pull stopped by the call's end: past its deadline, or the client went away */
static void
reply_pull_cancelled (PullCall *pull, const GError *error)
{
  gint64 deadline = grove_grpc_call_get_deadline (pull->call);

  if (deadline != G_MAXINT64 && g_get_monotonic_time () >= deadline - DEADLINE_SLACK_US)
    {
      g_message ("CRI: pulling %s: the client's deadline passed; the pull was stopped",
                 pull->reference);
      grove_cri_reply_status (pull->call, GROVE_GRPC_STATUS_DEADLINE_EXCEEDED,
                              "pulling image '%s': the deadline passed", pull->reference);
      return;
    }
  g_message ("CRI: pulling %s: the client went away; the pull was stopped", pull->reference);
  grove_cri_reply_error (pull->call, error);
}

static void
pull_image_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (PullCall) pull = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveImage) image = NULL;
  g_autofree char *ref = NULL;
  Runtime__V1__PullImageResponse response = RUNTIME__V1__PULL_IMAGE_RESPONSE__INIT;

  image = grove_store_pull_image_finish (GROVE_STORE (source), result, &error);
  if (image == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return reply_pull_cancelled (pull, error);
  if (image == NULL)
    {
      g_prefix_error (&error, "pulling image '%s': ", pull->reference);
      g_message ("CRI: %s", error->message);
      return grove_cri_reply_error (pull->call, error);
    }
  ref = image_ref (image);
  g_message ("CRI: pulled %s as %s: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT
             " layer bytes downloaded in %.2f s",
             pull->reference, ref, pull->bytes_done, pull->bytes_total,
             (double)(g_get_monotonic_time () - pull->started) / G_USEC_PER_SEC);
  response.image_ref = ref;
  grove_cri_reply (pull->call, &response.base);
}

/* A reference that names no registry while no default registry is configured cannot be
 * pulled; if the store has an image of that name (imported under a short name), the pull
 * answers it, as a pull of an image that is up to date would. Any other reference is
 * pulled, even when the store has it: kubelet's pull policy decides whether to call. */
static void
reply_local_image (GroveCriService *self, GroveGrpcCall *call, const char *name, GError **reason)
{
  g_autoptr (GroveImage) image = NULL;
  g_autofree char *ref = NULL;
  Runtime__V1__PullImageResponse response = RUNTIME__V1__PULL_IMAGE_RESPONSE__INIT;

  image = grove_store_lookup_image (grove_engine_get_store (self->engine), name, NULL, NULL);
  if (image == NULL)
    {
      g_prefix_error (reason, "pulling image '%s': the store has no such image, and ", name);
      return grove_cri_reply_error (call, *reason);
    }
  ref = image_ref (image);
  response.image_ref = ref;
  grove_cri_reply (call, &response.base);
}

static void
handle_pull_image (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__PullImageRequest *request = (const Runtime__V1__PullImageRequest *)message;
  const char *name = request->image != NULL ? request->image->image : NULL;
  g_autoptr (GroveReference) reference = NULL;
  g_autoptr (GError) error = NULL;
  GroveRegistryAuth auth = { 0 };
  gboolean has_auth = FALSE;
  PullCall *pull = NULL;

  if (name == NULL || name[0] == '\0')
    return grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT,
                                   "PullImage: image.image names no image");
  reference = grove_reference_parse_for_pull (name, self->default_registry, &error);
  if (reference == NULL)
    return reply_local_image (self, call, name, &error);
  has_auth = auth_from_request (request->auth, &auth);
  pull = g_new0 (PullCall, 1);
  pull->self = g_object_ref (self);
  pull->call = g_object_ref (call);
  pull->reference = g_strdup (name);
  pull->started = g_get_monotonic_time ();
  grove_store_pull_image_async (grove_engine_get_store (self->engine), name,
                                has_auth ? &auth : NULL, pull_progress_cb, pull,
                                grove_grpc_call_get_cancellable (call), pull_image_cb, pull);
}

static void
remove_image_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveCriAsyncCall) async_call = user_data;
  g_autoptr (GError) error = NULL;
  Runtime__V1__RemoveImageResponse response = RUNTIME__V1__REMOVE_IMAGE_RESPONSE__INIT;

  if (!grove_store_change_image_finish (GROVE_STORE (source), result, &error))
    grove_cri_reply_error (async_call->call, error);
  else
    grove_cri_reply (async_call->call, &response.base);
}

static void
handle_remove_image (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__RemoveImageRequest *request = (const Runtime__V1__RemoveImageRequest *)message;
  Runtime__V1__RemoveImageResponse response = RUNTIME__V1__REMOVE_IMAGE_RESPONSE__INIT;
  g_autoptr (GroveImage) image = NULL;
  g_autoptr (GError) error = NULL;

  image = lookup_spec (self, request->image, &error);
  if (error != NULL)
    {
      grove_cri_reply_error (call, error);
      return;
    }
  /* an absent image is no error */
  if (image == NULL)
    {
      grove_cri_reply (call, &response.base);
      return;
    }
  /* by ID, so that every tag of the image goes with it; in a thread, as the store's write
   * lock may be held a while by a pull */
  grove_store_remove_image_async (grove_engine_get_store (self->engine), grove_image_get_id (image),
                                  NULL, remove_image_cb, grove_cri_async_call_new (self, call));
}

static void
image_fs_info_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveCriAsyncCall) async_call = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveStoreUsage) usage
      = grove_store_get_usage_finish (GROVE_STORE (source), result, &error);
  Runtime__V1__FilesystemIdentifier fs_id = RUNTIME__V1__FILESYSTEM_IDENTIFIER__INIT;
  Runtime__V1__UInt64Value bytes = RUNTIME__V1__UINT64_VALUE__INIT;
  Runtime__V1__UInt64Value inodes = RUNTIME__V1__UINT64_VALUE__INIT;
  Runtime__V1__FilesystemUsage fs = RUNTIME__V1__FILESYSTEM_USAGE__INIT;
  Runtime__V1__FilesystemUsage *filesystems[] = { &fs };
  Runtime__V1__ImageFsInfoResponse response = RUNTIME__V1__IMAGE_FS_INFO_RESPONSE__INIT;

  if (usage == NULL)
    {
      grove_cri_reply_error (async_call->call, error);
      return;
    }
  fs.timestamp = usage->timestamp * 1000;
  fs_id.mountpoint = usage->mountpoint;
  fs.fs_id = &fs_id;
  bytes.value = usage->bytes;
  fs.used_bytes = &bytes;
  inodes.value = usage->inodes;
  fs.inodes_used = &inodes;
  /* containers' writable layers are in the store too: no container filesystem of its own */
  response.n_image_filesystems = G_N_ELEMENTS (filesystems);
  response.image_filesystems = filesystems;
  grove_cri_reply (async_call->call, &response.base);
}

static void
handle_image_fs_info (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *request)
{
  grove_store_get_usage_async (grove_engine_get_store (self->engine),
                               grove_grpc_call_get_cancellable (call), image_fs_info_cb,
                               grove_cri_async_call_new (self, call));
}

/* Registration */

static const GroveCriMethod methods[] = {
  GROVE_CRI_RUNTIME_METHOD ("Version", runtime__v1__version_request, handle_version),
  GROVE_CRI_RUNTIME_METHOD ("Status", runtime__v1__status_request, handle_status),
  GROVE_CRI_RUNTIME_METHOD ("RuntimeConfig", runtime__v1__runtime_config_request,
                            handle_runtime_config),
  GROVE_CRI_RUNTIME_METHOD ("UpdateRuntimeConfig", runtime__v1__update_runtime_config_request,
                            handle_update_runtime_config),
  GROVE_CRI_IMAGE_METHOD ("ListImages", runtime__v1__list_images_request, handle_list_images),
  GROVE_CRI_IMAGE_METHOD ("ImageStatus", runtime__v1__image_status_request, handle_image_status),
  GROVE_CRI_IMAGE_METHOD ("PullImage", runtime__v1__pull_image_request, handle_pull_image),
  GROVE_CRI_IMAGE_METHOD ("RemoveImage", runtime__v1__remove_image_request, handle_remove_image),
  GROVE_CRI_IMAGE_METHOD ("ImageFsInfo", runtime__v1__image_fs_info_request, handle_image_fs_info),
};

static void
binding_free (gpointer data)
{
  Binding *binding = data;

  g_clear_object (&binding->self);
  g_free (binding);
}

static void
dispatch_cb (GroveGrpcCall *call, GBytes *request, gpointer user_data)
{
  Binding *binding = user_data;
  gsize size = 0;
  const guint8 *data = g_bytes_get_data (request, &size);
  g_autoptr (ProtobufCMessage) message
      = protobuf_c_message_unpack (binding->method->request, NULL, size, data);

  if (message == NULL)
    {
      grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT, "malformed %s message",
                              binding->method->request->name);
      return;
    }
  binding->method->handler (binding->self, call, message);
}

static void
grove_cri_service_finalize (GObject *object)
{
  GroveCriService *self = GROVE_CRI_SERVICE (object);

  grove_cri_events_shutdown (self);
  g_clear_object (&self->engine);
  g_clear_pointer (&self->pod_cidr, g_free);
  g_clear_pointer (&self->default_registry, g_free);
  g_clear_pointer (&self->cpu_seen, g_hash_table_unref);
  g_clear_pointer (&self->event_calls, g_ptr_array_unref);
  g_clear_pointer (&self->states, g_hash_table_unref);
  g_clear_object (&self->stream_server);
  G_OBJECT_CLASS (grove_cri_service_parent_class)->finalize (object);
}

static void
grove_cri_service_class_init (GroveCriServiceClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = grove_cri_service_finalize;
}

static void
grove_cri_service_init (GroveCriService *self)
{
  self->cpu_seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->event_calls = g_ptr_array_new_with_free_func (g_object_unref);
}

/**
 * grove_cri_service_new:
 * @engine: the engine to serve
 *
 * Makes the CRI face of @engine and its store; it serves nothing until
 * grove_cri_service_register().
 *
 * Returns: (transfer full): a new #GroveCriService
 */
GroveCriService *
grove_cri_service_new (GroveEngine *engine)
{
  GroveCriService *self;

  g_return_val_if_fail (GROVE_IS_ENGINE (engine), NULL);
  self = g_object_new (GROVE_TYPE_CRI_SERVICE, NULL);
  self->engine = g_object_ref (engine);
  grove_cri_events_init (self);
  return self;
}

static void
register_methods (GroveCriService *self, GroveGrpcServer *server, const GroveCriMethod *table,
                  guint n_methods)
{
  for (guint i = 0; i < n_methods; i++)
    {
      Binding *binding = g_new0 (Binding, 1);

      binding->self = g_object_ref (self);
      binding->method = &table[i];
      if (table[i].stream)
        grove_grpc_server_add_server_stream (server, table[i].path, dispatch_cb, binding,
                                             binding_free);
      else
        grove_grpc_server_add_unary (server, table[i].path, dispatch_cb, binding, binding_free);
    }
}

/**
 * grove_cri_service_register:
 * @self: a #GroveCriService
 * @server: the server to serve on
 *
 * Adds the CRI methods Grove implements to @server; the server keeps @self alive.
 */
void
grove_cri_service_register (GroveCriService *self, GroveGrpcServer *server)
{
  g_return_if_fail (GROVE_IS_CRI_SERVICE (self));
  g_return_if_fail (GROVE_IS_GRPC_SERVER (server));

  register_methods (self, server, methods, G_N_ELEMENTS (methods));
  register_methods (self, server, grove_cri_pod_methods, grove_cri_n_pod_methods);
  register_methods (self, server, grove_cri_container_methods, grove_cri_n_container_methods);
  register_methods (self, server, grove_cri_stats_methods, grove_cri_n_stats_methods);
  register_methods (self, server, grove_cri_event_methods, grove_cri_n_event_methods);
  register_methods (self, server, grove_cri_streaming_methods, grove_cri_n_streaming_methods);
  register_methods (self, server, grove_cri_metric_methods, grove_cri_n_metric_methods);
}

/**
 * grove_cri_service_set_default_registry:
 * @self: a #GroveCriService
 * @registry: (nullable): `[registries] default_registry`, "host[:port]", or %NULL for none
 *
 * Tells PullImage where the store pulls short names from. With none, a short name cannot
 * be pulled, and PullImage answers the image of that name the store has, if any.
 */
void
grove_cri_service_set_default_registry (GroveCriService *self, const char *registry)
{
  g_return_if_fail (GROVE_IS_CRI_SERVICE (self));
  g_free (self->default_registry);
  self->default_registry = registry != NULL && registry[0] != '\0' ? g_strdup (registry) : NULL;
}

/**
 * grove_cri_service_get_pod_cidr:
 * @self: a #GroveCriService
 *
 * Returns: (nullable): the pod CIDR kubelet gave with UpdateRuntimeConfig, or %NULL
 */
const char *
grove_cri_service_get_pod_cidr (GroveCriService *self)
{
  g_return_val_if_fail (GROVE_IS_CRI_SERVICE (self), NULL);
  return self->pod_cidr;
}

static GroveGrpcStatus
status_from_grove_error (int code)
{
  switch (code)
    {
    case GROVE_ERROR_NOT_FOUND:
      return GROVE_GRPC_STATUS_NOT_FOUND;
    case GROVE_ERROR_INVALID_ARGUMENT:
      return GROVE_GRPC_STATUS_INVALID_ARGUMENT;
    case GROVE_ERROR_ALREADY_EXISTS:
      return GROVE_GRPC_STATUS_ALREADY_EXISTS;
    case GROVE_ERROR_WRONG_STATE:
    case GROVE_ERROR_INVALID_IMAGE:
    case GROVE_ERROR_UNSUPPORTED:
      return GROVE_GRPC_STATUS_FAILED_PRECONDITION;
    case GROVE_ERROR_BUSY:
      return GROVE_GRPC_STATUS_ABORTED;
    case GROVE_ERROR_PERMISSION_DENIED:
      return GROVE_GRPC_STATUS_PERMISSION_DENIED;
    /* containerd says FAILED_PRECONDITION (its content store's commit check); DATA_LOSS is
     * gRPC's code for corrupt data, and keeps a bad blob apart from an unusable media type */
    case GROVE_ERROR_DIGEST_MISMATCH:
      return GROVE_GRPC_STATUS_DATA_LOSS;
    case GROVE_ERROR_UNAVAILABLE:
      return GROVE_GRPC_STATUS_UNAVAILABLE;
    case GROVE_ERROR_FAILED:
    default:
      return GROVE_GRPC_STATUS_UNKNOWN;
    }
}

/**
 * grove_cri_status_from_error:
 * @error: an error from the engine or the store
 *
 * The gRPC status a CRI client gets for @error: the %GROVE_ERROR codes map to their
 * nearest status (%GROVE_ERROR_WRONG_STATE and %GROVE_ERROR_UNSUPPORTED to
 * FAILED_PRECONDITION, %GROVE_ERROR_BUSY to ABORTED, %GROVE_ERROR_DIGEST_MISMATCH to DATA_LOSS,
 * %GROVE_ERROR_UNAVAILABLE to UNAVAILABLE; credentials a registry refused, 401 or 403, are
 * PERMISSION_DENIED), a cancellation to CANCELLED, a timeout to DEADLINE_EXCEEDED, anything else
 * to UNKNOWN or INTERNAL.
 *
 * Returns: the status
 */
GroveGrpcStatus
grove_cri_status_from_error (const GError *error)
{
  g_return_val_if_fail (error != NULL, GROVE_GRPC_STATUS_UNKNOWN);

  if (error->domain == GROVE_ERROR)
    return status_from_grove_error (error->code);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return GROVE_GRPC_STATUS_CANCELLED;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return GROVE_GRPC_STATUS_DEADLINE_EXCEEDED;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    return GROVE_GRPC_STATUS_NOT_FOUND;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED))
    return GROVE_GRPC_STATUS_PERMISSION_DENIED;
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE))
    return GROVE_GRPC_STATUS_RESOURCE_EXHAUSTED;
  return error->domain == G_IO_ERROR ? GROVE_GRPC_STATUS_INTERNAL : GROVE_GRPC_STATUS_UNKNOWN;
}
