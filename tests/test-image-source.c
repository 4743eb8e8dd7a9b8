/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveImageSourceTest"

#include <archive.h>
#include <archive_entry.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

#include "grove-error.h"
#include "grove-image-source.h"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar"

typedef struct
{
  char *dir;
} Fixture;

/* what write_image produces */
typedef struct
{
  GBytes *layer;
  char *layer_digest;
  char *config_digest;
  gsize config_size;
  char *manifest_digest;
  gsize manifest_size;
} TestImage;

typedef struct
{
  const char *architecture;     /* default amd64 */
  const char *layer_text;       /* default "hello" */
  const char *layer_media_type; /* default MT_LAYER */
  gboolean extra_diff_id;       /* config lists one diff_id too many */
} ImageSpec;

typedef enum
{
  FILTER_NONE,
  FILTER_GZIP,
  FILTER_ZSTD,
} Filter;

static void
test_image_free (TestImage *image)
{
  g_bytes_unref (image->layer);
  g_free (image->layer_digest);
  g_free (image->config_digest);
  g_free (image->manifest_digest);
  g_free (image);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestImage, test_image_free)

static void
remove_tree (const char *path)
{
  GStatBuf st;

  g_assert_cmpint (g_lstat (path, &st), ==, 0);
  if (S_ISDIR (st.st_mode))
    {
      g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
      const char *name = NULL;

      g_assert_nonnull (dir);
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          remove_tree (child);
        }
      g_assert_cmpint (g_rmdir (path), ==, 0);
      return;
    }
  g_assert_cmpint (g_unlink (path), ==, 0);
}

static void
fixture_setup (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  fixture->dir = g_dir_make_tmp ("grove-image-source-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *fixture, gconstpointer data)
{
  remove_tree (fixture->dir);
  g_free (fixture->dir);
}

static char *
sha256_hex (GBytes *bytes)
{
  return g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);
}

static char *
sha256_digest (GBytes *bytes)
{
  g_autofree char *hex = sha256_hex (bytes);

  return g_strconcat ("sha256:", hex, NULL);
}

static GBytes *
bytes_from_string (const char *text)
{
  return g_bytes_new (text, strlen (text));
}

/* a one-file layer tar, built in memory */
static GBytes *
make_layer_tar (const char *text)
{
  struct archive *archive = archive_write_new ();
  struct archive_entry *entry = archive_entry_new ();
  gsize buffer_size = 64 * 1024;
  g_autofree guint8 *buffer = g_malloc0 (buffer_size);
  size_t used = 0;

  g_assert_cmpint (archive_write_set_format_pax_restricted (archive), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_open_memory (archive, buffer, buffer_size, &used), ==, ARCHIVE_OK);
  archive_entry_set_pathname (entry, "hello.txt");
  archive_entry_set_filetype (entry, AE_IFREG);
  archive_entry_set_perm (entry, 0644);
  archive_entry_set_mtime (entry, 1700000000, 0);
  archive_entry_set_size (entry, strlen (text));
  g_assert_cmpint (archive_write_header (archive, entry), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_data (archive, text, strlen (text)), ==, strlen (text));
  g_assert_cmpint (archive_write_close (archive), ==, ARCHIVE_OK);
  archive_entry_free (entry);
  archive_write_free (archive);
  return g_bytes_new (buffer, used);
}

typedef struct
{
  char *name;
  GBytes *data;
} TarEntry;

static void
tar_entry_free (TarEntry *entry)
{
  g_free (entry->name);
  g_bytes_unref (entry->data);
  g_free (entry);
}

static GPtrArray *
tar_entries_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify)tar_entry_free);
}

static void
tar_add (GPtrArray *entries, const char *name, GBytes *data)
{
  TarEntry *entry = g_new0 (TarEntry, 1);

  entry->name = g_strdup (name);
  entry->data = g_bytes_ref (data);
  g_ptr_array_add (entries, entry);
}

static void
tar_add_string (GPtrArray *entries, const char *name, const char *text)
{
  g_autoptr (GBytes) data = bytes_from_string (text);

  tar_add (entries, name, data);
}

static void
write_tar (const char *path, GPtrArray *entries, Filter filter)
{
  struct archive *archive = archive_write_new ();

  g_assert_cmpint (archive_write_set_format_pax_restricted (archive), ==, ARCHIVE_OK);
  if (filter == FILTER_GZIP)
    g_assert_cmpint (archive_write_add_filter_gzip (archive), ==, ARCHIVE_OK);
  if (filter == FILTER_ZSTD)
    g_assert_cmpint (archive_write_add_filter_zstd (archive), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_open_filename (archive, path), ==, ARCHIVE_OK);
  for (guint i = 0; i < entries->len; i++)
    {
      TarEntry *tar_entry = g_ptr_array_index (entries, i);
      struct archive_entry *entry = archive_entry_new ();
      gsize len = 0;
      const void *data = g_bytes_get_data (tar_entry->data, &len);

      archive_entry_set_pathname (entry, tar_entry->name);
      archive_entry_set_filetype (entry, AE_IFREG);
      archive_entry_set_perm (entry, 0644);
      archive_entry_set_size (entry, len);
      g_assert_cmpint (archive_write_header (archive, entry), ==, ARCHIVE_OK);
      if (len > 0)
        g_assert_cmpint (archive_write_data (archive, data, len), ==, len);
      archive_entry_free (entry);
    }
  g_assert_cmpint (archive_write_close (archive), ==, ARCHIVE_OK);
  archive_write_free (archive);
}

static char *
blob_path (const char *layout, const char *digest)
{
  g_assert_true (g_str_has_prefix (digest, "sha256:"));
  return g_build_filename (layout, "blobs", "sha256", digest + strlen ("sha256:"), NULL);
}

static void
write_file (const char *path, const char *data, gssize len)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_file_set_contents (path, data, len, &error);
  g_assert_no_error (error);
}

