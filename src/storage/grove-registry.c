/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveRegistry"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <string.h>

#include "grove-registry.h"
#include "grove-utils.h"

/*
 * A client of one repository in an OCI distribution registry (and its mirrors), for one
 * pull. It owns a SoupSession that its threads share (libsoup 3.2 lets any thread send);
 * the session's socket timeout is the stall timeout, so a registry that stops sending
 * fails a read after that many seconds. Authorization (basic, or a bearer token got from
 * the token service the registry's challenge names) is kept per endpoint and reused by
 * every later request; a 401 renews it once.
 */

#define MANIFEST_MAX_SIZE (4 * 1024 * 1024)
#define TOKEN_MAX_SIZE (1024 * 1024)

static const char *const manifest_accept
    = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
      "application/vnd.docker.distribution.manifest.v2+json, "
      "application/vnd.docker.distribution.manifest.list.v2+json";

typedef struct
{
  char *username;
  char *password;
  char *token; /* a bearer token to send as it is */
} Credentials;

typedef struct
{
  char *host;
  char *base_uri;
  GList *cas; /* GTlsCertificate: the endpoint's extra CAs */
  Credentials creds;
  GMutex lock;
  char *authorization; /* the Authorization header once known; under @lock */
} Endpoint;

struct _GroveRegistryClient
{
  SoupSession *session;
  char *repository;
  GPtrArray *endpoints; /* mirrors in order, then the origin */
  Endpoint *chosen;     /* the one that served the manifest */
  guint stall_timeout;
};

/* configuration structs */

/**
 * grove_registry_auth_copy:
 * @auth: (nullable): credentials
 *
 * Returns: (transfer full) (nullable): a deep copy of @auth
 */
GroveRegistryAuth *
grove_registry_auth_copy (const GroveRegistryAuth *auth)
{
  GroveRegistryAuth *copy = NULL;

  if (auth == NULL)
    return NULL;
  copy = g_new0 (GroveRegistryAuth, 1);
  copy->username = g_strdup (auth->username);
  copy->password = g_strdup (auth->password);
  copy->auth = g_strdup (auth->auth);
  copy->identity_token = g_strdup (auth->identity_token);
  copy->registry_token = g_strdup (auth->registry_token);
  return copy;
}

/**
 * grove_registry_auth_free:
 * @auth: (nullable) (transfer full): credentials
 *
 * Frees @auth, wiping its secrets first.
 */
void
grove_registry_auth_free (GroveRegistryAuth *auth)
{
  char **fields[5];

  if (auth == NULL)
    return;
  fields[0] = &auth->username;
  fields[1] = &auth->password;
  fields[2] = &auth->auth;
  fields[3] = &auth->identity_token;
  fields[4] = &auth->registry_token;
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      if (*fields[i] != NULL)
        memset (*fields[i], 0, strlen (*fields[i]));
      g_clear_pointer (fields[i], g_free);
    }
  g_free (auth);
}

static void
host_config_free (GroveRegistryHostConfig *host)
{
  g_free (host->host);
  g_free (host->ca_file);
  g_strfreev (host->mirrors);
  g_free (host);
}

/**
 * grove_registry_config_new:
 *
 * Returns: (transfer full): a config with the defaults: no default registry, no auth file,
 *   %GROVE_REGISTRY_DEFAULT_STALL_TIMEOUT and %GROVE_REGISTRY_DEFAULT_MAX_CONCURRENT_DOWNLOADS
 */
GroveRegistryConfig *
grove_registry_config_new (void)
{
  GroveRegistryConfig *config = g_new0 (GroveRegistryConfig, 1);

  config->stall_timeout = GROVE_REGISTRY_DEFAULT_STALL_TIMEOUT;
  config->max_concurrent_downloads = GROVE_REGISTRY_DEFAULT_MAX_CONCURRENT_DOWNLOADS;
  config->hosts = g_ptr_array_new_with_free_func ((GDestroyNotify)host_config_free);
  return config;
}

/**
 * grove_registry_config_add_host:
 * @config: a #GroveRegistryConfig
 * @host: "host[:port]"
 *
 * Returns: (transfer none): the settings of @host, added with the defaults if missing
 */
GroveRegistryHostConfig *
grove_registry_config_add_host (GroveRegistryConfig *config, const char *host)
{
  GroveRegistryHostConfig *found = NULL;

  g_return_val_if_fail (config != NULL && host != NULL, NULL);
  found = (GroveRegistryHostConfig *)grove_registry_config_get_host (config, host);
  if (found != NULL)
    return found;
  found = g_new0 (GroveRegistryHostConfig, 1);
  found->host = g_strdup (host);
  g_ptr_array_add (config->hosts, found);
  return found;
}

/**
 * grove_registry_config_get_host:
 * @config: a #GroveRegistryConfig
 * @host: "host[:port]"
 *
 * Returns: (transfer none) (nullable): the settings of @host, %NULL if it has none
 */
const GroveRegistryHostConfig *
grove_registry_config_get_host (const GroveRegistryConfig *config, const char *host)
{
  g_return_val_if_fail (config != NULL && host != NULL, NULL);
  for (guint i = 0; i < config->hosts->len; i++)
    {
      const GroveRegistryHostConfig *candidate = config->hosts->pdata[i];
      if (strcmp (candidate->host, host) == 0)
        return candidate;
    }
  return NULL;
}

