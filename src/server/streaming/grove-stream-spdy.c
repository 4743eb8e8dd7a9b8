/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveStreamServer"

/*
 * The SPDY/3.1 side of the streaming server, the upgrade kubectl, crictl and kubelet use by
 * default. For exec and attach the client opens one stream per channel, named by its
 * `streamType` header (error, stdin, stdout, stderr, resize); the session starts once
 * every stream the request needs is there. Resize streams carry JSON objects one after
 * the other. For port-forward each connection is a pair of streams (data and error) with
 * `port` and `requestID` headers; each data stream gets its own TCP connection in the pod.
 */

#include <string.h>
#include <sys/socket.h>

#include "grove-spdy-connection.h"
#include "grove-stream-spdy.h"
#include "grove-utils.h"

/* how long a client has to open the streams its request needs */
#define STREAMS_TIMEOUT_SECONDS 30
#define READ_CHUNK 32768

typedef struct
{
  GroveStreamSpdy *owner;
  guint32 data_id;
  guint32 error_id;
  GSocketConnection *connection;
  GCancellable *cancellable;
} Forward;

struct _GroveStreamSpdy
{
  GroveEngine *engine;
  GroveStreamRequest *request;
  GroveSpdyConnection *spdy;
  GroveStreamSession *session;
  gboolean json_status;
  guint32 ids[GROVE_STREAM_RESIZE + 1]; /* channel → stream, 0 until opened */
  GString *resize_buffer;
  guint timeout_id;
  GHashTable *forwards; /* request ID → Forward */
  GroveStreamSpdyDone done;
  gpointer done_data;
  gboolean ended;
};

static const char *const channel_types[] = { "stdin", "stdout", "stderr", "error", "resize" };

static void
forward_free (Forward *forward)
{
  g_cancellable_cancel (forward->cancellable);
  g_clear_object (&forward->cancellable);
  if (forward->connection != NULL)
    g_io_stream_close (G_IO_STREAM (forward->connection), NULL, NULL);
  g_clear_object (&forward->connection);
  g_free (forward);
}

/**
 * grove_stream_spdy_free:
 * @self: (transfer full): a session
 */
void
grove_stream_spdy_free (GroveStreamSpdy *self)
{
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  if (self->spdy != NULL)
    g_signal_handlers_disconnect_by_data (self->spdy, self);
  g_clear_handle_id (&self->timeout_id, g_source_remove);
  g_clear_pointer (&self->forwards, g_hash_table_unref);
  g_clear_object (&self->session);
  g_clear_object (&self->spdy);
  g_clear_object (&self->engine);
  g_clear_pointer (&self->request, grove_stream_request_free);
  if (self->resize_buffer != NULL)
    g_string_free (self->resize_buffer, TRUE);
  g_free (self);
}

/* the connection is over: tell the server once, from an idle so no signal is mid-emission */
static gboolean
report_done_cb (gpointer user_data)
{
  GroveStreamSpdy *self = user_data;

  self->done (self, self->done_data);
  return G_SOURCE_REMOVE;
}

static void
end (GroveStreamSpdy *self)
{
  if (self->ended)
    return;
  self->ended = TRUE;
  g_clear_handle_id (&self->timeout_id, g_source_remove);
  g_idle_add (report_done_cb, self);
}

static void
spdy_closed_cb (GroveSpdyConnection *spdy, GError *error, GroveStreamSpdy *self)
{
  g_debug ("SPDY connection for %s closed: %s", self->request->target_id,
           error != NULL ? error->message : "in order");
  if (self->session != NULL && !grove_stream_session_is_finished (self->session))
    grove_stream_session_client_gone (self->session);
  end (self);
}

/* ---- exec and attach ---- */

static void
session_send_cb (GroveStreamSession *session, guint channel, GBytes *data, GroveStreamSpdy *self)
{
  g_autoptr (GError) local_error = NULL;

  if (channel > GROVE_STREAM_RESIZE || self->ids[channel] == 0)
    return;
  if (!grove_spdy_connection_send_data (self->spdy, self->ids[channel], data, FALSE, &local_error))
    g_debug ("SPDY %s stream: %s", channel_types[channel], local_error->message);
}