static char *
write_blob (const char *layout, GBytes *bytes)
{
  g_autofree char *digest = sha256_digest (bytes);
  g_autofree char *path = blob_path (layout, digest);
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);

  write_file (path, data != NULL ? data : "", len);
  return g_steal_pointer (&digest);
}

static char *
write_blob_string (const char *layout, const char *text)
{
  g_autoptr (GBytes) bytes = bytes_from_string (text);

  return write_blob (layout, bytes);
}

static char *
descriptor_json (const char *media_type, const char *digest, gsize size, const char *architecture,
                 const char *variant, const char *annotations)
{
  g_autoptr (GString) json = g_string_new (NULL);

  g_string_append_printf (json, "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu", media_type,
                          digest, size);
  if (architecture != NULL)
    g_string_append_printf (json, ",\"platform\":{\"os\":\"linux\",\"architecture\":\"%s\"%s%s%s}",
                            architecture, variant != NULL ? ",\"variant\":\"" : "",
                            variant != NULL ? variant : "", variant != NULL ? "\"" : "");
  if (annotations != NULL)
    g_string_append_printf (json, ",\"annotations\":%s", annotations);
  g_string_append (json, "}");
  return g_string_free (g_steal_pointer (&json), FALSE);
}

static char *
config_json (const ImageSpec *spec, const char *diff_id)
{
  return g_strdup_printf ("{\"architecture\":\"%s\",\"os\":\"linux\",\"config\":{},"
                          "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"%s%s%s]}}",
                          spec->architecture != NULL ? spec->architecture : "amd64", diff_id,
                          spec->extra_diff_id ? ",\"" : "", spec->extra_diff_id ? diff_id : "",
                          spec->extra_diff_id ? "\"" : "");
}

/* writes a layer, config and manifest blob into @layout */
static TestImage *
write_image (const char *layout, const ImageSpec *spec)
{
  g_autoptr (TestImage) image = g_new0 (TestImage, 1);
  g_autofree char *config = NULL;
  g_autofree char *manifest = NULL;
  g_autofree char *config_descriptor = NULL;
  g_autofree char *layer_descriptor = NULL;

  image->layer = make_layer_tar (spec->layer_text != NULL ? spec->layer_text : "hello");
  image->layer_digest = write_blob (layout, image->layer);
  config = config_json (spec, image->layer_digest);
  image->config_digest = write_blob_string (layout, config);
  image->config_size = strlen (config);
  config_descriptor
      = descriptor_json (MT_CONFIG, image->config_digest, image->config_size, NULL, NULL, NULL);
  layer_descriptor
      = descriptor_json (spec->layer_media_type != NULL ? spec->layer_media_type : MT_LAYER,
                         image->layer_digest, g_bytes_get_size (image->layer), NULL, NULL, NULL);
  manifest = g_strdup_printf ("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":%s,"
                              "\"layers\":[%s]}",
                              MT_MANIFEST, config_descriptor, layer_descriptor);
  image->manifest_digest = write_blob_string (layout, manifest);
  image->manifest_size = strlen (manifest);
  return g_steal_pointer (&image);
}

static void
write_layout (const char *layout, const char *descriptors)
{
  g_autofree char *oci_layout = g_build_filename (layout, "oci-layout", NULL);
  g_autofree char *index_path = g_build_filename (layout, "index.json", NULL);
  g_autofree char *index
      = g_strdup_printf ("{\"schemaVersion\":2,\"manifests\":[%s]}", descriptors);

  write_file (oci_layout, "{\"imageLayoutVersion\":\"1.0.0\"}", -1);
  write_file (index_path, index, -1);
}

/* a layout holding one image, index.json naming its manifest without a platform */
static TestImage *
write_simple_layout (const char *layout, const ImageSpec *spec, const char *annotations)
{
  g_autoptr (TestImage) image = write_image (layout, spec);
  g_autofree char *descriptor = descriptor_json (MT_MANIFEST, image->manifest_digest,
                                                 image->manifest_size, NULL, NULL, annotations);

  write_layout (layout, descriptor);
  return g_steal_pointer (&image);
}

static GBytes *
read_file_bytes (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *data = NULL;
  gsize len = 0;

  g_file_get_contents (path, &data, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (data, len);
}

/* tars up a layout the way `tar -C layout -c .` would name it */
static void
write_layout_archive (const char *layout, const char *tar_path, Filter filter)
{
  g_autoptr (GPtrArray) entries = tar_entries_new ();
  g_autofree char *blobs = g_build_filename (layout, "blobs", "sha256", NULL);
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GError) error = NULL;
  const char *const top[] = { "oci-layout", "index.json" };
  const char *name = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (top); i++)
    {
      g_autofree char *path = g_build_filename (layout, top[i], NULL);
      g_autofree char *entry_name = g_strconcat ("./", top[i], NULL);
      g_autoptr (GBytes) data = read_file_bytes (path);

      tar_add (entries, entry_name, data);
    }
  dir = g_dir_open (blobs, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (blobs, name, NULL);
      g_autofree char *entry_name = g_strconcat ("./blobs/sha256/", name, NULL);
      g_autoptr (GBytes) data = read_file_bytes (path);

      tar_add (entries, entry_name, data);
    }
  write_tar (tar_path, entries, filter);
}

static gboolean
digest_blob_cb (const char *path, GInputStream *stream, gpointer user_data, GError **error)
{
  GHashTable *digests = user_data;
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 buffer[1000];

  for (;;)
    {
      gssize n = g_input_stream_read (stream, buffer, sizeof buffer, NULL, error);

      if (n < 0)
        return FALSE;
      if (n == 0)
        break;
      g_checksum_update (checksum, buffer, n);
    }
  g_assert_false (g_hash_table_contains (digests, path));
  g_hash_table_insert (digests, g_strdup (path),
                       g_strconcat ("sha256:", g_checksum_get_string (checksum), NULL));
  return TRUE;
}

