/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveStore"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "grove-idmap.h"
#include "grove-reference.h"
#include "grove-store-private.h"
#include "grove-utils.h"

/*
 * GroveStore keeps images in one bare ostree repository, which is also the only index:
 *   grove/layers/<diff-id hex>     one commit per layer tar
 *   grove/images/<config hex>      the composed image tree, manifest and config in its metadata
 *   grove/tags/<escaped name>      a tag, pointing at an image commit
 *   grove/containers/<id>          a container rootfs, pointing at the image commit it uses
 * Beside the repository: checkouts/<image id> (one read-only hardlink checkout per image,
 * only ever an overlay lower dir) and snapshots/<container id>/{upper,work,rootfs}.
 *
 * write_lock serialises what writes the repository (ostree allows one transaction per
 * repo): imports, removals, prunes, tags. rootfs_lock serialises container rootfs refs and
 * mounts, so preparing a rootfs never waits for a long import; a removal takes both, so
 * it cannot race a prepare that pins the image. An flock on store.lock keeps other
 * processes out.
 */
struct _GroveStore
{
  GObject parent_instance;
  char *root;
  char *repo_path;
  int root_fd;
  int lock_fd;
  OstreeRepo *repo;
  GMutex write_lock;
  GMutex rootfs_lock;
  GMutex config_lock;
  GroveRegistryConfig *registry_config;
};

G_DEFINE_TYPE (GroveStore, grove_store, G_TYPE_OBJECT)

#define CHECKOUTS_DIR "checkouts"
#define SNAPSHOTS_DIR "snapshots"
#define TMP_PREFIX ".tmp-"

static void
grove_store_finalize (GObject *object)
{
  GroveStore *self = GROVE_STORE (object);

  g_clear_object (&self->repo);
  grove_close_fd (&self->root_fd);
  grove_close_fd (&self->lock_fd);
  g_clear_pointer (&self->root, g_free);
  g_clear_pointer (&self->repo_path, g_free);
  g_mutex_clear (&self->write_lock);
  g_mutex_clear (&self->rootfs_lock);
  g_mutex_clear (&self->config_lock);
  g_clear_pointer (&self->registry_config, grove_registry_config_free);
  G_OBJECT_CLASS (grove_store_parent_class)->finalize (object);
}

static void
grove_store_class_init (GroveStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = grove_store_finalize;
}

static void
grove_store_init (GroveStore *self)
{
  self->root_fd = -1;
  self->lock_fd = -1;
  g_mutex_init (&self->write_lock);
  g_mutex_init (&self->rootfs_lock);
  g_mutex_init (&self->config_lock);
  self->registry_config = grove_registry_config_new ();
}

