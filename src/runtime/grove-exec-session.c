/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveExecSession"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "grove-engine-private.h"
#include "grove-exec-session-private.h"
#include "grove-oci-runtime-private.h"
#include "grove-utils.h"

/*
 * One process run in a container through `conmon --exec --exec-attach` (conmon 2.1.6):
 * conmon makes an attach socket (SOCK_SEQPACKET) and says so on the attach pipe; once we
 * are connected we let it start the runtime's `exec` through the start pipe, so no output
 * is lost. Conmon then sends each chunk of output as one packet whose first byte names the
 * stream, and passes what we send it to the process's stdin; shutting down our writing side
 * closes that stdin. The sync pipe carries the PID, then the exit code. Resizes go to the
 * `ctl` FIFO conmon makes in the (scratch) bundle dir.
 *
 * A thread per session copies between the attach socket and the client's fds with plain
 * blocking I/O: the client's fds are shared with the client (a terminal, say), so their
 * flags must not be changed to non-blocking under it.
 */

/* conmon's names for the streams in the attach protocol */
#define ATTACH_STDOUT 2
#define ATTACH_STDERR 3
/* conmon reads at most 32 KiB per packet; stay well below */
#define STDIN_CHUNK 8192
#define OUTPUT_PACKET_MAX (65536 + 1)
/* conmon's control message type for a terminal resize: "1 <rows> <cols>" */
#define CTL_RESIZE 1

struct _GroveExecSession
{
  GObject parent_instance;

  char *id;
  char *container_id;
  gboolean tty;
  GroveExecState state;
  int pid;
  int exit_code;
  char *scratch_dir;
  char *bundle_dir;  /* where conmon's attach socket and ctl fifo are */
  gboolean attached; /* attached to a container's own stdio: detaching leaves it running */
  GSubprocess *conmon;
  GBytes *conmon_stderr;
  GDataInputStream *sync_stream;
  GDataInputStream *attach_stream;
  int start_fd;
  GTask *start_task; /* the caller waiting for the process to run */
  /* the copy thread's share: set before it starts, the fds closed after it is joined */
  int attach_socket;
  int wake_fd;
  int stdin_fd;
  int stdout_fd;
  int stderr_fd;
  GThread *io_thread;
  gboolean io_done;
  gboolean exit_known;
  gboolean attach_eof;
  gboolean conmon_done;
};

enum
{
  SIGNAL_EXITED,
  N_SESSION_SIGNALS
};

static guint signals[N_SESSION_SIGNALS];

G_DEFINE_TYPE (GroveExecSession, grove_exec_session, G_TYPE_OBJECT)

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
  *fd = -1;
}

/* ends the copy thread and closes everything the session holds open */
static void
session_close_io (GroveExecSession *self)
{
  if (self->io_thread != NULL)
    {
      guint64 one = 1;

      if (write (self->wake_fd, &one, sizeof one) < 0)
        g_debug ("waking the copy thread of exec %s: %s", self->id, g_strerror (errno));
      g_thread_join (g_steal_pointer (&self->io_thread));
    }
  close_fd (&self->attach_socket);
  close_fd (&self->wake_fd);
  close_fd (&self->stdin_fd);
  close_fd (&self->stdout_fd);
  close_fd (&self->stderr_fd);
  close_fd (&self->start_fd);
}

static void
session_remove_scratch (GroveExecSession *self)
{
  g_autoptr (GError) local_error = NULL;

  if (self->scratch_dir == NULL)
    return;
  if (!grove_rm_rf_at (AT_FDCWD, self->scratch_dir, NULL, &local_error))
    g_warning ("removing exec scratch dir %s: %s", self->scratch_dir, local_error->message);
  g_clear_pointer (&self->scratch_dir, g_free);
}

