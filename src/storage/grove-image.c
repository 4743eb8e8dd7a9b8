/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveImage"

#include "grove-image.h"
#include "grove-reference.h"
#include "grove-store-private.h"
#include "grove-utils.h"

/*
 * GroveImage is a read-only view of one image commit in the store: everything it says
 * comes from the commit's metadata and the tag refs that point at it.
 */
struct _GroveImage
{
  GObject parent_instance;
  char *id;
  char *commit;
  GStrv names;
  GStrv repo_digests; /* "repository@digest" the image was pulled by */
  char *manifest_digest;
  GBytes *manifest;
  GBytes *config;
  GStrv layers;
  guint64 size;
};

G_DEFINE_TYPE (GroveImage, grove_image, G_TYPE_OBJECT)

static void
grove_image_finalize (GObject *object)
{
  GroveImage *self = GROVE_IMAGE (object);

  g_clear_pointer (&self->id, g_free);
  g_clear_pointer (&self->commit, g_free);
  g_clear_pointer (&self->names, g_strfreev);
  g_clear_pointer (&self->repo_digests, g_strfreev);
  g_clear_pointer (&self->manifest_digest, g_free);
  g_clear_pointer (&self->manifest, g_bytes_unref);
  g_clear_pointer (&self->config, g_bytes_unref);
  g_clear_pointer (&self->layers, g_strfreev);
  G_OBJECT_CLASS (grove_image_parent_class)->finalize (object);
}

static void
grove_image_class_init (GroveImageClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = grove_image_finalize;
}

static void
grove_image_init (GroveImage *self)
{
}

static GBytes *
lookup_bytes (GVariantDict *dict, const char *key)
{
  const char *text = NULL;

  if (!g_variant_dict_lookup (dict, key, "&s", &text))
    return NULL;
  return g_bytes_new (text, strlen (text));
}

/* tags are names; "repository@digest" entries are where the image was pulled from */
static void
split_names (GroveImage *self, const char *const *names)
{
  g_autoptr (GStrvBuilder) tags = g_strv_builder_new ();
  g_autoptr (GStrvBuilder) digests = g_strv_builder_new ();

  for (guint i = 0; names != NULL && names[i] != NULL; i++)
    g_strv_builder_add (strchr (names[i], '@') != NULL ? digests : tags, names[i]);
  self->names = g_strv_builder_end (tags);
  self->repo_digests = g_strv_builder_end (digests);
}

/**
 * grove_image_new_from_commit:
 * @commit: checksum of the image commit
 * @commit_metadata: the commit's metadata (`a{sv}`) written by the store
 * @names: (nullable): the normalised names pointing at the commit: tags, and
 *   "repository@digest" for the digests the image was pulled by
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the image, or %NULL if the metadata is not that
 *   of an image commit
 */
GroveImage *
grove_image_new_from_commit (const char *commit, GVariant *commit_metadata,
                             const char *const *names, GError **error)
{
  g_autoptr (GroveImage) self = g_object_new (GROVE_TYPE_IMAGE, NULL);
  g_auto (GVariantDict) dict = G_VARIANT_DICT_INIT (commit_metadata);
  const char *config_digest = NULL;
  const char *manifest_digest = NULL;

  g_return_val_if_fail (commit != NULL, NULL);

  if (!g_variant_dict_lookup (&dict, GROVE_META_CONFIG_DIGEST, "&s", &config_digest)
      || !g_str_has_prefix (config_digest, "sha256:")
      || !g_variant_dict_lookup (&dict, GROVE_META_MANIFEST_DIGEST, "&s", &manifest_digest)
      || !g_variant_dict_lookup (&dict, GROVE_META_LAYERS, "^as", &self->layers))
    return grove_throw (error, GROVE_ERROR_FAILED, "commit %s is not a Grove image commit", commit),
           NULL;
  self->id = g_strdup (config_digest + strlen ("sha256:"));
  self->commit = g_strdup (commit);
  self->manifest_digest = g_strdup (manifest_digest);
  self->manifest = lookup_bytes (&dict, GROVE_META_MANIFEST);
  self->config = lookup_bytes (&dict, GROVE_META_CONFIG);
  if (!g_variant_dict_lookup (&dict, GROVE_META_SIZE, "t", &self->size))
    self->size = 0;
  split_names (self, names);
  return g_steal_pointer (&self);
}

