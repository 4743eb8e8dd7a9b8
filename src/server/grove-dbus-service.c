/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveDBusService"

/*
 * The D-Bus face of a GroveEngine: org.grove.Runtime1 at /org/grove/Runtime1 with an
 * ObjectManager, and one object per pod, container and image below it. It only translates
 * between D-Bus and the engine and store; the objects follow the engine's signals. Long
 * operations are org.grove.Job1 objects below /org/grove/Runtime1/jobs.
 */

#include <gio/gunixfdlist.h>
#include <string.h>
#include <unistd.h>

#include "grove-dbus-exec.h"
#include "grove-dbus-job.h"
#include "grove-authority.h"
#include "grove-dbus-generated.h"
#include "grove-dbus-service.h"
#include "grove-record.h"
#include "grove-utils.h"

#define GROVE_DBUS_PODS_PATH GROVE_DBUS_PATH "/pods/"
#define GROVE_DBUS_CONTAINERS_PATH GROVE_DBUS_PATH "/containers/"
#define GROVE_DBUS_IMAGES_PATH GROVE_DBUS_PATH "/images/"
#define GROVE_DBUS_JOBS_PATH GROVE_DBUS_PATH "/jobs/"
#define GROVE_DBUS_EXECS_PATH GROVE_DBUS_PATH "/execs/"

struct _GroveDBusService
{
  GObject parent_instance;
  GroveEngine *engine;
  GDBusObjectManagerServer *manager;
  GroveDBusRuntime1 *runtime;
  GHashTable *jobs; /* object path → GroveDBusJob, running and recently finished */
  guint64 next_job;
  GHashTable *execs; /* object path → GroveDBusExec, running and recently ended */
  GroveAuthority *authority;
  GCancellable *cancellable; /* polkit checks under way; cancelled by unexport */
};

G_DEFINE_TYPE (GroveDBusService, grove_dbus_service, G_TYPE_OBJECT)

/* one method call under way: what its callback needs to complete it */
typedef struct
{
  GroveDBusService *self;
  GObject *iface;
  GDBusMethodInvocation *invocation; /* consumed by the completion */
  gpointer data;                     /* what the handler hands on to the authorized part */
  GDestroyNotify data_free;
} Call;

static Call *
call_new (GroveDBusService *self, gpointer iface, GDBusMethodInvocation *invocation)
{
  Call *call = g_new0 (Call, 1);

  call->self = g_object_ref (self);
  call->iface = g_object_ref (iface);
  call->invocation = invocation;
  return call;
}

static void
call_free (Call *call)
{
  g_clear_object (&call->self);
  g_clear_object (&call->iface);
  if (call->data_free != NULL)
    call->data_free (call->data);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Call, call_free)

/* errors keep their org.grove.Error name; a timeout is the bus's; the rest are Failed */
static void
return_error (GDBusMethodInvocation *invocation, const GError *error)
{
  if (error->domain == GROVE_ERROR || error->domain == G_DBUS_ERROR)
    g_dbus_method_invocation_return_gerror (invocation, error);
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    g_dbus_method_invocation_return_error_literal (invocation, G_DBUS_ERROR, G_DBUS_ERROR_TIMEOUT,
                                                   error->message);
  else
    g_dbus_method_invocation_return_error_literal (invocation, GROVE_ERROR, GROVE_ERROR_FAILED,
                                                   error->message);
}

static const char *
nonnull (const char *text)
{
  return text != NULL ? text : "";
}

/* the string members of a config's "labels" object, as a{ss} */
static GVariant *
labels_variant (JsonObject *config)
{
  JsonObject *labels = grove_record_object (config, "labels");
  g_autoptr (GList) members = labels ? json_object_get_members (labels) : NULL;
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{ss}"));
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *value = grove_record_string (labels, l->data);
      if (value != NULL)
        g_variant_builder_add (&builder, "{ss}", (const char *)l->data, value);
    }
  return g_variant_builder_end (&builder);
}

static char *
config_text (JsonObject *config)
{
  return config != NULL ? grove_record_serialize (config, NULL) : g_strdup ("");
}

/* the object at @path if it is exported */
static GroveDBusObjectSkeleton *
lookup_object (GroveDBusService *self, const char *path)
{
  GDBusObject *object
      = g_dbus_object_manager_get_object (G_DBUS_OBJECT_MANAGER (self->manager), path);
  return object != NULL ? GROVE_DBUS_OBJECT_SKELETON (object) : NULL;
}

static void
update_pod (GroveDBusPod1 *iface, GrovePod *pod)
{
  g_autofree char *config = config_text (grove_pod_get_config (pod));
  g_auto (GStrv) ips = grove_pod_get_ips (pod);

  grove_dbus_pod1_set_version (iface, 1);
  grove_dbus_pod1_set_id (iface, grove_pod_get_id (pod));
  grove_dbus_pod1_set_name (iface, nonnull (grove_pod_get_name (pod)));
  grove_dbus_pod1_set_namespace (iface, nonnull (grove_pod_get_namespace (pod)));
  grove_dbus_pod1_set_uid (iface, nonnull (grove_pod_get_uid (pod)));
  grove_dbus_pod1_set_attempt (iface, grove_pod_get_attempt (pod));
  grove_dbus_pod1_set_state (iface, grove_pod_state_to_string (grove_pod_get_state (pod)));
  grove_dbus_pod1_set_created_at (iface, (guint64)grove_pod_get_created_at (pod));
  grove_dbus_pod1_set_handler (iface, nonnull (grove_pod_get_handler (pod)));
  grove_dbus_pod1_set_trusted (iface, grove_pod_get_trusted (pod));
  grove_dbus_pod1_set_labels (iface, labels_variant (grove_pod_get_config (pod)));
  grove_dbus_pod1_set_netns_path (iface, nonnull (grove_pod_get_netns_path (pod)));
  grove_dbus_pod1_set_ips (iface, (const char *const *)ips);
  grove_dbus_pod1_set_config (iface, config);
}

static void
update_container (GroveDBusContainer1 *iface, GroveContainer *container)
{
  int pid = grove_container_get_pid (container);

  grove_dbus_container1_set_version (iface, 1);
  grove_dbus_container1_set_id (iface, grove_container_get_id (container));
  grove_dbus_container1_set_pod_id (iface, nonnull (grove_container_get_pod_id (container)));
  grove_dbus_container1_set_name (iface, nonnull (grove_container_get_name (container)));
  grove_dbus_container1_set_image (iface, nonnull (grove_container_get_image_name (container)));
  grove_dbus_container1_set_image_id (iface, nonnull (grove_container_get_image_id (container)));
  grove_dbus_container1_set_state (
      iface, grove_container_state_to_string (grove_container_get_state (container)));
  grove_dbus_container1_set_created_at (iface, (guint64)grove_container_get_created_at (container));
  grove_dbus_container1_set_started_at (iface, (guint64)grove_container_get_started_at (container));
  grove_dbus_container1_set_finished_at (iface,
                                         (guint64)grove_container_get_finished_at (container));
  grove_dbus_container1_set_exit_code (iface, grove_container_get_exit_code (container));
  grove_dbus_container1_set_reason (iface, nonnull (grove_container_get_reason (container)));
  grove_dbus_container1_set_message (iface, nonnull (grove_container_get_message (container)));
  grove_dbus_container1_set_log_path (iface, nonnull (grove_container_get_log_path (container)));
  grove_dbus_container1_set_pid (iface, pid > 0 ? (guint)pid : 0);
  grove_dbus_container1_set_labels (iface, labels_variant (grove_container_get_config (container)));
}

