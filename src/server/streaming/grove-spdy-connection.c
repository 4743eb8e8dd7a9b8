/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveSpdyConnection"

/*
 * The server side of a SPDY/3.1 session over an upgraded HTTP connection, as the Kubernetes
 * streaming clients (kubectl, crictl and kubelet, all through moby/spdystream) speak it for
 * exec, attach and port-forward. It only multiplexes: the owner hears of each stream the client
 * opens and of its data, and answers, sends and closes. It knows nothing of what streams mean.
 *
 * All I/O is async on the thread-default main context of grove_spdy_connection_start(). Frames
 * are serialised into one output buffer that is written in order. Stream data waits in a queue
 * per stream and is framed into that buffer as the peer's windows allow, and only while the
 * buffer is short, so that PING replies and WINDOW_UPDATEs never wait behind megabytes of data.
 *
 * Flow control: spdystream has none (it neither sends nor honours WINDOW_UPDATE; its issue #2
 * has been open since 2014), so a server that waited for the client to reopen its window would
 * stall every kubectl exec after 64 KiB of output. A peer that sends WINDOW_UPDATE or SETTINGS
 * INITIAL_WINDOW_SIZE has its windows honoured. A peer that has sent neither when a window runs
 * out gets FLOW_CONTROL_GRACE_MS to send one; after that its windows are ignored. The windows we
 * grant are reopened with WINDOW_UPDATE as data reaches the owner, and for the same reason a
 * peer that overruns them is tolerated.
 */

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <zlib.h>

#include "grove-spdy-connection.h"
#include "grove-utils.h"

#define SPDY_VERSION 3
#define SPDY_FLAG_FIN 0x01
#define SPDY_FLAG_UNIDIRECTIONAL 0x02
#define SPDY_SETTINGS_INITIAL_WINDOW_SIZE 7
#define SPDY_GOAWAY_OK 0
#define SPDY_GOAWAY_PROTOCOL_ERROR 1
#define SPDY_DEFAULT_WINDOW 65536
#define SPDY_MAX_WINDOW 0x7fffffff
#define SPDY_STREAM_ID_MASK 0x7fffffffu

/* data frames we send; the protocol allows 16 MiB, smaller frames interleave streams */
#define DATA_FRAME_MAX 16384
/* a header block may decompress to this much; the frame that carries it may be a bit larger
 * than that if the peer sends it uncompressible */
#define HEADER_BLOCK_MAX (64 * 1024)
#define CONTROL_FRAME_MAX (HEADER_BLOCK_MAX + 1024)
#define READ_CHUNK 65536
/* stream data is framed into the output buffer only while it holds less than this */
#define OUTPUT_LOW_WATER 65536
/* how long a peer that never sent WINDOW_UPDATE has to send one when its window runs out */
#define FLOW_CONTROL_GRACE_MS 500
/* how long closing may take to flush what is queued before the transport is closed anyway */
#define CLOSE_TIMEOUT_SECONDS 10

typedef enum
{
  SPDY_SYN_STREAM = 1,
  SPDY_SYN_REPLY = 2,
  SPDY_RST_STREAM = 3,
  SPDY_SETTINGS = 4,
  SPDY_PING = 6,
  SPDY_GOAWAY = 7,
  SPDY_HEADERS = 8,
  SPDY_WINDOW_UPDATE = 9,
} SpdyFrameType;

typedef enum
{
  PEER_FLOW_UNKNOWN,
  PEER_FLOW_HONOURED,
  PEER_FLOW_IGNORED,
} PeerFlow;

typedef struct
{
  guint32 id;
  gint64 send_window;   /* what the peer lets us send on it */
  guint32 recv_unacked; /* received since our last WINDOW_UPDATE for it */
  GQueue pending;       /* GBytes the owner sent that are not framed yet */
  gsize pending_offset; /* bytes of the head already framed */
  gsize pending_len;
  gboolean replied;
  gboolean fin_queued; /* the owner closed its side: FIN follows the pending data */
  gboolean fin_sent;   /* the FIN is in the output buffer */
  gboolean fin_received;
  gboolean ready; /* in self->ready */
} SpdyStream;

struct _GroveSpdyConnection
{
  GObject parent_instance;

  GIOStream *stream;
  GMainContext *context;
  GCancellable *cancellable;
  GBytes *dictionary;
  z_stream inflater;
  z_stream deflater;

  GByteArray *inbuf;  /* read, not parsed yet */
  GByteArray *outbuf; /* frames waiting for the write in progress to end */
  GBytes *writing;    /* what the write in progress writes */
  gboolean reading;
  gboolean input_done;

  GHashTable *streams; /* stream id → SpdyStream */
  GQueue ready;        /* streams with data or a FIN to frame, in turn */
  GArray *drained;     /* ids of streams whose queue ran empty, for ::stream-drained */

  /* the data frame coming in, handed to the owner as it arrives */
  gboolean in_data;
  guint32 data_stream_id;
  gsize data_remaining;
  gboolean data_fin;
  gboolean data_discard;

  guint32 last_stream_id; /* the highest stream the peer opened */
  gint64 send_window;     /* the connection window the peer gives us */
  gint64 peer_initial_window;
  guint32 recv_unacked; /* received on the connection since our last WINDOW_UPDATE */
  PeerFlow peer_flow;
  GSource *grace_source;
  GSource *close_source;

  gboolean started;
  gboolean goaway_sent;
  gboolean goaway_received;
  gboolean closing;  /* flush what is queued, then close the transport */
  gboolean finished; /* the transport is closed or being closed */
  gboolean transport_closing;
  gboolean write_shut; /* an orderly close sent everything and waits for the peer's EOF */
  GError *close_error;
};

enum
{
  SIGNAL_STREAM_OPENED,
  SIGNAL_DATA,
  SIGNAL_STREAM_HALF_CLOSED,
  SIGNAL_STREAM_RESET,
  SIGNAL_STREAM_DRAINED,
  SIGNAL_CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GroveSpdyConnection, grove_spdy_connection, G_TYPE_OBJECT)

/* the SPDY/3 header compression dictionary (draft 3, section 2.6.10.1): each of these words
 * after its length as a 32-bit big-endian number, then the tail as it is; 1423 bytes */
static const char *const dictionary_words[] = {
  "options",
  "head",
  "post",
  "put",
  "delete",
  "trace",
  "accept",
  "accept-charset",
  "accept-encoding",
  "accept-language",
  "accept-ranges",
  "age",
  "allow",
  "authorization",
  "cache-control",
  "connection",
  "content-base",
  "content-encoding",
  "content-language",
  "content-length",
  "content-location",
  "content-md5",
  "content-range",
  "content-type",
  "date",
  "etag",
  "expect",
  "expires",
  "from",
  "host",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-range",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "pragma",
  "proxy-authenticate",
  "proxy-authorization",
  "range",
  "referer",
  "retry-after",
  "server",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "user-agent",
  "vary",
  "via",
  "warning",
  "www-authenticate",
  "method",
  "get",
  "status",
  "200 OK",
  "version",
  "HTTP/1.1",
  "url",
  "public",
  "set-cookie",
  "keep-alive",
  "origin",
};
static const char dictionary_tail[]
    = "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
      "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
      "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 "
      "Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, "
      "Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,"
      "application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch"
      "charset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

