/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveDBusJob"

/*
 * One org.grove.Job1 object: a long operation (an import, a pull) that a Start* method of
 * org.grove.Runtime1 began. The operation's worker thread reports progress through
 * grove_dbus_job_import_progress() or grove_dbus_job_pull_progress(); the latest report
 * reaches the bus at most ten times a second. When the operation ends the job shows the
 * outcome, emits Completed, and stays on the bus a while for clients to read it.
 */

#include "grove-dbus-generated.h"
#include "grove-dbus-job.h"

/* how long a finished job stays so that clients can read its result */
#define JOB_KEEP_SECONDS 60
/* progress reaches the bus at most this often */
#define JOB_UPDATE_INTERVAL_US (G_USEC_PER_SEC / 10)

/* where a job is, as the bus shows it */
typedef struct
{
  double fraction;
  guint64 bytes_done;
  guint64 bytes_total;
  guint64 files;
  GVariant *layers; /* a(stxb), or NULL while there are none */
} Snapshot;

struct _GroveDBusJob
{
  GObject parent_instance;

  GDBusObjectManagerServer *manager;
  GroveDBusJob1 *iface;
  char *path;
  char *operation;
  GCancellable *cancellable;
  GMainContext *context; /* the service's */
  guint expire_id;
  gboolean closed;
  GMutex lock;
  Snapshot latest;  /* guarded by @lock */
  gint64 last_sent; /* guarded by @lock */
};

enum
{
  SIGNAL_CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GroveDBusJob, grove_dbus_job, G_TYPE_OBJECT)

static void
grove_dbus_job_dispose (GObject *object)
{
  grove_dbus_job_close (GROVE_DBUS_JOB (object));
  G_OBJECT_CLASS (grove_dbus_job_parent_class)->dispose (object);
}

static void
grove_dbus_job_finalize (GObject *object)
{
  GroveDBusJob *self = GROVE_DBUS_JOB (object);

  g_clear_object (&self->manager);
  g_clear_object (&self->iface);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->operation, g_free);
  g_clear_pointer (&self->latest.layers, g_variant_unref);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (grove_dbus_job_parent_class)->finalize (object);
}

