/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * GroveExecOptions:
 * @argv: (array zero-terminated=1): the command
 * @env: (array zero-terminated=1) (nullable): `KEY=VALUE` entries added to (or replacing
 *   entries of) the container's environment
 * @workdir: (nullable): the working directory inside the container; %NULL for the
 *   container's own
 * @tty: run the process on a new pseudo-terminal (stdout and stderr are then one stream)
 * @rows: the terminal's initial height (0: leave the default)
 * @cols: the terminal's initial width (0: leave the default)
 * @stdin_fd: what the process reads, or -1 for nothing (it sees end of file at once)
 * @stdout_fd: where its output goes, or -1 to discard it
 * @stderr_fd: where its error output goes, or -1 to discard it; unused with @tty
 *
 * How to run one process in a running container. The fds are borrowed: the session
 * duplicates them and closes its copies when the process has ended and its output has been
 * delivered.
 */
typedef struct
{
  const char *const *argv;
  const char *const *env;
  const char *workdir;
  gboolean tty;
  guint rows;
  guint cols;
  int stdin_fd;
  int stdout_fd;
  int stderr_fd;
} GroveExecOptions;

/**
 * GroveExecState:
 * @GROVE_EXEC_STATE_STARTING: conmon is setting the process up
 * @GROVE_EXEC_STATE_RUNNING: the process runs
 * @GROVE_EXEC_STATE_EXITED: the process has ended and all its output was delivered
 */
typedef enum
{
  GROVE_EXEC_STATE_STARTING,
  GROVE_EXEC_STATE_RUNNING,
  GROVE_EXEC_STATE_EXITED,
} GroveExecState;

#define GROVE_TYPE_EXEC_SESSION (grove_exec_session_get_type ())
G_DECLARE_FINAL_TYPE (GroveExecSession, grove_exec_session, GROVE, EXEC_SESSION, GObject)

const char *grove_exec_session_get_id (GroveExecSession *self);
const char *grove_exec_session_get_container_id (GroveExecSession *self);
GroveExecState grove_exec_session_get_state (GroveExecSession *self);
gboolean grove_exec_session_get_tty (GroveExecSession *self);
int grove_exec_session_get_pid (GroveExecSession *self);
int grove_exec_session_get_exit_code (GroveExecSession *self);
gboolean grove_exec_session_resize (GroveExecSession *self, guint rows, guint cols, GError **error);
gboolean grove_exec_session_kill (GroveExecSession *self, int signal, GError **error);
void grove_exec_session_detach (GroveExecSession *self);

G_END_DECLS
