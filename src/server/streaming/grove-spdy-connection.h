/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * GroveSpdyStatus:
 * @GROVE_SPDY_STATUS_PROTOCOL_ERROR: the peer broke the protocol on this stream
 * @GROVE_SPDY_STATUS_INVALID_STREAM: the frame names a stream that is not open
 * @GROVE_SPDY_STATUS_REFUSED_STREAM: the stream was refused before any processing
 * @GROVE_SPDY_STATUS_UNSUPPORTED_VERSION: the stream's SPDY version is not 3
 * @GROVE_SPDY_STATUS_CANCEL: the stream is no longer needed
 * @GROVE_SPDY_STATUS_INTERNAL_ERROR: the stream failed on this side
 * @GROVE_SPDY_STATUS_FLOW_CONTROL_ERROR: the peer broke flow control on this stream
 * @GROVE_SPDY_STATUS_STREAM_IN_USE: a SYN_REPLY came for a stream already replied to
 * @GROVE_SPDY_STATUS_STREAM_ALREADY_CLOSED: data came on a stream its sender had closed
 * @GROVE_SPDY_STATUS_FRAME_TOO_LARGE: a frame was larger than this side accepts
 *
 * The status codes of a RST_STREAM frame (SPDY/3.1, section 2.6.3).
 */
typedef enum
{
  GROVE_SPDY_STATUS_PROTOCOL_ERROR = 1,
  GROVE_SPDY_STATUS_INVALID_STREAM = 2,
  GROVE_SPDY_STATUS_REFUSED_STREAM = 3,
  GROVE_SPDY_STATUS_UNSUPPORTED_VERSION = 4,
  GROVE_SPDY_STATUS_CANCEL = 5,
  GROVE_SPDY_STATUS_INTERNAL_ERROR = 6,
  GROVE_SPDY_STATUS_FLOW_CONTROL_ERROR = 7,
  GROVE_SPDY_STATUS_STREAM_IN_USE = 8,
  GROVE_SPDY_STATUS_STREAM_ALREADY_CLOSED = 9,
  GROVE_SPDY_STATUS_FRAME_TOO_LARGE = 11,
} GroveSpdyStatus;

#define GROVE_TYPE_SPDY_CONNECTION (grove_spdy_connection_get_type ())
G_DECLARE_FINAL_TYPE (GroveSpdyConnection, grove_spdy_connection, GROVE, SPDY_CONNECTION, GObject)

GroveSpdyConnection *grove_spdy_connection_new (GIOStream *stream);
void grove_spdy_connection_start (GroveSpdyConnection *self);
gboolean grove_spdy_connection_reply (GroveSpdyConnection *self, guint32 stream_id,
                                      GHashTable *headers, gboolean fin, GError **error);
void grove_spdy_connection_reset (GroveSpdyConnection *self, guint32 stream_id,
                                  GroveSpdyStatus status);
gboolean grove_spdy_connection_send_data (GroveSpdyConnection *self, guint32 stream_id,
                                          GBytes *data, gboolean fin, GError **error);
gboolean grove_spdy_connection_close_stream (GroveSpdyConnection *self, guint32 stream_id,
                                             GError **error);
gsize grove_spdy_connection_get_queued (GroveSpdyConnection *self, guint32 stream_id);
guint grove_spdy_connection_get_n_streams (GroveSpdyConnection *self);
gboolean grove_spdy_connection_get_peer_flow_control (GroveSpdyConnection *self);
void grove_spdy_connection_close (GroveSpdyConnection *self);

G_END_DECLS
