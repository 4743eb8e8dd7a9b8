/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * bench_seconds_since:
 * @start: a g_get_monotonic_time() reading
 *
 * Returns: the seconds since @start
 */
double bench_seconds_since (gint64 start);

/**
 * bench_doubles_new:
 *
 * Returns: (transfer full): an empty array of doubles, for samples
 */
GArray *bench_doubles_new (void);

/**
 * bench_percentile:
 * @samples: doubles
 * @p: the fraction, 0 to 1
 *
 * The nearest-rank percentile of a sorted copy of @samples, which keep their order.
 *
 * Returns: the percentile, 0 when @samples is empty
 */
double bench_percentile (GArray *samples, double p);

/**
 * bench_mib:
 * @kb: a size in KiB
 *
 * Returns: @kb in MiB
 */
double bench_mib (guint64 kb);

/**
 * bench_verdict:
 * @met: whether a target was met
 *
 * Returns: (transfer none): "met" or "MISSED"
 */
const char *bench_verdict (gboolean met);

/**
 * bench_print_load:
 * @when: what the moment is, for the line
 *
 * Prints the load average: other work on the machine skews every figure. Prints nothing
 * when /proc/loadavg cannot be read.
 */
void bench_print_load (const char *when);

/**
 * bench_make_absolute:
 * @path: (inout): a path, replaced by its absolute form
 *
 * Makes @path absolute, for programs that get it from another directory.
 */
void bench_make_absolute (char **path);

/**
 * bench_make_workdir:
 * @parent: the directory to work in
 * @template_name: the new directory's name, ending in XXXXXX
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the path of a new directory below @parent, or %NULL
 */
char *bench_make_workdir (const char *parent, const char *template_name, GError **error);

/**
 * bench_check_programs:
 * @needed: a %NULL-terminated list of program names
 * @error: return location for a #GError
 *
 * Returns: %TRUE if each of @needed is in PATH
 */
gboolean bench_check_programs (const char *const *needed, GError **error);

/**
 * bench_communicate:
 * @argv: the %NULL-terminated command
 * @flags: how to connect its stdout and stderr (pipes, or stderr merged into stdout)
 * @label: names the command in the error if it cannot be run
 * @out_stdout: (out) (optional): its standard output
 * @out_stderr: (out) (optional): its standard error, when @flags pipes it
 * @error: return location for a #GError
 *
 * Runs @argv to its end, collecting its output; whether it succeeded is for the caller to
 * check, with the message it wants.
 *
 * Returns: (transfer full) (nullable): the finished process, or %NULL if it could not be run
 */
GSubprocess *bench_communicate (const char *const *argv, GSubprocessFlags flags, const char *label,
                                char **out_stdout, char **out_stderr, GError **error);

/**
 * bench_proc_kb:
 * @text: the text of a /proc file such as status or smaps_rollup
 * @key: the key, without the colon
 *
 * Returns: the number in the "Key:   N kB" line of @text, 0 if the key is missing
 */
guint64 bench_proc_kb (const char *text, const char *key);

/**
 * bench_read_proc_memory:
 * @pid: a process
 * @out_status: (out) (transfer full): the text of its /proc status
 * @out_rollup: (out) (transfer full): the text of its /proc smaps_rollup
 * @error: return location for a #GError
 *
 * Returns: %TRUE if both were read
 */
gboolean bench_read_proc_memory (int pid, char **out_status, char **out_rollup, GError **error);

/**
 * bench_cmdline_naming:
 * @pid: a process, as its /proc entry is named
 * @text: what its command line must contain, such as the work dir
 *
 * Returns: (transfer full) (nullable): the command line of @pid, its arguments joined by
 *   spaces, if it contains @text; %NULL if not or if it cannot be read
 */
char *bench_cmdline_naming (const char *pid, const char *text);

/**
 * bench_mounts_below:
 * @dir: a directory
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable) (element-type utf8): the mount points below @dir,
 *   newest first (one may sit on another), or %NULL if the mount table cannot be read
 */
GPtrArray *bench_mounts_below (const char *dir, GError **error);

/**
 * bench_unmount_below:
 * @program: the message prefix
 * @dir: a directory
 * @expected: (nullable): a mount point that is unmounted too but is no leak, so is neither
 *   reported nor counted
 * @allow_gone: whether a mount point that is already gone (ENOENT) is no error
 * @out_leaked: (inout) (optional): counts the leftover mount points
 * @error: return location for a #GError
 *
 * Detaches every mount point below @dir, newest first, and reports each leftover one on
 * stderr. A point that is no longer mounted (EINVAL) is no error.
 *
 * Returns: %TRUE if every one was detached
 */
gboolean bench_unmount_below (const char *program, const char *dir, const char *expected,
                              gboolean allow_gone, guint *out_leaked, GError **error);

/**
 * bench_remove_cgroups:
 * @program: the message prefix
 * @cgroup: a cgroup path such as /grove-bench-PID
 *
 * Removes @cgroup and the cgroups below it in every hierarchy, v1 controllers and the
 * unified one alike, and reports on stderr each that stays.
 *
 * Returns: how many cgroups are left
 */
guint bench_remove_cgroups (const char *program, const char *cgroup);

/**
 * bench_exit_status:
 * @program: the message prefix
 * @error: (nullable): why the run failed, %NULL if it did not
 * @cleanup_error: (nullable): why the cleanup failed, %NULL if it did not
 * @start: when the run started
 * @summary: the summary lines
 *
 * Reports how a run ended, after its cleanup: the errors on stderr, or the summary.
 *
 * Returns: the exit status: 1 if either failed, else 0
 */
int bench_exit_status (const char *program, const GError *error, const GError *cleanup_error,
                       gint64 start, const GString *summary);

G_END_DECLS