static void
update_image (GroveDBusImage1 *iface, GroveImage *image)
{
  const char *const empty[] = { NULL };
  const char *const *names = grove_image_get_names (image);
  const char *const *layers = grove_image_get_layers (image);
  g_auto (GStrv) repo_digests = grove_image_dup_repo_digests (image);
  GBytes *config = grove_image_get_config (image);
  g_autofree char *config_json = NULL;

  if (config != NULL)
    config_json = g_strndup (g_bytes_get_data (config, NULL), g_bytes_get_size (config));
  grove_dbus_image1_set_version (iface, 1);
  grove_dbus_image1_set_id (iface, grove_image_get_id (image));
  grove_dbus_image1_set_names (iface, names != NULL ? names : empty);
  grove_dbus_image1_set_repo_digests (
      iface, repo_digests != NULL ? (const char *const *)repo_digests : empty);
  grove_dbus_image1_set_manifest_digest (iface, nonnull (grove_image_get_manifest_digest (image)));
  grove_dbus_image1_set_size (iface, grove_image_get_size (image));
  grove_dbus_image1_set_layers (iface, layers != NULL ? layers : empty);
  grove_dbus_image1_set_config (iface, nonnull (config_json));
}

static gboolean handle_pod_stop (GroveDBusPod1 *iface, GDBusMethodInvocation *invocation,
                                 GroveDBusService *self);
static gboolean handle_pod_remove (GroveDBusPod1 *iface, GDBusMethodInvocation *invocation,
                                   GroveDBusService *self);
static gboolean handle_container_start (GroveDBusContainer1 *iface,
                                        GDBusMethodInvocation *invocation, GroveDBusService *self);
static gboolean handle_container_stop (GroveDBusContainer1 *iface,
                                       GDBusMethodInvocation *invocation, guint timeout,
                                       GroveDBusService *self);
static gboolean handle_container_remove (GroveDBusContainer1 *iface,
                                         GDBusMethodInvocation *invocation, GroveDBusService *self);
static gboolean handle_container_exec_sync (GroveDBusContainer1 *iface,
                                            GDBusMethodInvocation *invocation,
                                            const char *const *argv, guint timeout,
                                            GroveDBusService *self);
static gboolean handle_container_reopen_log (GroveDBusContainer1 *iface,
                                             GDBusMethodInvocation *invocation,
                                             GroveDBusService *self);
static gboolean handle_image_remove (GroveDBusImage1 *iface, GDBusMethodInvocation *invocation,
                                     GroveDBusService *self);
static gboolean handle_container_exec (GroveDBusContainer1 *iface,
                                       GDBusMethodInvocation *invocation, GUnixFDList *fd_list,
                                       const char *const *argv, GVariant *options,
                                       GroveDBusService *self);

/* adds the pod's object or updates its properties; returns its path */
static char *
sync_pod (GroveDBusService *self, GrovePod *pod)
{
  g_autofree char *path = g_strconcat (GROVE_DBUS_PODS_PATH, grove_pod_get_id (pod), NULL);
  g_autoptr (GroveDBusObjectSkeleton) object = NULL;
  g_autoptr (GroveDBusPod1) iface = NULL;

  if (self->manager == NULL)
    return g_steal_pointer (&path); /* a call that ends after unexport */
  object = lookup_object (self, path);
  if (object != NULL)
    {
      iface = grove_dbus_object_get_pod1 (GROVE_DBUS_OBJECT (object));
      update_pod (iface, pod);
      return g_steal_pointer (&path);
    }
  iface = grove_dbus_pod1_skeleton_new ();
  update_pod (iface, pod);
  g_signal_connect_object (iface, "handle-stop", G_CALLBACK (handle_pod_stop), self, 0);
  g_signal_connect_object (iface, "handle-remove", G_CALLBACK (handle_pod_remove), self, 0);
  object = grove_dbus_object_skeleton_new (path);
  grove_dbus_object_skeleton_set_pod1 (object, iface);
  g_dbus_object_manager_server_export (self->manager, G_DBUS_OBJECT_SKELETON (object));
  return g_steal_pointer (&path);
}

static void
connect_container_handlers (GroveDBusService *self, GroveDBusContainer1 *iface)
{
  g_signal_connect_object (iface, "handle-start", G_CALLBACK (handle_container_start), self, 0);
  g_signal_connect_object (iface, "handle-stop", G_CALLBACK (handle_container_stop), self, 0);
  g_signal_connect_object (iface, "handle-remove", G_CALLBACK (handle_container_remove), self, 0);
  g_signal_connect_object (iface, "handle-exec-sync", G_CALLBACK (handle_container_exec_sync), self,
                           0);
  g_signal_connect_object (iface, "handle-reopen-log", G_CALLBACK (handle_container_reopen_log),
                           self, 0);
  g_signal_connect_object (iface, "handle-start-exec", G_CALLBACK (handle_container_exec), self, 0);
}

static char *
sync_container (GroveDBusService *self, GroveContainer *container)
{
  g_autofree char *path
      = g_strconcat (GROVE_DBUS_CONTAINERS_PATH, grove_container_get_id (container), NULL);
  g_autoptr (GroveDBusObjectSkeleton) object = NULL;
  g_autoptr (GroveDBusContainer1) iface = NULL;

  if (self->manager == NULL)
    return g_steal_pointer (&path);
  object = lookup_object (self, path);
  if (object != NULL)
    {
      iface = grove_dbus_object_get_container1 (GROVE_DBUS_OBJECT (object));
      update_container (iface, container);
      return g_steal_pointer (&path);
    }
  iface = grove_dbus_container1_skeleton_new ();
  update_container (iface, container);
  connect_container_handlers (self, iface);
  object = grove_dbus_object_skeleton_new (path);
  grove_dbus_object_skeleton_set_container1 (object, iface);
  g_dbus_object_manager_server_export (self->manager, G_DBUS_OBJECT_SKELETON (object));
  return g_steal_pointer (&path);
}

static char *
image_object_path (GroveImage *image)
{
  return g_strconcat (GROVE_DBUS_IMAGES_PATH, grove_image_get_id (image), NULL);
}

/* @images' object paths, NULL-terminated; none for no @images */
static GPtrArray *
image_object_paths (GPtrArray *images)
{
  GPtrArray *paths = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; images != NULL && i < images->len; i++)
    g_ptr_array_add (paths, image_object_path (images->pdata[i]));
  g_ptr_array_add (paths, NULL);
  return paths;
}

static char *
sync_image (GroveDBusService *self, GroveImage *image)
{
  g_autofree char *path = image_object_path (image);
  g_autoptr (GroveDBusObjectSkeleton) object = NULL;
  g_autoptr (GroveDBusImage1) iface = NULL;

  if (self->manager == NULL)
    return g_steal_pointer (&path);
  object = lookup_object (self, path);
  if (object != NULL)
    {
      iface = grove_dbus_object_get_image1 (GROVE_DBUS_OBJECT (object));
      update_image (iface, image);
      return g_steal_pointer (&path);
    }
  iface = grove_dbus_image1_skeleton_new ();
  update_image (iface, image);
  g_signal_connect_object (iface, "handle-remove", G_CALLBACK (handle_image_remove), self, 0);
  object = grove_dbus_object_skeleton_new (path);
  grove_dbus_object_skeleton_set_image1 (object, iface);
  g_dbus_object_manager_server_export (self->manager, G_DBUS_OBJECT_SKELETON (object));
  return g_steal_pointer (&path);
}

/* makes the image objects those of @images: adds, updates, and unexports the rest */
static GPtrArray *
sync_image_list (GroveDBusService *self, GPtrArray *images)
{
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) listed = g_hash_table_new (g_str_hash, g_str_equal);
  GList *objects = NULL;

  for (guint i = 0; i < images->len; i++)
    {
      char *path = sync_image (self, images->pdata[i]);
      g_ptr_array_add (paths, path);
      g_hash_table_add (listed, path);
    }
  if (self->manager != NULL)
    objects = g_dbus_object_manager_get_objects (G_DBUS_OBJECT_MANAGER (self->manager));
  for (GList *l = objects; l != NULL; l = l->next)
    {
      const char *path = g_dbus_object_get_object_path (l->data);
      if (g_str_has_prefix (path, GROVE_DBUS_IMAGES_PATH) && !g_hash_table_contains (listed, path))
        g_dbus_object_manager_server_unexport (self->manager, path);
    }
  g_list_free_full (objects, g_object_unref);
  g_ptr_array_add (paths, NULL);
  return g_steal_pointer (&paths);
}

