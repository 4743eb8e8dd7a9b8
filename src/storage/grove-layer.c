/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveLayer"

#include <archive.h>
#include <archive_entry.h>
#include <string.h>
#include <sys/stat.h>

#include "grove-archive-input-stream.h"
#include "grove-digest-input-stream.h"
#include "grove-store-private.h"
#include "grove-utils.h"
#include "grove-zstd-decompressor.h"

/*
 * A layer tar becomes one ostree commit, written straight from the tar stream into a
 * mutable tree: nothing is unpacked to disk, so no entry of a hostile tar can ever be
 * written through a symlink or outside the repository. What ostree cannot hold (device
 * nodes, FIFOs) and what only means something when layers are stacked (whiteouts, opaque
 * dirs, implicitly created parents) goes into the commit metadata, and
 * grove_layer_compose() applies it when the layers are stacked into an image tree.
 */

#define READ_BUFFER_SIZE (256 * 1024)
#define INLINE_FILE_MAX (128 * 1024)
#define WHITEOUT_PREFIX ".wh."
#define OPAQUE_MARKER ".wh..wh..opq"

typedef struct
{
  OstreeRepo *repo;
  const GroveLayerDesc *desc;
  GCancellable *cancellable;
  OstreeMutableTree *root;
  GHashTable *dirmeta_cache; /* "uid:gid:mode" → dirmeta checksum */
  char *default_dirmeta;
  GHashTable *implicit_dirs; /* paths of directories no entry described */
  GPtrArray *whiteouts;
  GPtrArray *opaque_dirs;
  GHashTable *specials; /* path → (suuut) */
  guint8 *buffer;
  GroveDigestInputStream *blob_counter;
  GroveProgress *progress;
  guint64 content_size;
  guint64 files;
  guint64 reported_files;
} LayerImport;

static void
layer_import_clear (LayerImport *li)
{
  g_clear_object (&li->root);
  g_clear_pointer (&li->dirmeta_cache, g_hash_table_unref);
  g_clear_pointer (&li->default_dirmeta, g_free);
  g_clear_pointer (&li->implicit_dirs, g_hash_table_unref);
  g_clear_pointer (&li->whiteouts, g_ptr_array_unref);
  g_clear_pointer (&li->opaque_dirs, g_ptr_array_unref);
  g_clear_pointer (&li->specials, g_hash_table_unref);
  g_clear_pointer (&li->buffer, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (LayerImport, layer_import_clear)

/**
 * grove_layer_ref:
 * @diff_id: "sha256:<hex>"
 *
 * Returns: (transfer full): the ref naming the layer commit of @diff_id
 */
char *
grove_layer_ref (const char *diff_id)
{
  const char *hex = g_str_has_prefix (diff_id, "sha256:") ? diff_id + 7 : diff_id;
  return g_strdup_printf ("%s/%s", GROVE_REF_LAYERS, hex);
}

/**
 * grove_layer_result_clear:
 * @result: a #GroveLayerResult
 *
 * Frees what @result holds.
 */
void
grove_layer_result_clear (GroveLayerResult *result)
{
  g_clear_pointer (&result->commit, g_free);
}

static char *
write_dirmeta (LayerImport *li, guint32 uid, guint32 gid, guint32 mode, GVariant *xattrs,
               GError **error)
{
  g_autofree char *key = NULL;
  g_autoptr (GFileInfo) info = g_file_info_new ();
  g_autoptr (GVariant) dirmeta = NULL;
  g_autofree guchar *csum = NULL;
  char *hex;

  if (xattrs == NULL)
    {
      key = g_strdup_printf ("%u:%u:%o", uid, gid, mode);
      hex = g_hash_table_lookup (li->dirmeta_cache, key);
      if (hex != NULL)
        return g_strdup (hex);
    }
  g_file_info_set_file_type (info, G_FILE_TYPE_DIRECTORY);
  g_file_info_set_attribute_uint32 (info, "unix::uid", uid);
  g_file_info_set_attribute_uint32 (info, "unix::gid", gid);
  g_file_info_set_attribute_uint32 (info, "unix::mode", S_IFDIR | (mode & 07777));
  dirmeta = ostree_create_directory_metadata (info, xattrs);
  if (!ostree_repo_write_metadata (li->repo, OSTREE_OBJECT_TYPE_DIR_META, NULL, dirmeta, &csum,
                                   li->cancellable, error))
    return NULL;
  hex = ostree_checksum_from_bytes (csum);
  if (key != NULL)
    g_hash_table_insert (li->dirmeta_cache, g_steal_pointer (&key), g_strdup (hex));
  return hex;
}

/* splits a tar path into components; a leading "/" is dropped (as tar does), ".." is refused */
static GStrv
split_entry_path (const char *raw, GError **error)
{
  g_auto (GStrv) parts = NULL;
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  if (!g_utf8_validate (raw, -1, NULL))
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "entry name is not valid UTF-8"), NULL;
  parts = g_strsplit (raw, "/", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      if (parts[i][0] == '\0' || strcmp (parts[i], ".") == 0)
        continue;
      if (strcmp (parts[i], "..") == 0)
        return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                            "entry '%s' has a '..' component and would land outside the root", raw),
               NULL;
      g_strv_builder_add (builder, parts[i]);
    }
  return g_strv_builder_end (builder);
}

static char *
join_components (char **comps, guint n)
{
  g_autoptr (GString) path = g_string_new ("");

  for (guint i = 0; i < n; i++)
    {
      if (i > 0)
        g_string_append_c (path, '/');
      g_string_append (path, comps[i]);
    }
  return g_string_free (g_steal_pointer (&path), FALSE);
}