/**
 * grove_registry_config_copy:
 * @config: a #GroveRegistryConfig
 *
 * Returns: (transfer full): a deep copy of @config
 */
GroveRegistryConfig *
grove_registry_config_copy (const GroveRegistryConfig *config)
{
  GroveRegistryConfig *copy = grove_registry_config_new ();

  g_return_val_if_fail (config != NULL, copy);
  copy->default_registry = g_strdup (config->default_registry);
  copy->auth_file = g_strdup (config->auth_file);
  copy->stall_timeout = config->stall_timeout;
  copy->max_concurrent_downloads = config->max_concurrent_downloads;
  for (guint i = 0; i < config->hosts->len; i++)
    {
      const GroveRegistryHostConfig *host = config->hosts->pdata[i];
      GroveRegistryHostConfig *host_copy = grove_registry_config_add_host (copy, host->host);

      host_copy->insecure = host->insecure;
      host_copy->ca_file = g_strdup (host->ca_file);
      host_copy->mirrors = g_strdupv (host->mirrors);
    }
  return copy;
}

/**
 * grove_registry_config_free:
 * @config: (nullable) (transfer full): a #GroveRegistryConfig
 *
 * Frees @config.
 */
void
grove_registry_config_free (GroveRegistryConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->default_registry);
  g_free (config->auth_file);
  g_clear_pointer (&config->hosts, g_ptr_array_unref);
  g_free (config);
}

/* credentials */

static void
credentials_clear (Credentials *creds)
{
  g_clear_pointer (&creds->username, g_free);
  g_clear_pointer (&creds->password, g_free);
  g_clear_pointer (&creds->token, g_free);
}

/* "user:pass" in base64, as auth.json and CRI's AuthConfig carry it */
static gboolean
decode_auth (const char *auth, const char *what, Credentials *out, GError **error)
{
  gsize len = 0;
  g_autofree guchar *raw = g_base64_decode (auth, &len);
  g_autofree char *text = g_strndup ((const char *)raw, len);
  char *colon = strchr (text, ':');

  if (colon == NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s: \"auth\" is not base64 of \"user:password\"", what);
  *colon = '\0';
  out->username = g_strdup (text);
  out->password = g_strdup (colon + 1);
  return TRUE;
}

static gboolean
credentials_from_request (const GroveRegistryAuth *auth, Credentials *out, GError **error)
{
  if (auth->registry_token != NULL && *auth->registry_token != '\0')
    {
      out->token = g_strdup (auth->registry_token);
      return TRUE;
    }
  if (auth->auth != NULL && *auth->auth != '\0')
    return decode_auth (auth->auth, "the pull's credentials", out, error);
  if (auth->identity_token != NULL && *auth->identity_token != '\0')
    {
      /* docker's convention for sending a refresh token with basic auth */
      out->username = g_strdup (auth->username != NULL ? auth->username : "<token>");
      out->password = g_strdup (auth->identity_token);
      return TRUE;
    }
  out->username = g_strdup (auth->username);
  out->password = g_strdup (auth->password);
  return TRUE;
}

/* how well an auths key names @host/@repository: 0 not at all, more for a longer path */
static gsize
auth_key_match (const char *key, const char *host, const char *repository)
{
  const char *rest = key;
  const char *slash = NULL;
  g_autofree char *key_host = NULL;

  if (g_str_has_prefix (rest, "https://"))
    rest += strlen ("https://");
  else if (g_str_has_prefix (rest, "http://"))
    rest += strlen ("http://");
  slash = strchr (rest, '/');
  key_host = slash != NULL ? g_strndup (rest, slash - rest) : g_strdup (rest);
  if (g_str_equal (host, "docker.io")
      && (g_str_equal (key_host, "index.docker.io")
          || g_str_equal (key_host, "registry-1.docker.io")))
    {
      g_free (key_host);
      key_host = g_strdup ("docker.io");
    }
  if (!g_str_equal (key_host, host))
    return 0;
  /* a path naming a repository prefix ("host/team"), or docker's "/v1/" */
  if (slash == NULL || g_str_equal (slash, "/") || g_str_equal (slash, "/v1/"))
    return 1;
  if (g_str_has_prefix (repository, slash + 1)
      && (repository[strlen (slash + 1)] == '\0' || repository[strlen (slash + 1)] == '/'))
    return 1 + strlen (slash + 1);
  return 0;
}

static JsonObject *
find_auth_entry (JsonObject *auths, const char *host, const char *repository)
{
  g_autoptr (GList) keys = json_object_get_members (auths);
  JsonObject *best = NULL;
  gsize best_score = 0;

  for (GList *l = keys; l != NULL; l = l->next)
    {
      gsize score = auth_key_match (l->data, host, repository);
      JsonNode *node = json_object_get_member (auths, l->data);

      if (score > best_score && JSON_NODE_HOLDS_OBJECT (node))
        {
          best = json_node_get_object (node);
          best_score = score;
        }
    }
  return best;
}