/* reads every layer of @plan through read_blobs and checks it is @expected_digest */
static void
assert_read_layer (GroveImageSource *source, GroveImagePlan *plan, const char *expected_digest)
{
  g_autoptr (GHashTable) wanted = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) digests = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GError) error = NULL;
  GroveLayerDesc *layer = g_ptr_array_index (plan->layers, 0);

  g_assert_cmpuint (plan->layers->len, ==, 1);
  g_hash_table_add (wanted, layer->path);
  grove_image_source_read_blobs (source, wanted, digest_blob_cb, digests, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_hash_table_size (digests), ==, 1);
  g_assert_cmpstr (g_hash_table_lookup (digests, layer->path), ==, expected_digest);
}

/* the checks every OCI source holding write_simple_layout's image passes */
static void
assert_simple_oci_plan (GroveImageSource *source, const TestImage *image)
{
  GPtrArray *plans = grove_image_source_get_plans (source);
  GroveImagePlan *plan = NULL;
  GroveLayerDesc *layer = NULL;
  g_autofree char *layer_path = NULL;
  g_autofree char *manifest_digest = NULL;

  g_assert_cmpuint (plans->len, ==, 1);
  plan = g_ptr_array_index (plans, 0);
  manifest_digest = sha256_digest (plan->manifest);
  g_assert_cmpstr (plan->manifest_digest, ==, image->manifest_digest);
  g_assert_cmpstr (manifest_digest, ==, image->manifest_digest);
  g_assert_cmpstr (plan->config_digest, ==, image->config_digest);
  g_assert_cmpuint (g_bytes_get_size (plan->config), ==, image->config_size);
  g_assert_cmpuint (plan->layers->len, ==, 1);
  layer = g_ptr_array_index (plan->layers, 0);
  layer_path = g_strconcat ("blobs/sha256/", image->layer_digest + strlen ("sha256:"), NULL);
  g_assert_cmpstr (layer->path, ==, layer_path);
  g_assert_cmpstr (layer->digest, ==, image->layer_digest);
  g_assert_cmpstr (layer->diff_id, ==, image->layer_digest);
  g_assert_cmpint (layer->size, ==, g_bytes_get_size (image->layer));
  g_assert_cmpstr (layer->media_type, ==, MT_LAYER);
  assert_read_layer (source, plan, image->layer_digest);
}

static GroveImageSource *
open_amd64 (const char *path, GroveImageFormat format, GError **error)
{
  return grove_image_source_open (path, format, "linux", "amd64", NULL, NULL, error);
}

static void
test_oci_dir (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveImageSource) source = NULL;
  ImageSpec spec = { 0 };
  g_autoptr (TestImage) image
      = write_simple_layout (fixture->dir, &spec,
                             "{\"org.opencontainers.image.ref.name\":\"example.com/app:1\","
                             "\"io.containerd.image.name\":\"docker.io/library/app:1\"}");
  GroveImagePlan *plan = NULL;

  source = open_amd64 (fixture->dir, GROVE_IMAGE_FORMAT_AUTO, &error);
  g_assert_no_error (error);
  g_assert_cmpint (grove_image_source_get_format (source), ==, GROVE_IMAGE_FORMAT_OCI_DIR);
  assert_simple_oci_plan (source, image);
  plan = g_ptr_array_index (grove_image_source_get_plans (source), 0);
  g_assert_cmpuint (plan->names->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (plan->names, 0), ==, "example.com/app:1");
  g_assert_cmpstr (g_ptr_array_index (plan->names, 1), ==, "docker.io/library/app:1");
}

static void
test_oci_names_merged (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveImageSource) source = NULL;
  ImageSpec spec = { 0 };
  g_autoptr (TestImage) image = write_image (fixture->dir, &spec);
  g_autofree char *first = descriptor_json (
      MT_MANIFEST, image->manifest_digest, image->manifest_size, NULL, NULL,
      "{\"org.opencontainers.image.ref.name\":\"a:1\",\"io.containerd.image.name\":\"a:1\"}");
  g_autofree char *second
      = descriptor_json (MT_MANIFEST, image->manifest_digest, image->manifest_size, NULL, NULL,
                         "{\"org.opencontainers.image.ref.name\":\"b:2\"}");
  g_autofree char *both = g_strconcat (first, ",", second, NULL);
  GroveImagePlan *plan = NULL;

  write_layout (fixture->dir, both);
  source = open_amd64 (fixture->dir, GROVE_IMAGE_FORMAT_OCI_DIR, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (grove_image_source_get_plans (source)->len, ==, 1);
  plan = g_ptr_array_index (grove_image_source_get_plans (source), 0);
  g_assert_cmpuint (plan->names->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (plan->names, 0), ==, "a:1");
  g_assert_cmpstr (g_ptr_array_index (plan->names, 1), ==, "b:2");
}

static void
test_oci_archive (Fixture *fixture, gconstpointer data)
{
  Filter filter = GPOINTER_TO_INT (data);
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveImageSource) source = NULL;
  g_autofree char *layout = g_build_filename (fixture->dir, "layout", NULL);
  g_autofree char *tar_path = g_build_filename (fixture->dir, "image.tar", NULL);
  ImageSpec spec = { 0 };
  g_autoptr (TestImage) image = write_simple_layout (
      layout, &spec, "{\"org.opencontainers.image.ref.name\":\"example.com/app:1\"}");
  GroveImagePlan *plan = NULL;

  write_layout_archive (layout, tar_path, filter);
  source = open_amd64 (tar_path, GROVE_IMAGE_FORMAT_AUTO, &error);
  g_assert_no_error (error);
  g_assert_cmpint (grove_image_source_get_format (source), ==, GROVE_IMAGE_FORMAT_OCI_ARCHIVE);
  assert_simple_oci_plan (source, image);
  plan = g_ptr_array_index (grove_image_source_get_plans (source), 0);
  g_assert_cmpuint (plan->names->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (plan->names, 0), ==, "example.com/app:1");
  /* a second pass works just as well */
  assert_read_layer (source, plan, image->layer_digest);
}