static gboolean
take_lock (GroveStore *self, GError **error)
{
  g_autofree char *pid = NULL;

  self->lock_fd = openat (self->root_fd, "store.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (self->lock_fd < 0)
    return grove_throw_errno_code (error, errno, "opening %s/store.lock", self->root);
  if (flock (self->lock_fd, LOCK_EX | LOCK_NB) < 0)
    {
      int errsv = errno;
      g_autoptr (GBytes) holder = grove_read_file_at (self->root_fd, "store.lock", 64, NULL);
      g_autofree char *who = holder ? g_strstrip (g_strndup (g_bytes_get_data (holder, NULL),
                                                             g_bytes_get_size (holder)))
                                    : g_strdup ("?");
      if (errsv == EWOULDBLOCK || errsv == EAGAIN)
        return grove_throw (error, GROVE_ERROR_BUSY,
                            "the store at %s is in use by another process (pid %s)", self->root,
                            who);
      return grove_throw_errno_code (error, errsv, "locking %s/store.lock", self->root);
    }
  pid = g_strdup_printf ("%d\n", (int)getpid ());
  if (ftruncate (self->lock_fd, 0) < 0 || pwrite (self->lock_fd, pid, strlen (pid), 0) < 0)
    return grove_throw_errno_code (error, errno, "writing %s/store.lock", self->root);
  return TRUE;
}

/* leftovers of a process killed half-way: temporary checkouts */
static gboolean
remove_temporaries (GroveStore *self, GCancellable *cancellable, GError **error)
{
  g_autoptr (GDir) dir = NULL;
  g_autofree char *path = g_build_filename (self->root, CHECKOUTS_DIR, NULL);
  const char *name;

  dir = g_dir_open (path, 0, error);
  if (dir == NULL)
    return FALSE;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *rel = g_build_filename (CHECKOUTS_DIR, name, NULL);
      if (g_str_has_prefix (name, TMP_PREFIX)
          && !grove_rm_rf_at (self->root_fd, rel, cancellable, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
open_repo (GroveStore *self, GCancellable *cancellable, GError **error)
{
  struct stat st;

  if (fstatat (self->root_fd, "repo/config", &st, 0) == 0)
    {
      g_autoptr (GFile) file = g_file_new_for_path (self->repo_path);
      self->repo = ostree_repo_new (file);
      if (!ostree_repo_open (self->repo, cancellable, error))
        return g_prefix_error (error, "opening %s: ", self->repo_path), FALSE;
    }
  else
    {
      /* ostree writes the config last, so a repo without one was never finished */
      if (!grove_rm_rf_at (self->root_fd, "repo", cancellable, error))
        return FALSE;
      self->repo = ostree_repo_create_at (self->root_fd, "repo", OSTREE_REPO_MODE_BARE, NULL,
                                          cancellable, error);
      if (self->repo == NULL)
        return g_prefix_error (error, "creating %s: ", self->repo_path), FALSE;
    }
  if (ostree_repo_get_mode (self->repo) != OSTREE_REPO_MODE_BARE)
    return grove_throw (error, GROVE_ERROR_FAILED, "%s is not a bare ostree repository",
                        self->repo_path);
  return TRUE;
}

/**
 * grove_store_open:
 * @root: the store's directory (e.g. `/var/lib/grove`); created if missing
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Opens the store, creating its ostree repository on first use, and locks it against
 * other processes until the returned object is finalized.
 *
 * Returns: (transfer full) (nullable): the store, or %NULL with @error set
 *   (%GROVE_ERROR_BUSY when another process has it open)
 */
GroveStore *
grove_store_open (const char *root, GCancellable *cancellable, GError **error)
{
  g_autoptr (GroveStore) self = g_object_new (GROVE_TYPE_STORE, NULL);

  g_return_val_if_fail (root != NULL, NULL);

  self->root = g_canonicalize_filename (root, NULL);
  self->repo_path = g_build_filename (self->root, "repo", NULL);
  if (!grove_mkdir_p_at (AT_FDCWD, self->root, 0700, error))
    return NULL;
  self->root_fd = open (self->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (self->root_fd < 0)
    return grove_throw_errno_code (error, errno, "opening %s", self->root), NULL;
  if (!take_lock (self, error) || !open_repo (self, cancellable, error)
      || !grove_mkdir_p_at (self->root_fd, CHECKOUTS_DIR, 0700, error)
      || !grove_mkdir_p_at (self->root_fd, SNAPSHOTS_DIR, 0700, error)
      || !remove_temporaries (self, cancellable, error))
    return NULL;
  return g_steal_pointer (&self);
}

/**
 * grove_store_get_root:
 * @self: a #GroveStore
 *
 * Returns: the store's directory, canonicalised
 */
const char *
grove_store_get_root (GroveStore *self)
{
  g_return_val_if_fail (GROVE_IS_STORE (self), NULL);
  return self->root;
}

/**
 * grove_store_get_repo_path:
 * @self: a #GroveStore
 *
 * Returns: the path of the ostree repository (for `ostree fsck` and the like)
 */
const char *
grove_store_get_repo_path (GroveStore *self)
{
  g_return_val_if_fail (GROVE_IS_STORE (self), NULL);
  return self->repo_path;
}

/* ostree may keep an aborted transaction's staging dir for reuse: drop it, objects and all */
static void
remove_staging_dirs (GroveStore *self)
{
  g_autofree char *tmp_path = g_build_filename (self->repo_path, "tmp", NULL);
  g_autoptr (GDir) dir = g_dir_open (tmp_path, 0, NULL);
  grove_autofd int tmp_fd = open (tmp_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const char *name;

  if (dir == NULL || tmp_fd < 0)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autoptr (GError) local_error = NULL;
      if (g_str_has_prefix (name, "staging-") && !grove_rm_rf_at (tmp_fd, name, NULL, &local_error))
        g_warning ("removing %s/%s: %s", tmp_path, name, local_error->message);
    }
}

static void
abort_transaction (GroveStore *self)
{
  g_autoptr (GError) local_error = NULL;

  if (!ostree_repo_abort_transaction (self->repo, NULL, &local_error))
    g_warning ("aborting transaction in %s: %s", self->repo_path, local_error->message);
  remove_staging_dirs (self);
}

/* resolves a ref to its commit; a missing ref gives TRUE and NULL */
static gboolean
resolve_ref (GroveStore *self, const char *ref, char **out_commit, GError **error)
{
  return ostree_repo_resolve_rev_ext (self->repo, ref, TRUE, OSTREE_REPO_RESOLVE_REV_EXT_NONE,
                                      out_commit, error);
}

static GHashTable *
list_refs (GroveStore *self, const char *prefix, GCancellable *cancellable, GError **error)
{
  g_autoptr (GHashTable) refs = NULL;
  g_autoptr (GHashTable) out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autofree char *with_slash = g_strconcat (prefix, "/", NULL);
  GHashTableIter iter;
  const char *ref;
  const char *commit;

  if (!ostree_repo_list_refs_ext (self->repo, prefix, &refs, OSTREE_REPO_LIST_REFS_EXT_NONE,
                                  cancellable, error))
    return NULL;
  g_hash_table_iter_init (&iter, refs);
  while (g_hash_table_iter_next (&iter, (gpointer *)&ref, (gpointer *)&commit))
    {
      /* keys are full ref names: keep the part after the prefix */
      const char *name = g_str_has_prefix (ref, with_slash) ? ref + strlen (with_slash) : ref;
      g_hash_table_insert (out, g_strdup (name), g_strdup (commit));
    }
  return g_steal_pointer (&out);
}

/* adds the names of the refs below @prefix to @tags (commit → GPtrArray of names) */
static gboolean
add_names (GroveStore *self, const char *prefix, GHashTable *tags, GCancellable *cancellable,
           GError **error)
{
  g_autoptr (GHashTable) refs = list_refs (self, prefix, cancellable, error);
  GHashTableIter iter;
  const char *component;
  const char *commit;

  if (refs == NULL)
    return FALSE;
  g_hash_table_iter_init (&iter, refs);
  while (g_hash_table_iter_next (&iter, (gpointer *)&component, (gpointer *)&commit))
    {
      g_autofree char *name = grove_reference_from_ref_component (component, NULL);
      GPtrArray *names = g_hash_table_lookup (tags, commit);

      if (name == NULL)
        continue;
      if (names == NULL)
        {
          names = g_ptr_array_new_null_terminated (1, g_free, TRUE);
          g_hash_table_insert (tags, g_strdup (commit), names);
        }
      g_ptr_array_add (names, g_steal_pointer (&name));
    }
  return TRUE;
}

/* commit → sorted GPtrArray of names: tags, and the repository digests images were pulled by */
static GHashTable *
load_tags (GroveStore *self, GCancellable *cancellable, GError **error)
{
  g_autoptr (GHashTable) tags
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_ptr_array_unref);

  if (!add_names (self, GROVE_REF_TAGS, tags, cancellable, error)
      || !add_names (self, GROVE_REF_DIGESTS, tags, cancellable, error))
    return NULL;
  return g_steal_pointer (&tags);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

static GroveImage *
image_from_commit (GroveStore *self, const char *commit, GHashTable *tags, GError **error)
{
  g_autoptr (GVariant) commit_v = NULL;
  g_autoptr (GVariant) metadata = NULL;
  GPtrArray *names = tags ? g_hash_table_lookup (tags, commit) : NULL;

  if (!ostree_repo_load_commit (self->repo, commit, &commit_v, NULL, error))
    return NULL;
  metadata = g_variant_get_child_value (commit_v, 0);
  if (names != NULL)
    g_ptr_array_sort (names, compare_names);
  return grove_image_new_from_commit (commit, metadata,
                                      names ? (const char *const *)names->pdata : NULL, error);
}

static GPtrArray *
list_images_locked (GroveStore *self, GCancellable *cancellable, GError **error)
{
  g_autoptr (GHashTable) refs = list_refs (self, GROVE_REF_IMAGES, cancellable, error);
  g_autoptr (GHashTable) tags = refs ? load_tags (self, cancellable, error) : NULL;
  g_autoptr (GPtrArray) images = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree gpointer *ids = NULL;
  guint n = 0;

  if (tags == NULL)
    return NULL;
  ids = (gpointer *)g_hash_table_get_keys_as_array (refs, &n);
  qsort (ids, n, sizeof (gpointer), compare_names);
  for (guint i = 0; i < n; i++)
    {
      GroveImage *image = image_from_commit (self, g_hash_table_lookup (refs, ids[i]), tags, error);
      if (image == NULL)
        return NULL;
      g_ptr_array_add (images, image);
    }
  return g_steal_pointer (&images);
}

/**
 * grove_store_list_images:
 * @self: a #GroveStore
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Returns: (transfer full) (element-type GroveImage): every image, sorted by ID
 */
GPtrArray *
grove_store_list_images (GroveStore *self, GCancellable *cancellable, GError **error)
{

  g_return_val_if_fail (GROVE_IS_STORE (self), NULL);
  return list_images_locked (self, cancellable, error);
}

static gboolean
is_hex (const char *text)
{
  for (const char *p = text; *p; p++)
    if (!g_ascii_isdigit (*p) && !(*p >= 'a' && *p <= 'f'))
      return FALSE;
  return TRUE;
}

/* an unambiguous prefix (3+ hex digits) of an image ID, as docker and podman accept */
static char *
find_id_by_prefix (GroveStore *self, const char *prefix, GCancellable *cancellable, GError **error)
{
  g_autoptr (GHashTable) refs = list_refs (self, GROVE_REF_IMAGES, cancellable, error);
  GHashTableIter iter;
  const char *id;
  char *found = NULL;

  if (refs == NULL)
    return NULL;
  g_hash_table_iter_init (&iter, refs);
  while (g_hash_table_iter_next (&iter, (gpointer *)&id, NULL))
    {
      if (!g_str_has_prefix (id, prefix))
        continue;
      if (found != NULL)
        {
          g_free (found);
          return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                              "image ID prefix '%s' is ambiguous", prefix),
                 NULL;
        }
      found = g_strdup (id);
    }
  return found;
}

static GroveImage *
find_by_manifest_digest (GroveStore *self, const char *digest, GCancellable *cancellable,
                         GError **error)
{
  g_autoptr (GPtrArray) images = list_images_locked (self, cancellable, error);

  if (images == NULL)
    return NULL;
  for (guint i = 0; i < images->len; i++)
    if (strcmp (grove_image_get_manifest_digest (images->pdata[i]), digest) == 0)
      return g_object_ref (images->pdata[i]);
  return NULL;
}

/* the image pulled by exactly this "repository@digest", if any */
static GroveImage *
find_by_repo_digest (GroveStore *self, GroveReference *reference, GCancellable *cancellable,
                     GError **error)
{
  g_autofree char *normalized = grove_reference_to_string (reference);
  g_autofree char *component = grove_reference_to_ref_component (normalized);
  g_autofree char *ref = g_strdup_printf ("%s/%s", GROVE_REF_DIGESTS, component);
  g_autofree char *commit = NULL;
  g_autoptr (GHashTable) tags = NULL;

  if (!resolve_ref (self, ref, &commit, error) || commit == NULL)
    return NULL;
  tags = load_tags (self, cancellable, error);
  return tags ? image_from_commit (self, commit, tags, error) : NULL;
}

static GroveImage *
lookup_image_locked (GroveStore *self, const char *name_or_id, GCancellable *cancellable,
                     GError **error)
{
  const char *id = g_str_has_prefix (name_or_id, "sha256:") ? name_or_id + 7 : name_or_id;
  g_autofree char *full_id = NULL;
  g_autofree char *ref = NULL;
  g_autofree char *commit = NULL;
  g_autoptr (GroveReference) reference = NULL;
  g_autoptr (GError) parse_error = NULL;
  g_autoptr (GHashTable) tags = NULL;

  if (strlen (id) >= 3 && strlen (id) <= 64 && is_hex (id))
    {
      g_autoptr (GError) local_error = NULL;
      full_id = find_id_by_prefix (self, id, cancellable, &local_error);
      if (local_error != NULL)
        return g_propagate_error (error, g_steal_pointer (&local_error)), NULL;
    }
  if (full_id != NULL)
    ref = g_strdup_printf ("%s/%s", GROVE_REF_IMAGES, full_id);
  else if ((reference = grove_reference_parse (name_or_id, &parse_error)) == NULL)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND,
                        "no image '%s': it is no image ID here and %s", name_or_id,
                        parse_error->message),
           NULL;
  else if (reference->tag == NULL)
    {
      GroveImage *image = find_by_repo_digest (self, reference, cancellable, error);
      if (image != NULL || (error != NULL && *error != NULL))
        return image;
      image = find_by_manifest_digest (self, reference->digest, cancellable, error);
      if (image == NULL && (error == NULL || *error == NULL))
        grove_throw (error, GROVE_ERROR_NOT_FOUND, "no image with manifest %s", reference->digest);
      return image;
    }
  else
    {
      g_autofree char *normalized = grove_reference_to_string (reference);
      g_autofree char *component = grove_reference_to_ref_component (normalized);
      ref = g_strdup_printf ("%s/%s", GROVE_REF_TAGS, component);
    }
  if (!resolve_ref (self, ref, &commit, error))
    return NULL;
  if (commit == NULL)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "no image '%s'", name_or_id), NULL;
  tags = load_tags (self, cancellable, error);
  return tags ? image_from_commit (self, commit, tags, error) : NULL;
}

/* the name a pull of short @name from the default registry gives, when that differs */
static char *
short_name_as_pulled (GroveStore *self, const char *name)
{
  g_autoptr (GroveRegistryConfig) config = grove_store_dup_registry_config (self);
  g_autoptr (GroveReference) as_is = grove_reference_parse (name, NULL);
  g_autoptr (GroveReference) pulled = NULL;
  g_autofree char *as_is_text = NULL;
  g_autofree char *pulled_text = NULL;

  if (as_is == NULL || config->default_registry == NULL)
    return NULL;
  pulled = grove_reference_parse_for_pull (name, config->default_registry, NULL);
  if (pulled == NULL)
    return NULL;
  as_is_text = grove_reference_to_string (as_is);
  pulled_text = grove_reference_to_string (pulled);
  return g_str_equal (as_is_text, pulled_text) ? NULL : g_steal_pointer (&pulled_text);
}

/**
 * grove_store_lookup_image:
 * @self: a #GroveStore
 * @name_or_id: an image ID (64 hex digits, optionally `sha256:`-prefixed), an unambiguous
 *   ID prefix of at least 3 digits, a name (`busybox`, `localhost/app:1`) or a name with a
 *   manifest digest (`busybox@sha256:...`)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * A short name ("busybox", "team/app:1") means docker.io's, as it does for Docker; when no
 * such image is here and a default registry is configured, it means the image a pull of
 * that short name stored (`<default registry>/team/app:1`).
 *
 * Returns: (transfer full) (nullable): the image, or %NULL with %GROVE_ERROR_NOT_FOUND
 */
GroveImage *
grove_store_lookup_image (GroveStore *self, const char *name_or_id, GCancellable *cancellable,
                          GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autofree char *pulled_name = NULL;
  GroveImage *image = NULL;

  g_return_val_if_fail (GROVE_IS_STORE (self), NULL);
  g_return_val_if_fail (name_or_id != NULL, NULL);
  image = lookup_image_locked (self, name_or_id, cancellable, &local_error);
  if (image != NULL || !g_error_matches (local_error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND))
    return local_error != NULL ? g_propagate_error (error, g_steal_pointer (&local_error)),
           NULL                : image;
  /* a short name not found as docker.io's may be what a pull of it from the default
   * registry stored */
  pulled_name = short_name_as_pulled (self, name_or_id);
  if (pulled_name != NULL)
    {
      image = lookup_image_locked (self, pulled_name, cancellable, NULL);
      if (image != NULL)
        return image;
    }
  g_propagate_error (error, g_steal_pointer (&local_error));
  return NULL;
}

/* a tag's ref, from any name people type; the name must carry a tag, not only a digest */
static char *
tag_ref_for (const char *name, char **out_normalized, GError **error)
{
  g_autoptr (GroveReference) reference = grove_reference_parse (name, error);
  g_autofree char *normalized = NULL;
  g_autofree char *component = NULL;

  if (reference == NULL)
    return NULL;
  if (reference->tag == NULL || reference->digest != NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "'%s' cannot be a tag: a tag is a name with a tag and no digest", name),
           NULL;
  normalized = grove_reference_to_string (reference);
  component = grove_reference_to_ref_component (normalized);
  /* a ref is a file name: NAME_MAX bounds it */
  if (strlen (component) > 240)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "the name '%s' is too long for a tag",
                        name),
           NULL;
  if (out_normalized != NULL)
    *out_normalized = g_steal_pointer (&normalized);
  return g_strdup_printf ("%s/%s", GROVE_REF_TAGS, component);
}

typedef struct
{
  GroveStore *self;
  GHashTable *wanted;        /* blob path → GroveLayerDesc (borrowed from the plans) */
  GHashTable *layer_commits; /* diff ID → commit */
  GroveProgress progress;
  GCancellable *cancellable;
} ImportJob;

static gboolean
import_blob_cb (const char *path, GInputStream *stream, gpointer user_data, GError **error)
{
  ImportJob *job = user_data;
  const GroveLayerDesc *desc = g_hash_table_lookup (job->wanted, path);
  g_auto (GroveLayerResult) result = { 0 };

  if (desc == NULL)
    return TRUE;
  job->progress.state.layer_total = desc->size;
  if (!grove_layer_import (job->self->repo, stream, desc, &job->progress, &result, job->cancellable,
                           error))
    return FALSE;
  g_debug ("layer %s: %" G_GUINT64_FORMAT " files, commit %s", desc->diff_id, result.files,
           result.commit);
  g_hash_table_insert (job->layer_commits, g_strdup (desc->diff_id),
                       g_steal_pointer (&result.commit));
  job->progress.base_bytes = job->progress.state.bytes;
  job->progress.base_files += result.files;
  job->progress.state.layer++;
  return TRUE;
}

/* which layer blobs must be read: those whose diff ID has no commit yet */
static gboolean
plan_layers (ImportJob *job, GPtrArray *plans, GError **error)
{
  for (guint i = 0; i < plans->len; i++)
    {
      GroveImagePlan *plan = plans->pdata[i];
      for (guint j = 0; j < plan->layers->len; j++)
        {
          GroveLayerDesc *desc = plan->layers->pdata[j];
          g_autofree char *ref = grove_layer_ref (desc->diff_id);
          g_autofree char *commit = NULL;

          if (g_hash_table_contains (job->layer_commits, desc->diff_id))
            continue;
          if (!resolve_ref (job->self, ref, &commit, error))
            return FALSE;
          if (commit != NULL)
            g_hash_table_insert (job->layer_commits, g_strdup (desc->diff_id),
                                 g_steal_pointer (&commit));
          else if (!g_hash_table_contains (job->wanted, desc->path))
            g_hash_table_insert (job->wanted, desc->path, desc);
        }
    }
  job->progress.state.n_layers = g_hash_table_size (job->wanted);
  return TRUE;
}

static guint64
layers_content_size (GroveStore *self, const char *const *commits)
{
  guint64 size = 0;

  for (guint i = 0; commits[i] != NULL; i++)
    {
      g_autoptr (GVariant) commit_v = NULL;
      g_autoptr (GVariant) metadata = NULL;
      guint64 layer_size = 0;

      if (!ostree_repo_load_commit (self->repo, commits[i], &commit_v, NULL, NULL))
        continue;
      metadata = g_variant_get_child_value (commit_v, 0);
      if (g_variant_lookup (metadata, GROVE_META_CONTENT_SIZE, "t", &layer_size))
        size += layer_size;
    }
  return size;
}

static gboolean
text_value (GBytes *bytes, const char *what, GVariant **out, GError **error)
{
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);

  if (!g_utf8_validate_len (data, len, NULL))
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "the image %s is not valid UTF-8", what);
  *out = g_variant_new_take_string (g_strndup (data, len));
  return TRUE;
}

