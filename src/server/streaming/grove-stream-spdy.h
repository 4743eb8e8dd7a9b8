/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "grove-engine.h"
#include "grove-stream-session.h"

G_BEGIN_DECLS

typedef struct _GroveStreamSpdy GroveStreamSpdy;

/**
 * GroveStreamSpdyDone:
 * @session: the session whose connection is over
 * @user_data: what the session was made with
 */
typedef void (*GroveStreamSpdyDone) (GroveStreamSpdy *session, gpointer user_data);

GroveStreamSpdy *grove_stream_spdy_new (GroveEngine *engine, GIOStream *stream,
                                        const GroveStreamRequest *request, const char *protocol,
                                        GroveStreamSpdyDone done, gpointer done_data);
void grove_stream_spdy_shutdown (GroveStreamSpdy *self);
void grove_stream_spdy_free (GroveStreamSpdy *self);

G_END_DECLS
