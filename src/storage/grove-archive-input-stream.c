/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveArchiveInputStream"

#include "grove-archive-input-stream.h"

/**
 * GroveArchiveInputStream:
 *
 * A #GInputStream over the data of the current entry of a libarchive reader, so entry
 * contents can go through GIO (splice, checksums, converters). It reaches end-of-stream
 * at the end of the entry. It does not own the archive: the archive must outlive the
 * stream, and the stream must not be read after archive_read_next_header() has moved the
 * archive to another entry. Closing the stream does not skip the rest of the entry.
 */
struct _GroveArchiveInputStream
{
  GInputStream parent_instance;

  struct archive *archive;
};

G_DEFINE_TYPE (GroveArchiveInputStream, grove_archive_input_stream, G_TYPE_INPUT_STREAM)

static gssize
grove_archive_input_stream_read_fn (GInputStream *stream, void *buffer, gsize count,
                                    GCancellable *cancellable, GError **error)
{
  GroveArchiveInputStream *self = GROVE_ARCHIVE_INPUT_STREAM (stream);
  la_ssize_t n_read;
  const char *message;

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return -1;

  n_read = archive_read_data (self->archive, buffer, count);
  if (n_read >= 0)
    return n_read;

  /* ARCHIVE_WARN included: short or damaged entry data must never pass as complete */
  message = archive_error_string (self->archive);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "failed to read archive entry data: %s",
               message != NULL ? message : "libarchive gave no reason");
  return -1;
}

static void
grove_archive_input_stream_class_init (GroveArchiveInputStreamClass *klass)
{
  GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS (klass);

  stream_class->read_fn = grove_archive_input_stream_read_fn;
}

static void
grove_archive_input_stream_init (GroveArchiveInputStream *self)
{
}

/**
 * grove_archive_input_stream_new:
 * @archive: a libarchive reader positioned on an entry by archive_read_next_header()
 *
 * Creates a stream reading the data of @archive's current entry with
 * archive_read_data(). @archive is borrowed, not owned; see #GroveArchiveInputStream.
 * Read errors are %G_IO_ERROR_FAILED carrying archive_error_string().
 *
 * Returns: (transfer full): a new #GroveArchiveInputStream
 */
GInputStream *
grove_archive_input_stream_new (struct archive *archive)
{
  g_autoptr (GroveArchiveInputStream) self = NULL;

  g_return_val_if_fail (archive != NULL, NULL);

  self = g_object_new (GROVE_TYPE_ARCHIVE_INPUT_STREAM, NULL);
  self->archive = archive;
  return G_INPUT_STREAM (g_steal_pointer (&self));
}
