/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveStreamServer"

/*
 * The streaming server behind CRI Exec, Attach and PortForward: those calls only return a
 * URL `http://HOST:PORT/<kind>/<token>`; the client then connects here and upgrades the
 * request to a WebSocket speaking the Kubernetes channel protocol (one byte in front of
 * each message names the channel; v5 adds closing a channel with [255, channel]). A token
 * stands for one request, works once, and expires after a minute. Clients may upgrade to
 * SPDY/3.1 instead (grove-stream-spdy.c). The sessions themselves
 * (GroveStreamSession) know nothing of the protocol.
 */

#include <libsoup/soup.h>
#include <string.h>

#include "grove-stream-server.h"
#include "grove-stream-spdy.h"
#include "grove-utils.h"

/* v5 closes a channel with a message of two bytes: this marker, then the channel */
#define CLOSE_CHANNEL_MARKER 255

static const char *const channel_protocols[] = {
  "v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io",
  "v2.channel.k8s.io", "channel.k8s.io",    NULL,
};

static const char *const kind_paths[] = { "/exec/", "/attach/", "/portforward/" };

typedef struct
{
  GroveStreamRequest *request;
  gint64 expires; /* monotonic microseconds */
} Token;

static void
token_free (Token *token)
{
  grove_stream_request_free (token->request);
  g_free (token);
}

struct _GroveStreamServer
{
  GObject parent_instance;
  GroveEngine *engine;
  SoupServer *server;
  char *base_url;
  guint lifetime;
  GHashTable *tokens; /* token → Token */
  GPtrArray *sockets; /* WsSession, live */
  GPtrArray *spdy;    /* GroveStreamSpdy, live */
};

/* one WebSocket carrying one session */
typedef struct
{
  GroveStreamServer *server; /* borrowed: the server closes its sockets before it goes */
  SoupWebsocketConnection *ws;
  GroveStreamSession *session;
  gboolean v5;
} WsSession;

G_DEFINE_TYPE (GroveStreamServer, grove_stream_server, G_TYPE_OBJECT)

static void
ws_session_free (WsSession *ws_session)
{
  if (ws_session->session != NULL)
    g_signal_handlers_disconnect_by_data (ws_session->session, ws_session);
  if (ws_session->ws != NULL)
    g_signal_handlers_disconnect_by_data (ws_session->ws, ws_session);
  g_clear_object (&ws_session->session);
  g_clear_object (&ws_session->ws);
  g_free (ws_session);
}

static void
grove_stream_server_finalize (GObject *object)
{
  GroveStreamServer *self = GROVE_STREAM_SERVER (object);

  grove_stream_server_shutdown (self);
  g_clear_pointer (&self->tokens, g_hash_table_unref);
  g_clear_pointer (&self->sockets, g_ptr_array_unref);
  g_clear_pointer (&self->spdy, g_ptr_array_unref);
  g_clear_pointer (&self->base_url, g_free);
  g_clear_object (&self->server);
  g_clear_object (&self->engine);
  G_OBJECT_CLASS (grove_stream_server_parent_class)->finalize (object);
}

static void
grove_stream_server_class_init (GroveStreamServerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = grove_stream_server_finalize;
}

static void
grove_stream_server_init (GroveStreamServer *self)
{
  self->tokens
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)token_free);
  self->sockets = g_ptr_array_new_with_free_func ((GDestroyNotify)ws_session_free);
  self->spdy = g_ptr_array_new_with_free_func ((GDestroyNotify)grove_stream_spdy_free);
}

/* "/exec/TOKEN" → the kind and the token; FALSE for any other path */
static gboolean
parse_path (const char *path, GroveStreamKind *out_kind, const char **out_token)
{
  for (guint i = 0; i < G_N_ELEMENTS (kind_paths); i++)
    if (g_str_has_prefix (path, kind_paths[i]) && path[strlen (kind_paths[i])] != '\0'
        && strchr (path + strlen (kind_paths[i]), '/') == NULL)
      {
        *out_kind = (GroveStreamKind)i;
        *out_token = path + strlen (kind_paths[i]);
        return TRUE;
      }
  return FALSE;
}

