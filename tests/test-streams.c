/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestStreams"

#include <errno.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <gio/gio.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "grove-archive-input-stream.h"
#include "grove-digest-input-stream.h"
#include "grove-zstd-decompressor.h"

/* libarchive's handles are plain structs; name them so g_autoptr can free them */
typedef struct archive TestArchiveReader;
typedef struct archive TestArchiveWriter;
typedef struct archive_entry TestArchiveEntry;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestArchiveReader, archive_read_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestArchiveWriter, archive_write_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestArchiveEntry, archive_entry_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ZSTD_CCtx, ZSTD_freeCCtx)

#define TEST_CHUNK_SIZE (64 * 1024)

/* deterministic data mixing random and repetitive runs, so compressors have work to do */
static GBytes *
make_test_data (gsize len, guint32 seed)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (seed);
  g_autofree guint8 *data = g_malloc (len);
  const char pattern[] = "grove layer ";
  gsize i = 0;

  while (i < len)
    {
      /* MIN evaluates its arguments twice, so draw the length first */
      gsize wanted = g_rand_int_range (rand, 1, 4096);
      gsize run = MIN (len - i, wanted);
      gboolean noisy = g_rand_boolean (rand);

      for (gsize j = 0; j < run; j++, i++)
        data[i] = noisy ? (guint8)g_rand_int_range (rand, 0, 256)
                        : (guint8)pattern[i % (sizeof pattern - 1)];
    }
  return g_bytes_new_take (g_steal_pointer (&data), len);
}

static char *
expected_digest (GBytes *bytes)
{
  g_autofree char *hex = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);

  return g_strconcat ("sha256:", hex, NULL);
}

/* reads @stream to its end in reads of @chunk_size bytes */
static GBytes *
read_stream_all (GInputStream *stream, gsize chunk_size, GError **error)
{
  g_autoptr (GByteArray) result = g_byte_array_new ();
  g_autofree guint8 *buffer = g_malloc (chunk_size);

  for (;;)
    {
      gssize n_read = g_input_stream_read (stream, buffer, chunk_size, NULL, error);

      if (n_read < 0)
        return NULL;
      if (n_read == 0)
        return g_byte_array_free_to_bytes (g_steal_pointer (&result));
      g_assert_cmpint (n_read, <=, (gssize)chunk_size);
      g_byte_array_append (result, buffer, n_read);
    }
}

static void
assert_bytes_equal (GBytes *actual, GBytes *expected)
{
  gsize actual_len = 0;
  gsize expected_len = 0;
  const guint8 *actual_data = g_bytes_get_data (actual, &actual_len);
  const guint8 *expected_data = g_bytes_get_data (expected, &expected_len);

  g_assert_cmpmem (actual_data, actual_len, expected_data, expected_len);
}

static void
assert_digest_stream (GInputStream *stream, GBytes *expected)
{
  g_autofree char *expected_hex = expected_digest (expected);
  g_autofree char *digest
      = grove_digest_input_stream_get_digest (GROVE_DIGEST_INPUT_STREAM (stream));

  g_assert_cmpstr (digest, ==, expected_hex);
  g_assert_cmpuint (grove_digest_input_stream_get_bytes_read (GROVE_DIGEST_INPUT_STREAM (stream)),
                    ==, g_bytes_get_size (expected));
}

static void
test_digest_chunks (void)
{
  g_autoptr (GBytes) data = make_test_data (200003, 1);
  const gsize chunk_sizes[] = { 1, 7, 512, 4093, 65536, 300000 };

  for (gsize i = 0; i < G_N_ELEMENTS (chunk_sizes); i++)
    {
      g_autoptr (GInputStream) base = g_memory_input_stream_new_from_bytes (data);
      g_autoptr (GInputStream) stream = grove_digest_input_stream_new (base);
      g_autoptr (GBytes) output = NULL;
      g_autoptr (GError) local_error = NULL;

      g_test_message ("reading in chunks of %" G_GSIZE_FORMAT " bytes", chunk_sizes[i]);
      output = read_stream_all (stream, chunk_sizes[i], &local_error);
      g_assert_no_error (local_error);
      assert_bytes_equal (output, data);
      assert_digest_stream (stream, data);
    }
}

static void
test_digest_empty (void)
{
  g_autoptr (GInputStream) base = g_memory_input_stream_new ();
  g_autoptr (GInputStream) stream = grove_digest_input_stream_new (base);
  g_autoptr (GError) local_error = NULL;
  g_autofree char *digest = NULL;

  g_assert_true (
      grove_digest_input_stream_drain (GROVE_DIGEST_INPUT_STREAM (stream), NULL, &local_error));
  g_assert_no_error (local_error);
  digest = grove_digest_input_stream_get_digest (GROVE_DIGEST_INPUT_STREAM (stream));
  g_assert_cmpstr (digest, ==,
                   "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  g_assert_cmpuint (grove_digest_input_stream_get_bytes_read (GROVE_DIGEST_INPUT_STREAM (stream)),
                    ==, 0);
}

