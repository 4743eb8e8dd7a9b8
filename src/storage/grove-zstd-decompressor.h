/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define GROVE_TYPE_ZSTD_DECOMPRESSOR (grove_zstd_decompressor_get_type ())
G_DECLARE_FINAL_TYPE (GroveZstdDecompressor, grove_zstd_decompressor, GROVE, ZSTD_DECOMPRESSOR,
                      GObject)

GConverter *grove_zstd_decompressor_new (void);

G_END_DECLS