/* a docker save archive; @blobs_layout picks the newer blobs/sha256/ naming */
static void
write_docker_archive (const char *tar_path, const TestImage *image, gboolean blobs_layout,
                      const char *config_name_override, const char *layer_name_override)
{
  g_autoptr (GPtrArray) entries = tar_entries_new ();
  ImageSpec spec = { 0 };
  g_autofree char *config = config_json (&spec, image->layer_digest);
  g_autoptr (GBytes) config_bytes = bytes_from_string (config);
  g_autofree char *config_hex = sha256_hex (config_bytes);
  g_autofree char *layer_hex = sha256_hex (image->layer);
  g_autofree char *config_name = NULL;
  g_autofree char *layer_name = NULL;
  g_autofree char *manifest = NULL;

  config_name = blobs_layout ? g_strconcat ("blobs/sha256/", config_hex, NULL)
                             : g_strconcat (config_hex, ".json", NULL);
  layer_name = blobs_layout ? g_strconcat ("blobs/sha256/", layer_hex, NULL)
                            : g_strdup ("0123abcd/layer.tar");
  if (config_name_override != NULL)
    {
      g_free (config_name);
      config_name = g_strdup (config_name_override);
    }
  manifest = g_strdup_printf ("[{\"Config\":\"%s\",\"RepoTags\":[\"example.com/app:1\","
                              "\"example.com/app:1\",\"example.com/app:latest\"],"
                              "\"Layers\":[\"%s\"]}]",
                              config_name,
                              layer_name_override != NULL ? layer_name_override : layer_name);
  tar_add_string (entries, "0123abcd/VERSION", "1.0");
  tar_add (entries, layer_name, image->layer);
  tar_add_string (entries, config_name, config);
  /* leading "./" as GNU tar writes it, normalised by the reader */
  tar_add_string (entries, "./manifest.json", manifest);
  tar_add_string (entries, "repositories", "{\"example.com/app\":{\"1\":\"0123abcd\"}}");
  write_tar (tar_path, entries, FILTER_NONE);
}

static void
assert_synthesised_manifest (GroveImagePlan *plan, const TestImage *image)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *manifest_digest = sha256_digest (plan->manifest);
  JsonObject *manifest = NULL;
  JsonObject *config = NULL;
  JsonObject *layer = NULL;

  g_assert_cmpstr (plan->manifest_digest, ==, manifest_digest);
  json_parser_load_from_data (parser, g_bytes_get_data (plan->manifest, NULL),
                              g_bytes_get_size (plan->manifest), &error);
  g_assert_no_error (error);
  manifest = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpint (json_object_get_int_member (manifest, "schemaVersion"), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (manifest, "mediaType"), ==, MT_MANIFEST);
  config = json_object_get_object_member (manifest, "config");
  g_assert_cmpstr (json_object_get_string_member (config, "digest"), ==, plan->config_digest);
  g_assert_cmpint (json_object_get_int_member (config, "size"), ==,
                   g_bytes_get_size (plan->config));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (manifest, "layers")), ==,
                    1);
  layer = json_array_get_object_element (json_object_get_array_member (manifest, "layers"), 0);
  g_assert_cmpstr (json_object_get_string_member (layer, "mediaType"), ==, MT_LAYER);
  g_assert_cmpstr (json_object_get_string_member (layer, "digest"), ==, image->layer_digest);
  g_assert_cmpint (json_object_get_int_member (layer, "size"), ==, g_bytes_get_size (image->layer));
}

static void
test_docker_archive (Fixture *fixture, gconstpointer data)
{
  gboolean blobs_layout = GPOINTER_TO_INT (data);
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveImageSource) source = NULL;
  g_autofree char *scratch = g_build_filename (fixture->dir, "scratch", NULL);
  g_autofree char *tar_path = g_build_filename (fixture->dir, "docker.tar", NULL);
  ImageSpec spec = { 0 };
  g_autoptr (TestImage) image = write_image (scratch, &spec);
  GroveImagePlan *plan = NULL;
  GroveLayerDesc *layer = NULL;

  write_docker_archive (tar_path, image, blobs_layout, NULL, NULL);
  source = open_amd64 (tar_path, GROVE_IMAGE_FORMAT_AUTO, &error);
  g_assert_no_error (error);
  g_assert_cmpint (grove_image_source_get_format (source), ==, GROVE_IMAGE_FORMAT_DOCKER_ARCHIVE);
  g_assert_cmpuint (grove_image_source_get_plans (source)->len, ==, 1);
  plan = g_ptr_array_index (grove_image_source_get_plans (source), 0);
  g_assert_cmpstr (plan->config_digest, ==, image->config_digest);
  layer = g_ptr_array_index (plan->layers, 0);
  g_assert_cmpstr (layer->diff_id, ==, image->layer_digest);
  g_assert_cmpint (layer->size, ==, g_bytes_get_size (image->layer));
  g_assert_null (layer->media_type);
  if (blobs_layout)
    g_assert_cmpstr (layer->digest, ==, image->layer_digest);
  else
    g_assert_null (layer->digest);
  if (!blobs_layout)
    g_assert_cmpstr (layer->path, ==, "0123abcd/layer.tar");
  g_assert_cmpuint (plan->names->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (plan->names, 0), ==, "example.com/app:1");
  g_assert_cmpstr (g_ptr_array_index (plan->names, 1), ==, "example.com/app:latest");
  assert_synthesised_manifest (plan, image);
  assert_read_layer (source, plan, image->layer_digest);
}

static void
test_docker_archive_bad (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveImageSource) source = NULL;
  g_autofree char *scratch = g_build_filename (fixture->dir, "scratch", NULL);
  g_autofree char *tar_path = g_build_filename (fixture->dir, "docker.tar", NULL);
  g_autofree char *wrong_hex = g_strnfill (64, 'a');
  g_autofree char *wrong_name = g_strconcat (wrong_hex, ".json", NULL);
  ImageSpec spec = { 0 };
  g_autoptr (TestImage) image = write_image (scratch, &spec);

  /* the config's name says one digest, its bytes another */
  write_docker_archive (tar_path, image, FALSE, wrong_name, NULL);
  source = open_amd64 (tar_path, GROVE_IMAGE_FORMAT_DOCKER_ARCHIVE, &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_DIGEST_MISMATCH);
  g_assert_null (source);
  g_clear_error (&error);

  write_docker_archive (tar_path, image, FALSE, NULL, "nope/layer.tar");
  source = open_amd64 (tar_path, GROVE_IMAGE_FORMAT_DOCKER_ARCHIVE, &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_IMAGE);
  g_assert_nonnull (strstr (error->message, "nope/layer.tar"));
  g_assert_null (source);
}

