/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <gio/gio.h>
#include <unistd.h>

#include "grove-error.h"

G_BEGIN_DECLS

/* GLib 2.74 has no g_autofd: the project's one fd cleanup */
static inline void
grove_close_fd (int *fdp)
{
  int errsv = errno;
  if (*fdp >= 0)
    close (*fdp);
  *fdp = -1;
  errno = errsv;
}
#define grove_autofd __attribute__ ((cleanup (grove_close_fd)))

/* steal an fd, leaving -1 behind */
static inline int
grove_steal_fd (int *fdp)
{
  int fd = *fdp;
  *fdp = -1;
  return fd;
}

/**
 * grove_throw:
 * @error: the error to set
 * @code: a #GroveError code
 * @...: printf format and arguments
 *
 * Sets @error in the %GROVE_ERROR domain and returns %FALSE, so a check can end
 * in `return grove_throw (error, ...)`.
 *
 * Returns: %FALSE
 */
gboolean grove_throw (GError **error, GroveError code, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

gboolean grove_throw_errno (GError **error, const char *prefix);
gboolean grove_throw_errno_code (GError **error, int errsv, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

gboolean grove_mkdir_p_at (int dfd, const char *path, mode_t mode, GError **error);
gboolean grove_make_searchable_at (int dfd, const char *path, GError **error);
/**
 * GroveDirEntryFunc:
 * @dfd: the directory
 * @name: an entry of it
 * @user_data: closure
 * @cancellable: (nullable): a #GCancellable
 * @error: return location
 *
 * Called by grove_dir_foreach_at() for each entry.
 *
 * Returns: %FALSE with @error set to stop
 */
typedef gboolean (*GroveDirEntryFunc) (int dfd, const char *name, gpointer user_data,
                                       GCancellable *cancellable, GError **error);

gboolean grove_dir_foreach_at (int dfd, const char *what, GroveDirEntryFunc func,
                               gpointer user_data, GCancellable *cancellable, GError **error);
gboolean grove_rm_rf_at (int dfd, const char *path, GCancellable *cancellable, GError **error);
gboolean grove_disk_usage_at (int dfd, const char *path, guint64 *out_bytes, guint64 *out_inodes,
                              GCancellable *cancellable, GError **error);
gboolean grove_write_file_at (int dfd, const char *path, const void *data, gsize len, mode_t mode,
                              GError **error);
GBytes *grove_read_file_at (int dfd, const char *path, gsize max_size, GError **error);
gboolean grove_sha256_valid (const char *hex);
void grove_task_run_in_new_thread (GTask *task, GTaskThreadFunc func);
char *grove_sha256_hex_bytes (GBytes *bytes);

G_END_DECLS
