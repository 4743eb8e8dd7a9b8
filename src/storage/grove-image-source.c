/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveImageSource"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "grove-archive-input-stream.h"
#include "grove-image-source.h"
#include "grove-utils.h"

/* manifests, indexes and configs are small; a bigger one is hostile or broken */
#define METADATA_MAX_SIZE ((gint64)4 * 1024 * 1024)
/* what pass 1 of an archive may keep in memory in all */
#define KEPT_MAX_SIZE ((gint64)256 * 1024 * 1024)
/* json-glib's parser recurses per nesting level: bound it before parsing */
#define JSON_MAX_DEPTH 64
#define INDEX_MAX_DEPTH 4
#define ARCHIVE_BLOCK_SIZE (64 * 1024)
#define BLOB_PREFIX "blobs/sha256/"

static const char *const manifest_media_types[] = {
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  NULL,
};

static const char *const index_media_types[] = {
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  NULL,
};

static const char *const config_media_types[] = {
  "application/vnd.oci.image.config.v1+json",
  "application/vnd.docker.container.image.v1+json",
  NULL,
};

static const char *const layer_media_types[] = {
  "application/vnd.oci.image.layer.v1.tar",
  "application/vnd.oci.image.layer.v1.tar+gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd",
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  "application/vnd.docker.image.rootfs.diff.tar.gzip",
  NULL,
};

struct _GroveImageSource
{
  GObject parent_instance;

  char *path;
  GroveImageFormat format;
  char *os;
  char *architecture;
  char *variant;
  int layout_dfd;          /* OCI dir: the layout directory */
  int archive_fd;          /* archives: read with pread, so passes never share a file offset */
  GHashTable *entries;     /* archives: normalised entry name → GBytes kept by pass 1 */
  GHashTable *entry_sizes; /* archives: normalised entry name → gint64 *, every regular entry */
  GPtrArray *plans;
  GroveImageSourceFetchFunc fetch; /* registries: only while the source is being opened */
  gpointer fetch_data;
};

G_DEFINE_TYPE (GroveImageSource, grove_image_source, G_TYPE_OBJECT)

/* a parsed OCI descriptor; the strings point into @object */
typedef struct
{
  JsonObject *object;
  const char *media_type;
  const char *digest;
  gint64 size;
  char *path;     /* blobs/sha256/<hex>, built from the digest only */
  const char *os; /* platform; %NULL when the descriptor names none */
  const char *architecture;
  const char *variant;
} Descriptor;

static void
descriptor_free (Descriptor *desc)
{
  if (desc == NULL)
    return;
  g_clear_pointer (&desc->object, json_object_unref);
  g_free (desc->path);
  g_free (desc);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Descriptor, descriptor_free)

typedef struct
{
  struct archive *archive;
  int fd;
  gint64 offset;
  guint8 buffer[ARCHIVE_BLOCK_SIZE];
} ArchiveReader;

static void
archive_reader_free (ArchiveReader *reader)
{
  if (reader == NULL)
    return;
  if (reader->archive != NULL)
    archive_read_free (reader->archive);
  g_free (reader);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ArchiveReader, archive_reader_free)

/**
 * grove_layer_desc_free:
 * @desc: (nullable) (transfer full): a layer description
 *
 * Frees @desc and its strings.
 */
void
grove_layer_desc_free (GroveLayerDesc *desc)
{
  if (desc == NULL)
    return;
  g_free (desc->diff_id);
  g_free (desc->digest);
  g_free (desc->path);
  g_free (desc->media_type);
  g_free (desc);
}

/**
 * grove_image_plan_free:
 * @plan: (nullable) (transfer full): an image plan
 *
 * Frees @plan, its bytes, layers and names.
 */
void
grove_image_plan_free (GroveImagePlan *plan)
{
  if (plan == NULL)
    return;
  g_clear_pointer (&plan->manifest, g_bytes_unref);
  g_free (plan->manifest_digest);
  g_clear_pointer (&plan->config, g_bytes_unref);
  g_free (plan->config_digest);
  g_clear_pointer (&plan->layers, g_ptr_array_unref);
  g_clear_pointer (&plan->names, g_ptr_array_unref);
  g_free (plan);
}

/**
 * grove_image_format_to_string:
 * @format: a #GroveImageFormat
 *
 * Returns: (transfer none): the name of @format: "auto", "oci-dir", "oci-archive" or
 *   "docker-archive" ("unknown" for a value out of range)
 */
const char *
grove_image_format_to_string (GroveImageFormat format)
{
  switch (format)
    {
    case GROVE_IMAGE_FORMAT_AUTO:
      return "auto";
    case GROVE_IMAGE_FORMAT_OCI_DIR:
      return "oci-dir";
    case GROVE_IMAGE_FORMAT_OCI_ARCHIVE:
      return "oci-archive";
    case GROVE_IMAGE_FORMAT_DOCKER_ARCHIVE:
      return "docker-archive";
    default:
      return "unknown";
    }
}

/**
 * grove_host_platform:
 * @os: (out) (optional) (transfer none): "linux"
 * @architecture: (out) (optional) (transfer none): the OCI name of the machine's architecture
 *   ("amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", else the kernel's name)
 * @variant: (out) (optional) (nullable) (transfer none): "v8" for arm64, "v7"/"v6" for arm,
 *   else %NULL
 *
 * Gives the platform images are picked for when the caller names none. The strings are
 * static.
 */
void
grove_host_platform (const char **os, const char **architecture, const char **variant)
{
  static const struct
  {
    const char *machine;
    const char *architecture;
    const char *variant;
  } machines[] = {
    { "x86_64", "amd64", NULL },    { "aarch64", "arm64", "v8" }, { "armv7l", "arm", "v7" },
    { "armv6l", "arm", "v6" },      { "i686", "386", NULL },      { "i386", "386", NULL },
    { "ppc64le", "ppc64le", NULL }, { "s390x", "s390x", NULL },   { "riscv64", "riscv64", NULL },
  };
  struct utsname uts;
  const char *found_architecture = NULL;
  const char *found_variant = NULL;

  if (uname (&uts) != 0)
    g_strlcpy (uts.machine, "unknown", sizeof uts.machine);
  for (gsize i = 0; i < G_N_ELEMENTS (machines) && found_architecture == NULL; i++)
    {
      if (strcmp (uts.machine, machines[i].machine) != 0)
        continue;
      found_architecture = machines[i].architecture;
      found_variant = machines[i].variant;
    }
  /* an unknown machine keeps the kernel's name; interned, so it stays valid */
  if (found_architecture == NULL)
    found_architecture = g_intern_string (uts.machine);
  if (os != NULL)
    *os = "linux";
  if (architecture != NULL)
    *architecture = found_architecture;
  if (variant != NULL)
    *variant = found_variant;
}

static gboolean
throw_errno (GError **error, int errsv, GroveError missing_code, const char *what)
{
  if (errsv == ENOENT)
    return grove_throw (error, missing_code, "%s does not exist", what);
  if (errsv == ELOOP)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s is a symbolic link", what);
  if (errsv == ENOTDIR)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s: a parent is not a directory", what);
  if (errsv == EACCES || errsv == EPERM)
    return grove_throw (error, GROVE_ERROR_PERMISSION_DENIED, "%s: %s", what, g_strerror (errsv));
  return grove_throw (error, GROVE_ERROR_FAILED, "%s: %s", what, g_strerror (errsv));
}

static gboolean
digest_is_sha256 (const char *digest)
{
  return g_str_has_prefix (digest, "sha256:") && grove_sha256_valid (digest + strlen ("sha256:"));
}

static char *
sha256_digest_of_bytes (GBytes *bytes)
{
  g_autofree char *hex = grove_sha256_hex_bytes (bytes);

  return g_strconcat ("sha256:", hex, NULL);
}

/* checks "<algorithm>:<hex>" and gives the hex of a sha256 digest */
static gboolean
parse_digest (const char *digest, const char *what, const char **hex, GError **error)
{
  const char *colon = strchr (digest, ':');

  if (colon == NULL || colon == digest)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s: malformed digest \"%s\"", what,
                        digest);
  if (colon - digest != strlen ("sha256") || strncmp (digest, "sha256", colon - digest) != 0)
    return grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                        "%s: digest algorithm \"%.*s\" is not supported (only sha256)", what,
                        (int)MIN (colon - digest, 32), digest);
  if (!grove_sha256_valid (colon + 1))
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s: malformed digest \"%s\"", what,
                        digest);
  *hex = colon + 1;
  return TRUE;
}