static void
test_auto_detection (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveImageSource) source = NULL;
  g_autofree char *layout = g_build_filename (fixture->dir, "layout", NULL);
  g_autofree char *empty = g_build_filename (fixture->dir, "empty", NULL);
  g_autofree char *oci_tar = g_build_filename (fixture->dir, "oci.tar", NULL);
  g_autofree char *docker_tar = g_build_filename (fixture->dir, "docker.tar", NULL);
  g_autofree char *plain_tar = g_build_filename (fixture->dir, "plain.tar", NULL);
  g_autofree char *text = g_build_filename (fixture->dir, "text", NULL);
  g_autoptr (GPtrArray) plain_entries = tar_entries_new ();
  ImageSpec spec = { 0 };
  g_autoptr (TestImage) image = write_simple_layout (layout, &spec, NULL);

  write_layout_archive (layout, oci_tar, FILTER_NONE);
  write_docker_archive (docker_tar, image, FALSE, NULL, NULL);
  tar_add_string (plain_entries, "hello.txt", "hello");
  write_tar (plain_tar, plain_entries, FILTER_GZIP);
  write_file (text, "this is not a tar file\n", -1);
  g_assert_cmpint (g_mkdir (empty, 0755), ==, 0);

  source = open_amd64 (oci_tar, GROVE_IMAGE_FORMAT_OCI_ARCHIVE, &error);
  g_assert_no_error (error);
  g_clear_object (&source);
  source = open_amd64 (docker_tar, GROVE_IMAGE_FORMAT_DOCKER_ARCHIVE, &error);
  g_assert_no_error (error);
  g_clear_object (&source);

  {
    struct
    {
      const char *path;
      GroveImageFormat format;
      const char *message;
    } cases[] = {
      { empty, GROVE_IMAGE_FORMAT_AUTO, "is not an OCI image layout: no oci-layout file" },
      { layout, GROVE_IMAGE_FORMAT_OCI_ARCHIVE, "is a directory" },
      { oci_tar, GROVE_IMAGE_FORMAT_OCI_DIR, "is not a directory" },
      { oci_tar, GROVE_IMAGE_FORMAT_DOCKER_ARCHIVE, "no manifest.json" },
      { docker_tar, GROVE_IMAGE_FORMAT_OCI_ARCHIVE, "no oci-layout" },
      { plain_tar, GROVE_IMAGE_FORMAT_AUTO, "neither an OCI archive" },
      { text, GROVE_IMAGE_FORMAT_AUTO, "reading the archive" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        source = open_amd64 (cases[i].path, cases[i].format, &error);
        g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_IMAGE);
        g_assert_nonnull (strstr (error->message, cases[i].message));
        g_assert_null (source);
        g_clear_error (&error);
      }
  }
}

static void
test_not_found (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveImageSource) source = NULL;
  g_autofree char *path = g_build_filename (fixture->dir, "does-not-exist", NULL);

  source = open_amd64 (path, GROVE_IMAGE_FORMAT_AUTO, &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
  g_assert_null (source);
}

/* an amd64 and an arm64/v8 image behind one nested image index */
static void
write_multi_platform (const char *layout, TestImage **amd64, TestImage **arm64)
{
  ImageSpec amd64_spec = { .architecture = "amd64", .layer_text = "x86" };
  ImageSpec arm64_spec = { .architecture = "arm64", .layer_text = "arm" };
  g_autofree char *amd64_descriptor = NULL;
  g_autofree char *arm64_descriptor = NULL;
  g_autofree char *index = NULL;
  g_autofree char *index_digest = NULL;
  g_autofree char *index_descriptor = NULL;

  *amd64 = write_image (layout, &amd64_spec);
  *arm64 = write_image (layout, &arm64_spec);
  arm64_descriptor = descriptor_json (MT_MANIFEST, (*arm64)->manifest_digest,
                                      (*arm64)->manifest_size, "arm64", "v8", NULL);
  amd64_descriptor = descriptor_json (MT_MANIFEST, (*amd64)->manifest_digest,
                                      (*amd64)->manifest_size, "amd64", NULL, NULL);
  index = g_strdup_printf ("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[%s,%s]}",
                           MT_INDEX, arm64_descriptor, amd64_descriptor);
  index_digest = write_blob_string (layout, index);
  index_descriptor = descriptor_json (MT_INDEX, index_digest, strlen (index), NULL, NULL,
                                      "{\"org.opencontainers.image.ref.name\":\"multi:1\"}");
  write_layout (layout, index_descriptor);
}

static void
test_multi_platform (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TestImage) amd64 = NULL;
  g_autoptr (TestImage) arm64 = NULL;
  const char *wanted[][2] = { { "amd64", NULL }, { "arm64", NULL }, { "arm64", "v8" } };

  write_multi_platform (fixture->dir, &amd64, &arm64);
  for (gsize i = 0; i < G_N_ELEMENTS (wanted); i++)
    {
      g_autoptr (GroveImageSource) source = grove_image_source_open (
          fixture->dir, GROVE_IMAGE_FORMAT_AUTO, "linux", wanted[i][0], wanted[i][1], NULL, &error);
      TestImage *expected = strcmp (wanted[i][0], "amd64") == 0 ? amd64 : arm64;
      GroveImagePlan *plan = NULL;

      g_assert_no_error (error);
      g_assert_cmpuint (grove_image_source_get_plans (source)->len, ==, 1);
      plan = g_ptr_array_index (grove_image_source_get_plans (source), 0);
      g_assert_cmpstr (plan->manifest_digest, ==, expected->manifest_digest);
      g_assert_cmpstr (plan->config_digest, ==, expected->config_digest);
      g_assert_cmpuint (plan->names->len, ==, 1);
      g_assert_cmpstr (g_ptr_array_index (plan->names, 0), ==, "multi:1");
      assert_read_layer (source, plan, expected->layer_digest);
    }
}