static void
drop_expired (GroveStreamServer *self)
{
  GHashTableIter iter;
  gpointer value;
  gint64 now = g_get_monotonic_time ();

  g_hash_table_iter_init (&iter, self->tokens);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((Token *)value)->expires <= now)
      g_hash_table_iter_remove (&iter);
}

/* the token of @path if it is known, unexpired and of the path's kind */
static Token *
lookup_token (GroveStreamServer *self, const char *path, const char **out_token)
{
  GroveStreamKind kind;
  const char *token_text = NULL;
  Token *token = NULL;

  drop_expired (self);
  if (!parse_path (path, &kind, &token_text))
    return NULL;
  token = g_hash_table_lookup (self->tokens, token_text);
  if (token == NULL || token->request->kind != kind)
    return NULL;
  *out_token = token_text;
  return token;
}

static void
session_send_cb (GroveStreamSession *session, guint channel, GBytes *data, WsSession *ws_session)
{
  gsize len = g_bytes_get_size (data);
  g_autofree guint8 *message = g_malloc (len + 1);

  if (soup_websocket_connection_get_state (ws_session->ws) != SOUP_WEBSOCKET_STATE_OPEN)
    return;
  message[0] = (guint8)channel;
  memcpy (message + 1, g_bytes_get_data (data, NULL), len);
  soup_websocket_connection_send_binary (ws_session->ws, message, len + 1);
}

static void
session_finished_cb (GroveStreamSession *session, WsSession *ws_session)
{
  /* libsoup sends what is queued before the close frame */
  if (soup_websocket_connection_get_state (ws_session->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (ws_session->ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
}

static void
ws_message_cb (SoupWebsocketConnection *ws, SoupWebsocketDataType type, GBytes *message,
               WsSession *ws_session)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (message, &len);
  g_autoptr (GBytes) payload = NULL;

  if (type != SOUP_WEBSOCKET_DATA_BINARY || len == 0)
    return;
  if (ws_session->v5 && data[0] == CLOSE_CHANNEL_MARKER && len == 2)
    return grove_stream_session_channel_closed (ws_session->session, data[1]);
  payload = g_bytes_new_from_bytes (message, 1, len - 1);
  /* an empty stdin message from older clients means nothing; v5 closes explicitly */
  if (len > 1)
    grove_stream_session_receive (ws_session->session, data[0], payload);
}

static gboolean
forget_socket_cb (gpointer user_data)
{
  WsSession *ws_session = user_data;

  g_ptr_array_remove (ws_session->server->sockets, ws_session);
  return G_SOURCE_REMOVE;
}

static void
ws_closed_cb (SoupWebsocketConnection *ws, WsSession *ws_session)
{
  g_debug ("WebSocket closed (code %u)", soup_websocket_connection_get_close_code (ws));
  if (!grove_stream_session_is_finished (ws_session->session))
    grove_stream_session_client_gone (ws_session->session);
  /* not while libsoup is still emitting ::closed on it */
  g_signal_handlers_disconnect_by_data (ws, ws_session);
  g_idle_add_full (G_PRIORITY_DEFAULT, forget_socket_cb, ws_session, NULL);
}

static void
refuse (SoupServerMessage *msg, guint status, const char *text)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY, text, strlen (text));
}

/* a client gone before its 101 was written: the session never started */
static void
message_finished_cb (SoupServerMessage *msg, gpointer user_data)
{
  WsSession *ws_session = user_data;

  g_signal_handlers_disconnect_by_data (msg, ws_session);
  if (ws_session->ws == NULL)
    ws_session_free (ws_session);
}

