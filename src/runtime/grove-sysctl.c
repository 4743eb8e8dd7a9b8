/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveSysctl"

#include <string.h>

#include "grove-sysctl.h"
#include "grove-utils.h"

/*
 * A pod may only set the sysctls that belong to its own namespaces: those of its network
 * namespace and of its IPC namespace. Anything else would change the host for every pod.
 */

#define SYSCTL_NAME_MAX 256

/* the IPC namespace's: System V shared memory, messages and semaphores, POSIX queues */
static gboolean
is_ipc_sysctl (const char *name)
{
  return g_str_has_prefix (name, "kernel.shm") || g_str_has_prefix (name, "kernel.msg")
         || strcmp (name, "kernel.sem") == 0 || g_str_has_prefix (name, "fs.mqueue.");
}

static gboolean
name_valid (const char *name)
{
  size_t length = strlen (name);

  if (length == 0 || length > SYSCTL_NAME_MAX || name[0] == '.' || name[length - 1] == '.'
      || strstr (name, "..") != NULL)
    return FALSE;
  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("._-", *p) == NULL)
      return FALSE;
  return TRUE;
}

/**
 * grove_sysctl_check:
 * @name: a sysctl as the pod config names it, dotted (`net.ipv4.ip_forward`); the kernel's
 *   `/` separators are taken too
 * @host_network: whether the pod uses the host's network namespace
 * @host_ipc: whether the pod uses the host's IPC namespace
 * @error: return location
 *
 * Checks that a pod may set @name: a namespaced sysctl (`net.*`, `kernel.shm*`,
 * `kernel.msg*`, `kernel.sem`, `fs.mqueue.*`) of a namespace the pod has of its own.
 *
 * Returns: %TRUE when it may; otherwise %FALSE with %GROVE_ERROR_INVALID_ARGUMENT naming
 *   the sysctl and why
 */
gboolean
grove_sysctl_check (const char *name, gboolean host_network, gboolean host_ipc, GError **error)
{
  g_autofree char *dotted = NULL;

  g_return_val_if_fail (name != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  dotted = g_strdelimit (g_strdup (name), "/", '.');
  if (!name_valid (dotted))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "sysctl '%s': not a sysctl name",
                        name);
  if (g_str_has_prefix (dotted, "net."))
    {
      if (host_network)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "sysctl %s: a pod on the host's network cannot set net.* sysctls",
                            name);
      return TRUE;
    }
  if (is_ipc_sysctl (dotted))
    {
      if (host_ipc)
        return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                            "sysctl %s: a pod sharing the host's IPC namespace cannot set IPC "
                            "sysctls",
                            name);
      return TRUE;
    }
  return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                      "sysctl %s: not namespaced; a pod may set only net.*, kernel.shm*, "
                      "kernel.msg*, kernel.sem and fs.mqueue.*",
                      name);
}