static gboolean
credentials_from_file (const char *path, const char *host, const char *repository, Credentials *out,
                       GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local_error = NULL;
  JsonNode *root = NULL;
  JsonNode *auths = NULL;
  JsonObject *entry = NULL;

  if (!json_parser_load_from_file (parser, path, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "reading the auth file %s: %s", path,
                          local_error->message);
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "the auth file %s is no JSON object",
                        path);
  auths = json_object_get_member (json_node_get_object (root), "auths");
  if (auths == NULL || !JSON_NODE_HOLDS_OBJECT (auths))
    return TRUE;
  entry = find_auth_entry (json_node_get_object (auths), host, repository);
  if (entry == NULL)
    return TRUE;
  if (json_object_has_member (entry, "identitytoken"))
    {
      out->username = g_strdup ("<token>");
      out->password = g_strdup (json_object_get_string_member (entry, "identitytoken"));
      return TRUE;
    }
  if (json_object_has_member (entry, "auth"))
    {
      g_autofree char *what = g_strdup_printf ("the auth file %s, entry for %s", path, host);
      return decode_auth (json_object_get_string_member (entry, "auth"), what, out, error);
    }
  return TRUE;
}

/* endpoints */

static void
endpoint_free (Endpoint *ep)
{
  g_free (ep->host);
  g_free (ep->base_uri);
  g_list_free_full (ep->cas, g_object_unref);
  credentials_clear (&ep->creds);
  g_free (ep->authorization);
  g_mutex_clear (&ep->lock);
  g_free (ep);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Endpoint, endpoint_free)

static Endpoint *
endpoint_new (const GroveRegistryConfig *config, const char *host, const char *repository,
              const GroveRegistryAuth *auth, GError **error)
{
  const GroveRegistryHostConfig *settings = grove_registry_config_get_host (config, host);
  g_autoptr (Endpoint) ep = g_new0 (Endpoint, 1);
  /* docker.io's API is served from registry-1.docker.io */
  const char *api_host = g_str_equal (host, "docker.io") ? "registry-1.docker.io" : host;

  g_mutex_init (&ep->lock);
  ep->host = g_strdup (host);
  ep->base_uri
      = g_strdup_printf ("%s://%s", settings && settings->insecure ? "http" : "https", api_host);
  if (settings != NULL && settings->ca_file != NULL)
    {
      ep->cas = g_tls_certificate_list_new_from_file (settings->ca_file, error);
      if (ep->cas == NULL)
        return g_prefix_error (error, "the CA file of registry %s: ", host), NULL;
    }
  if (auth != NULL && !credentials_from_request (auth, &ep->creds, error))
    return NULL;
  if (auth == NULL && config->auth_file != NULL
      && !credentials_from_file (config->auth_file, host, repository, &ep->creds, error))
    return NULL;
  if (ep->creds.token != NULL)
    ep->authorization = g_strdup_printf ("Bearer %s", ep->creds.token);
  return g_steal_pointer (&ep);
}

/**
 * grove_registry_client_new:
 * @config: how to reach registries
 * @reference: what is pulled; its domain is the registry
 * @auth: (nullable): credentials for the registry (not for its mirrors)
 * @error: return location
 *
 * Returns: (transfer full) (nullable): a client for the reference's repository
 */
GroveRegistryClient *
grove_registry_client_new (const GroveRegistryConfig *config, const GroveReference *reference,
                           const GroveRegistryAuth *auth, GError **error)
{
  g_autoptr (GroveRegistryClient) client = g_new0 (GroveRegistryClient, 1);
  const GroveRegistryHostConfig *settings
      = grove_registry_config_get_host (config, reference->domain);
  Endpoint *ep = NULL;

  client->repository = g_strdup (reference->path);
  client->stall_timeout = config->stall_timeout;
  client->endpoints = g_ptr_array_new_with_free_func ((GDestroyNotify)endpoint_free);
  for (guint i = 0; settings != NULL && settings->mirrors && settings->mirrors[i]; i++)
    {
      ep = endpoint_new (config, settings->mirrors[i], reference->path, NULL, error);
      if (ep == NULL)
        return NULL;
      g_ptr_array_add (client->endpoints, ep);
    }
  ep = endpoint_new (config, reference->domain, reference->path, auth, error);
  if (ep == NULL)
    return NULL;
  g_ptr_array_add (client->endpoints, ep);
  client->session = soup_session_new_with_options (
      "timeout", config->stall_timeout, "max-conns-per-host",
      MAX (config->max_concurrent_downloads, 2) + 2, "user-agent", "grove/" PACKAGE_VERSION, NULL);
  /* authentication is done here, per endpoint: soup's own would ask nobody */
  soup_session_remove_feature_by_type (client->session, SOUP_TYPE_AUTH_MANAGER);
  return g_steal_pointer (&client);
}

/**
 * grove_registry_client_free:
 * @client: (nullable) (transfer full): a client
 *
 * Closes the client's connections and frees it.
 */
void
grove_registry_client_free (GroveRegistryClient *client)
{
  if (client == NULL)
    return;
  if (client->session != NULL)
    soup_session_abort (client->session);
  g_clear_object (&client->session);
  g_clear_pointer (&client->endpoints, g_ptr_array_unref);
  g_free (client->repository);
  g_free (client);
}

/**
 * grove_registry_client_get_host:
 * @client: a client
 *
 * Returns: (transfer none): the registry (or mirror) that served the manifest, else the
 *   registry itself
 */
