/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestImport"

/*
 * grove-test-import ROOT PATH [TAG]: imports an image into the store at ROOT, printing a
 * line per progress report, so a test can kill an import half-way through.
 */
#include <stdio.h>

#include "grove-store.h"

static void
progress_cb (const GroveImportProgress *progress, gpointer user_data)
{
  printf ("progress %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "\n", progress->files,
          progress->bytes);
  fflush (stdout);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveStore) store = NULL;
  g_autoptr (GPtrArray) images = NULL;

  if (argc < 3)
    {
      fprintf (stderr, "usage: %s ROOT PATH [TAG]\n", argv[0]);
      return 2;
    }
  store = grove_store_open (argv[1], NULL, &error);
  if (store != NULL)
    images = grove_store_import_image (store, argv[2], GROVE_IMAGE_FORMAT_AUTO,
                                       argc > 3 ? argv[3] : NULL, progress_cb, NULL, NULL, &error);
  if (images == NULL)
    {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
  for (guint i = 0; i < images->len; i++)
    printf ("image %s\n", grove_image_get_id (images->pdata[i]));
  return 0;
}
