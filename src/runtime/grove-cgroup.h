/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * GroveCgroupStats:
 * @cpu_usage_ns: CPU time used since the cgroup was made, in nanoseconds
 * @memory_usage_bytes: memory charged to the cgroup, page cache included
 * @memory_working_set_bytes: the usage less inactive file pages: what kubelet evicts by
 * @memory_rss_bytes: anonymous memory
 * @memory_page_faults: page faults
 * @memory_major_page_faults: major page faults
 * @pids: processes and threads in the cgroup
 * @processes: processes in the cgroup (threads not counted)
 *
 * What a cgroup has used, as the CRI's stats report it.
 */
typedef struct
{
  guint64 cpu_usage_ns;
  guint64 memory_usage_bytes;
  guint64 memory_working_set_bytes;
  guint64 memory_rss_bytes;
  guint64 memory_page_faults;
  guint64 memory_major_page_faults;
  guint64 pids;
  guint64 processes;
} GroveCgroupStats;

gboolean grove_cgroup_read_stats (const char *cgroups_path, GroveCgroupStats *stats,
                                  GError **error);

gboolean grove_cgroup_has_processes (const char *cgroups_path);

G_END_DECLS
