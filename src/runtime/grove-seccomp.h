/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* the name of Grove's own profile among the daemon's resources */
#define GROVE_SECCOMP_DEFAULT_RESOURCE "/org/grove/seccomp-default.json"

JsonObject *grove_seccomp_parse_profile (const char *text, gssize length, const char *origin,
                                         GError **error);
JsonObject *grove_seccomp_load_profile (const char *path, GError **error);
char *grove_seccomp_read_default (const char *path, char **out_origin, GError **error);
JsonObject *grove_seccomp_build (JsonObject *profile, const char *origin,
                                 const char *const *capabilities, GError **error);

G_END_DECLS
