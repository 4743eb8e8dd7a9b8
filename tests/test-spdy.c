/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestSpdy"

/*
 * GroveSpdyConnection against tests/spdy_client.py. A GSocketService on 127.0.0.1 answers the
 * HTTP upgrade by hand and hands the socket to a GroveSpdyConnection; what the connection does
 * with streams depends on the request path:
 *   /echo         every stream is replied to with its own headers, its data is sent back and
 *                 its FIN returned; "action: reset" refuses it, "action: close" answers "bye"
 *                 and closes the connection;
 *   /exec         a fake exec as kubelet serves it: stdin and resize data go to stdout; when
 *                 stdin closes, stderr says how much came, and the error stream carries a v4
 *                 Status, exit code 3 if stdin had data;
 *   /portforward  a fake port-forward: the data stream's bytes come back after "port P request
 *                 R: "; port 1 answers on the error stream instead.
 * Each case runs one selftest of the client as a subprocess, then checks what the server saw.
 */

#include <string.h>

#include "grove-spdy-connection.h"
#include "grove-utils.h"

typedef struct _Fixture Fixture;

typedef struct
{
  Fixture *fx;
  GroveSpdyConnection *connection;
  char *path;
  GHashTable *ids;     /* "<streamtype>" or "<streamtype>/<requestid>" → stream id */
  GHashTable *keys;    /* stream id → that key */
  GHashTable *ports;   /* stream id → port header */
  GHashTable *buffers; /* stream id → GByteArray, data received (port-forward) */
  gsize stdin_bytes;
  guint n_opened;
  guint max_streams;
  guint n_resets;
  guint n_drained;
  gboolean closed;
  GError *closed_error;
} Peer;

struct _Fixture
{
  GSocketService *service;
  guint16 port;
  GPtrArray *peers;
};

static void
peer_free (Peer *peer)
{
  g_clear_object (&peer->connection);
  g_free (peer->path);
  g_hash_table_unref (peer->ids);
  g_hash_table_unref (peer->keys);
  g_hash_table_unref (peer->ports);
  g_hash_table_unref (peer->buffers);
  g_clear_error (&peer->closed_error);
  g_free (peer);
}

static gboolean
send_text (Peer *peer, guint32 stream_id, const char *text, gboolean fin)
{
  g_autoptr (GBytes) bytes = g_bytes_new (text, strlen (text));
  g_autoptr (GError) error = NULL;
  gboolean ok = grove_spdy_connection_send_data (peer->connection, stream_id, bytes, fin, &error);

  g_assert_no_error (error);
  return ok;
}

static guint32
stream_of (Peer *peer, const char *key)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (peer->ids, key));
}

static void
echo_opened (Peer *peer, guint32 stream_id, GHashTable *headers)
{
  g_autoptr (GError) error = NULL;
  const char *action = g_hash_table_lookup (headers, "action");
  g_autoptr (GBytes) early = g_bytes_new_static ("early", 5);

  if (g_strcmp0 (action, "reset") == 0)
    {
      grove_spdy_connection_reset (peer->connection, stream_id, GROVE_SPDY_STATUS_REFUSED_STREAM);
      return;
    }
  /* data may only follow the reply, and a stream is replied to once */
  g_assert_false (
      grove_spdy_connection_send_data (peer->connection, stream_id, early, FALSE, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_WRONG_STATE);
  g_clear_error (&error);
  grove_spdy_connection_reply (peer->connection, stream_id, headers, FALSE, &error);
  g_assert_no_error (error);
  g_assert_false (grove_spdy_connection_reply (peer->connection, stream_id, NULL, FALSE, &error));
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_WRONG_STATE);
  if (g_strcmp0 (action, "close") == 0)
    {
      send_text (peer, stream_id, "bye", TRUE);
      grove_spdy_connection_close (peer->connection);
    }
}