static void
test_top_level_platforms (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveImageSource) source = NULL;
  ImageSpec amd64_spec = { .architecture = "amd64", .layer_text = "x86" };
  ImageSpec arm64_spec = { .architecture = "arm64", .layer_text = "arm" };
  g_autoptr (TestImage) amd64 = write_image (fixture->dir, &amd64_spec);
  g_autoptr (TestImage) arm64 = write_image (fixture->dir, &arm64_spec);
  g_autofree char *arm64_descriptor = descriptor_json (MT_MANIFEST, arm64->manifest_digest,
                                                       arm64->manifest_size, "arm64", NULL, NULL);
  g_autofree char *amd64_descriptor = descriptor_json (MT_MANIFEST, amd64->manifest_digest,
                                                       amd64->manifest_size, "amd64", NULL, NULL);
  g_autofree char *both = g_strconcat (arm64_descriptor, ",", amd64_descriptor, NULL);
  GroveImagePlan *plan = NULL;

  write_layout (fixture->dir, both);
  source = grove_image_source_open (fixture->dir, GROVE_IMAGE_FORMAT_AUTO, "linux", "arm64", NULL,
                                    NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (grove_image_source_get_plans (source)->len, ==, 1);
  plan = g_ptr_array_index (grove_image_source_get_plans (source), 0);
  g_assert_cmpstr (plan->config_digest, ==, arm64->config_digest);
  g_assert_cmpuint (plan->names->len, ==, 0);
}

static void
test_no_matching_platform (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveImageSource) source = NULL;
  ImageSpec arm64_spec = { .architecture = "arm64", .layer_text = "arm" };
  ImageSpec s390x_spec = { .architecture = "s390x", .layer_text = "z" };
  g_autoptr (TestImage) arm64 = write_image (fixture->dir, &arm64_spec);
  g_autoptr (TestImage) s390x = write_image (fixture->dir, &s390x_spec);
  g_autofree char *arm64_descriptor = descriptor_json (MT_MANIFEST, arm64->manifest_digest,
                                                       arm64->manifest_size, "arm64", NULL, NULL);
  g_autofree char *s390x_descriptor = descriptor_json (MT_MANIFEST, s390x->manifest_digest,
                                                       s390x->manifest_size, "s390x", NULL, NULL);
  g_autofree char *index
      = g_strdup_printf ("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":[%s,%s]}",
                         MT_INDEX, arm64_descriptor, s390x_descriptor);
  g_autofree char *index_digest = write_blob_string (fixture->dir, index);
  g_autofree char *index_descriptor
      = descriptor_json (MT_INDEX, index_digest, strlen (index), NULL, NULL, NULL);
  g_autofree char *expected = NULL;

  write_layout (fixture->dir, index_descriptor);
  source = open_amd64 (fixture->dir, GROVE_IMAGE_FORMAT_AUTO, &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_UNSUPPORTED);
  expected = g_strdup_printf ("no image for linux/amd64 in %s (it has: linux/arm64, linux/s390x)",
                              fixture->dir);
  g_assert_cmpstr (error->message, ==, expected);
  g_assert_null (source);
}

static void
test_config_platform_mismatch (Fixture *fixture, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveImageSource) source = NULL;
  ImageSpec spec = { .architecture = "arm64" };
  g_autoptr (TestImage) image = write_simple_layout (fixture->dir, &spec, NULL);

  source = open_amd64 (fixture->dir, GROVE_IMAGE_FORMAT_AUTO, &error);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "is for linux/arm64, not linux/amd64"));
  g_assert_null (source);
}

/* rewrites a blob in place: same size, one byte different */
static void
corrupt_blob (const char *layout, const char *digest, gboolean append)
{
  g_autofree char *path = blob_path (layout, digest);
  g_autoptr (GBytes) bytes = read_file_bytes (path);
  gsize len = g_bytes_get_size (bytes);
  g_autofree char *data = g_malloc (len + 1);

  memcpy (data, g_bytes_get_data (bytes, NULL), len);
  if (append)
    data[len++] = ' ';
  else
    data[0] = ' '; /* still parses: only the digest can tell */
  write_file (path, data, len);
}

static void
assert_open_fails (const char *path, gint code, const char *message)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveImageSource) source = open_amd64 (path, GROVE_IMAGE_FORMAT_AUTO, &error);

  g_assert_error (error, GROVE_ERROR, code);
  if (message != NULL && strstr (error->message, message) == NULL)
    g_test_message ("\"%s\" does not contain \"%s\"", error->message, message);
  g_assert_nonnull (strstr (error->message, message));
  g_assert_null (source);
}

static void
test_digest_mismatch (Fixture *fixture, gconstpointer data)
{
  g_autofree char *one = g_build_filename (fixture->dir, "one", NULL);
  g_autofree char *two = g_build_filename (fixture->dir, "two", NULL);
  ImageSpec spec = { 0 };
  g_autoptr (TestImage) image_one = write_simple_layout (one, &spec, NULL);
  g_autoptr (TestImage) image_two = write_simple_layout (two, &spec, NULL);
  g_autofree char *expected = NULL;

  corrupt_blob (one, image_one->manifest_digest, FALSE);
  expected
      = g_strdup_printf ("digest mismatch: expected %s, got sha256:", image_one->manifest_digest);
  assert_open_fails (one, GROVE_ERROR_DIGEST_MISMATCH, expected);
  assert_open_fails (one, GROVE_ERROR_DIGEST_MISMATCH, "manifest blobs/sha256/");

  corrupt_blob (two, image_two->config_digest, FALSE);
  assert_open_fails (two, GROVE_ERROR_DIGEST_MISMATCH, "config blobs/sha256/");
}