const char *
grove_registry_client_get_host (GroveRegistryClient *client)
{
  Endpoint *ep = client->chosen;

  if (ep == NULL)
    ep = client->endpoints->pdata[client->endpoints->len - 1];
  return ep->host;
}

/* TLS */

typedef struct
{
  GList *cas;
  const char *host; /* host[:port] the certificate must name */
  GTlsCertificateFlags errors;
} TlsCheck;

static gboolean
accept_certificate_cb (SoupMessage *msg, GTlsCertificate *peer, GTlsCertificateFlags errors,
                       gpointer user_data)
{
  TlsCheck *check = user_data;
  g_autoptr (GSocketConnectable) identity = NULL;

  check->errors = errors;
  if (check->cas == NULL)
    return FALSE;
  identity = g_network_address_parse (check->host, 443, NULL);
  /* the system's store said no: the registry's own CAs may still vouch for it */
  for (GList *l = check->cas; l != NULL; l = l->next)
    if (g_tls_certificate_verify (peer, identity, l->data) == 0)
      {
        check->errors = 0;
        return TRUE;
      }
  return FALSE;
}

static char *
describe_certificate_errors (GTlsCertificateFlags flags)
{
  static const struct
  {
    GTlsCertificateFlags flag;
    const char *text;
  } texts[] = {
    { G_TLS_CERTIFICATE_UNKNOWN_CA, "is signed by an unknown certificate authority" },
    { G_TLS_CERTIFICATE_BAD_IDENTITY, "does not match the registry's host name" },
    { G_TLS_CERTIFICATE_NOT_ACTIVATED, "is not valid yet" },
    { G_TLS_CERTIFICATE_EXPIRED, "has expired" },
    { G_TLS_CERTIFICATE_REVOKED, "has been revoked" },
    { G_TLS_CERTIFICATE_INSECURE, "uses an insecure algorithm" },
    { G_TLS_CERTIFICATE_GENERIC_ERROR, "could not be checked" },
  };
  g_autoptr (GString) out = g_string_new ("the certificate ");

  for (gsize i = 0; i < G_N_ELEMENTS (texts); i++)
    if (flags & texts[i].flag)
      g_string_append_printf (out, "%s%s", out->len > 16 ? " and " : "", texts[i].text);
  if (out->len == 16)
    g_string_append (out, "was refused");
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* requests */

static gboolean
throw_transport (GroveRegistryClient *client, const TlsCheck *check, GError *cause, GError **error)
{
  if (g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return g_propagate_error (error, g_error_copy (cause)), FALSE;
  if (check->errors != 0)
    {
      g_autofree char *why = describe_certificate_errors (check->errors);
      return grove_throw (error, GROVE_ERROR_UNAVAILABLE, "TLS handshake with %s failed: %s",
                          check->host, why);
    }
  if (cause->domain == G_TLS_ERROR)
    return grove_throw (error, GROVE_ERROR_UNAVAILABLE, "TLS handshake with %s failed: %s",
                        check->host, cause->message);
  if (g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return grove_throw (error, GROVE_ERROR_UNAVAILABLE,
                        "%s sent nothing for %u seconds (the stall timeout)", check->host,
                        client->stall_timeout);
  return grove_throw (error, GROVE_ERROR_UNAVAILABLE, "cannot reach %s: %s", check->host,
                      cause->message);
}

static SoupMessage *
new_message (Endpoint *ep, const char *uri, const char *accept)
{
  SoupMessage *msg = soup_message_new (SOUP_METHOD_GET, uri);
  SoupMessageHeaders *headers = NULL;
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&ep->lock);

  if (msg == NULL)
    return NULL;
  headers = soup_message_get_request_headers (msg);
  if (accept != NULL)
    soup_message_headers_replace (headers, "Accept", accept);
  if (ep->authorization != NULL)
    soup_message_headers_replace (headers, "Authorization", ep->authorization);
  return msg;
}

/* sends @msg, turning transport failures into errors users can act on */
static GInputStream *
send_message (GroveRegistryClient *client, GList *cas, SoupMessage *msg, GCancellable *cancellable,
              GError **error)
{
  g_autofree char *host
      = g_uri_get_port (soup_message_get_uri (msg)) > 0
            ? g_strdup_printf ("%s:%d", g_uri_get_host (soup_message_get_uri (msg)),
                               g_uri_get_port (soup_message_get_uri (msg)))
            : g_strdup (g_uri_get_host (soup_message_get_uri (msg)));
  TlsCheck check = { cas, host, 0 };
  g_autoptr (GError) local_error = NULL;
  GInputStream *stream = NULL;
  gulong handler
      = g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_certificate_cb), &check);

  stream = soup_session_send (client->session, msg, cancellable, &local_error);
  g_signal_handler_disconnect (msg, handler);
  if (stream == NULL)
    return throw_transport (client, &check, local_error, error), NULL;
  return stream;
}

