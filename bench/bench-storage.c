/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveBenchStorage"

/* syncfs(); the build defines it already through config.h */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "bench-util.h"
#include "grove-store.h"
#include "grove-utils.h"

/*
 * `make bench`: figures for the image store, each beside a peer measured in the same run.
 *   1. importing a big uncompressed layer vs `tar -x` of the same blob, both synced to disk
 *   2. preparing and releasing container rootfs of an image whose checkout exists
 *   3. the disk five related images take vs their blobs and their unpacked layers
 * Timings never fail the run; only something that breaks gives a non-zero exit.
 */

typedef struct
{
  char *python;
  char *mkimage;
  char *parent;
  int repetitions;
  int containers;
  int big_files;
  gint64 big_bytes;
  int family_count;
  int family_files;
  gint64 family_bytes;
  char *workdir;
  char *prepare_store; /* the store section 1 leaves for section 2 */
  char *prepare_image; /* the image ID in it */
  GString *summary;
} Bench;

static void
bench_clear (Bench *b)
{
  g_clear_pointer (&b->python, g_free);
  g_clear_pointer (&b->mkimage, g_free);
  g_clear_pointer (&b->parent, g_free);
  g_clear_pointer (&b->workdir, g_free);
  g_clear_pointer (&b->prepare_store, g_free);
  g_clear_pointer (&b->prepare_image, g_free);
  if (b->summary != NULL)
    g_string_free (g_steal_pointer (&b->summary), TRUE);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Bench, bench_clear)

static gboolean run (char **out_stdout, GError **error, const char *first_arg,
                     ...) G_GNUC_NULL_TERMINATED;
static gboolean mkimage (Bench *b, GError **error, const char *first_arg,
                         ...) G_GNUC_NULL_TERMINATED;

static double
ms_since (gint64 start)
{
  return (double)(g_get_monotonic_time () - start) / 1000.0;
}

static double
cpu_seconds (int who)
{
  struct rusage ru;

  getrusage (who, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec)
         + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / G_USEC_PER_SEC;
}

static gboolean
run_argv (GPtrArray *argv, char **out_stdout, GError **error)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GSubprocess) proc
      = bench_communicate ((const char *const *)argv->pdata,
                           G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                           argv->pdata[0], &out, &err, error);

  if (proc == NULL)
    return FALSE;
  if (!g_subprocess_get_successful (proc))
    return grove_throw (error, GROVE_ERROR_FAILED, "%s %s failed: %s", (char *)argv->pdata[0],
                        argv->len > 2 ? (char *)argv->pdata[1] : "", g_strstrip (err));
  if (out_stdout != NULL)
    *out_stdout = g_steal_pointer (&out);
  return TRUE;
}

static GPtrArray *
collect_args (GPtrArray *argv, const char *first_arg, va_list args)
{
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, g_strdup (arg));
  g_ptr_array_add (argv, NULL);
  return argv;
}

/* runs a command; its stderr goes into the error if it fails */
static gboolean
run (char **out_stdout, GError **error, const char *first_arg, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  va_list args;

  va_start (args, first_arg);
  collect_args (argv, first_arg, args);
  va_end (args);
  return run_argv (argv, out_stdout, error);
}

static gboolean
mkimage (Bench *b, GError **error, const char *first_arg, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  va_list args;

  g_ptr_array_add (argv, g_strdup (b->python));
  g_ptr_array_add (argv, g_strdup (b->mkimage));
  va_start (args, first_arg);
  collect_args (argv, first_arg, args);
  va_end (args);
  return run_argv (argv, NULL, error);
}

/* flushes the whole filesystem, as ostree does when it commits a transaction */
static gboolean
sync_filesystem (const char *path, GError **error)
{
  grove_autofd int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd < 0 || syncfs (fd) < 0)
    return grove_throw_errno_code (error, errno, "syncing the filesystem of %s", path);
  return TRUE;
}

/* `du -s -B1 -x` of each path in one run: a hardlinked inode counts once, under the first
 * path it is met in, and mounted rootfs are not entered (their files are the lower dir's) */