static void
grove_exec_session_finalize (GObject *object)
{
  GroveExecSession *self = GROVE_EXEC_SESSION (object);

  session_close_io (self);
  session_remove_scratch (self);
  g_clear_pointer (&self->id, g_free);
  g_clear_pointer (&self->container_id, g_free);
  g_clear_pointer (&self->bundle_dir, g_free);
  g_clear_object (&self->conmon);
  g_clear_pointer (&self->conmon_stderr, g_bytes_unref);
  g_clear_object (&self->sync_stream);
  g_clear_object (&self->attach_stream);
  G_OBJECT_CLASS (grove_exec_session_parent_class)->finalize (object);
}

static void
grove_exec_session_class_init (GroveExecSessionClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = grove_exec_session_finalize;

  /**
   * GroveExecSession::exited:
   * @self: the session
   * @exit_code: the process's exit code (128 + signal when killed), or -1 when conmon
   *   could not tell
   *
   * The process has ended and all its output has been written to the session's fds.
   */
  signals[SIGNAL_EXITED] = g_signal_new ("exited", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                         NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);
}

static void
grove_exec_session_init (GroveExecSession *self)
{
  self->exit_code = -1;
  self->start_fd = -1;
  self->attach_socket = -1;
  self->wake_fd = -1;
  self->stdin_fd = -1;
  self->stdout_fd = -1;
  self->stderr_fd = -1;
}

/* ---- the copy thread ---- */

static gboolean
write_all (int fd, const guint8 *data, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      data += n;
      len -= n;
    }
  return TRUE;
}

/* one packet from conmon: the stream's number, then the bytes */
static void
io_deliver (GroveExecSession *self, const guint8 *packet, gsize len)
{
  int *target = packet[0] == ATTACH_STDERR && !self->tty ? &self->stderr_fd : &self->stdout_fd;

  if (packet[0] != ATTACH_STDOUT && packet[0] != ATTACH_STDERR)
    return;
  /* a reader that went away loses the rest of its stream; the process goes on */
  if (*target >= 0 && !write_all (*target, packet + 1, len - 1))
    g_debug ("exec %s: the client's %s is gone: %s", self->id,
             target == &self->stderr_fd ? "stderr" : "stdout", g_strerror (errno));
}

/* copies the client's stdin to conmon; FALSE once stdin has ended */
static gboolean
io_forward_stdin (GroveExecSession *self, guint8 *buffer)
{
  ssize_t n = read (self->stdin_fd, buffer, STDIN_CHUNK);

  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return TRUE;
  if (n > 0 && send (self->attach_socket, buffer, n, MSG_NOSIGNAL) == n)
    return TRUE;
  /* end of input, or conmon stopped taking it: the process sees end of file */
  shutdown (self->attach_socket, SHUT_WR);
  return FALSE;
}

static gboolean io_thread_done_cb (gpointer user_data);

static gpointer
io_thread_run (gpointer user_data)
{
  GroveExecSession *self = user_data;
  g_autofree guint8 *buffer = g_malloc (OUTPUT_PACKET_MAX);
  gboolean stdin_open = self->stdin_fd >= 0;
  sigset_t pipe_signal;

  /* a reader that is gone gives EPIPE here instead of killing groved */
  sigemptyset (&pipe_signal);
  sigaddset (&pipe_signal, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_signal, NULL);
  for (;;)
    {
      struct pollfd fds[3] = {
        { .fd = self->attach_socket, .events = POLLIN },
        { .fd = self->wake_fd, .events = POLLIN },
        { .fd = stdin_open ? self->stdin_fd : -1, .events = POLLIN },
      };
      ssize_t n = 0;

      if (poll (fds, G_N_ELEMENTS (fds), -1) < 0)
        {
          if (errno == EINTR)
            continue;
          g_warning ("exec %s: poll: %s", self->id, g_strerror (errno));
          break;
        }
      /* woken: the session is ending the copy itself and needs no word back */
      if (fds[1].revents != 0)
        return NULL;
      if (fds[0].revents != 0)
        {
          n = recv (self->attach_socket, buffer, OUTPUT_PACKET_MAX, 0);
          if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
          /* conmon closes the socket when it exits, after the last output */
          if (n <= 0)
            break;
          io_deliver (self, buffer, n);
        }
      if (stdin_open && fds[2].revents != 0)
        stdin_open = io_forward_stdin (self, buffer);
    }
  g_idle_add_full (G_PRIORITY_DEFAULT, io_thread_done_cb, g_object_ref (self), g_object_unref);
  return NULL;
}

