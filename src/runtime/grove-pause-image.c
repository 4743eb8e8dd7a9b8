/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveEngine"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "grove-engine-private.h"
#include "grove-utils.h"

/*
 * The infra containers' rootfs: a one-layer image holding grove-pause, made from the
 * binary on first use and imported through the store like any other image, so no pause
 * image is ever pulled. Its tag carries the binary's digest: a new grove-pause makes a new
 * image.
 */

static gboolean
add_entry (struct archive *archive, const char *path, mode_t type, mode_t perm, GBytes *data,
           GError **error)
{
  g_autoptr (GError) local_error = NULL;
  struct archive_entry *entry = archive_entry_new ();
  gsize length = data ? g_bytes_get_size (data) : 0;
  gboolean ok;

  archive_entry_set_pathname (entry, path);
  archive_entry_set_filetype (entry, type);
  archive_entry_set_perm (entry, perm);
  archive_entry_set_size (entry, (la_int64_t)length);
  ok = archive_write_header (archive, entry) == ARCHIVE_OK
       && (length == 0
           || archive_write_data (archive, g_bytes_get_data (data, NULL), length)
                  == (la_ssize_t)length);
  archive_entry_free (entry);
  if (!ok)
    return grove_throw (error, GROVE_ERROR_FAILED, "writing %s into the pause layer: %s", path,
                        archive_error_string (archive));
  return TRUE;
}

static GBytes *
build_layer (GBytes *binary, GError **error)
{
  const char *const dirs[] = { "dev", "proc", "sys", "etc", NULL };
  gsize capacity = g_bytes_get_size (binary) + 64 * 1024;
  g_autofree guint8 *buffer = g_malloc (capacity);
  size_t used = 0;
  struct archive *archive = archive_write_new ();
  gboolean ok = archive_write_set_format_pax_restricted (archive) == ARCHIVE_OK
                && archive_write_open_memory (archive, buffer, capacity, &used) == ARCHIVE_OK;

  for (guint i = 0; ok && dirs[i] != NULL; i++)
    ok = add_entry (archive, dirs[i], AE_IFDIR, 0755, NULL, error);
  ok = ok && add_entry (archive, "grove-pause", AE_IFREG, 0755, binary, error);
  ok = ok && archive_write_close (archive) == ARCHIVE_OK;
  if (!ok && (error == NULL || *error == NULL))
    grove_throw (error, GROVE_ERROR_FAILED, "building the pause layer: %s",
                 archive_error_string (archive));
  archive_write_free (archive);
  return ok ? g_bytes_new (buffer, used) : NULL;
}

static gboolean
write_blob (const char *layout, GBytes *bytes, char **out_digest, GError **error)
{
  g_autofree char *hex = grove_sha256_hex_bytes (bytes);
  g_autofree char *path = g_build_filename (layout, "blobs", "sha256", hex, NULL);

  *out_digest = g_strconcat ("sha256:", hex, NULL);
  return grove_write_file_at (AT_FDCWD, path, g_bytes_get_data (bytes, NULL),
                              g_bytes_get_size (bytes), 0644, error);
}

static GBytes *
text_bytes (char *text)
{
  return g_bytes_new_take (text, strlen (text));
}

