/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * GroveReference:
 * @domain: registry host, with port if any ("docker.io", "localhost", "myreg:5000")
 * @path: repository path below the domain ("library/busybox", "busybox" for localhost)
 * @tag: (nullable): the tag, %NULL when the reference has only a digest
 * @digest: (nullable): "sha256:<64 hex>", %NULL when the reference has none
 *
 * A parsed, normalised image reference, following the grammar of the distribution
 * reference format that docker, containerd, CRI-O and podman share.
 */
typedef struct
{
  char *domain;
  char *path;
  char *tag;
  char *digest;
} GroveReference;

GroveReference *grove_reference_parse (const char *text, GError **error);
GroveReference *grove_reference_parse_for_pull (const char *text, const char *default_registry,
                                                GError **error);
void grove_reference_free (GroveReference *ref);
char *grove_reference_to_string (const GroveReference *ref);
char *grove_reference_get_repository (const GroveReference *ref);
char *grove_reference_normalize (const char *text, GError **error);
char *grove_reference_familiar (const char *normalized);
char *grove_reference_to_ref_component (const char *normalized);
char *grove_reference_from_ref_component (const char *component, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GroveReference, grove_reference_free)

G_END_DECLS