static void
test_digest_skip (void)
{
  g_autoptr (GBytes) data = make_test_data (150000, 2);
  g_autoptr (GInputStream) base = g_memory_input_stream_new_from_bytes (data);
  g_autoptr (GInputStream) stream = grove_digest_input_stream_new (base);
  g_autoptr (GError) local_error = NULL;
  const guint8 *expected = g_bytes_get_data (data, NULL);
  guint8 buffer[333];
  gsize n_read = 0;

  g_assert_true (g_input_stream_read_all (stream, buffer, 10, &n_read, NULL, &local_error));
  g_assert_no_error (local_error);
  g_assert_cmpmem (buffer, n_read, expected, 10);
  g_assert_cmpint (g_input_stream_skip (stream, 1000, NULL, &local_error), ==, 1000);
  g_assert_no_error (local_error);
  g_assert_true (
      g_input_stream_read_all (stream, buffer, sizeof buffer, &n_read, NULL, &local_error));
  g_assert_no_error (local_error);
  g_assert_cmpmem (buffer, n_read, expected + 1010, sizeof buffer);
  /* larger than one internal chunk, so skip has to loop */
  g_assert_cmpint (g_input_stream_skip (stream, 100000, NULL, &local_error), ==, 100000);
  g_assert_no_error (local_error);
  g_assert_cmpuint (grove_digest_input_stream_get_bytes_read (GROVE_DIGEST_INPUT_STREAM (stream)),
                    ==, 101343);
  /* skipping past the end stops at the end */
  g_assert_cmpint (g_input_stream_skip (stream, 1000000, NULL, &local_error), ==, 150000 - 101343);
  g_assert_no_error (local_error);
  g_assert_cmpint (g_input_stream_skip (stream, 10, NULL, &local_error), ==, 0);
  g_assert_no_error (local_error);
  assert_digest_stream (stream, data);
}

typedef struct
{
  gboolean done;
  gssize skipped;
  GError *error;
} AsyncSkip;

static void
skip_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  AsyncSkip *async_skip = user_data;

  async_skip->skipped
      = g_input_stream_skip_finish (G_INPUT_STREAM (source), result, &async_skip->error);
  async_skip->done = TRUE;
}

/* GInputStream's default skip_async runs the class skip in a thread: it must hash too */
static void
test_digest_skip_async (void)
{
  g_autoptr (GBytes) data = make_test_data (90000, 3);
  g_autoptr (GInputStream) base = g_memory_input_stream_new_from_bytes (data);
  g_autoptr (GInputStream) stream = grove_digest_input_stream_new (base);
  AsyncSkip async_skip = { FALSE, 0, NULL };

  g_input_stream_skip_async (stream, 200000, G_PRIORITY_DEFAULT, NULL, skip_done_cb, &async_skip);
  while (!async_skip.done)
    g_main_context_iteration (NULL, TRUE);
  g_assert_no_error (async_skip.error);
  g_assert_cmpint (async_skip.skipped, ==, 90000);
  assert_digest_stream (stream, data);
}

static void
test_digest_drain (void)
{
  g_autoptr (GBytes) data = make_test_data (300001, 4);
  g_autoptr (GInputStream) base = g_memory_input_stream_new_from_bytes (data);
  g_autoptr (GInputStream) stream = grove_digest_input_stream_new (base);
  g_autoptr (GError) local_error = NULL;
  guint8 buffer[100];

  g_assert_cmpint (g_input_stream_read (stream, buffer, sizeof buffer, NULL, &local_error), ==,
                   sizeof buffer);
  g_assert_no_error (local_error);
  g_assert_true (
      grove_digest_input_stream_drain (GROVE_DIGEST_INPUT_STREAM (stream), NULL, &local_error));
  g_assert_no_error (local_error);
  assert_digest_stream (stream, data);
  /* draining at the end is a no-op */
  g_assert_true (
      grove_digest_input_stream_drain (GROVE_DIGEST_INPUT_STREAM (stream), NULL, &local_error));
  g_assert_no_error (local_error);
  assert_digest_stream (stream, data);
}

static void
test_digest_continue (void)
{
  g_autoptr (GBytes) data = make_test_data (70000, 5);
  g_autoptr (GBytes) first_half = g_bytes_new_from_bytes (data, 0, 35000);
  g_autoptr (GInputStream) base = g_memory_input_stream_new_from_bytes (data);
  g_autoptr (GInputStream) stream = grove_digest_input_stream_new (base);
  g_autoptr (GError) local_error = NULL;
  g_autofree guint8 *buffer = g_malloc (35000);
  gsize n_read = 0;

  g_assert_true (g_input_stream_read_all (stream, buffer, 35000, &n_read, NULL, &local_error));
  g_assert_no_error (local_error);
  assert_digest_stream (stream, first_half);
  /* asking twice must not disturb the running hash */
  assert_digest_stream (stream, first_half);
  g_assert_true (g_input_stream_read_all (stream, buffer, 35000, &n_read, NULL, &local_error));
  g_assert_no_error (local_error);
  g_assert_cmpuint (n_read, ==, 35000);
  assert_digest_stream (stream, data);
}