/* re-reads the store's images after a change; a failure only leaves the objects stale */
static void
resync_images (GroveDBusService *self)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GPtrArray) images = NULL;

  if (self->manager == NULL)
    return;
  images = grove_store_list_images (grove_engine_get_store (self->engine), NULL, &local_error);
  if (images == NULL)
    {
      g_warning ("listing images for D-Bus: %s", local_error->message);
      return;
    }
  g_ptr_array_unref (sync_image_list (self, images));
}

static void
pod_changed_cb (GroveEngine *engine, GrovePod *pod, GroveDBusService *self)
{
  g_free (sync_pod (self, pod));
}

static void
pod_removed_cb (GroveEngine *engine, const char *id, GroveDBusService *self)
{
  g_autofree char *path = g_strconcat (GROVE_DBUS_PODS_PATH, id, NULL);

  g_dbus_object_manager_server_unexport (self->manager, path);
}

static void
container_changed_cb (GroveEngine *engine, GroveContainer *container, GroveDBusService *self)
{
  g_free (sync_container (self, container));
}

static void
container_removed_cb (GroveEngine *engine, const char *id, GroveDBusService *self)
{
  g_autofree char *path = g_strconcat (GROVE_DBUS_CONTAINERS_PATH, id, NULL);

  g_dbus_object_manager_server_unexport (self->manager, path);
}

/*
 * Authorization. The handler of a call that changes something only makes its Call and
 * hands it to authorize_then() with a polkit action and the function that does the work;
 * that function runs once polkit (GroveAuthority) allows the caller, and owns the Call from
 * then on. A denial completes the call with org.grove.Error.PermissionDenied and the engine
 * is never called. Read-only calls and properties are left to the bus policy.
 */

typedef void (*CallFunc) (Call *call);

typedef struct
{
  Call *call;
  CallFunc then;
} Authorizing;

static void
authorize_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree Authorizing *authorizing = user_data;
  g_autoptr (Call) call = authorizing->call;
  g_autoptr (GError) local_error = NULL;

  if (!grove_authority_check_finish (GROVE_AUTHORITY (source), result, &local_error))
    {
      return_error (call->invocation, local_error);
      return;
    }
  authorizing->then (g_steal_pointer (&call));
}

/* runs @then (call) once the caller may do @action_id; a password prompt only if it asked */
static void
authorize_then (Call *call, const char *action_id, CallFunc then)
{
  GroveDBusService *self = call->self;
  GDBusMessage *message = g_dbus_method_invocation_get_message (call->invocation);
  gboolean interactive
      = (g_dbus_message_get_flags (message) & G_DBUS_MESSAGE_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION)
        != 0;
  Authorizing *authorizing = g_new0 (Authorizing, 1);

  authorizing->call = call;
  authorizing->then = then;
  grove_authority_check_async (
      self->authority, g_dbus_method_invocation_get_sender (call->invocation), action_id,
      interactive ? GROVE_AUTHORITY_FLAGS_INTERACTIVE : GROVE_AUTHORITY_FLAGS_NONE,
      self->cancellable, authorize_cb, authorizing);
}

/* the method call's arguments, for the authorized part of a handler */
static GVariant *
call_args (Call *call)
{
  return g_dbus_method_invocation_get_parameters (call->invocation);
}

/* Pod1 */

static void
pod_stop_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  g_autoptr (GError) local_error = NULL;

  if (!grove_engine_stop_pod_finish (GROVE_ENGINE (source), result, &local_error))
    {
      return_error (call->invocation, local_error);
      return;
    }
  grove_dbus_pod1_complete_stop (GROVE_DBUS_POD1 (call->iface), call->invocation);
}

static void
pod_stop (Call *call)
{
  grove_engine_stop_pod_async (call->self->engine,
                               grove_dbus_pod1_get_id (GROVE_DBUS_POD1 (call->iface)), NULL,
                               pod_stop_cb, call);
}

static gboolean
handle_pod_stop (GroveDBusPod1 *iface, GDBusMethodInvocation *invocation, GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), GROVE_ACTION_MANAGE_CONTAINERS, pod_stop);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
pod_remove_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  g_autoptr (GError) local_error = NULL;

  if (!grove_engine_remove_pod_finish (GROVE_ENGINE (source), result, &local_error))
    {
      return_error (call->invocation, local_error);
      return;
    }
  grove_dbus_pod1_complete_remove (GROVE_DBUS_POD1 (call->iface), call->invocation);
}

static void
pod_remove (Call *call)
{
  grove_engine_remove_pod_async (call->self->engine,
                                 grove_dbus_pod1_get_id (GROVE_DBUS_POD1 (call->iface)), NULL,
                                 pod_remove_cb, call);
}

static gboolean
handle_pod_remove (GroveDBusPod1 *iface, GDBusMethodInvocation *invocation, GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), GROVE_ACTION_MANAGE_CONTAINERS, pod_remove);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Container1 */

static void
container_start_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  g_autoptr (GError) local_error = NULL;

  if (!grove_engine_start_container_finish (GROVE_ENGINE (source), result, &local_error))
    {
      return_error (call->invocation, local_error);
      return;
    }
  grove_dbus_container1_complete_start (GROVE_DBUS_CONTAINER1 (call->iface), call->invocation);
}

static const char *
call_container_id (Call *call)
{
  return grove_dbus_container1_get_id (GROVE_DBUS_CONTAINER1 (call->iface));
}

static void
container_start (Call *call)
{
  grove_engine_start_container_async (call->self->engine, call_container_id (call), NULL,
                                      container_start_cb, call);
}

static gboolean
handle_container_start (GroveDBusContainer1 *iface, GDBusMethodInvocation *invocation,
                        GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), GROVE_ACTION_MANAGE_CONTAINERS,
                  container_start);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
container_stop_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  g_autoptr (GError) local_error = NULL;

  if (!grove_engine_stop_container_finish (GROVE_ENGINE (source), result, &local_error))
    {
      return_error (call->invocation, local_error);
      return;
    }
  grove_dbus_container1_complete_stop (GROVE_DBUS_CONTAINER1 (call->iface), call->invocation);
}

static void
container_stop (Call *call)
{
  guint timeout = 0;

  g_variant_get (call_args (call), "(u)", &timeout);
  grove_engine_stop_container_async (call->self->engine, call_container_id (call), timeout, NULL,
                                     container_stop_cb, call);
}

static gboolean
handle_container_stop (GroveDBusContainer1 *iface, GDBusMethodInvocation *invocation, guint timeout,
                       GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), GROVE_ACTION_MANAGE_CONTAINERS,
                  container_stop);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
container_remove_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  g_autoptr (GError) local_error = NULL;

  if (!grove_engine_remove_container_finish (GROVE_ENGINE (source), result, &local_error))
    {
      return_error (call->invocation, local_error);
      return;
    }
  grove_dbus_container1_complete_remove (GROVE_DBUS_CONTAINER1 (call->iface), call->invocation);
}

static void
container_remove (Call *call)
{
  grove_engine_remove_container_async (call->self->engine, call_container_id (call), NULL,
                                       container_remove_cb, call);
}

static gboolean
handle_container_remove (GroveDBusContainer1 *iface, GDBusMethodInvocation *invocation,
                         GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), GROVE_ACTION_MANAGE_CONTAINERS,
                  container_remove);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* output as `ay` with a trailing NUL, as gdbus-codegen's bytestrings are, but binary-safe */