/* a failed read of a response body, said so users can act on it */
static gboolean
throw_read (GroveRegistryClient *client, const char *host, const char *what, GError *cause,
            GError **error)
{
  if (g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_CANCELLED) || cause->domain == GROVE_ERROR)
    return g_propagate_error (error, g_error_copy (cause)), FALSE;
  if (g_error_matches (cause, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    return grove_throw (error, GROVE_ERROR_UNAVAILABLE,
                        "registry %s stopped sending %s: nothing for %u seconds (the stall "
                        "timeout)",
                        host, what, client->stall_timeout);
  return grove_throw (error, GROVE_ERROR_UNAVAILABLE, "reading %s from registry %s: %s", what, host,
                      cause->message);
}

static GBytes *
read_all (GroveRegistryClient *client, const char *host, GInputStream *stream, gsize max_size,
          const char *what, GCancellable *cancellable, GError **error)
{
  g_autoptr (GOutputStream) out = g_memory_output_stream_new_resizable ();
  g_autoptr (GError) local_error = NULL;
  guint8 buf[16384];

  for (;;)
    {
      gssize n = g_input_stream_read (stream, buf, sizeof buf, cancellable, &local_error);
      if (n < 0)
        return throw_read (client, host, what, local_error, error), NULL;
      if (n == 0)
        break;
      if (g_memory_output_stream_get_data_size (G_MEMORY_OUTPUT_STREAM (out)) + n > max_size)
        return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                            "%s is more than %" G_GSIZE_FORMAT " bytes", what, max_size),
               NULL;
      if (!g_output_stream_write_all (out, buf, n, NULL, cancellable, error))
        return NULL;
    }
  if (!g_output_stream_close (out, cancellable, error))
    return NULL;
  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (out));
}

/* authentication */

/* parses `Scheme k1="v1",k2=v2` into the scheme and a table of parameters */
static GHashTable *
parse_challenge (const char *header, char **out_scheme)
{
  g_autoptr (GHashTable) params = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  const char *p = header;
  const char *space = strchr (header, ' ');

  *out_scheme = g_ascii_strdown (header, space != NULL ? space - header : -1);
  p = space != NULL ? space + 1 : header + strlen (header);
  while (*p != '\0')
    {
      const char *eq = strchr (p, '=');
      g_autofree char *key = NULL;
      g_autoptr (GString) value = g_string_new (NULL);

      if (eq == NULL)
        break;
      key = g_ascii_strdown (g_strstrip (g_strndup (p, eq - p)), -1);
      p = eq + 1;
      if (*p == '"')
        for (p++; *p != '\0' && *p != '"'; p++)
          g_string_append_c (value, *p == '\\' && p[1] != '\0' ? *++p : *p);
      else
        for (; *p != '\0' && *p != ','; p++)
          g_string_append_c (value, *p);
      if (*p == '"')
        p++;
      while (*p == ',' || *p == ' ')
        p++;
      g_hash_table_insert (params, g_strdup (g_strstrip (key)),
                           g_string_free (g_steal_pointer (&value), FALSE));
    }
  return g_steal_pointer (&params);
}

static char *
basic_authorization (const Credentials *creds)
{
  g_autofree char *pair
      = g_strdup_printf ("%s:%s", creds->username, creds->password != NULL ? creds->password : "");
  g_autofree char *encoded = g_base64_encode ((const guchar *)pair, strlen (pair));

  memset (pair, 0, strlen (pair));
  return g_strdup_printf ("Basic %s", encoded);
}

static char *
token_uri (GroveRegistryClient *client, GHashTable *params, GError **error)
{
  const char *realm = g_hash_table_lookup (params, "realm");
  const char *service = g_hash_table_lookup (params, "service");
  const char *scope = g_hash_table_lookup (params, "scope");
  g_autofree char *default_scope = g_strdup_printf ("repository:%s:pull", client->repository);
  g_autoptr (GString) uri = NULL;

  if (realm == NULL || !g_str_has_prefix (realm, "http"))
    return grove_throw (error, GROVE_ERROR_FAILED,
                        "the registry's bearer challenge names no token service (realm)"),
           NULL;
  uri = g_string_new (realm);
  g_string_append_c (uri, strchr (realm, '?') != NULL ? '&' : '?');
  if (service != NULL)
    {
      g_string_append (uri, "service=");
      g_string_append_uri_escaped (uri, service, NULL, FALSE);
      g_string_append_c (uri, '&');
    }
  g_string_append (uri, "scope=");
  g_string_append_uri_escaped (uri, scope != NULL ? scope : default_scope, NULL, FALSE);
  return g_string_free (g_steal_pointer (&uri), FALSE);
}