/* ---- ending ---- */

static void
session_maybe_finish (GroveExecSession *self)
{
  if (!self->io_done || !self->exit_known || self->state == GROVE_EXEC_STATE_EXITED)
    return;
  self->state = GROVE_EXEC_STATE_EXITED;
  session_close_io (self);
  session_remove_scratch (self);
  g_debug ("exec %s in %s exited with %d", self->id, self->container_id, self->exit_code);
  g_signal_emit (self, signals[SIGNAL_EXITED], 0, self->exit_code);
}

static gboolean
io_thread_done_cb (gpointer user_data)
{
  GroveExecSession *self = user_data;

  self->io_done = TRUE;
  session_maybe_finish (self);
  /* an attach session kept itself alive for its copy thread (exec sessions: their sync pipe) */
  if (self->attached)
    g_object_unref (self);
  return G_SOURCE_REMOVE;
}

/* a start that failed: nothing of the session may stay */
static void
session_fail_start (GroveExecSession *self, GError *error)
{
  g_autoptr (GTask) task = g_steal_pointer (&self->start_task);
  g_autoptr (GError) owned = error;

  if (self->pid > 0)
    kill (self->pid, SIGKILL);
  self->state = GROVE_EXEC_STATE_EXITED;
  session_close_io (self);
  session_remove_scratch (self);
  if (task != NULL)
    g_task_return_error (task, g_steal_pointer (&owned));
}

/* ---- starting ---- */

static GPtrArray *
session_conmon_argv (GroveExecSession *self, GroveOciRuntime *runtime)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  const char *const fixed[] = {
    grove_oci_runtime_get_conmon_path (runtime),
    "--api-version",
    "1",
    "--exec",
    "--exec-attach",
    "-c",
    self->container_id,
    /* conmon links <socket-dir>/<cuuid> to the bundle and binds "attach" there */
    "-u",
    "s",
    "-r",
    grove_oci_runtime_get_conmon_runtime (runtime),
    "--socket-dir-path",
    self->scratch_dir,
    /* the output goes to the client, not to the container's log */
    "-l",
    "none:",
    "--log-level",
    "info",
    NULL,
  };

  for (guint i = 0; fixed[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (fixed[i]));
  /* the fifos and attach socket conmon makes in -b must not replace the container's own */
  g_ptr_array_add (argv, g_strdup ("-b"));
  g_ptr_array_add (argv, g_build_filename (self->scratch_dir, "bundle", NULL));
  g_ptr_array_add (argv, g_strdup ("-p"));
  g_ptr_array_add (argv, g_build_filename (self->scratch_dir, "pidfile", NULL));
  g_ptr_array_add (argv, g_strdup ("--exec-process-spec"));
  g_ptr_array_add (argv, g_build_filename (self->scratch_dir, "process.json", NULL));
  g_ptr_array_add (argv, g_strdup ("--exit-dir"));
  g_ptr_array_add (argv, g_build_filename (self->scratch_dir, "exit", NULL));
  g_ptr_array_add (argv, g_strdup ("--runtime-arg"));
  g_ptr_array_add (argv, g_strconcat ("--root=", grove_oci_runtime_get_state_root (runtime), NULL));
  if (self->stdin_fd >= 0)
    g_ptr_array_add (argv, g_strdup ("--stdin"));
  if (self->tty)
    g_ptr_array_add (argv, g_strdup ("--terminal"));
  g_ptr_array_add (argv, NULL);
  return argv;
}