static gboolean
check_size (const char *what, gint64 actual, gint64 expected, GError **error)
{
  if (expected >= 0 && actual != expected)
    return grove_throw (error, GROVE_ERROR_DIGEST_MISMATCH,
                        "%s: size mismatch: expected %" G_GINT64_FORMAT
                        " bytes, got %" G_GINT64_FORMAT,
                        what, expected, actual);
  return TRUE;
}

static gboolean
verify_blob (GBytes *bytes, const char *what, const char *digest, gint64 size, GError **error)
{
  g_autofree char *actual = NULL;

  if (!check_size (what, g_bytes_get_size (bytes), size, error))
    return FALSE;
  actual = sha256_digest_of_bytes (bytes);
  if (strcmp (actual, digest) != 0)
    return grove_throw (error, GROVE_ERROR_DIGEST_MISMATCH,
                        "%s: digest mismatch: expected %s, got %s", what, digest, actual);
  return TRUE;
}

static gboolean
json_depth_ok (const char *data, gsize len)
{
  guint depth = 0;
  gboolean in_string = FALSE;

  for (gsize i = 0; i < len; i++)
    {
      if (in_string && data[i] == '\\')
        i++;
      else if (data[i] == '"')
        in_string = !in_string;
      else if (!in_string && (data[i] == '[' || data[i] == '{') && ++depth > JSON_MAX_DEPTH)
        return FALSE;
      else if (!in_string && (data[i] == ']' || data[i] == '}') && depth > 0)
        depth--;
    }
  return TRUE;
}

static JsonNode *
parse_json (GBytes *bytes, const char *what, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local_error = NULL;
  JsonNode *root = NULL;
  gsize len = 0;
  const char *data = g_bytes_get_data (bytes, &len);

  if (data == NULL)
    data = "";
  if (!json_depth_ok (data, len))
    {
      grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s nests JSON more than %d deep", what,
                   JSON_MAX_DEPTH);
      return NULL;
    }
  if (!json_parser_load_from_data (parser, data, len, &local_error))
    {
      grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s is not valid JSON: %s", what,
                   local_error->message);
      return NULL;
    }
  root = json_parser_steal_root (parser);
  if (root == NULL)
    grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s is not valid JSON: it is empty", what);
  return root;
}

static JsonObject *
parse_json_object (GBytes *bytes, const char *what, GError **error)
{
  g_autoptr (JsonNode) root = parse_json (bytes, what, error);

  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s is not a JSON object", what);
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

/* a missing or null member gives NULL, an error only if @required */
static gboolean
get_member (JsonObject *object, const char *name, gboolean required, const char *what,
            JsonNode **out, GError **error)
{
  JsonNode *node = json_object_get_member (object, name);

  *out = NULL;
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    {
      if (required)
        return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s has no \"%s\"", what, name);
      return TRUE;
    }
  *out = node;
  return TRUE;
}

static gboolean
get_string_member (JsonObject *object, const char *name, gboolean required, const char *what,
                   const char **out, GError **error)
{
  JsonNode *node = NULL;

  *out = NULL;
  if (!get_member (object, name, required, what, &node, error))
    return FALSE;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s: \"%s\" is not a string", what, name);
  *out = json_node_get_string (node);
  return TRUE;
}

static gboolean
get_int_member (JsonObject *object, const char *name, const char *what, gint64 *out, GError **error)
{
  JsonNode *node = NULL;

  if (!get_member (object, name, TRUE, what, &node, error))
    return FALSE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s: \"%s\" is not an integer", what,
                        name);
  *out = json_node_get_int (node);
  return TRUE;
}

static gboolean
get_object_member (JsonObject *object, const char *name, gboolean required, const char *what,
                   JsonObject **out, GError **error)
{
  JsonNode *node = NULL;

  *out = NULL;
  if (!get_member (object, name, required, what, &node, error))
    return FALSE;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s: \"%s\" is not an object", what,
                        name);
  *out = json_node_get_object (node);
  return TRUE;
}

static gboolean
get_array_member (JsonObject *object, const char *name, gboolean required, const char *what,
                  JsonArray **out, GError **error)
{
  JsonNode *node = NULL;

  *out = NULL;
  if (!get_member (object, name, required, what, &node, error))
    return FALSE;
  if (node == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s: \"%s\" is not an array", what, name);
  *out = json_node_get_array (node);
  return TRUE;
}

static gboolean
check_schema_version (JsonObject *object, const char *what, GError **error)
{
  gint64 version = 0;

  if (!get_int_member (object, "schemaVersion", what, &version, error))
    return FALSE;
  if (version != 2)
    return grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                        "%s: schemaVersion %" G_GINT64_FORMAT " is not supported (only 2)", what,
                        version);
  return TRUE;
}

static char *
platform_to_string (const char *os, const char *architecture, const char *variant)
{
  if (variant != NULL && *variant != '\0')
    return g_strdup_printf ("%s/%s/%s", os, architecture, variant);
  return g_strdup_printf ("%s/%s", os, architecture);
}

static gboolean
platform_matches (GroveImageSource *self, const char *os, const char *architecture,
                  const char *variant)
{
  if (g_strcmp0 (os, self->os) != 0 || g_strcmp0 (architecture, self->architecture) != 0)
    return FALSE;
  /* a variant narrows the match only when both sides give one ("" is none) */
  if (variant == NULL || *variant == '\0' || self->variant == NULL || *self->variant == '\0')
    return TRUE;
  return strcmp (variant, self->variant) == 0;
}

static void
add_available (GPtrArray *available, const Descriptor *desc)
{
  g_autofree char *platform = NULL;

  /* attestation manifests (buildx) say unknown/unknown: not an image anyone could ask for */
  if (g_strcmp0 (desc->architecture, "unknown") == 0)
    return;
  platform = platform_to_string (desc->os, desc->architecture, desc->variant);
  if (!g_ptr_array_find_with_equal_func (available, platform, g_str_equal, NULL))
    g_ptr_array_add (available, g_steal_pointer (&platform));
}

static gboolean
descriptor_parse_platform (Descriptor *desc, const char *what, GError **error)
{
  g_autofree char *platform_what = g_strdup_printf ("%s platform", what);
  JsonObject *platform = NULL;

  if (!get_object_member (desc->object, "platform", FALSE, what, &platform, error))
    return FALSE;
  if (platform == NULL)
    return TRUE;
  return get_string_member (platform, "os", TRUE, platform_what, &desc->os, error)
         && get_string_member (platform, "architecture", TRUE, platform_what, &desc->architecture,
                               error)
         && get_string_member (platform, "variant", FALSE, platform_what, &desc->variant, error);
}

static Descriptor *
descriptor_parse (JsonNode *node, const char *what, GError **error)
{
  g_autoptr (Descriptor) desc = g_new0 (Descriptor, 1);
  const char *hex = NULL;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s is not a JSON object", what);
      return NULL;
    }
  desc->object = json_object_ref (json_node_get_object (node));
  if (!get_string_member (desc->object, "mediaType", TRUE, what, &desc->media_type, error)
      || !get_string_member (desc->object, "digest", TRUE, what, &desc->digest, error)
      || !get_int_member (desc->object, "size", what, &desc->size, error)
      || !parse_digest (desc->digest, what, &hex, error)
      || !descriptor_parse_platform (desc, what, error))
    return NULL;
  if (desc->size < 0)
    {
      grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s: negative size %" G_GINT64_FORMAT, what,
                   desc->size);
      return NULL;
    }
  desc->path = g_strconcat (BLOB_PREFIX, hex, NULL);
  return g_steal_pointer (&desc);
}

static void
add_name (GPtrArray *names, const char *name)
{
  if (!g_ptr_array_find_with_equal_func (names, name, g_str_equal, NULL))
    g_ptr_array_add (names, g_strdup (name));
}