static char *
parse_token (GBytes *body, const char *realm, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root = NULL;
  JsonObject *object = NULL;
  const char *token = NULL;

  if (!json_parser_load_from_data (parser, g_bytes_get_data (body, NULL), g_bytes_get_size (body),
                                   NULL)
      || (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return grove_throw (error, GROVE_ERROR_FAILED, "the token service %s sent no JSON object",
                        realm),
           NULL;
  object = json_node_get_object (root);
  token = json_object_get_string_member_with_default (object, "token", NULL);
  if (token == NULL)
    token = json_object_get_string_member_with_default (object, "access_token", NULL);
  if (token == NULL || *token == '\0')
    return grove_throw (error, GROVE_ERROR_FAILED, "the token service %s sent no token", realm),
           NULL;
  return g_strdup (token);
}

/* asks the token service a bearer challenge names for a token */
static char *
fetch_token (GroveRegistryClient *client, Endpoint *ep, GHashTable *params,
             GCancellable *cancellable, GError **error)
{
  const char *realm = g_hash_table_lookup (params, "realm");
  g_autofree char *uri = token_uri (client, params, error);
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GInputStream) stream = NULL;
  g_autoptr (GBytes) body = NULL;
  guint status;

  if (uri == NULL || (msg = soup_message_new (SOUP_METHOD_GET, uri)) == NULL)
    return g_prefix_error (error, "registry %s: ", ep->host), NULL;
  if (ep->creds.username != NULL)
    {
      g_autofree char *authorization = basic_authorization (&ep->creds);
      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                    authorization);
    }
  stream = send_message (client, ep->cas, msg, cancellable, error);
  if (stream == NULL)
    return g_prefix_error (error, "getting a token for registry %s: ", ep->host), NULL;
  status = soup_message_get_status (msg);
  if (status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN)
    return grove_throw (error, GROVE_ERROR_PERMISSION_DENIED,
                        "the token service %s refused %s for repository %s of registry %s "
                        "(HTTP %u)",
                        realm, ep->creds.username ? "the credentials" : "anonymous access",
                        client->repository, ep->host, status),
           NULL;
  if (!SOUP_STATUS_IS_SUCCESSFUL (status))
    return grove_throw (error, GROVE_ERROR_UNAVAILABLE,
                        "the token service %s of registry %s answered HTTP %u %s", realm, ep->host,
                        status, soup_message_get_reason_phrase (msg)),
           NULL;
  body = read_all (client, realm, stream, TOKEN_MAX_SIZE, "a token", cancellable, error);
  return body ? parse_token (body, realm, error) : NULL;
}

/* answers a 401: sets @ep's authorization and *@out_retry when asking again may help */
static gboolean
authenticate (GroveRegistryClient *client, Endpoint *ep, SoupMessage *msg, gboolean *out_retry,
              GCancellable *cancellable, GError **error)
{
  const char *header
      = soup_message_headers_get_one (soup_message_get_response_headers (msg), "WWW-Authenticate");
  g_autofree char *scheme = NULL;
  g_autoptr (GHashTable) params = NULL;
  g_autofree char *authorization = NULL;
  g_autoptr (GMutexLocker) locker = NULL;

  *out_retry = FALSE;
  if (header == NULL || ep->creds.token != NULL)
    return TRUE;
  params = parse_challenge (header, &scheme);
  if (g_str_equal (scheme, "basic") && ep->creds.username != NULL)
    authorization = basic_authorization (&ep->creds);
  else if (g_str_equal (scheme, "bearer"))
    {
      g_autofree char *token = fetch_token (client, ep, params, cancellable, error);
      if (token == NULL)
        return FALSE;
      authorization = g_strdup_printf ("Bearer %s", token);
    }
  if (authorization == NULL)
    return TRUE;
  locker = g_mutex_locker_new (&ep->lock);
  *out_retry = g_strcmp0 (ep->authorization, authorization) != 0;
  g_free (ep->authorization);
  ep->authorization = g_steal_pointer (&authorization);
  return TRUE;
}

static gboolean
check_status (GroveRegistryClient *client, Endpoint *ep, SoupMessage *msg, const char *what,
              GError **error)
{
  guint status = soup_message_get_status (msg);
  const char *reason = soup_message_get_reason_phrase (msg);

  if (SOUP_STATUS_IS_SUCCESSFUL (status))
    return TRUE;
  if (status == SOUP_STATUS_UNAUTHORIZED || status == SOUP_STATUS_FORBIDDEN)
    return grove_throw (error, GROVE_ERROR_PERMISSION_DENIED,
                        "registry %s refused access to %s (HTTP %u %s)%s", ep->host, what, status,
                        reason,
                        ep->creds.username == NULL && ep->creds.token == NULL
                            ? ": no credentials were given for it"
                            : ": the credentials were not accepted");
  if (status == SOUP_STATUS_NOT_FOUND)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "registry %s has no %s", ep->host, what);
  if (status >= 500 || status == 429)
    return grove_throw (error, GROVE_ERROR_UNAVAILABLE, "registry %s answered HTTP %u %s for %s",
                        ep->host, status, reason, what);
  return grove_throw (error, GROVE_ERROR_FAILED, "registry %s answered HTTP %u %s for %s", ep->host,
                      status, reason, what);
}

/* GETs /v2/<repository>/<suffix>, authenticating once if the registry asks */
static GInputStream *
request (GroveRegistryClient *client, Endpoint *ep, const char *suffix, const char *accept,
         const char *what, SoupMessage **out_msg, GCancellable *cancellable, GError **error)
{
  g_autofree char *uri = g_strdup_printf ("%s/v2/%s/%s", ep->base_uri, client->repository, suffix);

  for (guint attempt = 0;; attempt++)
    {
      g_autoptr (SoupMessage) msg = new_message (ep, uri, accept);
      g_autoptr (GInputStream) stream = NULL;
      gboolean retry = FALSE;

      if (msg == NULL)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "'%s' is no valid URI", uri), NULL;
      stream = send_message (client, ep->cas, msg, cancellable, error);
      if (stream == NULL)
        return NULL;
      if (soup_message_get_status (msg) == SOUP_STATUS_UNAUTHORIZED && attempt == 0
          && !authenticate (client, ep, msg, &retry, cancellable, error))
        return NULL;
      if (retry)
        continue;
      if (!check_status (client, ep, msg, what, error))
        return NULL;
      *out_msg = g_steal_pointer (&msg);
      return g_steal_pointer (&stream);
    }
}

