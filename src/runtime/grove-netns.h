/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

gboolean grove_netns_prepare_dir (const char *dir, GError **error);
gboolean grove_netns_create (const char *path, GError **error);
gboolean grove_netns_adopt (const char *path, int pid, GError **error);
gboolean grove_netns_remove (const char *path, GError **error);
gboolean grove_netns_exists (const char *path);
gboolean grove_nsfs_remove (const char *path, const char *what, GError **error);
gboolean grove_shm_mount (const char *path, guint64 size_bytes, GError **error);
gboolean grove_shm_unmount (const char *path, GError **error);

G_END_DECLS