static void
test_digest_close_base (void)
{
  g_autoptr (GInputStream) base = g_memory_input_stream_new ();
  g_autoptr (GInputStream) other_base = g_memory_input_stream_new ();
  g_autoptr (GInputStream) stream = grove_digest_input_stream_new (base);
  g_autoptr (GInputStream) keeping = grove_digest_input_stream_new (other_base);
  g_autoptr (GError) local_error = NULL;

  g_assert_true (g_filter_input_stream_get_close_base_stream (G_FILTER_INPUT_STREAM (stream)));
  g_assert_true (g_input_stream_close (stream, NULL, &local_error));
  g_assert_no_error (local_error);
  g_assert_true (g_input_stream_is_closed (base));

  g_filter_input_stream_set_close_base_stream (G_FILTER_INPUT_STREAM (keeping), FALSE);
  g_assert_true (g_input_stream_close (keeping, NULL, &local_error));
  g_assert_no_error (local_error);
  g_assert_false (g_input_stream_is_closed (other_base));
}

static gpointer
read_in_thread (gpointer user_data)
{
  GInputStream *stream = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GBytes) output = read_stream_all (stream, 1000, &local_error);

  g_assert_no_error (local_error);
  return g_steal_pointer (&output);
}

/* a worker reads while this thread polls the getters, as a progress reporter would */
static void
test_digest_thread (void)
{
  g_autoptr (GBytes) data = make_test_data (2000000, 6);
  g_autoptr (GInputStream) base = g_memory_input_stream_new_from_bytes (data);
  g_autoptr (GInputStream) stream = grove_digest_input_stream_new (base);
  GroveDigestInputStream *digest_stream = GROVE_DIGEST_INPUT_STREAM (stream);
  g_autoptr (GThread) thread = g_thread_new ("reader", read_in_thread, stream);
  g_autoptr (GBytes) output = NULL;
  guint64 last = 0;

  while (last < g_bytes_get_size (data))
    {
      g_autofree char *digest = grove_digest_input_stream_get_digest (digest_stream);
      guint64 now = grove_digest_input_stream_get_bytes_read (digest_stream);

      g_assert_nonnull (digest);
      g_assert_cmpuint (now, >=, last);
      last = now;
    }
  output = g_thread_join (g_steal_pointer (&thread));
  assert_bytes_equal (output, data);
  assert_digest_stream (stream, data);
}

/* compresses @data as @n_frames concatenated zstd frames */
static GBytes *
zstd_compress_frames (GBytes *data, guint n_frames, gboolean checksum)
{
  gsize len = 0;
  const guint8 *bytes = g_bytes_get_data (data, &len);
  g_autoptr (GByteArray) result = g_byte_array_new ();
  g_autoptr (ZSTD_CCtx) cctx = ZSTD_createCCtx ();
  gsize offset = 0;

  g_assert_nonnull (cctx);
  g_assert_false (ZSTD_isError (ZSTD_CCtx_setParameter (cctx, ZSTD_c_checksumFlag, checksum)));
  for (guint i = 0; i < n_frames; i++)
    {
      gsize piece = i + 1 == n_frames ? len - offset : len / n_frames;
      gsize bound = ZSTD_compressBound (piece);
      guint old_len = result->len;
      size_t written;

      g_assert_false (
          ZSTD_isError (ZSTD_CCtx_setParameter (cctx, ZSTD_c_compressionLevel, 1 + (int)i * 4)));
      g_byte_array_set_size (result, old_len + bound);
      written = ZSTD_compress2 (cctx, result->data + old_len, bound,
                                piece > 0 ? (const void *)(bytes + offset) : "", piece);
      g_assert_false (ZSTD_isError (written));
      g_byte_array_set_size (result, old_len + written);
      offset += piece;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&result));
}

static GBytes *
zstd_decompress_stream (GBytes *compressed, gsize read_size, GError **error)
{
  g_autoptr (GInputStream) base = g_memory_input_stream_new_from_bytes (compressed);
  g_autoptr (GConverter) decompressor = grove_zstd_decompressor_new ();
  g_autoptr (GInputStream) stream = g_converter_input_stream_new (base, decompressor);

  return read_stream_all (stream, read_size, error);
}

