/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "grove-dbus-generated.h"

G_BEGIN_DECLS

/**
 * GrovectlJobShowFunc:
 * @job: the job
 * @finished: %TRUE for the last call, once the job has ended
 * @user_data: closure
 *
 * Shows a job's progress on stderr, which is a terminal.
 */
typedef void (*GrovectlJobShowFunc) (GroveDBusJob1 *job, gboolean finished, gpointer user_data);

gboolean grovectl_job_wait (GroveDBusJob1 *job, GrovectlJobShowFunc show, gpointer user_data,
                            gboolean *out_interrupted, GError **error);
void grovectl_job_show_bar (GroveDBusJob1 *job, gboolean finished, gpointer user_data);
void grovectl_job_show_layers (GroveDBusJob1 *job, gboolean finished, gpointer user_data);

G_END_DECLS