static GPtrArray *
descriptor_names (const Descriptor *desc, const char *what, GError **error)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *annotations_what = g_strdup_printf ("%s annotations", what);
  JsonObject *annotations = NULL;
  const char *ref_name = NULL;
  const char *containerd_name = NULL;

  if (!get_object_member (desc->object, "annotations", FALSE, what, &annotations, error))
    return NULL;
  if (annotations == NULL)
    return g_steal_pointer (&names);
  if (!get_string_member (annotations, "org.opencontainers.image.ref.name", FALSE, annotations_what,
                          &ref_name, error)
      || !get_string_member (annotations, "io.containerd.image.name", FALSE, annotations_what,
                             &containerd_name, error))
    return NULL;
  if (ref_name != NULL)
    add_name (names, ref_name);
  if (containerd_name != NULL)
    add_name (names, containerd_name);
  return g_steal_pointer (&names);
}

/* opens @path under the layout directory one component at a time, following no symlink */
static int
open_layout_file (GroveImageSource *self, const char *path, GroveError missing_code,
                  struct stat *st, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (path, "/", -1);
  grove_autofd int fd = -1;
  guint n_parts = g_strv_length (parts);

  for (guint i = 0; i < n_parts; i++)
    {
      gboolean last = i + 1 == n_parts;
      int next = -1;

      if (*parts[i] == '\0' || strcmp (parts[i], ".") == 0 || strcmp (parts[i], "..") == 0)
        {
          grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "invalid blob path \"%s\"", path);
          return -1;
        }
      /* O_NONBLOCK: opening a FIFO must not hang; it is rejected below */
      next = openat (fd >= 0 ? fd : self->layout_dfd, parts[i],
                     O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY
                         | (last ? O_NONBLOCK : O_DIRECTORY));
      if (next < 0)
        {
          throw_errno (error, errno, missing_code, path);
          return -1;
        }
      grove_close_fd (&fd);
      fd = next;
    }
  if (fstat (fd, st) != 0)
    {
      throw_errno (error, errno, missing_code, path);
      return -1;
    }
  if (!S_ISREG (st->st_mode))
    {
      grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s is not a regular file", path);
      return -1;
    }
  if (fcntl (fd, F_SETFL, 0) != 0)
    {
      throw_errno (error, errno, missing_code, path);
      return -1;
    }
  return grove_steal_fd (&fd);
}

static GBytes *
read_fd_bytes (int fd, gint64 size, const char *what, GError **error)
{
  g_autofree guint8 *data = g_malloc (size > 0 ? size : 1);
  gint64 done = 0;

  while (done < size)
    {
      ssize_t n = read (fd, data + done, size - done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          throw_errno (error, errno, GROVE_ERROR_FAILED, what);
          return NULL;
        }
      if (n == 0)
        {
          grove_throw (error, GROVE_ERROR_FAILED, "%s shrank while being read", what);
          return NULL;
        }
      done += n;
    }
  return g_bytes_new_take (g_steal_pointer (&data), size);
}

static gboolean
check_metadata_size (const char *path, gint64 size, GError **error)
{
  if (size > METADATA_MAX_SIZE)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                        "%s is %" G_GINT64_FORMAT
                        " bytes, more than image metadata may be (%" G_GINT64_FORMAT " bytes)",
                        path, size, METADATA_MAX_SIZE);
  return TRUE;
}

static GBytes *
read_layout_file (GroveImageSource *self, const char *path, gint64 expected_size, GError **error)
{
  struct stat st;
  grove_autofd int fd = open_layout_file (self, path, GROVE_ERROR_INVALID_IMAGE, &st, error);

  if (fd < 0)
    return NULL;
  if (!check_size (path, st.st_size, expected_size, error)
      || !check_metadata_size (path, st.st_size, error))
    return NULL;
  return read_fd_bytes (fd, st.st_size, path, error);
}

static GBytes *
read_kept_entry (GroveImageSource *self, const char *path, gint64 expected_size, GError **error)
{
  const gint64 *size = g_hash_table_lookup (self->entry_sizes, path);
  GBytes *bytes = g_hash_table_lookup (self->entries, path);

  if (size == NULL)
    {
      grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s is not in the archive", path);
      return NULL;
    }
  if (!check_size (path, *size, expected_size, error) || !check_metadata_size (path, *size, error))
    return NULL;
  if (bytes == NULL)
    {
      grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                   "%s is not a metadata entry (*.json or " BLOB_PREFIX "*), so was not kept",
                   path);
      return NULL;
    }
  return g_bytes_ref (bytes);
}

/* a metadata file of the source; @expected_size (if >= 0) is checked before reading */
static GBytes *
source_read_file (GroveImageSource *self, const char *path, gint64 expected_size, GError **error)
{
  if (self->format == GROVE_IMAGE_FORMAT_OCI_DIR)
    return read_layout_file (self, path, expected_size, error);
  return read_kept_entry (self, path, expected_size, error);
}

/* a blob the store will read later: it must exist and have the size the manifest says */
static gboolean
source_check_blob (GroveImageSource *self, const char *path, gint64 expected_size, GError **error)
{
  struct stat st;
  grove_autofd int fd = -1;
  const gint64 *size = NULL;

  /* a registry's blobs are checked as they are downloaded */
  if (self->fetch != NULL)
    return TRUE;
  if (self->format != GROVE_IMAGE_FORMAT_OCI_DIR)
    {
      size = g_hash_table_lookup (self->entry_sizes, path);
      if (size == NULL)
        return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s is not in the archive", path);
      return check_size (path, *size, expected_size, error);
    }
  fd = open_layout_file (self, path, GROVE_ERROR_INVALID_IMAGE, &st, error);
  if (fd < 0)
    return FALSE;
  return check_size (path, st.st_size, expected_size, error);
}

/* reads the blob @desc names and checks it against the descriptor's size and digest */
static GBytes *
read_blob (GroveImageSource *self, const Descriptor *desc, const char *what, GError **error)
{
  g_autoptr (GBytes) bytes = NULL;

  if (!check_metadata_size (what, desc->size, error))
    return NULL;
  if (self->fetch != NULL && !g_hash_table_contains (self->entries, desc->path))
    bytes = self->fetch (desc->media_type, desc->digest, desc->size, self->fetch_data, error);
  else if (self->fetch != NULL)
    bytes = g_bytes_ref (g_hash_table_lookup (self->entries, desc->path));
  else
    bytes = source_read_file (self, desc->path, desc->size, error);
  if (bytes == NULL || !verify_blob (bytes, what, desc->digest, desc->size, error))
    return NULL;
  return g_steal_pointer (&bytes);
}

static gboolean
check_config_platform (GroveImageSource *self, JsonObject *config, const char *what, GError **error)
{
  const char *os = NULL;
  const char *architecture = NULL;
  const char *variant = NULL;
  g_autofree char *have = NULL;
  g_autofree char *want = NULL;

  if (!get_string_member (config, "os", TRUE, what, &os, error)
      || !get_string_member (config, "architecture", TRUE, what, &architecture, error)
      || !get_string_member (config, "variant", FALSE, what, &variant, error))
    return FALSE;
  if (platform_matches (self, os, architecture, variant))
    return TRUE;
  have = platform_to_string (os, architecture, variant);
  want = platform_to_string (self->os, self->architecture, self->variant);
  return grove_throw (error, GROVE_ERROR_UNSUPPORTED, "%s is for %s, not %s", what, have, want);
}

/* checks the config against the layers and fills in their diff_ids */
static gboolean
apply_config (GroveImageSource *self, GBytes *config, const char *what, GPtrArray *layers,
              GError **error)
{
  g_autoptr (JsonObject) object = parse_json_object (config, what, error);
  g_autofree char *rootfs_what = g_strdup_printf ("%s rootfs", what);
  JsonObject *rootfs = NULL;
  JsonArray *diff_ids = NULL;
  const char *type = NULL;

  if (object == NULL || !check_config_platform (self, object, what, error)
      || !get_object_member (object, "rootfs", TRUE, what, &rootfs, error)
      || !get_string_member (rootfs, "type", TRUE, rootfs_what, &type, error)
      || !get_array_member (rootfs, "diff_ids", TRUE, rootfs_what, &diff_ids, error))
    return FALSE;
  if (strcmp (type, "layers") != 0)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s: type is \"%s\", not \"layers\"",
                        rootfs_what, type);
  if (json_array_get_length (diff_ids) != layers->len)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                        "%s: diff_ids has %u entries but the image has %u layers", rootfs_what,
                        json_array_get_length (diff_ids), layers->len);
  for (guint i = 0; i < layers->len; i++)
    {
      GroveLayerDesc *layer = g_ptr_array_index (layers, i);
      JsonNode *node = json_array_get_element (diff_ids, i);

      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING
          || !digest_is_sha256 (json_node_get_string (node)))
        return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                            "%s: diff_ids[%u] is not a sha256:<64 hex> digest", rootfs_what, i);
      layer->diff_id = g_strdup (json_node_get_string (node));
    }
  return TRUE;
}

