/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GrovePull"

#include <string.h>

#include "grove-reference.h"
#include "grove-registry.h"
#include "grove-store-private.h"
#include "grove-utils.h"

/*
 * A pull: the manifest (through an index, for the host's platform) and the config are
 * fetched and verified first, without touching the repository. Then, holding the store's
 * write lock, one ostree transaction takes the layers: up to max_concurrent_downloads
 * threads each stream a blob from its HTTP body through the digest check and the
 * decompressor into the repository (ostree lets several threads write in one transaction;
 * each layer has its own mutable tree). The image commit and its names go into the same
 * transaction, so the image appears only once it is whole.
 *
 * When a download fails, the transaction is still committed with the layers that did
 * complete (each one's ref is set only after its last byte was verified), and the objects
 * of the unfinished ones are pruned: nothing half is left, and a retry downloads only what
 * is missing.
 */

#define CONFIG_MAX_SIZE (4 * 1024 * 1024)
#define PROGRESS_INTERVAL_US (G_USEC_PER_SEC / 10)

typedef struct
{
  GroveStore *store;
  OstreeRepo *repo;
  GroveRegistryClient *client;
  GroveImagePlan *plan;
  GPtrArray *todo; /* GroveLayerDesc (borrowed from @plan): the layers to download */
  GCancellable *cancellable;
  GMutex lock;
  /* under @lock */
  guint next;
  GHashTable *layer_commits; /* diff ID → commit */
  GError *error;
  GrovePullLayerProgress *layers;
  GrovePullProgress progress;
  GrovePullProgressFunc func;
  gpointer func_data;
  gint64 last_report;
} Pull;

static void
pull_clear (Pull *pull)
{
  g_clear_pointer (&pull->todo, g_ptr_array_unref);
  g_clear_object (&pull->cancellable);
  g_clear_pointer (&pull->layer_commits, g_hash_table_unref);
  g_clear_error (&pull->error);
  g_clear_pointer (&pull->layers, g_free);
  g_mutex_clear (&pull->lock);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Pull, pull_clear)

/* progress */

static void
report_locked (Pull *pull, gboolean force)
{
  gint64 now = g_get_monotonic_time ();

  if (pull->func == NULL || (!force && now - pull->last_report < PROGRESS_INTERVAL_US))
    return;
  pull->last_report = now;
  pull->func (&pull->progress, pull->func_data);
}

typedef struct
{
  Pull *pull;
  guint index;
} LayerRead;

static void
layer_read_cb (gsize n_bytes, gpointer user_data)
{
  LayerRead *read = user_data;
  Pull *pull = read->pull;
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&pull->lock);

  pull->layers[read->index].bytes_done += n_bytes;
  pull->progress.bytes_done += n_bytes;
  report_locked (pull, FALSE);
}

/* marks every layer with @diff_id done (an image may list one layer twice) */
static void
mark_done_locked (Pull *pull, const char *diff_id)
{
  for (guint i = 0; i < pull->plan->layers->len; i++)
    {
      GroveLayerDesc *desc = pull->plan->layers->pdata[i];
      if (strcmp (desc->diff_id, diff_id) == 0)
        pull->layers[i].done = TRUE;
    }
}

static guint
layer_index (Pull *pull, GroveLayerDesc *desc)
{
  guint index = 0;

  g_ptr_array_find (pull->plan->layers, desc, &index);
  return index;
}

/* the layers the store lacks, each once, and the progress of all */
static gboolean
pull_plan_layers (Pull *pull, GError **error)
{
  GPtrArray *layers = pull->plan->layers;
  g_autoptr (GHashTable) queued = g_hash_table_new (g_str_hash, g_str_equal);

  if (!grove_store_lookup_layers (pull->store, pull->plan, pull->layer_commits, error))
    return FALSE;
  pull->layers = g_new0 (GrovePullLayerProgress, layers->len);
  pull->progress.n_layers = layers->len;
  pull->progress.layers = pull->layers;
  for (guint i = 0; i < layers->len; i++)
    {
      GroveLayerDesc *desc = layers->pdata[i];

      pull->layers[i].digest = desc->digest;
      pull->layers[i].bytes_total = desc->size;
      pull->layers[i].done = g_hash_table_contains (pull->layer_commits, desc->diff_id);
      if (pull->layers[i].done || !g_hash_table_add (queued, desc->diff_id))
        continue;
      g_ptr_array_add (pull->todo, desc);
      pull->progress.bytes_total += MAX (desc->size, 0);
    }
  return TRUE;
}