/* looks @name up in @dir: sets exactly one of the outputs, or neither when absent */
static gboolean
tree_lookup (OstreeMutableTree *dir, const char *name, char **out_file, OstreeMutableTree **out_dir,
             GError **error)
{
  g_autoptr (GError) local_error = NULL;

  *out_file = NULL;
  *out_dir = NULL;
  if (ostree_mutable_tree_lookup (dir, name, out_file, out_dir, &local_error))
    return TRUE;
  if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
    return TRUE;
  g_propagate_error (error, g_steal_pointer (&local_error));
  return FALSE;
}

/* walks to the directory that holds the last of @comps, creating missing parents */
static OstreeMutableTree *
ensure_parent (LayerImport *li, const char *raw, char **comps, guint n, GError **error)
{
  g_autoptr (OstreeMutableTree) dir = g_object_ref (li->root);

  for (guint i = 0; i + 1 < n; i++)
    {
      g_autofree char *file = NULL;
      g_autoptr (OstreeMutableTree) sub = NULL;

      if (!tree_lookup (dir, comps[i], &file, &sub, error))
        return NULL;
      if (file != NULL)
        return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                            "entry '%s' goes through '%s', which this layer made a file or "
                            "symlink, not a directory",
                            raw, comps[i]),
               NULL;
      if (sub == NULL)
        {
          if (!ostree_mutable_tree_ensure_dir (dir, comps[i], &sub, error))
            return NULL;
          ostree_mutable_tree_set_metadata_checksum (sub, li->default_dirmeta);
          g_hash_table_add (li->implicit_dirs, join_components (comps, i + 1));
        }
      g_set_object (&dir, sub);
    }
  return g_steal_pointer (&dir);
}

/* removes whatever the layer has at @name in @dir so an entry of another type can replace it */
static gboolean
clear_name (LayerImport *li, OstreeMutableTree *dir, const char *path, const char *name,
            gboolean keep_dir, GError **error)
{
  g_autofree char *file = NULL;
  g_autoptr (OstreeMutableTree) sub = NULL;

  g_hash_table_remove (li->specials, path);
  if (!tree_lookup (dir, name, &file, &sub, error))
    return FALSE;
  if (file != NULL || (sub != NULL && !keep_dir))
    return ostree_mutable_tree_remove (dir, name, TRUE, error);
  return TRUE;
}

static GVariant *
read_xattrs (struct archive_entry *entry)
{
  const char *name;
  const void *value;
  size_t size;
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func ((GDestroyNotify)g_variant_unref);
  GVariantBuilder builder;

  archive_entry_xattr_reset (entry);
  while (archive_entry_xattr_next (entry, &name, &value, &size) == ARCHIVE_OK)
    {
      /* overlayfs metadata in a layer would change how the overlay reads the tree */
      if (g_str_has_prefix (name, "trusted.overlay.") || g_str_has_prefix (name, "user.overlay."))
        continue;
      g_ptr_array_add (items,
                       g_variant_ref_sink (g_variant_new (
                           "(@ay@ay)", g_variant_new_bytestring (name),
                           g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, value, size, 1))));
    }
  if (items->len == 0)
    return NULL;
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ayay)"));
  for (guint i = 0; i < items->len; i++)
    g_variant_builder_add_value (&builder, items->pdata[i]);
  return g_variant_ref_sink (g_variant_builder_end (&builder));
}

static void
report_progress (LayerImport *li, gboolean force)
{
  GroveProgress *progress = li->progress;

  if (progress == NULL || progress->func == NULL)
    return;
  if (!force && li->files - li->reported_files < 64)
    return;
  li->reported_files = li->files;
  progress->state.files = progress->base_files + li->files;
  progress->state.layer_bytes = grove_digest_input_stream_get_bytes_read (li->blob_counter);
  progress->state.bytes = progress->base_bytes + progress->state.layer_bytes;
  progress->func (&progress->state, progress->user_data);
}

/* reads exactly @len bytes of the current entry's data into @buf */
static gboolean
read_entry_data (struct archive *archive, const char *path, guint8 *buf, gsize len, GError **error)
{
  gsize done = 0;

  while (done < len)
    {
      la_ssize_t n = archive_read_data (archive, buf + done, len - done);
      if (n < 0)
        return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "reading '%s': %s", path,
                            archive_error_string (archive));
      if (n == 0)
        return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                            "entry '%s' claims %" G_GSIZE_FORMAT
                            " bytes but the tar ends after %" G_GSIZE_FORMAT,
                            path, len, done);
      done += (gsize)n;
    }
  return TRUE;
}