/* composes and commits the image of @plan unless it is in the store already */
static gboolean
commit_image (ImportJob *job, GroveImagePlan *plan, char **out_commit, GError **error)
{
  GroveStore *self = job->self;
  const char *id = plan->config_digest + strlen ("sha256:");
  g_autofree char *ref = g_strdup_printf ("%s/%s", GROVE_REF_IMAGES, id);
  g_autoptr (GPtrArray) commits = g_ptr_array_new_null_terminated (plan->layers->len, NULL, TRUE);
  g_autoptr (GPtrArray) diff_ids = g_ptr_array_new_null_terminated (plan->layers->len, NULL, TRUE);
  g_autoptr (GVariant) specials = NULL;
  g_autoptr (OstreeRepoFile) root = NULL;
  g_auto (GVariantDict) meta = G_VARIANT_DICT_INIT (NULL);
  g_autoptr (GVariant) metadata = NULL;
  GVariant *manifest = NULL;
  GVariant *config = NULL;

  if (!resolve_ref (self, ref, out_commit, error))
    return FALSE;
  if (*out_commit != NULL)
    return TRUE;
  for (guint i = 0; i < plan->layers->len; i++)
    {
      GroveLayerDesc *desc = plan->layers->pdata[i];
      g_ptr_array_add (commits, g_hash_table_lookup (job->layer_commits, desc->diff_id));
      g_ptr_array_add (diff_ids, desc->diff_id);
    }
  if (!text_value (plan->manifest, "manifest", &manifest, error)
      || !text_value (plan->config, "config", &config, error))
    return FALSE;
  g_variant_dict_insert_value (&meta, GROVE_META_MANIFEST, manifest);
  g_variant_dict_insert_value (&meta, GROVE_META_CONFIG, config);
  g_variant_dict_insert (&meta, GROVE_META_MANIFEST_DIGEST, "s", plan->manifest_digest);
  g_variant_dict_insert (&meta, GROVE_META_CONFIG_DIGEST, "s", plan->config_digest);
  g_variant_dict_insert_value (&meta, GROVE_META_LAYERS,
                               g_variant_new_strv ((const char *const *)diff_ids->pdata, -1));
  g_variant_dict_insert (&meta, GROVE_META_SIZE, "t",
                         layers_content_size (self, (const char *const *)commits->pdata));
  if (!grove_layer_compose (self->repo, (const char *const *)commits->pdata, &specials, &root,
                            job->cancellable, error))
    return FALSE;
  g_variant_dict_insert_value (&meta, GROVE_META_SPECIALS, specials);
  metadata = g_variant_ref_sink (g_variant_dict_end (&meta));
  if (!ostree_repo_write_commit (self->repo, NULL, plan->config_digest, NULL, metadata, root,
                                 out_commit, job->cancellable, error))
    return FALSE;
  ostree_repo_transaction_set_ref (self->repo, NULL, ref, *out_commit);
  return TRUE;
}

