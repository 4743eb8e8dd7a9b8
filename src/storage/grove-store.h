/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "grove-idmap.h"
#include "grove-image-source.h"
#include "grove-image.h"
#include "grove-pull.h"

G_BEGIN_DECLS

/**
 * GroveImportProgress:
 * @layer: index of the layer being read (0-based)
 * @n_layers: layers the import has to read (those already in the store are not counted)
 * @layer_bytes: bytes of the current layer blob read so far
 * @layer_total: size of the current layer blob, or -1 when unknown
 * @bytes: bytes of all layer blobs read so far
 * @files: files written so far
 *
 * How far an import has come; passed to a #GroveStoreProgressFunc.
 */
typedef struct
{
  guint layer;
  guint n_layers;
  guint64 layer_bytes;
  gint64 layer_total;
  guint64 bytes;
  guint64 files;
} GroveImportProgress;

/**
 * GroveStoreProgressFunc:
 * @progress: where the import is
 * @user_data: closure
 *
 * Called from the thread that imports, at most every 64 files or MiB or so.
 */
typedef void (*GroveStoreProgressFunc) (const GroveImportProgress *progress, gpointer user_data);

/**
 * GroveStoreUsage:
 * @timestamp: when it was measured, g_get_real_time() microseconds
 * @bytes: bytes allocated below the store's directory
 * @inodes: inodes used below it
 * @mountpoint: the mount point of the filesystem the store is on
 *
 * The disk the store takes; see grove_store_get_usage().
 */
typedef struct
{
  gint64 timestamp;
  guint64 bytes;
  guint64 inodes;
  char *mountpoint;
} GroveStoreUsage;

#define GROVE_TYPE_STORE (grove_store_get_type ())
G_DECLARE_FINAL_TYPE (GroveStore, grove_store, GROVE, STORE, GObject)

GroveStore *grove_store_open (const char *root, GCancellable *cancellable, GError **error);
const char *grove_store_get_root (GroveStore *self);
const char *grove_store_get_repo_path (GroveStore *self);

GPtrArray *grove_store_import_image (GroveStore *self, const char *path, GroveImageFormat format,
                                     const char *tag, GroveStoreProgressFunc progress,
                                     gpointer progress_data, GCancellable *cancellable,
                                     GError **error);
void grove_store_import_image_async (GroveStore *self, const char *path, GroveImageFormat format,
                                     const char *tag, GroveStoreProgressFunc progress,
                                     gpointer progress_data, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data);
GPtrArray *grove_store_import_image_finish (GroveStore *self, GAsyncResult *result, GError **error);

void grove_store_set_registry_config (GroveStore *self, const GroveRegistryConfig *config);
GroveImage *grove_store_pull_image (GroveStore *self, const char *reference,
                                    const GroveRegistryAuth *auth, GrovePullProgressFunc progress,
                                    gpointer progress_data, GCancellable *cancellable,
                                    GError **error);
void grove_store_pull_image_async (GroveStore *self, const char *reference,
                                   const GroveRegistryAuth *auth, GrovePullProgressFunc progress,
                                   gpointer progress_data, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
GroveImage *grove_store_pull_image_finish (GroveStore *self, GAsyncResult *result, GError **error);

GPtrArray *grove_store_list_images (GroveStore *self, GCancellable *cancellable, GError **error);
GroveImage *grove_store_lookup_image (GroveStore *self, const char *name_or_id,
                                      GCancellable *cancellable, GError **error);
gboolean grove_store_tag_image (GroveStore *self, const char *name_or_id, const char *tag,
                                GCancellable *cancellable, GError **error);
gboolean grove_store_untag_image (GroveStore *self, const char *tag, GCancellable *cancellable,
                                  GError **error);
gboolean grove_store_remove_image (GroveStore *self, const char *name_or_id,
                                   GCancellable *cancellable, GError **error);
void grove_store_remove_image_async (GroveStore *self, const char *name_or_id,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
void grove_store_tag_image_async (GroveStore *self, const char *name_or_id, const char *tag,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
void grove_store_untag_image_async (GroveStore *self, const char *tag, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);
gboolean grove_store_change_image_finish (GroveStore *self, GAsyncResult *result, GError **error);
gboolean grove_store_prune (GroveStore *self, guint64 *out_freed, GCancellable *cancellable,
                            GError **error);

char *grove_store_prepare_rootfs (GroveStore *self, const char *container_id,
                                  const char *name_or_id, GCancellable *cancellable,
                                  GError **error);
char *grove_store_prepare_rootfs_idmapped (GroveStore *self, const char *container_id,
                                           const char *name_or_id, const GroveIdmap *idmap,
                                           GCancellable *cancellable, GError **error);
gboolean grove_store_release_rootfs (GroveStore *self, const char *container_id,
                                     GCancellable *cancellable, GError **error);
char *grove_store_get_rootfs_path (GroveStore *self, const char *container_id);
char *grove_store_get_writable_path (GroveStore *self, const char *container_id);
GStrv grove_store_list_rootfs (GroveStore *self, GError **error);

GroveStoreUsage *grove_store_get_usage (GroveStore *self, GCancellable *cancellable,
                                        GError **error);
void grove_store_get_usage_async (GroveStore *self, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
GroveStoreUsage *grove_store_get_usage_finish (GroveStore *self, GAsyncResult *result,
                                               GError **error);
void grove_store_usage_free (GroveStoreUsage *usage);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GroveStoreUsage, grove_store_usage_free)

G_END_DECLS