static void flush_output (GroveSpdyConnection *self);
static void finish_transport (GroveSpdyConnection *self);

static void
put_u32 (GByteArray *buf, guint32 value)
{
  guint32 be = GUINT32_TO_BE (value);

  g_byte_array_append (buf, (const guint8 *)&be, sizeof be);
}

static guint32
get_u32 (const guint8 *p)
{
  return ((guint32)p[0] << 24) | ((guint32)p[1] << 16) | ((guint32)p[2] << 8) | p[3];
}

static void
put_control_header (GByteArray *buf, SpdyFrameType type, guint8 flags, guint32 length)
{
  put_u32 (buf, 0x80000000u | (SPDY_VERSION << 16) | type);
  put_u32 (buf, ((guint32)flags << 24) | length);
}

static GBytes *
build_dictionary (void)
{
  g_autoptr (GByteArray) dict = g_byte_array_sized_new (1423);

  for (gsize i = 0; i < G_N_ELEMENTS (dictionary_words); i++)
    {
      gsize len = strlen (dictionary_words[i]);

      put_u32 (dict, len);
      g_byte_array_append (dict, (const guint8 *)dictionary_words[i], len);
    }
  g_byte_array_append (dict, (const guint8 *)dictionary_tail, sizeof dictionary_tail - 1);
  return g_byte_array_free_to_bytes (g_steal_pointer (&dict));
}

static void
spdy_stream_free (SpdyStream *s)
{
  g_queue_clear_full (&s->pending, (GDestroyNotify)g_bytes_unref);
  g_free (s);
}

static SpdyStream *
lookup_stream (GroveSpdyConnection *self, guint32 stream_id)
{
  return g_hash_table_lookup (self->streams, GUINT_TO_POINTER (stream_id));
}

static void
clear_source (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

static GSource *
attach_timeout (GroveSpdyConnection *self, guint ms, GSourceFunc func)
{
  GSource *source = g_timeout_source_new (ms);

  g_source_set_callback (source, func, self, NULL);
  g_source_attach (source, self->context);
  return source;
}

/* Output */

static void
queue_rst (GroveSpdyConnection *self, guint32 stream_id, GroveSpdyStatus status)
{
  put_control_header (self->outbuf, SPDY_RST_STREAM, 0, 8);
  put_u32 (self->outbuf, stream_id & SPDY_STREAM_ID_MASK);
  put_u32 (self->outbuf, status);
}

static void
queue_goaway (GroveSpdyConnection *self, guint32 status)
{
  if (self->goaway_sent)
    return;
  self->goaway_sent = TRUE;
  put_control_header (self->outbuf, SPDY_GOAWAY, 0, 8);
  put_u32 (self->outbuf, self->last_stream_id);
  put_u32 (self->outbuf, status);
}

static void
queue_window_update (GroveSpdyConnection *self, guint32 stream_id, guint32 delta)
{
  put_control_header (self->outbuf, SPDY_WINDOW_UPDATE, 0, 8);
  put_u32 (self->outbuf, stream_id);
  put_u32 (self->outbuf, delta);
}

static void
enqueue_stream (GroveSpdyConnection *self, SpdyStream *s)
{
  if (s->ready || (s->pending_len == 0 && (!s->fin_queued || s->fin_sent)))
    return;
  s->ready = TRUE;
  g_queue_push_tail (&self->ready, s);
}

/* puts every stream with something to send back in turn, after a window opened */
static void
enqueue_all (GroveSpdyConnection *self)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    enqueue_stream (self, value);
}

static void
remove_stream (GroveSpdyConnection *self, guint32 stream_id)
{
  SpdyStream *s = lookup_stream (self, stream_id);

  if (s == NULL)
    return;
  if (s->ready)
    g_queue_remove (&self->ready, s);
  g_hash_table_remove (self->streams, GUINT_TO_POINTER (stream_id));
  /* after the peer's GOAWAY the connection ends with its last stream */
  if (self->goaway_received && g_hash_table_size (self->streams) == 0)
    self->closing = TRUE;
}

static void
maybe_remove_stream (GroveSpdyConnection *self, SpdyStream *s)
{
  if (s->fin_sent && s->fin_received && s->pending_len == 0)
    remove_stream (self, s->id);
}

static void
take_pending (SpdyStream *s, gsize n, GByteArray *out)
{
  while (n > 0)
    {
      GBytes *head = g_queue_peek_head (&s->pending);
      gsize size = 0;
      const guint8 *data = g_bytes_get_data (head, &size);
      gsize take = MIN (n, size - s->pending_offset);

      g_byte_array_append (out, data + s->pending_offset, take);
      s->pending_offset += take;
      s->pending_len -= take;
      n -= take;
      if (s->pending_offset == size)
        {
          g_bytes_unref (g_queue_pop_head (&s->pending));
          s->pending_offset = 0;
        }
    }
}

/* frames the next piece of @s's queue; FALSE if the peer's windows allow nothing now */
static gboolean
frame_stream_data (GroveSpdyConnection *self, SpdyStream *s)
{
  gsize n = MIN (s->pending_len, DATA_FRAME_MAX);
  guint8 flags = 0;

  if (n > 0 && self->peer_flow != PEER_FLOW_IGNORED)
    {
      gint64 window = MIN (s->send_window, self->send_window);

      if (window <= 0)
        return FALSE;
      n = MIN (n, (gsize)window);
    }
  if (n == s->pending_len && s->fin_queued)
    flags |= SPDY_FLAG_FIN;
  put_u32 (self->outbuf, s->id);
  put_u32 (self->outbuf, ((guint32)flags << 24) | n);
  take_pending (s, n, self->outbuf);
  s->send_window -= n;
  self->send_window -= n;
  if (flags & SPDY_FLAG_FIN)
    s->fin_sent = TRUE;
  return TRUE;
}

static gboolean
grace_cb (gpointer user_data)
{
  GroveSpdyConnection *self = user_data;

  g_clear_pointer (&self->grace_source, g_source_unref);
  if (self->peer_flow == PEER_FLOW_UNKNOWN)
    {
      g_debug ("the SPDY peer sent no WINDOW_UPDATE in the %d ms after its window ran out: it "
               "does no flow control, its windows are ignored from now on",
               FLOW_CONTROL_GRACE_MS);
      self->peer_flow = PEER_FLOW_IGNORED;
      enqueue_all (self);
      flush_output (self);
    }
  return G_SOURCE_REMOVE;
}