static gboolean
du_paths (const char *const *paths, guint64 *out_sizes, GError **error)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *out = NULL;
  g_auto (GStrv) lines = NULL;
  guint n = 0;

  g_ptr_array_add (argv, g_strdup ("du"));
  g_ptr_array_add (argv, g_strdup ("-s"));
  g_ptr_array_add (argv, g_strdup ("-B1"));
  g_ptr_array_add (argv, g_strdup ("-x"));
  for (n = 0; paths[n] != NULL; n++)
    g_ptr_array_add (argv, g_strdup (paths[n]));
  g_ptr_array_add (argv, NULL);
  if (!run_argv (argv, &out, error))
    return FALSE;
  lines = g_strsplit (g_strstrip (out), "\n", -1);
  if (g_strv_length (lines) != n)
    return grove_throw (error, GROVE_ERROR_FAILED, "du printed %u lines for %u paths",
                        g_strv_length (lines), n);
  for (guint i = 0; i < n; i++)
    out_sizes[i] = g_ascii_strtoull (lines[i], NULL, 10);
  return TRUE;
}

static gboolean
du_one (const char *path, guint64 *out_size, GError **error)
{
  const char *paths[] = { path, NULL };

  return du_paths (paths, out_size, error);
}

/* blobs/sha256/<hex> of the first descriptor in @member of the JSON document @path */
static char *
first_descriptor_blob (const char *oci_dir, const char *path, const char *member, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root = NULL;
  JsonArray *array = NULL;
  JsonObject *desc = NULL;
  const char *digest = NULL;

  if (!json_parser_load_from_file (parser, path, error))
    return NULL;
  root = json_parser_get_root (parser);
  if (root != NULL && JSON_NODE_HOLDS_OBJECT (root)
      && json_object_has_member (json_node_get_object (root), member))
    array = json_object_get_array_member (json_node_get_object (root), member);
  if (array != NULL && json_array_get_length (array) > 0)
    desc = json_array_get_object_element (array, 0);
  if (desc != NULL)
    digest = json_object_get_string_member_with_default (desc, "digest", NULL);
  if (digest == NULL || !g_str_has_prefix (digest, "sha256:")
      || !grove_sha256_valid (digest + strlen ("sha256:")))
    return grove_throw (error, GROVE_ERROR_INVALID_IMAGE,
                        "%s has no '%s' descriptor with a sha256 digest", path, member),
           NULL;
  return g_build_filename (oci_dir, "blobs", "sha256", digest + strlen ("sha256:"), NULL);
}

/* the layer blob of a one-image, one-layer OCI layout */
static char *
oci_layer_blob (const char *oci_dir, struct stat *out_st, GError **error)
{
  g_autofree char *index = g_build_filename (oci_dir, "index.json", NULL);
  g_autofree char *manifest = first_descriptor_blob (oci_dir, index, "manifests", error);
  g_autofree char *layer = NULL;

  if (manifest == NULL)
    return NULL;
  layer = first_descriptor_blob (oci_dir, manifest, "layers", error);
  if (layer == NULL)
    return NULL;
  if (stat (layer, out_st) < 0)
    return grove_throw_errno_code (error, errno, "stat %s", layer), NULL;
  return g_steal_pointer (&layer);
}

static char *
import_one (GroveStore *store, const char *path, GError **error)
{
  g_autoptr (GPtrArray) images = grove_store_import_image (store, path, GROVE_IMAGE_FORMAT_OCI_DIR,
                                                           NULL, NULL, NULL, NULL, error);

  if (images == NULL)
    return NULL;
  if (images->len != 1)
    return grove_throw (error, GROVE_ERROR_FAILED, "%s gave %u images, not one", path, images->len),
           NULL;
  return g_strdup (grove_image_get_id (images->pdata[0]));
}

/* one timed import of @image into a fresh store at @root, synced to disk */
static gboolean
time_grove_import (Bench *b, const char *image, const char *root, double *out_seconds,
                   double *out_cpu, char **out_id, GError **error)
{
  g_autoptr (GroveStore) store = grove_store_open (root, NULL, error);
  double cpu = 0;
  gint64 start = 0;

  if (store == NULL || !sync_filesystem (b->workdir, error))
    return FALSE;
  cpu = cpu_seconds (RUSAGE_SELF);
  start = g_get_monotonic_time ();
  *out_id = import_one (store, image, error);
  if (*out_id == NULL || !sync_filesystem (root, error))
    return FALSE;
  *out_seconds = bench_seconds_since (start);
  *out_cpu = cpu_seconds (RUSAGE_SELF) - cpu;
  return TRUE;
}

