/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean grove_sysctl_check (const char *name, gboolean host_network, gboolean host_ipc,
                             GError **error);

G_END_DECLS