/* drives the converter by hand: @in_step more input bytes at a time, @out_size of output */
static GBytes *
convert_in_pieces (GConverter *converter, GBytes *input, gsize in_step, gsize out_size,
                   GError **error)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (input, &len);
  g_autoptr (GByteArray) output = g_byte_array_new ();
  g_autofree guint8 *outbuf = g_malloc (out_size);
  gsize consumed = 0;
  gsize available = MIN (in_step, len);

  for (;;)
    {
      g_autoptr (GError) local_error = NULL;
      GConverterFlags flags = available == len ? G_CONVERTER_INPUT_AT_END : G_CONVERTER_NO_FLAGS;
      gsize n_read = 0;
      gsize n_written = 0;
      GConverterResult result
          = g_converter_convert (converter, len > 0 ? data + consumed : NULL, available - consumed,
                                 outbuf, out_size, flags, &n_read, &n_written, &local_error);

      if (result == G_CONVERTER_ERROR
          && g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT) && available < len)
        {
          available = MIN (available + in_step, len);
          continue;
        }
      if (result == G_CONVERTER_ERROR)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
      /* a CONVERTED result that moved nothing would make GConverterInputStream spin */
      g_assert_true (n_read > 0 || n_written > 0 || result == G_CONVERTER_FINISHED);
      consumed += n_read;
      g_byte_array_append (output, outbuf, n_written);
      if (result == G_CONVERTER_FINISHED)
        {
          g_assert_cmpuint (consumed, ==, len);
          return g_byte_array_free_to_bytes (g_steal_pointer (&output));
        }
      if (consumed == available && available < len)
        available = MIN (available + in_step, len);
    }
}

static void
test_zstd_round_trip (void)
{
  const gsize sizes[] = { 0, 1, 100, 4096, 131073, 1048593 };
  const gsize read_sizes[] = { 1, 7, 65536 };
  const gsize steps[][2]
      = { { 1, 1 }, { 1, 65536 }, { 7, 13 }, { 65536, 1 }, { 1 << 22, 1 << 17 } };

  for (gsize i = 0; i < G_N_ELEMENTS (sizes); i++)
    for (guint n_frames = 1; n_frames <= 3; n_frames += 2)
      {
        g_autoptr (GBytes) data = make_test_data (sizes[i], 10 + i);
        g_autoptr (GBytes) compressed = zstd_compress_frames (data, n_frames, n_frames > 1);

        g_test_message ("%" G_GSIZE_FORMAT " bytes in %u frames", sizes[i], n_frames);
        for (gsize j = 0; j < G_N_ELEMENTS (read_sizes); j++)
          {
            g_autoptr (GError) local_error = NULL;
            g_autoptr (GBytes) output
                = zstd_decompress_stream (compressed, read_sizes[j], &local_error);
            g_assert_no_error (local_error);
            assert_bytes_equal (output, data);
          }
        for (gsize j = 0; j < G_N_ELEMENTS (steps); j++)
          {
            g_autoptr (GConverter) converter = grove_zstd_decompressor_new ();
            g_autoptr (GError) local_error = NULL;
            g_autoptr (GBytes) output
                = convert_in_pieces (converter, compressed, steps[j][0], steps[j][1], &local_error);
            g_assert_no_error (local_error);
            assert_bytes_equal (output, data);
          }
      }
}

static void
assert_zstd_fails (GBytes *input, const char *message_part)
{
  g_autoptr (GError) stream_error = NULL;
  g_autoptr (GError) piece_error = NULL;
  g_autoptr (GConverter) converter = grove_zstd_decompressor_new ();
  g_autoptr (GBytes) output = zstd_decompress_stream (input, 4096, &stream_error);
  g_autoptr (GBytes) piece_output = NULL;

  g_assert_null (output);
  g_assert_error (stream_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (stream_error->message, message_part));

  piece_output = convert_in_pieces (converter, input, 5, 3, &piece_error);
  g_assert_null (piece_output);
  g_assert_error (piece_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (piece_error->message, message_part));
}

static void
test_zstd_truncated (void)
{
  g_autoptr (GBytes) data = make_test_data (100000, 20);
  g_autoptr (GBytes) compressed = zstd_compress_frames (data, 3, FALSE);
  g_autoptr (GBytes) first_frame_data = g_bytes_new_from_bytes (data, 0, 100000 / 3);
  g_autoptr (GBytes) first_frame = zstd_compress_frames (first_frame_data, 1, FALSE);
  gsize len = g_bytes_get_size (compressed);
  gsize first_len = g_bytes_get_size (first_frame);
  const gsize cuts[] = { 0, 2, 5, first_len - 1, first_len + 3, len / 2, len - 1 };
  g_autoptr (GBytes) boundary = g_bytes_new_from_bytes (compressed, 0, first_len);
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GBytes) boundary_output = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (cuts); i++)
    {
      g_autoptr (GBytes) truncated = g_bytes_new_from_bytes (compressed, 0, cuts[i]);

      g_test_message ("cut after %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " bytes", cuts[i], len);
      assert_zstd_fails (truncated, "truncated zstd stream");
    }

  /* a cut exactly between frames is indistinguishable from a shorter valid stream */
  boundary_output = zstd_decompress_stream (boundary, 4096, &local_error);
  g_assert_no_error (local_error);
  assert_bytes_equal (boundary_output, first_frame_data);
}