static gboolean
write_layout (const char *layout, GBytes *layer, const char *tag, GError **error)
{
  const char *os, *arch, *variant;
  g_autofree char *blobs = g_build_filename (layout, "blobs", "sha256", NULL);
  g_autofree char *layer_digest = NULL;
  g_autofree char *config_digest = NULL;
  g_autofree char *manifest_digest = NULL;
  g_autoptr (GBytes) config = NULL;
  g_autoptr (GBytes) manifest = NULL;
  g_autoptr (GBytes) index = NULL;
  g_autoptr (GBytes) oci_layout = text_bytes (g_strdup ("{\"imageLayoutVersion\":\"1.0.0\"}"));
  g_autofree char *oci_layout_path = g_build_filename (layout, "oci-layout", NULL);
  g_autofree char *index_path = g_build_filename (layout, "index.json", NULL);

  grove_host_platform (&os, &arch, &variant);
  if (!grove_mkdir_p_at (AT_FDCWD, blobs, 0755, error)
      || !write_blob (layout, layer, &layer_digest, error))
    return FALSE;
  /* the layer is uncompressed: its digest is its diff ID */
  config = text_bytes (g_strdup_printf (
      "{\"architecture\":\"%s\",\"os\":\"%s\",\"config\":{\"Entrypoint\":[\"/grove-pause\"]},"
      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
      arch, os, layer_digest));
  if (!write_blob (layout, config, &config_digest, error))
    return FALSE;
  manifest = text_bytes (g_strdup_printf (
      "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
      "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\","
      "\"size\":%" G_GSIZE_FORMAT "},\"layers\":[{\"mediaType\":"
      "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":%" G_GSIZE_FORMAT
      "}]}",
      config_digest, g_bytes_get_size (config), layer_digest, g_bytes_get_size (layer)));
  if (!write_blob (layout, manifest, &manifest_digest, error))
    return FALSE;
  index = text_bytes (g_strdup_printf (
      "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
      "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
      "\"digest\":\"%s\",\"size\":%" G_GSIZE_FORMAT ",\"annotations\":"
      "{\"org.opencontainers.image.ref.name\":\"%s\"}}]}",
      manifest_digest, g_bytes_get_size (manifest), tag));
  return grove_write_file_at (AT_FDCWD, index_path, g_bytes_get_data (index, NULL),
                              g_bytes_get_size (index), 0644, error)
         && grove_write_file_at (AT_FDCWD, oci_layout_path, g_bytes_get_data (oci_layout, NULL),
                                 g_bytes_get_size (oci_layout), 0644, error);
}

static gboolean
import_pause_image (GroveEngine *self, GBytes *binary, const char *tag, GCancellable *cancellable,
                    GError **error)
{
  g_autofree char *layout = g_build_filename (self->root, "pause-image-XXXXXX", NULL);
  g_autoptr (GBytes) layer = NULL;
  g_autoptr (GPtrArray) imported = NULL;

  if (g_mkdtemp (layout) == NULL)
    return grove_throw_errno_code (error, errno, "creating %s", layout);
  layer = build_layer (binary, error);
  if (layer != NULL && write_layout (layout, layer, tag, error))
    imported = grove_store_import_image (grove_engine_get_store (self), layout,
                                         GROVE_IMAGE_FORMAT_OCI_DIR, NULL, NULL, NULL, cancellable,
                                         error);
  grove_rm_rf_at (AT_FDCWD, layout, NULL, NULL);
  return imported != NULL;
}

/**
 * grove_pause_image_ensure: (skip)
 *
 * Returns: (transfer full) (nullable): the tag of the pause image, imported now if the store
 *   did not have it
 */
char *
grove_pause_image_ensure (GroveEngine *self, GCancellable *cancellable, GError **error)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&self->pause_lock);
  g_autoptr (GBytes) binary = NULL;
  g_autoptr (GroveImage) existing = NULL;
  g_autofree char *hex = NULL;
  g_autofree char *tag = NULL;
  g_autofree char *key = NULL;
  struct stat st;

  if (self->pause_path == NULL)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "no grove-pause binary is configured"), NULL;
  /* hashing the binary costs milliseconds on every pod start: do it when the file changed */
  if (stat (self->pause_path, &st) < 0)
    return grove_throw_errno_code (error, errno, "grove-pause %s", self->pause_path), NULL;
  key = g_strdup_printf ("%lu:%lld:%lld.%ld", (unsigned long)st.st_ino, (long long)st.st_size,
                         (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  if (g_strcmp0 (key, self->pause_key) == 0)
    {
      existing = grove_store_lookup_image (self->store, self->pause_tag, cancellable, NULL);
      if (existing != NULL)
        return g_strdup (self->pause_tag);
    }
  binary = grove_read_file_at (AT_FDCWD, self->pause_path, 64 * 1024 * 1024, error);
  if (binary == NULL)
    return g_prefix_error (error, "reading grove-pause: "), NULL;
  hex = grove_sha256_hex_bytes (binary);
  tag = g_strdup_printf ("localhost/grove-pause:%.16s", hex);
  existing = grove_store_lookup_image (self->store, tag, cancellable, NULL);
  if (existing == NULL && !import_pause_image (self, binary, tag, cancellable, error))
    return NULL;
  g_free (self->pause_key);
  g_free (self->pause_tag);
  self->pause_key = g_steal_pointer (&key);
  self->pause_tag = g_strdup (tag);
  return g_steal_pointer (&tag);
}