static void
test_size_mismatch (Fixture *fixture, gconstpointer data)
{
  g_autofree char *one = g_build_filename (fixture->dir, "one", NULL);
  g_autofree char *two = g_build_filename (fixture->dir, "two", NULL);
  g_autofree char *tar_path = g_build_filename (fixture->dir, "two.tar", NULL);
  ImageSpec spec = { 0 };
  g_autoptr (TestImage) image_one = write_simple_layout (one, &spec, NULL);
  g_autoptr (TestImage) image_two = write_simple_layout (two, &spec, NULL);
  g_autofree char *expected = NULL;

  corrupt_blob (one, image_one->config_digest, TRUE);
  expected = g_strdup_printf ("size mismatch: expected %zu bytes, got %zu", image_one->config_size,
                              image_one->config_size + 1);
  assert_open_fails (one, GROVE_ERROR_DIGEST_MISMATCH, expected);

  /* layers are not read, but their size is checked against the manifest */
  corrupt_blob (two, image_two->layer_digest, TRUE);
  assert_open_fails (two, GROVE_ERROR_DIGEST_MISMATCH, "size mismatch");
  write_layout_archive (two, tar_path, FILTER_NONE);
  assert_open_fails (tar_path, GROVE_ERROR_DIGEST_MISMATCH, "size mismatch");
}

static void
test_diff_ids_mismatch (Fixture *fixture, gconstpointer data)
{
  ImageSpec spec = { .extra_diff_id = TRUE };
  g_autoptr (TestImage) image = write_simple_layout (fixture->dir, &spec, NULL);

  assert_open_fails (fixture->dir, GROVE_ERROR_INVALID_IMAGE,
                     "diff_ids has 2 entries but the image has 1 layers");
}

static void
test_unknown_media_type (Fixture *fixture, gconstpointer data)
{
  ImageSpec spec = { .layer_media_type = "application/vnd.example.layer.v1.cpio" };
  g_autoptr (TestImage) image = write_simple_layout (fixture->dir, &spec, NULL);

  assert_open_fails (fixture->dir, GROVE_ERROR_UNSUPPORTED,
                     "unsupported media type \"application/vnd.example.layer.v1.cpio\"");
}

static void
test_unsupported_digest (Fixture *fixture, gconstpointer data)
{
  g_autofree char *hex = g_strnfill (128, 'a');
  g_autofree char *digest = g_strconcat ("sha512:", hex, NULL);
  g_autofree char *descriptor = descriptor_json (MT_MANIFEST, digest, 10, NULL, NULL, NULL);

  write_layout (fixture->dir, descriptor);
  assert_open_fails (fixture->dir, GROVE_ERROR_UNSUPPORTED,
                     "digest algorithm \"sha512\" is not supported");
}

static void
test_malformed_json (Fixture *fixture, gconstpointer data)
{
  g_autofree char *one = g_build_filename (fixture->dir, "one", NULL);
  g_autofree char *two = g_build_filename (fixture->dir, "two", NULL);
  g_autofree char *three = g_build_filename (fixture->dir, "three", NULL);
  g_autofree char *index_path = g_build_filename (one, "index.json", NULL);
  g_autofree char *manifest = g_strdup ("{\"schemaVersion\":2,\"config\":");
  g_autofree char *manifest_digest = NULL;
  g_autofree char *descriptor = NULL;
  g_autofree char *deep = NULL;
  g_autofree char *deep_digest = NULL;
  ImageSpec spec = { 0 };
  g_autoptr (TestImage) image = write_simple_layout (one, &spec, NULL);

  write_file (index_path, "{\"schemaVersion\": 2, \"manifests\": [", -1);
  assert_open_fails (one, GROVE_ERROR_INVALID_IMAGE, "index.json is not valid JSON: ");

  /* digest-correct, but not JSON */
  manifest_digest = write_blob_string (two, manifest);
  descriptor = descriptor_json (MT_MANIFEST, manifest_digest, strlen (manifest), NULL, NULL, NULL);
  write_layout (two, descriptor);
  assert_open_fails (two, GROVE_ERROR_INVALID_IMAGE, "is not valid JSON: ");

  /* deep enough to exhaust a recursive parser's stack */
  deep = g_strnfill (1000000, '[');
  deep_digest = write_blob_string (three, deep);
  g_clear_pointer (&descriptor, g_free);
  descriptor = descriptor_json (MT_MANIFEST, deep_digest, strlen (deep), NULL, NULL, NULL);
  write_layout (three, descriptor);
  assert_open_fails (three, GROVE_ERROR_INVALID_IMAGE, "nests JSON more than");
}

static void
test_missing_blob (Fixture *fixture, gconstpointer data)
{
  g_autofree char *one = g_build_filename (fixture->dir, "one", NULL);
  g_autofree char *two = g_build_filename (fixture->dir, "two", NULL);
  g_autofree char *three = g_build_filename (fixture->dir, "three", NULL);
  g_autofree char *tar_path = g_build_filename (fixture->dir, "one.tar", NULL);
  ImageSpec spec = { 0 };
  g_autoptr (TestImage) image_one = write_simple_layout (one, &spec, NULL);
  g_autoptr (TestImage) image_two = write_simple_layout (two, &spec, NULL);
  g_autoptr (TestImage) image_three = write_simple_layout (three, &spec, NULL);
  g_autofree char *layer_one = blob_path (one, image_one->layer_digest);
  g_autofree char *config_two = blob_path (two, image_two->config_digest);
  g_autofree char *layer_three = blob_path (three, image_three->layer_digest);

  g_assert_cmpint (g_unlink (layer_one), ==, 0);
  assert_open_fails (one, GROVE_ERROR_INVALID_IMAGE, "does not exist");
  write_layout_archive (one, tar_path, FILTER_GZIP);
  assert_open_fails (tar_path, GROVE_ERROR_INVALID_IMAGE, "is not in the archive");

  g_assert_cmpint (g_unlink (config_two), ==, 0);
  assert_open_fails (two, GROVE_ERROR_INVALID_IMAGE, "does not exist");

  /* a blob may not be a symbolic link, even to something with the right bytes */
  g_assert_cmpint (g_rename (layer_three, config_two), ==, 0);
  g_assert_cmpint (symlink (config_two, layer_three), ==, 0);
  assert_open_fails (three, GROVE_ERROR_INVALID_IMAGE, "is a symbolic link");
}