/* frames queued stream data, taking streams in turn, while the output buffer is short */
static void
pump (GroveSpdyConnection *self)
{
  gboolean blocked = FALSE;

  while (!self->finished && self->outbuf->len < OUTPUT_LOW_WATER
         && !g_queue_is_empty (&self->ready))
    {
      SpdyStream *s = g_queue_pop_head (&self->ready);
      gboolean had_data = s->pending_len > 0;

      s->ready = FALSE;
      if (!frame_stream_data (self, s))
        {
          /* out of the queue until a WINDOW_UPDATE or SETTINGS puts it back */
          blocked = TRUE;
          continue;
        }
      enqueue_stream (self, s);
      if (s->ready)
        continue;
      if (had_data)
        g_array_append_val (self->drained, s->id);
      maybe_remove_stream (self, s);
    }
  if (blocked && self->peer_flow == PEER_FLOW_UNKNOWN && self->grace_source == NULL)
    self->grace_source = attach_timeout (self, FLOW_CONTROL_GRACE_MS, grace_cb);
}

static gboolean
has_pending_data (GroveSpdyConnection *self)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->streams);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      SpdyStream *s = value;

      if (s->pending_len > 0 || (s->fin_queued && !s->fin_sent))
        return TRUE;
    }
  return FALSE;
}

static void
write_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveSpdyConnection) self = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GArray) drained = NULL;

  g_clear_pointer (&self->writing, g_bytes_unref);
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &local_error))
    {
      if (self->close_error == NULL && !self->finished)
        {
          g_prefix_error (&local_error, "writing to the SPDY peer: ");
          self->close_error = g_steal_pointer (&local_error);
        }
      finish_transport (self);
      return;
    }
  flush_output (self);
  drained = g_steal_pointer (&self->drained);
  self->drained = g_array_new (FALSE, FALSE, sizeof (guint32));
  for (guint i = 0; i < drained->len && !self->finished; i++)
    {
      guint32 stream_id = g_array_index (drained, guint32, i);

      if (lookup_stream (self, stream_id) != NULL)
        g_signal_emit (self, signals[SIGNAL_STREAM_DRAINED], 0, stream_id);
    }
}

static void
shut_write (GroveSpdyConnection *self)
{
  GSocket *socket = NULL;

  if (self->write_shut)
    return;
  self->write_shut = TRUE;
  if (G_IS_SOCKET_CONNECTION (self->stream))
    socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (self->stream));
  if (socket != NULL)
    g_socket_shutdown (socket, FALSE, TRUE, NULL);
}

/* frames what the windows allow and writes the output buffer, unless a write is under way */
static void
flush_output (GroveSpdyConnection *self)
{
  if (self->finished)
    {
      finish_transport (self);
      return;
    }
  pump (self);
  if (self->writing != NULL)
    return;
  if (self->outbuf->len == 0)
    {
      if (self->closing && !has_pending_data (self))
        {
          /* an orderly close waits (up to the close timeout) for the peer to close its
           * side: closing with its WINDOW_UPDATEs or GOAWAY still unread would make the
           * kernel answer with a reset, which can destroy output the peer has not read */
          if (!self->input_done && self->close_error == NULL)
            shut_write (self);
          else
            finish_transport (self);
        }
      return;
    }
  self->writing = g_byte_array_free_to_bytes (g_steal_pointer (&self->outbuf));
  self->outbuf = g_byte_array_new ();
  g_output_stream_write_all_async (g_io_stream_get_output_stream (self->stream),
                                   g_bytes_get_data (self->writing, NULL),
                                   g_bytes_get_size (self->writing), G_PRIORITY_DEFAULT,
                                   self->cancellable, write_cb, g_object_ref (self));
}

/* Closing */

static void
transport_closed_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveSpdyConnection) self = user_data;
  g_autoptr (GError) local_error = NULL;

  if (!g_io_stream_close_finish (G_IO_STREAM (source), result, &local_error))
    g_debug ("closing the SPDY transport: %s", local_error->message);
  g_signal_emit (self, signals[SIGNAL_CLOSED], 0, self->close_error);
}

/* closes the transport once no read or write is under way; ::closed follows */
static void
finish_transport (GroveSpdyConnection *self)
{
  if (!self->finished)
    {
      self->finished = TRUE;
      g_cancellable_cancel (self->cancellable);
      clear_source (&self->grace_source);
      clear_source (&self->close_source);
      g_queue_clear (&self->ready);
      g_hash_table_remove_all (self->streams);
    }
  if (self->reading || self->writing != NULL || self->transport_closing)
    return;
  self->transport_closing = TRUE;
  g_io_stream_close_async (self->stream, G_PRIORITY_DEFAULT, NULL, transport_closed_cb,
                           g_object_ref (self));
}

static gboolean
close_timeout_cb (gpointer user_data)
{
  GroveSpdyConnection *self = user_data;

  g_clear_pointer (&self->close_source, g_source_unref);
  if (self->close_error == NULL)
    self->close_error = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                     "the SPDY peer took more than %d s to take what was queued "
                                     "for it before the connection closed",
                                     CLOSE_TIMEOUT_SECONDS);
  finish_transport (self);
  return G_SOURCE_REMOVE;
}

static void
begin_closing (GroveSpdyConnection *self)
{
  self->closing = TRUE;
  if (self->close_source == NULL)
    self->close_source = attach_timeout (self, CLOSE_TIMEOUT_SECONDS * 1000, close_timeout_cb);
}

/* a session error: GOAWAY(PROTOCOL_ERROR), nothing more read, the transport closed once the
 * GOAWAY is out */
static void
fail_protocol (GroveSpdyConnection *self, GError *error)
{
  if (self->finished)
    {
      g_clear_error (&error);
      return;
    }
  g_debug ("SPDY session error: %s", error->message);
  if (self->close_error == NULL)
    self->close_error = error;
  else
    g_clear_error (&error);
  self->input_done = TRUE;
  g_queue_clear (&self->ready);
  g_hash_table_remove_all (self->streams);
  queue_goaway (self, SPDY_GOAWAY_PROTOCOL_ERROR);
  begin_closing (self);
  flush_output (self);
}

/* Header blocks */

/* runs a header block through the connection's compressor (@compress) or decompressor, which
 * go on across blocks, flushing at its end as SPDY wants */
static gboolean
zlib_block (GroveSpdyConnection *self, gboolean compress, const guint8 *data, gsize len,
            GByteArray *out, GError **error)
{
  z_stream *z = compress ? &self->deflater : &self->inflater;

  z->next_in = (Bytef *)data;
  z->avail_in = len;
  do
    {
      guint8 chunk[4096];
      int rc;

      z->next_out = chunk;
      z->avail_out = sizeof chunk;
      rc = compress ? deflate (z, Z_SYNC_FLUSH) : inflate (z, Z_SYNC_FLUSH);
      if (rc == Z_NEED_DICT)
        rc = inflateSetDictionary (z, g_bytes_get_data (self->dictionary, NULL),
                                   g_bytes_get_size (self->dictionary));
      if (rc == Z_BUF_ERROR)
        break;
      if (rc != Z_OK)
        return grove_throw (
            error, GROVE_ERROR_INVALID_ARGUMENT, "a SPDY header block does not %s (zlib: %s)",
            compress ? "compress" : "decompress", z->msg != NULL ? z->msg : zError (rc));
      g_byte_array_append (out, chunk, sizeof chunk - z->avail_out);
      if (out->len > HEADER_BLOCK_MAX)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "a SPDY header block decompresses to more than %d bytes",
                            HEADER_BLOCK_MAX);
    }
  while (z->avail_in > 0 || z->avail_out == 0);
  return TRUE;
}