static GroveLayerDesc *
manifest_layer_parse (GroveImageSource *self, JsonNode *node, const char *what, GError **error)
{
  g_autoptr (Descriptor) desc = descriptor_parse (node, what, error);
  GroveLayerDesc *layer = NULL;

  if (desc == NULL)
    return NULL;
  if (!g_strv_contains (layer_media_types, desc->media_type))
    {
      grove_throw (error, GROVE_ERROR_UNSUPPORTED, "%s has unsupported media type \"%s\"", what,
                   desc->media_type);
      return NULL;
    }
  if (!source_check_blob (self, desc->path, desc->size, error))
    return NULL;
  layer = g_new0 (GroveLayerDesc, 1);
  layer->digest = g_strdup (desc->digest);
  layer->size = desc->size;
  layer->path = g_strdup (desc->path);
  layer->media_type = g_strdup (desc->media_type);
  return layer;
}

static GPtrArray *
manifest_layers (GroveImageSource *self, JsonObject *manifest, const char *what, GError **error)
{
  g_autoptr (GPtrArray) layers
      = g_ptr_array_new_with_free_func ((GDestroyNotify)grove_layer_desc_free);
  JsonArray *array = NULL;

  if (!get_array_member (manifest, "layers", TRUE, what, &array, error))
    return NULL;
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      g_autofree char *layer_what = g_strdup_printf ("%s layers[%u]", what, i);
      GroveLayerDesc *layer
          = manifest_layer_parse (self, json_array_get_element (array, i), layer_what, error);

      if (layer == NULL)
        return NULL;
      g_ptr_array_add (layers, layer);
    }
  return g_steal_pointer (&layers);
}

static GroveImagePlan *
plan_new (GBytes *manifest, const char *manifest_digest, GBytes *config, const char *config_digest,
          GPtrArray *layers)
{
  GroveImagePlan *plan = g_new0 (GroveImagePlan, 1);

  plan->manifest = g_bytes_ref (manifest);
  plan->manifest_digest = g_strdup (manifest_digest);
  plan->config = g_bytes_ref (config);
  plan->config_digest = g_strdup (config_digest);
  plan->layers = g_ptr_array_ref (layers);
  plan->names = g_ptr_array_new_with_free_func (g_free);
  return plan;
}

static Descriptor *
manifest_config_descriptor (JsonObject *manifest, const char *what, GError **error)
{
  g_autofree char *config_what = g_strdup_printf ("%s config", what);
  g_autoptr (Descriptor) desc = NULL;
  JsonNode *node = NULL;

  if (!get_member (manifest, "config", TRUE, what, &node, error))
    return NULL;
  desc = descriptor_parse (node, config_what, error);
  if (desc == NULL)
    return NULL;
  if (!g_strv_contains (config_media_types, desc->media_type))
    {
      grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                   "%s: media type \"%s\" is not a container image config", config_what,
                   desc->media_type);
      return NULL;
    }
  return g_steal_pointer (&desc);
}

static GroveImagePlan *
load_manifest (GroveImageSource *self, const Descriptor *desc, GError **error)
{
  g_autofree char *what = g_strdup_printf ("manifest %s", desc->path);
  g_autofree char *config_what = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (JsonObject) manifest = NULL;
  g_autoptr (Descriptor) config_desc = NULL;
  g_autoptr (GBytes) config = NULL;
  g_autoptr (GPtrArray) layers = NULL;
  const char *media_type = NULL;

  bytes = read_blob (self, desc, what, error);
  if (bytes == NULL)
    return NULL;
  manifest = parse_json_object (bytes, what, error);
  if (manifest == NULL || !check_schema_version (manifest, what, error)
      || !get_string_member (manifest, "mediaType", FALSE, what, &media_type, error))
    return NULL;
  if (media_type != NULL && !g_strv_contains (manifest_media_types, media_type))
    {
      grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s says its media type is \"%s\"", what,
                   media_type);
      return NULL;
    }
  config_desc = manifest_config_descriptor (manifest, what, error);
  if (config_desc == NULL)
    return NULL;
  config_what = g_strdup_printf ("config %s", config_desc->path);
  config = read_blob (self, config_desc, config_what, error);
  if (config == NULL)
    return NULL;
  layers = manifest_layers (self, manifest, what, error);
  if (layers == NULL || !apply_config (self, config, config_what, layers, error))
    return NULL;
  return plan_new (bytes, desc->digest, config, config_desc->digest, layers);
}

static gboolean resolve_descriptor (GroveImageSource *self, const Descriptor *desc,
                                    const char *what, guint depth, GPtrArray *available,
                                    GroveImagePlan **out, GError **error);

/* picks the first entry of an image index for the wanted platform */
static gboolean
resolve_index (GroveImageSource *self, const Descriptor *desc, guint depth, GPtrArray *available,
               GroveImagePlan **out, GError **error)
{
  g_autofree char *what = g_strdup_printf ("index %s", desc->path);
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (JsonObject) index = NULL;
  JsonArray *manifests = NULL;

  if (depth >= INDEX_MAX_DEPTH)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                        "%s: image indexes nest more than %d deep", what, INDEX_MAX_DEPTH);
  bytes = read_blob (self, desc, what, error);
  if (bytes == NULL)
    return FALSE;
  index = parse_json_object (bytes, what, error);
  if (index == NULL || !check_schema_version (index, what, error)
      || !get_array_member (index, "manifests", TRUE, what, &manifests, error))
    return FALSE;
  for (guint i = 0; i < json_array_get_length (manifests); i++)
    {
      g_autofree char *child_what = g_strdup_printf ("%s manifests[%u]", what, i);
      g_autoptr (Descriptor) child
          = descriptor_parse (json_array_get_element (manifests, i), child_what, error);

      if (child == NULL)
        return FALSE;
      if (child->os != NULL
          && !platform_matches (self, child->os, child->architecture, child->variant))
        {
          add_available (available, child);
          continue;
        }
      return resolve_descriptor (self, child, child_what, depth + 1, available, out, error);
    }
  return TRUE;
}

/* sets *@out to the plan @desc leads to, or leaves it NULL when its platform is not wanted */
static gboolean
resolve_descriptor (GroveImageSource *self, const Descriptor *desc, const char *what, guint depth,
                    GPtrArray *available, GroveImagePlan **out, GError **error)
{
  if (desc->os != NULL && !platform_matches (self, desc->os, desc->architecture, desc->variant))
    {
      add_available (available, desc);
      return TRUE;
    }
  if (g_strv_contains (manifest_media_types, desc->media_type))
    {
      *out = load_manifest (self, desc, error);
      return *out != NULL;
    }
  if (g_strv_contains (index_media_types, desc->media_type))
    return resolve_index (self, desc, depth, available, out, error);
  return grove_throw (error, GROVE_ERROR_UNSUPPORTED, "%s has unsupported media type \"%s\"", what,
                      desc->media_type);
}

/* two index.json entries naming the same manifest are one image with more names */
static void
add_plan (GroveImageSource *self, GroveImagePlan *plan, GPtrArray *names)
{
  for (guint i = 0; i < self->plans->len; i++)
    {
      GroveImagePlan *other = g_ptr_array_index (self->plans, i);

      if (strcmp (other->manifest_digest, plan->manifest_digest) != 0)
        continue;
      for (guint j = 0; j < names->len; j++)
        add_name (other->names, g_ptr_array_index (names, j));
      grove_image_plan_free (plan);
      return;
    }
  for (guint j = 0; j < names->len; j++)
    add_name (plan->names, g_ptr_array_index (names, j));
  g_ptr_array_add (self->plans, plan);
}