/**
 * grove_image_get_id:
 * @self: a #GroveImage
 *
 * Returns: the image ID: the 64 hex digits of the config digest
 */
const char *
grove_image_get_id (GroveImage *self)
{
  g_return_val_if_fail (GROVE_IS_IMAGE (self), NULL);
  return self->id;
}

/**
 * grove_image_get_commit:
 * @self: a #GroveImage
 *
 * Returns: the checksum of the ostree commit holding the composed image tree
 */
const char *
grove_image_get_commit (GroveImage *self)
{
  g_return_val_if_fail (GROVE_IS_IMAGE (self), NULL);
  return self->commit;
}

/**
 * grove_image_get_names:
 * @self: a #GroveImage
 *
 * Returns: (transfer none): the normalised references (tags) naming this image, sorted;
 *   empty for a dangling image
 */
const char *const *
grove_image_get_names (GroveImage *self)
{
  g_return_val_if_fail (GROVE_IS_IMAGE (self), NULL);
  return (const char *const *)self->names;
}

/**
 * grove_image_get_manifest_digest:
 * @self: a #GroveImage
 *
 * Returns: "sha256:<hex>" of the image manifest
 */
const char *
grove_image_get_manifest_digest (GroveImage *self)
{
  g_return_val_if_fail (GROVE_IS_IMAGE (self), NULL);
  return self->manifest_digest;
}

/**
 * grove_image_get_manifest:
 * @self: a #GroveImage
 *
 * Returns: (transfer none) (nullable): the manifest JSON as imported
 */
GBytes *
grove_image_get_manifest (GroveImage *self)
{
  g_return_val_if_fail (GROVE_IS_IMAGE (self), NULL);
  return self->manifest;
}

/**
 * grove_image_get_config:
 * @self: a #GroveImage
 *
 * Returns: (transfer none) (nullable): the image config JSON as imported
 */
GBytes *
grove_image_get_config (GroveImage *self)
{
  g_return_val_if_fail (GROVE_IS_IMAGE (self), NULL);
  return self->config;
}

/**
 * grove_image_get_layers:
 * @self: a #GroveImage
 *
 * Returns: (transfer none): the layers' diff IDs ("sha256:<hex>"), base first
 */
const char *const *
grove_image_get_layers (GroveImage *self)
{
  g_return_val_if_fail (GROVE_IS_IMAGE (self), NULL);
  return (const char *const *)self->layers;
}

/**
 * grove_image_get_size:
 * @self: a #GroveImage
 *
 * Returns: bytes of file content the image's layers unpack to
 */
guint64
grove_image_get_size (GroveImage *self)
{
  g_return_val_if_fail (GROVE_IS_IMAGE (self), 0);
  return self->size;
}

/**
 * grove_image_dup_repo_digests:
 * @self: a #GroveImage
 *
 * Returns: (transfer full): the digests the image was pulled by, then
 *   `<repository>@<manifest digest>` for each repository that names this image, without
 *   duplicates
 */
GStrv
grove_image_dup_repo_digests (GroveImage *self)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  g_return_val_if_fail (GROVE_IS_IMAGE (self), NULL);
  for (guint i = 0; self->repo_digests[i] != NULL; i++)
    if (g_hash_table_add (seen, g_strdup (self->repo_digests[i])))
      g_strv_builder_add (builder, self->repo_digests[i]);
  for (guint i = 0; self->names[i] != NULL; i++)
    {
      g_autoptr (GroveReference) ref = grove_reference_parse (self->names[i], NULL);
      char *repo_digest;

      if (ref == NULL)
        continue;
      repo_digest = g_strdup_printf ("%s/%s@%s", ref->domain, ref->path, self->manifest_digest);
      if (!g_hash_table_add (seen, repo_digest))
        continue;
      g_strv_builder_add (builder, repo_digest);
    }
  return g_strv_builder_end (builder);
}