/* the peer: `tar -x` of the same layer blob into a fresh directory, synced to disk */
static gboolean
time_tar_extract (Bench *b, const char *blob, const char *dest, double *out_seconds,
                  double *out_cpu, GError **error)
{
  double cpu = 0;
  gint64 start = 0;

  if (!grove_mkdir_p_at (AT_FDCWD, dest, 0755, error) || !sync_filesystem (b->workdir, error))
    return FALSE;
  cpu = cpu_seconds (RUSAGE_CHILDREN);
  start = g_get_monotonic_time ();
  if (!run (NULL, error, "tar", "-x", "-f", blob, "-C", dest, NULL)
      || !sync_filesystem (dest, error))
    return FALSE;
  *out_seconds = bench_seconds_since (start);
  *out_cpu = cpu_seconds (RUSAGE_CHILDREN) - cpu;
  return TRUE;
}

static gboolean
import_repetition (Bench *b, int rep, const char *image, const char *blob, GArray *grove_s,
                   GArray *tar_s, GError **error)
{
  g_autofree char *root = g_strdup_printf ("%s/import-%d", b->workdir, rep);
  g_autofree char *dest = g_strdup_printf ("%s/tar-%d", b->workdir, rep);
  g_autofree char *id = NULL;
  /* odd repetitions run tar first, so neither side always inherits the other's writeback */
  gboolean tar_first = rep % 2 == 1;
  double grove_secs = 0, grove_cpu = 0, tar_secs = 0, tar_cpu = 0;

  if ((tar_first && !time_tar_extract (b, blob, dest, &tar_secs, &tar_cpu, error))
      || !time_grove_import (b, image, root, &grove_secs, &grove_cpu, &id, error)
      || (!tar_first && !time_tar_extract (b, blob, dest, &tar_secs, &tar_cpu, error)))
    return FALSE;
  g_print ("  run %d: grove %.2f s (cpu %.2f s), tar -x %.2f s (cpu %.2f s)%s\n", rep + 1,
           grove_secs, grove_cpu, tar_secs, tar_cpu, tar_first ? ", tar ran first" : "");
  g_array_append_val (grove_s, grove_secs);
  g_array_append_val (tar_s, tar_secs);
  /* nothing is deleted until the end: on ext4 without a journal, inodes freed in the last
   * minute make every inode allocation scan past them, and would slow the next run */
  g_free (b->prepare_store);
  g_free (b->prepare_image);
  b->prepare_store = g_steal_pointer (&root);
  b->prepare_image = g_steal_pointer (&id);
  return TRUE;
}

static void
report_import (Bench *b, GArray *grove_s, GArray *tar_s, double mb)
{
  double grove = bench_percentile (grove_s, 0.5);
  double tar = bench_percentile (tar_s, 0.5);
  double ratio = grove / tar;

  g_print ("  median of %d: grove %.2f s (%.0f files/s, %.1f MB/s); "
           "tar -x %.2f s (%.0f files/s, %.1f MB/s)\n",
           b->repetitions, grove, b->big_files / grove, mb / grove, tar, b->big_files / tar,
           mb / tar);
  g_print ("  ratio grove/tar: %.2f (target: within 1.2x of tar -x) %s\n", ratio,
           bench_verdict (ratio <= 1.2));
  g_string_append_printf (b->summary,
                          "import:  %.2f s (%.0f files/s, %.0f MB/s); tar -x: %.2f s "
                          "(%.0f files/s, %.0f MB/s); ratio %.2f (target <= 1.2, %s)\n",
                          grove, b->big_files / grove, mb / grove, tar, b->big_files / tar,
                          mb / tar, ratio, bench_verdict (ratio <= 1.2));
}

static gboolean
bench_import (Bench *b, GError **error)
{
  g_autofree char *image = g_build_filename (b->workdir, "big", NULL);
  g_autofree char *files = g_strdup_printf ("%d", b->big_files);
  g_autofree char *bytes = g_strdup_printf ("%" G_GINT64_FORMAT, b->big_bytes);
  g_autofree char *blob = NULL;
  g_autoptr (GArray) grove_s = bench_doubles_new ();
  g_autoptr (GArray) tar_s = bench_doubles_new ();
  gint64 start = g_get_monotonic_time ();
  struct stat st;

  g_print ("\n== 1. import throughput: grove_store_import_image vs tar -x (+ syncfs) ==\n");
  if (!mkimage (b, error, "bigimage", "--files", files, "--total-bytes", bytes, image, NULL))
    return FALSE;
  blob = oci_layer_blob (image, &st, error);
  if (blob == NULL)
    return FALSE;
  g_print ("  layer: %d files, %.1f MB uncompressed tar (generated in %.1f s)\n", b->big_files,
           (double)st.st_size / 1e6, bench_seconds_since (start));
  for (int rep = 0; rep < b->repetitions; rep++)
    if (!import_repetition (b, rep, image, blob, grove_s, tar_s, error))
      return FALSE;
  report_import (b, grove_s, tar_s, (double)st.st_size / 1e6);
  return TRUE;
}

