/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveCgroup"

/*
 * Reads a container's usage from its cgroup, on the unified hierarchy (cgroup v2) or on
 * the v1 controllers of a hybrid layout (this machine's: cpuacct and memory are v1 while
 * /sys/fs/cgroup/unified holds no controllers). The working set follows kubelet's own
 * definition: usage less inactive file pages, never below zero.
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "grove-cgroup.h"
#include "grove-utils.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP_FILE_MAX ((gsize)64 * 1024)

/* cgroup files report a size of 0 or 4096 whatever they hold: read them to their end */
static gboolean
read_text (const char *dir, const char *name, char **out_text, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  grove_autofd int fd = open (path, O_RDONLY | O_CLOEXEC);
  g_autoptr (GString) text = g_string_new (NULL);
  char buffer[4096];
  ssize_t n = 0;

  if (fd < 0)
    return grove_throw_errno_code (error, errno, "opening %s", path);
  while ((n = read (fd, buffer, sizeof buffer)) != 0)
    {
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return grove_throw_errno_code (error, errno, "reading %s", path);
      if (text->len + n > CGROUP_FILE_MAX)
        return grove_throw (error, GROVE_ERROR_FAILED,
                            "%s is larger than %" G_GSIZE_FORMAT " bytes", path, CGROUP_FILE_MAX);
      g_string_append_len (text, buffer, n);
    }
  *out_text = g_string_free (g_steal_pointer (&text), FALSE);
  return TRUE;
}

static gboolean
read_number (const char *dir, const char *name, guint64 *out_value, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr (GError) local_error = NULL;

  if (!read_text (dir, name, &text, error))
    return FALSE;
  g_strstrip (text);
  /* cgroup v2 writes "max" for no limit; usage files always hold a number */
  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, out_value, &local_error))
    return grove_throw (error, GROVE_ERROR_FAILED, "%s/%s: unexpected content '%s'", dir, name,
                        text);
  return TRUE;
}

/* the lines of @name in @dir (cgroup.procs: one process a line); 0 when it cannot be read */
static guint64
count_lines (const char *dir, const char *name)
{
  g_autofree char *text = NULL;
  guint64 lines = 0;

  if (!read_text (dir, name, &text, NULL))
    return 0;
  for (const char *c = text; *c != '\0'; c++)
    lines += *c == '\n';
  return lines;
}

/* the value of @key in a "key value" per line file (memory.stat, cpu.stat); 0 when absent */
static guint64
stat_value (const char *text, const char *key)
{
  gsize key_len = strlen (key);

  for (const char *line = text; line != NULL && *line != '\0';)
    {
      const char *next = strchr (line, '\n');

      if (strncmp (line, key, key_len) == 0 && line[key_len] == ' ')
        return g_ascii_strtoull (line + key_len + 1, NULL, 10);
      line = next != NULL ? next + 1 : NULL;
    }
  return 0;
}

static gboolean
read_v2 (const char *dir, GroveCgroupStats *stats, GError **error)
{
  g_autofree char *cpu = NULL;
  g_autofree char *memory = NULL;
  guint64 inactive_file = 0;

  if (!read_text (dir, "cpu.stat", &cpu, error)
      || !read_number (dir, "memory.current", &stats->memory_usage_bytes, error)
      || !read_text (dir, "memory.stat", &memory, error))
    return FALSE;
  stats->cpu_usage_ns = stat_value (cpu, "usage_usec") * 1000;
  inactive_file = stat_value (memory, "inactive_file");
  stats->memory_rss_bytes = stat_value (memory, "anon");
  stats->memory_page_faults = stat_value (memory, "pgfault");
  stats->memory_major_page_faults = stat_value (memory, "pgmajfault");
  stats->memory_working_set_bytes
      = stats->memory_usage_bytes > inactive_file ? stats->memory_usage_bytes - inactive_file : 0;
  if (!read_number (dir, "pids.current", &stats->pids, NULL))
    stats->pids = 0;
  stats->processes = count_lines (dir, "cgroup.procs");
  return TRUE;
}

static gboolean
read_v1 (const char *cgroups_path, GroveCgroupStats *stats, GError **error)
{
  g_autofree char *cpuacct = g_build_filename (CGROUP_ROOT, "cpuacct", cgroups_path, NULL);
  g_autofree char *memory_dir = g_build_filename (CGROUP_ROOT, "memory", cgroups_path, NULL);
  g_autofree char *pids_dir = g_build_filename (CGROUP_ROOT, "pids", cgroups_path, NULL);
  g_autofree char *memory = NULL;
  guint64 inactive_file = 0;

  if (!read_number (cpuacct, "cpuacct.usage", &stats->cpu_usage_ns, error)
      || !read_number (memory_dir, "memory.usage_in_bytes", &stats->memory_usage_bytes, error)
      || !read_text (memory_dir, "memory.stat", &memory, error))
    return FALSE;
  inactive_file = stat_value (memory, "total_inactive_file");
  stats->memory_rss_bytes = stat_value (memory, "total_rss");
  stats->memory_page_faults = stat_value (memory, "total_pgfault");
  stats->memory_major_page_faults = stat_value (memory, "total_pgmajfault");
  stats->memory_working_set_bytes
      = stats->memory_usage_bytes > inactive_file ? stats->memory_usage_bytes - inactive_file : 0;
  if (!read_number (pids_dir, "pids.current", &stats->pids, NULL))
    stats->pids = 0;
  stats->processes = count_lines (memory_dir, "cgroup.procs");
  return TRUE;
}

/**
 * grove_cgroup_read_stats:
 * @cgroups_path: the cgroup, as the OCI spec's absolute `cgroupsPath`
 * @stats: (out caller-allocates): what it has used
 * @error: return location; %G_IO_ERROR_NOT_FOUND when the cgroup is gone
 *
 * Reads the cgroup's CPU and memory usage.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_cgroup_read_stats (const char *cgroups_path, GroveCgroupStats *stats, GError **error)
{
  g_autofree char *unified = NULL;

  g_return_val_if_fail (cgroups_path != NULL && g_path_is_absolute (cgroups_path), FALSE);
  memset (stats, 0, sizeof *stats);
  if (g_file_test (CGROUP_ROOT "/cgroup.controllers", G_FILE_TEST_EXISTS))
    {
      unified = g_build_filename (CGROUP_ROOT, cgroups_path, NULL);
      if (!read_v2 (unified, stats, error))
        return g_prefix_error (error, "reading the stats of cgroup %s: ", cgroups_path), FALSE;
      return TRUE;
    }
  if (!read_v1 (cgroups_path, stats, error))
    return g_prefix_error (error, "reading the stats of cgroup %s: ", cgroups_path), FALSE;
  return TRUE;
}

/**
 * grove_cgroup_has_processes:
 * @cgroups_path: the cgroup, as the OCI spec's absolute `cgroupsPath`
 *
 * Returns: whether any process is still in the cgroup (a missing cgroup has none)
 */
gboolean
grove_cgroup_has_processes (const char *cgroups_path)
{
  const char *const candidates[] = { "", "pids", "memory", "cpuacct" };

  g_return_val_if_fail (cgroups_path != NULL, FALSE);
  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
    {
      g_autofree char *dir = g_build_filename (CGROUP_ROOT, candidates[i], cgroups_path, NULL);
      g_autofree char *procs = NULL;

      if (!read_text (dir, "cgroup.procs", &procs, NULL))
        continue;
      return g_strstrip (procs)[0] != '\0';
    }
  return FALSE;
}