static void
stream_opened_cb (GroveSpdyConnection *connection, guint stream_id, GHashTable *headers, Peer *peer)
{
  g_autoptr (GError) error = NULL;
  const char *kind = g_hash_table_lookup (headers, "streamtype");
  const char *request_id = g_hash_table_lookup (headers, "requestid");
  g_autofree char *key = NULL;

  peer->n_opened++;
  peer->max_streams = MAX (peer->max_streams, grove_spdy_connection_get_n_streams (connection));
  if (g_str_equal (peer->path, "/echo"))
    {
      echo_opened (peer, stream_id, headers);
      return;
    }
  g_assert_nonnull (kind);
  key = request_id != NULL ? g_strdup_printf ("%s/%s", kind, request_id) : g_strdup (kind);
  g_hash_table_insert (peer->ids, g_strdup (key), GUINT_TO_POINTER (stream_id));
  g_hash_table_insert (peer->keys, GUINT_TO_POINTER (stream_id), g_steal_pointer (&key));
  if (g_hash_table_contains (headers, "port"))
    g_hash_table_insert (peer->ports, GUINT_TO_POINTER (stream_id),
                         g_strdup (g_hash_table_lookup (headers, "port")));
  grove_spdy_connection_reply (connection, stream_id, NULL, FALSE, &error);
  g_assert_no_error (error);
}

static void
data_cb (GroveSpdyConnection *connection, guint stream_id, GBytes *data, Peer *peer)
{
  g_autoptr (GError) error = NULL;
  const char *key = g_hash_table_lookup (peer->keys, GUINT_TO_POINTER (stream_id));
  GByteArray *buffer = NULL;

  g_assert_cmpuint (g_bytes_get_size (data), >, 0);
  if (g_str_equal (peer->path, "/echo"))
    {
      grove_spdy_connection_send_data (connection, stream_id, data, FALSE, &error);
      g_assert_no_error (error);
      return;
    }
  g_assert_nonnull (key);
  if (g_str_equal (key, "stdin") || g_str_equal (key, "resize"))
    {
      if (g_str_equal (key, "stdin"))
        peer->stdin_bytes += g_bytes_get_size (data);
      grove_spdy_connection_send_data (connection, stream_of (peer, "stdout"), data, FALSE, &error);
      g_assert_no_error (error);
      return;
    }
  buffer = g_hash_table_lookup (peer->buffers, GUINT_TO_POINTER (stream_id));
  if (buffer == NULL)
    {
      buffer = g_byte_array_new ();
      g_hash_table_insert (peer->buffers, GUINT_TO_POINTER (stream_id), buffer);
    }
  g_byte_array_append (buffer, g_bytes_get_data (data, NULL), g_bytes_get_size (data));
}

static void
exec_finish (Peer *peer)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *summary = g_strdup_printf ("stdin: %zu bytes\n", peer->stdin_bytes);
  const char *status
      = peer->stdin_bytes > 0
            ? "{\"metadata\":{},\"status\":\"Failure\",\"message\":\"command "
              "terminated with non-zero exit code\",\"reason\":\"NonZeroExitCode\","
              "\"details\":{\"causes\":[{\"reason\":\"ExitCode\",\"message\":\"3\"}]}}"
            : "{\"metadata\":{},\"status\":\"Success\"}";

  grove_spdy_connection_close_stream (peer->connection, stream_of (peer, "stdout"), &error);
  g_assert_no_error (error);
  if (stream_of (peer, "stderr") != 0)
    send_text (peer, stream_of (peer, "stderr"), summary, TRUE);
  if (stream_of (peer, "resize") != 0)
    grove_spdy_connection_close_stream (peer->connection, stream_of (peer, "resize"), &error);
  g_assert_no_error (error);
  send_text (peer, stream_of (peer, "error"), status, TRUE);
}

static void
port_forward_finish (Peer *peer, guint32 stream_id, const char *request_id)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *error_key = g_strdup_printf ("error/%s", request_id);
  const char *port = g_hash_table_lookup (peer->ports, GUINT_TO_POINTER (stream_id));
  GByteArray *buffer = g_hash_table_lookup (peer->buffers, GUINT_TO_POINTER (stream_id));
  g_autoptr (GString) response = g_string_new (NULL);

  g_assert_nonnull (port);
  if (g_str_equal (port, "1"))
    {
      send_text (peer, stream_of (peer, error_key), "nothing listens on port 1", TRUE);
      grove_spdy_connection_close_stream (peer->connection, stream_id, &error);
      g_assert_no_error (error);
      return;
    }
  g_string_printf (response, "port %s request %s: ", port, request_id);
  if (buffer != NULL)
    g_string_append_len (response, (const char *)buffer->data, buffer->len);
  send_text (peer, stream_id, response->str, TRUE);
  grove_spdy_connection_close_stream (peer->connection, stream_of (peer, error_key), &error);
  g_assert_no_error (error);
}