static gboolean
time_prepare (GroveStore *store, const char *id, const char *image, double *out_ms, GError **error)
{
  gint64 start = g_get_monotonic_time ();
  g_autofree char *rootfs = grove_store_prepare_rootfs (store, id, image, NULL, error);

  *out_ms = ms_since (start);
  return rootfs != NULL;
}

static gboolean
time_release (GroveStore *store, const char *id, double *out_ms, GError **error)
{
  gint64 start = g_get_monotonic_time ();
  gboolean ok = grove_store_release_rootfs (store, id, NULL, error);

  *out_ms = ms_since (start);
  return ok;
}

static void
report_prepare (Bench *b, double first_ms, GArray *prepare_ms, GArray *release_ms)
{
  double p50 = bench_percentile (prepare_ms, 0.5);
  double p90 = bench_percentile (prepare_ms, 0.9);
  double max = bench_percentile (prepare_ms, 1.0);
  double release = bench_percentile (release_ms, 0.5);

  g_print ("  first prepare (makes the hardlink checkout): %.1f ms\n", first_ms);
  g_print ("  prepare of %d fresh containers: p50 %.2f ms, p90 %.2f ms, max %.2f ms "
           "(target: p50 under 5 ms) %s\n",
           b->containers, p50, p90, max, bench_verdict (p50 < 5.0));
  g_print ("  release: p50 %.2f ms, p90 %.2f ms, max %.2f ms\n", release,
           bench_percentile (release_ms, 0.9), bench_percentile (release_ms, 1.0));
  g_string_append_printf (b->summary,
                          "prepare: p50 %.2f ms, p90 %.2f ms, max %.2f ms (target p50 < 5, %s); "
                          "release p50 %.2f ms; first prepare (checkout) %.0f ms\n",
                          p50, p90, max, bench_verdict (p50 < 5.0), release, first_ms);
}

static gboolean
bench_prepare (Bench *b, GError **error)
{
  g_autoptr (GroveStore) store = NULL;
  g_autoptr (GArray) prepare_ms = bench_doubles_new ();
  g_autoptr (GArray) release_ms = bench_doubles_new ();
  double first_ms = 0, ms = 0;

  g_print ("\n== 2. rootfs prepare: overlay on the image's shared checkout ==\n");
  store = grove_store_open (b->prepare_store, NULL, error);
  if (store == NULL || !sync_filesystem (b->workdir, error)
      || !time_prepare (store, "bench-first", b->prepare_image, &first_ms, error)
      || !time_release (store, "bench-first", &ms, error))
    return FALSE;
  for (int i = 0; i < b->containers; i++)
    {
      g_autofree char *id = g_strdup_printf ("bench-%04d", i);

      if (!time_prepare (store, id, b->prepare_image, &ms, error))
        return FALSE;
      g_array_append_val (prepare_ms, ms);
      if (!time_release (store, id, &ms, error))
        return FALSE;
      g_array_append_val (release_ms, ms);
    }
  report_prepare (b, first_ms, prepare_ms, release_ms);
  return TRUE;
}

static char *
member_path (Bench *b, int index)
{
  g_autofree char *name = g_strdup_printf ("img%d", index);

  return g_build_filename (b->workdir, "family", name, NULL);
}

static gboolean
prepare_member (GroveStore *store, int index, const char *image, GError **error)
{
  g_autofree char *container = g_strdup_printf ("family-%d", index);
  g_autofree char *rootfs = grove_store_prepare_rootfs (store, container, image, NULL, error);

  return rootfs != NULL;
}

/* a new store holding every member, each with a rootfs: all imported first, or (@rolling)
 * each imported while the containers of the ones before it run, as rebuilds arrive */