/* the names an image gets: the one asked for, else those the source gives */
static gboolean
tag_image (ImportJob *job, GroveImagePlan *plan, const char *commit, const char *tag,
           GError **error)
{
  for (guint i = 0; tag == NULL && i < plan->names->len; i++)
    {
      g_autoptr (GError) local_error = NULL;
      g_autofree char *ref = NULL;
      const char *name = plan->names->pdata[i];

      /* a bare word like "latest" in a ref.name annotation is a tag without a repository */
      if (strchr (name, ':') == NULL && strchr (name, '/') == NULL)
        continue;
      ref = tag_ref_for (name, NULL, &local_error);
      if (ref == NULL)
        g_warning ("not tagging %s as '%s': %s", plan->config_digest, name, local_error->message);
      else
        ostree_repo_transaction_set_ref (job->self->repo, NULL, ref, commit);
    }
  if (tag != NULL)
    {
      g_autofree char *ref = tag_ref_for (tag, NULL, error);
      if (ref == NULL)
        return FALSE;
      ostree_repo_transaction_set_ref (job->self->repo, NULL, ref, commit);
    }
  return TRUE;
}

static gboolean
import_locked (ImportJob *job, GroveImageSource *source, const char *tag, GPtrArray *out_commits,
               GError **error)
{
  GPtrArray *plans = grove_image_source_get_plans (source);
  GroveStore *self = job->self;

  if (!ostree_repo_prepare_transaction (self->repo, NULL, job->cancellable, error))
    return FALSE;
  if (!plan_layers (job, plans, error)
      || (g_hash_table_size (job->wanted) > 0
          && !grove_image_source_read_blobs (source, job->wanted, import_blob_cb, job,
                                             job->cancellable, error)))
    return abort_transaction (self), FALSE;
  for (guint i = 0; i < plans->len; i++)
    {
      g_autofree char *commit = NULL;
      if (!commit_image (job, plans->pdata[i], &commit, error)
          || !tag_image (job, plans->pdata[i], commit, tag, error))
        return abort_transaction (self), FALSE;
      g_ptr_array_add (out_commits, g_steal_pointer (&commit));
    }
  if (!ostree_repo_commit_transaction (self->repo, NULL, job->cancellable, error))
    return abort_transaction (self), FALSE;
  return TRUE;
}

/**
 * grove_store_set_registry_config:
 * @self: a #GroveStore
 * @config: how to reach registries; copied
 *
 * Sets what later pulls use; pulls already running keep the config they started with.
 */
void
grove_store_set_registry_config (GroveStore *self, const GroveRegistryConfig *config)
{
  g_autoptr (GMutexLocker) locker = NULL;
  GroveRegistryConfig *copy = NULL;

  g_return_if_fail (GROVE_IS_STORE (self));
  g_return_if_fail (config != NULL);
  copy = grove_registry_config_copy (config);
  locker = g_mutex_locker_new (&self->config_lock);
  g_clear_pointer (&self->registry_config, grove_registry_config_free);
  self->registry_config = copy;
}

/**
 * grove_store_dup_registry_config:
 * @self: a #GroveStore
 *
 * Returns: (transfer full): a copy of the registry config pulls use now
 */
GroveRegistryConfig *
grove_store_dup_registry_config (GroveStore *self)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&self->config_lock);

  return grove_registry_config_copy (self->registry_config);
}

/**
 * grove_store_get_repo:
 * @self: a #GroveStore
 *
 * Returns: (transfer none): the store's repository; write to it only holding the write lock
 */
OstreeRepo *
grove_store_get_repo (GroveStore *self)
{
  return self->repo;
}

/**
 * grove_store_get_write_lock:
 * @self: a #GroveStore
 *
 * Returns: (transfer none): the lock serialising the repository's transactions
 */
GMutex *
grove_store_get_write_lock (GroveStore *self)
{
  return &self->write_lock;
}

/**
 * grove_store_abort_transaction:
 * @self: a #GroveStore
 *
 * Aborts the transaction in progress and drops its staged objects.
 */
void
grove_store_abort_transaction (GroveStore *self)
{
  abort_transaction (self);
}

/**
 * grove_store_lookup_layers:
 * @self: a #GroveStore
 * @plan: an image
 * @layer_commits: (element-type utf8 utf8): diff ID → commit, filled in for the layers of
 *   @plan the store has
 * @error: return location
 *
 * Returns: %TRUE on success
 */
gboolean
grove_store_lookup_layers (GroveStore *self, GroveImagePlan *plan, GHashTable *layer_commits,
                           GError **error)
{
  g_autoptr (GHashTable) wanted = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) plans = g_ptr_array_new ();
  ImportJob job = { self, wanted, layer_commits, { 0 }, NULL };

  g_ptr_array_add (plans, plan);
  return plan_layers (&job, plans, error);
}

