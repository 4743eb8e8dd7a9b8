/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <archive.h>
#include <gio/gio.h>

G_BEGIN_DECLS

#define GROVE_TYPE_ARCHIVE_INPUT_STREAM (grove_archive_input_stream_get_type ())
G_DECLARE_FINAL_TYPE (GroveArchiveInputStream, grove_archive_input_stream, GROVE,
                      ARCHIVE_INPUT_STREAM, GInputStream)

GInputStream *grove_archive_input_stream_new (struct archive *archive);

G_END_DECLS