static void
test_zstd_corrupt (void)
{
  g_autoptr (GBytes) data = make_test_data (100000, 30);
  g_autoptr (GBytes) compressed = zstd_compress_frames (data, 1, TRUE);
  gsize len = g_bytes_get_size (compressed);
  g_autofree guint8 *flipped = g_memdup2 (g_bytes_get_data (compressed, NULL), len);
  g_autoptr (GBytes) flipped_bytes = NULL;
  g_autoptr (GBytes) garbage = g_bytes_new_static ("this is not zstd data at all", 28);
  g_autoptr (GByteArray) trailing = g_byte_array_new ();
  g_autoptr (GBytes) trailing_bytes = NULL;

  assert_zstd_fails (garbage, ZSTD_getErrorString (ZSTD_error_prefix_unknown));

  /* the frame checksum catches any change to the decoded content */
  flipped[len / 2] ^= 0x55;
  flipped_bytes = g_bytes_new_take (g_steal_pointer (&flipped), len);
  assert_zstd_fails (flipped_bytes, "invalid zstd stream: ");

  g_byte_array_append (trailing, g_bytes_get_data (compressed, NULL), len);
  g_byte_array_append (trailing, (const guint8 *)"trailing garbage", 16);
  trailing_bytes = g_byte_array_free_to_bytes (g_steal_pointer (&trailing));
  assert_zstd_fails (trailing_bytes, "invalid zstd stream: ");
}

static void
test_zstd_reset (void)
{
  g_autoptr (GBytes) first = make_test_data (50000, 40);
  g_autoptr (GBytes) second = make_test_data (60000, 41);
  g_autoptr (GBytes) first_compressed = zstd_compress_frames (first, 1, FALSE);
  g_autoptr (GBytes) second_compressed = zstd_compress_frames (second, 2, FALSE);
  g_autoptr (GBytes) garbage = g_bytes_new_static ("garbage!", 8);
  g_autoptr (GConverter) converter = grove_zstd_decompressor_new ();
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GBytes) output = NULL;
  g_autoptr (GBytes) garbage_output = NULL;
  guint8 outbuf[1000];
  gsize n_read = 0;
  gsize n_written = 0;

  /* leave the converter in the middle of a frame */
  g_assert_cmpint (g_converter_convert (converter, g_bytes_get_data (first_compressed, NULL),
                                        g_bytes_get_size (first_compressed) / 2, outbuf,
                                        sizeof outbuf, G_CONVERTER_NO_FLAGS, &n_read, &n_written,
                                        &local_error),
                   ==, G_CONVERTER_CONVERTED);
  g_assert_no_error (local_error);
  g_converter_reset (converter);
  output = convert_in_pieces (converter, second_compressed, 1000, 4096, &local_error);
  g_assert_no_error (local_error);
  assert_bytes_equal (output, second);

  /* an error leaves the converter usable once reset */
  g_converter_reset (converter);
  garbage_output = convert_in_pieces (converter, garbage, 8, 4096, &local_error);
  g_assert_null (garbage_output);
  g_assert_error (local_error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&local_error);
  g_converter_reset (converter);
  g_clear_pointer (&output, g_bytes_unref);
  output = convert_in_pieces (converter, first_compressed, 1 << 20, 1 << 20, &local_error);
  g_assert_no_error (local_error);
  assert_bytes_equal (output, first);
}

typedef struct
{
  const char *path;
  mode_t type;
  GBytes *content;
  const char *symlink;
} TestEntry;

static void
write_test_entry (struct archive *writer, const TestEntry *test_entry)
{
  g_autoptr (TestArchiveEntry) entry = archive_entry_new ();
  gsize len = test_entry->content != NULL ? g_bytes_get_size (test_entry->content) : 0;

  archive_entry_set_pathname (entry, test_entry->path);
  archive_entry_set_filetype (entry, test_entry->type);
  archive_entry_set_perm (entry, test_entry->type == AE_IFDIR ? 0755 : 0644);
  archive_entry_set_size (entry, len);
  archive_entry_set_mtime (entry, 1700000000, 0);
  if (test_entry->symlink != NULL)
    archive_entry_set_symlink (entry, test_entry->symlink);
  g_assert_cmpint (archive_write_header (writer, entry), ==, ARCHIVE_OK);
  if (len > 0)
    g_assert_cmpint (archive_write_data (writer, g_bytes_get_data (test_entry->content, NULL), len),
                     ==, len);
  g_assert_cmpint (archive_write_finish_entry (writer), ==, ARCHIVE_OK);
}

/* builds an uncompressed pax tar in memory, padded to libarchive's 10 KiB blocks */
static GBytes *
build_tar (const TestEntry *entries, gsize n_entries)
{
  g_autoptr (TestArchiveWriter) writer = archive_write_new ();
  gsize capacity = 64 * 1024;
  g_autofree guint8 *buffer = NULL;
  size_t used = 0;

  for (gsize i = 0; i < n_entries; i++)
    capacity += 3 * 512 + (entries[i].content != NULL ? g_bytes_get_size (entries[i].content) : 0);
  buffer = g_malloc (capacity);
  g_assert_cmpint (archive_write_set_format_pax_restricted (writer), ==, ARCHIVE_OK);
  /* the memory writer does not pad the last block unless told to; tar(1) does */
  g_assert_cmpint (archive_write_set_bytes_in_last_block (writer, 10240), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_open_memory (writer, buffer, capacity, &used), ==, ARCHIVE_OK);
  for (gsize i = 0; i < n_entries; i++)
    write_test_entry (writer, &entries[i]);
  g_assert_cmpint (archive_write_close (writer), ==, ARCHIVE_OK);
  g_assert_cmpuint (used % 10240, ==, 0);
  return g_bytes_new (buffer, used);
}