static void
half_closed_cb (GroveSpdyConnection *connection, guint stream_id, Peer *peer)
{
  g_autoptr (GError) error = NULL;
  const char *key = g_hash_table_lookup (peer->keys, GUINT_TO_POINTER (stream_id));

  if (g_str_equal (peer->path, "/echo"))
    {
      grove_spdy_connection_close_stream (connection, stream_id, &error);
      g_assert_no_error (error);
      /* closed for sending; gone once the FIN is out, as both sides closed it then */
      g_assert_false (grove_spdy_connection_close_stream (connection, stream_id, &error));
      if (grove_spdy_connection_get_queued (connection, stream_id) > 0)
        g_assert_error (error, GROVE_ERROR, GROVE_ERROR_WRONG_STATE);
      else
        g_assert_error (error, GROVE_ERROR, GROVE_ERROR_NOT_FOUND);
      return;
    }
  g_assert_nonnull (key);
  if (g_str_equal (key, "stdin"))
    {
      grove_spdy_connection_close_stream (connection, stream_id, &error);
      g_assert_no_error (error);
      exec_finish (peer);
    }
  else if (g_str_has_prefix (key, "data/"))
    port_forward_finish (peer, stream_id, key + strlen ("data/"));
}

static void
stream_reset_cb (GroveSpdyConnection *connection, guint stream_id, guint status, Peer *peer)
{
  g_test_message ("stream %u reset, status %u", stream_id, status);
  peer->n_resets++;
}

static void
stream_drained_cb (GroveSpdyConnection *connection, guint stream_id, Peer *peer)
{
  peer->n_drained++;
}

static void
closed_cb (GroveSpdyConnection *connection, const GError *error, Peer *peer)
{
  g_assert_false (peer->closed);
  g_test_message ("connection closed: %s", error != NULL ? error->message : "in order");
  peer->closed = TRUE;
  peer->closed_error = error != NULL ? g_error_copy (error) : NULL;
  g_assert_cmpuint (grove_spdy_connection_get_n_streams (connection), ==, 0);
}

/* reads the HTTP request up to its blank line, a byte at a time so that nothing after it is
 * taken from the connection */
static char *
read_request (GSocketConnection *connection)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  g_autoptr (GString) request = g_string_new (NULL);
  g_autoptr (GError) error = NULL;

  while (!g_str_has_suffix (request->str, "\r\n\r\n"))
    {
      char c;

      g_assert_cmpint (g_input_stream_read (input, &c, 1, NULL, &error), ==, 1);
      g_assert_no_error (error);
      g_string_append_c (request, c);
    }
  return g_string_free (g_steal_pointer (&request), FALSE);
}

/* the first version the client offers that this path serves, NULL if it offered none */
static char *
choose_version (const char *path, char **lines)
{
  for (guint i = 1; lines[i] != NULL; i++)
    {
      const char *value = NULL;

      if (g_ascii_strncasecmp (lines[i], "X-Stream-Protocol-Version:", 26) != 0)
        continue;
      value = lines[i] + 26;
      while (*value == ' ')
        value++;
      if (g_str_equal (path, "/portforward") == g_str_equal (value, "portforward.k8s.io"))
        return g_strdup (value);
    }
  return NULL;
}

