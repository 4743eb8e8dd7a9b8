/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * GroveImageFormat:
 * @GROVE_IMAGE_FORMAT_AUTO: detect from what is at the path
 * @GROVE_IMAGE_FORMAT_OCI_DIR: an OCI image layout directory (`oci-layout`, `index.json`, `blobs/`)
 * @GROVE_IMAGE_FORMAT_OCI_ARCHIVE: a tar (optionally gzip/zstd compressed) of an OCI image layout
 * @GROVE_IMAGE_FORMAT_DOCKER_ARCHIVE: a `docker save` tar (`manifest.json`, config, layers)
 */
typedef enum
{
  GROVE_IMAGE_FORMAT_AUTO,
  GROVE_IMAGE_FORMAT_OCI_DIR,
  GROVE_IMAGE_FORMAT_OCI_ARCHIVE,
  GROVE_IMAGE_FORMAT_DOCKER_ARCHIVE,
} GroveImageFormat;

/**
 * GroveLayerDesc:
 * @diff_id: "sha256:<hex>" of the uncompressed layer tar, from the image config
 * @digest: (nullable): "sha256:<hex>" of the blob as stored, when the source names it
 *   (OCI manifests; docker archives whose layer paths are `blobs/sha256/<hex>`), else %NULL
 * @size: size of the blob as stored, or -1 when the source does not say
 * @path: where the blob is inside the source: relative to the layout directory, or the
 *   tar entry name (normalised: no leading "./" or "/")
 * @media_type: (nullable): the manifest's media type for the layer, %NULL for docker archives
 *
 * One layer of an image, as the source describes it. Nothing here is trusted: the
 * store verifies @digest, @size and @diff_id while it reads the blob.
 */
typedef struct
{
  char *diff_id;
  char *digest;
  gint64 size;
  char *path;
  char *media_type;
} GroveLayerDesc;

/**
 * GroveImagePlan:
 * @manifest: the image manifest bytes (for docker archives, a synthesised OCI manifest
 *   built from the config and layers, so every image has one)
 * @manifest_digest: "sha256:<hex>" of @manifest
 * @config: the image config bytes (verified against @config_digest already)
 * @config_digest: "sha256:<hex>" of @config; the image ID
 * @layers: (element-type GroveLayerDesc): base layer first
 * @names: (element-type utf8): the names the source gives this image, as written
 *   (`org.opencontainers.image.ref.name` annotations, docker `RepoTags`); may be empty
 *
 * What the store needs to import one image, once the source has picked the manifest for
 * the host platform. Parsed JSON has been checked: media types, schema versions, that
 * the config's `rootfs.diff_ids` has one entry per manifest layer.
 */
typedef struct
{
  GBytes *manifest;
  char *manifest_digest;
  GBytes *config;
  char *config_digest;
  GPtrArray *layers;
  GPtrArray *names;
} GroveImagePlan;

void grove_layer_desc_free (GroveLayerDesc *desc);
void grove_image_plan_free (GroveImagePlan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GroveLayerDesc, grove_layer_desc_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GroveImagePlan, grove_image_plan_free)

/**
 * GroveImageSourceBlobFunc:
 * @path: the blob's path in the source (as in #GroveLayerDesc.path)
 * @stream: the blob's bytes; valid only during the call, read it to the end or not
 * @user_data: closure
 * @error: return location
 *
 * Returns: %FALSE with @error set to stop the walk
 */
typedef gboolean (*GroveImageSourceBlobFunc) (const char *path, GInputStream *stream,
                                              gpointer user_data, GError **error);

/**
 * GroveImageSourceFetchFunc:
 * @media_type: the media type the descriptor gives
 * @digest: the blob's digest; the source verifies what comes back
 * @size: the size the descriptor gives
 * @user_data: closure
 * @error: return location
 *
 * Fetches a manifest, index or config blob of a remote image.
 *
 * Returns: (transfer full) (nullable): the bytes, or %NULL with @error set
 */
typedef GBytes *(*GroveImageSourceFetchFunc) (const char *media_type, const char *digest,
                                              gint64 size, gpointer user_data, GError **error);

#define GROVE_TYPE_IMAGE_SOURCE (grove_image_source_get_type ())
G_DECLARE_FINAL_TYPE (GroveImageSource, grove_image_source, GROVE, IMAGE_SOURCE, GObject)

GroveImageSource *grove_image_source_open (const char *path, GroveImageFormat format,
                                           const char *os, const char *architecture,
                                           const char *variant, GCancellable *cancellable,
                                           GError **error);
GroveImageSource *grove_image_source_new_remote (const char *name, GBytes *top,
                                                 const char *media_type, const char *digest,
                                                 GroveImageSourceFetchFunc fetch,
                                                 gpointer fetch_data, GError **error);
GroveImageFormat grove_image_source_get_format (GroveImageSource *self);
GPtrArray *grove_image_source_get_plans (GroveImageSource *self);
gboolean grove_image_source_read_blobs (GroveImageSource *self, GHashTable *wanted_paths,
                                        GroveImageSourceBlobFunc func, gpointer user_data,
                                        GCancellable *cancellable, GError **error);
const char *grove_image_format_to_string (GroveImageFormat format);

void grove_host_platform (const char **os, const char **architecture, const char **variant);

G_END_DECLS