static gboolean
read_string (const guint8 *block, gsize len, gsize *pos, char **out, GError **error)
{
  guint32 n;

  if (len - *pos < 4)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "the header block is cut short");
  n = get_u32 (block + *pos);
  *pos += 4;
  if (len - *pos < n)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "a %u-byte string runs past the end of the header block", n);
  *out = g_strndup ((const char *)block + *pos, n);
  if (strlen (*out) != n)
    {
      /* several values of one header are separated by NULs: join them as HTTP would */
      for (guint32 i = 0; i < n; i++)
        (*out)[i] = block[*pos + i] == '\0' ? ',' : (char)block[*pos + i];
    }
  *pos += n;
  return TRUE;
}

/* the name/value pairs of a decompressed block, names lowercased; NULL if the block breaks
 * the rules for one (a stream error, the session can go on) */
static GHashTable *
parse_header_block (const guint8 *block, gsize len, GError **error)
{
  g_autoptr (GHashTable) headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  gsize pos = 4;
  guint32 n;

  if (len < 4)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "the header block is empty"), NULL;
  n = get_u32 (block);
  for (guint32 i = 0; i < n; i++)
    {
      g_autofree char *name = NULL;
      g_autofree char *value = NULL;
      g_autofree char *lower = NULL;

      if (!read_string (block, len, &pos, &name, error)
          || !read_string (block, len, &pos, &value, error))
        return NULL;
      lower = g_ascii_strdown (name, -1);
      if (*lower == '\0' || strchr (lower, ',') != NULL)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "a header has an invalid name"),
               NULL;
      if (g_hash_table_contains (headers, lower))
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "header %s comes twice", lower),
               NULL;
      g_hash_table_insert (headers, g_steal_pointer (&lower), g_steal_pointer (&value));
    }
  if (pos != len)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%zu bytes follow the last header of the block", len - pos),
           NULL;
  return g_steal_pointer (&headers);
}

/* decompresses a header block, which must be done for every block to keep the connection's
 * zlib stream in step; FALSE (a session error) if that fails, else *@out_headers is the
 * headers or NULL if the block is malformed */
static gboolean
decode_headers (GroveSpdyConnection *self, guint32 stream_id, const guint8 *data, gsize len,
                GHashTable **out_headers, GError **error)
{
  g_autoptr (GByteArray) block = g_byte_array_new ();
  g_autoptr (GError) local_error = NULL;

  if (!zlib_block (self, FALSE, data, len, block, error))
    return FALSE;
  *out_headers = parse_header_block (block->data, block->len, &local_error);
  if (*out_headers == NULL)
    g_debug ("SPDY stream %u: %s", stream_id, local_error->message);
  return TRUE;
}

static gboolean
encode_headers (GroveSpdyConnection *self, GHashTable *headers, GByteArray *out, GError **error)
{
  g_autoptr (GByteArray) block = g_byte_array_new ();
  g_autoptr (GList) names = headers != NULL ? g_hash_table_get_keys (headers) : NULL;

  names = g_list_sort (names, (GCompareFunc)g_strcmp0);
  put_u32 (block, g_list_length (names));
  for (GList *l = names; l != NULL; l = l->next)
    {
      g_autofree char *name = g_ascii_strdown (l->data, -1);
      const char *value = g_hash_table_lookup (headers, l->data);
      gsize value_len = value != NULL ? strlen (value) : 0;

      put_u32 (block, strlen (name));
      g_byte_array_append (block, (const guint8 *)name, strlen (name));
      put_u32 (block, value_len);
      g_byte_array_append (block, (const guint8 *)value, value_len);
    }
  return zlib_block (self, TRUE, block->data, block->len, out, error);
}

/* Input */

static void
remote_fin (GroveSpdyConnection *self, guint32 stream_id)
{
  SpdyStream *s = lookup_stream (self, stream_id);

  if (s == NULL)
    return;
  s->fin_received = TRUE;
  g_signal_emit (self, signals[SIGNAL_STREAM_HALF_CLOSED], 0, stream_id);
  /* the handler may have reset it */
  s = lookup_stream (self, stream_id);
  if (s != NULL)
    maybe_remove_stream (self, s);
}

/* counts received data against the windows we grant and reopens them at half */
static void
account_received (GroveSpdyConnection *self, guint32 stream_id, gsize n)
{
  SpdyStream *s = lookup_stream (self, stream_id);

  self->recv_unacked += n;
  if (self->recv_unacked >= SPDY_DEFAULT_WINDOW / 2)
    {
      queue_window_update (self, 0, self->recv_unacked);
      self->recv_unacked = 0;
    }
  if (s == NULL || s->fin_received)
    return;
  s->recv_unacked += n;
  if (s->recv_unacked >= SPDY_DEFAULT_WINDOW / 2)
    {
      queue_window_update (self, stream_id, s->recv_unacked);
      s->recv_unacked = 0;
    }
}

static void
end_data_frame (GroveSpdyConnection *self)
{
  self->in_data = FALSE;
  if (self->data_fin && !self->data_discard)
    remote_fin (self, self->data_stream_id);
}

static gboolean
start_data_frame (GroveSpdyConnection *self, guint32 stream_id, guint8 flags, guint32 length,
                  GError **error)
{
  SpdyStream *s = lookup_stream (self, stream_id);

  if (stream_id == 0)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "a SPDY data frame on stream 0");
  self->in_data = TRUE;
  self->data_stream_id = stream_id;
  self->data_remaining = length;
  self->data_fin = (flags & SPDY_FLAG_FIN) != 0;
  self->data_discard = FALSE;
  if (s == NULL)
    {
      /* a stream that was never opened is an error; one that ended may still see data that
       * was in flight when it did */
      self->data_discard = TRUE;
      if (stream_id > self->last_stream_id)
        queue_rst (self, stream_id, GROVE_SPDY_STATUS_INVALID_STREAM);
    }
  else if (s->fin_received)
    {
      self->data_discard = TRUE;
      remove_stream (self, stream_id);
      queue_rst (self, stream_id, GROVE_SPDY_STATUS_STREAM_ALREADY_CLOSED);
      g_signal_emit (self, signals[SIGNAL_STREAM_RESET], 0, stream_id,
                     GROVE_SPDY_STATUS_STREAM_ALREADY_CLOSED);
    }
  if (length == 0)
    end_data_frame (self);
  return TRUE;
}

