/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "Groved"
#define G_LOG_USE_STRUCTURED 1

/* groved: parses the command line and runs a GroveDaemon; all else is in grove-daemon.c */

#include <locale.h>
#include <stdio.h>

#include "grove-daemon.h"

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveDaemon) daemon = NULL;
  g_autofree char *config_path = NULL;
  g_autofree char *root = NULL;
  g_autofree char *runroot = NULL;
  g_autofree char *pause = NULL;
  g_autofree char *bus = NULL;
  g_autofree char *cri_socket = NULL;
  gboolean verbose = FALSE;
  const GOptionEntry entries[]
      = { { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path,
            "Config file (default /etc/grove/grove.conf)", "FILE" },
          { "root", 0, 0, G_OPTION_ARG_FILENAME, &root,
            "Persistent state (overrides [storage] root)", "DIR" },
          { "runroot", 0, 0, G_OPTION_ARG_FILENAME, &runroot,
            "Volatile state (overrides [storage] runroot)", "DIR" },
          { "bus", 0, 0, G_OPTION_ARG_STRING, &bus,
            "system, session or a D-Bus address (default $GROVE_BUS_ADDRESS, else system)", "BUS" },
          { "pause", 0, 0, G_OPTION_ARG_FILENAME, &pause,
            "The grove-pause binary (overrides [runtime] pause)", "PATH" },
          { "cri-socket", 0, 0, G_OPTION_ARG_FILENAME, &cri_socket,
            "The CRI gRPC socket, \"\" for none (overrides [cri] listen)", "PATH" },
          { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debug messages", NULL },
          { NULL } };
  GroveDaemonOptions options = { 0 };

  setlocale (LC_ALL, "");
  g_option_context_set_summary (context, "The Grove container runtime daemon.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("groved: %s\n", error->message);
      return 2;
    }
  if (argc > 1)
    {
      g_printerr ("groved: unexpected argument '%s'\n", argv[1]);
      return 2;
    }
  if (verbose)
    g_log_set_debug_enabled (TRUE);
  options.config_path = config_path;
  options.root = root;
  options.runroot = runroot;
  options.pause = pause;
  options.bus = bus;
  options.cri_socket = cri_socket;
  daemon = grove_daemon_new (&options, &error);
  if (daemon == NULL || !grove_daemon_run (daemon, &error))
    {
      g_printerr ("groved: %s\n", error->message);
      return 1;
    }
  return 0;
}