/**
 * grove_store_commit_plan:
 * @self: a #GroveStore, in a transaction
 * @plan: the image
 * @layer_commits: (element-type utf8 utf8): diff ID → commit, for every layer of @plan
 * @tag: (nullable): the name to give the image
 * @repo_digest: (nullable): "repository@digest" the image was pulled by
 * @out_commit: (out) (transfer full): the image commit
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Composes and commits the image (unless the store has it) and sets its names, all in
 * the current transaction.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_store_commit_plan (GroveStore *self, GroveImagePlan *plan, GHashTable *layer_commits,
                         const char *tag, const char *repo_digest, char **out_commit,
                         GCancellable *cancellable, GError **error)
{
  ImportJob job = { self, NULL, layer_commits, { 0 }, cancellable };
  g_autofree char *commit = NULL;

  if (!commit_image (&job, plan, &commit, error) || !tag_image (&job, plan, commit, tag, error))
    return FALSE;
  if (repo_digest != NULL)
    {
      g_autofree char *component = grove_reference_to_ref_component (repo_digest);
      g_autofree char *ref = g_strdup_printf ("%s/%s", GROVE_REF_DIGESTS, component);
      ostree_repo_transaction_set_ref (self->repo, NULL, ref, commit);
    }
  *out_commit = g_steal_pointer (&commit);
  return TRUE;
}

/**
 * grove_store_load_image:
 * @self: a #GroveStore
 * @commit: an image commit
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the image of @commit, with its names
 */
GroveImage *
grove_store_load_image (GroveStore *self, const char *commit, GCancellable *cancellable,
                        GError **error)
{
  g_autoptr (GHashTable) tags = load_tags (self, cancellable, error);

  return tags ? image_from_commit (self, commit, tags, error) : NULL;
}

/**
 * grove_store_import_image:
 * @self: a #GroveStore
 * @path: an OCI layout directory, an OCI archive or a `docker save` archive
 * @format: the format, or %GROVE_IMAGE_FORMAT_AUTO to detect it
 * @tag: (nullable): a name to give the image (only for a source holding one image);
 *   without it the names the source carries are used
 * @progress: (nullable): called from this thread as layers are read
 * @progress_data: closure for @progress
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Imports every image of @path (for a multi-platform index, the host's platform). Layers
 * already in the store are not read again. Each digest, size and diff ID is verified as the
 * bytes go by; on any error nothing of the import stays in the store.
 *
 * Returns: (transfer full) (element-type GroveImage) (nullable): the imported images
 */
GPtrArray *
grove_store_import_image (GroveStore *self, const char *path, GroveImageFormat format,
                          const char *tag, GroveStoreProgressFunc progress, gpointer progress_data,
                          GCancellable *cancellable, GError **error)
{
  g_autoptr (GroveImageSource) source = NULL;
  g_autoptr (GHashTable) wanted = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) layer_commits
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GPtrArray) commits = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) images = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GHashTable) tags = NULL;
  g_autoptr (GMutexLocker) locker = NULL;
  ImportJob job = { self, wanted, layer_commits, { progress, progress_data }, cancellable };

  g_return_val_if_fail (GROVE_IS_STORE (self), NULL);
  g_return_val_if_fail (path != NULL, NULL);

  if (tag != NULL)
    {
      g_autofree char *ref = tag_ref_for (tag, NULL, error);
      if (ref == NULL)
        return NULL;
    }
  source = grove_image_source_open (path, format, NULL, NULL, NULL, cancellable, error);
  if (source == NULL)
    return NULL;
  if (tag != NULL && grove_image_source_get_plans (source)->len != 1)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s holds %u images: one tag cannot name them all", path,
                        grove_image_source_get_plans (source)->len),
           NULL;
  locker = g_mutex_locker_new (&self->write_lock);
  if (!import_locked (&job, source, tag, commits, error))
    return g_prefix_error (error, "importing %s: ", path), NULL;
  tags = load_tags (self, cancellable, error);
  if (tags == NULL)
    return NULL;
  for (guint i = 0; i < commits->len; i++)
    {
      GroveImage *image = image_from_commit (self, commits->pdata[i], tags, error);
      if (image == NULL)
        return NULL;
      g_ptr_array_add (images, image);
    }
  return g_steal_pointer (&images);
}

typedef struct
{
  char *path;
  GroveImageFormat format;
  char *tag;
  GroveStoreProgressFunc progress;
  gpointer progress_data;
} ImportData;

static void
import_data_free (ImportData *data)
{
  g_free (data->path);
  g_free (data->tag);
  g_free (data);
}

static void
import_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  ImportData *data = task_data;
  GError *local_error = NULL;
  GPtrArray *images
      = grove_store_import_image (GROVE_STORE (source_object), data->path, data->format, data->tag,
                                  data->progress, data->progress_data, cancellable, &local_error);

  if (images == NULL)
    g_task_return_error (task, local_error);
  else
    g_task_return_pointer (task, images, (GDestroyNotify)g_ptr_array_unref);
}

/**
 * grove_store_import_image_async:
 * @self: a #GroveStore
 * @path: what to import
 * @format: its format, or %GROVE_IMAGE_FORMAT_AUTO
 * @tag: (nullable): a name for the image
 * @progress: (nullable): called from the worker thread
 * @progress_data: closure for @progress (must stay valid until @callback runs)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called in the thread-default main context when done
 * @user_data: closure for @callback
 *
 * Runs grove_store_import_image() in a worker thread.
 */
void
grove_store_import_image_async (GroveStore *self, const char *path, GroveImageFormat format,
                                const char *tag, GroveStoreProgressFunc progress,
                                gpointer progress_data, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  ImportData *data = g_new0 (ImportData, 1);

  g_return_if_fail (GROVE_IS_STORE (self));
  data->path = g_strdup (path);
  data->format = format;
  data->tag = g_strdup (tag);
  data->progress = progress;
  data->progress_data = progress_data;
  g_task_set_source_tag (task, grove_store_import_image_async);
  g_task_set_task_data (task, data, (GDestroyNotify)import_data_free);
  grove_task_run_in_new_thread (task, import_thread);
}

/**
 * grove_store_import_image_finish:
 * @self: a #GroveStore
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: (transfer full) (element-type GroveImage) (nullable): the imported images
 */
GPtrArray *
grove_store_import_image_finish (GroveStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * grove_store_tag_image:
 * @self: a #GroveStore
 * @name_or_id: the image
 * @tag: the name to give it; a tag already naming another image moves to this one
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Returns: %TRUE on success
 */
gboolean
grove_store_tag_image (GroveStore *self, const char *name_or_id, const char *tag,
                       GCancellable *cancellable, GError **error)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&self->write_lock);
  g_autoptr (GroveImage) image = NULL;
  g_autofree char *ref = NULL;

  g_return_val_if_fail (GROVE_IS_STORE (self), FALSE);
  ref = tag_ref_for (tag, NULL, error);
  if (ref == NULL)
    return FALSE;
  image = lookup_image_locked (self, name_or_id, cancellable, error);
  return image != NULL
         && ostree_repo_set_ref_immediate (self->repo, NULL, ref, grove_image_get_commit (image),
                                           cancellable, error);
}

/**
 * grove_store_untag_image:
 * @self: a #GroveStore
 * @tag: the name to remove; the image stays, without that name
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Returns: %TRUE on success, %FALSE with %GROVE_ERROR_NOT_FOUND if no image has that name
 */
gboolean
grove_store_untag_image (GroveStore *self, const char *tag, GCancellable *cancellable,
                         GError **error)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&self->write_lock);
  g_autofree char *ref = NULL;
  g_autofree char *commit = NULL;

  g_return_val_if_fail (GROVE_IS_STORE (self), FALSE);
  ref = tag_ref_for (tag, NULL, error);
  if (ref == NULL || !resolve_ref (self, ref, &commit, error))
    return FALSE;
  if (commit == NULL)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "no image is named '%s'", tag);
  return ostree_repo_set_ref_immediate (self->repo, NULL, ref, NULL, cancellable, error);
}

static gboolean
delete_refs_to (GroveStore *self, const char *prefix, const char *commit, GCancellable *cancellable,
                GError **error)
{
  g_autoptr (GHashTable) refs = list_refs (self, prefix, cancellable, error);
  GHashTableIter iter;
  const char *name;
  const char *target;

  if (refs == NULL)
    return FALSE;
  g_hash_table_iter_init (&iter, refs);
  while (g_hash_table_iter_next (&iter, (gpointer *)&name, (gpointer *)&target))
    {
      g_autofree char *ref = g_strdup_printf ("%s/%s", prefix, name);
      if (strcmp (target, commit) == 0
          && !ostree_repo_set_ref_immediate (self->repo, NULL, ref, NULL, cancellable, error))
        return FALSE;
    }
  return TRUE;
}