/* hands what has arrived of the current data frame to the owner; returns the bytes used */
static gsize
deliver_data (GroveSpdyConnection *self, const guint8 *p, gsize avail)
{
  gsize n = MIN (avail, self->data_remaining);
  guint32 stream_id = self->data_stream_id;

  if (n == 0)
    return 0;
  self->data_remaining -= n;
  account_received (self, stream_id, n);
  if (!self->data_discard && lookup_stream (self, stream_id) != NULL)
    {
      g_autoptr (GBytes) chunk = g_bytes_new (p, n);

      g_signal_emit (self, signals[SIGNAL_DATA], 0, stream_id, chunk);
    }
  if (self->data_remaining == 0 && !self->finished)
    end_data_frame (self);
  return n;
}

static gboolean
handle_syn_stream (GroveSpdyConnection *self, guint8 flags, const guint8 *p, guint32 length,
                   GError **error)
{
  g_autoptr (GHashTable) headers = NULL;
  guint32 stream_id;
  SpdyStream *s;

  if (length < 10)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "a SPDY SYN_STREAM frame of %u bytes, less than its fixed 10", length);
  stream_id = get_u32 (p) & SPDY_STREAM_ID_MASK;
  if (!decode_headers (self, stream_id, p + 10, length - 10, &headers, error))
    return FALSE;
  if (stream_id % 2 == 0 || stream_id <= self->last_stream_id)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "SPDY SYN_STREAM for stream %u: a client's streams are odd and "
                        "increasing, and its last was %u",
                        stream_id, self->last_stream_id);
  self->last_stream_id = stream_id;
  if (headers == NULL || self->goaway_sent || self->closing)
    {
      queue_rst (self, stream_id,
                 headers == NULL ? GROVE_SPDY_STATUS_PROTOCOL_ERROR
                                 : GROVE_SPDY_STATUS_REFUSED_STREAM);
      return TRUE;
    }
  s = g_new0 (SpdyStream, 1);
  s->id = stream_id;
  s->send_window = self->peer_initial_window;
  g_queue_init (&s->pending);
  /* a unidirectional stream is the peer's alone: nothing is ever sent on it */
  s->replied = s->fin_queued = s->fin_sent = (flags & SPDY_FLAG_UNIDIRECTIONAL) != 0;
  g_hash_table_insert (self->streams, GUINT_TO_POINTER (stream_id), s);
  g_signal_emit (self, signals[SIGNAL_STREAM_OPENED], 0, stream_id, headers);
  if (flags & SPDY_FLAG_FIN)
    remote_fin (self, stream_id);
  return TRUE;
}

static gboolean
handle_headers_frame (GroveSpdyConnection *self, SpdyFrameType type, guint8 flags, const guint8 *p,
                      guint32 length, GError **error)
{
  g_autoptr (GHashTable) headers = NULL;
  guint32 stream_id;

  if (length < 4)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "a SPDY frame of type %d of %u bytes, less than its fixed 4", type, length);
  stream_id = get_u32 (p) & SPDY_STREAM_ID_MASK;
  if (!decode_headers (self, stream_id, p + 4, length - 4, &headers, error))
    return FALSE;
  /* a server opens no streams, so a SYN_REPLY answers nothing */
  if (type == SPDY_SYN_REPLY)
    queue_rst (self, stream_id, GROVE_SPDY_STATUS_INVALID_STREAM);
  else if (flags & SPDY_FLAG_FIN)
    remote_fin (self, stream_id);
  return TRUE;
}

static gboolean
handle_rst_stream (GroveSpdyConnection *self, const guint8 *p, guint32 length, GError **error)
{
  guint32 stream_id;
  guint32 status;

  if (length != 8)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "a SPDY RST_STREAM frame of %u bytes instead of 8", length);
  stream_id = get_u32 (p) & SPDY_STREAM_ID_MASK;
  status = get_u32 (p + 4);
  if (lookup_stream (self, stream_id) == NULL)
    return TRUE;
  g_debug ("the SPDY peer reset stream %u (status %u)", stream_id, status);
  remove_stream (self, stream_id);
  g_signal_emit (self, signals[SIGNAL_STREAM_RESET], 0, stream_id, status);
  return TRUE;
}

static void
set_peer_flow_honoured (GroveSpdyConnection *self)
{
  self->peer_flow = PEER_FLOW_HONOURED;
  clear_source (&self->grace_source);
}

static gboolean
handle_settings (GroveSpdyConnection *self, const guint8 *p, guint32 length, GError **error)
{
  guint32 n;

  if (length < 4 || (length - 4) / 8 != get_u32 (p) || (length - 4) % 8 != 0)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "a SPDY SETTINGS frame of %u bytes does not hold the entries it counts",
                        length);
  n = get_u32 (p);
  for (guint32 i = 0; i < n; i++)
    {
      const guint8 *entry = p + 4 + 8 * i;
      guint32 id = get_u32 (entry) & 0xffffff;
      guint32 value = get_u32 (entry + 4);
      GHashTableIter iter;
      gpointer s;

      if (id != SPDY_SETTINGS_INITIAL_WINDOW_SIZE)
        continue;
      if (value > SPDY_MAX_WINDOW)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "the SPDY peer set an initial window of %u bytes, more than 2^31-1",
                            value);
      /* open streams' windows move by the change (section 2.6.8) */
      g_hash_table_iter_init (&iter, self->streams);
      while (g_hash_table_iter_next (&iter, NULL, &s))
        ((SpdyStream *)s)->send_window += (gint64)value - self->peer_initial_window;
      self->peer_initial_window = value;
      set_peer_flow_honoured (self);
      enqueue_all (self);
    }
  return TRUE;
}

static gboolean
handle_window_update (GroveSpdyConnection *self, const guint8 *p, guint32 length, GError **error)
{
  guint32 stream_id;
  guint32 delta;
  SpdyStream *s;

  if (length != 8)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "a SPDY WINDOW_UPDATE frame of %u bytes instead of 8", length);
  stream_id = get_u32 (p) & SPDY_STREAM_ID_MASK;
  delta = get_u32 (p + 4) & SPDY_STREAM_ID_MASK;
  if (delta == 0)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "a SPDY WINDOW_UPDATE of 0 bytes for stream %u", stream_id);
  set_peer_flow_honoured (self);
  if (stream_id == 0)
    {
      if (self->send_window + delta > SPDY_MAX_WINDOW)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "a SPDY WINDOW_UPDATE grows the connection window past 2^31-1");
      self->send_window += delta;
      enqueue_all (self);
      return TRUE;
    }
  s = lookup_stream (self, stream_id);
  if (s == NULL)
    return TRUE;
  if (s->send_window + delta > SPDY_MAX_WINDOW)
    {
      remove_stream (self, stream_id);
      queue_rst (self, stream_id, GROVE_SPDY_STATUS_FLOW_CONTROL_ERROR);
      g_signal_emit (self, signals[SIGNAL_STREAM_RESET], 0, stream_id,
                     GROVE_SPDY_STATUS_FLOW_CONTROL_ERROR);
      return TRUE;
    }
  s->send_window += delta;
  enqueue_stream (self, s);
  return TRUE;
}

