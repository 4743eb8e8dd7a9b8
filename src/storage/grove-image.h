/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define GROVE_TYPE_IMAGE (grove_image_get_type ())
G_DECLARE_FINAL_TYPE (GroveImage, grove_image, GROVE, IMAGE, GObject)

GroveImage *grove_image_new_from_commit (const char *commit, GVariant *commit_metadata,
                                         const char *const *names, GError **error);
const char *grove_image_get_id (GroveImage *self);
const char *grove_image_get_commit (GroveImage *self);
const char *const *grove_image_get_names (GroveImage *self);
const char *grove_image_get_manifest_digest (GroveImage *self);
GBytes *grove_image_get_manifest (GroveImage *self);
GBytes *grove_image_get_config (GroveImage *self);
const char *const *grove_image_get_layers (GroveImage *self);
guint64 grove_image_get_size (GroveImage *self);
GStrv grove_image_dup_repo_digests (GroveImage *self);

G_END_DECLS