static GroveStore *
fill_family_store (Bench *b, const char *root, gboolean rolling, GError **error)
{
  g_autoptr (GroveStore) store = grove_store_open (root, NULL, error);
  g_autoptr (GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);

  if (store == NULL)
    return NULL;
  for (int i = 0; i < b->family_count; i++)
    {
      g_autofree char *path = member_path (b, i);
      char *id = import_one (store, path, error);

      if (id == NULL)
        return NULL;
      g_ptr_array_add (ids, id);
      if (rolling && !prepare_member (store, i, id, error))
        return NULL;
    }
  for (int i = 0; !rolling && i < b->family_count; i++)
    if (!prepare_member (store, i, ids->pdata[i], error))
      return NULL;
  return g_steal_pointer (&store);
}

static gboolean
release_all (GroveStore *store, GError **error)
{
  g_auto (GStrv) ids = grove_store_list_rootfs (store, error);

  if (ids == NULL)
    return FALSE;
  for (guint i = 0; ids[i] != NULL; i++)
    if (!grove_store_release_rootfs (store, ids[i], NULL, error))
      return FALSE;
  return TRUE;
}

/* inode → size of every regular file below @dir */
static GHashTable *
list_inodes (const char *dir, GError **error)
{
  g_autoptr (GHashTable) inodes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *out = NULL;
  g_auto (GStrv) lines = NULL;

  if (!run (&out, error, "find", dir, "-xdev", "-type", "f", "-printf", "%i %s\n", NULL))
    return NULL;
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *space = strchr (lines[i], ' ');

      if (space == NULL)
        continue;
      *space = '\0';
      g_hash_table_insert (inodes, g_strdup (lines[i]),
                           GSIZE_TO_POINTER (g_ascii_strtoull (space + 1, NULL, 10)));
    }
  return g_steal_pointer (&inodes);
}

/* the files of the checkouts that are not hardlinks of a repo object (so cost their own
 * space), counted once per inode */
static gboolean
checkout_copies (const char *root, guint64 *out_bytes, guint *out_files, GError **error)
{
  g_autofree char *objects = g_build_filename (root, "repo", "objects", NULL);
  g_autofree char *checkouts = g_build_filename (root, "checkouts", NULL);
  g_autoptr (GHashTable) repo = list_inodes (objects, error);
  g_autoptr (GHashTable) checkout = NULL;
  GHashTableIter iter;
  gpointer inode, size;

  if (repo == NULL)
    return FALSE;
  checkout = list_inodes (checkouts, error);
  if (checkout == NULL)
    return FALSE;
  *out_bytes = 0;
  *out_files = 0;
  g_hash_table_iter_init (&iter, checkout);
  while (g_hash_table_iter_next (&iter, &inode, &size))
    if (!g_hash_table_contains (repo, inode))
      {
        *out_bytes += GPOINTER_TO_SIZE (size);
        (*out_files)++;
      }
  return TRUE;
}

/* du of the whole store, and of repo, checkouts and snapshots in one run (each inode once) */
static gboolean
measure_store (const char *root, const char *label, guint64 *out_total, GError **error)
{
  g_autofree char *repo = g_build_filename (root, "repo", NULL);
  g_autofree char *checkouts = g_build_filename (root, "checkouts", NULL);
  g_autofree char *snapshots = g_build_filename (root, "snapshots", NULL);
  const char *parts[] = { repo, checkouts, snapshots, NULL };
  guint64 sizes[3] = { 0 };
  guint64 copied = 0;
  guint copies = 0;

  if (!sync_filesystem (root, error) || !du_one (root, out_total, error)
      || !du_paths (parts, sizes, error) || !checkout_copies (root, &copied, &copies, error))
    return FALSE;
  g_print ("  store, %s: %.1f MB = repo %.1f + checkouts %.1f + snapshots %.1f\n", label,
           *out_total / 1e6, sizes[0] / 1e6, sizes[1] / 1e6, sizes[2] / 1e6);
  g_print ("    checkout files that are copies, not hardlinks of repo objects: %u inodes, "
           "%.1f MB\n",
           copies, copied / 1e6);
  return TRUE;
}

/* the peers: the compressed blobs, and each layer unpacked into its own directory as an
 * overlay snapshotter keeps them */