/* downloads */

static gboolean
download_layer (Pull *pull, GroveLayerDesc *desc, GError **error)
{
  LayerRead read = { pull, layer_index (pull, desc) };
  g_autoptr (GInputStream) blob = NULL;
  g_auto (GroveLayerResult) result = { 0 };
  g_autoptr (GMutexLocker) locker = NULL;

  blob = grove_registry_client_open_blob (pull->client, desc->digest, layer_read_cb, &read,
                                          pull->cancellable, error);
  if (blob == NULL
      || !grove_layer_import (pull->repo, blob, desc, NULL, &result, pull->cancellable, error))
    return FALSE;
  g_debug ("layer %s: %" G_GUINT64_FORMAT " files, commit %s", desc->digest, result.files,
           result.commit);
  locker = g_mutex_locker_new (&pull->lock);
  g_hash_table_insert (pull->layer_commits, g_strdup (desc->diff_id),
                       g_steal_pointer (&result.commit));
  mark_done_locked (pull, desc->diff_id);
  report_locked (pull, FALSE);
  return TRUE;
}

static GroveLayerDesc *
next_layer (Pull *pull)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&pull->lock);

  if (pull->error != NULL || pull->next >= pull->todo->len)
    return NULL;
  return pull->todo->pdata[pull->next++];
}

static gpointer
download_thread (gpointer data)
{
  Pull *pull = data;
  GroveLayerDesc *desc = NULL;

  while ((desc = next_layer (pull)) != NULL)
    {
      g_autoptr (GError) local_error = NULL;
      g_autoptr (GMutexLocker) locker = NULL;

      if (download_layer (pull, desc, &local_error))
        continue;
      locker = g_mutex_locker_new (&pull->lock);
      /* the first failure is the one to report; the others are its cancellation */
      if (pull->error == NULL)
        pull->error = g_steal_pointer (&local_error);
      g_cancellable_cancel (pull->cancellable);
      break;
    }
  return NULL;
}

static gboolean
download_layers (Pull *pull, guint max_threads, GError **error)
{
  guint n_threads = MIN (MAX (max_threads, 1), pull->todo->len);
  g_autoptr (GPtrArray) threads = g_ptr_array_new ();

  for (guint i = 0; i < n_threads; i++)
    g_ptr_array_add (threads, g_thread_new ("grove-pull", download_thread, pull));
  for (guint i = 0; i < threads->len; i++)
    g_thread_join (threads->pdata[i]);
  if (pull->error != NULL)
    return g_propagate_error (error, g_steal_pointer (&pull->error)), FALSE;
  return TRUE;
}

/* keeps the layers that completed; the objects of unfinished ones go */
static void
keep_completed_layers (Pull *pull)
{
  g_autoptr (GError) local_error = NULL;
  gint n_total = 0;
  gint n_pruned = 0;
  guint64 freed = 0;

  if (!ostree_repo_commit_transaction (pull->repo, NULL, NULL, &local_error)
      || !ostree_repo_prune (pull->repo, OSTREE_REPO_PRUNE_FLAGS_REFS_ONLY, 0, &n_total, &n_pruned,
                             &freed, NULL, &local_error))
    {
      g_warning ("keeping the completed layers of a failed pull: %s", local_error->message);
      grove_store_abort_transaction (pull->store);
      return;
    }
  g_debug ("failed pull: pruned %d objects, %" G_GUINT64_FORMAT " bytes", n_pruned, freed);
}

/* layers, image commit and names in one transaction */
static gboolean
import_locked (Pull *pull, guint max_threads, const char *tag, const char *repo_digest,
               char **out_commit, GCancellable *cancellable, GError **error)
{
  if (!pull_plan_layers (pull, error)
      || !ostree_repo_prepare_transaction (pull->repo, NULL, cancellable, error))
    return FALSE;
  if (pull->todo->len > 0 && !download_layers (pull, max_threads, error))
    {
      keep_completed_layers (pull);
      return FALSE;
    }
  if (!grove_store_commit_plan (pull->store, pull->plan, pull->layer_commits, tag, repo_digest,
                                out_commit, cancellable, error)
      || !ostree_repo_commit_transaction (pull->repo, NULL, cancellable, error))
    return grove_store_abort_transaction (pull->store), FALSE;
  g_mutex_lock (&pull->lock);
  report_locked (pull, TRUE);
  g_mutex_unlock (&pull->lock);
  return TRUE;
}

