/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

JsonArray *grove_host_devices_list (const char *dev_path, GError **error);

G_END_DECLS