static char *
write_regular (LayerImport *li, struct archive *archive, struct archive_entry *entry,
               const char *path, guint32 mode, GVariant *xattrs, GError **error)
{
  guint32 uid = (guint32)archive_entry_uid (entry);
  guint32 gid = (guint32)archive_entry_gid (entry);
  la_int64_t size = archive_entry_size (entry);
  g_autoptr (GInputStream) data = NULL;
  g_autoptr (GInputStream) content = NULL;
  g_autoptr (GFileInfo) info = NULL;
  g_autofree guchar *csum = NULL;
  guint64 content_length = 0;

  if (size < 0)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "entry '%s' has no size", path), NULL;
  if (size <= INLINE_FILE_MAX)
    {
      if (!read_entry_data (archive, path, li->buffer, (gsize)size, error))
        return NULL;
      return ostree_repo_write_regfile_inline (li->repo, NULL, uid, gid, S_IFREG | mode, xattrs,
                                               li->buffer, (gsize)size, li->cancellable, error);
    }
  /* not ostree_repo_write_regfile(): it stages an object the repo has already, and the
   * commit then renames the copy over it, unlinking it from every existing checkout */
  info = g_file_info_new ();
  g_file_info_set_file_type (info, G_FILE_TYPE_REGULAR);
  g_file_info_set_size (info, size);
  g_file_info_set_attribute_uint32 (info, "unix::uid", uid);
  g_file_info_set_attribute_uint32 (info, "unix::gid", gid);
  g_file_info_set_attribute_uint32 (info, "unix::mode", S_IFREG | mode);
  data = grove_archive_input_stream_new (archive);
  archive_clear_error (archive);
  if (!ostree_raw_file_to_content_stream (data, info, xattrs, &content, &content_length,
                                          li->cancellable, error)
      || !ostree_repo_write_content (li->repo, NULL, content, content_length, &csum,
                                     li->cancellable, error))
    {
      /* a tar that ends inside the file is a broken image, whatever ostree calls it */
      if (archive_errno (archive) != 0 || archive_error_string (archive) != NULL)
        {
          g_clear_error (error);
          return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "reading '%s': %s", path,
                              archive_error_string (archive)),
                 NULL;
        }
      return NULL;
    }
  return ostree_checksum_from_bytes (csum);
}

static gboolean
add_whiteout (LayerImport *li, const char *raw, char **comps, guint n, GError **error)
{
  const char *name = comps[n - 1];
  const char *target = name + strlen (WHITEOUT_PREFIX);
  g_autofree char *parent_path = join_components (comps, n - 1);
  g_autoptr (OstreeMutableTree) parent = ensure_parent (li, raw, comps, n, error);

  if (parent == NULL)
    return FALSE;
  if (strcmp (name, OPAQUE_MARKER) == 0)
    {
      g_ptr_array_add (li->opaque_dirs, g_steal_pointer (&parent_path));
      return TRUE;
    }
  /* other ".wh..wh." names are aufs bookkeeping, not whiteouts */
  if (g_str_has_prefix (target, WHITEOUT_PREFIX))
    return TRUE;
  if (*target == '\0' || strcmp (target, ".") == 0 || strcmp (target, "..") == 0)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "whiteout '%s' names no valid entry",
                        raw);
  g_ptr_array_add (li->whiteouts, *parent_path != '\0'
                                      ? g_strdup_printf ("%s/%s", parent_path, target)
                                      : g_strdup (target));
  return TRUE;
}

static gboolean
add_directory (LayerImport *li, OstreeMutableTree *parent, const char *path, const char *name,
               struct archive_entry *entry, GVariant *xattrs, GError **error)
{
  g_autoptr (OstreeMutableTree) dir = NULL;
  g_autofree char *meta
      = write_dirmeta (li, (guint32)archive_entry_uid (entry), (guint32)archive_entry_gid (entry),
                       archive_entry_perm (entry), xattrs, error);

  if (meta == NULL)
    return FALSE;
  if (parent == NULL)
    dir = g_object_ref (li->root);
  else if (!clear_name (li, parent, path, name, TRUE, error)
           || !ostree_mutable_tree_ensure_dir (parent, name, &dir, error))
    return FALSE;
  ostree_mutable_tree_set_metadata_checksum (dir, meta);
  g_hash_table_remove (li->implicit_dirs, path);
  return TRUE;
}

static gboolean
add_hardlink (LayerImport *li, OstreeMutableTree *parent, const char *path, const char *name,
              const char *raw_target, GError **error)
{
  g_auto (GStrv) comps = split_entry_path (raw_target, error);
  g_autoptr (OstreeMutableTree) dir = NULL;
  g_autoptr (OstreeMutableTree) sub = NULL;
  g_autofree char *file = NULL;
  guint n;

  if (comps == NULL)
    return g_prefix_error (error, "hardlink '%s': ", path), FALSE;
  n = g_strv_length (comps);
  if (n == 0)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "hardlink '%s' points at the root", path);
  dir = g_object_ref (li->root);
  for (guint i = 0; i + 1 < n && dir != NULL; i++)
    {
      g_autoptr (OstreeMutableTree) next = NULL;
      g_autofree char *not_dir = NULL;
      if (!tree_lookup (dir, comps[i], &not_dir, &next, error))
        return FALSE;
      g_set_object (&dir, next);
    }
  if (dir != NULL && !tree_lookup (dir, comps[n - 1], &file, &sub, error))
    return FALSE;
  if (file == NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                        "hardlink '%s' points at '%s', which is not a file of this layer", path,
                        raw_target);
  return clear_name (li, parent, path, name, FALSE, error)
         && ostree_mutable_tree_replace_file (parent, name, file, error);
}

static gboolean
add_special (LayerImport *li, OstreeMutableTree *parent, const char *path, const char *name,
             struct archive_entry *entry, GError **error)
{
  /* set-id bits mean nothing on a device node and everything to an attacker */
  guint32 mode = archive_entry_mode (entry) & ~(S_ISUID | S_ISGID);

  if (!clear_name (li, parent, path, name, FALSE, error))
    return FALSE;
  g_hash_table_insert (
      li->specials, g_strdup (path),
      g_variant_ref_sink (g_variant_new ("(suuut)", path, mode, (guint32)archive_entry_uid (entry),
                                         (guint32)archive_entry_gid (entry),
                                         (guint64)archive_entry_rdev (entry))));
  return TRUE;
}