/* manifests */

static const char *
known_manifest_type (const char *type)
{
  static const char *const types[] = {
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    NULL,
  };
  for (guint i = 0; type != NULL && types[i] != NULL; i++)
    if (g_str_equal (type, types[i]))
      return types[i];
  return NULL;
}

/* the Content-Type, unless it is generic and the manifest says what it is */
static char *
manifest_media_type (SoupMessage *msg, GBytes *body)
{
  const char *header
      = soup_message_headers_get_content_type (soup_message_get_response_headers (msg), NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root = NULL;
  const char *inner = NULL;

  if (known_manifest_type (header) != NULL)
    return g_strdup (header);
  if (json_parser_load_from_data (parser, g_bytes_get_data (body, NULL), g_bytes_get_size (body),
                                  NULL)
      && (root = json_parser_get_root (parser)) != NULL && JSON_NODE_HOLDS_OBJECT (root))
    inner = json_object_get_string_member_with_default (json_node_get_object (root), "mediaType",
                                                        NULL);
  if (inner != NULL)
    return g_strdup (inner);
  return g_strdup (header != NULL ? header : "(none)");
}

static GBytes *
manifest_from (GroveRegistryClient *client, Endpoint *ep, const char *tag_or_digest,
               const char *what, char **out_media_type, GCancellable *cancellable, GError **error)
{
  g_autofree char *suffix = g_strdup_printf ("manifests/%s", tag_or_digest);
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GInputStream) stream = NULL;
  g_autoptr (GBytes) body = NULL;

  stream = request (client, ep, suffix, manifest_accept, what, &msg, cancellable, error);
  if (stream == NULL)
    return NULL;
  body = read_all (client, ep->host, stream, MANIFEST_MAX_SIZE, what, cancellable, error);
  if (body == NULL)
    return NULL;
  *out_media_type = manifest_media_type (msg, body);
  return g_steal_pointer (&body);
}

/**
 * grove_registry_client_get_manifest:
 * @client: a client
 * @tag_or_digest: a tag, or "sha256:<hex>"
 * @out_media_type: (out) (transfer full): the manifest's media type
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Fetches a manifest or index. The first call tries the mirrors in order, then the
 * registry; whichever answers serves every later request of this client. The bytes are not
 * verified here: the caller checks them against the digest.
 *
 * Returns: (transfer full) (nullable): the manifest bytes
 */
