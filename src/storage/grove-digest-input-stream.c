/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveDigestInputStream"

#include <openssl/evp.h>

#include "grove-digest-input-stream.h"

/* big enough that drain and skip make few syscalls, small enough for a worker's stack budget */
#define DIGEST_CHUNK_SIZE (64 * 1024)

/**
 * GroveDigestInputStream:
 *
 * A #GFilterInputStream that feeds every byte read (or skipped) through it to a SHA-256
 * digest and counts it. libcrypto's EVP interface is used because it picks up the CPU's
 * SHA extensions, which makes hashing a layer several times cheaper than #GChecksum.
 *
 * Reads, skips and drains must come from one thread at a time (as #GInputStream already
 * requires); grove_digest_input_stream_get_digest() and
 * grove_digest_input_stream_get_bytes_read() may be called from any thread.
 */
struct _GroveDigestInputStream
{
  GFilterInputStream parent_instance;

  /* guards ctx and bytes_read so the getters can run while a worker reads */
  GMutex lock;
  EVP_MD_CTX *ctx;
  gboolean ctx_valid;
  guint64 bytes_read;
};

G_DEFINE_TYPE (GroveDigestInputStream, grove_digest_input_stream, G_TYPE_FILTER_INPUT_STREAM)

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_MD_CTX, EVP_MD_CTX_free)

static gboolean
grove_digest_input_stream_update (GroveDigestInputStream *self, const void *buffer, gsize count,
                                  GError **error)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&self->lock);

  if (!self->ctx_valid)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           "SHA-256 context is unusable: libcrypto failed to set it up");
      return FALSE;
    }
  if (EVP_DigestUpdate (self->ctx, buffer, count) != 1)
    {
      /* the context may hold a partial update now, so every later digest would be wrong */
      self->ctx_valid = FALSE;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "libcrypto failed to hash %" G_GSIZE_FORMAT " bytes with SHA-256", count);
      return FALSE;
    }
  self->bytes_read += count;
  return TRUE;
}

static gssize
grove_digest_input_stream_read_fn (GInputStream *stream, void *buffer, gsize count,
                                   GCancellable *cancellable, GError **error)
{
  GroveDigestInputStream *self = GROVE_DIGEST_INPUT_STREAM (stream);
  GInputStream *base_stream = G_FILTER_INPUT_STREAM (stream)->base_stream;
  gssize n_read;

  n_read = g_input_stream_read (base_stream, buffer, count, cancellable, error);
  if (n_read <= 0)
    return n_read;
  if (!grove_digest_input_stream_update (self, buffer, n_read, error))
    return -1;
  return n_read;
}