/* manifests */

typedef struct
{
  GroveRegistryClient *client;
  GCancellable *cancellable;
} Fetch;

static GBytes *
fetch_cb (const char *media_type, const char *digest, gint64 size, gpointer user_data,
          GError **error)
{
  Fetch *fetch = user_data;
  g_autofree char *ignored_type = NULL;

  if (strstr (media_type, "manifest") != NULL || strstr (media_type, "index") != NULL)
    return grove_registry_client_get_manifest (fetch->client, digest, &ignored_type,
                                               fetch->cancellable, error);
  return grove_registry_client_get_blob_bytes (fetch->client, digest, CONFIG_MAX_SIZE,
                                               fetch->cancellable, error);
}

/* the image for the host's platform, and the digest of what the reference named */
static GroveImageSource *
resolve (GroveRegistryClient *client, GroveReference *ref, char **out_digest,
         GCancellable *cancellable, GError **error)
{
  g_autofree char *media_type = NULL;
  g_autofree char *name = grove_reference_to_string (ref);
  g_autoptr (GBytes) top = NULL;
  Fetch fetch = { client, cancellable };

  top = grove_registry_client_get_manifest (client, ref->digest ? ref->digest : ref->tag,
                                            &media_type, cancellable, error);
  if (top == NULL)
    return NULL;
  if (ref->digest == NULL)
    {
      g_autofree char *hex = grove_sha256_hex_bytes (top);
      *out_digest = g_strconcat ("sha256:", hex, NULL);
    }
  else
    *out_digest = g_strdup (ref->digest);
  return grove_image_source_new_remote (name, top, media_type, ref->digest, fetch_cb, &fetch,
                                        error);
}

/* the names a pulled image gets: "host/repo:tag" and "host/repo@digest" */
static void
pulled_names (GroveReference *ref, const char *digest, char **out_tag, char **out_repo_digest)
{
  *out_tag
      = ref->tag != NULL ? g_strdup_printf ("%s/%s:%s", ref->domain, ref->path, ref->tag) : NULL;
  *out_repo_digest = g_strdup_printf ("%s/%s@%s", ref->domain, ref->path, digest);
}

static void
chain_cancel_cb (GCancellable *cancellable, gpointer user_data)
{
  g_cancellable_cancel (G_CANCELLABLE (user_data));
}

static gboolean
pull_locked (GroveStore *self, Pull *pull, GroveReference *ref, const char *digest,
             guint max_threads, char **out_commit, GCancellable *cancellable, GError **error)
{
  g_autofree char *tag = NULL;
  g_autofree char *repo_digest = NULL;
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (grove_store_get_write_lock (self));
  gulong handler = 0;
  gboolean ok = FALSE;

  pulled_names (ref, digest, &tag, &repo_digest);
  if (cancellable != NULL)
    handler = g_cancellable_connect (cancellable, G_CALLBACK (chain_cancel_cb),
                                     g_object_ref (pull->cancellable), g_object_unref);
  ok = import_locked (pull, max_threads, tag, repo_digest, out_commit, cancellable, error);
  if (handler != 0)
    g_cancellable_disconnect (cancellable, handler);
  /* a failure of ours cancelled the other downloads; the caller's cancel says so itself */
  if (!ok && g_cancellable_is_cancelled (cancellable) && error != NULL && *error != NULL
      && (*error)->domain == GROVE_ERROR)
    {
      g_clear_error (error);
      g_cancellable_set_error_if_cancelled (cancellable, error);
    }
  return ok;
}

/**
 * grove_store_pull_image:
 * @self: a #GroveStore
 * @reference: what to pull: `busybox` (from the default registry),
 *   `registry.example:5000/team/app:1.2`, `...@sha256:<hex>`
 * @auth: (nullable): credentials for the registry; they win over the auth file
 * @progress: (nullable): told how far the pull is, from worker threads
 * @progress_data: closure for @progress
 * @cancellable: (nullable): stops every download promptly
 * @error: return location
 *
 * Pulls an image from its registry (or a configured mirror) into the store, the manifest
 * for the host's platform when the reference names an index. Every digest is verified;
 * layers the store has are not downloaded. The image is tagged with the full reference
 * (`host[:port]/repo:tag`) and records `host[:port]/repo@<digest>` of the manifest or
 * index fetched; it is listed only once complete.
 *
 * Errors: %GROVE_ERROR_NOT_FOUND (no such repository, tag or digest),
 * %GROVE_ERROR_PERMISSION_DENIED (credentials refused), %GROVE_ERROR_DIGEST_MISMATCH,
 * %GROVE_ERROR_UNSUPPORTED (a media type or platform Grove cannot use),
 * %GROVE_ERROR_UNAVAILABLE (unreachable, TLS failure, stalled), %G_IO_ERROR_CANCELLED.
 *
 * Returns: (transfer full) (nullable): the pulled image
 */
