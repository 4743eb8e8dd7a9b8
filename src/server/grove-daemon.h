/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * GroveDaemonOptions:
 * @config_path: (nullable): the main config file; %NULL for /etc/grove/grove.conf
 * @root: (nullable): overrides `[storage] root`
 * @runroot: (nullable): overrides `[storage] runroot`
 * @pause: (nullable): overrides `[runtime] pause`
 * @bus: (nullable): `system`, `session` or a D-Bus address; %NULL for `$GROVE_BUS_ADDRESS`
 *   when set, else the system bus
 * @cri_socket: (nullable): overrides `[cri] listen`; "" for no CRI socket
 *
 * What groved's command line says.
 */
typedef struct
{
  const char *config_path;
  const char *root;
  const char *runroot;
  const char *pause;
  const char *bus;
  const char *cri_socket;
} GroveDaemonOptions;

#define GROVE_TYPE_DAEMON (grove_daemon_get_type ())
G_DECLARE_FINAL_TYPE (GroveDaemon, grove_daemon, GROVE, DAEMON, GObject)

GroveDaemon *grove_daemon_new (const GroveDaemonOptions *options, GError **error);
gboolean grove_daemon_run (GroveDaemon *self, GError **error);

G_END_DECLS
