/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveCtl"

/*
 * Waiting for an org.grove.Job1 (an import, a pull) and showing its progress: one bar for
 * an import, a line per layer for a pull. Ctrl-C cancels the job.
 */

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "grovectl-job.h"

#define PROGRESS_BAR_WIDTH 30
/* the digest's characters a layer line shows, after "sha256:" */
#define LAYER_DIGEST_LEN 12

typedef struct
{
  GroveDBusJob1 *job;
  GrovectlJobShowFunc show; /* NULL: stderr is no terminal */
  gpointer show_data;
  gboolean interrupted;
  gboolean done;
  gboolean lost; /* groved went away */
} Wait;

static void
check_state (Wait *wait)
{
  const char *state = grove_dbus_job1_get_state (wait->job);

  if (state != NULL && !g_str_equal (state, "running"))
    wait->done = TRUE;
}

static void
properties_changed_cb (GDBusProxy *proxy, GVariant *changed, const char *const *invalidated,
                       Wait *wait)
{
  check_state (wait);
  if (wait->show != NULL && !wait->done)
    wait->show (wait->job, FALSE, wait->show_data);
}

static void
completed_cb (GroveDBusJob1 *job, gboolean success, const char *error, Wait *wait)
{
  wait->done = TRUE;
}

static void
owner_changed_cb (GObject *proxy, GParamSpec *pspec, Wait *wait)
{
  g_autofree char *owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (proxy));

  if (owner == NULL)
    wait->lost = TRUE;
}

static void
cancel_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) local_error = NULL;

  /* the job may have ended meanwhile: its state tells how it did */
  if (!grove_dbus_job1_call_cancel_finish (GROVE_DBUS_JOB1 (source), result, &local_error))
    g_debug ("cancelling the job: %s", local_error->message);
}

static gboolean
interrupt_cb (gpointer user_data)
{
  Wait *wait = user_data;

  wait->interrupted = TRUE;
  grove_dbus_job1_call_cancel (wait->job, NULL, cancel_cb, NULL);
  return G_SOURCE_CONTINUE;
}

/**
 * grovectl_job_wait:
 * @job: the job's proxy
 * @show: (nullable): shows progress; called only when stderr is a terminal
 * @user_data: for @show
 * @out_interrupted: (out): whether Ctrl-C cancelled the job
 * @error: return location
 *
 * Turns the main loop until the job ends; Ctrl-C cancels it meanwhile.
 *
 * Returns: %TRUE once the job ended (its State tells how), %FALSE if groved went away
 */
gboolean
grovectl_job_wait (GroveDBusJob1 *job, GrovectlJobShowFunc show, gpointer user_data,
                   gboolean *out_interrupted, GError **error)
{
  Wait wait = { job, isatty (STDERR_FILENO) ? show : NULL, user_data, FALSE, FALSE, FALSE };
  guint interrupt_id = g_unix_signal_add (SIGINT, interrupt_cb, &wait);

  g_signal_connect (job, "g-properties-changed", G_CALLBACK (properties_changed_cb), &wait);
  g_signal_connect (job, "completed", G_CALLBACK (completed_cb), &wait);
  g_signal_connect (job, "notify::g-name-owner", G_CALLBACK (owner_changed_cb), &wait);
  /* it may have ended before the proxy was watching */
  check_state (&wait);
  owner_changed_cb (G_OBJECT (job), NULL, &wait);
  while (!wait.done && !wait.lost)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (interrupt_id);
  g_signal_handlers_disconnect_by_data (job, &wait);
  if (wait.show != NULL)
    wait.show (job, TRUE, user_data);
  *out_interrupted = wait.interrupted;
  if (wait.lost)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_DISCONNECTED,
                   /* TRANSLATORS: %s is a D-Bus object path */
                   _ ("groved went away during the job %s"),
                   g_dbus_proxy_get_object_path (G_DBUS_PROXY (job)));
      return FALSE;
    }
  return TRUE;
}

/**
 * grovectl_job_show_bar:
 * @job: an import job
 * @finished: whether it ended
 * @user_data: unused
 *
 * One line: a bar, the share done, megabytes read and files written; erased at the end.
 */
void
grovectl_job_show_bar (GroveDBusJob1 *job, gboolean finished, gpointer user_data)
{
  double progress = CLAMP (grove_dbus_job1_get_progress (job), 0.0, 1.0);
  g_autofree char *bar = g_strnfill (PROGRESS_BAR_WIDTH, '.');
  g_autofree char *files = g_strdup_printf ("%" G_GUINT64_FORMAT, grove_dbus_job1_get_files (job));

  if (finished)
    {
      g_printerr ("\r\033[K");
      return;
    }
  memset (bar, '#', (gsize)(progress * PROGRESS_BAR_WIDTH));
  g_printerr ("\r[%s] ", bar);
  /* TRANSLATORS: an import's progress: percent done, megabytes read of the megabytes known
   * so far, and how many files it wrote (%s is the number) */
  g_printerr (_ ("%3.0f%%  %.1f/%.1f MB  %s files"), progress * 100.0,
              (double)grove_dbus_job1_get_bytes_done (job) / 1e6,
              (double)grove_dbus_job1_get_bytes_total (job) / 1e6, files);
  /* erase what a longer line left */
  g_printerr ("\033[K");
}

static void
show_layer (const char *digest, guint64 done_bytes, gint64 total, gboolean done)
{
  const char *hex = strchr (digest, ':');
  g_autofree char *short_digest = g_strndup (hex != NULL ? hex + 1 : digest, LAYER_DIGEST_LEN);
  double fraction = total > 0 ? MIN (1.0, (double)done_bytes / (double)total) : 0.0;
  g_autofree char *bar = g_strnfill (PROGRESS_BAR_WIDTH, '.');

  if (done)
    {
      /* TRANSLATORS: a pulled layer that is in the store: its short digest */
      g_printerr (_ ("%s  done"), short_digest);
      g_printerr ("\033[K\n");
      return;
    }
  memset (bar, '#', (gsize)(fraction * PROGRESS_BAR_WIDTH));
  /* TRANSLATORS: a layer being pulled: short digest, bar, megabytes done of its size */
  g_printerr (_ ("%s  [%s] %.1f/%.1f MB"), short_digest, bar, (double)done_bytes / 1e6,
              total > 0 ? (double)total / 1e6 : 0.0);
  g_printerr ("\033[K\n");
}

/**
 * grovectl_job_show_layers:
 * @job: a pull job
 * @finished: whether it ended
 * @user_data: (type guint*): how many lines the last call printed
 *
 * A line per layer, redrawn in place: its bar while it downloads, "done" once it is in
 * the store. The last drawing stays.
 */
void
grovectl_job_show_layers (GroveDBusJob1 *job, gboolean finished, gpointer user_data)
{
  guint *lines = user_data;
  GVariant *layers = grove_dbus_job1_get_layers (job);
  GVariantIter iter;
  const char *digest = NULL;
  guint64 done_bytes = 0;
  gint64 total = 0;
  gboolean done = FALSE;

  if (layers == NULL)
    return;
  if (*lines > 0)
    g_printerr ("\033[%uA", *lines);
  *lines = 0;
  g_variant_iter_init (&iter, layers);
  while (g_variant_iter_next (&iter, "(&stxb)", &digest, &done_bytes, &total, &done))
    {
      show_layer (digest, done_bytes, total, done);
      (*lines)++;
    }
}
