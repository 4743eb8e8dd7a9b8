/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveUtils"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "grove-utils.h"

gboolean
grove_throw (GError **error, GroveError code, const char *format, ...)
{
  va_list args;

  va_start (args, format);
  g_propagate_error (error, g_error_new_valist (GROVE_ERROR, code, format, args));
  va_end (args);
  return FALSE;
}

/**
 * grove_throw_errno:
 * @error: return location
 * @prefix: what was being done, e.g. "opening /var/lib/grove"
 *
 * Sets @error from the current `errno` in the %G_IO_ERROR domain.
 *
 * Returns: %FALSE
 */
gboolean
grove_throw_errno (GError **error, const char *prefix)
{
  int errsv = errno;
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "%s: %s", prefix,
               g_strerror (errsv));
  errno = errsv;
  return FALSE;
}

/**
 * grove_throw_errno_code:
 * @error: return location
 * @errsv: an errno value
 * @format: printf format of what was being done
 * @...: arguments
 *
 * Returns: %FALSE, with @error set to "<what>: <strerror>"
 */
gboolean
grove_throw_errno_code (GError **error, int errsv, const char *format, ...)
{
  va_list args;
  g_autofree char *what = NULL;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv), "%s: %s", what,
               g_strerror (errsv));
  return FALSE;
}

/**
 * grove_mkdir_p_at:
 * @dfd: directory fd or AT_FDCWD
 * @path: relative (or absolute) path
 * @mode: mode of directories that are created
 * @error: return location
 *
 * Creates @path and its missing parents; existing directories are fine.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_mkdir_p_at (int dfd, const char *path, mode_t mode, GError **error)
{
  g_autofree char *copy = g_strdup (path);

  for (char *p = copy + 1; *p != '\0'; p++)
    {
      if (*p != '/')
        continue;
      *p = '\0';
      if (mkdirat (dfd, copy, mode) < 0 && errno != EEXIST)
        return grove_throw_errno_code (error, errno, "creating directory %s", copy);
      *p = '/';
    }
  if (mkdirat (dfd, copy, mode) < 0 && errno != EEXIST)
    return grove_throw_errno_code (error, errno, "creating directory %s", copy);
  return TRUE;
}

static gboolean rm_rf_children (int dfd, const char *what, dev_t dev, GCancellable *cancellable,
                                GError **error);

static gboolean
rm_rf_entry (int dfd, const char *name, dev_t dev, GCancellable *cancellable, GError **error)
{
  struct stat st;

  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? TRUE : grove_throw_errno_code (error, errno, "stat %s", name);
  if (S_ISDIR (st.st_mode))
    {
      grove_autofd int child = -1;

      /* never descend into something mounted below the tree being removed */
      if (st.st_dev != dev)
        return grove_throw (error, GROVE_ERROR_BUSY,
                            "refusing to remove %s: a filesystem is mounted there", name);
      child = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (child < 0)
        return grove_throw_errno_code (error, errno, "opening %s", name);
      if (!rm_rf_children (child, name, dev, cancellable, error))
        return FALSE;
      if (unlinkat (dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return grove_throw_errno_code (error, errno, "removing directory %s", name);
      return TRUE;
    }
  if (unlinkat (dfd, name, 0) < 0 && errno != ENOENT)
    return grove_throw_errno_code (error, errno, "removing %s", name);
  return TRUE;
}

/**
 * grove_dir_foreach_at:
 * @dfd: an open directory
 * @what: the directory's name, for errors
 * @func: called with @dfd and the name of each entry but `.` and `..`
 * @user_data: passed to @func
 * @cancellable: (nullable): checked before each entry
 * @error: return location
 *
 * Calls @func for each entry of @dfd until it fails.
 *
 * Returns: %TRUE when @func succeeded for every entry
 */
gboolean
grove_dir_foreach_at (int dfd, const char *what, GroveDirEntryFunc func, gpointer user_data,
                      GCancellable *cancellable, GError **error)
{
  int dup_fd = fcntl (dfd, F_DUPFD_CLOEXEC, 3);
  DIR *dir = NULL;
  struct dirent *entry;
  gboolean ok = TRUE;

  if (dup_fd < 0)
    return grove_throw_errno_code (error, errno, "duplicating fd of %s", what);
  dir = fdopendir (dup_fd);
  if (dir == NULL)
    {
      close (dup_fd);
      return grove_throw_errno_code (error, errno, "reading %s", what);
    }
  while (ok && (entry = readdir (dir)) != NULL)
    {
      if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
        continue;
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        ok = FALSE;
      else
        ok = func (dfd, entry->d_name, user_data, cancellable, error);
    }
  closedir (dir);
  return ok;
}