static void
session_finished_cb (GroveStreamSession *session, GroveStreamSpdy *self)
{
  const guint outputs[] = { GROVE_STREAM_STDOUT, GROVE_STREAM_STDERR, GROVE_STREAM_ERROR };

  /* the status went out on the error stream: end what we send, then the connection */
  for (guint i = 0; i < G_N_ELEMENTS (outputs); i++)
    if (self->ids[outputs[i]] != 0)
      grove_spdy_connection_close_stream (self->spdy, self->ids[outputs[i]], NULL);
  grove_spdy_connection_close (self->spdy);
}

/* the resize stream carries JSON objects back to back: hand each complete one on */
static void
take_resizes (GroveStreamSpdy *self, GBytes *data)
{
  GString *buffer = self->resize_buffer;
  int depth = 0;
  gsize start = 0;

  g_string_append_len (buffer, g_bytes_get_data (data, NULL), g_bytes_get_size (data));
  for (gsize i = 0; i < buffer->len; i++)
    {
      if (buffer->str[i] == '{' && depth++ == 0)
        start = i;
      else if (buffer->str[i] == '}' && depth > 0 && --depth == 0)
        {
          g_autoptr (GBytes) object = g_bytes_new (buffer->str + start, i + 1 - start);
          grove_stream_session_receive (self->session, GROVE_STREAM_RESIZE, object);
          g_string_erase (buffer, 0, i + 1);
          i = (gsize)-1;
        }
    }
  /* nothing sane is this long: drop it rather than grow without end */
  if (buffer->len > 4096)
    g_string_truncate (buffer, 0);
}

static guint
needed_streams (const GroveStreamRequest *request)
{
  return 1 + (request->stdin ? 1 : 0) + (request->stdout ? 1 : 0)
         + (request->stderr && !request->tty ? 1 : 0) + (request->tty ? 1 : 0);
}

static void
maybe_start (GroveStreamSpdy *self)
{
  guint open = 0;

  for (guint i = 0; i < G_N_ELEMENTS (self->ids); i++)
    open += self->ids[i] != 0;
  if (self->session != NULL || open < needed_streams (self->request))
    return;
  g_clear_handle_id (&self->timeout_id, g_source_remove);
  self->session = grove_stream_session_new (self->engine, self->request);
  g_signal_connect (self->session, "send", G_CALLBACK (session_send_cb), self);
  g_signal_connect (self->session, "finished", G_CALLBACK (session_finished_cb), self);
  grove_stream_session_start (self->session, self->json_status);
}

static void
open_channel_stream (GroveStreamSpdy *self, guint32 id, const char *type)
{
  g_autoptr (GError) local_error = NULL;

  for (guint channel = 0; type != NULL && channel < G_N_ELEMENTS (channel_types); channel++)
    if (g_ascii_strcasecmp (type, channel_types[channel]) == 0 && self->ids[channel] == 0)
      {
        if (!grove_spdy_connection_reply (self->spdy, id, NULL, FALSE, &local_error))
          g_debug ("SPDY reply: %s", local_error->message);
        self->ids[channel] = id;
        maybe_start (self);
        return;
      }
  g_debug ("SPDY stream %u refused: stream type '%s'", id, type != NULL ? type : "(none)");
  grove_spdy_connection_reset (self->spdy, id, GROVE_SPDY_STATUS_REFUSED_STREAM);
}

static gboolean
streams_timeout_cb (gpointer user_data)
{
  GroveStreamSpdy *self = user_data;

  self->timeout_id = 0;
  g_debug ("SPDY client for %s did not open its streams in time", self->request->target_id);
  grove_spdy_connection_close (self->spdy);
  return G_SOURCE_REMOVE;
}

/* ---- port-forward ---- */

static void forward_read (Forward *forward);