static gboolean
session_prepare_scratch (GroveExecSession *self, const char *bundle, const char *run_dir,
                         const GroveExecOptions *options, GError **error)
{
  self->scratch_dir = grove_oci_exec_scratch_new (run_dir, bundle, options, error);
  if (self->scratch_dir == NULL)
    return FALSE;
  self->bundle_dir = g_build_filename (self->scratch_dir, "bundle", NULL);
  return TRUE;
}

static gboolean
dup_client_fd (int fd, int *out_fd, const char *what, GError **error)
{
  if (fd < 0)
    return TRUE;
  *out_fd = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  if (*out_fd < 0)
    return grove_throw_errno_code (error, errno, "taking the exec's %s (fd %d)", what, fd);
  return TRUE;
}

static void on_attach_line (GObject *source, GAsyncResult *result, gpointer user_data);
static void on_sync_line (GObject *source, GAsyncResult *result, gpointer user_data);
static void on_conmon_exited (GObject *source, GAsyncResult *result, gpointer user_data);

static GDataInputStream *
data_stream_new (int fd)
{
  g_autoptr (GInputStream) input = g_unix_input_stream_new (fd, TRUE);

  return g_data_input_stream_new (input);
}

static gboolean
session_spawn_conmon (GroveExecSession *self, GroveOciRuntime *runtime, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
      G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr (GPtrArray) argv = session_conmon_argv (self, runtime);
  grove_autofd int sync_fd = -1;
  grove_autofd int attach_fd = -1;

  sync_fd = grove_conmon_pipe_to_launcher (launcher, TRUE, GROVE_CONMON_SYNC_PIPE_FD,
                                           "_OCI_SYNCPIPE", error);
  if (sync_fd < 0)
    return FALSE;
  self->start_fd = grove_conmon_pipe_to_launcher (launcher, FALSE, GROVE_CONMON_START_PIPE_FD,
                                                  "_OCI_STARTPIPE", error);
  if (self->start_fd < 0)
    return FALSE;
  attach_fd = grove_conmon_pipe_to_launcher (launcher, TRUE, GROVE_CONMON_ATTACH_PIPE_FD,
                                             "_OCI_ATTACHPIPE", error);
  if (attach_fd < 0)
    return FALSE;
  g_subprocess_launcher_set_cwd (launcher, self->scratch_dir);
  self->conmon = g_subprocess_launcher_spawnv (launcher, (const char *const *)argv->pdata, error);
  /* the launcher holds conmon's ends: free it now, or the pipes never report EOF */
  g_clear_object (&launcher);
  if (self->conmon == NULL)
    return g_prefix_error (error, "starting conmon to exec in %s: ", self->container_id), FALSE;
  self->sync_stream = data_stream_new (grove_steal_fd (&sync_fd));
  self->attach_stream = data_stream_new (grove_steal_fd (&attach_fd));
  g_subprocess_communicate_async (self->conmon, NULL, NULL, on_conmon_exited, g_object_ref (self));
  return TRUE;
}

/* the start pipe: conmon waits for a word on it before and after it sets the exec up */
static gboolean
session_write_start (GroveExecSession *self, GError **error)
{
  ssize_t n = 0;

  do
    n = write (self->start_fd, "0", 1);
  while (n < 0 && errno == EINTR);
  if (n != 1)
    return grove_throw_errno_code (error, errno, "telling conmon to exec in %s",
                                   self->container_id);
  return TRUE;
}

/**
 * grove_exec_session_start_async:
 * @runtime: the container's runtime
 * @container_id: a running container
 * @bundle: its bundle: the process's user, environment and capabilities come from its
 *   `config.json`
 * @run_dir: where the session's scratch files go (a directory removed at the end)
 * @options: the command, its terminal and its fds
 * @cancellable: (nullable): cancels the start; a process that was starting is then killed
 * @callback: called once the process runs, or could not be started
 * @user_data: data for @callback
 *
 * Starts one process in a container, its stdio connected to the fds in @options.
 */