static gboolean
rm_rf_entry_cb (int dfd, const char *name, gpointer user_data, GCancellable *cancellable,
                GError **error)
{
  return rm_rf_entry (dfd, name, *(const dev_t *)user_data, cancellable, error);
}

static gboolean
rm_rf_children (int dfd, const char *what, dev_t dev, GCancellable *cancellable, GError **error)
{
  return grove_dir_foreach_at (dfd, what, rm_rf_entry_cb, &dev, cancellable, error);
}

/**
 * grove_rm_rf_at:
 * @dfd: directory fd or AT_FDCWD
 * @path: what to remove
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Removes @path recursively, without following symlinks and without crossing into other
 * filesystems (an overlay still mounted below @path is an error, never emptied).
 * A missing @path is not an error.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_rm_rf_at (int dfd, const char *path, GCancellable *cancellable, GError **error)
{
  struct stat st;

  if (fstatat (dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? TRUE : grove_throw_errno_code (error, errno, "stat %s", path);
  return rm_rf_entry (dfd, path, st.st_dev, cancellable, error);
}

/* a du-style walk: the filesystem it stays on, the hardlinked inodes counted, the sums */
typedef struct
{
  dev_t dev;
  GHashTable *seen;
  guint64 bytes;
  guint64 inodes;
} UsageWalk;

static gboolean usage_entry_cb (int dfd, const char *name, gpointer user_data,
                                GCancellable *cancellable, GError **error);

/* counts one entry (an entry that went away meanwhile is skipped); hardlinks count once */
static gboolean
usage_entry (UsageWalk *walk, int dfd, const char *name, GCancellable *cancellable, GError **error)
{
  struct stat st;
  grove_autofd int child = -1;

  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? TRUE : grove_throw_errno_code (error, errno, "stat %s", name);
  if (st.st_dev != walk->dev)
    return TRUE;
  if (st.st_nlink > 1 && !S_ISDIR (st.st_mode))
    {
      guint64 *key = g_new (guint64, 1);

      *key = st.st_ino;
      if (!g_hash_table_add (walk->seen, key))
        return TRUE;
    }
  walk->bytes += (guint64)st.st_blocks * 512;
  walk->inodes += 1;
  if (!S_ISDIR (st.st_mode))
    return TRUE;
  child = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (child < 0)
    return errno == ENOENT ? TRUE : grove_throw_errno_code (error, errno, "opening %s", name);
  return grove_dir_foreach_at (child, name, usage_entry_cb, walk, cancellable, error);
}

static gboolean
usage_entry_cb (int dfd, const char *name, gpointer user_data, GCancellable *cancellable,
                GError **error)
{
  return usage_entry (user_data, dfd, name, cancellable, error);
}

/**
 * grove_disk_usage_at:
 * @dfd: directory fd or AT_FDCWD
 * @path: the tree to measure
 * @out_bytes: (out): bytes of disk it takes (allocated blocks, as du counts them)
 * @out_inodes: (out): inodes in it, @path included
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Measures @path without following symlinks or crossing into other filesystems;
 * hardlinked files count once. A missing @path uses nothing.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_disk_usage_at (int dfd, const char *path, guint64 *out_bytes, guint64 *out_inodes,
                     GCancellable *cancellable, GError **error)
{
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  UsageWalk walk = { .seen = seen };
  struct stat st;

  *out_bytes = 0;
  *out_inodes = 0;
  if (fstatat (dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? TRUE : grove_throw_errno_code (error, errno, "stat %s", path);
  walk.dev = st.st_dev;
  if (!usage_entry (&walk, dfd, path, cancellable, error))
    return FALSE;
  *out_bytes = walk.bytes;
  *out_inodes = walk.inodes;
  return TRUE;
}

/**
 * grove_write_file_at:
 * @dfd: directory fd or AT_FDCWD
 * @path: the file to replace
 * @data: contents
 * @len: length of @data
 * @mode: mode of the file
 * @error: return location
 *
 * Writes @path atomically: a temporary file beside it, fsync, then rename over it.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_write_file_at (int dfd, const char *path, const void *data, gsize len, mode_t mode,
                     GError **error)
{
  g_autofree char *tmp = g_strdup_printf ("%s.tmp-%u", path, g_random_int ());
  grove_autofd int fd = openat (dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  const guint8 *p = data;
  gsize left = len;

  if (fd < 0)
    return grove_throw_errno_code (error, errno, "creating %s", tmp);
  while (left > 0)
    {
      ssize_t n = write (fd, p, left);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int errsv = errno;
          unlinkat (dfd, tmp, 0);
          return grove_throw_errno_code (error, errsv, "writing %s", tmp);
        }
      p += n;
      left -= (gsize)n;
    }
  if (fchmod (fd, mode) < 0 || fsync (fd) < 0 || renameat (dfd, tmp, dfd, path) < 0)
    {
      int errsv = errno;
      unlinkat (dfd, tmp, 0);
      return grove_throw_errno_code (error, errsv, "writing %s", path);
    }
  return TRUE;
}

/**
 * grove_read_file_at:
 * @dfd: directory fd or AT_FDCWD
 * @path: file to read (a symlink is not followed)
 * @max_size: refuse files larger than this
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the contents, or %NULL with @error set
 */