typedef struct
{
  GBytes *hostname;
  GBytes *big;
  GBytes *unread;
  GBytes *small;
  TestEntry entries[7];
} TestTree;

static void
test_tree_init (TestTree *tree)
{
  const TestEntry entries[] = {
    { "etc/", AE_IFDIR, NULL, NULL },       { "etc/hostname", AE_IFREG, NULL, NULL },
    { "empty", AE_IFREG, NULL, NULL },      { "big.bin", AE_IFREG, NULL, NULL },
    { "unread.bin", AE_IFREG, NULL, NULL }, { "link", AE_IFLNK, NULL, "big.bin" },
    { "last.txt", AE_IFREG, NULL, NULL },
  };

  memcpy (tree->entries, entries, sizeof entries);
  tree->hostname = g_bytes_new_static ("grove\n", 6);
  tree->big = make_test_data (300001, 50);
  tree->unread = make_test_data (200000, 51);
  tree->small = make_test_data (1234, 52);
  tree->entries[1].content = tree->hostname;
  tree->entries[3].content = tree->big;
  tree->entries[4].content = tree->unread;
  tree->entries[6].content = tree->small;
}

static void
test_tree_clear (TestTree *tree)
{
  g_clear_pointer (&tree->hostname, g_bytes_unref);
  g_clear_pointer (&tree->big, g_bytes_unref);
  g_clear_pointer (&tree->unread, g_bytes_unref);
  g_clear_pointer (&tree->small, g_bytes_unref);
}

/* walks @reader expecting @tree, reading every entry but unread.bin through the stream */
static void
assert_archive_matches (struct archive *reader, TestTree *tree, gsize chunk_size)
{
  struct archive_entry *entry = NULL;
  gsize index = 0;
  int ret;

  while ((ret = archive_read_next_header (reader, &entry)) == ARCHIVE_OK)
    {
      const TestEntry *expected = &tree->entries[index++];
      g_autoptr (GInputStream) stream = NULL;
      g_autoptr (GBytes) output = NULL;
      g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
      g_autoptr (GError) local_error = NULL;
      guint8 byte;

      g_assert_cmpstr (archive_entry_pathname (entry), ==, expected->path);
      if (g_str_equal (expected->path, "unread.bin"))
        continue;
      stream = grove_archive_input_stream_new (reader);
      g_assert_false (G_IS_SEEKABLE (stream));
      output = read_stream_all (stream, chunk_size, &local_error);
      g_assert_no_error (local_error);
      assert_bytes_equal (output, expected->content != NULL ? expected->content : empty);
      /* end of entry stays end of stream */
      g_assert_cmpint (g_input_stream_read (stream, &byte, 1, NULL, &local_error), ==, 0);
      g_assert_no_error (local_error);
    }
  g_assert_cmpint (ret, ==, ARCHIVE_EOF);
  g_assert_cmpuint (index, ==, G_N_ELEMENTS (tree->entries));
}

static void
test_archive_entries (void)
{
  TestTree tree = { 0 };
  g_autoptr (GBytes) tar = NULL;
  const gsize chunk_sizes[] = { 1, 1000, 1 << 20 };

  test_tree_init (&tree);
  tar = build_tar (tree.entries, G_N_ELEMENTS (tree.entries));
  for (gsize i = 0; i < G_N_ELEMENTS (chunk_sizes); i++)
    {
      g_autoptr (TestArchiveReader) reader = archive_read_new ();

      g_assert_cmpint (archive_read_support_format_tar (reader), ==, ARCHIVE_OK);
      g_assert_cmpint (
          archive_read_open_memory (reader, g_bytes_get_data (tar, NULL), g_bytes_get_size (tar)),
          ==, ARCHIVE_OK);
      assert_archive_matches (reader, &tree, chunk_sizes[i]);
    }
  test_tree_clear (&tree);
}