/* drops layer refs no image uses any more, and checkouts of images that are gone */
static gboolean
drop_unused (GroveStore *self, GCancellable *cancellable, GError **error)
{
  g_autoptr (GPtrArray) images = list_images_locked (self, cancellable, error);
  g_autoptr (GHashTable) layers = list_refs (self, GROVE_REF_LAYERS, cancellable, error);
  g_autoptr (GHashTable) used = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) ids = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GDir) dir = NULL;
  g_autofree char *checkouts = g_build_filename (self->root, CHECKOUTS_DIR, NULL);
  GHashTableIter iter;
  const char *name;

  if (images == NULL || layers == NULL)
    return FALSE;
  for (guint i = 0; i < images->len; i++)
    {
      const char *const *diff_ids = grove_image_get_layers (images->pdata[i]);
      g_hash_table_add (ids, (char *)grove_image_get_id (images->pdata[i]));
      for (guint j = 0; diff_ids[j] != NULL; j++)
        g_hash_table_add (used, (char *)diff_ids[j] + strlen ("sha256:"));
    }
  g_hash_table_iter_init (&iter, layers);
  while (g_hash_table_iter_next (&iter, (gpointer *)&name, NULL))
    {
      g_autofree char *ref = g_strdup_printf ("%s/%s", GROVE_REF_LAYERS, name);
      if (!g_hash_table_contains (used, name)
          && !ostree_repo_set_ref_immediate (self->repo, NULL, ref, NULL, cancellable, error))
        return FALSE;
    }
  dir = g_dir_open (checkouts, 0, error);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *rel = g_build_filename (CHECKOUTS_DIR, name, NULL);
      if (!g_hash_table_contains (ids, name)
          && !grove_rm_rf_at (self->root_fd, rel, cancellable, error))
        return FALSE;
    }
  return dir != NULL;
}

static gboolean
prune_locked (GroveStore *self, guint64 *out_freed, GCancellable *cancellable, GError **error)
{
  gint n_total = 0;
  gint n_pruned = 0;
  guint64 freed = 0;

  if (!drop_unused (self, cancellable, error)
      || !ostree_repo_prune (self->repo, OSTREE_REPO_PRUNE_FLAGS_REFS_ONLY, 0, &n_total, &n_pruned,
                             &freed, cancellable, error))
    return FALSE;
  g_debug ("pruned %d of %d objects, %" G_GUINT64_FORMAT " bytes", n_pruned, n_total, freed);
  if (out_freed != NULL)
    *out_freed = freed;
  return TRUE;
}

/**
 * grove_store_prune:
 * @self: a #GroveStore
 * @out_freed: (out) (optional): bytes freed
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Removes layers no image uses, checkouts of removed images and every repository
 * object nothing refers to.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_store_prune (GroveStore *self, guint64 *out_freed, GCancellable *cancellable, GError **error)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&self->write_lock);

  g_return_val_if_fail (GROVE_IS_STORE (self), FALSE);
  return prune_locked (self, out_freed, cancellable, error);
}

static gboolean
check_unused (GroveStore *self, GroveImage *image, GCancellable *cancellable, GError **error)
{
  g_autoptr (GHashTable) containers = list_refs (self, GROVE_REF_CONTAINERS, cancellable, error);
  g_autoptr (GString) users = g_string_new ("");
  GHashTableIter iter;
  const char *id;
  const char *commit;

  if (containers == NULL)
    return FALSE;
  g_hash_table_iter_init (&iter, containers);
  while (g_hash_table_iter_next (&iter, (gpointer *)&id, (gpointer *)&commit))
    if (strcmp (commit, grove_image_get_commit (image)) == 0)
      g_string_append_printf (users, "%s%s", users->len ? ", " : "", id);
  if (users->len > 0)
    return grove_throw (error, GROVE_ERROR_BUSY, "image %s is in use by container %s",
                        grove_image_get_id (image), users->str);
  return TRUE;
}

/**
 * grove_store_remove_image:
 * @self: a #GroveStore
 * @name_or_id: the image (see grove_store_lookup_image())
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Removes the image with all its names and frees what no other image shares. An image
 * that a container rootfs uses is refused with %GROVE_ERROR_BUSY.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_store_remove_image (GroveStore *self, const char *name_or_id, GCancellable *cancellable,
                          GError **error)
{
  g_autoptr (GMutexLocker) write_locker = g_mutex_locker_new (&self->write_lock);
  g_autoptr (GMutexLocker) rootfs_locker = g_mutex_locker_new (&self->rootfs_lock);
  g_autoptr (GroveImage) image = NULL;
  g_autofree char *ref = NULL;
  const char *commit;

  g_return_val_if_fail (GROVE_IS_STORE (self), FALSE);
  image = lookup_image_locked (self, name_or_id, cancellable, error);
  if (image == NULL || !check_unused (self, image, cancellable, error))
    return FALSE;
  commit = grove_image_get_commit (image);
  ref = g_strdup_printf ("%s/%s", GROVE_REF_IMAGES, grove_image_get_id (image));
  return delete_refs_to (self, GROVE_REF_TAGS, commit, cancellable, error)
         && delete_refs_to (self, GROVE_REF_DIGESTS, commit, cancellable, error)
         && ostree_repo_set_ref_immediate (self->repo, NULL, ref, NULL, cancellable, error)
         && prune_locked (self, NULL, cancellable, error);
}

/* opens @path's parent inside the tree at @tree_fd without following any symlink */
static int
open_parent_in_tree (int tree_fd, const char *path, GError **error)
{
  g_autofree char *parent = g_path_get_dirname (path);
  struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                          .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV };
  int fd = (int)syscall (SYS_openat2, tree_fd, parent, &how, sizeof how);

  if (fd < 0)
    grove_throw_errno_code (error, errno, "opening directory '%s' of the image", parent);
  return fd;
}