void
grove_exec_session_start_async (GroveOciRuntime *runtime, const char *container_id,
                                const char *bundle, const char *run_dir,
                                const GroveExecOptions *options, GCancellable *cancellable,
                                GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GroveExecSession) self = g_object_new (GROVE_TYPE_EXEC_SESSION, NULL);
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr (GError) local_error = NULL;

  g_return_if_fail (GROVE_IS_OCI_RUNTIME (runtime));
  g_return_if_fail (container_id != NULL && bundle != NULL && run_dir != NULL);
  g_task_set_source_tag (task, grove_exec_session_start_async);
  self->id = grove_new_id ();
  self->container_id = g_strdup (container_id);
  self->tty = options->tty;
  if (options->argv == NULL || options->argv[0] == NULL || options->argv[0][0] == '\0')
    return g_task_return_new_error (task, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT,
                                    "exec needs a command");
  if (g_task_return_error_if_cancelled (task))
    return;
  /* from here on a failure also undoes what was set up */
  self->start_task = g_steal_pointer (&task);
  if (!dup_client_fd (options->stdin_fd, &self->stdin_fd, "stdin", &local_error)
      || !dup_client_fd (options->stdout_fd, &self->stdout_fd, "stdout", &local_error)
      || (!options->tty
          && !dup_client_fd (options->stderr_fd, &self->stderr_fd, "stderr", &local_error))
      || !session_prepare_scratch (self, bundle, run_dir, options, &local_error)
      || !session_spawn_conmon (self, runtime, &local_error)
      || !session_write_start (self, &local_error))
    return session_fail_start (self, g_steal_pointer (&local_error));
  g_data_input_stream_read_line_async (self->attach_stream, G_PRIORITY_DEFAULT, NULL,
                                       on_attach_line, g_object_ref (self));
}

/* connects to conmon's attach socket through /proc: its path may be longer than sun_path */
static gboolean
session_connect_attach (GroveExecSession *self, GError **error)
{
  const char *bundle = self->bundle_dir;
  grove_autofd int dir_fd = open (bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct sockaddr_un address = { .sun_family = AF_UNIX };

  if (dir_fd < 0)
    return grove_throw_errno_code (error, errno, "opening %s", bundle);
  g_snprintf (address.sun_path, sizeof address.sun_path, "/proc/self/fd/%d/attach", dir_fd);
  self->attach_socket = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (self->attach_socket < 0)
    return grove_throw_errno_code (error, errno, "creating a socket");
  if (connect (self->attach_socket, (struct sockaddr *)&address, sizeof address) < 0)
    return grove_throw_errno_code (error, errno, "connecting to conmon's attach socket in %s",
                                   bundle);
  self->wake_fd = eventfd (0, EFD_CLOEXEC);
  if (self->wake_fd < 0)
    return grove_throw_errno_code (error, errno, "creating an eventfd");
  self->io_thread = g_thread_new ("grove-exec-io", io_thread_run, self);
  return TRUE;
}

static GError *
conmon_failed_error (GroveExecSession *self, const char *when)
{
  g_autofree char *why = grove_conmon_failure_text (self->conmon, self->conmon_stderr);

  return g_error_new (GROVE_ERROR, GROVE_ERROR_FAILED, "exec in %s: conmon ended %s (%s)",
                      self->container_id, when, why);
}

static void
on_attach_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveExecSession) self = user_data;
  g_autoptr (GError) local_error = NULL;
  g_autofree char *line
      = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, NULL);
  g_autofree char *message = NULL;
  gint64 value = 0;

  if (self->start_task == NULL)
    return;
  /* no word: conmon failed before it made the socket; its stderr says why once it exits */
  if (line == NULL)
    {
      self->attach_eof = TRUE;
      if (self->conmon_done)
        session_fail_start (self, conmon_failed_error (self, "before the exec was set up"));
      return;
    }
  if (!grove_conmon_parse_sync_line (line, &value, &message, &local_error)
      || !session_connect_attach (self, &local_error) || !session_write_start (self, &local_error))
    return session_fail_start (self, g_steal_pointer (&local_error));
  close_fd (&self->start_fd);
  g_data_input_stream_read_line_async (self->sync_stream, G_PRIORITY_DEFAULT, NULL, on_sync_line,
                                       g_object_ref (self));
}