static void
test_archive_truncated (void)
{
  g_autoptr (GBytes) big = make_test_data (300001, 60);
  const TestEntry entries[] = { { "big.bin", AE_IFREG, big, NULL } };
  g_autoptr (GBytes) tar = build_tar (entries, G_N_ELEMENTS (entries));
  g_autoptr (TestArchiveReader) reader = archive_read_new ();
  struct archive_entry *entry = NULL;
  g_autoptr (GInputStream) stream = NULL;
  g_autoptr (GBytes) output = NULL;
  g_autoptr (GError) local_error = NULL;

  g_assert_cmpint (archive_read_support_format_tar (reader), ==, ARCHIVE_OK);
  /* cut in the middle of the entry's data */
  g_assert_cmpint (archive_read_open_memory (reader, g_bytes_get_data (tar, NULL), 150000), ==,
                   ARCHIVE_OK);
  g_assert_cmpint (archive_read_next_header (reader, &entry), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_entry_size (entry), ==, 300001);
  stream = grove_archive_input_stream_new (reader);
  output = read_stream_all (stream, 4096, &local_error);
  g_assert_null (output);
  g_assert_error (local_error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_nonnull (strstr (local_error->message, "Truncated tar archive"));
}

/* lets libarchive read a GInputStream, so everything it consumes is hashed on the way */
typedef struct
{
  GInputStream *stream;
  GError *error;
  guint n_skips;
  guint8 buffer[TEST_CHUNK_SIZE];
} ArchiveGlue;

/* keeps the first GIO error for the test to inspect; @local_error is consumed */
static void
archive_glue_fail (struct archive *archive, ArchiveGlue *glue, GError *local_error)
{
  g_autoptr (GError) owned_error = local_error;

  archive_set_error (archive, EIO, "%s", owned_error->message);
  if (glue->error == NULL)
    glue->error = g_steal_pointer (&owned_error);
}

static la_ssize_t
archive_glue_read_cb (struct archive *archive, void *user_data, const void **buffer)
{
  ArchiveGlue *glue = user_data;
  g_autoptr (GError) local_error = NULL;
  gssize n_read
      = g_input_stream_read (glue->stream, glue->buffer, sizeof glue->buffer, NULL, &local_error);

  *buffer = glue->buffer;
  if (n_read < 0)
    {
      archive_glue_fail (archive, glue, g_steal_pointer (&local_error));
      return ARCHIVE_FATAL;
    }
  return n_read;
}

static la_int64_t
archive_glue_skip_cb (struct archive *archive, void *user_data, la_int64_t request)
{
  ArchiveGlue *glue = user_data;
  g_autoptr (GError) local_error = NULL;
  gssize n_skipped = g_input_stream_skip (glue->stream, request, NULL, &local_error);

  glue->n_skips++;
  if (n_skipped < 0)
    {
      archive_glue_fail (archive, glue, g_steal_pointer (&local_error));
      return ARCHIVE_FATAL;
    }
  return n_skipped;
}

typedef GBytes *(*CompressFunc) (GBytes *data);
typedef GConverter *(*DecompressorFunc) (void);

static GBytes *
gzip_compress (GBytes *data)
{
  g_autoptr (GOutputStream) memory = g_memory_output_stream_new_resizable ();
  g_autoptr (GZlibCompressor) compressor = g_zlib_compressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP, 6);
  g_autoptr (GOutputStream) stream
      = g_converter_output_stream_new (memory, G_CONVERTER (compressor));
  g_autoptr (GError) local_error = NULL;

  g_assert_true (g_output_stream_write_all (stream, g_bytes_get_data (data, NULL),
                                            g_bytes_get_size (data), NULL, NULL, &local_error));
  g_assert_no_error (local_error);
  g_assert_true (g_output_stream_close (stream, NULL, &local_error));
  g_assert_no_error (local_error);
  return g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (memory));
}

static GBytes *
zstd_compress_two_frames (GBytes *data)
{
  return zstd_compress_frames (data, 2, TRUE);
}

static GConverter *
gzip_decompressor_new (void)
{
  return G_CONVERTER (g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_GZIP));
}

/* compressed tar -> digest -> decompressor -> digest -> libarchive -> entry streams */
static void
run_pipeline (CompressFunc compress, DecompressorFunc decompressor_new)
{
  TestTree tree = { 0 };
  g_autoptr (GBytes) tar = NULL;
  g_autoptr (GBytes) compressed = NULL;
  g_autoptr (GInputStream) base = NULL;
  g_autoptr (GInputStream) outer = NULL;
  g_autoptr (GConverter) decompressor = decompressor_new ();
  g_autoptr (GInputStream) converted = NULL;
  g_autoptr (GInputStream) inner = NULL;
  g_autofree ArchiveGlue *glue = g_new0 (ArchiveGlue, 1);
  g_autoptr (TestArchiveReader) reader = archive_read_new ();
  g_autoptr (GError) local_error = NULL;

  test_tree_init (&tree);
  tar = build_tar (tree.entries, G_N_ELEMENTS (tree.entries));
  compressed = compress (tar);
  base = g_memory_input_stream_new_from_bytes (compressed);
  outer = grove_digest_input_stream_new (base);
  converted = g_converter_input_stream_new (outer, decompressor);
  inner = grove_digest_input_stream_new (converted);
  glue->stream = inner;

  g_assert_cmpint (archive_read_support_format_tar (reader), ==, ARCHIVE_OK);
  g_assert_cmpint (
      archive_read_open2 (reader, glue, NULL, archive_glue_read_cb, archive_glue_skip_cb, NULL), ==,
      ARCHIVE_OK);
  assert_archive_matches (reader, &tree, 4096);
  g_assert_null (glue->error);
  /* unread.bin went through the skip callback, which must have hashed it */
  g_assert_cmpuint (glue->n_skips, >, 0);

  /* libarchive stops at the end-of-archive marker; the digests cover the padding too */
  g_assert_true (
      grove_digest_input_stream_drain (GROVE_DIGEST_INPUT_STREAM (inner), NULL, &local_error));
  g_assert_no_error (local_error);
  g_assert_true (
      grove_digest_input_stream_drain (GROVE_DIGEST_INPUT_STREAM (outer), NULL, &local_error));
  g_assert_no_error (local_error);
  assert_digest_stream (inner, tar);
  assert_digest_stream (outer, compressed);
  test_tree_clear (&tree);
}