static gboolean
add_file (LayerImport *li, struct archive *archive, struct archive_entry *entry,
          OstreeMutableTree *parent, const char *path, const char *name, GVariant *xattrs,
          GError **error)
{
  mode_t type = archive_entry_filetype (entry);
  g_autofree char *checksum = NULL;

  if (type == AE_IFREG)
    {
      checksum
          = write_regular (li, archive, entry, path, archive_entry_perm (entry), xattrs, error);
      li->content_size += (guint64)MAX (archive_entry_size (entry), 0);
    }
  else
    {
      const char *target = archive_entry_symlink (entry);
      if (target == NULL || *target == '\0' || !g_utf8_validate (target, -1, NULL))
        return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                            "symlink '%s' has an empty or non-UTF-8 target", path);
      /* the target is stored as it is: nothing is ever resolved through it on the host */
      checksum = ostree_repo_write_symlink (li->repo, NULL, (guint32)archive_entry_uid (entry),
                                            (guint32)archive_entry_gid (entry), xattrs, target,
                                            li->cancellable, error);
    }
  if (checksum == NULL)
    return g_prefix_error (error, "entry '%s': ", path), FALSE;
  li->files++;
  return clear_name (li, parent, path, name, FALSE, error)
         && ostree_mutable_tree_replace_file (parent, name, checksum, error);
}

static gboolean
import_entry (LayerImport *li, struct archive *archive, struct archive_entry *entry, GError **error)
{
  const char *raw = archive_entry_pathname (entry);
  const char *hardlink = archive_entry_hardlink (entry);
  mode_t type = archive_entry_filetype (entry);
  g_auto (GStrv) comps = NULL;
  g_autofree char *path = NULL;
  g_autoptr (OstreeMutableTree) parent = NULL;
  g_autoptr (GVariant) xattrs = NULL;
  const char *name;
  guint n;

  if (raw == NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "tar entry without a name");
  comps = split_entry_path (raw, error);
  if (comps == NULL)
    return FALSE;
  n = g_strv_length (comps);
  xattrs = read_xattrs (entry);
  if (n == 0)
    return type == AE_IFDIR ? add_directory (li, NULL, "", "", entry, xattrs, error)
                            : grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                                           "entry '%s' names the root but is not a directory", raw);
  name = comps[n - 1];
  if (g_str_has_prefix (name, WHITEOUT_PREFIX))
    return add_whiteout (li, raw, comps, n, error);
  path = join_components (comps, n);
  parent = ensure_parent (li, raw, comps, n, error);
  if (parent == NULL)
    return FALSE;
  if (hardlink != NULL)
    return add_hardlink (li, parent, path, name, hardlink, error);
  switch (type)
    {
    case AE_IFDIR:
      return add_directory (li, parent, path, name, entry, xattrs, error);
    case AE_IFREG:
    case AE_IFLNK:
      return add_file (li, archive, entry, parent, path, name, xattrs, error);
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO:
      return add_special (li, parent, path, name, entry, error);
    default:
      return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                          "entry '%s' has a file type (0%o) a layer cannot hold", path,
                          (unsigned)type);
    }
}

typedef struct
{
  GInputStream *stream;
  GCancellable *cancellable;
  GError *error;
  guint8 *buffer;
} ArchiveReader;

static la_ssize_t
archive_read_cb (struct archive *archive, void *data, const void **out_buffer)
{
  ArchiveReader *reader = data;
  gssize n = g_input_stream_read (reader->stream, reader->buffer, READ_BUFFER_SIZE,
                                  reader->cancellable, &reader->error);

  if (n < 0)
    {
      archive_set_error (archive, EIO, "%s", reader->error->message);
      return -1;
    }
  *out_buffer = reader->buffer;
  return n;
}

static gboolean
read_tar (LayerImport *li, GInputStream *tar, GError **error)
{
  g_autofree guint8 *buffer = g_malloc (READ_BUFFER_SIZE);
  ArchiveReader reader = { tar, li->cancellable, NULL, buffer };
  struct archive *archive = archive_read_new ();
  struct archive_entry *entry = NULL;
  gboolean ok = TRUE;
  int r;

  archive_read_support_format_tar (archive);
  if (archive_read_open (archive, &reader, NULL, archive_read_cb, NULL) != ARCHIVE_OK)
    ok = grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "not a tar: %s",
                      archive_error_string (archive));
  while (ok && (r = archive_read_next_header (archive, &entry)) != ARCHIVE_EOF)
    {
      if (r < ARCHIVE_WARN)
        ok = grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s", archive_error_string (archive));
      else if (g_cancellable_set_error_if_cancelled (li->cancellable, error))
        ok = FALSE;
      else
        ok = import_entry (li, archive, entry, error);
      if (ok)
        report_progress (li, FALSE);
    }
  archive_read_free (archive);
  if (!ok && reader.error != NULL)
    {
      /* the stream's own error (a digest or decompression failure) says more than libarchive */
      g_clear_error (error);
      g_propagate_error (error, g_steal_pointer (&reader.error));
    }
  g_clear_error (&reader.error);
  return ok;
}

static int
compare_strings (gconstpointer a, gconstpointer b, gpointer user_data)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

static GVariant *
specials_to_variant (GHashTable *specials)
{
  g_autofree gpointer *keys = (gpointer *)g_hash_table_get_keys_as_array (specials, NULL);
  GVariantBuilder builder;

  g_qsort_with_data (keys, g_hash_table_size (specials), sizeof (gpointer), compare_strings, NULL);
  g_variant_builder_init (&builder, G_VARIANT_TYPE (GROVE_SPECIALS_TYPE));
  for (guint i = 0; keys[i] != NULL; i++)
    g_variant_builder_add_value (&builder, g_hash_table_lookup (specials, keys[i]));
  return g_variant_builder_end (&builder);
}