static gboolean
measure_layers (Bench *b, guint64 *out_blobs, guint64 *out_unpacked, GError **error)
{
  g_autofree char *unpacked = g_build_filename (b->workdir, "unpacked", NULL);
  guint64 blob_bytes = 0;

  *out_blobs = 0;
  for (int i = 0; i < b->family_count; i++)
    {
      g_autofree char *path = member_path (b, i);
      g_autofree char *dest = g_strdup_printf ("%s/img%d", unpacked, i);
      g_autofree char *blob = NULL;
      struct stat st;

      blob = oci_layer_blob (path, &st, error);
      if (blob == NULL || !grove_mkdir_p_at (AT_FDCWD, dest, 0755, error)
          || !run (NULL, error, "tar", "-x", "-f", blob, "-C", dest, NULL))
        return FALSE;
      blob_bytes += (guint64)st.st_size;
      *out_blobs += (guint64)st.st_blocks * 512;
    }
  if (!sync_filesystem (unpacked, error) || !du_one (unpacked, out_unpacked, error))
    return FALSE;
  g_print ("  layer blobs as stored: %.1f MB on disk (%.1f MB of data)\n", *out_blobs / 1e6,
           blob_bytes / 1e6);
  g_print ("  unpacked layers (one dir per layer, du -s -B1): %.1f MB\n", *out_unpacked / 1e6);
  return TRUE;
}

static void
report_family (Bench *b, guint64 store, guint64 rolling, guint64 blobs, guint64 unpacked)
{
  double ratio = (double)store / (double)unpacked;
  double rolling_ratio = (double)rolling / (double)unpacked;

  g_print ("  store/unpacked %.2f (target: <= 0.4) %s; store/blobs %.2f\n", ratio,
           bench_verdict (ratio <= 0.4), (double)store / (double)blobs);
  g_print ("  rolling store/unpacked %.2f %s; store/blobs %.2f\n", rolling_ratio,
           bench_verdict (rolling_ratio <= 0.4), (double)rolling / (double)blobs);
  g_string_append_printf (b->summary,
                          "disk:    store %.1f MB; blobs %.1f MB; unpacked layers %.1f MB; "
                          "store/unpacked %.2f (target <= 0.4, %s); store/blobs %.2f\n",
                          store / 1e6, blobs / 1e6, unpacked / 1e6, ratio,
                          bench_verdict (ratio <= 0.4), (double)store / (double)blobs);
  g_string_append_printf (b->summary,
                          "disk, rolling (import while older containers run): store %.1f MB; "
                          "store/unpacked %.2f (%s); store/blobs %.2f\n",
                          rolling / 1e6, rolling_ratio, bench_verdict (rolling_ratio <= 0.4),
                          (double)rolling / (double)blobs);
}

static gboolean
bench_family (Bench *b, GError **error)
{
  g_autofree char *family = g_build_filename (b->workdir, "family", NULL);
  g_autofree char *root = g_build_filename (b->workdir, "family-store", NULL);
  g_autofree char *rolling_root = g_build_filename (b->workdir, "family-rolling", NULL);
  g_autofree char *count = g_strdup_printf ("%d", b->family_count);
  g_autofree char *files = g_strdup_printf ("%d", b->family_files);
  g_autofree char *bytes = g_strdup_printf ("%" G_GINT64_FORMAT, b->family_bytes);
  g_autoptr (GroveStore) store = NULL;
  g_autoptr (GroveStore) rolling = NULL;
  guint64 store_bytes = 0, rolling_bytes = 0, blobs = 0, unpacked = 0;
  gint64 start = g_get_monotonic_time ();

  g_print ("\n== 3. disk for %d related images (busybox + %d files, %.0f MB each) ==\n",
           b->family_count, b->family_files, b->family_bytes / 1e6);
  if (!mkimage (b, error, "family", "--count", count, "--files", files, "--total-bytes", bytes,
                family, NULL))
    return FALSE;
  g_print ("  images generated in %.1f s\n", bench_seconds_since (start));
  store = fill_family_store (b, root, FALSE, error);
  if (store == NULL
      || !measure_store (root, "all imported, then one rootfs each", &store_bytes, error))
    return FALSE;
  rolling = fill_family_store (b, rolling_root, TRUE, error);
  if (rolling == NULL
      || !measure_store (rolling_root,
                         "rolling: each imported while the older ones' rootfs "
                         "are mounted",
                         &rolling_bytes, error)
      || !measure_layers (b, &blobs, &unpacked, error))
    return FALSE;
  report_family (b, store_bytes, rolling_bytes, blobs, unpacked);
  return release_all (store, error) && release_all (rolling, error);
}