static void
test_pipeline_gzip (void)
{
  run_pipeline (gzip_compress, gzip_decompressor_new);
}

static void
test_pipeline_zstd (void)
{
  run_pipeline (zstd_compress_two_frames, grove_zstd_decompressor_new);
}

/* reads every entry of @reader, returning FALSE at the first libarchive failure */
static gboolean
read_all_entries (struct archive *reader, GError **error)
{
  struct archive_entry *entry = NULL;
  int ret;

  while ((ret = archive_read_next_header (reader, &entry)) == ARCHIVE_OK)
    {
      g_autoptr (GInputStream) stream = grove_archive_input_stream_new (reader);
      g_autoptr (GBytes) output = read_stream_all (stream, 4096, error);

      if (output == NULL)
        return FALSE;
    }
  if (ret != ARCHIVE_EOF)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "next header: %s",
                   archive_error_string (reader));
      return FALSE;
    }
  return TRUE;
}

/* a cut zstd layer must fail the import, wherever libarchive happens to notice */
static void
test_pipeline_zstd_truncated (void)
{
  TestTree tree = { 0 };
  g_autoptr (GBytes) tar = NULL;
  g_autoptr (GBytes) compressed = NULL;
  g_autoptr (GBytes) truncated = NULL;
  g_autoptr (GInputStream) base = NULL;
  g_autoptr (GConverter) decompressor = grove_zstd_decompressor_new ();
  g_autoptr (GInputStream) converted = NULL;
  g_autoptr (GInputStream) inner = NULL;
  g_autofree ArchiveGlue *glue = g_new0 (ArchiveGlue, 1);
  g_autoptr (TestArchiveReader) reader = archive_read_new ();
  g_autoptr (GError) local_error = NULL;

  test_tree_init (&tree);
  tar = build_tar (tree.entries, G_N_ELEMENTS (tree.entries));
  compressed = zstd_compress_frames (tar, 1, FALSE);
  truncated = g_bytes_new_from_bytes (compressed, 0, g_bytes_get_size (compressed) * 3 / 5);
  base = g_memory_input_stream_new_from_bytes (truncated);
  converted = g_converter_input_stream_new (base, decompressor);
  inner = grove_digest_input_stream_new (converted);
  glue->stream = inner;

  g_assert_cmpint (archive_read_support_format_tar (reader), ==, ARCHIVE_OK);
  g_assert_cmpint (
      archive_read_open2 (reader, glue, NULL, archive_glue_read_cb, archive_glue_skip_cb, NULL), ==,
      ARCHIVE_OK);
  g_assert_false (read_all_entries (reader, &local_error));
  g_assert_error (local_error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_nonnull (strstr (local_error->message, "truncated zstd stream"));
  g_assert_error (glue->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&glue->error);
  test_tree_clear (&tree);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/grove/streams/digest/chunks", test_digest_chunks);
  g_test_add_func ("/grove/streams/digest/empty", test_digest_empty);
  g_test_add_func ("/grove/streams/digest/skip", test_digest_skip);
  g_test_add_func ("/grove/streams/digest/skip-async", test_digest_skip_async);
  g_test_add_func ("/grove/streams/digest/drain", test_digest_drain);
  g_test_add_func ("/grove/streams/digest/continue", test_digest_continue);
  g_test_add_func ("/grove/streams/digest/close-base", test_digest_close_base);
  g_test_add_func ("/grove/streams/digest/thread", test_digest_thread);
  g_test_add_func ("/grove/streams/zstd/round-trip", test_zstd_round_trip);
  g_test_add_func ("/grove/streams/zstd/truncated", test_zstd_truncated);
  g_test_add_func ("/grove/streams/zstd/corrupt", test_zstd_corrupt);
  g_test_add_func ("/grove/streams/zstd/reset", test_zstd_reset);
  g_test_add_func ("/grove/streams/archive/entries", test_archive_entries);
  g_test_add_func ("/grove/streams/archive/truncated", test_archive_truncated);
  g_test_add_func ("/grove/streams/pipeline/gzip", test_pipeline_gzip);
  g_test_add_func ("/grove/streams/pipeline/zstd", test_pipeline_zstd);
  g_test_add_func ("/grove/streams/pipeline/zstd-truncated", test_pipeline_zstd_truncated);

  return g_test_run ();
}