static gboolean
load_index_json_entries (GroveImageSource *self, JsonArray *manifests, GPtrArray *available,
                         GCancellable *cancellable, GError **error)
{
  for (guint i = 0; i < json_array_get_length (manifests); i++)
    {
      g_autofree char *what = g_strdup_printf ("index.json manifests[%u]", i);
      g_autoptr (Descriptor) desc = NULL;
      g_autoptr (GPtrArray) names = NULL;
      g_autoptr (GroveImagePlan) plan = NULL;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      desc = descriptor_parse (json_array_get_element (manifests, i), what, error);
      if (desc == NULL)
        return FALSE;
      names = descriptor_names (desc, what, error);
      if (names == NULL || !resolve_descriptor (self, desc, what, 0, available, &plan, error))
        return FALSE;
      if (plan != NULL)
        add_plan (self, g_steal_pointer (&plan), names);
    }
  return TRUE;
}

static gboolean
load_oci (GroveImageSource *self, GPtrArray *available, GCancellable *cancellable, GError **error)
{
  g_autoptr (GBytes) layout = NULL;
  g_autoptr (JsonObject) layout_object = NULL;
  g_autoptr (GBytes) index = NULL;
  g_autoptr (JsonObject) index_object = NULL;
  const char *version = NULL;
  JsonArray *manifests = NULL;

  layout = source_read_file (self, "oci-layout", -1, error);
  if (layout == NULL)
    return FALSE;
  layout_object = parse_json_object (layout, "oci-layout", error);
  if (layout_object == NULL
      || !get_string_member (layout_object, "imageLayoutVersion", TRUE, "oci-layout", &version,
                             error))
    return FALSE;
  if (strcmp (version, "1.0.0") != 0)
    return grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                        "oci-layout: imageLayoutVersion \"%s\" is not supported (only 1.0.0)",
                        version);
  index = source_read_file (self, "index.json", -1, error);
  if (index == NULL)
    return FALSE;
  index_object = parse_json_object (index, "index.json", error);
  if (index_object == NULL || !check_schema_version (index_object, "index.json", error)
      || !get_array_member (index_object, "manifests", TRUE, "index.json", &manifests, error))
    return FALSE;
  return load_index_json_entries (self, manifests, available, cancellable, error);
}

static const char *
normalise_entry_name (const char *name)
{
  for (;;)
    {
      if (g_str_has_prefix (name, "./"))
        name += 2;
      else if (*name == '/')
        name++;
      else
        return name;
    }
}

static void
json_builder_add_descriptor (JsonBuilder *builder, const char *media_type, const char *digest,
                             gint64 size)
{
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "mediaType");
  json_builder_add_string_value (builder, media_type);
  json_builder_set_member_name (builder, "digest");
  json_builder_add_string_value (builder, digest);
  json_builder_set_member_name (builder, "size");
  json_builder_add_int_value (builder, size);
  json_builder_end_object (builder);
}

/* docker archives have no manifest: build the OCI one that describes the same image */
static GBytes *
synthesise_manifest (const char *config_digest, gint64 config_size, GPtrArray *layers)
{
  g_autoptr (JsonBuilder) builder = json_builder_new_immutable ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  gsize len = 0;
  char *data = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "schemaVersion");
  json_builder_add_int_value (builder, 2);
  json_builder_set_member_name (builder, "mediaType");
  json_builder_add_string_value (builder, manifest_media_types[0]);
  json_builder_set_member_name (builder, "config");
  json_builder_add_descriptor (builder, config_media_types[0], config_digest, config_size);
  json_builder_set_member_name (builder, "layers");
  json_builder_begin_array (builder);
  for (guint i = 0; i < layers->len; i++)
    {
      GroveLayerDesc *layer = g_ptr_array_index (layers, i);

      json_builder_add_descriptor (builder, layer_media_types[0], layer->diff_id, layer->size);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  data = json_generator_to_data (generator, &len);
  return g_bytes_new_take (data, len);
}

/* the hex a path names: "<hex>.json" (docker's config name) or "blobs/sha256/<hex>" */
static char *
hex_from_path (const char *path)
{
  g_autofree char *hex = NULL;

  if (g_str_has_prefix (path, BLOB_PREFIX))
    hex = g_strdup (path + strlen (BLOB_PREFIX));
  else if (g_str_has_suffix (path, ".json"))
    hex = g_strndup (path, strlen (path) - strlen (".json"));
  if (hex == NULL || !grove_sha256_valid (hex))
    return NULL;
  return g_steal_pointer (&hex);
}

static GPtrArray *
docker_layers (GroveImageSource *self, JsonArray *array, const char *what, GError **error)
{
  g_autoptr (GPtrArray) layers
      = g_ptr_array_new_with_free_func ((GDestroyNotify)grove_layer_desc_free);

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      g_autoptr (GroveLayerDesc) layer = g_new0 (GroveLayerDesc, 1);
      g_autofree char *hex = NULL;
      const gint64 *size = NULL;

      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
        {
          grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s: Layers[%u] is not a string", what, i);
          return NULL;
        }
      layer->path = g_strdup (normalise_entry_name (json_node_get_string (node)));
      size = g_hash_table_lookup (self->entry_sizes, layer->path);
      if (size == NULL)
        {
          grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s: layer %s is not in the archive", what,
                       layer->path);
          return NULL;
        }
      layer->size = *size;
      hex = g_str_has_prefix (layer->path, BLOB_PREFIX) ? hex_from_path (layer->path) : NULL;
      layer->digest = hex != NULL ? g_strconcat ("sha256:", hex, NULL) : NULL;
      g_ptr_array_add (layers, g_steal_pointer (&layer));
    }
  return g_steal_pointer (&layers);
}

static GPtrArray *
docker_names (JsonArray *repo_tags, const char *what, GError **error)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; repo_tags != NULL && i < json_array_get_length (repo_tags); i++)
    {
      JsonNode *node = json_array_get_element (repo_tags, i);

      if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
        {
          grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s: RepoTags[%u] is not a string", what,
                       i);
          return NULL;
        }
      add_name (names, json_node_get_string (node));
    }
  return g_steal_pointer (&names);
}

static GBytes *
docker_config (GroveImageSource *self, JsonObject *object, const char *what, char **config_digest,
               GError **error)
{
  g_autoptr (GBytes) config = NULL;
  g_autofree char *digest = NULL;
  g_autofree char *name_hex = NULL;
  const char *config_path = NULL;

  if (!get_string_member (object, "Config", TRUE, what, &config_path, error))
    return NULL;
  config_path = normalise_entry_name (config_path);
  config = source_read_file (self, config_path, -1, error);
  if (config == NULL)
    {
      g_prefix_error (error, "%s: config: ", what);
      return NULL;
    }
  digest = sha256_digest_of_bytes (config);
  name_hex = hex_from_path (config_path);
  if (name_hex != NULL && strcmp (name_hex, digest + strlen ("sha256:")) != 0)
    {
      grove_throw (error, GROVE_ERROR_DIGEST_MISMATCH,
                   "config %s: digest mismatch: expected sha256:%s, got %s", config_path, name_hex,
                   digest);
      return NULL;
    }
  *config_digest = g_steal_pointer (&digest);
  return g_steal_pointer (&config);
}