static GVariant *
strv_variant_from_set (GHashTable *set)
{
  g_autofree gpointer *keys = (gpointer *)g_hash_table_get_keys_as_array (set, NULL);
  return g_variant_new_strv ((const char *const *)keys, g_hash_table_size (set));
}

static gboolean
commit_layer (LayerImport *li, const char *blob_digest, GroveLayerResult *out_result,
              GError **error)
{
  g_autoptr (GFile) root = NULL;
  g_autofree char *commit = NULL;
  g_autofree char *ref = grove_layer_ref (li->desc->diff_id);
  g_auto (GVariantDict) meta = G_VARIANT_DICT_INIT (NULL);
  g_autoptr (GVariant) metadata = NULL;

  g_variant_dict_insert (&meta, GROVE_META_DIFF_ID, "s", li->desc->diff_id);
  g_variant_dict_insert (&meta, GROVE_META_BLOB_DIGEST, "s", blob_digest);
  g_variant_dict_insert_value (
      &meta, GROVE_META_WHITEOUTS,
      g_variant_new_strv ((const char *const *)li->whiteouts->pdata, li->whiteouts->len));
  g_variant_dict_insert_value (
      &meta, GROVE_META_OPAQUE_DIRS,
      g_variant_new_strv ((const char *const *)li->opaque_dirs->pdata, li->opaque_dirs->len));
  g_variant_dict_insert_value (&meta, GROVE_META_IMPLICIT_DIRS,
                               strv_variant_from_set (li->implicit_dirs));
  g_variant_dict_insert_value (&meta, GROVE_META_SPECIALS, specials_to_variant (li->specials));
  g_variant_dict_insert (&meta, GROVE_META_CONTENT_SIZE, "t", li->content_size);
  g_variant_dict_insert (&meta, GROVE_META_FILES, "t", li->files);

  metadata = g_variant_ref_sink (g_variant_dict_end (&meta));
  if (!ostree_repo_write_mtree (li->repo, li->root, &root, li->cancellable, error)
      || !ostree_repo_write_commit (li->repo, NULL, li->desc->diff_id, NULL, metadata,
                                    OSTREE_REPO_FILE (root), &commit, li->cancellable, error))
    return FALSE;
  ostree_repo_transaction_set_ref (li->repo, NULL, ref, commit);
  out_result->commit = g_steal_pointer (&commit);
  out_result->content_size = li->content_size;
  out_result->files = li->files;
  return TRUE;
}

/* peeks at the first bytes to find the compression, whatever the media type claims */
static GInputStream *
open_uncompressed (GInputStream *blob, GCancellable *cancellable, GError **error)
{
  static const guint8 gzip_magic[] = { 0x1f, 0x8b };
  static const guint8 zstd_magic[] = { 0x28, 0xb5, 0x2f, 0xfd };
  g_autoptr (GInputStream) buffered = g_buffered_input_stream_new_sized (blob, 64 * 1024);
  GBufferedInputStream *bstream = G_BUFFERED_INPUT_STREAM (buffered);
  g_autoptr (GConverter) converter = NULL;
  const guint8 *head;
  gsize avail = 0;

  while (g_buffered_input_stream_get_available (bstream) < 4)
    {
      gssize n = g_buffered_input_stream_fill (bstream, -1, cancellable, error);
      if (n < 0)
        return NULL;
      if (n == 0)
        break;
    }
  head = g_buffered_input_stream_peek_buffer (bstream, &avail);
  if (avail >= 2 && memcmp (head, gzip_magic, 2) == 0)
    converter = G_CONVERTER (g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP));
  else if (avail >= 4 && memcmp (head, zstd_magic, 4) == 0)
    converter = grove_zstd_decompressor_new ();
  if (converter == NULL)
    return g_steal_pointer (&buffered);
  return g_converter_input_stream_new (buffered, converter);
}

static gboolean
verify_layer (const GroveLayerDesc *desc, GroveDigestInputStream *blob_digest,
              GroveDigestInputStream *tar_digest, char **out_blob_digest, GError **error)
{
  g_autofree char *blob = grove_digest_input_stream_get_digest (blob_digest);
  g_autofree char *diff = grove_digest_input_stream_get_digest (tar_digest);
  guint64 size = grove_digest_input_stream_get_bytes_read (blob_digest);

  if (desc->size >= 0 && (guint64)desc->size != size)
    return grove_throw (error, GROVE_ERROR_DIGEST_MISMATCH,
                        "layer blob %s is %" G_GUINT64_FORMAT
                        " bytes, the manifest says %" G_GINT64_FORMAT,
                        desc->path, size, desc->size);
  if (desc->digest != NULL && strcmp (desc->digest, blob) != 0)
    return grove_throw (error, GROVE_ERROR_DIGEST_MISMATCH,
                        "layer blob %s has digest %s, the manifest says %s", desc->path, blob,
                        desc->digest);
  if (strcmp (desc->diff_id, diff) != 0)
    return grove_throw (error, GROVE_ERROR_DIGEST_MISMATCH,
                        "layer %s unpacks to a tar with digest %s, the image config says %s",
                        desc->path, diff, desc->diff_id);
  *out_blob_digest = g_steal_pointer (&blob);
  return TRUE;
}