/* skipping must not seek: bytes that are not hashed would make the digest meaningless */
static gssize
grove_digest_input_stream_skip (GInputStream *stream, gsize count, GCancellable *cancellable,
                                GError **error)
{
  g_autofree guint8 *buffer = NULL;
  gsize chunk_size = MIN (count, DIGEST_CHUNK_SIZE);
  gsize skipped = 0;

  if (count == 0)
    return 0;

  buffer = g_malloc (chunk_size);
  while (skipped < count)
    {
      g_autoptr (GError) local_error = NULL;
      gssize n_read = grove_digest_input_stream_read_fn (
          stream, buffer, MIN (count - skipped, chunk_size), cancellable, &local_error);

      if (n_read < 0)
        {
          /* like GInputStream's own skip: a cancelled partial skip still reports progress */
          if (skipped > 0 && g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            return skipped;
          g_propagate_error (error, g_steal_pointer (&local_error));
          return -1;
        }
      if (n_read == 0)
        break;
      skipped += n_read;
    }
  return skipped;
}

static void
grove_digest_input_stream_finalize (GObject *object)
{
  GroveDigestInputStream *self = GROVE_DIGEST_INPUT_STREAM (object);

  g_clear_pointer (&self->ctx, EVP_MD_CTX_free);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (grove_digest_input_stream_parent_class)->finalize (object);
}

static void
grove_digest_input_stream_class_init (GroveDigestInputStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS (klass);

  object_class->finalize = grove_digest_input_stream_finalize;
  stream_class->read_fn = grove_digest_input_stream_read_fn;
  stream_class->skip = grove_digest_input_stream_skip;
}

static void
grove_digest_input_stream_init (GroveDigestInputStream *self)
{
  g_mutex_init (&self->lock);
  self->ctx = EVP_MD_CTX_new ();
  /* failure cannot be reported here; it surfaces as an error on the first read */
  self->ctx_valid = self->ctx != NULL && EVP_DigestInit_ex (self->ctx, EVP_sha256 (), NULL) == 1;
  if (!self->ctx_valid)
    g_warning ("libcrypto could not set up a SHA-256 context");
}

/**
 * grove_digest_input_stream_new:
 * @base_stream: the #GInputStream to read from
 *
 * Creates a stream that passes @base_stream's bytes through unchanged while hashing them.
 * Like any #GFilterInputStream it closes @base_stream when it is closed, unless
 * #GFilterInputStream:close-base-stream is set to %FALSE.
 *
 * Returns: (transfer full): a new #GroveDigestInputStream
 */
GInputStream *
grove_digest_input_stream_new (GInputStream *base_stream)
{
  g_return_val_if_fail (G_IS_INPUT_STREAM (base_stream), NULL);

  return g_object_new (GROVE_TYPE_DIGEST_INPUT_STREAM, "base-stream", base_stream, NULL);
}

/**
 * grove_digest_input_stream_get_digest:
 * @self: a #GroveDigestInputStream
 *
 * Computes the SHA-256 of every byte read or skipped so far. Reading may go on
 * afterwards; a later call covers the later bytes too.
 *
 * Returns: (transfer full) (nullable): `"sha256:"` followed by 64 lowercase hex digits,
 *   or %NULL if libcrypto failed (which is logged)
 */
char *
grove_digest_input_stream_get_digest (GroveDigestInputStream *self)
{
  g_autoptr (GMutexLocker) locker = NULL;
  g_autoptr (EVP_MD_CTX) copy = NULL;
  guint8 digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  g_autoptr (GString) result = NULL;

  g_return_val_if_fail (GROVE_IS_DIGEST_INPUT_STREAM (self), NULL);

  locker = g_mutex_locker_new (&self->lock);
  copy = EVP_MD_CTX_new ();
  /* finalising a copy leaves the running context able to take more data */
  if (!self->ctx_valid || copy == NULL || EVP_MD_CTX_copy_ex (copy, self->ctx) != 1
      || EVP_DigestFinal_ex (copy, digest, &digest_len) != 1)
    {
      g_warning ("libcrypto could not compute the SHA-256 of %" G_GUINT64_FORMAT " bytes read",
                 self->bytes_read);
      return NULL;
    }

  result = g_string_new ("sha256:");
  for (unsigned int i = 0; i < digest_len; i++)
    g_string_append_printf (result, "%02x", digest[i]);
  return g_string_free (g_steal_pointer (&result), FALSE);
}

/**
 * grove_digest_input_stream_get_bytes_read:
 * @self: a #GroveDigestInputStream
 *
 * Returns: how many bytes have been read or skipped through @self, i.e. hashed
 */
guint64
grove_digest_input_stream_get_bytes_read (GroveDigestInputStream *self)
{
  g_autoptr (GMutexLocker) locker = NULL;

  g_return_val_if_fail (GROVE_IS_DIGEST_INPUT_STREAM (self), 0);

  locker = g_mutex_locker_new (&self->lock);
  return self->bytes_read;
}

/**
 * grove_digest_input_stream_drain:
 * @self: a #GroveDigestInputStream
 * @cancellable: (nullable): a #GCancellable
 * @error: return location for a #GError
 *
 * Reads and hashes everything left in the stream, so that the digest covers bytes a
 * consumer stopped short of, such as the zero padding after a tar end-of-archive marker.
 *
 * Returns: %TRUE once the end of the stream was reached, %FALSE on error
 */
gboolean
grove_digest_input_stream_drain (GroveDigestInputStream *self, GCancellable *cancellable,
                                 GError **error)
{
  g_autofree guint8 *buffer = NULL;

  g_return_val_if_fail (GROVE_IS_DIGEST_INPUT_STREAM (self), FALSE);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  buffer = g_malloc (DIGEST_CHUNK_SIZE);
  for (;;)
    {
      gssize n_read = g_input_stream_read (G_INPUT_STREAM (self), buffer, DIGEST_CHUNK_SIZE,
                                           cancellable, error);
      if (n_read < 0)
        return FALSE;
      if (n_read == 0)
        return TRUE;
    }
}