/* the first word on the sync pipe: the PID, or why the runtime could not exec */
static void
session_take_pid (GroveExecSession *self, const char *line)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autofree char *message = NULL;
  gint64 value = 0;

  if (!grove_conmon_parse_sync_line (line, &value, &message, &local_error))
    return session_fail_start (self, g_steal_pointer (&local_error));
  if (value <= 0 || value > G_MAXINT)
    return session_fail_start (
        self, g_error_new (GROVE_ERROR, GROVE_ERROR_FAILED, "exec in %s: %s", self->container_id,
                           message[0] != '\0' ? message : "the runtime failed without a message"));
  self->pid = (int)value;
  /* a caller that gave up waiting gets no process left behind */
  if (g_cancellable_set_error_if_cancelled (g_task_get_cancellable (self->start_task),
                                            &local_error))
    return session_fail_start (self, g_steal_pointer (&local_error));
  self->state = GROVE_EXEC_STATE_RUNNING;
  task = g_steal_pointer (&self->start_task);
  g_task_return_pointer (task, g_object_ref (self), g_object_unref);
}

static void
on_sync_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveExecSession) self = user_data;
  g_autofree char *line
      = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), result, NULL, NULL);
  g_autofree char *message = NULL;
  gint64 value = -1;

  if (line == NULL && self->start_task != NULL)
    return session_fail_start (self, conmon_failed_error (self, "before the process started"));
  if (self->start_task != NULL)
    {
      session_take_pid (self, line);
      if (self->state == GROVE_EXEC_STATE_RUNNING)
        g_data_input_stream_read_line_async (self->sync_stream, G_PRIORITY_DEFAULT, NULL,
                                             on_sync_line, g_object_ref (self));
      return;
    }
  /* the second word is the exit code; none means conmon itself went away */
  if (line == NULL || !grove_conmon_parse_sync_line (line, &value, &message, NULL))
    g_warning ("exec %s in %s: conmon did not report the exit code", self->id, self->container_id);
  self->exit_code = (int)CLAMP (value, -1, G_MAXINT);
  self->exit_known = TRUE;
  session_maybe_finish (self);
}

static void
on_conmon_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveExecSession) self = user_data;
  g_autoptr (GError) local_error = NULL;

  if (!g_subprocess_communicate_finish (G_SUBPROCESS (source), result, NULL, &self->conmon_stderr,
                                        &local_error))
    g_debug ("waiting for the conmon of exec %s: %s", self->id, local_error->message);
  self->conmon_done = TRUE;
  /* a start that saw the attach pipe close was waiting for this stderr */
  if (self->start_task != NULL && self->attach_eof)
    session_fail_start (self, conmon_failed_error (self, "before the exec was set up"));
}

/**
 * grove_exec_session_start_finish:
 * @result: the #GAsyncResult
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the running session, or %NULL with @error set
 */
