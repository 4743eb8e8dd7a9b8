/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveStoreTool"

/*
 * grove-store-tool: drives a GroveStore from the shell, for tests and the demo, until the
 * daemon and grovectl exist.
 *   import ROOT PATH [TAG]     prints "progress FILES BYTES" lines, then "image ID"
 *   ls ROOT                    one line per image: ID and names
 *   prepare ROOT CID IMAGE     mounts the rootfs, prints its path
 *   release ROOT CID
 *   rm ROOT IMAGE
 */
#include <stdio.h>
#include <string.h>

#include "grove-store.h"

static void
progress_cb (const GroveImportProgress *progress, gpointer user_data)
{
  printf ("progress %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "\n", progress->files,
          progress->bytes);
  fflush (stdout);
}

static gboolean
run_import (GroveStore *store, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) images
      = grove_store_import_image (store, argv[0], GROVE_IMAGE_FORMAT_AUTO,
                                  argc > 1 ? argv[1] : NULL, progress_cb, NULL, NULL, error);

  if (images == NULL)
    return FALSE;
  for (guint i = 0; i < images->len; i++)
    printf ("image %s\n", grove_image_get_id (images->pdata[i]));
  return TRUE;
}

static gboolean
run_ls (GroveStore *store, GError **error)
{
  g_autoptr (GPtrArray) images = grove_store_list_images (store, NULL, error);

  if (images == NULL)
    return FALSE;
  for (guint i = 0; i < images->len; i++)
    {
      g_autofree char *names = g_strjoinv (",", (char **)grove_image_get_names (images->pdata[i]));
      printf ("%s %s\n", grove_image_get_id (images->pdata[i]), names);
    }
  return TRUE;
}

static gboolean
run_command (GroveStore *store, const char *command, int argc, char **argv, GError **error)
{
  g_autofree char *rootfs = NULL;

  if (g_str_equal (command, "import") && argc >= 1)
    return run_import (store, argc, argv, error);
  if (g_str_equal (command, "ls"))
    return run_ls (store, error);
  if (g_str_equal (command, "prepare") && argc == 2)
    {
      rootfs = grove_store_prepare_rootfs (store, argv[0], argv[1], NULL, error);
      if (rootfs != NULL)
        printf ("%s\n", rootfs);
      return rootfs != NULL;
    }
  if (g_str_equal (command, "release") && argc == 1)
    return grove_store_release_rootfs (store, argv[0], NULL, error);
  if (g_str_equal (command, "rm") && argc == 1)
    return grove_store_remove_image (store, argv[0], NULL, error);
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "unknown command or arguments: %s",
               command);
  return FALSE;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveStore) store = NULL;

  if (argc < 3)
    {
      fprintf (stderr, "usage: %s import|ls|prepare|release|rm ROOT ARGS...\n", argv[0]);
      return 2;
    }
  store = grove_store_open (argv[2], NULL, &error);
  if (store == NULL || !run_command (store, argv[1], argc - 3, argv + 3, &error))
    {
      fprintf (stderr, "%s: %s\n", argv[1], error->message);
      return 1;
    }
  return 0;
}