static gboolean
create_specials (int tree_fd, GVariant *specials, GError **error)
{
  GVariantIter iter;
  const char *path;
  guint32 mode, uid, gid;
  guint64 rdev;

  g_variant_iter_init (&iter, specials);
  while (g_variant_iter_next (&iter, "(&suuut)", &path, &mode, &uid, &gid, &rdev))
    {
      g_autofree char *name = g_path_get_basename (path);
      grove_autofd int parent_fd = open_parent_in_tree (tree_fd, path, error);

      if (parent_fd < 0)
        return g_prefix_error (error, "creating '%s': ", path), FALSE;
      if (mknodat (parent_fd, name, mode, (dev_t)rdev) < 0
          || fchownat (parent_fd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0
          || fchmodat (parent_fd, name, mode & 07777, 0) < 0)
        return grove_throw_errno_code (error, errno, "creating special file '%s' of the image",
                                       path);
    }
  return TRUE;
}

/* creates the special files in the temporary checkout @tmp and renames it into place */
static gboolean
finish_checkout (GroveStore *self, GroveImage *image, const char *tmp, const char *rel,
                 GError **error)
{
  g_autoptr (GVariant) commit_v = NULL;
  g_autoptr (GVariant) metadata = NULL;
  g_autoptr (GVariant) specials = NULL;
  grove_autofd int tmp_fd = openat (self->root_fd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int errsv;

  if (tmp_fd < 0)
    return grove_throw_errno_code (error, errno, "opening %s", tmp);
  if (!ostree_repo_load_commit (self->repo, grove_image_get_commit (image), &commit_v, NULL, error))
    return FALSE;
  metadata = g_variant_get_child_value (commit_v, 0);
  specials = g_variant_lookup_value (metadata, GROVE_META_SPECIALS,
                                     G_VARIANT_TYPE (GROVE_SPECIALS_TYPE));
  if (specials != NULL && !create_specials (tmp_fd, specials, error))
    return FALSE;
  if (renameat (self->root_fd, tmp, self->root_fd, rel) == 0)
    return TRUE;
  errsv = errno;
  /* another thread made the same checkout first: that one is as good */
  if (errsv == ENOTEMPTY || errsv == EEXIST)
    return grove_rm_rf_at (self->root_fd, tmp, NULL, error);
  return grove_throw_errno_code (error, errsv, "renaming the checkout of image %s into place",
                                 grove_image_get_id (image));
}

/* the read-only hardlink checkout of an image, made once and shared by its containers */
static char *
ensure_checkout (GroveStore *self, GroveImage *image, GCancellable *cancellable, GError **error)
{
  const char *id = grove_image_get_id (image);
  g_autofree char *rel = g_build_filename (CHECKOUTS_DIR, id, NULL);
  g_autofree char *tmp = NULL;
  OstreeRepoCheckoutAtOptions options = { 0 };
  struct stat st;

  if (fstatat (self->root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0)
    return g_build_filename (self->root, rel, NULL);
  tmp = g_strdup_printf ("%s/%s%s-%u", CHECKOUTS_DIR, TMP_PREFIX, id, g_random_int ());
  options.mode = OSTREE_REPO_CHECKOUT_MODE_NONE;
  options.overwrite_mode = OSTREE_REPO_CHECKOUT_OVERWRITE_NONE;
  /* the checkout must be hardlinks to the repo's objects, never a copy */
  options.no_copy_fallback = TRUE;
  if (!ostree_repo_checkout_at (self->repo, &options, self->root_fd, tmp,
                                grove_image_get_commit (image), cancellable, error)
      || !finish_checkout (self, image, tmp, rel, error))
    {
      grove_rm_rf_at (self->root_fd, tmp, NULL, NULL);
      return g_prefix_error (error, "checking out image %s: ", id), NULL;
    }
  return g_build_filename (self->root, rel, NULL);
}

static gboolean
valid_container_id (const char *id, GError **error)
{
  gsize len = strlen (id);

  if (len == 0 || len > 128 || !g_ascii_isalnum (id[0]))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "'%s' is not a valid container ID",
                        id);
  for (const char *p = id; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-' && *p != '.')
      return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "'%s' is not a valid container ID",
                          id);
  return TRUE;
}

/**
 * grove_store_get_rootfs_path:
 * @self: a #GroveStore
 * @container_id: a container ID
 *
 * Returns: (transfer full): where the container's rootfs is (or would be) mounted
 */
char *
grove_store_get_rootfs_path (GroveStore *self, const char *container_id)
{
  g_return_val_if_fail (GROVE_IS_STORE (self), NULL);
  return g_build_filename (self->root, SNAPSHOTS_DIR, container_id, "rootfs", NULL);
}

/**
 * grove_store_get_writable_path:
 * @self: a #GroveStore
 * @container_id: a container ID
 *
 * Returns: (transfer full): the container's writable layer: the overlay's upper dir, which
 *   holds what the container changed
 */
char *
grove_store_get_writable_path (GroveStore *self, const char *container_id)
{
  g_return_val_if_fail (GROVE_IS_STORE (self), NULL);
  return g_build_filename (self->root, SNAPSHOTS_DIR, container_id, "upper", NULL);
}

static gboolean
is_mounted (int root_fd, const char *snapshot, gboolean *out_mounted, GError **error)
{
  g_autofree char *rootfs = g_build_filename (snapshot, "rootfs", NULL);
  struct stat dir_st, rootfs_st;

  if (fstatat (root_fd, snapshot, &dir_st, AT_SYMLINK_NOFOLLOW) < 0
      || fstatat (root_fd, rootfs, &rootfs_st, AT_SYMLINK_NOFOLLOW) < 0)
    return grove_throw_errno_code (error, errno, "stat %s", rootfs);
  *out_mounted = dir_st.st_dev != rootfs_st.st_dev;
  return TRUE;
}

/*
 * A process of a user namespace is not the host's root: it can reach its rootfs only through
 * directories that let anyone search them. The store's directories above a snapshot become
 * searchable (not readable): the names of images and containers stay hidden.
 */
/* the upper dir is the mapped root's, so that the container's / is its own */
static gboolean
prepare_idmapped (GroveStore *self, const char *rel, const char *upper, const GroveIdmap *idmap,
                  GError **error)
{
  if (!grove_make_searchable_at (AT_FDCWD, self->root, error)
      || !grove_make_searchable_at (self->root_fd, SNAPSHOTS_DIR, error)
      || !grove_make_searchable_at (self->root_fd, rel, error))
    return FALSE;
  if (lchown (upper, idmap->root_uid, idmap->root_gid) < 0)
    return grove_throw_errno_code (error, errno, "giving %s to %u:%u", upper, idmap->root_uid,
                                   idmap->root_gid);
  return TRUE;
}

static gboolean
mount_snapshot (GroveStore *self, const char *container_id, const char *lower,
                const GroveIdmap *idmap, GError **error)
{
  g_autofree char *dir = g_build_filename (self->root, SNAPSHOTS_DIR, container_id, NULL);
  g_autofree char *rel = g_build_filename (SNAPSHOTS_DIR, container_id, NULL);
  g_autofree char *upper = g_build_filename (dir, "upper", NULL);
  g_autofree char *work = g_build_filename (dir, "work", NULL);
  g_autofree char *rootfs = g_build_filename (dir, "rootfs", NULL);
  g_autofree char *stage = g_build_filename (dir, "lower", NULL);
  g_autofree char *options = NULL;
  gboolean mounted = FALSE;

  if (!grove_mkdir_p_at (AT_FDCWD, upper, 0755, error)
      || !grove_mkdir_p_at (AT_FDCWD, work, 0700, error)
      || !grove_mkdir_p_at (AT_FDCWD, rootfs, 0755, error)
      || !is_mounted (self->root_fd, rel, &mounted, error))
    return FALSE;
  if (mounted)
    return TRUE;
  if (idmap != NULL)
    return grove_mkdir_p_at (AT_FDCWD, stage, 0700, error)
           && prepare_idmapped (self, rel, upper, idmap, error)
           && grove_idmap_mount_overlay (lower, upper, work, stage, rootfs, idmap->userns_fd,
                                         error);
  /* index=off: ostree stores identical files once, and with an index a write through one
   * name of a shared object would show through the others */
  options = g_strdup_printf ("lowerdir=%s,upperdir=%s,workdir=%s,index=off", lower, upper, work);
  if (mount ("overlay", rootfs, "overlay", MS_NODEV, options) < 0)
    return grove_throw_errno_code (error, errno, "mounting the rootfs of container %s",
                                   container_id);
  return TRUE;
}

/* the image a container's rootfs comes from; with @name_or_id, it pins it with a ref */
static GroveImage *
pin_image (GroveStore *self, const char *ref, const char *name_or_id, const char *container_id,
           gboolean *out_pinned_now, GCancellable *cancellable, GError **error)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&self->rootfs_lock);
  g_autofree char *commit = NULL;
  g_autoptr (GroveImage) image = NULL;

  *out_pinned_now = FALSE;
  if (!resolve_ref (self, ref, &commit, error))
    return NULL;
  if (name_or_id == NULL)
    {
      if (commit == NULL)
        return grove_throw (error, GROVE_ERROR_NOT_FOUND, "container %s has no rootfs",
                            container_id),
               NULL;
      return image_from_commit (self, commit, NULL, error);
    }
  image = lookup_image_locked (self, name_or_id, cancellable, error);
  if (image == NULL)
    return NULL;
  if (commit != NULL && strcmp (commit, grove_image_get_commit (image)) != 0)
    return grove_throw (error, GROVE_ERROR_ALREADY_EXISTS,
                        "container %s already has a rootfs from another image", container_id),
           NULL;
  /* the ref keeps the image from being removed while its checkout is made and mounted */
  if (commit == NULL
      && !ostree_repo_set_ref_immediate (self->repo, NULL, ref, grove_image_get_commit (image),
                                         cancellable, error))
    return NULL;
  *out_pinned_now = commit == NULL;
  return g_steal_pointer (&image);
}

static gboolean
mount_locked (GroveStore *self, const char *ref, const char *container_id, const char *lower,
              const GroveIdmap *idmap, gboolean pinned_now, GError **error)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&self->rootfs_lock);

  if (lower != NULL && mount_snapshot (self, container_id, lower, idmap, error))
    return TRUE;
  /* a rootfs that never came to be does not keep its image */
  if (pinned_now)
    ostree_repo_set_ref_immediate (self->repo, NULL, ref, NULL, NULL, NULL);
  return FALSE;
}

/**
 * grove_store_prepare_rootfs:
 * @self: a #GroveStore
 * @container_id: the container's ID
 * @name_or_id: (nullable): the image; %NULL re-mounts the rootfs the container already has
 *   (after a reboot or a restart of the daemon)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Gives the container a writable rootfs: an overlay whose lower dir is the image's
 * shared hardlink checkout (made on first use) and whose upper and work dirs are the
 * container's own. Idempotent: preparing a prepared rootfs returns it as it is. It does
 * not wait for imports running in other threads.
 *
 * Returns: (transfer full) (nullable): the path of the mounted rootfs
 */
