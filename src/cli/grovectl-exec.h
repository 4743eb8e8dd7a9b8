/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * GrovectlExecRequest:
 * @container_path: the container's object path
 * @argv: (array zero-terminated=1): the command
 * @env: (array zero-terminated=1) (nullable): KEY=VALUE entries for its environment
 * @workdir: (nullable): its working directory
 * @interactive: hand over grovectl's stdin
 * @tty: run it on a terminal; grovectl's own terminal is then put in raw mode
 */
typedef struct
{
  const char *container_path;
  const char *const *argv;
  const char *const *env;
  const char *workdir;
  gboolean interactive;
  gboolean tty;
} GrovectlExecRequest;

gboolean grovectl_exec (GDBusConnection *connection, const GrovectlExecRequest *request,
                        int *out_status, GError **error);

G_END_DECLS