static GroveImagePlan *
load_docker_image (GroveImageSource *self, JsonNode *node, const char *what, GError **error)
{
  g_autoptr (GBytes) config = NULL;
  g_autofree char *config_digest = NULL;
  g_autofree char *config_what = NULL;
  g_autoptr (GPtrArray) layers = NULL;
  g_autoptr (GPtrArray) names = NULL;
  g_autoptr (GBytes) manifest = NULL;
  g_autofree char *manifest_digest = NULL;
  GroveImagePlan *plan = NULL;
  JsonObject *object = NULL;
  JsonArray *layer_paths = NULL;
  JsonArray *repo_tags = NULL;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s is not a JSON object", what);
      return NULL;
    }
  object = json_node_get_object (node);
  if (!get_array_member (object, "Layers", TRUE, what, &layer_paths, error)
      || !get_array_member (object, "RepoTags", FALSE, what, &repo_tags, error))
    return NULL;
  config = docker_config (self, object, what, &config_digest, error);
  if (config == NULL)
    return NULL;
  config_what = g_strdup_printf ("%s config %s", what, config_digest);
  layers = docker_layers (self, layer_paths, what, error);
  if (layers == NULL || !apply_config (self, config, config_what, layers, error))
    return NULL;
  names = docker_names (repo_tags, what, error);
  if (names == NULL)
    return NULL;
  manifest = synthesise_manifest (config_digest, g_bytes_get_size (config), layers);
  manifest_digest = sha256_digest_of_bytes (manifest);
  plan = plan_new (manifest, manifest_digest, config, config_digest, layers);
  g_ptr_array_extend_and_steal (plan->names, g_steal_pointer (&names));
  return plan;
}

static gboolean
load_docker (GroveImageSource *self, GCancellable *cancellable, GError **error)
{
  g_autoptr (GBytes) bytes = source_read_file (self, "manifest.json", -1, error);
  g_autoptr (JsonNode) root = NULL;
  JsonArray *images = NULL;

  if (bytes == NULL)
    return FALSE;
  root = parse_json (bytes, "manifest.json", error);
  if (root == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_ARRAY (root))
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "manifest.json is not a JSON array");
  images = json_node_get_array (root);
  for (guint i = 0; i < json_array_get_length (images); i++)
    {
      g_autofree char *what = g_strdup_printf ("manifest.json[%u]", i);
      GroveImagePlan *plan = NULL;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      plan = load_docker_image (self, json_array_get_element (images, i), what, error);
      if (plan == NULL)
        return FALSE;
      g_ptr_array_add (self->plans, plan);
    }
  return TRUE;
}

static la_ssize_t
archive_read_cb (struct archive *archive, void *user_data, const void **buffer)
{
  ArchiveReader *reader = user_data;
  ssize_t n = -1;

  do
    n = pread (reader->fd, reader->buffer, sizeof reader->buffer, reader->offset);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      archive_set_error (archive, errno, "%s", g_strerror (errno));
      return -1;
    }
  reader->offset += n;
  *buffer = reader->buffer;
  return n;
}

static la_int64_t
archive_skip_cb (struct archive *archive, void *user_data, la_int64_t request)
{
  ArchiveReader *reader = user_data;

  /* a skip past the end shows up as a truncated archive on the next read */
  reader->offset += request;
  return request;
}

static const char *
archive_message (struct archive *archive)
{
  const char *message = archive_error_string (archive);

  return message != NULL ? message : "unknown error";
}

static gboolean
throw_archive_error (struct archive *archive, GError **error)
{
  int errsv = archive_errno (archive);
  /* libarchive reports bad input as EILSEQ, EINVAL or its own -1; real errnos are I/O */
  GroveError code = errsv > 0 && errsv != EILSEQ && errsv != EINVAL ? GROVE_ERROR_FAILED
                                                                    : GROVE_ERROR_INVALID_IMAGE;

  return grove_throw (error, code, "reading the archive: %s", archive_message (archive));
}

static ArchiveReader *
archive_reader_new (GroveImageSource *self, GError **error)
{
  g_autoptr (ArchiveReader) reader = g_new0 (ArchiveReader, 1);
  int r = ARCHIVE_OK;

  reader->fd = self->archive_fd;
  reader->archive = archive_read_new ();
  if (reader->archive == NULL)
    {
      grove_throw (error, GROVE_ERROR_FAILED, "could not create an archive reader");
      return NULL;
    }
  archive_read_support_format_tar (reader->archive);
  /* ARCHIVE_WARN means an external program would be used: acceptable, but not expected */
  r = archive_read_support_filter_gzip (reader->archive);
  if (r == ARCHIVE_OK || r == ARCHIVE_WARN)
    r = archive_read_support_filter_zstd (reader->archive);
  if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
    {
      throw_archive_error (reader->archive, error);
      return NULL;
    }
  if (archive_read_open2 (reader->archive, reader, NULL, archive_read_cb, archive_skip_cb, NULL)
      != ARCHIVE_OK)
    {
      throw_archive_error (reader->archive, error);
      return NULL;
    }
  return g_steal_pointer (&reader);
}

/* 1 with a regular entry (and its normalised name), 0 at the end, -1 on error */
static int
archive_next_regular (struct archive *archive, struct archive_entry **entry, const char **name,
                      GError **error)
{
  for (;;)
    {
      const char *raw = NULL;
      int r = archive_read_next_header (archive, entry);

      if (r == ARCHIVE_EOF)
        return 0;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
        {
          throw_archive_error (archive, error);
          return -1;
        }
      raw = archive_entry_pathname (*entry);
      /* hardlink entries carry no data of their own */
      if (raw == NULL || archive_entry_filetype (*entry) != AE_IFREG
          || archive_entry_hardlink (*entry) != NULL)
        continue;
      *name = normalise_entry_name (raw);
      return 1;
    }
}

static gboolean
entry_is_metadata (const char *name, gint64 size)
{
  static const char *const names[] = {
    "oci-layout", "index.json", "manifest.json", "repositories", NULL,
  };

  if (g_strv_contains (names, name) || g_str_has_suffix (name, ".json"))
    return TRUE;
  return g_str_has_prefix (name, BLOB_PREFIX) && size <= METADATA_MAX_SIZE;
}

static GBytes *
read_entry_data (struct archive *archive, const char *name, gint64 size, GError **error)
{
  g_autofree guint8 *data = g_malloc (size > 0 ? size : 1);
  gint64 done = 0;

  while (done < size)
    {
      la_ssize_t n = archive_read_data (archive, data + done, size - done);

      if (n < 0)
        {
          throw_archive_error (archive, error);
          g_prefix_error (error, "%s: ", name);
          return NULL;
        }
      if (n == 0)
        {
          grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s: the archive entry is truncated",
                       name);
          return NULL;
        }
      done += n;
    }
  return g_bytes_new_take (g_steal_pointer (&data), size);
}

static gboolean
scan_entry (GroveImageSource *self, struct archive *archive, struct archive_entry *entry,
            const char *name, gint64 *kept, GError **error)
{
  gint64 size = MAX (archive_entry_size (entry), 0);
  GBytes *bytes = NULL;

  /* a later duplicate would silently replace what pass 1 checked */
  if (g_hash_table_contains (self->entry_sizes, name))
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "the archive has %s more than once",
                        name);
  g_hash_table_insert (self->entry_sizes, g_strdup (name), g_memdup2 (&size, sizeof size));
  if (!entry_is_metadata (name, size))
    return TRUE;
  if (size > KEPT_MAX_SIZE - *kept)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                        "the archive's metadata is more than %" G_GINT64_FORMAT " bytes (at %s)",
                        KEPT_MAX_SIZE, name);
  bytes = read_entry_data (archive, name, size, error);
  if (bytes == NULL)
    return FALSE;
  *kept += size;
  g_hash_table_insert (self->entries, g_strdup (name), bytes);
  return TRUE;
}

/* pass 1: note every regular entry's size and keep the metadata */
static gboolean
scan_archive (GroveImageSource *self, GCancellable *cancellable, GError **error)
{
  g_autoptr (ArchiveReader) reader = archive_reader_new (self, error);
  gint64 kept = 0;

  if (reader == NULL)
    return FALSE;
  for (;;)
    {
      struct archive_entry *entry = NULL;
      const char *name = NULL;
      int r = 0;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      r = archive_next_regular (reader->archive, &entry, &name, error);
      if (r <= 0)
        return r == 0;
      if (!scan_entry (self, reader->archive, entry, name, &kept, error))
        return FALSE;
    }
}

static gboolean
open_layout_dir (GroveImageSource *self, GroveImageFormat format, int dfd, GError **error)
{
  struct stat st;

  self->layout_dfd = dfd;
  if (format != GROVE_IMAGE_FORMAT_AUTO && format != GROVE_IMAGE_FORMAT_OCI_DIR)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s is a directory, not an %s",
                        self->path, grove_image_format_to_string (format));
  if (fstatat (dfd, "oci-layout", &st, AT_SYMLINK_NOFOLLOW) != 0)
    {
      if (errno == ENOENT)
        return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                            "%s is not an OCI image layout: no oci-layout file", self->path);
      return throw_errno (error, errno, GROVE_ERROR_FAILED, self->path);
    }
  self->format = GROVE_IMAGE_FORMAT_OCI_DIR;
  return TRUE;
}