static void
forward_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Forward *forward = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GBytes) data
      = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &local_error);

  if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (data != NULL && g_bytes_get_size (data) > 0)
    {
      grove_spdy_connection_send_data (forward->owner->spdy, forward->data_id, data, FALSE, NULL);
      forward_read (forward);
      return;
    }
  /* the port closed the connection: so does the data stream, and the error stream ends
   * empty: nothing went wrong */
  grove_spdy_connection_close_stream (forward->owner->spdy, forward->data_id, NULL);
  if (forward->error_id != 0)
    grove_spdy_connection_close_stream (forward->owner->spdy, forward->error_id, NULL);
  forward->error_id = 0;
}

static void
forward_read (Forward *forward)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (forward->connection));

  g_input_stream_read_bytes_async (input, READ_CHUNK, G_PRIORITY_DEFAULT, forward->cancellable,
                                   forward_read_cb, forward);
}

static Forward *
forward_for (GroveStreamSpdy *self, const char *request_id)
{
  Forward *forward = g_hash_table_lookup (self->forwards, request_id);

  if (forward == NULL)
    {
      forward = g_new0 (Forward, 1);
      forward->owner = self;
      forward->cancellable = g_cancellable_new ();
      g_hash_table_insert (self->forwards, g_strdup (request_id), forward);
    }
  return forward;
}

static gboolean
port_allowed (const GroveStreamRequest *request, guint64 port)
{
  if (request->n_ports == 0)
    return TRUE;
  for (guint i = 0; i < request->n_ports; i++)
    if (request->ports[i] == port)
      return TRUE;
  return FALSE;
}

static void
forward_error (GroveStreamSpdy *self, Forward *forward, const char *message)
{
  g_autoptr (GBytes) text = g_bytes_new (message, strlen (message));

  if (forward->error_id != 0)
    {
      grove_spdy_connection_send_data (self->spdy, forward->error_id, text, TRUE, NULL);
      forward->error_id = 0;
    }
}

/* a data stream: connect to its port in the pod and copy both ways */
static void
forward_connect (GroveStreamSpdy *self, Forward *forward, const char *port_text)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GrovePod) pod = NULL;
  g_autofree char *message = NULL;
  guint64 port = 0;

  if (port_text == NULL || !g_ascii_string_to_unsigned (port_text, 10, 1, 65535, &port, NULL)
      || !port_allowed (self->request, port))
    {
      message = g_strdup_printf ("port '%s' is not one this URL forwards",
                                 port_text != NULL ? port_text : "");
      return forward_error (self, forward, message);
    }
  pod = grove_engine_get_pod (self->engine, self->request->target_id, &local_error);
  if (pod != NULL)
    forward->connection
        = grove_stream_dial (grove_pod_get_netns_path (pod), (guint16)port, &local_error);
  if (forward->connection == NULL)
    {
      forward_error (self, forward, local_error->message);
      grove_spdy_connection_close_stream (self->spdy, forward->data_id, NULL);
      return;
    }
  /* a data stream opened before its error stream: its error stream is replied to later */
  forward_read (forward);
}

static void
open_forward_stream (GroveStreamSpdy *self, guint32 id, GHashTable *headers)
{
  const char *type = g_hash_table_lookup (headers, "streamtype");
  const char *request_id = g_hash_table_lookup (headers, "requestid");
  Forward *forward = NULL;

  if (type == NULL || request_id == NULL
      || (g_strcmp0 (type, "data") != 0 && g_strcmp0 (type, "error") != 0))
    return grove_spdy_connection_reset (self->spdy, id, GROVE_SPDY_STATUS_REFUSED_STREAM);
  forward = forward_for (self, request_id);
  grove_spdy_connection_reply (self->spdy, id, NULL, FALSE, NULL);
  if (g_str_equal (type, "error"))
    {
      forward->error_id = id;
      return;
    }
  forward->data_id = id;
  forward_connect (self, forward, g_hash_table_lookup (headers, "port"));
}

static Forward *
forward_of_stream (GroveStreamSpdy *self, guint32 id)
{
  GHashTableIter iter;
  gpointer value = NULL;

  g_hash_table_iter_init (&iter, self->forwards);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((Forward *)value)->data_id == id)
      return value;
  return NULL;
}

/* ---- what the client sends ---- */

