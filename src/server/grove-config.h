/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "grove-pull.h"

G_BEGIN_DECLS

/**
 * GROVE_CONFIG_DEFAULT_PATH:
 *
 * The config groved reads when it is given none; unlike a file named explicitly, it may be
 * missing.
 */
#define GROVE_CONFIG_DEFAULT_PATH "/etc/grove/grove.conf"

/**
 * GROVE_DEFAULT_ROOT:
 *
 * `[storage] root` when the config does not set it.
 */
#define GROVE_DEFAULT_ROOT "/var/lib/grove"

/**
 * GROVE_DEFAULT_RUNROOT:
 *
 * `[storage] runroot` when the config does not set it.
 */
#define GROVE_DEFAULT_RUNROOT "/run/grove"

/**
 * GROVE_DEFAULT_CRI_SOCKET:
 *
 * The CRI socket of a groved on the system bus with the default root and runroot, when
 * `[cri] listen` is not set.
 */
#define GROVE_DEFAULT_CRI_SOCKET "/run/grove/cri.sock"

/**
 * GroveHandlerConfig:
 * @name: the handler's name
 * @argv: the runtime binary and the arguments put before its own
 * @builtin: %TRUE for the built-in `runc` and `crun` the config did not redefine; a daemon
 *   may skip those when their binary is missing
 *
 * One `[handler.NAME]` group of the config.
 */
typedef struct
{
  char *name;
  GStrv argv;
  gboolean builtin;
} GroveHandlerConfig;

/**
 * GroveConfigPolkit:
 * @GROVE_CONFIG_POLKIT_AUTO: check with polkit when groved is on the system bus
 * @GROVE_CONFIG_POLKIT_YES: always check with polkit, on whatever bus groved is
 * @GROVE_CONFIG_POLKIT_NO: never check: whoever the bus lets call may do everything
 *
 * `[daemon] polkit`: whether groved asks polkit before each call that changes something.
 */
typedef enum
{
  GROVE_CONFIG_POLKIT_AUTO,
  GROVE_CONFIG_POLKIT_YES,
  GROVE_CONFIG_POLKIT_NO,
} GroveConfigPolkit;

/**
 * GroveConfig:
 * @root: persistent state (`[storage] root`, default /var/lib/grove)
 * @runroot: volatile state (`[storage] runroot`, default /run/grove)
 * @conmon: (nullable): conmon (`[runtime] conmon`, default from PATH)
 * @pause: the grove-pause binary (`[runtime] pause`, default LIBEXECDIR/grove-pause)
 * @cgroup_parent: (`[runtime] cgroup_parent`, default /grove)
 * @default_handler: (`[runtime] default_handler`, default runc)
 * @trusted_handler: (`[runtime] trusted_handler`, default runc)
 * @seccomp_profile: (nullable): the RuntimeDefault seccomp profile (`[runtime]
 *   seccomp_profile`); %NULL when unset: DATADIR/grove/seccomp-default.json, or the copy
 *   built into groved when that file is missing
 * @handlers: (element-type GroveHandlerConfig): the configured handlers; runc and crun are
 *   there unless the config redefines them
 * @cni_conf_dir: where the CNI network config is (`[network] conf_dir`, default
 *   /etc/cni/net.d)
 * @cni_plugin_dirs: where CNI plugins are (`[network] plugin_dirs`, ':'-separated, default
 *   /usr/lib/cni:/opt/cni/bin)
 * @polkit: (`[daemon] polkit`, default auto)
 * @stream_address: the address of the CRI streaming server (`[cri] stream_address`,
 *   default 127.0.0.1)
 * @stream_port: its port (`[cri] stream_port`, default 0: one the kernel picks)
 * @stream_tls_cert: (nullable): a PEM certificate: the streaming server speaks HTTPS
 *   (`[cri] stream_tls_cert`)
 * @stream_tls_key: (nullable): its private key (`[cri] stream_tls_key`)
 * @stream_token_lifetime: seconds a streaming URL may be used in (`[cri]
 *   stream_token_lifetime`, default 60)
 * @cri_listen: (nullable): the CRI socket (`[cri] listen`): a path, "" for none, or %NULL
 *   when the config does not say (groved then decides)
 * @registries: how the store reaches registries (`[registries]`, `[registry.HOST]`)
 *
 * groved's configuration: /etc/grove/grove.conf, then grove.conf.d/ *.conf in name order,
 * later values winning.
 */
typedef struct
{
  char *root;
  char *runroot;
  char *conmon;
  char *pause;
  char *cgroup_parent;
  char *default_handler;
  char *trusted_handler;
  char *seccomp_profile;
  GPtrArray *handlers;
  char *cni_conf_dir;
  GStrv cni_plugin_dirs;
  GroveConfigPolkit polkit;
  char *cri_listen;
  char *stream_address;
  guint stream_port;
  guint stream_token_lifetime;
  char *stream_tls_cert;
  char *stream_tls_key;
  GroveRegistryConfig *registries;
} GroveConfig;

GroveConfig *grove_config_load (const char *path, GError **error);
const GroveHandlerConfig *grove_config_get_handler (GroveConfig *config, const char *name);
void grove_config_free (GroveConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GroveConfig, grove_config_free)

G_END_DECLS