static gboolean
incoming_cb (GSocketService *service, GSocketConnection *connection, GObject *source, Fixture *fx)
{
  g_autofree char *request = read_request (connection);
  g_auto (GStrv) lines = g_strsplit (request, "\r\n", -1);
  g_auto (GStrv) request_line = g_strsplit (lines[0], " ", 3);
  g_autofree char *version = NULL;
  g_autoptr (GString) response = g_string_new ("HTTP/1.1 101 Switching Protocols\r\n"
                                               "Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\n");
  g_autoptr (GError) error = NULL;
  Peer *peer = g_new0 (Peer, 1);

  g_assert_nonnull (strstr (request, "\r\nUpgrade: SPDY/3.1\r\n"));
  g_assert_cmpstr (request_line[0], ==, "GET");
  version = choose_version (request_line[1], lines);
  if (version != NULL)
    g_string_append_printf (response, "X-Stream-Protocol-Version: %s\r\n", version);
  g_string_append (response, "\r\n");
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)),
                             response->str, response->len, NULL, NULL, &error);
  g_assert_no_error (error);

  peer->fx = fx;
  peer->path = g_strdup (request_line[1]);
  peer->ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  peer->keys = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  peer->ports = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  peer->buffers = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                         (GDestroyNotify)g_byte_array_unref);
  peer->connection = grove_spdy_connection_new (G_IO_STREAM (connection));
  g_signal_connect (peer->connection, "stream-opened", G_CALLBACK (stream_opened_cb), peer);
  g_signal_connect (peer->connection, "data", G_CALLBACK (data_cb), peer);
  g_signal_connect (peer->connection, "stream-half-closed", G_CALLBACK (half_closed_cb), peer);
  g_signal_connect (peer->connection, "stream-reset", G_CALLBACK (stream_reset_cb), peer);
  g_signal_connect (peer->connection, "stream-drained", G_CALLBACK (stream_drained_cb), peer);
  g_signal_connect (peer->connection, "closed", G_CALLBACK (closed_cb), peer);
  g_ptr_array_add (fx->peers, peer);
  grove_spdy_connection_start (peer->connection);
  return TRUE;
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;

  fx->peers = g_ptr_array_new_with_free_func ((GDestroyNotify)peer_free);
  fx->service = g_socket_service_new ();
  g_socket_listener_add_address (G_SOCKET_LISTENER (fx->service), address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &bound, &error);
  g_assert_no_error (error);
  fx->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_signal_connect (fx->service, "incoming", G_CALLBACK (incoming_cb), fx);
  g_socket_service_start (fx->service);
}

/* drops every connection and checks that each is finalized: nothing it started is left */
static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  g_socket_service_stop (fx->service);
  g_socket_listener_close (G_SOCKET_LISTENER (fx->service));
  for (guint i = 0; i < fx->peers->len; i++)
    {
      Peer *peer = g_ptr_array_index (fx->peers, i);
      GroveSpdyConnection *weak = peer->connection;
      gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

      g_object_add_weak_pointer (G_OBJECT (weak), (gpointer *)&weak);
      g_clear_object (&peer->connection);
      while (weak != NULL && g_get_monotonic_time () < deadline)
        g_main_context_iteration (NULL, FALSE);
      g_assert_null (weak);
    }
  g_clear_pointer (&fx->peers, g_ptr_array_unref);
  g_clear_object (&fx->service);
}

static void
communicate_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  *(GAsyncResult **)user_data = g_object_ref (result);
}

/* runs `spdy_client.py --selftest @name URL` and waits for every connection it made to close */
static char *
run_selftest (Fixture *fx, const char *name, const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "spdy_client.py", NULL);
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u%s", fx->port, path);
  const char *python = g_getenv ("GROVE_PYTHON") != NULL ? g_getenv ("GROVE_PYTHON") : "python3";
  g_autoptr (GSubprocess) client = NULL;
  g_autoptr (GAsyncResult) result = NULL;
  g_autofree char *out = NULL;
  gint64 deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  gboolean all_closed = FALSE;

  client = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error, python, script, "--selftest",
                             name, url, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (client, NULL, NULL, communicate_cb, &result);
  while (result == NULL || !all_closed)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
      all_closed = TRUE;
      for (guint i = 0; i < fx->peers->len; i++)
        all_closed &= ((Peer *)g_ptr_array_index (fx->peers, i))->closed;
    }
  g_subprocess_communicate_utf8_finish (client, result, &out, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("%s: %s", name, out);
  g_assert_true (g_subprocess_get_if_exited (client));
  g_assert_cmpint (g_subprocess_get_exit_status (client), ==, 0);
  g_assert_true (g_str_has_suffix (out, "ok\n"));
  g_assert_cmpuint (fx->peers->len, >, 0);
  return g_steal_pointer (&out);
}

/* what one case expects of the server after its selftest */
typedef struct
{
  const char *selftest;
  const char *path;
  guint n_peers;  /* connections the client makes */
  guint n_opened; /* streams opened on each */
  guint n_resets; /* streams the client reset, on each */
  GQuark domain;  /* of the error ::closed reports, 0 for none */
  int code;
  const char *message; /* part of that error's message */
} Case;