GroveExecSession *
grove_exec_session_start_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (G_IS_TASK (result), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/**
 * grove_exec_session_get_id:
 * @self: a #GroveExecSession
 *
 * Returns: the session's own ID
 */
const char *
grove_exec_session_get_id (GroveExecSession *self)
{
  g_return_val_if_fail (GROVE_IS_EXEC_SESSION (self), NULL);
  return self->id;
}

/**
 * grove_exec_session_get_container_id:
 * @self: a #GroveExecSession
 *
 * Returns: the container the process runs in
 */
const char *
grove_exec_session_get_container_id (GroveExecSession *self)
{
  g_return_val_if_fail (GROVE_IS_EXEC_SESSION (self), NULL);
  return self->container_id;
}

/**
 * grove_exec_session_get_state:
 * @self: a #GroveExecSession
 *
 * Returns: where the process is in its life
 */
GroveExecState
grove_exec_session_get_state (GroveExecSession *self)
{
  g_return_val_if_fail (GROVE_IS_EXEC_SESSION (self), GROVE_EXEC_STATE_EXITED);
  return self->state;
}

/**
 * grove_exec_session_get_tty:
 * @self: a #GroveExecSession
 *
 * Returns: whether the process runs on a terminal
 */
gboolean
grove_exec_session_get_tty (GroveExecSession *self)
{
  g_return_val_if_fail (GROVE_IS_EXEC_SESSION (self), FALSE);
  return self->tty;
}

/**
 * grove_exec_session_get_pid:
 * @self: a #GroveExecSession
 *
 * Returns: the process's PID on the host, 0 before it started
 */
int
grove_exec_session_get_pid (GroveExecSession *self)
{
  g_return_val_if_fail (GROVE_IS_EXEC_SESSION (self), 0);
  return self->pid;
}

/**
 * grove_exec_session_get_exit_code:
 * @self: a #GroveExecSession
 *
 * Returns: the exit code once the session has exited (128 + signal when killed); -1 before,
 *   or when conmon could not tell
 */
int
grove_exec_session_get_exit_code (GroveExecSession *self)
{
  g_return_val_if_fail (GROVE_IS_EXEC_SESSION (self), -1);
  return self->state == GROVE_EXEC_STATE_EXITED ? self->exit_code : -1;
}

static gboolean
session_check_running (GroveExecSession *self, GError **error)
{
  if (self->state != GROVE_EXEC_STATE_RUNNING)
    return grove_throw (error, GROVE_ERROR_WRONG_STATE, "exec %s in %s is not running", self->id,
                        self->container_id);
  return TRUE;
}

/*
 * Sets the size on the process's terminal itself, through its stdin: done when this returns,
 * so input sent next sees it. conmon's ctl fifo, the fallback, is read whenever conmon gets
 * to it, possibly after input that went through the attach socket.
 */
static gboolean
resize_directly (GroveExecSession *self, guint rows, guint cols)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/fd/0", self->pid);
  grove_autofd int fd = open (path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  struct winsize size = { .ws_row = rows, .ws_col = cols };

  return fd >= 0 && isatty (fd) && ioctl (fd, TIOCSWINSZ, &size) == 0;
}

/**
 * grove_exec_session_resize:
 * @self: a #GroveExecSession with a terminal
 * @rows: the new height
 * @cols: the new width
 * @error: return location
 *
 * Changes the size of the process's terminal (the process gets SIGWINCH).
 *
 * Returns: %TRUE on success
 */
gboolean
grove_exec_session_resize (GroveExecSession *self, guint rows, guint cols, GError **error)
{
  g_autofree char *ctl = NULL;
  g_autofree char *message = NULL;
  grove_autofd int fd = -1;
  gsize len = 0;

  g_return_val_if_fail (GROVE_IS_EXEC_SESSION (self), FALSE);
  if (!session_check_running (self, error))
    return FALSE;
  if (!self->tty)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "exec %s in %s has no terminal to resize", self->id, self->container_id);
  if (rows == 0 || cols == 0 || rows > G_MAXUINT16 || cols > G_MAXUINT16)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "invalid terminal size %ux%u: rows and columns must be 1 to 65535", rows,
                        cols);
  if (resize_directly (self, rows, cols))
    return TRUE;
  ctl = g_build_filename (self->bundle_dir, "ctl", NULL);
  /* non-blocking: conmon holds the fifo open for reading while it runs */
  fd = open (ctl, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return grove_throw_errno_code (error, errno, "opening conmon's control fifo %s", ctl);
  message = g_strdup_printf ("%d %u %u\n", CTL_RESIZE, rows, cols);
  len = strlen (message);
  if (write (fd, message, len) != (ssize_t)len)
    return grove_throw_errno_code (error, errno, "writing to conmon's control fifo %s", ctl);
  return TRUE;
}

