/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveBenchUtil"

#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "bench-util.h"
#include "grove-utils.h"

double
bench_seconds_since (gint64 start)
{
  return (double)(g_get_monotonic_time () - start) / G_USEC_PER_SEC;
}

GArray *
bench_doubles_new (void)
{
  return g_array_new (FALSE, FALSE, sizeof (double));
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double x = *(const double *)a;
  double y = *(const double *)b;

  return (x > y) - (x < y);
}

double
bench_percentile (GArray *samples, double p)
{
  g_autoptr (GArray) sorted = NULL;
  guint rank;

  g_return_val_if_fail (samples != NULL, 0);

  if (samples->len == 0)
    return 0;
  sorted = g_array_copy (samples);
  g_array_sort (sorted, compare_doubles);
  rank = (guint)(p * sorted->len + 0.999999);
  return g_array_index (sorted, double, CLAMP (rank, 1, sorted->len) - 1);
}

double
bench_mib (guint64 kb)
{
  return (double)kb / 1024.0;
}

const char *
bench_verdict (gboolean met)
{
  return met ? "met" : "MISSED";
}

void
bench_print_load (const char *when)
{
  g_autofree char *load = NULL;

  g_return_if_fail (when != NULL);

  if (g_file_get_contents ("/proc/loadavg", &load, NULL, NULL))
    g_print ("  load average %s: %s", when, load);
}

void
bench_make_absolute (char **path)
{
  g_autofree char *absolute = NULL;

  g_return_if_fail (path != NULL && *path != NULL);

  absolute = g_canonicalize_filename (*path, NULL);
  g_free (*path);
  *path = g_steal_pointer (&absolute);
}