static gboolean
bench_cleanup (Bench *b, GError **error)
{
  if (b->workdir == NULL)
    return TRUE;
  if (!bench_unmount_below ("bench-storage", b->workdir, NULL, FALSE, NULL, error)
      || !grove_rm_rf_at (AT_FDCWD, b->workdir, NULL, error))
    return g_prefix_error (error, "cleaning up %s: ", b->workdir), FALSE;
  g_print ("\nremoved %s\n", b->workdir);
  return TRUE;
}

static gboolean
make_workdir (Bench *b, GError **error)
{
  struct statfs sfs;
  struct utsname uts;

  b->workdir = bench_make_workdir (b->parent, "grove-bench-XXXXXX", error);
  if (b->workdir == NULL)
    return FALSE;
  if (statfs (b->workdir, &sfs) < 0)
    return grove_throw_errno_code (error, errno, "statfs %s", b->workdir);
  uname (&uts);
  g_print ("grove storage benchmark: %s, kernel %s, %ld CPUs\n", b->workdir, uts.release,
           sysconf (_SC_NPROCESSORS_ONLN));
  if (sfs.f_type != EXT4_SUPER_MAGIC)
    g_print ("note: %s is not on ext4 (f_type 0x%lx); figures are not comparable\n", b->workdir,
             (unsigned long)sfs.f_type);
  return TRUE;
}

static gboolean
parse_options (Bench *b, int *argc, char ***argv, GError **error)
{
  GOptionEntry entries[] = {
    { "python", 0, 0, G_OPTION_ARG_FILENAME, &b->python, "Python for mkimage.py", "PATH" },
    { "mkimage", 0, 0, G_OPTION_ARG_FILENAME, &b->mkimage, "tests/mkimage.py", "PATH" },
    { "workdir-parent", 0, 0, G_OPTION_ARG_FILENAME, &b->parent, "Where to work", "DIR" },
    { "repetitions", 0, 0, G_OPTION_ARG_INT, &b->repetitions, "Import runs of each side", "N" },
    { "containers", 0, 0, G_OPTION_ARG_INT, &b->containers, "Timed rootfs prepares", "N" },
    { "big-files", 0, 0, G_OPTION_ARG_INT, &b->big_files, "Files of the big layer", "N" },
    { "big-bytes", 0, 0, G_OPTION_ARG_INT64, &b->big_bytes, "Bytes of the big layer", "N" },
    { "family-count", 0, 0, G_OPTION_ARG_INT, &b->family_count, "Related images", "N" },
    { "family-files", 0, 0, G_OPTION_ARG_INT, &b->family_files, "Their shared files", "N" },
    { "family-bytes", 0, 0, G_OPTION_ARG_INT64, &b->family_bytes, "Bytes they share", "N" },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- Grove image store benchmarks");

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, argc, argv, error))
    return FALSE;
  if (b->mkimage == NULL)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "--mkimage PATH is required");
  if (b->repetitions < 1 || b->containers < 1 || b->big_files < 1 || b->family_count < 1
      || b->family_files < 1)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "counts must be at least 1");
  if (b->python == NULL)
    b->python = g_strdup ("python3");
  if (b->parent == NULL)
    b->parent = g_strdup ("/var/tmp");
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_auto (Bench) b = { .repetitions = 3,
                       .containers = 100,
                       .big_files = 20000,
                       .big_bytes = 200000000,
                       .family_count = 5,
                       .family_files = 3000,
                       .family_bytes = 30000000,
                       .summary = g_string_new (NULL) };
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) cleanup_error = NULL;
  gint64 start = g_get_monotonic_time ();
  gboolean ok = FALSE;

  if (!parse_options (&b, &argc, &argv, &error))
    {
      g_printerr ("bench-storage: %s\n", error->message);
      return 1;
    }
  if (geteuid () != 0)
    {
      g_printerr ("bench-storage: run as root: it mounts overlays and imports as root\n");
      return 1;
    }
  ok = make_workdir (&b, &error) && bench_import (&b, &error) && bench_prepare (&b, &error)
       && bench_family (&b, &error);
  bench_cleanup (&b, &cleanup_error);
  return bench_exit_status ("bench-storage", ok ? NULL : error, cleanup_error, start, b.summary);
}