/**
 * grove_exec_session_kill:
 * @self: a running #GroveExecSession
 * @signal: the signal
 * @error: return location
 *
 * Sends @signal to the process.
 *
 * Returns: %TRUE on success
 */
gboolean
grove_exec_session_kill (GroveExecSession *self, int signal, GError **error)
{
  g_return_val_if_fail (GROVE_IS_EXEC_SESSION (self), FALSE);
  if (signal <= 0 || signal >= NSIG)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "invalid signal %d", signal);
  if (!session_check_running (self, error))
    return FALSE;
  if (self->attached)
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "an attach session to %s cannot signal the container: stop it instead",
                        self->container_id);
  if (kill (self->pid, signal) < 0 && errno != ESRCH)
    return grove_throw_errno_code (error, errno, "sending signal %d to exec %s in %s", signal,
                                   self->id, self->container_id);
  return TRUE;
}

/**
 * grove_exec_session_attach:
 * @container_id: a running container started with a terminal or stdin as asked
 * @bundle: its bundle, where its conmon keeps the attach socket and the ctl fifo
 * @pid: the container's process
 * @options: the fds to copy to and from (@options->argv is ignored)
 * @error: return location
 *
 * Attaches to a running container's own stdio through its conmon. The session ends when
 * the container's conmon goes (the container ended) or grove_exec_session_detach(); the
 * container runs on after a detach.
 *
 * Returns: (transfer full) (nullable): the running session
 */
GroveExecSession *
grove_exec_session_attach (const char *container_id, const char *bundle, int pid,
                           const GroveExecOptions *options, GError **error)
{
  g_autoptr (GroveExecSession) self = g_object_new (GROVE_TYPE_EXEC_SESSION, NULL);

  g_return_val_if_fail (container_id != NULL && bundle != NULL, NULL);
  self->id = grove_new_id ();
  self->container_id = g_strdup (container_id);
  self->bundle_dir = g_strdup (bundle);
  self->tty = options->tty;
  self->attached = TRUE;
  self->pid = pid;
  /* the container's exit code is the engine's to tell, not this session's */
  self->exit_known = TRUE;
  if (!dup_client_fd (options->stdin_fd, &self->stdin_fd, "stdin", error)
      || !dup_client_fd (options->stdout_fd, &self->stdout_fd, "stdout", error)
      || (!options->tty && !dup_client_fd (options->stderr_fd, &self->stderr_fd, "stderr", error))
      || !session_connect_attach (self, error))
    {
      session_close_io (self);
      return NULL;
    }
  self->state = GROVE_EXEC_STATE_RUNNING;
  /* the copy thread holds a reference until it has reported back */
  g_object_ref (self);
  return g_steal_pointer (&self);
}

/**
 * grove_exec_session_detach:
 * @self: a #GroveExecSession
 *
 * Stops copying and closes the session's fds. An exec'd process is killed; a container
 * attached to runs on.
 */
void
grove_exec_session_detach (GroveExecSession *self)
{
  g_return_if_fail (GROVE_IS_EXEC_SESSION (self));
  if (self->state != GROVE_EXEC_STATE_RUNNING)
    return;
  if (!self->attached && self->pid > 0)
    {
      kill (self->pid, SIGKILL);
      return;
    }
  /* the copy thread is told to stop and reports nothing: finish here */
  session_close_io (self);
  self->io_done = TRUE;
  self->state = GROVE_EXEC_STATE_EXITED;
  g_signal_emit (self, signals[SIGNAL_EXITED], 0, self->exit_code);
  g_object_unref (self);
}
