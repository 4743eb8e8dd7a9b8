/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "grove-engine.h"

G_BEGIN_DECLS

gboolean grove_test_is_root (void);
GStrv grove_test_mount_points (void);
char *grove_test_make_tmpdir (void);
void grove_test_rm_rf (const char *path);
void grove_test_make_searchable (const char *path);
void grove_test_mkimage (const char *first_arg, ...) G_GNUC_NULL_TERMINATED;
int grove_test_run (char **out_stdout, const char *first_arg, ...) G_GNUC_NULL_TERMINATED;
guint64 grove_test_du (const char *path);
guint grove_test_count_files (const char *path);
void grove_test_read_until (int fd, GString *seen, const char *expected);
void grove_test_result_cb (GObject *source, GAsyncResult *result, gpointer user_data);
GAsyncResult *grove_test_wait_result (GAsyncResult **slot);
void grove_test_rmdir_cgroups (const char *parent);
void grove_test_remove_engine_dirs (const char *tmpdir, const char *cgroup_parent);
GroveStore *grove_test_open_store_with_busybox (const char *tmpdir);
/* a runtime handler to add: its name and command */
typedef struct
{
  const char *name;
  const char *const *argv;
} GroveTestHandler;

GroveEngine *grove_test_new_engine_full (GroveStore *store, const char *tmpdir,
                                         GroveEngineOptions *options,
                                         const GroveTestHandler *handlers);
GroveEngine *grove_test_new_engine (GroveStore *store, const char *tmpdir,
                                    const char *cgroup_parent);
GroveContainer *grove_test_start_container (GroveEngine *engine, const char *pod_id,
                                            JsonObject *config);
GrovePod *grove_test_run_pod (GroveEngine *engine, JsonObject *config, const char *handler);
void grove_test_stop_pod (GroveEngine *engine, const char *id);
void grove_test_remove_pod (GroveEngine *engine, const char *id);
void grove_test_remove_all_pods (GroveEngine *engine);
GroveExecResult *grove_test_exec_sync (GroveEngine *engine, GroveContainer *container,
                                       const char *script, guint timeout, GError **error);
char *grove_test_exec_output (GroveEngine *engine, GroveContainer *container, const char *script);

G_END_DECLS