static void
grove_dbus_job_class_init (GroveDBusJobClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = grove_dbus_job_dispose;
  object_class->finalize = grove_dbus_job_finalize;

  /**
   * GroveDBusJob::closed:
   * @self: the job
   *
   * The job has left the bus; its owner may forget it.
   */
  signals[SIGNAL_CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                         NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
grove_dbus_job_init (GroveDBusJob *self)
{
  g_mutex_init (&self->lock);
  self->cancellable = g_cancellable_new ();
}

/**
 * grove_dbus_job_new:
 * @manager: where the job is exported
 * @path: its object path
 * @operation: what it does: "import" or "pull"
 *
 * Exports a running job.
 *
 * Returns: (transfer full): the job
 */
GroveDBusJob *
grove_dbus_job_new (GDBusObjectManagerServer *manager, const char *path, const char *operation)
{
  const char *const none[] = { NULL };
  GroveDBusJob *self = g_object_new (GROVE_TYPE_DBUS_JOB, NULL);
  g_autoptr (GroveDBusObjectSkeleton) object = grove_dbus_object_skeleton_new (path);

  g_return_val_if_fail (G_IS_DBUS_OBJECT_MANAGER_SERVER (manager), NULL);
  self->manager = g_object_ref (manager);
  self->path = g_strdup (path);
  self->operation = g_strdup (operation);
  self->context = g_main_context_ref_thread_default ();
  self->iface = grove_dbus_job1_skeleton_new ();
  grove_dbus_job1_set_version (self->iface, 1);
  grove_dbus_job1_set_operation (self->iface, operation);
  grove_dbus_job1_set_state (self->iface, "running");
  grove_dbus_job1_set_result (self->iface, none);
  grove_dbus_job1_set_error (self->iface, "");
  grove_dbus_job1_set_layers (self->iface,
                              g_variant_new_array (G_VARIANT_TYPE ("(stxb)"), NULL, 0));
  grove_dbus_object_skeleton_set_job1 (object, self->iface);
  g_dbus_object_manager_server_export (manager, G_DBUS_OBJECT_SKELETON (object));
  return self;
}

/**
 * grove_dbus_job_get_path:
 * @self: the job
 *
 * Returns: its object path
 */
const char *
grove_dbus_job_get_path (GroveDBusJob *self)
{
  g_return_val_if_fail (GROVE_IS_DBUS_JOB (self), NULL);
  return self->path;
}

/**
 * grove_dbus_job_get_cancellable:
 * @self: the job
 *
 * Returns: (transfer none): what its Cancel method, and the service going away, cancel
 */
GCancellable *
grove_dbus_job_get_cancellable (GroveDBusJob *self)
{
  g_return_val_if_fail (GROVE_IS_DBUS_JOB (self), NULL);
  return self->cancellable;
}

/**
 * grove_dbus_job_get_iface:
 * @self: the job
 *
 * Returns: (transfer none) (type GroveDBusJob1): its org.grove.Job1 skeleton, whose
 *   handle-cancel the service answers
 */
gpointer
grove_dbus_job_get_iface (GroveDBusJob *self)
{
  g_return_val_if_fail (GROVE_IS_DBUS_JOB (self), NULL);
  return self->iface;
}

static gboolean
job_is_running (GroveDBusJob *self)
{
  return g_str_equal (grove_dbus_job1_get_state (self->iface), "running");
}

static void
show_snapshot (GroveDBusJob *self, const Snapshot *snapshot)
{
  grove_dbus_job1_set_progress (self->iface, CLAMP (snapshot->fraction, 0.0, 1.0));
  grove_dbus_job1_set_bytes_done (self->iface, snapshot->bytes_done);
  grove_dbus_job1_set_bytes_total (self->iface, MAX (snapshot->bytes_total, snapshot->bytes_done));
  grove_dbus_job1_set_files (self->iface, snapshot->files);
  if (snapshot->layers != NULL)
    grove_dbus_job1_set_layers (self->iface, snapshot->layers);
}

/* the latest snapshot, with a reference of its own to the layers */
static Snapshot
take_latest (GroveDBusJob *self)
{
  Snapshot snapshot;

  g_mutex_lock (&self->lock);
  snapshot = self->latest;
  if (snapshot.layers != NULL)
    g_variant_ref (snapshot.layers);
  g_mutex_unlock (&self->lock);
  return snapshot;
}

static gboolean
update_cb (gpointer user_data)
{
  GroveDBusJob *self = user_data;
  Snapshot snapshot = take_latest (self);

  /* an update that comes after the end changes nothing */
  if (job_is_running (self))
    show_snapshot (self, &snapshot);
  g_clear_pointer (&snapshot.layers, g_variant_unref);
  return G_SOURCE_REMOVE;
}

/* in a worker thread: keeps @snapshot (taking its layers) and hands it on, throttled */
static void
report (GroveDBusJob *self, Snapshot *snapshot)
{
  gint64 now = g_get_monotonic_time ();
  gboolean send = FALSE;

  g_mutex_lock (&self->lock);
  g_clear_pointer (&self->latest.layers, g_variant_unref);
  self->latest = *snapshot;
  if (self->last_sent == 0 || now - self->last_sent >= JOB_UPDATE_INTERVAL_US)
    {
      self->last_sent = now;
      send = TRUE;
    }
  g_mutex_unlock (&self->lock);
  if (send)
    g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, update_cb, g_object_ref (self),
                                g_object_unref);
}

/**
 * grove_dbus_job_import_progress:
 * @progress: where the import is
 * @user_data: (type GroveDBusJob): the job
 *
 * A #GroveStoreProgressFunc for grove_store_import_image_async(). Each layer to read counts
 * equally, by the share of its bytes read.
 */
void
grove_dbus_job_import_progress (const GroveImportProgress *progress, gpointer user_data)
{
  Snapshot snapshot
      = { 0.0, progress->bytes, progress->bytes - progress->layer_bytes, progress->files, NULL };
  double layer_fraction = 0.0;

  if (progress->layer_total > 0)
    {
      layer_fraction = MIN (1.0, (double)progress->layer_bytes / (double)progress->layer_total);
      snapshot.bytes_total += (guint64)progress->layer_total;
    }
  if (progress->n_layers > 0)
    snapshot.fraction = (progress->layer + layer_fraction) / (double)progress->n_layers;
  report (GROVE_DBUS_JOB (user_data), &snapshot);
}

/**
 * grove_dbus_job_pull_progress:
 * @progress: where the pull is
 * @user_data: (type GroveDBusJob): the job
 *
 * A #GrovePullProgressFunc for grove_store_pull_image_async(): the share of the bytes to
 * download that came, and each layer as (digest, bytes done, size or -1, done).
 */
void
grove_dbus_job_pull_progress (const GrovePullProgress *progress, gpointer user_data)
{
  Snapshot snapshot = { 0.0, progress->bytes_done, progress->bytes_total, 0, NULL };
  GVariantBuilder layers;
  guint done = 0;

  g_variant_builder_init (&layers, G_VARIANT_TYPE ("a(stxb)"));
  for (guint i = 0; i < progress->n_layers; i++)
    {
      const GrovePullLayerProgress *layer = &progress->layers[i];
      g_variant_builder_add (&layers, "(stxb)", layer->digest, layer->bytes_done,
                             layer->bytes_total, layer->done);
      done += layer->done ? 1 : 0;
    }
  snapshot.layers = g_variant_ref_sink (g_variant_builder_end (&layers));
  if (progress->bytes_total > 0)
    snapshot.fraction = (double)progress->bytes_done / (double)progress->bytes_total;
  else if (progress->n_layers > 0)
    snapshot.fraction = (double)done / (double)progress->n_layers;
  report (GROVE_DBUS_JOB (user_data), &snapshot);
}

static gboolean
expire_cb (gpointer user_data)
{
  GroveDBusJob *self = user_data;

  self->expire_id = 0;
  grove_dbus_job_close (self);
  return G_SOURCE_REMOVE;
}

/**
 * grove_dbus_job_finish:
 * @self: the job
 * @result: the object paths the operation made
 * @error: (nullable): why it failed, or %NULL
 *
 * Shows the outcome, emits Completed, and leaves the bus after a while.
 */
void
grove_dbus_job_finish (GroveDBusJob *self, const char *const *result, const GError *error)
{
  gboolean cancelled = error != NULL
                       && (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                           || g_cancellable_is_cancelled (self->cancellable));
  g_autofree char *message = NULL;
  Snapshot snapshot = take_latest (self);

  g_return_if_fail (GROVE_IS_DBUS_JOB (self));
  show_snapshot (self, &snapshot);
  g_clear_pointer (&snapshot.layers, g_variant_unref);
  if (error == NULL)
    grove_dbus_job1_set_progress (self->iface, 1.0);
  message = error == NULL ? g_strdup ("")
                          : (cancelled ? g_strdup_printf ("the %s was cancelled", self->operation)
                                       : g_strdup (error->message));
  grove_dbus_job1_set_result (self->iface, result);
  grove_dbus_job1_set_error (self->iface, message);
  grove_dbus_job1_set_state (self->iface,
                             error == NULL ? "succeeded" : (cancelled ? "cancelled" : "failed"));
  /* PropertiesChanged goes out before Completed, so the state is final when it comes */
  g_dbus_interface_skeleton_flush (G_DBUS_INTERFACE_SKELETON (self->iface));
  grove_dbus_job1_emit_completed (self->iface, error == NULL, message);
  if (!self->closed)
    self->expire_id = g_timeout_add_seconds_full (G_PRIORITY_DEFAULT, JOB_KEEP_SECONDS, expire_cb,
                                                  g_object_ref (self), g_object_unref);
}

/**
 * grove_dbus_job_close:
 * @self: the job
 *
 * Takes the job off the bus now; a running operation is cancelled. Emits
 * #GroveDBusJob::closed once.
 */
void
grove_dbus_job_close (GroveDBusJob *self)
{
  g_return_if_fail (GROVE_IS_DBUS_JOB (self));
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->expire_id, g_source_remove);
  if (self->closed)
    return;
  self->closed = TRUE;
  if (self->manager != NULL)
    g_dbus_object_manager_server_unexport (self->manager, self->path);
  g_signal_emit (self, signals[SIGNAL_CLOSED], 0);
}
