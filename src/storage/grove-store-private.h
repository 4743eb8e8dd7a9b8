/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <ostree.h>

#include "grove-image-source.h"
#include "grove-store.h"

G_BEGIN_DECLS

/* refs: the repository is the only index */
#define GROVE_REF_LAYERS "grove/layers"
#define GROVE_REF_IMAGES "grove/images"
#define GROVE_REF_TAGS "grove/tags"
#define GROVE_REF_DIGESTS "grove/digests"
#define GROVE_REF_CONTAINERS "grove/containers"

/* commit metadata keys of layer commits */
#define GROVE_META_DIFF_ID "grove.diff-id"
#define GROVE_META_BLOB_DIGEST "grove.blob-digest"
#define GROVE_META_WHITEOUTS "grove.whiteouts"
#define GROVE_META_OPAQUE_DIRS "grove.opaque-dirs"
#define GROVE_META_IMPLICIT_DIRS "grove.implicit-dirs"
#define GROVE_META_SPECIALS "grove.specials"
#define GROVE_META_CONTENT_SIZE "grove.content-size"
#define GROVE_META_FILES "grove.files"

/* commit metadata keys of image commits (GROVE_META_SPECIALS too) */
#define GROVE_META_MANIFEST "grove.manifest"
#define GROVE_META_MANIFEST_DIGEST "grove.manifest-digest"
#define GROVE_META_CONFIG "grove.config"
#define GROVE_META_CONFIG_DIGEST "grove.config-digest"
#define GROVE_META_LAYERS "grove.layers"
#define GROVE_META_SIZE "grove.size"

/* device nodes and FIFOs, which ostree cannot store: (path, st_mode, uid, gid, rdev) */
#define GROVE_SPECIALS_TYPE "a(suuut)"

/* what one layer import reports back */
typedef struct
{
  char *commit;
  guint64 content_size;
  guint64 files;
} GroveLayerResult;

typedef struct
{
  GroveStoreProgressFunc func;
  gpointer user_data;
  guint64 base_bytes;
  guint64 base_files;
  GroveImportProgress state;
} GroveProgress;

gboolean grove_layer_import (OstreeRepo *repo, GInputStream *blob, const GroveLayerDesc *desc,
                             GroveProgress *progress, GroveLayerResult *out_result,
                             GCancellable *cancellable, GError **error);
void grove_layer_result_clear (GroveLayerResult *result);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (GroveLayerResult, grove_layer_result_clear)
gboolean grove_layer_compose (OstreeRepo *repo, const char *const *layer_commits,
                              GVariant **out_specials, OstreeRepoFile **out_root,
                              GCancellable *cancellable, GError **error);
char *grove_layer_ref (const char *diff_id);

/* for the registry pull (grove-pull.c) */
OstreeRepo *grove_store_get_repo (GroveStore *self);
GMutex *grove_store_get_write_lock (GroveStore *self);
GroveRegistryConfig *grove_store_dup_registry_config (GroveStore *self);
gboolean grove_store_lookup_layers (GroveStore *self, GroveImagePlan *plan,
                                    GHashTable *layer_commits, GError **error);
gboolean grove_store_commit_plan (GroveStore *self, GroveImagePlan *plan, GHashTable *layer_commits,
                                  const char *tag, const char *repo_digest, char **out_commit,
                                  GCancellable *cancellable, GError **error);
void grove_store_abort_transaction (GroveStore *self);
GroveImage *grove_store_load_image (GroveStore *self, const char *commit, GCancellable *cancellable,
                                    GError **error);

G_END_DECLS