GBytes *
grove_registry_client_get_manifest (GroveRegistryClient *client, const char *tag_or_digest,
                                    char **out_media_type, GCancellable *cancellable,
                                    GError **error)
{
  gboolean by_digest = g_str_has_prefix (tag_or_digest, "sha256:");
  g_autofree char *what = g_strdup_printf ("manifest %s%s%s", client->repository,
                                           by_digest ? "@" : ":", tag_or_digest);

  g_return_val_if_fail (client != NULL && tag_or_digest != NULL, NULL);
  if (client->chosen != NULL)
    return manifest_from (client, client->chosen, tag_or_digest, what, out_media_type, cancellable,
                          error);
  for (guint i = 0; i < client->endpoints->len; i++)
    {
      Endpoint *ep = client->endpoints->pdata[i];
      g_autoptr (GError) local_error = NULL;
      GBytes *bytes = manifest_from (client, ep, tag_or_digest, what, out_media_type, cancellable,
                                     &local_error);

      if (bytes != NULL)
        {
          client->chosen = ep;
          return bytes;
        }
      if (i + 1 == client->endpoints->len
          || g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return g_propagate_error (error, g_steal_pointer (&local_error)), NULL;
      g_message ("mirror %s: %s; trying the next", ep->host, local_error->message);
    }
  g_return_val_if_reached (NULL);
}

/* the index of the endpoint that served the manifest, else the origin's */
static guint
chosen_index (GroveRegistryClient *client)
{
  guint index = client->endpoints->len - 1;

  if (client->chosen != NULL)
    g_ptr_array_find (client->endpoints, client->chosen, &index);
  return index;
}

/*
 * GETs a blob from the endpoint that served the manifest. One that lacks it (or fails to
 * answer for it) hands it on to the endpoints after it, the origin last, as containerd does
 * with its mirrors. *@out_ep gets the endpoint that answered.
 */
static GInputStream *
request_blob (GroveRegistryClient *client, const char *digest, const char *what, Endpoint **out_ep,
              SoupMessage **out_msg, GCancellable *cancellable, GError **error)
{
  g_autofree char *suffix = g_strdup_printf ("blobs/%s", digest);

  for (guint i = chosen_index (client); i < client->endpoints->len; i++)
    {
      Endpoint *ep = client->endpoints->pdata[i];
      g_autoptr (GError) local_error = NULL;
      GInputStream *body
          = request (client, ep, suffix, NULL, what, out_msg, cancellable, &local_error);

      if (body != NULL)
        {
          *out_ep = ep;
          return body;
        }
      g_clear_object (out_msg);
      if (i + 1 == client->endpoints->len
          || g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return g_propagate_error (error, g_steal_pointer (&local_error)), NULL;
      g_message ("mirror %s: %s; trying the next", ep->host, local_error->message);
    }
  g_return_val_if_reached (NULL);
}

/**
 * grove_registry_client_get_blob_bytes:
 * @client: a client
 * @digest: the blob's digest
 * @max_size: refuse a blob bigger than this
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Fetches a small blob (an image config) whole; the caller verifies it.
 *
 * Returns: (transfer full) (nullable): the blob
 */
GBytes *
grove_registry_client_get_blob_bytes (GroveRegistryClient *client, const char *digest,
                                      gsize max_size, GCancellable *cancellable, GError **error)
{
  Endpoint *ep = NULL;
  g_autofree char *what = g_strdup_printf ("blob %s of %s", digest, client->repository);
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GInputStream) stream = NULL;

  g_return_val_if_fail (client != NULL && digest != NULL, NULL);
  stream = request_blob (client, digest, what, &ep, &msg, cancellable, error);
  if (stream == NULL)
    return NULL;
  return read_all (client, ep->host, stream, max_size, what, cancellable, error);
}

/* a blob's HTTP body: counts bytes for progress and says what went wrong in registry terms */

#define GROVE_TYPE_REGISTRY_STREAM (grove_registry_stream_get_type ())
G_DECLARE_FINAL_TYPE (GroveRegistryStream, grove_registry_stream, GROVE, REGISTRY_STREAM,
                      GFilterInputStream)

struct _GroveRegistryStream
{
  GFilterInputStream parent_instance;
  GroveRegistryClient *client;
  char *host;
  char *what;
  goffset expected;
  goffset done;
  GroveRegistryReadFunc read_func;
  gpointer read_data;
};

G_DEFINE_TYPE (GroveRegistryStream, grove_registry_stream, G_TYPE_FILTER_INPUT_STREAM)

static gssize
grove_registry_stream_read (GInputStream *stream, void *buffer, gsize count,
                            GCancellable *cancellable, GError **error)
{
  GroveRegistryStream *self = GROVE_REGISTRY_STREAM (stream);
  GInputStream *base = g_filter_input_stream_get_base_stream (G_FILTER_INPUT_STREAM (stream));
  g_autoptr (GError) local_error = NULL;
  gssize n = g_input_stream_read (base, buffer, count, cancellable, &local_error);

  if (n < 0)
    return throw_read (self->client, self->host, self->what, local_error, error), -1;
  if (n == 0 && self->expected > 0 && self->done < self->expected)
    return grove_throw (error, GROVE_ERROR_UNAVAILABLE,
                        "registry %s closed the connection after %" G_GOFFSET_FORMAT
                        " of %" G_GOFFSET_FORMAT " bytes of %s",
                        self->host, self->done, self->expected, self->what),
           -1;
  self->done += n;
  if (n > 0 && self->read_func != NULL)
    self->read_func (n, self->read_data);
  return n;
}

static void
grove_registry_stream_finalize (GObject *object)
{
  GroveRegistryStream *self = GROVE_REGISTRY_STREAM (object);

  g_free (self->host);
  g_free (self->what);
  G_OBJECT_CLASS (grove_registry_stream_parent_class)->finalize (object);
}

static void
grove_registry_stream_class_init (GroveRegistryStreamClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = grove_registry_stream_finalize;
  G_INPUT_STREAM_CLASS (klass)->read_fn = grove_registry_stream_read;
}

static void
grove_registry_stream_init (GroveRegistryStream *self)
{
}

/**
 * grove_registry_client_open_blob:
 * @client: a client
 * @digest: the blob's digest
 * @read_func: (nullable): told of every read
 * @read_data: closure for @read_func
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Opens a blob for streaming. Read errors come out in the %GROVE_ERROR domain
 * (%GROVE_ERROR_UNAVAILABLE for a stall or a lost connection); the caller verifies the
 * digest as it reads.
 *
 * Returns: (transfer full) (nullable): the blob's bytes as they arrive
 */
GInputStream *
grove_registry_client_open_blob (GroveRegistryClient *client, const char *digest,
                                 GroveRegistryReadFunc read_func, gpointer read_data,
                                 GCancellable *cancellable, GError **error)
{
  Endpoint *ep = NULL;
  g_autofree char *what = g_strdup_printf ("blob %s of %s", digest, client->repository);
  g_autoptr (SoupMessage) msg = NULL;
  g_autoptr (GInputStream) body = NULL;
  GroveRegistryStream *stream = NULL;

  g_return_val_if_fail (client != NULL && digest != NULL, NULL);
  body = request_blob (client, digest, what, &ep, &msg, cancellable, error);
  if (body == NULL)
    return NULL;
  stream = g_object_new (GROVE_TYPE_REGISTRY_STREAM, "base-stream", body, NULL);
  stream->client = client;
  stream->host = g_strdup (ep->host);
  stream->what = g_steal_pointer (&what);
  stream->expected
      = soup_message_headers_get_content_length (soup_message_get_response_headers (msg));
  stream->read_func = read_func;
  stream->read_data = read_data;
  return G_INPUT_STREAM (stream);
}