static GVariant *
bytestring_variant (GBytes *data)
{
  gsize size = data != NULL ? g_bytes_get_size (data) : 0;
  g_autofree char *copy = g_malloc (size + 1);

  if (size > 0)
    memcpy (copy, g_bytes_get_data (data, NULL), size);
  copy[size] = '\0';
  return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, copy, size + 1, 1);
}

static void
container_exec_sync_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GroveExecResult) exec
      = grove_engine_exec_sync_finish (GROVE_ENGINE (source), result, &local_error);

  if (exec == NULL)
    {
      return_error (call->invocation, local_error);
      return;
    }
  /* not grove_dbus_container1_complete_exec_sync (): it stops at the first NUL byte */
  g_dbus_method_invocation_return_value (call->invocation,
                                         g_variant_new ("(i@ay@ay)", exec->exit_code,
                                                        bytestring_variant (exec->stdout_data),
                                                        bytestring_variant (exec->stderr_data)));
}

static void
container_exec_sync (Call *call)
{
  g_autofree const char **argv = NULL;
  guint timeout = 0;

  g_variant_get (call_args (call), "(^a&su)", &argv, &timeout);
  grove_engine_exec_sync_async (call->self->engine, call_container_id (call),
                                (const char *const *)argv, timeout, NULL, container_exec_sync_cb,
                                call);
}

/*
 * A process started in a privileged pod's container has what that pod has: whoever may
 * not run privileged pods may not run commands in them either.
 */
static const char *
exec_action (GroveDBusService *self, GroveDBusContainer1 *iface)
{
  g_autoptr (GrovePod) pod
      = grove_engine_get_pod (self->engine, grove_dbus_container1_get_pod_id (iface), NULL);

  if (pod != NULL && grove_pod_get_trusted (pod))
    return GROVE_ACTION_RUN_PRIVILEGED;
  return GROVE_ACTION_MANAGE_CONTAINERS;
}

static gboolean
handle_container_exec_sync (GroveDBusContainer1 *iface, GDBusMethodInvocation *invocation,
                            const char *const *argv, guint timeout, GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), exec_action (self, iface),
                  container_exec_sync);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
container_reopen_log (Call *call)
{
  g_autoptr (Call) owned = call;
  g_autoptr (GError) local_error = NULL;

  if (!grove_engine_reopen_log (call->self->engine, call_container_id (call), &local_error))
    return_error (call->invocation, local_error);
  else
    grove_dbus_container1_complete_reopen_log (GROVE_DBUS_CONTAINER1 (call->iface),
                                               call->invocation);
}

static gboolean
handle_container_reopen_log (GroveDBusContainer1 *iface, GDBusMethodInvocation *invocation,
                             GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), GROVE_ACTION_MANAGE_CONTAINERS,
                  container_reopen_log);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Image1 */

/* Image1.Remove, RemoveImage, TagImage and UntagImage end alike (they return nothing): the
 * image objects follow the store */
static void
image_change_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  g_autoptr (GError) local_error = NULL;

  if (!grove_store_change_image_finish (GROVE_STORE (source), result, &local_error))
    {
      return_error (call->invocation, local_error);
      return;
    }
  resync_images (call->self);
  g_dbus_method_invocation_return_value (call->invocation, NULL);
}

/* the Call holds the skeleton while its own object is unexported under it */
static void
image_remove (Call *call)
{
  grove_store_remove_image_async (grove_engine_get_store (call->self->engine),
                                  grove_dbus_image1_get_id (GROVE_DBUS_IMAGE1 (call->iface)), NULL,
                                  image_change_cb, call);
}

static gboolean
handle_image_remove (GroveDBusImage1 *iface, GDBusMethodInvocation *invocation,
                     GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), GROVE_ACTION_MANAGE_CONTAINERS, image_remove);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Runtime1: images */

static void
import_image_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GPtrArray) images
      = grove_store_import_image_finish (GROVE_STORE (source), result, &local_error);
  g_autoptr (GPtrArray) paths = NULL;

  if (images == NULL)
    {
      return_error (call->invocation, local_error);
      return;
    }
  resync_images (call->self);
  paths = image_object_paths (images);
  grove_dbus_runtime1_complete_import_image (GROVE_DBUS_RUNTIME1 (call->iface), call->invocation,
                                             (const char *const *)paths->pdata);
}

static void
import_image (Call *call)
{
  const char *path = NULL;
  const char *tag = NULL;

  g_variant_get (call_args (call), "(&s&s)", &path, &tag);
  grove_store_import_image_async (grove_engine_get_store (call->self->engine), path,
                                  GROVE_IMAGE_FORMAT_AUTO, tag[0] != '\0' ? tag : NULL, NULL, NULL,
                                  NULL, import_image_cb, call);
}

static gboolean
handle_import_image (GroveDBusRuntime1 *iface, GDBusMethodInvocation *invocation, const char *path,
                     const char *tag, GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), GROVE_ACTION_MANAGE_CONTAINERS, import_image);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Runtime1: pulls */

/* PullImage's and StartPull's options: the credentials, all strings */
static gboolean
pull_auth_from_options (GVariant *options, GroveRegistryAuth *auth, GError **error)
{
  struct
  {
    const char *key;
    char **field;
  } keys[] = {
    { "username", &auth->username },
    { "password", &auth->password },
    { "auth", &auth->auth },
    { "identity_token", &auth->identity_token },
    { "registry_token", &auth->registry_token },
  };
  GVariantIter iter;
  const char *key = NULL;
  GVariant *value = NULL;

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_loop (&iter, "{&sv}", &key, &value))
    {
      guint i = 0;
      while (i < G_N_ELEMENTS (keys) && !g_str_equal (keys[i].key, key))
        i++;
      if (i == G_N_ELEMENTS (keys))
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "unknown pull option '%s' (known: username, password, auth, "
                            "identity_token, registry_token)",
                            key);
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "pull option '%s' must be a string, not '%s'", key,
                            g_variant_get_type_string (value));
      g_free (*keys[i].field);
      *keys[i].field = g_variant_dup_string (value, NULL);
    }
  return TRUE;
}

/* the reference and credentials of a PullImage or StartPull call, or NULL when bad */
static GroveRegistryAuth *
pull_call_args (Call *call, const char **out_reference)
{
  g_autoptr (GroveRegistryAuth) auth = g_new0 (GroveRegistryAuth, 1);
  g_autoptr (GVariant) options = NULL;
  g_autoptr (GError) local_error = NULL;

  g_variant_get (call_args (call), "(&s@a{sv})", out_reference, &options);
  if (!pull_auth_from_options (options, auth, &local_error))
    {
      return_error (call->invocation, local_error);
      return NULL;
    }
  return g_steal_pointer (&auth);
}

static void
pull_image_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GroveImage) image
      = grove_store_pull_image_finish (GROVE_STORE (source), result, &local_error);
  g_autofree char *path = NULL;

  if (image == NULL)
    {
      return_error (call->invocation, local_error);
      return;
    }
  resync_images (call->self);
  path = image_object_path (image);
  grove_dbus_runtime1_complete_pull_image (GROVE_DBUS_RUNTIME1 (call->iface), call->invocation,
                                           path);
}

static void
pull_image (Call *call)
{
  const char *reference = NULL;
  g_autoptr (GroveRegistryAuth) auth = pull_call_args (call, &reference);

  if (auth == NULL)
    {
      call_free (call);
      return;
    }
  grove_store_pull_image_async (grove_engine_get_store (call->self->engine), reference, auth, NULL,
                                NULL, call->self->cancellable, pull_image_cb, call);
}

static gboolean
handle_pull_image (GroveDBusRuntime1 *iface, GDBusMethodInvocation *invocation,
                   const char *reference, GVariant *options, GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), GROVE_ACTION_MANAGE_CONTAINERS, pull_image);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Jobs: imports and pulls as org.grove.Job1 objects */