static gboolean
handle_ping_goaway (GroveSpdyConnection *self, SpdyFrameType type, const guint8 *p, guint32 length,
                    GError **error)
{
  guint32 expected = type == SPDY_PING ? 4 : 8;

  if (length != expected)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "a SPDY %s frame of %u bytes instead of %u",
                        type == SPDY_PING ? "PING" : "GOAWAY", length, expected);
  if (type == SPDY_PING)
    {
      /* the client's pings are odd; even ones would answer ours, and we send none */
      if (get_u32 (p) % 2 == 1)
        {
          put_control_header (self->outbuf, SPDY_PING, 0, 4);
          g_byte_array_append (self->outbuf, p, 4);
        }
      return TRUE;
    }
  g_debug ("the SPDY peer goes away (last stream %u, status %u)", get_u32 (p) & SPDY_STREAM_ID_MASK,
           get_u32 (p + 4));
  self->goaway_received = TRUE;
  if (g_hash_table_size (self->streams) == 0)
    self->closing = TRUE;
  return TRUE;
}

static gboolean
handle_control (GroveSpdyConnection *self, guint type, guint8 flags, const guint8 *p,
                guint32 length, GError **error)
{
  switch (type)
    {
    case SPDY_SYN_STREAM:
      return handle_syn_stream (self, flags, p, length, error);
    case SPDY_SYN_REPLY:
    case SPDY_HEADERS:
      return handle_headers_frame (self, type, flags, p, length, error);
    case SPDY_RST_STREAM:
      return handle_rst_stream (self, p, length, error);
    case SPDY_SETTINGS:
      return handle_settings (self, p, length, error);
    case SPDY_PING:
    case SPDY_GOAWAY:
      return handle_ping_goaway (self, type, p, length, error);
    case SPDY_WINDOW_UPDATE:
      return handle_window_update (self, p, length, error);
    default:
      /* section 2.2.1: unknown control frames are ignored */
      g_debug ("ignoring a SPDY control frame of unknown type %u", type);
      return TRUE;
    }
}

/* parses the frame at @p if all of it (all of its header, for data) is there; *@used is how
 * much it took, 0 if more must be read first */
static gboolean
parse_frame (GroveSpdyConnection *self, const guint8 *p, gsize avail, gsize *used, GError **error)
{
  guint32 word = 0;
  guint32 length = 0;
  guint version;

  *used = 0;
  if (avail < 8)
    return TRUE;
  word = get_u32 (p);
  length = get_u32 (p + 4) & 0xffffff;
  if ((word & 0x80000000u) == 0)
    {
      *used = 8;
      return start_data_frame (self, word, p[4], length, error);
    }
  version = (word >> 16) & 0x7fff;
  if (version != SPDY_VERSION)
    return grove_throw (error, GROVE_ERROR_UNSUPPORTED,
                        "a SPDY control frame of version %u: this server speaks version 3 only",
                        version);
  if (length > CONTROL_FRAME_MAX)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "a SPDY control frame of type %u and %u bytes, more than the %d accepted",
                        word & 0xffff, length, CONTROL_FRAME_MAX);
  if (avail - 8 < length)
    return TRUE;
  *used = 8 + length;
  return handle_control (self, word & 0xffff, p[4], p + 8, length, error);
}

static gboolean
process_input (GroveSpdyConnection *self, GError **error)
{
  gsize pos = 0;
  gboolean ok = TRUE;

  while (ok && !self->finished && !self->input_done)
    {
      const guint8 *p = self->inbuf->data + pos;
      gsize avail = self->inbuf->len - pos;
      gsize used = 0;

      if (self->in_data)
        used = deliver_data (self, p, avail);
      else
        ok = parse_frame (self, p, avail, &used, error);
      if (used == 0)
        break;
      pos += used;
    }
  g_byte_array_remove_range (self->inbuf, 0, pos);
  return ok;
}

static void
handle_eof (GroveSpdyConnection *self)
{
  guint n_open = g_hash_table_size (self->streams);

  self->input_done = TRUE;
  if (self->in_data || self->inbuf->len > 0)
    {
      gsize have = self->in_data ? self->data_remaining : self->inbuf->len;

      fail_protocol (self, g_error_new (GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT,
                                        "the SPDY peer closed the connection in the middle of a "
                                        "frame (%s %zu bytes)",
                                        self->in_data ? "missing" : "with only", have));
      return;
    }
  if (n_open > 0 && !self->goaway_received && !self->goaway_sent && self->close_error == NULL)
    self->close_error
        = g_error_new (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                       "the SPDY peer closed the connection with %u streams open", n_open);
  finish_transport (self);
}

static void read_next (GroveSpdyConnection *self);

static void
read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveSpdyConnection) self = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GBytes) bytes
      = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &local_error);

  self->reading = FALSE;
  if (self->finished)
    {
      finish_transport (self);
      return;
    }
  if (bytes == NULL)
    {
      g_prefix_error (&local_error, "reading from the SPDY peer: ");
      if (self->close_error == NULL)
        self->close_error = g_steal_pointer (&local_error);
      finish_transport (self);
      return;
    }
  if (g_bytes_get_size (bytes) == 0)
    {
      handle_eof (self);
      return;
    }
  g_byte_array_append (self->inbuf, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  if (!process_input (self, &local_error))
    {
      fail_protocol (self, g_steal_pointer (&local_error));
      return;
    }
  read_next (self);
  flush_output (self);
}

static void
read_next (GroveSpdyConnection *self)
{
  if (self->finished || self->input_done || self->reading)
    return;
  self->reading = TRUE;
  g_input_stream_read_bytes_async (g_io_stream_get_input_stream (self->stream), READ_CHUNK,
                                   G_PRIORITY_DEFAULT, self->cancellable, read_cb,
                                   g_object_ref (self));
}

/* Public API */

/**
 * grove_spdy_connection_new:
 * @stream: the connection after the HTTP upgrade to SPDY/3.1, the client's first frame next
 *
 * Creates the server side of a SPDY/3.1 session on @stream. Nothing is read before
 * grove_spdy_connection_start().
 *
 * Returns: (transfer full): the new connection
 */
GroveSpdyConnection *
grove_spdy_connection_new (GIOStream *stream)
{
  g_autoptr (GroveSpdyConnection) self = NULL;
  const guint8 *dict = NULL;
  gsize dict_len = 0;

  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);
  self = g_object_new (GROVE_TYPE_SPDY_CONNECTION, NULL);
  self->stream = g_object_ref (stream);
  self->dictionary = build_dictionary ();
  dict = g_bytes_get_data (self->dictionary, &dict_len);
  /* zlib fails these only when out of memory; the connection then fails when started */
  if (inflateInit (&self->inflater) != Z_OK
      || deflateInit (&self->deflater, Z_DEFAULT_COMPRESSION) != Z_OK
      || deflateSetDictionary (&self->deflater, dict, dict_len) != Z_OK)
    self->close_error = g_error_new (GROVE_ERROR, GROVE_ERROR_FAILED,
                                     "setting up SPDY header compression failed");
  return g_steal_pointer (&self);
}