char *
bench_make_workdir (const char *parent, const char *template_name, GError **error)
{
  g_autofree char *tmpl = NULL;

  g_return_val_if_fail (parent != NULL && template_name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  tmpl = g_build_filename (parent, template_name, NULL);
  if (g_mkdtemp (tmpl) == NULL)
    return grove_throw_errno_code (error, errno, "creating a directory like %s", tmpl), NULL;
  return g_steal_pointer (&tmpl);
}

gboolean
bench_check_programs (const char *const *needed, GError **error)
{
  g_return_val_if_fail (needed != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  for (guint i = 0; needed[i] != NULL; i++)
    {
      g_autofree char *path = g_find_program_in_path (needed[i]);

      if (path == NULL)
        return grove_throw (error, GROVE_ERROR_NOT_FOUND, "%s is not in PATH", needed[i]);
    }
  return TRUE;
}

GSubprocess *
bench_communicate (const char *const *argv, GSubprocessFlags flags, const char *label,
                   char **out_stdout, char **out_stderr, GError **error)
{
  g_autoptr (GSubprocess) proc = NULL;

  g_return_val_if_fail (argv != NULL && argv[0] != NULL && label != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  proc = g_subprocess_newv (argv, flags, error);
  if (proc == NULL
      || !g_subprocess_communicate_utf8 (proc, NULL, NULL, out_stdout, out_stderr, error))
    return g_prefix_error (error, "running %s: ", label), NULL;
  return g_steal_pointer (&proc);
}

guint64
bench_proc_kb (const char *text, const char *key)
{
  g_autofree char *needle = NULL;
  const char *found = NULL;

  g_return_val_if_fail (text != NULL && key != NULL, 0);

  needle = g_strconcat ("\n", key, ":", NULL);
  found = g_str_has_prefix (text, needle + 1) ? text : strstr (text, needle);
  if (found == NULL)
    return 0;
  found = strchr (found + 1, ':');
  return g_ascii_strtoull (found + 1, NULL, 10);
}

gboolean
bench_read_proc_memory (int pid, char **out_status, char **out_rollup, GError **error)
{
  g_autofree char *status_path = g_strdup_printf ("/proc/%d/status", pid);
  g_autofree char *rollup_path = g_strdup_printf ("/proc/%d/smaps_rollup", pid);

  g_return_val_if_fail (out_status != NULL && out_rollup != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  return g_file_get_contents (status_path, out_status, NULL, error)
         && g_file_get_contents (rollup_path, out_rollup, NULL, error);
}

char *
bench_cmdline_naming (const char *pid, const char *text)
{
  g_autofree char *path = NULL;
  g_autofree char *cmdline = NULL;
  gsize length = 0;

  g_return_val_if_fail (pid != NULL && text != NULL, NULL);

  path = g_build_filename ("/proc", pid, "cmdline", NULL);
  if (!g_file_get_contents (path, &cmdline, &length, NULL))
    return NULL;
  for (gsize i = 0; i + 1 < length; i++)
    if (cmdline[i] == '\0')
      cmdline[i] = ' ';
  if (strstr (cmdline, text) == NULL)
    return NULL;
  return g_steal_pointer (&cmdline);
}

GPtrArray *
bench_mounts_below (const char *dir, GError **error)
{
  g_autofree char *contents = NULL;
  g_autofree char *prefix = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GPtrArray) points = g_ptr_array_new_with_free_func (g_free);

  g_return_val_if_fail (dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!g_file_get_contents ("/proc/self/mountinfo", &contents, NULL, error))
    return NULL;
  prefix = g_strconcat (dir, "/", NULL);
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = g_strv_length (lines); i > 0; i--)
    {
      g_auto (GStrv) fields = g_strsplit (lines[i - 1], " ", 6);

      if (g_strv_length (fields) >= 5 && g_str_has_prefix (fields[4], prefix))
        g_ptr_array_add (points, g_strdup (fields[4]));
    }
  return g_steal_pointer (&points);
}

gboolean
bench_unmount_below (const char *program, const char *dir, const char *expected,
                     gboolean allow_gone, guint *out_leaked, GError **error)
{
  g_autoptr (GPtrArray) points = NULL;

  g_return_val_if_fail (program != NULL && dir != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  points = bench_mounts_below (dir, error);
  if (points == NULL)
    return FALSE;
  for (guint i = 0; i < points->len; i++)
    {
      const char *point = points->pdata[i];

      if (expected == NULL || !g_str_equal (point, expected))
        {
          g_printerr ("%s: unmounting leftover %s\n", program, point);
          if (out_leaked != NULL)
            (*out_leaked)++;
        }
      if (umount2 (point, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL
          && !(allow_gone && errno == ENOENT))
        return grove_throw_errno_code (error, errno, "unmounting %s", point);
    }
  return TRUE;
}

/* removes cgroup @dir and those below it (a cgroup dir goes with rmdir only) */
static guint
rmdir_cgroup_tree (const char *program, const char *dir)
{
  g_autoptr (GDir) children = g_dir_open (dir, 0, NULL);
  const char *name = NULL;
  guint left = 0;

  if (children == NULL)
    return 0;
  while ((name = g_dir_read_name (children)) != NULL)
    {
      g_autofree char *child = g_build_filename (dir, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        left += rmdir_cgroup_tree (program, child);
    }
  if (rmdir (dir) < 0)
    {
      g_printerr ("%s: cgroup %s is left: %s\n", program, dir, g_strerror (errno));
      left++;
    }
  return left;
}

guint
bench_remove_cgroups (const char *program, const char *cgroup)
{
  g_autoptr (GDir) hierarchies = g_dir_open ("/sys/fs/cgroup", 0, NULL);
  const char *name = NULL;
  guint left = 0;

  g_return_val_if_fail (program != NULL && cgroup != NULL, 0);

  while (hierarchies != NULL && (name = g_dir_read_name (hierarchies)) != NULL)
    {
      g_autofree char *dir = g_build_filename ("/sys/fs/cgroup", name, cgroup, NULL);

      left += rmdir_cgroup_tree (program, dir);
    }
  return left;
}

int
bench_exit_status (const char *program, const GError *error, const GError *cleanup_error,
                   gint64 start, const GString *summary)
{
  g_return_val_if_fail (program != NULL && summary != NULL, 1);

  if (cleanup_error != NULL)
    g_printerr ("%s: %s\n", program, cleanup_error->message);
  if (error != NULL)
    {
      g_printerr ("%s: %s\n", program, error->message);
      return 1;
    }
  g_print ("\n== summary (%.0f s) ==\n%s", bench_seconds_since (start), summary->str);
  return cleanup_error == NULL ? 0 : 1;
}