GBytes *
grove_read_file_at (int dfd, const char *path, gsize max_size, GError **error)
{
  grove_autofd int fd = openat (dfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  g_autofree guint8 *buf = NULL;
  gsize done = 0;

  if (fd < 0)
    return grove_throw_errno_code (error, errno, "opening %s", path), NULL;
  if (fstat (fd, &st) < 0)
    return grove_throw_errno_code (error, errno, "stat %s", path), NULL;
  if (!S_ISREG (st.st_mode))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "%s is not a regular file", path),
           NULL;
  if ((guint64)st.st_size > max_size)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "%s is too large (%" G_GUINT64_FORMAT " bytes, at most %" G_GSIZE_FORMAT
                        ")",
                        path, (guint64)st.st_size, max_size),
           NULL;
  buf = g_malloc (st.st_size + 1);
  while (done < (gsize)st.st_size)
    {
      ssize_t n = read (fd, buf + done, st.st_size - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return grove_throw_errno_code (error, errno, "reading %s", path), NULL;
      if (n == 0)
        break;
      done += (gsize)n;
    }
  buf[done] = '\0';
  return g_bytes_new_take (g_steal_pointer (&buf), done);
}

/**
 * grove_sha256_valid:
 * @hex: (nullable): text to check
 *
 * Returns: %TRUE if @hex is exactly 64 lowercase hex digits
 */
gboolean
grove_sha256_valid (const char *hex)
{
  if (hex == NULL || strlen (hex) != 64)
    return FALSE;
  for (const char *p = hex; *p; p++)
    if (!g_ascii_isdigit (*p) && !(*p >= 'a' && *p <= 'f'))
      return FALSE;
  return TRUE;
}

/**
 * grove_sha256_hex_bytes:
 * @bytes: data
 *
 * Returns: (transfer full): the 64-digit lowercase hex SHA-256 of @bytes
 */
char *
grove_sha256_hex_bytes (GBytes *bytes)
{
  guint8 md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  GString *out = g_string_sized_new (64);

  EVP_Digest (data, len, md, &md_len, EVP_sha256 (), NULL);
  for (unsigned int i = 0; i < md_len; i++)
    g_string_append_printf (out, "%02x", md[i]);
  return g_string_free (out, FALSE);
}

/**
 * grove_make_searchable_at:
 * @dfd: a directory fd or %AT_FDCWD
 * @path: a directory, relative to @dfd
 * @error: return location for a #GError
 *
 * Lets anyone search @path (adds the x bits), without making it readable: a process that is
 * not the host's root (one of a user namespace) can then reach what is below by name.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_make_searchable_at (int dfd, const char *path, GError **error)
{
  struct stat st;

  g_return_val_if_fail (path != NULL, FALSE);
  if (fstatat (dfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return grove_throw_errno_code (error, errno, "stat %s", path);
  if ((st.st_mode & 0111) != 0111 && fchmodat (dfd, path, (st.st_mode & 07777) | 0111, 0) < 0)
    return grove_throw_errno_code (error, errno, "making %s searchable", path);
  return TRUE;
}

typedef struct
{
  GTask *task;
  GTaskThreadFunc func;
} TaskThread;

static gpointer
task_thread_main (gpointer data)
{
  TaskThread *run = data;
  GTask *task = run->task;

  run->func (task, g_task_get_source_object (task), g_task_get_task_data (task),
             g_task_get_cancellable (task));
  g_object_unref (task);
  g_free (run);
  return NULL;
}

/**
 * grove_task_run_in_new_thread:
 * @task: a #GTask; the thread holds a reference until @func returns
 * @func: what runs in the thread; it returns @task's result itself
 *
 * Like g_task_run_in_thread(), but in a thread of its own rather than one of GTask's pool.
 * For work that may block a long time on locks or the network (an import or a pull waiting
 * for the store): a pool thread held that way is one GIO's own async calls may be waiting
 * for.
 */
void
grove_task_run_in_new_thread (GTask *task, GTaskThreadFunc func)
{
  TaskThread *run = g_new0 (TaskThread, 1);

  g_return_if_fail (G_IS_TASK (task));
  run->task = g_object_ref (task);
  run->func = func;
  g_thread_unref (g_thread_new ("grove-task", task_thread_main, run));
}