/* a job that has expired meanwhile has nothing left to cancel */
static void
job_cancel (Call *call)
{
  g_autoptr (Call) owned = call;
  const char *path = g_dbus_method_invocation_get_object_path (call->invocation);
  GroveDBusJob *job = g_hash_table_lookup (call->self->jobs, path);

  if (job != NULL)
    g_cancellable_cancel (grove_dbus_job_get_cancellable (job));
  grove_dbus_job1_complete_cancel (GROVE_DBUS_JOB1 (call->iface), call->invocation);
}

static gboolean
handle_job_cancel (GroveDBusJob1 *iface, GDBusMethodInvocation *invocation, GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), GROVE_ACTION_MANAGE_CONTAINERS, job_cancel);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
job_closed_cb (GroveDBusJob *job, GroveDBusService *self)
{
  if (g_hash_table_lookup (self->jobs, grove_dbus_job_get_path (job)) == job)
    g_hash_table_remove (self->jobs, grove_dbus_job_get_path (job));
}

/* a new running job, exported and in the service's table */
static GroveDBusJob *
job_new (GroveDBusService *self, const char *operation)
{
  g_autofree char *path
      = g_strdup_printf (GROVE_DBUS_JOBS_PATH "%" G_GUINT64_FORMAT, ++self->next_job);
  GroveDBusJob *job = grove_dbus_job_new (self->manager, path, operation);

  g_signal_connect_object (grove_dbus_job_get_iface (job), "handle-cancel",
                           G_CALLBACK (handle_job_cancel), self, 0);
  g_signal_connect_object (job, "closed", G_CALLBACK (job_closed_cb), self, 0);
  g_hash_table_insert (self->jobs, g_strdup (path), job);
  return job;
}

/* a job's run: keeps the service and the job until the operation ends */
typedef struct
{
  GroveDBusService *self;
  GroveDBusJob *job;
} JobRun;

static JobRun *
job_run_new (GroveDBusService *self, GroveDBusJob *job)
{
  JobRun *run = g_new0 (JobRun, 1);

  run->self = g_object_ref (self);
  run->job = g_object_ref (job);
  return run;
}

static void
job_run_free (JobRun *run)
{
  g_clear_object (&run->self);
  g_clear_object (&run->job);
  g_free (run);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (JobRun, job_run_free)

static void
start_import_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (JobRun) run = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GPtrArray) images
      = grove_store_import_image_finish (GROVE_STORE (source), result, &local_error);
  g_autoptr (GPtrArray) paths = image_object_paths (images);

  if (images == NULL)
    g_debug ("import job %s: %s", grove_dbus_job_get_path (run->job), local_error->message);
  else
    resync_images (run->self);
  grove_dbus_job_finish (run->job, (const char *const *)paths->pdata, local_error);
}

static void
start_import (Call *call)
{
  g_autoptr (Call) owned = call;
  GroveDBusService *self = call->self;
  GroveDBusJob *job = job_new (self, "import");
  const char *path = NULL;
  const char *tag = NULL;

  g_variant_get (call_args (call), "(&s&s)", &path, &tag);
  /* the job outlives the worker's progress calls: the run holds it until the callback */
  grove_store_import_image_async (
      grove_engine_get_store (self->engine), path, GROVE_IMAGE_FORMAT_AUTO,
      tag[0] != '\0' ? tag : NULL, grove_dbus_job_import_progress, job,
      grove_dbus_job_get_cancellable (job), start_import_cb, job_run_new (self, job));
  grove_dbus_runtime1_complete_start_import (GROVE_DBUS_RUNTIME1 (call->iface), call->invocation,
                                             grove_dbus_job_get_path (job));
}

static gboolean
handle_start_import (GroveDBusRuntime1 *iface, GDBusMethodInvocation *invocation, const char *path,
                     const char *tag, GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), GROVE_ACTION_MANAGE_CONTAINERS, start_import);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
start_pull_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (JobRun) run = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GroveImage) image
      = grove_store_pull_image_finish (GROVE_STORE (source), result, &local_error);
  g_autofree char *path = NULL;
  const char *paths[] = { NULL, NULL };

  if (image == NULL)
    g_debug ("pull job %s: %s", grove_dbus_job_get_path (run->job), local_error->message);
  else
    {
      resync_images (run->self);
      path = image_object_path (image);
      paths[0] = path;
    }
  grove_dbus_job_finish (run->job, paths, local_error);
}

static void
start_pull (Call *call)
{
  g_autoptr (Call) owned = call;
  GroveDBusService *self = call->self;
  const char *reference = NULL;
  g_autoptr (GroveRegistryAuth) auth = pull_call_args (call, &reference);
  GroveDBusJob *job = NULL;

  if (auth == NULL)
    return;
  job = job_new (self, "pull");
  grove_store_pull_image_async (
      grove_engine_get_store (self->engine), reference, auth, grove_dbus_job_pull_progress, job,
      grove_dbus_job_get_cancellable (job), start_pull_cb, job_run_new (self, job));
  grove_dbus_runtime1_complete_start_pull (GROVE_DBUS_RUNTIME1 (call->iface), call->invocation,
                                           grove_dbus_job_get_path (job));
}

static gboolean
handle_start_pull (GroveDBusRuntime1 *iface, GDBusMethodInvocation *invocation,
                   const char *reference, GVariant *options, GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), GROVE_ACTION_MANAGE_CONTAINERS, start_pull);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- Container1.Exec ---- */

/* a Container1.Exec call under way, and what its options hold */
typedef struct
{
  GroveDBusService *self;
  GDBusMethodInvocation *invocation;
  char **argv;
  char **env;
  char *workdir;
  int fds[3]; /* stdin, stdout, stderr: this call's copies */
} ExecCall;

static void
exec_call_free (ExecCall *call)
{
  g_clear_object (&call->self);
  g_clear_object (&call->invocation);
  g_clear_pointer (&call->argv, g_strfreev);
  g_clear_pointer (&call->env, g_strfreev);
  g_clear_pointer (&call->workdir, g_free);
  for (guint i = 0; i < G_N_ELEMENTS (call->fds); i++)
    if (call->fds[i] >= 0)
      close (call->fds[i]);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ExecCall, exec_call_free)

static gboolean
exec_option_type (const char *key, GVariant *value, const GVariantType *type, GError **error)
{
  if (g_variant_is_of_type (value, type))
    return TRUE;
  return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                      "exec option \"%s\" must be of type %.*s, not %s", key,
                      (int)g_variant_type_get_string_length (type),
                      g_variant_type_peek_string (type), g_variant_get_type_string (value));
}

static gboolean
exec_take_fd (const char *key, GVariant *value, GUnixFDList *fd_list, int *out_fd, GError **error)
{
  int handle = 0;
  int count = fd_list != NULL ? g_unix_fd_list_get_length (fd_list) : 0;

  if (!exec_option_type (key, value, G_VARIANT_TYPE_HANDLE, error))
    return FALSE;
  handle = g_variant_get_handle (value);
  if (handle < 0 || handle >= count)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "exec option \"%s\" names file descriptor %d, but the message carries %d",
                        key, handle, count);
  if (*out_fd >= 0)
    close (*out_fd);
  *out_fd = g_unix_fd_list_get (fd_list, handle, error);
  return *out_fd >= 0;
}

