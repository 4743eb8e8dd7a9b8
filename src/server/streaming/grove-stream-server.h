/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "grove-engine.h"
#include "grove-stream-session.h"

G_BEGIN_DECLS

#define GROVE_TYPE_STREAM_SERVER (grove_stream_server_get_type ())
G_DECLARE_FINAL_TYPE (GroveStreamServer, grove_stream_server, GROVE, STREAM_SERVER, GObject)

GroveStreamServer *grove_stream_server_new (GroveEngine *engine, const char *address, guint port,
                                            guint token_lifetime_seconds,
                                            GTlsCertificate *certificate, GError **error);
const char *grove_stream_server_get_base_url (GroveStreamServer *self);
char *grove_stream_server_add (GroveStreamServer *self, const GroveStreamRequest *request);
guint grove_stream_server_get_n_sessions (GroveStreamServer *self);
void grove_stream_server_shutdown (GroveStreamServer *self);

G_END_DECLS