static void
stream_opened_cb (GroveSpdyConnection *spdy, guint id, GHashTable *headers, GroveStreamSpdy *self)
{
  if (self->request->kind == GROVE_STREAM_PORT_FORWARD)
    return open_forward_stream (self, id, headers);
  open_channel_stream (self, id, g_hash_table_lookup (headers, "streamtype"));
}

static void
data_cb (GroveSpdyConnection *spdy, guint id, GBytes *data, GroveStreamSpdy *self)
{
  if (self->request->kind == GROVE_STREAM_PORT_FORWARD)
    {
      Forward *forward = forward_of_stream (self, id);
      GOutputStream *output = NULL;

      if (forward == NULL || forward->connection == NULL)
        return;
      output = g_io_stream_get_output_stream (G_IO_STREAM (forward->connection));
      g_output_stream_write_all (output, g_bytes_get_data (data, NULL), g_bytes_get_size (data),
                                 NULL, forward->cancellable, NULL);
      return;
    }
  if (self->session == NULL)
    return;
  if (id == self->ids[GROVE_STREAM_STDIN])
    grove_stream_session_receive (self->session, GROVE_STREAM_STDIN, data);
  else if (id == self->ids[GROVE_STREAM_RESIZE])
    take_resizes (self, data);
}

static void
half_closed_cb (GroveSpdyConnection *spdy, guint id, GroveStreamSpdy *self)
{
  if (self->request->kind == GROVE_STREAM_PORT_FORWARD)
    {
      Forward *forward = forward_of_stream (self, id);

      if (forward != NULL && forward->connection != NULL)
        g_socket_shutdown (g_socket_connection_get_socket (forward->connection), FALSE, TRUE, NULL);
      return;
    }
  if (self->session != NULL && id == self->ids[GROVE_STREAM_STDIN])
    grove_stream_session_channel_closed (self->session, GROVE_STREAM_STDIN);
}

/**
 * grove_stream_spdy_new:
 * @engine: the engine
 * @stream: (transfer none): the upgraded HTTP connection
 * @request: what the session does
 * @protocol: the `X-Stream-Protocol-Version` agreed on
 * @done: called (from an idle) once the connection is over; free the session there
 * @done_data: for @done
 *
 * Returns: (transfer full): a session serving @request over SPDY/3.1 on @stream
 */
GroveStreamSpdy *
grove_stream_spdy_new (GroveEngine *engine, GIOStream *stream, const GroveStreamRequest *request,
                       const char *protocol, GroveStreamSpdyDone done, gpointer done_data)
{
  GroveStreamSpdy *self = g_new0 (GroveStreamSpdy, 1);

  self->engine = g_object_ref (engine);
  self->request = grove_stream_request_copy (request);
  /* v4 reports the end as a JSON Status; v1 to v3 as text, and only on failure */
  self->json_status = g_strcmp0 (protocol, "v4.channel.k8s.io") == 0;
  self->resize_buffer = g_string_new (NULL);
  self->forwards
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)forward_free);
  self->done = done;
  self->done_data = done_data;
  self->spdy = grove_spdy_connection_new (stream);
  g_signal_connect (self->spdy, "stream-opened", G_CALLBACK (stream_opened_cb), self);
  g_signal_connect (self->spdy, "data", G_CALLBACK (data_cb), self);
  g_signal_connect (self->spdy, "stream-half-closed", G_CALLBACK (half_closed_cb), self);
  g_signal_connect (self->spdy, "closed", G_CALLBACK (spdy_closed_cb), self);
  if (request->kind != GROVE_STREAM_PORT_FORWARD)
    self->timeout_id = g_timeout_add_seconds (STREAMS_TIMEOUT_SECONDS, streams_timeout_cb, self);
  grove_spdy_connection_start (self->spdy);
  return self;
}

/**
 * grove_stream_spdy_shutdown:
 * @self: a session
 *
 * Ends the session (an exec'd process is killed) and closes the connection.
 */
void
grove_stream_spdy_shutdown (GroveStreamSpdy *self)
{
  if (self->session != NULL && !grove_stream_session_is_finished (self->session))
    grove_stream_session_client_gone (self->session);
  g_hash_table_remove_all (self->forwards);
  if (self->spdy != NULL)
    grove_spdy_connection_close (self->spdy);
}