static gboolean
exec_parse_option (ExecCall *call, GroveExecOptions *options, const char *key, GVariant *value,
                   GUnixFDList *fd_list, GError **error)
{
  const char *const streams[] = { "stdin", "stdout", "stderr" };

  for (guint i = 0; i < G_N_ELEMENTS (streams); i++)
    if (g_str_equal (key, streams[i]))
      return exec_take_fd (key, value, fd_list, &call->fds[i], error);
  if (g_str_equal (key, "tty") || g_str_equal (key, "rows") || g_str_equal (key, "cols"))
    {
      gboolean tty = g_str_equal (key, "tty");

      if (!exec_option_type (key, value, tty ? G_VARIANT_TYPE_BOOLEAN : G_VARIANT_TYPE_UINT32,
                             error))
        return FALSE;
      if (tty)
        options->tty = g_variant_get_boolean (value);
      else
        *(g_str_equal (key, "rows") ? &options->rows : &options->cols)
            = g_variant_get_uint32 (value);
      return TRUE;
    }
  if (g_str_equal (key, "env"))
    {
      if (!exec_option_type (key, value, G_VARIANT_TYPE_STRING_ARRAY, error))
        return FALSE;
      g_strfreev (call->env);
      call->env = g_variant_dup_strv (value, NULL);
      return TRUE;
    }
  if (g_str_equal (key, "workdir"))
    {
      if (!exec_option_type (key, value, G_VARIANT_TYPE_STRING, error))
        return FALSE;
      g_free (call->workdir);
      call->workdir = g_variant_dup_string (value, NULL);
      return TRUE;
    }
  return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                      "unknown exec option \"%s\" (known: stdin, stdout, stderr, tty, rows, cols, "
                      "env, workdir)",
                      key);
}

static gboolean
exec_parse_options (ExecCall *call, GVariant *variant, GUnixFDList *fd_list,
                    GroveExecOptions *options, GError **error)
{
  GVariantIter iter;
  const char *key = NULL;
  GVariant *value = NULL;

  g_variant_iter_init (&iter, variant);
  while (g_variant_iter_loop (&iter, "{&sv}", &key, &value))
    if (!exec_parse_option (call, options, key, value, fd_list, error))
      {
        g_variant_unref (value);
        return FALSE;
      }
  for (guint i = 0; call->env != NULL && call->env[i] != NULL; i++)
    if (strchr (call->env[i], '=') == NULL || call->env[i][0] == '=')
      return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                          "exec option \"env\": \"%s\" is not KEY=VALUE", call->env[i]);
  if (call->workdir != NULL && !g_path_is_absolute (call->workdir))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "exec option \"workdir\": \"%s\" is not an absolute path", call->workdir);
  options->argv = (const char *const *)call->argv;
  options->env = (const char *const *)call->env;
  options->workdir = call->workdir;
  options->stdin_fd = call->fds[0];
  options->stdout_fd = call->fds[1];
  options->stderr_fd = call->fds[2];
  return TRUE;
}

static void
exec_closed_cb (GroveDBusExec *exec, GroveDBusService *self)
{
  g_hash_table_remove (self->execs, grove_dbus_exec_get_path (exec));
}

static void
container_exec_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (ExecCall) call = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GroveExecSession) session
      = grove_engine_exec_finish (GROVE_ENGINE (source), result, &local_error);
  g_autofree char *path = NULL;
  GroveDBusExec *exec = NULL;

  if (session == NULL)
    return return_error (call->invocation, local_error);
  if (call->self->manager == NULL)
    {
      grove_exec_session_kill (session, SIGKILL, NULL);
      return g_dbus_method_invocation_return_error_literal (
          call->invocation, GROVE_ERROR, GROVE_ERROR_FAILED, "groved is shutting down");
    }
  path = g_strconcat (GROVE_DBUS_EXECS_PATH, grove_exec_session_get_id (session), NULL);
  exec = grove_dbus_exec_new (session, call->self->manager, path,
                              g_dbus_method_invocation_get_sender (call->invocation),
                              (const char *const *)call->argv);
  g_hash_table_insert (call->self->execs, g_strdup (path), exec);
  g_signal_connect_object (exec, "closed", G_CALLBACK (exec_closed_cb), call->self, 0);
  g_dbus_method_invocation_return_value (call->invocation, g_variant_new ("(o)", path));
}

static void
container_exec (Call *call)
{
  g_autoptr (Call) owned = call;
  g_autoptr (ExecCall) exec_call = g_new0 (ExecCall, 1);
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GVariant) options = NULL;
  GDBusMessage *message = g_dbus_method_invocation_get_message (call->invocation);
  GroveExecOptions exec_options = { 0 };

  exec_call->self = g_object_ref (call->self);
  exec_call->invocation = g_object_ref (call->invocation);
  for (guint i = 0; i < G_N_ELEMENTS (exec_call->fds); i++)
    exec_call->fds[i] = -1;
  g_variant_get (call_args (call), "(^as@a{sv})", &exec_call->argv, &options);
  if (!exec_parse_options (exec_call, options, g_dbus_message_get_unix_fd_list (message),
                           &exec_options, &local_error))
    return return_error (call->invocation, local_error);
  grove_engine_exec_async (call->self->engine, call_container_id (call), &exec_options, NULL,
                           container_exec_cb, g_steal_pointer (&exec_call));
}

static gboolean
handle_container_exec (GroveDBusContainer1 *iface, GDBusMethodInvocation *invocation,
                       GUnixFDList *fd_list, const char *const *argv, GVariant *options,
                       GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), exec_action (self, iface), container_exec);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* running sessions end with the service: their clients' streams went through it */
static void
drop_execs (GroveDBusService *self)
{
  g_autoptr (GList) execs = g_hash_table_get_values (self->execs);

  for (GList *l = execs; l != NULL; l = l->next)
    g_signal_handlers_disconnect_by_data (l->data, self);
  for (GList *l = execs; l != NULL; l = l->next)
    grove_dbus_exec_close (l->data);
  g_hash_table_remove_all (self->execs);
}

/* ends the jobs' lives on the bus: running ones are cancelled, finished ones forgotten */
static void
drop_jobs (GroveDBusService *self)
{
  /* each leaves the table as it closes: close them from a list of their own */
  g_autoptr (GPtrArray) jobs = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer value = NULL;

  g_hash_table_iter_init (&iter, self->jobs);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (jobs, g_object_ref (value));
  for (guint i = 0; i < jobs->len; i++)
    grove_dbus_job_close (jobs->pdata[i]);
  g_hash_table_remove_all (self->jobs);
}

static void
remove_image (Call *call)
{
  const char *image = NULL;

  g_variant_get (call_args (call), "(&s)", &image);
  grove_store_remove_image_async (grove_engine_get_store (call->self->engine), image, NULL,
                                  image_change_cb, call);
}

static void
tag_image (Call *call)
{
  const char *image = NULL;
  const char *tag = NULL;

  g_variant_get (call_args (call), "(&s&s)", &image, &tag);
  grove_store_tag_image_async (grove_engine_get_store (call->self->engine), image, tag, NULL,
                               image_change_cb, call);
}

static void
untag_image (Call *call)
{
  const char *tag = NULL;

  g_variant_get (call_args (call), "(&s)", &tag);
  grove_store_untag_image_async (grove_engine_get_store (call->self->engine), tag, NULL,
                                 image_change_cb, call);
}

static gboolean
handle_remove_image (GroveDBusRuntime1 *iface, GDBusMethodInvocation *invocation, const char *image,
                     GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), GROVE_ACTION_MANAGE_CONTAINERS, remove_image);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_tag_image (GroveDBusRuntime1 *iface, GDBusMethodInvocation *invocation, const char *image,
                  const char *tag, GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), GROVE_ACTION_MANAGE_CONTAINERS, tag_image);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_untag_image (GroveDBusRuntime1 *iface, GDBusMethodInvocation *invocation, const char *tag,
                    GroveDBusService *self)
{
  authorize_then (call_new (self, iface, invocation), GROVE_ACTION_MANAGE_CONTAINERS, untag_image);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_list_images (GroveDBusRuntime1 *iface, GDBusMethodInvocation *invocation,
                    GroveDBusService *self)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GPtrArray) images = NULL;
  g_autoptr (GPtrArray) paths = NULL;

  images = grove_store_list_images (grove_engine_get_store (self->engine), NULL, &local_error);
  if (images == NULL)
    {
      return_error (invocation, local_error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  paths = sync_image_list (self, images);
  grove_dbus_runtime1_complete_list_images (iface, invocation, (const char *const *)paths->pdata);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* Runtime1: pods and containers */

static void
create_pod_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GrovePod) pod
      = grove_engine_run_pod_finish (GROVE_ENGINE (source), result, &local_error);
  g_autofree char *path = NULL;

  if (pod == NULL)
    {
      return_error (call->invocation, local_error);
      return;
    }
  path = sync_pod (call->self, pod);
  grove_dbus_runtime1_complete_create_pod (GROVE_DBUS_RUNTIME1 (call->iface), call->invocation,
                                           path);
}