/* a blob that does not unpack may simply not be the blob the manifest names: say so */
static gboolean
explain_failure (const GroveLayerDesc *desc, GroveDigestInputStream *blob_digest,
                 GCancellable *cancellable, GError **error)
{
  g_autofree char *actual = NULL;

  if (desc->digest == NULL || error == NULL || *error == NULL
      || g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
      || ((*error)->domain == GROVE_ERROR && (*error)->code != GROVE_ERROR_INVALID_IMAGE)
      || !grove_digest_input_stream_drain (blob_digest, cancellable, NULL))
    return g_prefix_error (error, "layer %s: ", desc->path), FALSE;
  actual = grove_digest_input_stream_get_digest (blob_digest);
  if (strcmp (actual, desc->digest) == 0)
    return g_prefix_error (error, "layer %s: ", desc->path), FALSE;
  g_clear_error (error);
  return grove_throw (error, GROVE_ERROR_DIGEST_MISMATCH,
                      "layer blob %s has digest %s, the manifest says %s (it does not unpack "
                      "either)",
                      desc->path, actual, desc->digest);
}

/**
 * grove_layer_import:
 * @repo: the store's repository, inside a transaction
 * @blob: the layer blob as stored (plain, gzip or zstd tar)
 * @desc: what the image says the blob is
 * @progress: (nullable): where to report progress
 * @out_result: (out): the layer commit
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Reads the layer tar entry by entry into a new commit and sets its layer ref in the
 * current transaction. The blob digest, size and diff ID are checked after the last byte;
 * on a mismatch the caller aborts the transaction, so nothing of the layer remains.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_layer_import (OstreeRepo *repo, GInputStream *blob, const GroveLayerDesc *desc,
                    GroveProgress *progress, GroveLayerResult *out_result,
                    GCancellable *cancellable, GError **error)
{
  g_auto (LayerImport) li = { 0 };
  g_autoptr (GInputStream) blob_digest = grove_digest_input_stream_new (blob);
  g_autoptr (GInputStream) plain = NULL;
  g_autoptr (GInputStream) tar_digest = NULL;
  g_autofree char *blob_hex = NULL;

  li.repo = repo;
  li.desc = desc;
  li.cancellable = cancellable;
  li.progress = progress;
  li.blob_counter = GROVE_DIGEST_INPUT_STREAM (blob_digest);
  li.root = ostree_mutable_tree_new ();
  li.dirmeta_cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  li.implicit_dirs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  li.whiteouts = g_ptr_array_new_with_free_func (g_free);
  li.opaque_dirs = g_ptr_array_new_with_free_func (g_free);
  li.specials
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_variant_unref);
  li.buffer = g_malloc (MAX (READ_BUFFER_SIZE, INLINE_FILE_MAX));
  li.default_dirmeta = write_dirmeta (&li, 0, 0, 0755, NULL, error);
  if (li.default_dirmeta == NULL)
    return FALSE;
  ostree_mutable_tree_set_metadata_checksum (li.root, li.default_dirmeta);
  g_hash_table_add (li.implicit_dirs, g_strdup (""));

  plain = open_uncompressed (blob_digest, cancellable, error);
  if (plain == NULL)
    return g_prefix_error (error, "layer %s: ", desc->path), FALSE;
  /* an uncompressed blob is its own tar: its bytes are hashed once, for both digests */
  if (G_IS_CONVERTER_INPUT_STREAM (plain))
    tar_digest = grove_digest_input_stream_new (plain);
  else
    tar_digest = g_object_ref (blob_digest);
  /* the digests cover every byte, the padding after the tar's end marker included */
  if (!read_tar (&li, tar_digest == blob_digest ? plain : tar_digest, error)
      || !grove_digest_input_stream_drain (GROVE_DIGEST_INPUT_STREAM (tar_digest), cancellable,
                                           error)
      || !grove_digest_input_stream_drain (GROVE_DIGEST_INPUT_STREAM (blob_digest), cancellable,
                                           error))
    return explain_failure (desc, GROVE_DIGEST_INPUT_STREAM (blob_digest), cancellable, error);
  if (!verify_layer (desc, GROVE_DIGEST_INPUT_STREAM (blob_digest),
                     GROVE_DIGEST_INPUT_STREAM (tar_digest), &blob_hex, error))
    return FALSE;
  report_progress (&li, TRUE);
  return commit_layer (&li, blob_hex, out_result, error);
}

/* composition: stacking layer commits into one image tree */

typedef struct
{
  OstreeRepo *repo;
  GCancellable *cancellable;
  GHashTable *implicit_dirs; /* of the layer being merged */
  GHashTable *specials;      /* path → (suuut), of the image so far */
} Compose;

/* forgets specials at @path and below it */
static void
specials_remove_tree (GHashTable *specials, const char *path)
{
  GHashTableIter iter;
  const char *key;
  gsize len = strlen (path);

  if (g_hash_table_size (specials) == 0)
    return;
  g_hash_table_iter_init (&iter, specials);
  while (g_hash_table_iter_next (&iter, (gpointer *)&key, NULL))
    if (len == 0 || (g_str_has_prefix (key, path) && (key[len] == '\0' || key[len] == '/')))
      g_hash_table_iter_remove (&iter);
}

