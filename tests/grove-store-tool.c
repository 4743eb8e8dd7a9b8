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
 *   pull ROOT CONFIG REFERENCE [USER:PASS] [CANCEL-AT-BYTES]
 *                              pulls with the registries of grove.conf CONFIG; prints
 *                              "progress DONE TOTAL LAYERS-DONE LAYERS" lines, then
 *                              "image ID NAMES REPO-DIGESTS"; on failure "error NAME: message"
 *                              (NAME: org.grove.Error.* or "cancelled") on stderr
 */
#include <stdio.h>
#include <string.h>

#include "grove-config.h"
#include "grove-error.h"
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

typedef struct
{
  GCancellable *cancellable;
  guint64 cancel_at;
} PullState;

static void
pull_progress_cb (const GrovePullProgress *progress, gpointer user_data)
{
  PullState *state = user_data;
  guint done = 0;

  for (guint i = 0; i < progress->n_layers; i++)
    done += progress->layers[i].done ? 1 : 0;
  printf ("progress %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %u %u\n", progress->bytes_done,
          progress->bytes_total, done, progress->n_layers);
  fflush (stdout);
  if (state->cancel_at > 0 && progress->bytes_done >= state->cancel_at)
    g_cancellable_cancel (state->cancellable);
}

static gboolean
run_pull (GroveStore *store, int argc, char **argv, GError **error)
{
  g_autoptr (GroveConfig) config = grove_config_load (argv[0], error);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  PullState state = { cancellable, argc > 3 ? g_ascii_strtoull (argv[3], NULL, 10) : 0 };
  GroveRegistryAuth auth = { 0 };
  g_autoptr (GroveImage) image = NULL;
  g_autofree char *names = NULL;
  g_auto (GStrv) digests = NULL;
  g_autofree char *digests_text = NULL;
  g_auto (GStrv) user = argc > 2 && argv[2][0] != '\0' ? g_strsplit (argv[2], ":", 2) : NULL;

  if (config == NULL)
    return FALSE;
  auth.username = user ? user[0] : NULL;
  auth.password = user ? user[1] : NULL;
  grove_store_set_registry_config (store, config->registries);
  image = grove_store_pull_image (store, argv[1], user ? &auth : NULL, pull_progress_cb, &state,
                                  cancellable, error);
  if (image == NULL)
    return FALSE;
  names = g_strjoinv (",", (char **)grove_image_get_names (image));
  digests = grove_image_dup_repo_digests (image);
  digests_text = g_strjoinv (",", digests);
  printf ("image %s %s %s\n", grove_image_get_id (image), names, digests_text);
  return TRUE;
}

static gboolean
run_command (GroveStore *store, const char *command, int argc, char **argv, GError **error)
{
  g_autofree char *rootfs = NULL;

  if (g_str_equal (command, "import") && argc >= 1)
    return run_import (store, argc, argv, error);
  if (g_str_equal (command, "pull") && argc >= 2)
    return run_pull (store, argc, argv, error);
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
      fprintf (stderr, "usage: %s import|ls|prepare|release|rm|pull ROOT ARGS...\n", argv[0]);
      return 2;
    }
  store = grove_store_open (argv[2], NULL, &error);
  if (store == NULL || !run_command (store, argv[1], argc - 3, argv + 3, &error))
    {
      g_autofree char *name
          = error->domain == GROVE_ERROR ? g_dbus_error_encode_gerror (error)
            : g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED)
                ? g_strdup ("cancelled")
                : g_strdup_printf ("%s.%d", g_quark_to_string (error->domain), error->code);
      fprintf (stderr, "error %s: %s\n", name, error->message);
      return 1;
    }
  return 0;
}