/* hands the parsed config on to the authorized part */
static Call *
call_new_with_config (GroveDBusService *self, gpointer iface, GDBusMethodInvocation *invocation,
                      JsonObject *config)
{
  Call *call = call_new (self, iface, invocation);

  call->data = json_object_ref (config);
  call->data_free = (GDestroyNotify)json_object_unref;
  return call;
}

static void
create_pod (Call *call)
{
  const char *handler = NULL;

  g_variant_get (call_args (call), "(&s&s)", NULL, &handler);
  grove_engine_run_pod_async (call->self->engine, call->data, handler[0] != '\0' ? handler : NULL,
                              NULL, create_pod_cb, call);
}

/* a pod the engine would run as trusted (privileged, host namespaces) needs more */
static gboolean
handle_create_pod (GroveDBusRuntime1 *iface, GDBusMethodInvocation *invocation,
                   const char *config_json, const char *handler, GroveDBusService *self)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (JsonObject) config = grove_record_parse (config_json, -1, "pod config", &local_error);

  if (config == NULL)
    {
      return_error (invocation, local_error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  authorize_then (call_new_with_config (self, iface, invocation, config),
                  grove_engine_config_is_trusted (config) ? GROVE_ACTION_RUN_PRIVILEGED
                                                          : GROVE_ACTION_MANAGE_CONTAINERS,
                  create_pod);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
create_container_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Call) call = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GroveContainer) container
      = grove_engine_create_container_finish (GROVE_ENGINE (source), result, &local_error);
  g_autofree char *path = NULL;

  if (container == NULL)
    {
      return_error (call->invocation, local_error);
      return;
    }
  path = sync_container (call->self, container);
  grove_dbus_runtime1_complete_create_container (GROVE_DBUS_RUNTIME1 (call->iface),
                                                 call->invocation, path);
}

static void
create_container (Call *call)
{
  const char *pod = NULL;

  g_variant_get (call_args (call), "(&s&s)", &pod, NULL);
  grove_engine_create_container_async (call->self->engine, pod, call->data, NULL,
                                       create_container_cb, call);
}

/* a privileged or host-namespace container, or any container joining a trusted pod (and so
 * the host's namespaces), needs what such a pod needs */
static const char *
container_action (GroveDBusService *self, const char *pod_id, JsonObject *config)
{
  g_autoptr (GrovePod) pod = grove_engine_get_pod (self->engine, pod_id, NULL);

  if (grove_engine_config_is_trusted (config) || (pod != NULL && grove_pod_get_trusted (pod)))
    return GROVE_ACTION_RUN_PRIVILEGED;
  return GROVE_ACTION_MANAGE_CONTAINERS;
}

static gboolean
handle_create_container (GroveDBusRuntime1 *iface, GDBusMethodInvocation *invocation,
                         const char *pod, const char *config_json, GroveDBusService *self)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (JsonObject) config
      = grove_record_parse (config_json, -1, "container config", &local_error);

  if (config == NULL)
    {
      return_error (invocation, local_error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  authorize_then (call_new_with_config (self, iface, invocation, config),
                  container_action (self, pod, config), create_container);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* list filters: a{sv} with known keys of known types */

typedef const char *(*StateToString) (int state);

static const char *
pod_state_name (int state)
{
  return grove_pod_state_to_string ((GrovePodState)state);
}

static const char *
container_state_name (int state)
{
  return grove_container_state_to_string ((GroveContainerState)state);
}

static gboolean
check_filter_keys (GVariant *filter, const char *const *keys, const char *const *types,
                   GError **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_variant_iter_init (&iter, filter);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr (GVariant) owned = value;
      guint i = 0;

      while (keys[i] != NULL && strcmp (keys[i], key) != 0)
        i++;
      if (keys[i] == NULL)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "unknown filter key \"%s\"", key);
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (types[i])))
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "filter key \"%s\" must be of type %s, not %s", key, types[i],
                            g_variant_get_type_string (value));
    }
  return TRUE;
}

/* the keys each list method takes, with their types */
static const char *const pod_filter_keys[] = { "id", "state", "labels", NULL };
static const char *const pod_filter_types[] = { "s", "s", "a{ss}", NULL };
static const char *const container_filter_keys[] = { "id", "pod", "state", "labels", NULL };
static const char *const container_filter_types[] = { "s", "s", "s", "a{ss}", NULL };

/* fills @out from @filter; its strings point into @filter, its labels into @out_labels */
static gboolean
parse_filter (GVariant *filter, gboolean for_containers, GroveListFilter *out,
              GHashTable **out_labels, GError **error)
{
  StateToString state_name = for_containers ? container_state_name : pod_state_name;
  int n_states = for_containers ? GROVE_CONTAINER_STATE_UNKNOWN + 1 : GROVE_POD_STATE_NOTREADY + 1;
  g_autoptr (GVariantIter) labels = NULL;
  const char *state = NULL;
  const char *key;
  const char *value;

  if (!check_filter_keys (filter, for_containers ? container_filter_keys : pod_filter_keys,
                          for_containers ? container_filter_types : pod_filter_types, error))
    return FALSE;
  out->state = -1;
  g_variant_lookup (filter, "id", "&s", &out->id);
  g_variant_lookup (filter, "pod", "&s", &out->pod_id);
  if (g_variant_lookup (filter, "state", "&s", &state))
    {
      for (int i = 0; i < n_states && out->state < 0; i++)
        if (strcmp (state, state_name (i)) == 0)
          out->state = i;
      if (out->state < 0)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "unknown state \"%s\" in filter",
                            state);
    }
  if (g_variant_lookup (filter, "labels", "a{ss}", &labels))
    {
      *out_labels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      while (g_variant_iter_next (labels, "{&s&s}", &key, &value))
        g_hash_table_insert (*out_labels, g_strdup (key), g_strdup (value));
      out->labels = *out_labels;
    }
  return TRUE;
}