char *
grove_store_prepare_rootfs (GroveStore *self, const char *container_id, const char *name_or_id,
                            GCancellable *cancellable, GError **error)
{
  return grove_store_prepare_rootfs_idmapped (self, container_id, name_or_id, NULL, cancellable,
                                              error);
}

/**
 * grove_store_prepare_rootfs_idmapped:
 * @self: a #GroveStore
 * @container_id: the container's ID
 * @name_or_id: (nullable): the image, as for grove_store_prepare_rootfs()
 * @idmap: (nullable): how the rootfs is seen from a user namespace; %NULL: as it is
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Like grove_store_prepare_rootfs(), for a container of a user namespace: the shared
 * checkout is the overlay's lower layer through an idmapped mount (the checkout itself is
 * not changed), the upper dir belongs to @idmap's root, and the store's directories above
 * the rootfs become searchable by anyone. A rootfs already mounted is returned as it is,
 * whatever its mapping.
 *
 * Returns: (transfer full) (nullable): the path of the mounted rootfs
 */
char *
grove_store_prepare_rootfs_idmapped (GroveStore *self, const char *container_id,
                                     const char *name_or_id, const GroveIdmap *idmap,
                                     GCancellable *cancellable, GError **error)
{
  g_autofree char *ref = NULL;
  g_autofree char *lower = NULL;
  g_autoptr (GroveImage) image = NULL;
  gboolean pinned_now = FALSE;

  g_return_val_if_fail (GROVE_IS_STORE (self), NULL);
  g_return_val_if_fail (idmap == NULL || idmap->userns_fd >= 0, NULL);
  if (!valid_container_id (container_id, error))
    return NULL;
  ref = g_strdup_printf ("%s/%s", GROVE_REF_CONTAINERS, container_id);
  image = pin_image (self, ref, name_or_id, container_id, &pinned_now, cancellable, error);
  if (image == NULL)
    return NULL;
  lower = ensure_checkout (self, image, cancellable, error);
  if (!mount_locked (self, ref, container_id, lower, idmap, pinned_now, error))
    return NULL;
  return grove_store_get_rootfs_path (self, container_id);
}

/**
 * grove_store_release_rootfs:
 * @self: a #GroveStore
 * @container_id: the container's ID
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Unmounts the container's rootfs and deletes its upper and work dirs. Releasing a rootfs
 * that does not exist is not an error.
 *
 * Returns: %TRUE on success; %GROVE_ERROR_BUSY if the rootfs is still in use
 */
gboolean
grove_store_release_rootfs (GroveStore *self, const char *container_id, GCancellable *cancellable,
                            GError **error)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&self->rootfs_lock);
  g_autofree char *ref = NULL;
  g_autofree char *rel = NULL;
  g_autofree char *rootfs = NULL;
  g_autofree char *stage = NULL;

  g_return_val_if_fail (GROVE_IS_STORE (self), FALSE);
  if (!valid_container_id (container_id, error))
    return FALSE;
  ref = g_strdup_printf ("%s/%s", GROVE_REF_CONTAINERS, container_id);
  rel = g_build_filename (SNAPSHOTS_DIR, container_id, NULL);
  rootfs = grove_store_get_rootfs_path (self, container_id);
  stage = g_build_filename (self->root, rel, "lower", NULL);
  /* an idmapped stage left by a crash is the shared checkout: never remove through it */
  while (umount2 (stage, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
    ;
  while (umount2 (rootfs, UMOUNT_NOFOLLOW) == 0)
    ;
  if (errno == EBUSY)
    return grove_throw (error, GROVE_ERROR_BUSY, "the rootfs of container %s is in use",
                        container_id);
  if (errno != EINVAL && errno != ENOENT)
    return grove_throw_errno_code (error, errno, "unmounting %s", rootfs);
  return grove_rm_rf_at (self->root_fd, rel, cancellable, error)
         && ostree_repo_set_ref_immediate (self->repo, NULL, ref, NULL, cancellable, error);
}

/**
 * grove_store_list_rootfs:
 * @self: a #GroveStore
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the IDs of the containers that have a rootfs, sorted
 */
GStrv
grove_store_list_rootfs (GroveStore *self, GError **error)
{
  g_autoptr (GHashTable) refs = NULL;
  g_autofree gpointer *ids = NULL;
  guint n = 0;

  g_return_val_if_fail (GROVE_IS_STORE (self), NULL);
  refs = list_refs (self, GROVE_REF_CONTAINERS, NULL, error);
  if (refs == NULL)
    return NULL;
  ids = (gpointer *)g_hash_table_get_keys_as_array (refs, &n);
  qsort (ids, n, sizeof (gpointer), compare_names);
  return g_strdupv ((char **)ids);
}

/* ---- image changes off the caller's thread ---- */

typedef enum
{
  CHANGE_REMOVE,
  CHANGE_TAG,
  CHANGE_UNTAG,
} ChangeKind;

typedef struct
{
  ChangeKind kind;
  char *name; /* the image (remove, tag) or the tag (untag) */
  char *tag;  /* the new tag (tag) */
} ChangeData;

static void
change_data_free (ChangeData *data)
{
  g_free (data->name);
  g_free (data->tag);
  g_free (data);
}

static void
change_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  GroveStore *self = source_object;
  ChangeData *data = task_data;
  GError *local_error = NULL;
  gboolean done = FALSE;

  switch (data->kind)
    {
    case CHANGE_REMOVE:
      done = grove_store_remove_image (self, data->name, cancellable, &local_error);
      break;
    case CHANGE_TAG:
      done = grove_store_tag_image (self, data->name, data->tag, cancellable, &local_error);
      break;
    case CHANGE_UNTAG:
    default:
      done = grove_store_untag_image (self, data->name, cancellable, &local_error);
      break;
    }
  if (done)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, local_error);
}

/*
 * The write lock may be held for long (a pull holds it while it downloads), so a caller on
 * a main loop must not wait for it: each change runs in a thread of its own.
 */
static void
change_async (GroveStore *self, ChangeKind kind, const char *name, const char *tag,
              GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  ChangeData *data = g_new0 (ChangeData, 1);

  data->kind = kind;
  data->name = g_strdup (name);
  data->tag = g_strdup (tag);
  g_task_set_source_tag (task, change_async);
  g_task_set_task_data (task, data, (GDestroyNotify)change_data_free);
  grove_task_run_in_new_thread (task, change_thread);
}

/**
 * grove_store_remove_image_async:
 * @self: a #GroveStore
 * @name_or_id: as for grove_store_remove_image()
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: for @callback
 *
 * Runs grove_store_remove_image() in a thread of its own.
 */
void
grove_store_remove_image_async (GroveStore *self, const char *name_or_id, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (GROVE_IS_STORE (self));
  g_return_if_fail (name_or_id != NULL);
  change_async (self, CHANGE_REMOVE, name_or_id, NULL, cancellable, callback, user_data);
}

/**
 * grove_store_tag_image_async:
 * @self: a #GroveStore
 * @name_or_id: as for grove_store_tag_image()
 * @tag: as for grove_store_tag_image()
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: for @callback
 *
 * Runs grove_store_tag_image() in a thread of its own.
 */
void
grove_store_tag_image_async (GroveStore *self, const char *name_or_id, const char *tag,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_return_if_fail (GROVE_IS_STORE (self));
  g_return_if_fail (name_or_id != NULL && tag != NULL);
  change_async (self, CHANGE_TAG, name_or_id, tag, cancellable, callback, user_data);
}

/**
 * grove_store_untag_image_async:
 * @self: a #GroveStore
 * @tag: as for grove_store_untag_image()
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when done
 * @user_data: for @callback
 *
 * Runs grove_store_untag_image() in a thread of its own.
 */
void
grove_store_untag_image_async (GroveStore *self, const char *tag, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (GROVE_IS_STORE (self));
  g_return_if_fail (tag != NULL);
  change_async (self, CHANGE_UNTAG, tag, NULL, cancellable, callback, user_data);
}

/**
 * grove_store_change_image_finish:
 * @self: a #GroveStore
 * @result: what grove_store_remove_image_async(), grove_store_tag_image_async() or
 *   grove_store_untag_image_async() gave the callback
 * @error: return location
 *
 * Returns: %TRUE on success
 */
gboolean
grove_store_change_image_finish (GroveStore *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == change_async, FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
