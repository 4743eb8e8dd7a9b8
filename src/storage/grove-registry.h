/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "grove-pull.h"
#include "grove-reference.h"

G_BEGIN_DECLS

/**
 * GroveRegistryReadFunc:
 * @n_bytes: bytes that just went by
 * @user_data: closure
 *
 * Called from the thread reading a blob stream, after each read.
 */
typedef void (*GroveRegistryReadFunc) (gsize n_bytes, gpointer user_data);

typedef struct _GroveRegistryClient GroveRegistryClient;

GroveRegistryClient *grove_registry_client_new (const GroveRegistryConfig *config,
                                                const GroveReference *reference,
                                                const GroveRegistryAuth *auth, GError **error);
void grove_registry_client_free (GroveRegistryClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GroveRegistryClient, grove_registry_client_free)

GBytes *grove_registry_client_get_manifest (GroveRegistryClient *client, const char *tag_or_digest,
                                            char **out_media_type, GCancellable *cancellable,
                                            GError **error);
GBytes *grove_registry_client_get_blob_bytes (GroveRegistryClient *client, const char *digest,
                                              gsize max_size, GCancellable *cancellable,
                                              GError **error);
GInputStream *grove_registry_client_open_blob (GroveRegistryClient *client, const char *digest,
                                               GroveRegistryReadFunc read_func, gpointer read_data,
                                               GCancellable *cancellable, GError **error);
const char *grove_registry_client_get_host (GroveRegistryClient *client);

G_END_DECLS