static void
test_case (Fixture *fx, gconstpointer data)
{
  const Case *c = data;
  g_autofree char *out = run_selftest (fx, c->selftest, c->path);

  g_assert_cmpuint (fx->peers->len, ==, c->n_peers);
  for (guint i = 0; i < fx->peers->len; i++)
    {
      Peer *peer = g_ptr_array_index (fx->peers, i);

      if (c->domain == 0)
        g_assert_no_error (peer->closed_error);
      else
        {
          g_assert_error (peer->closed_error, c->domain, c->code);
          g_assert_nonnull (strstr (peer->closed_error->message, c->message));
        }
      if (c->n_opened > 0)
        g_assert_cmpuint (peer->n_opened, ==, c->n_opened);
      g_assert_cmpuint (peer->n_resets, ==, c->n_resets);
    }
}

static Peer *
run_echo (Fixture *fx, const char *selftest)
{
  g_autofree char *out = run_selftest (fx, selftest, "/echo");
  Peer *peer = NULL;

  g_assert_cmpuint (fx->peers->len, ==, 1);
  peer = g_ptr_array_index (fx->peers, 0);
  g_assert_no_error (peer->closed_error);
  return peer;
}

static void
test_streams (Fixture *fx, gconstpointer data)
{
  Peer *peer = run_echo (fx, "streams");

  g_assert_cmpuint (peer->n_opened, ==, 6);
  /* all open at once */
  g_assert_cmpuint (peer->max_streams, ==, 6);
  g_assert_cmpuint (peer->n_resets, ==, 0);
}

static void
test_bulk (Fixture *fx, gconstpointer data)
{
  Peer *peer = run_echo (fx, "bulk");

  g_assert_true (grove_spdy_connection_get_peer_flow_control (peer->connection));
  g_assert_cmpuint (peer->n_drained, >, 0);
}

static void
test_no_flow_control (Fixture *fx, gconstpointer data)
{
  Peer *peer = run_echo (fx, "noflow");

  g_assert_false (grove_spdy_connection_get_peer_flow_control (peer->connection));
}

static void
test_reset (Fixture *fx, gconstpointer data)
{
  Peer *peer = run_echo (fx, "reset");

  /* the client's CANCEL; the stream the server refused is not reported back to it */
  g_assert_cmpuint (peer->n_resets, ==, 1);
  g_assert_cmpuint (peer->n_opened, ==, 3);
}

int
main (int argc, char **argv)
{
  const GQuark grove = GROVE_ERROR;
  const Case cases[] = {
    { "ping", "/echo", 1, 0, 0, 0, 0, NULL },
    { "unknown-frame", "/echo", 1, 1, 0, 0, 0, NULL },
    { "goaway", "/echo", 1, 1, 0, 0, 0, NULL },
    { "disconnect", "/echo", 1, 2, 0, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "2 streams open" },
    { "bad-version", "/echo", 1, 0, 0, grove, GROVE_ERROR_UNSUPPORTED, "of version 2" },
    { "truncated", "/echo", 1, 0, 0, grove, GROVE_ERROR_INVALID_ARGUMENT, "middle of a frame" },
    { "short-frame", "/echo", 1, 1, 0, grove, GROVE_ERROR_INVALID_ARGUMENT,
      "RST_STREAM frame of 4 bytes" },
    { "huge-headers", "/echo", 1, 0, 0, grove, GROVE_ERROR_INVALID_ARGUMENT,
      "more than 65536 bytes" },
    /* error, stdin, stdout, then stderr without a TTY or resize with one; at the end the
     * client resets the streams it did not close itself (error, stdout, stderr or resize),
     * as kubectl does */
    { "exec", "/exec", 2, 4, 3, 0, 0, NULL },
    /* the client closed both its streams and so did the server: nothing is left to reset */
    { "port-forward", "/portforward", 2, 2, 0, 0, 0, NULL },
  };

  g_test_init (&argc, &argv, NULL);
  g_test_add ("/grove/spdy-connection/streams", Fixture, NULL, fixture_setup, test_streams,
              fixture_teardown);
  g_test_add ("/grove/spdy-connection/bulk", Fixture, NULL, fixture_setup, test_bulk,
              fixture_teardown);
  g_test_add ("/grove/spdy-connection/no-flow-control", Fixture, NULL, fixture_setup,
              test_no_flow_control, fixture_teardown);
  g_test_add ("/grove/spdy-connection/reset", Fixture, NULL, fixture_setup, test_reset,
              fixture_teardown);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/grove/spdy-connection/%s", cases[i].selftest);

      g_test_add (path, Fixture, &cases[i], fixture_setup, test_case, fixture_teardown);
    }
  return g_test_run ();
}