/* the 101 is on the wire: the connection is the WebSocket's now */
static void
upgraded_cb (SoupServerMessage *msg, gpointer user_data)
{
  WsSession *ws_session = user_data;
  GroveStreamServer *self = ws_session->server;
  g_autoptr (GIOStream) stream = soup_server_message_steal_connection (msg);
  const char *protocol = soup_message_headers_get_one (
      soup_server_message_get_response_headers (msg), "Sec-WebSocket-Protocol");

  g_signal_handlers_disconnect_by_data (msg, ws_session);
  ws_session->ws
      = soup_websocket_connection_new (stream, soup_server_message_get_uri (msg),
                                       SOUP_WEBSOCKET_CONNECTION_SERVER, NULL, protocol, NULL);
  ws_session->v5 = g_strcmp0 (protocol, "v5.channel.k8s.io") == 0;
  g_ptr_array_add (self->sockets, ws_session);
  g_signal_connect (ws_session->ws, "message", G_CALLBACK (ws_message_cb), ws_session);
  g_signal_connect (ws_session->ws, "closed", G_CALLBACK (ws_closed_cb), ws_session);
  g_signal_connect (ws_session->session, "send", G_CALLBACK (session_send_cb), ws_session);
  g_signal_connect (ws_session->session, "finished", G_CALLBACK (session_finished_cb), ws_session);
  /* v1 (channel.k8s.io) reports errors as text; v2 and later as a JSON Status */
  grove_stream_session_start (ws_session->session,
                              protocol != NULL && g_str_has_prefix (protocol, "v"));
}

/* ---- SPDY/3.1 ---- */

/* what a SPDY client may ask for, best first: v4 reports the exit code as a JSON Status */
static const char *const spdy_protocols[] = {
  "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io", NULL,
};
static const char *const spdy_port_forward_protocols[] = { "portforward.k8s.io", NULL };

static gboolean
wants_spdy (SoupServerMessage *msg)
{
  const char *upgrade
      = soup_message_headers_get_list (soup_server_message_get_request_headers (msg), "Upgrade");

  return upgrade != NULL && g_ascii_strncasecmp (upgrade, "SPDY/3.1", 8) == 0;
}

/* the best version both sides know, from the client's X-Stream-Protocol-Version headers */
static const char *
pick_spdy_protocol (SoupServerMessage *msg, GroveStreamKind kind)
{
  const char *offered = soup_message_headers_get_list (
      soup_server_message_get_request_headers (msg), "X-Stream-Protocol-Version");
  const char *const *ours
      = kind == GROVE_STREAM_PORT_FORWARD ? spdy_port_forward_protocols : spdy_protocols;
  g_auto (GStrv) theirs = g_strsplit (offered != NULL ? offered : "", ",", -1);

  for (guint i = 0; theirs[i] != NULL; i++)
    g_strstrip (theirs[i]);
  for (guint i = 0; ours[i] != NULL; i++)
    if (g_strv_contains ((const char *const *)theirs, ours[i]))
      return ours[i];
  return NULL;
}

typedef struct
{
  GroveStreamServer *server;
  GroveStreamRequest *request;
  const char *protocol;
} SpdyUpgrade;

static void
spdy_done (GroveStreamSpdy *session, gpointer user_data)
{
  GroveStreamServer *self = user_data;

  g_ptr_array_remove (self->spdy, session);
}

static void
spdy_upgraded_cb (SoupServerMessage *msg, gpointer user_data)
{
  g_autofree SpdyUpgrade *upgrade = user_data;
  g_autoptr (GroveStreamRequest) request = upgrade->request;
  GroveStreamServer *self = upgrade->server;
  g_autoptr (GIOStream) stream = soup_server_message_steal_connection (msg);

  g_signal_handlers_disconnect_by_data (msg, upgrade);
  g_ptr_array_add (self->spdy, grove_stream_spdy_new (self->engine, stream, request,
                                                      upgrade->protocol, spdy_done, self));
}

static void
spdy_message_finished_cb (SoupServerMessage *msg, gpointer user_data)
{
  SpdyUpgrade *upgrade = user_data;

  g_signal_handlers_disconnect_by_data (msg, upgrade);
  grove_stream_request_free (upgrade->request);
  g_free (upgrade);
}