GroveImage *
grove_store_pull_image (GroveStore *self, const char *reference, const GroveRegistryAuth *auth,
                        GrovePullProgressFunc progress, gpointer progress_data,
                        GCancellable *cancellable, GError **error)
{
  g_autoptr (GroveRegistryConfig) config = NULL;
  g_autoptr (GroveReference) ref = NULL;
  g_autoptr (GroveRegistryClient) client = NULL;
  g_autoptr (GroveImageSource) source = NULL;
  g_autofree char *digest = NULL;
  g_autofree char *commit = NULL;
  g_auto (Pull) pull = { 0 };

  g_return_val_if_fail (GROVE_IS_STORE (self), NULL);
  g_return_val_if_fail (reference != NULL, NULL);
  config = grove_store_dup_registry_config (self);
  ref = grove_reference_parse_for_pull (reference, config->default_registry, error);
  if (ref == NULL)
    return NULL;
  client = grove_registry_client_new (config, ref, auth, error);
  if (client == NULL)
    return NULL;
  source = resolve (client, ref, &digest, cancellable, error);
  if (source == NULL)
    return NULL;
  g_mutex_init (&pull.lock);
  pull.store = self;
  pull.repo = grove_store_get_repo (self);
  pull.client = client;
  pull.plan = grove_image_source_get_plans (source)->pdata[0];
  pull.todo = g_ptr_array_new ();
  pull.cancellable = g_cancellable_new ();
  pull.layer_commits = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  pull.func = progress;
  pull.func_data = progress_data;
  if (!pull_locked (self, &pull, ref, digest, config->max_concurrent_downloads, &commit,
                    cancellable, error))
    return NULL;
  return grove_store_load_image (self, commit, cancellable, error);
}

typedef struct
{
  char *reference;
  GroveRegistryAuth *auth;
  GrovePullProgressFunc progress;
  gpointer progress_data;
} PullData;

static void
pull_data_free (PullData *data)
{
  g_free (data->reference);
  grove_registry_auth_free (data->auth);
  g_free (data);
}

static void
pull_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  PullData *data = task_data;
  GError *local_error = NULL;
  GroveImage *image
      = grove_store_pull_image (GROVE_STORE (source_object), data->reference, data->auth,
                                data->progress, data->progress_data, cancellable, &local_error);

  if (image == NULL)
    g_task_return_error (task, local_error);
  else
    g_task_return_pointer (task, image, g_object_unref);
}

/**
 * grove_store_pull_image_async:
 * @self: a #GroveStore
 * @reference: what to pull
 * @auth: (nullable): credentials; copied
 * @progress: (nullable): called from worker threads
 * @progress_data: closure for @progress (must stay valid until @callback runs)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called in the thread-default main context when done
 * @user_data: closure for @callback
 *
 * Runs grove_store_pull_image() in a worker thread.
 */
void
grove_store_pull_image_async (GroveStore *self, const char *reference,
                              const GroveRegistryAuth *auth, GrovePullProgressFunc progress,
                              gpointer progress_data, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  PullData *data = g_new0 (PullData, 1);

  g_return_if_fail (GROVE_IS_STORE (self));
  g_return_if_fail (reference != NULL);
  data->reference = g_strdup (reference);
  data->auth = grove_registry_auth_copy (auth);
  data->progress = progress;
  data->progress_data = progress_data;
  g_task_set_source_tag (task, grove_store_pull_image_async);
  g_task_set_task_data (task, data, (GDestroyNotify)pull_data_free);
  grove_task_run_in_new_thread (task, pull_thread);
}

/**
 * grove_store_pull_image_finish:
 * @self: a #GroveStore
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the pulled image
 */
GroveImage *
grove_store_pull_image_finish (GroveStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