/* WINDOW_UPDATEs and PING replies are small frames the peer waits for: Nagle's algorithm
 * would hold each back until the peer's delayed ACK, 40 ms per window (every write here is one
 * buffer of whole frames anyway) */
static void
set_no_delay (GIOStream *stream)
{
  g_autoptr (GError) local_error = NULL;
  GSocket *socket = NULL;

  if (G_IS_TLS_CONNECTION (stream))
    {
      g_autoptr (GIOStream) base = NULL;

      g_object_get (stream, "base-io-stream", &base, NULL);
      set_no_delay (base);
      return;
    }
  if (!G_IS_TCP_CONNECTION (stream))
    return;
  socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (stream));
  if (!g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, &local_error))
    g_debug ("setting TCP_NODELAY on the SPDY connection: %s", local_error->message);
}

/**
 * grove_spdy_connection_start:
 * @self: a connection
 *
 * Starts reading frames, on the thread-default main context, where all the signals are
 * emitted. The connection holds a reference on itself until it has emitted
 * #GroveSpdyConnection::closed.
 */
void
grove_spdy_connection_start (GroveSpdyConnection *self)
{
  g_return_if_fail (GROVE_IS_SPDY_CONNECTION (self));
  g_return_if_fail (!self->started);
  self->started = TRUE;
  self->context = g_main_context_ref_thread_default ();
  set_no_delay (self->stream);
  if (self->close_error != NULL)
    finish_transport (self);
  else
    read_next (self);
}

static SpdyStream *
lookup_open_stream (GroveSpdyConnection *self, guint32 stream_id, GError **error)
{
  SpdyStream *s = NULL;

  if (self->finished || self->close_error != NULL)
    return grove_throw (error, GROVE_ERROR_WRONG_STATE, "SPDY stream %u: the connection is closed",
                        stream_id),
           NULL;
  s = lookup_stream (self, stream_id);
  if (s == NULL)
    return grove_throw (error, GROVE_ERROR_NOT_FOUND, "SPDY stream %u is not open", stream_id),
           NULL;
  return s;
}

/**
 * grove_spdy_connection_reply:
 * @self: a connection
 * @stream_id: a stream the client opened
 * @headers: (nullable) (element-type utf8 utf8): the reply's headers, names are lowercased
 * @fin: whether nothing will be sent on the stream after the reply
 * @error: return location
 *
 * Accepts a stream with a SYN_REPLY, which must come before any data is sent on it.
 *
 * Returns: %FALSE if the stream is not open or has been replied to already
 */
gboolean
grove_spdy_connection_reply (GroveSpdyConnection *self, guint32 stream_id, GHashTable *headers,
                             gboolean fin, GError **error)
{
  SpdyStream *s = NULL;
  guint start;

  g_return_val_if_fail (GROVE_IS_SPDY_CONNECTION (self), FALSE);
  s = lookup_open_stream (self, stream_id, error);
  if (s == NULL)
    return FALSE;
  if (s->replied)
    return grove_throw (error, GROVE_ERROR_WRONG_STATE,
                        "SPDY stream %u has been replied to already", stream_id);
  start = self->outbuf->len;
  put_control_header (self->outbuf, SPDY_SYN_REPLY, fin ? SPDY_FLAG_FIN : 0, 0);
  put_u32 (self->outbuf, stream_id);
  if (!encode_headers (self, headers, self->outbuf, error))
    return FALSE;
  /* the length is known now */
  self->outbuf->data[start + 5] = ((self->outbuf->len - start - 8) >> 16) & 0xff;
  self->outbuf->data[start + 6] = ((self->outbuf->len - start - 8) >> 8) & 0xff;
  self->outbuf->data[start + 7] = (self->outbuf->len - start - 8) & 0xff;
  s->replied = TRUE;
  s->fin_queued = s->fin_sent = fin;
  maybe_remove_stream (self, s);
  flush_output (self);
  return TRUE;
}

/**
 * grove_spdy_connection_reset:
 * @self: a connection
 * @stream_id: a stream
 * @status: why
 *
 * Ends a stream at once with RST_STREAM: what is queued on it is dropped and nothing more is
 * emitted for it. Refusing a stream the client opened is resetting it.
 */
void
grove_spdy_connection_reset (GroveSpdyConnection *self, guint32 stream_id, GroveSpdyStatus status)
{
  g_return_if_fail (GROVE_IS_SPDY_CONNECTION (self));
  if (self->finished || self->close_error != NULL)
    return;
  remove_stream (self, stream_id);
  queue_rst (self, stream_id, status);
  flush_output (self);
}

/**
 * grove_spdy_connection_send_data:
 * @self: a connection
 * @stream_id: a stream that has been replied to
 * @data: what to send, possibly empty
 * @fin: whether this closes our side of the stream
 * @error: return location
 *
 * Queues @data on a stream. It goes out in order, in frames the peer's flow-control windows
 * allow; grove_spdy_connection_get_queued() tells how much still waits, and
 * #GroveSpdyConnection::stream-drained when nothing does any more.
 *
 * Returns: %FALSE if the stream is not open, not replied to or closed for sending
 */
gboolean
grove_spdy_connection_send_data (GroveSpdyConnection *self, guint32 stream_id, GBytes *data,
                                 gboolean fin, GError **error)
{
  SpdyStream *s = NULL;

  g_return_val_if_fail (GROVE_IS_SPDY_CONNECTION (self), FALSE);
  g_return_val_if_fail (data != NULL, FALSE);
  s = lookup_open_stream (self, stream_id, error);
  if (s == NULL)
    return FALSE;
  if (!s->replied)
    return grove_throw (error, GROVE_ERROR_WRONG_STATE, "SPDY stream %u has not been replied to",
                        stream_id);
  if (s->fin_queued)
    return grove_throw (error, GROVE_ERROR_WRONG_STATE, "SPDY stream %u is closed for sending",
                        stream_id);
  if (g_bytes_get_size (data) > 0)
    {
      g_queue_push_tail (&s->pending, g_bytes_ref (data));
      s->pending_len += g_bytes_get_size (data);
    }
  s->fin_queued = fin;
  enqueue_stream (self, s);
  flush_output (self);
  return TRUE;
}

/**
 * grove_spdy_connection_close_stream:
 * @self: a connection
 * @stream_id: a stream that has been replied to
 * @error: return location
 *
 * Closes our side of a stream: a FIN follows what is queued on it.
 *
 * Returns: %FALSE if the stream is not open, not replied to or closed for sending already
 */
gboolean
grove_spdy_connection_close_stream (GroveSpdyConnection *self, guint32 stream_id, GError **error)
{
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);

  g_return_val_if_fail (GROVE_IS_SPDY_CONNECTION (self), FALSE);
  return grove_spdy_connection_send_data (self, stream_id, empty, TRUE, error);
}

/**
 * grove_spdy_connection_get_queued:
 * @self: a connection
 * @stream_id: a stream
 *
 * Tells how much of what was sent on a stream waits for the peer's windows or for the
 * connection, so that a producer can stop reading its source while a lot does.
 *
 * Returns: the bytes queued, 0 for a stream that is not open
 */