static void
upgrade_to_spdy (GroveStreamServer *self, SoupServerMessage *msg, Token *token,
                 const char *token_text)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  const char *protocol = pick_spdy_protocol (msg, token->request->kind);
  SpdyUpgrade *upgrade = NULL;

  if (protocol == NULL)
    return refuse (msg, SOUP_STATUS_FORBIDDEN,
                   "no X-Stream-Protocol-Version this server speaks was offered\n");
  upgrade = g_new0 (SpdyUpgrade, 1);
  upgrade->server = self;
  upgrade->request = grove_stream_request_copy (token->request);
  upgrade->protocol = protocol;
  /* used once: a second client with this token gets a 404 */
  g_hash_table_remove (self->tokens, token_text);
  soup_server_message_set_status (msg, SOUP_STATUS_SWITCHING_PROTOCOLS, NULL);
  soup_message_headers_replace (headers, "Connection", "Upgrade");
  soup_message_headers_replace (headers, "Upgrade", "SPDY/3.1");
  soup_message_headers_replace (headers, "X-Stream-Protocol-Version", protocol);
  g_signal_connect (msg, "wrote-informational", G_CALLBACK (spdy_upgraded_cb), upgrade);
  g_signal_connect (msg, "finished", G_CALLBACK (spdy_message_finished_cb), upgrade);
}

/*
 * Every request: the token must be known, unused and unexpired (else 404, before any
 * upgrade), and the request must upgrade to a WebSocket with a channel protocol.
 */
static void
request_cb (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
            gpointer user_data)
{
  GroveStreamServer *self = user_data;
  g_autoptr (GError) local_error = NULL;
  const char *token_text = NULL;
  Token *token = lookup_token (self, path, &token_text);
  WsSession *ws_session = NULL;

  if (token == NULL)
    {
      g_debug ("refused %s: unknown, used or expired token", path);
      return refuse (msg, SOUP_STATUS_NOT_FOUND, "unknown, used or expired token\n");
    }
  if (wants_spdy (msg))
    return upgrade_to_spdy (self, msg, token, token_text);
  if (!soup_websocket_server_check_handshake (msg, NULL, (char **)channel_protocols, NULL,
                                              &local_error))
    {
      g_autofree char *text = g_strdup_printf (
          "upgrade to a WebSocket with a channel.k8s.io protocol: %s\n", local_error->message);
      return refuse (msg, SOUP_STATUS_BAD_REQUEST, text);
    }
  soup_websocket_server_process_handshake (msg, NULL, (char **)channel_protocols, NULL, NULL);
  ws_session = g_new0 (WsSession, 1);
  ws_session->server = self;
  ws_session->session = grove_stream_session_new (self->engine, token->request);
  /* used once: a second client with this token gets a 404 */
  g_hash_table_remove (self->tokens, token_text);
  g_signal_connect (msg, "wrote-informational", G_CALLBACK (upgraded_cb), ws_session);
  g_signal_connect (msg, "finished", G_CALLBACK (message_finished_cb), ws_session);
}

static gboolean
listen_on (GroveStreamServer *self, const char *address, guint port, gboolean https, GError **error)
{
  g_autoptr (GInetAddress) inet = g_inet_address_new_from_string (address);
  g_autoptr (GSocketAddress) socket_address = NULL;
  GSList *uris = NULL;
  g_autofree char *text = NULL;

  if (inet == NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "the streaming server's address '%s' is not an IP address", address);
  socket_address = g_inet_socket_address_new (inet, port);
  if (!soup_server_listen (self->server, socket_address, https ? SOUP_SERVER_LISTEN_HTTPS : 0,
                           error))
    return g_prefix_error (error, "streaming server on %s:%u: ", address, port), FALSE;
  uris = soup_server_get_uris (self->server);
  text = g_uri_to_string (uris->data);
  g_slist_free_full (uris, (GDestroyNotify)g_uri_unref);
  /* "http://127.0.0.1:PORT/" without its last slash */
  if (g_str_has_suffix (text, "/"))
    text[strlen (text) - 1] = '\0';
  self->base_url = g_steal_pointer (&text);
  return TRUE;
}

/**
 * grove_stream_server_new:
 * @engine: the engine sessions run in
 * @address: the IP address to listen on (Grove's default: 127.0.0.1)
 * @port: the port, 0 for one the kernel picks
 * @token_lifetime_seconds: how long a URL can be used
 * @certificate: (nullable): serve HTTPS with this certificate (and its private key)
 * @error: return location
 *
 * Returns: (transfer full) (nullable): a listening server
 */