static gboolean
handle_list_pods (GroveDBusRuntime1 *iface, GDBusMethodInvocation *invocation, GVariant *filter,
                  GroveDBusService *self)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GHashTable) labels = NULL;
  g_autoptr (GPtrArray) pods = NULL;
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  GroveListFilter list_filter = { NULL, NULL, -1, NULL };

  if (!parse_filter (filter, FALSE, &list_filter, &labels, &local_error))
    {
      return_error (invocation, local_error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  pods = grove_engine_list_pods (self->engine, &list_filter);
  for (guint i = 0; i < pods->len; i++)
    g_ptr_array_add (paths, sync_pod (self, pods->pdata[i]));
  g_ptr_array_add (paths, NULL);
  grove_dbus_runtime1_complete_list_pods (iface, invocation, (const char *const *)paths->pdata);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_list_containers (GroveDBusRuntime1 *iface, GDBusMethodInvocation *invocation,
                        GVariant *filter, GroveDBusService *self)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GHashTable) labels = NULL;
  g_autoptr (GPtrArray) containers = NULL;
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  GroveListFilter list_filter = { NULL, NULL, -1, NULL };

  if (!parse_filter (filter, TRUE, &list_filter, &labels, &local_error))
    {
      return_error (invocation, local_error);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  containers = grove_engine_list_containers (self->engine, &list_filter);
  for (guint i = 0; i < containers->len; i++)
    g_ptr_array_add (paths, sync_container (self, containers->pdata[i]));
  g_ptr_array_add (paths, NULL);
  grove_dbus_runtime1_complete_list_containers (iface, invocation,
                                                (const char *const *)paths->pdata);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* the object */

static void
connect_runtime_handlers (GroveDBusService *self)
{
  const struct
  {
    const char *signal;
    GCallback handler;
  } handlers[] = {
    { "handle-import-image", G_CALLBACK (handle_import_image) },
    { "handle-start-import", G_CALLBACK (handle_start_import) },
    { "handle-pull-image", G_CALLBACK (handle_pull_image) },
    { "handle-start-pull", G_CALLBACK (handle_start_pull) },
    { "handle-remove-image", G_CALLBACK (handle_remove_image) },
    { "handle-tag-image", G_CALLBACK (handle_tag_image) },
    { "handle-untag-image", G_CALLBACK (handle_untag_image) },
    { "handle-list-images", G_CALLBACK (handle_list_images) },
    { "handle-create-pod", G_CALLBACK (handle_create_pod) },
    { "handle-list-pods", G_CALLBACK (handle_list_pods) },
    { "handle-create-container", G_CALLBACK (handle_create_container) },
    { "handle-list-containers", G_CALLBACK (handle_list_containers) },
  };

  for (guint i = 0; i < G_N_ELEMENTS (handlers); i++)
    g_signal_connect_object (self->runtime, handlers[i].signal, handlers[i].handler, self, 0);
}

static void
grove_dbus_service_dispose (GObject *object)
{
  GroveDBusService *self = GROVE_DBUS_SERVICE (object);

  grove_dbus_service_unexport (self);
  G_OBJECT_CLASS (grove_dbus_service_parent_class)->dispose (object);
}

static void
grove_dbus_service_finalize (GObject *object)
{
  GroveDBusService *self = GROVE_DBUS_SERVICE (object);

  g_clear_pointer (&self->jobs, g_hash_table_unref);
  g_clear_pointer (&self->execs, g_hash_table_unref);
  g_clear_object (&self->authority);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->runtime);
  g_clear_object (&self->engine);
  G_OBJECT_CLASS (grove_dbus_service_parent_class)->finalize (object);
}

static void
grove_dbus_service_class_init (GroveDBusServiceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = grove_dbus_service_dispose;
  object_class->finalize = grove_dbus_service_finalize;
}

static void
grove_dbus_service_init (GroveDBusService *self)
{
  self->jobs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->execs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  /* checks are off until grove_dbus_service_set_authority() says otherwise */
  self->authority = grove_authority_new (NULL);
  self->cancellable = g_cancellable_new ();
}

/**
 * grove_dbus_service_new:
 * @engine: the engine to serve
 *
 * Makes the D-Bus face of @engine (and of its store); nothing is on a bus until
 * grove_dbus_service_export().
 *
 * Returns: (transfer full): a new #GroveDBusService
 */
GroveDBusService *
grove_dbus_service_new (GroveEngine *engine)
{
  GroveDBusService *self;

  g_return_val_if_fail (GROVE_IS_ENGINE (engine), NULL);
  self = g_object_new (GROVE_TYPE_DBUS_SERVICE, NULL);
  self->engine = g_object_ref (engine);
  self->runtime = grove_dbus_runtime1_skeleton_new ();
  grove_dbus_runtime1_set_version (self->runtime, 1);
  grove_dbus_runtime1_set_daemon_version (self->runtime, PACKAGE_VERSION);
  connect_runtime_handlers (self);
  return self;
}

/**
 * grove_dbus_service_set_authority:
 * @self: a #GroveDBusService
 * @authority: who decides on calls that change something
 *
 * Makes @self check every call that changes something with @authority before the engine
 * sees it. Without one, a service allows every call the bus lets through.
 */
void
grove_dbus_service_set_authority (GroveDBusService *self, GroveAuthority *authority)
{
  g_return_if_fail (GROVE_IS_DBUS_SERVICE (self));
  g_return_if_fail (GROVE_IS_AUTHORITY (authority));
  g_set_object (&self->authority, authority);
}

/* every pod, container and image there is now gets its object */
static gboolean
add_existing_objects (GroveDBusService *self, GError **error)
{
  g_autoptr (GPtrArray) pods = grove_engine_list_pods (self->engine, NULL);
  g_autoptr (GPtrArray) containers = grove_engine_list_containers (self->engine, NULL);
  g_autoptr (GPtrArray) images = NULL;

  images = grove_store_list_images (grove_engine_get_store (self->engine), NULL, error);
  if (images == NULL)
    return FALSE;
  for (guint i = 0; i < pods->len; i++)
    g_free (sync_pod (self, pods->pdata[i]));
  for (guint i = 0; i < containers->len; i++)
    g_free (sync_container (self, containers->pdata[i]));
  g_ptr_array_unref (sync_image_list (self, images));
  return TRUE;
}

/**
 * grove_dbus_service_export:
 * @self: a #GroveDBusService
 * @connection: the bus connection to serve on
 * @error: return location
 *
 * Exports org.grove.Runtime1 and an object manager at %GROVE_DBUS_PATH on @connection,
 * with an object below it for each pod, container and image, and keeps them in step with
 * the engine until grove_dbus_service_unexport(). Owning %GROVE_DBUS_NAME is the caller's business.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_dbus_service_export (GroveDBusService *self, GDBusConnection *connection, GError **error)
{
  g_return_val_if_fail (GROVE_IS_DBUS_SERVICE (self), FALSE);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), FALSE);
  if (self->manager != NULL)
    return grove_throw (error, GROVE_ERROR_ALREADY_EXISTS, "the D-Bus service is exported already");
  /* GLib's object manager only manages objects below its own path, so org.grove.Runtime1
   * is exported beside it, on the same path, rather than as one of its objects */
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->runtime), connection,
                                         GROVE_DBUS_PATH, error))
    return FALSE;
  /* on the bus first, so that clients that watch already see InterfacesAdded */
  self->manager = g_dbus_object_manager_server_new (GROVE_DBUS_PATH);
  g_dbus_object_manager_server_set_connection (self->manager, connection);
  if (!add_existing_objects (self, error))
    {
      grove_dbus_service_unexport (self);
      return FALSE;
    }
  g_signal_connect_object (self->engine, "pod-changed", G_CALLBACK (pod_changed_cb), self, 0);
  g_signal_connect_object (self->engine, "pod-removed", G_CALLBACK (pod_removed_cb), self, 0);
  g_signal_connect_object (self->engine, "container-changed", G_CALLBACK (container_changed_cb),
                           self, 0);
  g_signal_connect_object (self->engine, "container-removed", G_CALLBACK (container_removed_cb),
                           self, 0);
  return TRUE;
}

/**
 * grove_dbus_service_unexport:
 * @self: a #GroveDBusService
 *
 * Takes every object off the connection and stops following the engine. Calls the engine
 * has under way still complete; calls still being authorized fail.
 */
void
grove_dbus_service_unexport (GroveDBusService *self)
{
  GList *objects = NULL;

  g_return_if_fail (GROVE_IS_DBUS_SERVICE (self));
  if (self->manager == NULL)
    return;
  g_signal_handlers_disconnect_by_data (self->engine, self);
  /* calls still waiting for polkit end with an error rather than reach the engine */
  g_cancellable_cancel (self->cancellable);
  g_object_unref (self->cancellable);
  self->cancellable = g_cancellable_new ();
  drop_jobs (self);
  drop_execs (self);
  /* one by one, so that clients see InterfacesRemoved for each */
  objects = g_dbus_object_manager_get_objects (G_DBUS_OBJECT_MANAGER (self->manager));
  for (GList *l = objects; l != NULL; l = l->next)
    g_dbus_object_manager_server_unexport (self->manager, g_dbus_object_get_object_path (l->data));
  g_list_free_full (objects, g_object_unref);
  g_dbus_object_manager_server_set_connection (self->manager, NULL);
  g_clear_object (&self->manager);
  g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->runtime));
}