gsize
grove_spdy_connection_get_queued (GroveSpdyConnection *self, guint32 stream_id)
{
  SpdyStream *s = NULL;

  g_return_val_if_fail (GROVE_IS_SPDY_CONNECTION (self), 0);
  s = lookup_stream (self, stream_id);
  return s != NULL ? s->pending_len : 0;
}

/**
 * grove_spdy_connection_get_n_streams:
 * @self: a connection
 *
 * Counts the streams that are open: not reset and not closed by both sides.
 *
 * Returns: the number of open streams
 */
guint
grove_spdy_connection_get_n_streams (GroveSpdyConnection *self)
{
  g_return_val_if_fail (GROVE_IS_SPDY_CONNECTION (self), 0);
  return g_hash_table_size (self->streams);
}

/**
 * grove_spdy_connection_get_peer_flow_control:
 * @self: a connection
 *
 * Tells whether the peer has shown it does flow control (it sent a WINDOW_UPDATE or an initial
 * window size) and its windows are honoured. spdystream's clients do not.
 *
 * Returns: %TRUE if the peer's windows are honoured
 */
gboolean
grove_spdy_connection_get_peer_flow_control (GroveSpdyConnection *self)
{
  g_return_val_if_fail (GROVE_IS_SPDY_CONNECTION (self), FALSE);
  return self->peer_flow == PEER_FLOW_HONOURED;
}

/**
 * grove_spdy_connection_close:
 * @self: a connection
 *
 * Ends the session: sends GOAWAY, refuses new streams, and closes the transport once what is
 * queued, stream data included, has been written (or after 10 s).
 * #GroveSpdyConnection::closed follows.
 */
void
grove_spdy_connection_close (GroveSpdyConnection *self)
{
  g_return_if_fail (GROVE_IS_SPDY_CONNECTION (self));
  if (self->finished || self->closing)
    return;
  if (!self->started)
    {
      finish_transport (self);
      return;
    }
  queue_goaway (self, SPDY_GOAWAY_OK);
  begin_closing (self);
  flush_output (self);
}

/* GObject */

static void
grove_spdy_connection_dispose (GObject *object)
{
  GroveSpdyConnection *self = GROVE_SPDY_CONNECTION (object);

  clear_source (&self->grace_source);
  clear_source (&self->close_source);
  g_hash_table_remove_all (self->streams);
  g_queue_clear (&self->ready);
  /* only a connection that never started gets here with its transport open */
  if (self->stream != NULL && !self->transport_closing)
    g_io_stream_close (self->stream, NULL, NULL);
  G_OBJECT_CLASS (grove_spdy_connection_parent_class)->dispose (object);
}

static void
grove_spdy_connection_finalize (GObject *object)
{
  GroveSpdyConnection *self = GROVE_SPDY_CONNECTION (object);

  /* safe on streams zlib never set up: their state is NULL */
  inflateEnd (&self->inflater);
  deflateEnd (&self->deflater);
  g_clear_object (&self->stream);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->dictionary, g_bytes_unref);
  g_clear_pointer (&self->inbuf, g_byte_array_unref);
  g_clear_pointer (&self->outbuf, g_byte_array_unref);
  g_clear_pointer (&self->writing, g_bytes_unref);
  g_clear_pointer (&self->streams, g_hash_table_unref);
  g_clear_pointer (&self->drained, g_array_unref);
  g_clear_error (&self->close_error);
  G_OBJECT_CLASS (grove_spdy_connection_parent_class)->finalize (object);
}

static void
grove_spdy_connection_init (GroveSpdyConnection *self)
{
  self->cancellable = g_cancellable_new ();
  self->inbuf = g_byte_array_new ();
  self->outbuf = g_byte_array_new ();
  self->streams = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                         (GDestroyNotify)spdy_stream_free);
  g_queue_init (&self->ready);
  self->drained = g_array_new (FALSE, FALSE, sizeof (guint32));
  self->send_window = SPDY_DEFAULT_WINDOW;
  self->peer_initial_window = SPDY_DEFAULT_WINDOW;
  self->peer_flow = PEER_FLOW_UNKNOWN;
}

static void
install_stream_signals (GType type)
{
  /**
   * GroveSpdyConnection::stream-opened:
   * @self: the connection
   * @stream_id: the new stream
   * @headers: (element-type utf8 utf8): its headers, names lowercased, several values of one
   *   name joined by commas
   *
   * The client opened a stream (SYN_STREAM). Answer with grove_spdy_connection_reply() or
   * grove_spdy_connection_reset().
   */
  signals[SIGNAL_STREAM_OPENED]
      = g_signal_new ("stream-opened", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                      G_TYPE_UINT, G_TYPE_HASH_TABLE);
  /**
   * GroveSpdyConnection::data:
   * @self: the connection
   * @stream_id: the stream
   * @data: what arrived, never empty
   *
   * Data arrived on a stream. It counts as consumed when the handler returns.
   */
  signals[SIGNAL_DATA] = g_signal_new ("data", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                       G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_BYTES);
  /**
   * GroveSpdyConnection::stream-half-closed:
   * @self: the connection
   * @stream_id: the stream
   *
   * The client closed its side of a stream (FIN): it sends nothing more on it.
   */
  signals[SIGNAL_STREAM_HALF_CLOSED]
      = g_signal_new ("stream-half-closed", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                      G_TYPE_NONE, 1, G_TYPE_UINT);
  /**
   * GroveSpdyConnection::stream-reset:
   * @self: the connection
   * @stream_id: the stream
   * @status: a #GroveSpdyStatus, or another number the peer sent
   *
   * A stream ended abnormally: the client reset it, or broke the protocol on it and this side
   * reset it. Nothing more can be sent on it.
   */
  signals[SIGNAL_STREAM_RESET]
      = g_signal_new ("stream-reset", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                      G_TYPE_UINT, G_TYPE_UINT);
}

static void
grove_spdy_connection_class_init (GroveSpdyConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GType type = G_TYPE_FROM_CLASS (klass);

  object_class->dispose = grove_spdy_connection_dispose;
  object_class->finalize = grove_spdy_connection_finalize;

  install_stream_signals (type);
  /**
   * GroveSpdyConnection::stream-drained:
   * @self: the connection
   * @stream_id: the stream
   *
   * Everything sent on a stream has been framed and written: a producer that paused while
   * grove_spdy_connection_get_queued() was high can go on.
   */
  signals[SIGNAL_STREAM_DRAINED] = g_signal_new ("stream-drained", type, G_SIGNAL_RUN_LAST, 0, NULL,
                                                 NULL, NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
  /**
   * GroveSpdyConnection::closed:
   * @self: the connection
   * @error: (nullable): why, or %NULL if the session ended in order (GOAWAY from either side,
   *   or the peer closing with no stream open)
   *
   * The session ended and the transport is closed. Emitted once; all streams are gone.
   */
  signals[SIGNAL_CLOSED] = g_signal_new ("closed", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                         G_TYPE_NONE, 1, G_TYPE_ERROR);
}