GroveStreamServer *
grove_stream_server_new (GroveEngine *engine, const char *address, guint port,
                         guint token_lifetime_seconds, GTlsCertificate *certificate, GError **error)
{
  g_autoptr (GroveStreamServer) self = g_object_new (GROVE_TYPE_STREAM_SERVER, NULL);

  g_return_val_if_fail (GROVE_IS_ENGINE (engine), NULL);
  self->engine = g_object_ref (engine);
  self->lifetime = token_lifetime_seconds;
  self->server = soup_server_new ("server-header", "grove-streaming", NULL);
  soup_server_add_handler (self->server, NULL, request_cb, self, NULL);
  if (certificate != NULL)
    soup_server_set_tls_certificate (self->server, certificate);
  if (!listen_on (self, address, port, certificate != NULL, error))
    return NULL;
  g_info ("streaming server at %s", self->base_url);
  return g_steal_pointer (&self);
}

/**
 * grove_stream_server_get_base_url:
 * @self: a server
 *
 * Returns: `http://HOST:PORT`, or `https://` with a certificate
 */
const char *
grove_stream_server_get_base_url (GroveStreamServer *self)
{
  g_return_val_if_fail (GROVE_IS_STREAM_SERVER (self), NULL);
  return self->base_url;
}

/**
 * grove_stream_server_add:
 * @self: a server
 * @request: what the URL will do
 *
 * Returns: (transfer full): a single-use URL for @request, valid for the token lifetime
 */
char *
grove_stream_server_add (GroveStreamServer *self, const GroveStreamRequest *request)
{
  guint8 random[18];
  g_autofree char *token_text = NULL;
  Token *token = g_new0 (Token, 1);

  g_return_val_if_fail (GROVE_IS_STREAM_SERVER (self), NULL);
  drop_expired (self);
  for (guint i = 0; i < sizeof random; i += 4)
    {
      guint32 word = g_random_int ();
      memcpy (random + i, &word, MIN (4, sizeof random - i));
    }
  token_text = g_base64_encode (random, sizeof random);
  /* URL-safe: base64 of 18 bytes has no padding; swap the two characters URLs dislike */
  g_strdelimit (token_text, "+", '-');
  g_strdelimit (token_text, "/", '_');
  token->request = grove_stream_request_copy (request);
  token->expires = g_get_monotonic_time () + (gint64)self->lifetime * G_USEC_PER_SEC;
  g_hash_table_insert (self->tokens, g_strdup (token_text), token);
  return g_strconcat (self->base_url, kind_paths[request->kind], token_text, NULL);
}

/**
 * grove_stream_server_get_n_sessions:
 * @self: a server
 *
 * Returns: the sessions connected now
 */
guint
grove_stream_server_get_n_sessions (GroveStreamServer *self)
{
  g_return_val_if_fail (GROVE_IS_STREAM_SERVER (self), 0);
  return self->sockets->len + self->spdy->len;
}

/**
 * grove_stream_server_shutdown:
 * @self: a server
 *
 * Stops listening, ends every session (exec'd processes are killed) and forgets the tokens.
 */
void
grove_stream_server_shutdown (GroveStreamServer *self)
{
  g_return_if_fail (GROVE_IS_STREAM_SERVER (self));
  while (self->sockets->len > 0)
    {
      WsSession *ws_session = self->sockets->pdata[self->sockets->len - 1];

      g_signal_handlers_disconnect_by_data (ws_session->ws, ws_session);
      grove_stream_session_client_gone (ws_session->session);
      if (soup_websocket_connection_get_state (ws_session->ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_close (ws_session->ws, SOUP_WEBSOCKET_CLOSE_GOING_AWAY,
                                         "groved is shutting down");
      g_ptr_array_remove_index (self->sockets, self->sockets->len - 1);
    }
  while (self->spdy->len > 0)
    {
      grove_stream_spdy_shutdown (self->spdy->pdata[self->spdy->len - 1]);
      g_ptr_array_remove_index (self->spdy, self->spdy->len - 1);
    }
  g_hash_table_remove_all (self->tokens);
  if (self->server != NULL)
    soup_server_disconnect (self->server);
}