static GroveImageFormat
detect_archive_format (GroveImageSource *self, GroveImageFormat format, GError **error)
{
  gboolean has_oci = g_hash_table_contains (self->entry_sizes, "oci-layout");
  gboolean has_docker = g_hash_table_contains (self->entry_sizes, "manifest.json");

  if (format == GROVE_IMAGE_FORMAT_AUTO && has_oci)
    return GROVE_IMAGE_FORMAT_OCI_ARCHIVE;
  if (format == GROVE_IMAGE_FORMAT_AUTO && has_docker)
    return GROVE_IMAGE_FORMAT_DOCKER_ARCHIVE;
  if (format == GROVE_IMAGE_FORMAT_AUTO)
    grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                 "%s is neither an OCI archive (no oci-layout) nor a docker archive (no "
                 "manifest.json)",
                 self->path);
  else if (format == GROVE_IMAGE_FORMAT_OCI_ARCHIVE && !has_oci)
    grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s is not an OCI archive: no oci-layout",
                 self->path);
  else if (format == GROVE_IMAGE_FORMAT_DOCKER_ARCHIVE && !has_docker)
    grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "%s is not a docker archive: no manifest.json",
                 self->path);
  else
    return format;
  return GROVE_IMAGE_FORMAT_AUTO;
}

static gboolean
open_archive (GroveImageSource *self, GroveImageFormat format, int fd, GCancellable *cancellable,
              GError **error)
{
  self->archive_fd = fd;
  if (format == GROVE_IMAGE_FORMAT_OCI_DIR)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                        "%s is not a directory, so not an OCI image layout", self->path);
  if (!scan_archive (self, cancellable, error))
    {
      g_prefix_error (error, "%s: ", self->path);
      return FALSE;
    }
  self->format = detect_archive_format (self, format, error);
  return self->format != GROVE_IMAGE_FORMAT_AUTO;
}

static gboolean
open_path (GroveImageSource *self, GroveImageFormat format, GCancellable *cancellable,
           GError **error)
{
  grove_autofd int fd = -1;
  struct stat st;
  struct stat opened;

  /* look before opening: opening a device or FIFO can have effects of its own */
  if (stat (self->path, &st) != 0)
    return throw_errno (error, errno, GROVE_ERROR_NOT_FOUND, self->path);
  if (!S_ISDIR (st.st_mode) && !S_ISREG (st.st_mode))
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                        "%s is neither a directory nor a regular file", self->path);
  fd = open (self->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return throw_errno (error, errno, GROVE_ERROR_NOT_FOUND, self->path);
  if (fstat (fd, &opened) != 0)
    return throw_errno (error, errno, GROVE_ERROR_FAILED, self->path);
  if ((opened.st_mode & S_IFMT) != (st.st_mode & S_IFMT))
    return grove_throw (error, GROVE_ERROR_FAILED, "%s changed while being opened", self->path);
  if (S_ISDIR (opened.st_mode))
    return open_layout_dir (self, format, grove_steal_fd (&fd), error);
  return open_archive (self, format, grove_steal_fd (&fd), cancellable, error);
}

static void
set_platform (GroveImageSource *self, const char *os, const char *architecture, const char *variant)
{
  const char *host_os = NULL;
  const char *host_architecture = NULL;
  const char *host_variant = NULL;

  grove_host_platform (&host_os, &host_architecture, &host_variant);
  self->os = g_strdup (os != NULL ? os : host_os);
  self->architecture = g_strdup (architecture != NULL ? architecture : host_architecture);
  /* the host's variant only means something for the host's architecture */
  if (variant == NULL && architecture == NULL)
    variant = host_variant;
  self->variant = g_strdup (variant);
}

static gboolean
throw_no_image (GroveImageSource *self, GPtrArray *available, GError **error)
{
  g_autofree char *want = platform_to_string (self->os, self->architecture, self->variant);
  g_autoptr (GString) have = g_string_new (NULL);

  if (available->len == 0)
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE, "no image for %s in %s: it has none",
                        want, self->path);
  for (guint i = 0; i < available->len; i++)
    g_string_append_printf (have, "%s%s", i > 0 ? ", " : "",
                            (const char *)g_ptr_array_index (available, i));
  return grove_throw (error, GROVE_ERROR_UNSUPPORTED, "no image for %s in %s (it has: %s)", want,
                      self->path, have->str);
}

/**
 * grove_image_source_open:
 * @path: an OCI image layout directory, or a (possibly gzip/zstd compressed) tar file
 * @format: what @path holds, or %GROVE_IMAGE_FORMAT_AUTO to detect it
 * @os: (nullable): the wanted platform's OS, %NULL for the host's
 * @architecture: (nullable): the wanted platform's architecture, %NULL for the host's
 * @variant: (nullable): the wanted architecture variant; %NULL matches any (the host's
 *   when @architecture is %NULL too)
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Opens an image source and works out what it holds: reads and verifies every index,
 * manifest and config (but no layer), and picks the manifest for the wanted platform.
 * An archive is read once here, keeping only its metadata in memory; nothing is unpacked.
 *
 * Errors: %GROVE_ERROR_NOT_FOUND if @path does not exist, %GROVE_ERROR_INVALID_IMAGE for
 * a malformed source, %GROVE_ERROR_DIGEST_MISMATCH when a blob is not what its
 * descriptor says, %GROVE_ERROR_UNSUPPORTED when nothing fits the platform or a format
 * Grove does not handle is used.
 *
 * Returns: (transfer full) (nullable): the source, or %NULL with @error set
 */
GroveImageSource *
grove_image_source_open (const char *path, GroveImageFormat format, const char *os,
                         const char *architecture, const char *variant, GCancellable *cancellable,
                         GError **error)
{
  g_autoptr (GroveImageSource) self = NULL;
  g_autoptr (GPtrArray) available = g_ptr_array_new_with_free_func (g_free);
  gboolean loaded = FALSE;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (format <= GROVE_IMAGE_FORMAT_DOCKER_ARCHIVE, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (GROVE_TYPE_IMAGE_SOURCE, NULL);
  self->path = g_strdup (path);
  set_platform (self, os, architecture, variant);
  if (!open_path (self, format, cancellable, error))
    return NULL;
  if (self->format == GROVE_IMAGE_FORMAT_DOCKER_ARCHIVE)
    loaded = load_docker (self, cancellable, error);
  else
    loaded = load_oci (self, available, cancellable, error);
  if (!loaded)
    {
      g_prefix_error (error, "%s: ", path);
      return NULL;
    }
  if (self->plans->len == 0)
    {
      throw_no_image (self, available, error);
      return NULL;
    }
  return g_steal_pointer (&self);
}

/* the descriptor of a manifest a registry sent for a tag or digest */
static Descriptor *
remote_descriptor (GBytes *top, const char *media_type, const char *digest, GError **error)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *actual = sha256_digest_of_bytes (top);

  json_builder_add_descriptor (builder, media_type, digest != NULL ? digest : actual,
                               (gint64)g_bytes_get_size (top));
  node = json_builder_get_root (builder);
  return descriptor_parse (node, "the manifest", error);
}

/**
 * grove_image_source_new_remote:
 * @name: what the manifest is, for messages (e.g. "registry.example/app:1")
 * @top: the manifest or index the registry sent for the reference
 * @media_type: its media type (from the response's Content-Type or its own mediaType)
 * @digest: (nullable): the digest the reference names; %NULL when it names a tag
 * @fetch: fetches a child manifest or a config blob by digest
 * @fetch_data: closure for @fetch, used only during this call
 * @error: return location for a #GError
 *
 * Like grove_image_source_open(), for an image in a registry: @top is checked against
 * @digest (when given), child manifests and the config are fetched with @fetch and
 * verified, and the manifest for the host's platform is picked. Layers are not fetched:
 * the plan's layer paths are `blobs/sha256/<hex>` and their digests name the blobs.
 *
 * Returns: (transfer full) (nullable): the source, with exactly one plan
 */
