/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * GroveIdmap:
 * @userns_fd: a user namespace whose mappings shift the owners of what is mounted
 * @root_uid: the host UID the namespace's root is mapped to
 * @root_gid: the host GID the namespace's root is mapped to
 *
 * How a mount is seen from a user namespace. Nothing here is owned.
 */
typedef struct
{
  int userns_fd;
  guint32 root_uid;
  guint32 root_gid;
} GroveIdmap;

int grove_idmap_clone_tree (const char *path, int userns_fd, GError **error);
gboolean grove_idmap_mount_overlay (const char *lower, const char *upper, const char *work,
                                    const char *stage, const char *target, int userns_fd,
                                    GError **error);
gboolean grove_idmap_bind (const char *source, const char *target, int userns_fd, GError **error);
gboolean grove_idmap_unbind_dir (const char *dir, GError **error);

G_END_DECLS
