/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveZstdDecompressor"

#include <zstd.h>

#include "grove-zstd-decompressor.h"

/**
 * GroveZstdDecompressor:
 *
 * A #GConverter that decompresses a zstd stream (one or more concatenated frames, as
 * `zstd` writes and OCI `+zstd` layers carry) for use with g_converter_input_stream_new().
 * The stream only counts as finished when the input ends exactly after a complete frame;
 * a stream cut short fails with %G_IO_ERROR_INVALID_DATA instead of yielding short data.
 *
 * Frames needing a window larger than libzstd's default limit (128 MiB) are refused, so a
 * hostile layer cannot make the decoder allocate without bound.
 */
struct _GroveZstdDecompressor
{
  GObject parent_instance;

  ZSTD_DCtx *dctx;
  /* input of a frame has been consumed but its end has not been decoded yet */
  gboolean in_frame;
  /* at least one frame was decoded completely since the last reset */
  gboolean seen_frame;
};

static void grove_zstd_decompressor_iface_init (GConverterIface *iface);

G_DEFINE_TYPE_WITH_CODE (GroveZstdDecompressor, grove_zstd_decompressor, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (G_TYPE_CONVERTER,
                                                grove_zstd_decompressor_iface_init))

/* feed as much of @in to the decoder as @out has room for, frame after frame */
static gboolean
grove_zstd_decompressor_run (GroveZstdDecompressor *self, ZSTD_inBuffer *in, ZSTD_outBuffer *out,
                             GError **error)
{
  for (;;)
    {
      gsize in_before = in->pos;
      gsize out_before = out->pos;
      size_t ret = ZSTD_decompressStream (self->dctx, out, in);

      if (ZSTD_isError (ret))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "invalid zstd stream: %s",
                       ZSTD_getErrorName (ret));
          return FALSE;
        }
      if (ret == 0)
        {
          /* a frame ended and everything it decoded to has been flushed to @out */
          self->in_frame = FALSE;
          self->seen_frame = TRUE;
        }
      else if (in->pos > in_before)
        self->in_frame = TRUE;

      /* output room left over means the decoder holds nothing more for this input */
      if (in->pos == in->size && (ret == 0 || out->pos < out->size))
        return TRUE;
      if (out->pos == out->size)
        return TRUE;
      if (in->pos == in_before && out->pos == out_before)
        return TRUE;
    }
}

static GConverterResult
grove_zstd_decompressor_no_progress (GroveZstdDecompressor *self, gsize inbuf_size,
                                     gsize outbuf_size, GConverterFlags flags, GError **error)
{
  if (outbuf_size == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                           "no room in the output buffer for decompressed zstd data");
      return G_CONVERTER_ERROR;
    }
  if (flags & G_CONVERTER_INPUT_AT_END)
    {
      if (self->in_frame || !self->seen_frame)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "truncated zstd stream: input ended %s",
                       self->in_frame ? "in the middle of a frame" : "before the first frame");
          return G_CONVERTER_ERROR;
        }
      /* libzstd always takes input it has room for, so this is not expected to happen */
      if (inbuf_size > 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "zstd decoder stopped with %" G_GSIZE_FORMAT " bytes of input left",
                       inbuf_size);
          return G_CONVERTER_ERROR;
        }
      return G_CONVERTER_FINISHED;
    }
  if (flags & G_CONVERTER_FLUSH)
    return G_CONVERTER_FLUSHED;
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                       "more zstd input is needed to make progress");
  return G_CONVERTER_ERROR;
}

static GConverterResult
grove_zstd_decompressor_convert (GConverter *converter, const void *inbuf, gsize inbuf_size,
                                 void *outbuf, gsize outbuf_size, GConverterFlags flags,
                                 gsize *bytes_read, gsize *bytes_written, GError **error)
{
  GroveZstdDecompressor *self = GROVE_ZSTD_DECOMPRESSOR (converter);
  ZSTD_inBuffer in = { inbuf, inbuf_size, 0 };
  ZSTD_outBuffer out = { outbuf, outbuf_size, 0 };
  gboolean all_flushed;

  if (self->dctx == NULL)
    self->dctx = ZSTD_createDCtx ();
  if (self->dctx == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           "libzstd could not allocate a decompression context");
      return G_CONVERTER_ERROR;
    }

  /* runs on empty input too: a frame may hold output that did not fit last time */
  if (outbuf_size > 0 && !grove_zstd_decompressor_run (self, &in, &out, error))
    return G_CONVERTER_ERROR;
  *bytes_read = in.pos;
  *bytes_written = out.pos;

  /* GConverterInputStream loops forever on a CONVERTED result that moved nothing */
  if (in.pos == 0 && out.pos == 0)
    return grove_zstd_decompressor_no_progress (self, inbuf_size, outbuf_size, flags, error);

  all_flushed = in.pos == in.size && (out.pos < out.size || !self->in_frame);
  if ((flags & G_CONVERTER_INPUT_AT_END) && all_flushed && !self->in_frame && self->seen_frame)
    return G_CONVERTER_FINISHED;
  if ((flags & G_CONVERTER_FLUSH) && all_flushed)
    return G_CONVERTER_FLUSHED;
  return G_CONVERTER_CONVERTED;
}

static void
grove_zstd_decompressor_reset (GConverter *converter)
{
  GroveZstdDecompressor *self = GROVE_ZSTD_DECOMPRESSOR (converter);

  if (self->dctx != NULL)
    ZSTD_DCtx_reset (self->dctx, ZSTD_reset_session_only);
  self->in_frame = FALSE;
  self->seen_frame = FALSE;
}

static void
grove_zstd_decompressor_iface_init (GConverterIface *iface)
{
  iface->convert = grove_zstd_decompressor_convert;
  iface->reset = grove_zstd_decompressor_reset;
}

static void
grove_zstd_decompressor_finalize (GObject *object)
{
  GroveZstdDecompressor *self = GROVE_ZSTD_DECOMPRESSOR (object);

  g_clear_pointer (&self->dctx, ZSTD_freeDCtx);

  G_OBJECT_CLASS (grove_zstd_decompressor_parent_class)->finalize (object);
}

static void
grove_zstd_decompressor_class_init (GroveZstdDecompressorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = grove_zstd_decompressor_finalize;
}

static void
grove_zstd_decompressor_init (GroveZstdDecompressor *self)
{
}

/**
 * grove_zstd_decompressor_new:
 *
 * Creates a zstd decompressor to pass to g_converter_input_stream_new().
 *
 * Returns: (transfer full): a new #GroveZstdDecompressor
 */
GConverter *
grove_zstd_decompressor_new (void)
{
  return g_object_new (GROVE_TYPE_ZSTD_DECOMPRESSOR, NULL);
}