/* finds the directory at @path; *out_dir stays NULL when it is absent or not a directory */
static gboolean
walk_to_dir (OstreeMutableTree *root, const char *path, OstreeMutableTree **out_dir, GError **error)
{
  g_auto (GStrv) comps = g_strsplit (path, "/", -1);
  g_autoptr (OstreeMutableTree) dir = g_object_ref (root);

  *out_dir = NULL;
  for (guint i = 0; comps[i] != NULL && dir != NULL; i++)
    {
      g_autofree char *file = NULL;
      g_autoptr (OstreeMutableTree) sub = NULL;

      if (comps[i][0] == '\0')
        continue;
      if (!tree_lookup (dir, comps[i], &file, &sub, error))
        return FALSE;
      g_set_object (&dir, sub);
    }
  *out_dir = g_steal_pointer (&dir);
  return TRUE;
}

static gboolean
split_parent (OstreeMutableTree *root, const char *path, OstreeMutableTree **out_parent,
              const char **out_name, GError **error)
{
  const char *slash = strrchr (path, '/');
  g_autofree char *parent_path = slash ? g_strndup (path, slash - path) : g_strdup ("");

  *out_name = slash ? slash + 1 : path;
  return walk_to_dir (root, parent_path, out_parent, error);
}

static gboolean
apply_opaque (Compose *c, OstreeMutableTree *root, const char *path, GError **error)
{
  g_autoptr (OstreeMutableTree) parent = NULL;
  g_autoptr (OstreeMutableTree) dir = NULL;
  g_autoptr (OstreeMutableTree) fresh = NULL;
  const char *name;
  g_autofree char *meta = NULL;

  if (*path == '\0')
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "the root directory cannot be opaque");
  if (!split_parent (root, path, &parent, &name, error))
    return FALSE;
  if (parent == NULL || !walk_to_dir (parent, name, &dir, error))
    return parent == NULL;
  if (dir == NULL)
    return TRUE;
  meta = g_strdup (ostree_mutable_tree_get_metadata_checksum (dir));
  if (!ostree_mutable_tree_remove (parent, name, FALSE, error)
      || !ostree_mutable_tree_ensure_dir (parent, name, &fresh, error))
    return FALSE;
  ostree_mutable_tree_set_metadata_checksum (fresh, meta);
  specials_remove_tree (c->specials, path);
  return TRUE;
}

static gboolean
apply_whiteout (Compose *c, OstreeMutableTree *root, const char *path, GError **error)
{
  g_autoptr (OstreeMutableTree) parent = NULL;
  const char *name;

  if (!split_parent (root, path, &parent, &name, error))
    return FALSE;
  specials_remove_tree (c->specials, path);
  return parent == NULL || ostree_mutable_tree_remove (parent, name, TRUE, error);
}

static char *
child_path (const char *path, const char *name)
{
  return *path != '\0' ? g_strdup_printf ("%s/%s", path, name) : g_strdup (name);
}

static gboolean merge_dir (Compose *c, OstreeMutableTree *dir, const char *path,
                           const char *tree_csum, const char *meta_csum, GError **error);

static gboolean
merge_subdir (Compose *c, OstreeMutableTree *dir, const char *path, const char *name,
              const char *tree_csum, const char *meta_csum, GError **error)
{
  g_autofree char *file = NULL;
  g_autoptr (OstreeMutableTree) sub = NULL;
  g_autofree char *sub_path = child_path (path, name);

  if (!tree_lookup (dir, name, &file, &sub, error))
    return FALSE;
  g_hash_table_remove (c->specials, sub_path);
  if (sub != NULL)
    return merge_dir (c, sub, sub_path, tree_csum, meta_csum, error);
  if (file != NULL && !ostree_mutable_tree_remove (dir, name, FALSE, error))
    return FALSE;
  /* nothing below: graft the layer's subtree as it is, loaded only if something changes it */
  if (!ostree_mutable_tree_ensure_dir (dir, name, &sub, error))
    return FALSE;
  if (!ostree_mutable_tree_fill_empty_from_dirtree (sub, c->repo, tree_csum, meta_csum))
    return grove_throw (error, GROVE_ERROR_FAILED, "cannot graft directory '%s'", sub_path);
  return TRUE;
}