static gboolean
fail_blob_cb (const char *path, GInputStream *stream, gpointer user_data, GError **error)
{
  guint *calls = user_data;

  (*calls)++;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "disk full while importing %s", path);
  return FALSE;
}

static gboolean
count_blob_cb (const char *path, GInputStream *stream, gpointer user_data, GError **error)
{
  guint *calls = user_data;

  (*calls)++;
  return TRUE;
}

static void
test_read_blobs_errors (Fixture *fixture, gconstpointer data)
{
  g_autofree char *layout = g_build_filename (fixture->dir, "layout", NULL);
  g_autofree char *tar_path = g_build_filename (fixture->dir, "image.tar.zst", NULL);
  ImageSpec spec = { 0 };
  g_autoptr (TestImage) image = write_simple_layout (layout, &spec, NULL);
  const char *paths[] = { layout, tar_path };

  write_layout_archive (layout, tar_path, FILTER_ZSTD);
  for (gsize i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GroveImageSource) source = open_amd64 (paths[i], GROVE_IMAGE_FORMAT_AUTO, &error);
      g_autoptr (GHashTable) wanted = g_hash_table_new (g_str_hash, g_str_equal);
      g_autofree char *zeros = g_strnfill (64, '0');
      g_autofree char *missing = g_strconcat ("blobs/sha256/", zeros, NULL);
      GroveImagePlan *plan = NULL;
      GroveLayerDesc *layer = NULL;
      guint calls = 0;

      g_assert_no_error (error);
      plan = g_ptr_array_index (grove_image_source_get_plans (source), 0);
      layer = g_ptr_array_index (plan->layers, 0);
      g_hash_table_add (wanted, layer->path);
      /* the callback's error comes back as it is, after one call */
      grove_image_source_read_blobs (source, wanted, fail_blob_cb, &calls, NULL, &error);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
      g_assert_cmpuint (calls, ==, 1);
      g_clear_error (&error);
      /* a directory may report the missing blob before or after the one it has */
      calls = 0;
      g_hash_table_add (wanted, missing);
      grove_image_source_read_blobs (source, wanted, count_blob_cb, &calls, NULL, &error);
      g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
      g_assert_nonnull (strstr (error->message, missing));
      g_assert_cmpuint (calls, <=, 1);
    }
}

static void
test_host_platform (void)
{
  const char *os = NULL;
  const char *architecture = NULL;
  const char *variant = NULL;

  grove_host_platform (&os, &architecture, &variant);
  g_assert_cmpstr (os, ==, "linux");
  g_assert_nonnull (architecture);
#if defined(__x86_64__)
  g_assert_cmpstr (architecture, ==, "amd64");
  g_assert_null (variant);
#elif defined(__aarch64__)
  g_assert_cmpstr (architecture, ==, "arm64");
  g_assert_cmpstr (variant, ==, "v8");
#endif
  g_assert_cmpstr (grove_image_format_to_string (GROVE_IMAGE_FORMAT_AUTO), ==, "auto");
  g_assert_cmpstr (grove_image_format_to_string (GROVE_IMAGE_FORMAT_OCI_DIR), ==, "oci-dir");
  g_assert_cmpstr (grove_image_format_to_string (GROVE_IMAGE_FORMAT_OCI_ARCHIVE), ==,
                   "oci-archive");
  g_assert_cmpstr (grove_image_format_to_string (GROVE_IMAGE_FORMAT_DOCKER_ARCHIVE), ==,
                   "docker-archive");
}

#define ADD_TEST(path, data, func)                                                                 \
  g_test_add ("/grove/image-source/" path, Fixture, data, fixture_setup, func, fixture_teardown)

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  ADD_TEST ("oci-dir", NULL, test_oci_dir);
  ADD_TEST ("oci-names-merged", NULL, test_oci_names_merged);
  ADD_TEST ("oci-archive", GINT_TO_POINTER (FILTER_NONE), test_oci_archive);
  ADD_TEST ("oci-archive-gzip", GINT_TO_POINTER (FILTER_GZIP), test_oci_archive);
  ADD_TEST ("oci-archive-zstd", GINT_TO_POINTER (FILTER_ZSTD), test_oci_archive);
  ADD_TEST ("docker-archive", GINT_TO_POINTER (FALSE), test_docker_archive);
  ADD_TEST ("docker-archive-blobs", GINT_TO_POINTER (TRUE), test_docker_archive);
  ADD_TEST ("docker-archive-bad", NULL, test_docker_archive_bad);
  ADD_TEST ("auto-detection", NULL, test_auto_detection);
  ADD_TEST ("not-found", NULL, test_not_found);
  ADD_TEST ("multi-platform", NULL, test_multi_platform);
  ADD_TEST ("top-level-platforms", NULL, test_top_level_platforms);
  ADD_TEST ("no-matching-platform", NULL, test_no_matching_platform);
  ADD_TEST ("config-platform-mismatch", NULL, test_config_platform_mismatch);
  ADD_TEST ("digest-mismatch", NULL, test_digest_mismatch);
  ADD_TEST ("size-mismatch", NULL, test_size_mismatch);
  ADD_TEST ("diff-ids-mismatch", NULL, test_diff_ids_mismatch);
  ADD_TEST ("unknown-media-type", NULL, test_unknown_media_type);
  ADD_TEST ("unsupported-digest", NULL, test_unsupported_digest);
  ADD_TEST ("malformed-json", NULL, test_malformed_json);
  ADD_TEST ("missing-blob", NULL, test_missing_blob);
  ADD_TEST ("read-blobs-errors", NULL, test_read_blobs_errors);
  g_test_add_func ("/grove/image-source/host-platform", test_host_platform);

  return g_test_run ();
}