GroveImageSource *
grove_image_source_new_remote (const char *name, GBytes *top, const char *media_type,
                               const char *digest, GroveImageSourceFetchFunc fetch,
                               gpointer fetch_data, GError **error)
{
  g_autoptr (GroveImageSource) self = g_object_new (GROVE_TYPE_IMAGE_SOURCE, NULL);
  g_autoptr (GPtrArray) available = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (Descriptor) desc = NULL;
  g_autoptr (GroveImagePlan) plan = NULL;
  gboolean loaded = FALSE;

  g_return_val_if_fail (name != NULL && top != NULL && media_type != NULL, NULL);
  g_return_val_if_fail (fetch != NULL, NULL);

  self->path = g_strdup (name);
  self->format = GROVE_IMAGE_FORMAT_OCI_DIR;
  set_platform (self, NULL, NULL, NULL);
  desc = remote_descriptor (top, media_type, digest, error);
  if (desc == NULL)
    return NULL;
  g_hash_table_insert (self->entries, g_strdup (desc->path), g_bytes_ref (top));
  self->fetch = fetch;
  self->fetch_data = fetch_data;
  loaded = resolve_descriptor (self, desc, "the manifest", 0, available, &plan, error);
  self->fetch = NULL;
  self->fetch_data = NULL;
  if (!loaded)
    return g_prefix_error (error, "%s: ", name), NULL;
  if (plan == NULL)
    return throw_no_image (self, available, error), NULL;
  g_ptr_array_add (self->plans, g_steal_pointer (&plan));
  return g_steal_pointer (&self);
}

/**
 * grove_image_source_get_format:
 * @self: a #GroveImageSource
 *
 * Returns: what the source is (never %GROVE_IMAGE_FORMAT_AUTO: detection has happened)
 */
GroveImageFormat
grove_image_source_get_format (GroveImageSource *self)
{
  g_return_val_if_fail (GROVE_IS_IMAGE_SOURCE (self), GROVE_IMAGE_FORMAT_AUTO);

  return self->format;
}

/**
 * grove_image_source_get_plans:
 * @self: a #GroveImageSource
 *
 * Returns: (transfer none) (element-type GroveImagePlan): one plan per image, in the order
 *   the source lists them; never empty
 */
GPtrArray *
grove_image_source_get_plans (GroveImageSource *self)
{
  g_return_val_if_fail (GROVE_IS_IMAGE_SOURCE (self), NULL);

  return self->plans;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *)a, *(const char *const *)b);
}

static gboolean
read_blobs_dir (GroveImageSource *self, GHashTable *wanted_paths, GroveImageSourceBlobFunc func,
                gpointer user_data, GCancellable *cancellable, GError **error)
{
  guint n_paths = 0;
  g_autofree const char **paths
      = (const char **)g_hash_table_get_keys_as_array (wanted_paths, &n_paths);

  /* a stable order makes failures reproducible */
  qsort (paths, n_paths, sizeof (char *), compare_strings);
  for (guint i = 0; i < n_paths; i++)
    {
      g_autoptr (GInputStream) stream = NULL;
      grove_autofd int fd = -1;
      struct stat st;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      fd = open_layout_file (self, paths[i], GROVE_ERROR_NOT_FOUND, &st, error);
      if (fd < 0)
        return FALSE;
      stream = g_unix_input_stream_new (grove_steal_fd (&fd), TRUE);
      if (!func (paths[i], stream, user_data, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
check_all_seen (GHashTable *wanted_paths, GHashTable *seen, GError **error)
{
  GHashTableIter iter;
  gpointer key = NULL;

  g_hash_table_iter_init (&iter, wanted_paths);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      if (!g_hash_table_contains (seen, key))
        return grove_throw (error, GROVE_ERROR_NOT_FOUND, "%s is not in the archive",
                            (const char *)key);
    }
  return TRUE;
}

/* pass 2: one walk over the tar, handing each wanted entry to @func as it goes by */
static gboolean
read_blobs_archive (GroveImageSource *self, GHashTable *wanted_paths, GroveImageSourceBlobFunc func,
                    gpointer user_data, GCancellable *cancellable, GError **error)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (ArchiveReader) reader = archive_reader_new (self, error);

  if (reader == NULL)
    return FALSE;
  while (g_hash_table_size (seen) < g_hash_table_size (wanted_paths))
    {
      g_autoptr (GInputStream) stream = NULL;
      struct archive_entry *entry = NULL;
      const char *name = NULL;
      gpointer key = NULL;
      int r = 0;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      r = archive_next_regular (reader->archive, &entry, &name, error);
      if (r < 0)
        return FALSE;
      if (r == 0)
        break;
      if (!g_hash_table_lookup_extended (wanted_paths, name, &key, NULL)
          || g_hash_table_contains (seen, key))
        continue;
      g_hash_table_add (seen, key);
      stream = grove_archive_input_stream_new (reader->archive);
      if (!func (key, stream, user_data, error))
        return FALSE;
    }
  return check_all_seen (wanted_paths, seen, error);
}

/**
 * grove_image_source_read_blobs:
 * @self: a #GroveImageSource
 * @wanted_paths: (element-type utf8 utf8): a set of #GroveLayerDesc.path values
 * @func: (scope call): called once for each wanted blob with a stream of its bytes
 * @user_data: closure for @func
 * @cancellable: (nullable): a #GCancellable, checked between blobs
 * @error: return location for a #GError
 *
 * Hands the blobs in @wanted_paths to @func, in no promised order. An archive is read
 * once from the start, streaming each blob as its entry goes by. Nothing is verified
 * here: @func gets the bytes as stored. Stops at the first error @func returns.
 *
 * Errors: %GROVE_ERROR_NOT_FOUND when a wanted path is not in the source.
 *
 * Returns: %TRUE when @func has seen every wanted blob
 */
gboolean
grove_image_source_read_blobs (GroveImageSource *self, GHashTable *wanted_paths,
                               GroveImageSourceBlobFunc func, gpointer user_data,
                               GCancellable *cancellable, GError **error)
{
  gboolean ok = FALSE;
  g_autoptr (GError) local_error = NULL;

  g_return_val_if_fail (GROVE_IS_IMAGE_SOURCE (self), FALSE);
  g_return_val_if_fail (wanted_paths != NULL, FALSE);
  g_return_val_if_fail (func != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (g_hash_table_size (wanted_paths) == 0)
    return TRUE;
  if (self->format == GROVE_IMAGE_FORMAT_OCI_DIR)
    ok = read_blobs_dir (self, wanted_paths, func, user_data, cancellable, &local_error);
  else
    ok = read_blobs_archive (self, wanted_paths, func, user_data, cancellable, &local_error);
  if (ok)
    return TRUE;
  /* errors from @func are the caller's own: pass them on untouched */
  if (local_error->domain == GROVE_ERROR && local_error->code == GROVE_ERROR_NOT_FOUND)
    g_prefix_error (&local_error, "%s: ", self->path);
  g_propagate_error (error, g_steal_pointer (&local_error));
  return FALSE;
}

static void
grove_image_source_finalize (GObject *object)
{
  GroveImageSource *self = GROVE_IMAGE_SOURCE (object);

  g_clear_pointer (&self->path, g_free);
  g_clear_pointer (&self->os, g_free);
  g_clear_pointer (&self->architecture, g_free);
  g_clear_pointer (&self->variant, g_free);
  grove_close_fd (&self->layout_dfd);
  grove_close_fd (&self->archive_fd);
  g_clear_pointer (&self->entries, g_hash_table_unref);
  g_clear_pointer (&self->entry_sizes, g_hash_table_unref);
  g_clear_pointer (&self->plans, g_ptr_array_unref);

  G_OBJECT_CLASS (grove_image_source_parent_class)->finalize (object);
}

static void
grove_image_source_class_init (GroveImageSourceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = grove_image_source_finalize;
}

static void
grove_image_source_init (GroveImageSource *self)
{
  self->layout_dfd = -1;
  self->archive_fd = -1;
  self->entries
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_bytes_unref);
  self->entry_sizes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->plans = g_ptr_array_new_with_free_func ((GDestroyNotify)grove_image_plan_free);
}