static gboolean
merge_dir (Compose *c, OstreeMutableTree *dir, const char *path, const char *tree_csum,
           const char *meta_csum, GError **error)
{
  g_autoptr (GVariant) tree = NULL;
  g_autoptr (GVariant) files = NULL;
  g_autoptr (GVariant) dirs = NULL;
  GVariantIter iter;
  const char *name;
  GVariant *csum_v;
  GVariant *meta_v;

  if (!ostree_repo_load_variant (c->repo, OSTREE_OBJECT_TYPE_DIR_TREE, tree_csum, &tree, error))
    return FALSE;
  /* a directory the layer only created as a parent keeps the metadata from below */
  if (!g_hash_table_contains (c->implicit_dirs, path))
    ostree_mutable_tree_set_metadata_checksum (dir, meta_csum);
  files = g_variant_get_child_value (tree, 0);
  dirs = g_variant_get_child_value (tree, 1);
  g_variant_iter_init (&iter, files);
  while (g_variant_iter_loop (&iter, "(&s@ay)", &name, &csum_v))
    {
      g_autofree char *csum = ostree_checksum_from_bytes_v (csum_v);
      g_autofree char *sub_path = child_path (path, name);
      g_autofree char *old_file = NULL;
      g_autoptr (OstreeMutableTree) old_dir = NULL;

      specials_remove_tree (c->specials, sub_path);
      if (!tree_lookup (dir, name, &old_file, &old_dir, error)
          || (old_dir != NULL && !ostree_mutable_tree_remove (dir, name, FALSE, error))
          || !ostree_mutable_tree_replace_file (dir, name, csum, error))
        return FALSE;
    }
  g_variant_iter_init (&iter, dirs);
  while (g_variant_iter_loop (&iter, "(&s@ay@ay)", &name, &csum_v, &meta_v))
    {
      g_autofree char *sub_tree = ostree_checksum_from_bytes_v (csum_v);
      g_autofree char *sub_meta = ostree_checksum_from_bytes_v (meta_v);

      if (!merge_subdir (c, dir, path, name, sub_tree, sub_meta, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
add_layer_specials (Compose *c, OstreeMutableTree *root, GVariant *specials, GError **error)
{
  GVariantIter iter;
  GVariant *item;

  g_variant_iter_init (&iter, specials);
  while ((item = g_variant_iter_next_value (&iter)) != NULL)
    {
      g_autoptr (GVariant) owned = item;
      g_autoptr (OstreeMutableTree) parent = NULL;
      const char *path;
      const char *name;

      g_variant_get_child (item, 0, "&s", &path);
      if (!split_parent (root, path, &parent, &name, error)
          || (parent != NULL && !ostree_mutable_tree_remove (parent, name, TRUE, error)))
        return FALSE;
      specials_remove_tree (c->specials, path);
      g_hash_table_insert (c->specials, g_strdup (path), g_variant_ref (item));
    }
  return TRUE;
}

static gboolean
stack_layer (Compose *c, OstreeMutableTree *root, GVariant *commit_v, gboolean base, GError **error)
{
  g_autoptr (GVariant) metadata = g_variant_get_child_value (commit_v, 0);
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (metadata);
  g_autofree const char **opaque = NULL;
  g_autofree const char **whiteouts = NULL;
  g_autofree const char **implicit = NULL;
  g_autoptr (GVariant) specials = NULL;
  g_autoptr (GVariant) tree_v = g_variant_get_child_value (commit_v, 6);
  g_autoptr (GVariant) meta_v = g_variant_get_child_value (commit_v, 7);
  g_autofree char *tree = ostree_checksum_from_bytes_v (tree_v);
  g_autofree char *meta = ostree_checksum_from_bytes_v (meta_v);

  if (!g_variant_dict_lookup (&dict, GROVE_META_OPAQUE_DIRS, "^a&s", &opaque)
      || !g_variant_dict_lookup (&dict, GROVE_META_WHITEOUTS, "^a&s", &whiteouts)
      || !g_variant_dict_lookup (&dict, GROVE_META_IMPLICIT_DIRS, "^a&s", &implicit)
      || !g_variant_dict_lookup (&dict, GROVE_META_SPECIALS, GROVE_SPECIALS_TYPE, NULL))
    return grove_throw (error, GROVE_ERROR_FAILED, "layer commit lacks Grove metadata");
  specials = g_variant_dict_lookup_value (&dict, GROVE_META_SPECIALS, NULL);
  /* the layer hides what is below it first, then adds its own entries */
  for (guint i = 0; opaque[i] != NULL; i++)
    if (!apply_opaque (c, root, opaque[i], error))
      return FALSE;
  for (guint i = 0; whiteouts[i] != NULL; i++)
    if (!apply_whiteout (c, root, whiteouts[i], error))
      return FALSE;
  g_clear_pointer (&c->implicit_dirs, g_hash_table_unref);
  c->implicit_dirs = g_hash_table_new (g_str_hash, g_str_equal);
  /* the base layer's implicit parents have nothing below them to defer to */
  for (guint i = 0; !base && implicit[i] != NULL; i++)
    g_hash_table_add (c->implicit_dirs, (char *)implicit[i]);
  return merge_dir (c, root, "", tree, meta, error)
         && add_layer_specials (c, root, specials, error);
}

/**
 * grove_layer_compose:
 * @repo: the store's repository, inside a transaction
 * @layer_commits: the layer commits, base first
 * @out_specials: (out): the device nodes and FIFOs of the image, `a(suuut)`
 * @out_root: (out): the composed image tree, written to @repo
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Stacks the layers: each layer's opaque dirs and whiteouts hide what is below, then its
 * tree is merged in (a file replaces a directory and the reverse; unchanged subtrees are
 * grafted without being read).
 *
 * Returns: %TRUE on success
 */
gboolean
grove_layer_compose (OstreeRepo *repo, const char *const *layer_commits, GVariant **out_specials,
                     OstreeRepoFile **out_root, GCancellable *cancellable, GError **error)
{
  g_autoptr (OstreeMutableTree) root = ostree_mutable_tree_new ();
  g_autoptr (GHashTable) specials
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_variant_unref);
  Compose c = { repo, cancellable, NULL, specials };
  g_autoptr (GFile) root_file = NULL;
  gboolean ok = TRUE;

  g_return_val_if_fail (layer_commits != NULL && layer_commits[0] != NULL, FALSE);
  for (guint i = 0; ok && layer_commits[i] != NULL; i++)
    {
      g_autoptr (GVariant) commit_v = NULL;

      ok = !g_cancellable_set_error_if_cancelled (cancellable, error)
           && ostree_repo_load_commit (repo, layer_commits[i], &commit_v, NULL, error)
           && stack_layer (&c, root, commit_v, i == 0, error);
    }
  g_clear_pointer (&c.implicit_dirs, g_hash_table_unref);
  if (!ok || !ostree_repo_write_mtree (repo, root, &root_file, cancellable, error))
    return FALSE;
  *out_specials = g_variant_ref_sink (specials_to_variant (specials));
  *out_root = OSTREE_REPO_FILE (g_steal_pointer (&root_file));
  return TRUE;
}
