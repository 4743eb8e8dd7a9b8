/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * GroveRegistryAuth:
 * @username: (nullable): user name for basic auth and the token endpoint
 * @password: (nullable): its password
 * @auth: (nullable): base64 of "user:pass", as in auth.json and CRI's AuthConfig
 * @identity_token: (nullable): a refresh token: sent to the token endpoint as the password
 * @registry_token: (nullable): a bearer token, sent to the registry as it is
 *
 * Credentials given with a pull (CRI AuthConfig); they win over the auth file.
 */
typedef struct
{
  char *username;
  char *password;
  char *auth;
  char *identity_token;
  char *registry_token;
} GroveRegistryAuth;

GroveRegistryAuth *grove_registry_auth_copy (const GroveRegistryAuth *auth);
void grove_registry_auth_free (GroveRegistryAuth *auth);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GroveRegistryAuth, grove_registry_auth_free)

/**
 * GroveRegistryHostConfig:
 * @host: "host[:port]" as in a reference, e.g. "registry.example:5000"
 * @insecure: talk plain HTTP to it
 * @ca_file: (nullable): a PEM file of CA certificates trusted for it, besides the system's
 * @mirrors: (nullable): "host[:port]" of mirrors tried in order before @host; each mirror's
 *   own settings come from its own #GroveRegistryHostConfig, if any
 *
 * One `[registry.HOST]` group of the config.
 */
typedef struct
{
  char *host;
  gboolean insecure;
  char *ca_file;
  GStrv mirrors;
} GroveRegistryHostConfig;

/**
 * GroveRegistryConfig:
 * @default_registry: (nullable): where short names ("busybox") are pulled from; with none,
 *   a short name is an error
 * @auth_file: (nullable): a podman `auth.json` / docker `config.json` with credentials
 * @stall_timeout: seconds a download may go without a byte before it is aborted
 * @max_concurrent_downloads: layers one pull downloads at once
 * @hosts: (element-type GroveRegistryHostConfig): per-registry settings
 *
 * How the store reaches registries (`[registries]` and `[registry.HOST]` of grove.conf).
 */
typedef struct
{
  char *default_registry;
  char *auth_file;
  guint stall_timeout;
  guint max_concurrent_downloads;
  GPtrArray *hosts;
} GroveRegistryConfig;

#define GROVE_REGISTRY_DEFAULT_STALL_TIMEOUT 60
#define GROVE_REGISTRY_DEFAULT_MAX_CONCURRENT_DOWNLOADS 3

GroveRegistryConfig *grove_registry_config_new (void);
GroveRegistryConfig *grove_registry_config_copy (const GroveRegistryConfig *config);
GroveRegistryHostConfig *grove_registry_config_add_host (GroveRegistryConfig *config,
                                                         const char *host);
const GroveRegistryHostConfig *grove_registry_config_get_host (const GroveRegistryConfig *config,
                                                               const char *host);
void grove_registry_config_free (GroveRegistryConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GroveRegistryConfig, grove_registry_config_free)

/**
 * GrovePullLayerProgress:
 * @digest: the layer blob's digest
 * @bytes_done: bytes of the blob downloaded so far
 * @bytes_total: the blob's size, or -1 when unknown
 * @done: %TRUE once the layer is imported, or was found in the store
 *
 * One layer of a pull.
 */
typedef struct
{
  const char *digest;
  guint64 bytes_done;
  gint64 bytes_total;
  gboolean done;
} GrovePullLayerProgress;

/**
 * GrovePullProgress:
 * @n_layers: layers of the image
 * @layers: (array length=n_layers): each layer, base first
 * @bytes_done: bytes downloaded so far
 * @bytes_total: bytes of the layers that must be downloaded (those not in the store)
 *
 * How far a pull has come; passed to a #GrovePullProgressFunc.
 */
typedef struct
{
  guint n_layers;
  const GrovePullLayerProgress *layers;
  guint64 bytes_done;
  guint64 bytes_total;
} GrovePullProgress;

/**
 * GrovePullProgressFunc:
 * @progress: where the pull is; valid only during the call
 * @user_data: closure
 *
 * Called from worker threads, never two calls at once, at most about 10 times a second,
 * plus once when every layer is done.
 */
typedef void (*GrovePullProgressFunc) (const GrovePullProgress *progress, gpointer user_data);

G_END_DECLS
