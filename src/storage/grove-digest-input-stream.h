/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define GROVE_TYPE_DIGEST_INPUT_STREAM (grove_digest_input_stream_get_type ())
G_DECLARE_FINAL_TYPE (GroveDigestInputStream, grove_digest_input_stream, GROVE, DIGEST_INPUT_STREAM,
                      GFilterInputStream)

GInputStream *grove_digest_input_stream_new (GInputStream *base_stream);
char *grove_digest_input_stream_get_digest (GroveDigestInputStream *self);
guint64 grove_digest_input_stream_get_bytes_read (GroveDigestInputStream *self);
gboolean grove_digest_input_stream_drain (GroveDigestInputStream *self, GCancellable *cancellable,
                                          GError **error);

G_END_DECLS
