/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveStreamSession"

/*
 * One streaming session (exec, attach or port-forward) between a client's channels and the
 * engine, independent of the protocol that carries the channels (WebSocket or SPDY): the
 * transport feeds what the client sends into grove_stream_session_receive() and sends what
 * the session emits with ::send. Exec and attach go through the engine's exec sessions,
 * with pipes between them and this object; port-forward connects to the port inside the
 * pod's network namespace from a short-lived thread that enters it.
 *
 * Closing follows the process: once it has ended and its output has been read to the end,
 * the status goes out on the error channel and ::finished is emitted. A client that goes
 * away takes its exec'd process along; an attached container runs on.
 */

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "grove-stream-session.h"
#include "grove-utils.h"

#define READ_CHUNK 32768

struct _GroveStreamSession
{
  GObject parent_instance;

  GroveEngine *engine;
  GroveStreamRequest *request;
  gboolean json_status;
  gboolean finished;
  GCancellable *cancellable;
  /* exec and attach */
  GroveExecSession *exec;
  gboolean exec_done;
  guint readers_open; /* output pipes not yet at end of file */
  GOutputStream *stdin_stream;
  GQueue stdin_queue; /* GBytes waiting to be written */
  gboolean stdin_writing;
  gboolean stdin_closing;
  guint rows; /* the terminal size asked for before the process ran, 0 if none */
  guint cols;
  /* port-forward: one connection per port, NULL until connected */
  GSocketConnection **connections;
};

enum
{
  SIGNAL_SEND,
  SIGNAL_CLOSE_CHANNEL,
  SIGNAL_FINISHED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_TYPE (GroveStreamSession, grove_stream_session, G_TYPE_OBJECT)

/**
 * grove_stream_request_copy:
 * @request: a request
 *
 * Returns: (transfer full): a deep copy of @request
 */
GroveStreamRequest *
grove_stream_request_copy (const GroveStreamRequest *request)
{
  GroveStreamRequest *copy = g_new0 (GroveStreamRequest, 1);

  *copy = *request;
  copy->target_id = g_strdup (request->target_id);
  copy->argv = g_strdupv (request->argv);
  copy->ports = request->n_ports > 0 ? g_memdup2 (request->ports, request->n_ports * 2) : NULL;
  return copy;
}

/**
 * grove_stream_request_free:
 * @request: (nullable) (transfer full): a request
 */
void
grove_stream_request_free (GroveStreamRequest *request)
{
  if (request == NULL)
    return;
  g_free (request->target_id);
  g_strfreev (request->argv);
  g_free (request->ports);
  g_free (request);
}

static void
grove_stream_session_dispose (GObject *object)
{
  GroveStreamSession *self = GROVE_STREAM_SESSION (object);

  g_cancellable_cancel (self->cancellable);
  if (self->exec != NULL)
    g_signal_handlers_disconnect_by_data (self->exec, self);
  G_OBJECT_CLASS (grove_stream_session_parent_class)->dispose (object);
}

static void
grove_stream_session_finalize (GObject *object)
{
  GroveStreamSession *self = GROVE_STREAM_SESSION (object);

  for (guint i = 0; self->connections != NULL && i < self->request->n_ports; i++)
    g_clear_object (&self->connections[i]);
  g_free (self->connections);
  g_clear_object (&self->exec);
  g_clear_object (&self->stdin_stream);
  g_queue_clear_full (&self->stdin_queue, (GDestroyNotify)g_bytes_unref);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->request, grove_stream_request_free);
  g_clear_object (&self->engine);
  G_OBJECT_CLASS (grove_stream_session_parent_class)->finalize (object);
}

static void
grove_stream_session_class_init (GroveStreamSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = grove_stream_session_dispose;
  object_class->finalize = grove_stream_session_finalize;
  /**
   * GroveStreamSession::send:
   * @self: the session
   * @channel: the channel
   * @data: what to send on it
   */
  signals[SIGNAL_SEND] = g_signal_new ("send", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_BYTES);
  /**
   * GroveStreamSession::close-channel:
   * @self: the session
   * @channel: a channel that carries nothing more
   */
  signals[SIGNAL_CLOSE_CHANNEL]
      = g_signal_new ("close-channel", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                      NULL, G_TYPE_NONE, 1, G_TYPE_UINT);
  /**
   * GroveStreamSession::finished:
   * @self: the session
   *
   * Everything was sent: the transport may close the connection.
   */
  signals[SIGNAL_FINISHED] = g_signal_new ("finished", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                           0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
grove_stream_session_init (GroveStreamSession *self)
{
  self->cancellable = g_cancellable_new ();
  g_queue_init (&self->stdin_queue);
}

/**
 * grove_stream_session_new:
 * @engine: the engine
 * @request: what the session does
 *
 * Returns: (transfer full): a session, started with grove_stream_session_start()
 */
GroveStreamSession *
grove_stream_session_new (GroveEngine *engine, const GroveStreamRequest *request)
{
  GroveStreamSession *self = g_object_new (GROVE_TYPE_STREAM_SESSION, NULL);

  self->engine = g_object_ref (engine);
  self->request = grove_stream_request_copy (request);
  return self;
}

/**
 * grove_stream_session_get_request:
 * @self: a session
 *
 * Returns: what it does
 */
const GroveStreamRequest *
grove_stream_session_get_request (GroveStreamSession *self)
{
  g_return_val_if_fail (GROVE_IS_STREAM_SESSION (self), NULL);
  return self->request;
}

/**
 * grove_stream_session_is_finished:
 * @self: a session
 *
 * Returns: whether it has sent everything
 */
gboolean
grove_stream_session_is_finished (GroveStreamSession *self)
{
  g_return_val_if_fail (GROVE_IS_STREAM_SESSION (self), TRUE);
  return self->finished;
}

static void
send_bytes (GroveStreamSession *self, guint channel, GBytes *data)
{
  if (!self->finished)
    g_signal_emit (self, signals[SIGNAL_SEND], 0, channel, data);
}

static void
send_text (GroveStreamSession *self, guint channel, const char *text)
{
  g_autoptr (GBytes) data = g_bytes_new (text, strlen (text));

  send_bytes (self, channel, data);
}

static void
finish (GroveStreamSession *self)
{
  if (self->finished)
    return;
  /* the transport may drop its last reference from a ::finished handler */
  g_object_ref (self);
  self->finished = TRUE;
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0);
  g_object_unref (self);
}

/* the v4+ error channel's JSON Status, or v1's plain text (nothing on success) */
static void
send_status (GroveStreamSession *self, int exit_code, const char *failure)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;
  g_autofree char *code = g_strdup_printf ("%d", exit_code);

  if (!self->json_status)
    {
      if (failure != NULL)
        send_text (self, GROVE_STREAM_ERROR, failure);
      return;
    }
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "metadata");
  json_builder_begin_object (builder);
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "status");
  json_builder_add_string_value (builder, failure == NULL ? "Success" : "Failure");
  if (failure != NULL)
    {
      json_builder_set_member_name (builder, "message");
      json_builder_add_string_value (builder, failure);
      json_builder_set_member_name (builder, "reason");
      json_builder_add_string_value (builder, exit_code > 0 ? "NonZeroExitCode" : "InternalError");
    }
  if (failure != NULL && exit_code > 0)
    {
      json_builder_set_member_name (builder, "details");
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "causes");
      json_builder_begin_array (builder);
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "reason");
      json_builder_add_string_value (builder, "ExitCode");
      json_builder_set_member_name (builder, "message");
      json_builder_add_string_value (builder, code);
      json_builder_end_object (builder);
      json_builder_end_array (builder);
      json_builder_end_object (builder);
    }
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  text = json_to_string (root, FALSE);
  send_text (self, GROVE_STREAM_ERROR, text);
}

static void
fail (GroveStreamSession *self, const char *message)
{
  g_debug ("stream session for %s: %s", self->request->target_id, message);
  send_status (self, -1, message);
  finish (self);
}

/* ---- exec and attach ---- */

static void
exec_maybe_finish (GroveStreamSession *self)
{
  int exit_code = 0;
  g_autofree char *failure = NULL;

  if (!self->exec_done || self->readers_open > 0 || self->finished)
    return;
  exit_code = grove_exec_session_get_exit_code (self->exec);
  if (self->request->kind == GROVE_STREAM_EXEC && exit_code != 0)
    failure
        = g_strdup_printf ("command terminated with non-zero exit code: exit code %d", exit_code);
  send_status (self, exit_code, failure);
  finish (self);
}

typedef struct
{
  GroveStreamSession *self;
  guint channel;
} Reader;

static void read_output (GInputStream *stream, Reader *reader);

static void
output_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Reader *reader = user_data;
  g_autoptr (GroveStreamSession) self = reader->self;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GBytes) data
      = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &local_error);

  if (data != NULL && g_bytes_get_size (data) > 0)
    {
      send_bytes (self, reader->channel, data);
      reader->self = g_object_ref (self);
      read_output (G_INPUT_STREAM (source), reader);
      return;
    }
  g_free (reader);
  self->readers_open--;
  exec_maybe_finish (self);
}

static void
read_output (GInputStream *stream, Reader *reader)
{
  g_input_stream_read_bytes_async (stream, READ_CHUNK, G_PRIORITY_DEFAULT, NULL, output_read_cb,
                                   reader);
}

/* a pipe whose write end goes to the process and whose read end this session reads */
static gboolean
add_reader (GroveStreamSession *self, guint channel, int *out_child_fd, GError **error)
{
  int fds[2];
  g_autoptr (GInputStream) stream = NULL;
  Reader *reader = NULL;

  if (!g_unix_open_pipe (fds, FD_CLOEXEC, error))
    return FALSE;
  *out_child_fd = fds[1];
  stream = g_unix_input_stream_new (fds[0], TRUE);
  reader = g_new0 (Reader, 1);
  reader->self = g_object_ref (self);
  reader->channel = channel;
  self->readers_open++;
  read_output (stream, reader);
  return TRUE;
}

static void exec_exited_cb (GroveExecSession *exec, int exit_code, GroveStreamSession *self);
static void write_stdin (GroveStreamSession *self);

static void
apply_size (GroveStreamSession *self)
{
  g_autoptr (GError) local_error = NULL;

  if (self->rows == 0 || self->cols == 0 || self->exec == NULL
      || grove_exec_session_get_state (self->exec) != GROVE_EXEC_STATE_RUNNING)
    return;
  if (!grove_exec_session_resize (self->exec, self->rows, self->cols, &local_error))
    g_debug ("resize of %s: %s", self->request->target_id, local_error->message);
}

static void
exec_running (GroveStreamSession *self, GroveExecSession *exec)
{
  self->exec = exec;
  g_signal_connect_object (exec, "exited", G_CALLBACK (exec_exited_cb), self, 0);
  /* input and resizes that came while the process was starting, in that order: the size
   * first, so that what the input sets off sees it */
  if (self->request->tty)
    apply_size (self);
  write_stdin (self);
  if (grove_exec_session_get_state (exec) == GROVE_EXEC_STATE_EXITED)
    exec_exited_cb (exec, grove_exec_session_get_exit_code (exec), self);
}

static void
exec_exited_cb (GroveExecSession *exec, int exit_code, GroveStreamSession *self)
{
  self->exec_done = TRUE;
  exec_maybe_finish (self);
}

static void
exec_started_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveStreamSession) self = user_data;
  g_autoptr (GError) local_error = NULL;
  GroveExecSession *exec = grove_engine_exec_finish (GROVE_ENGINE (source), result, &local_error);

  if (exec == NULL)
    return fail (self, local_error->message);
  exec_running (self, exec);
  /* the client went away while the process was starting */
  if (g_cancellable_is_cancelled (self->cancellable))
    grove_exec_session_detach (exec);
}

static void
close_fd (int fd)
{
  if (fd >= 0)
    close (fd);
}

static void
start_exec_or_attach (GroveStreamSession *self)
{
  const GroveStreamRequest *request = self->request;
  GroveExecOptions options = { .argv = (const char *const *)request->argv,
                               .tty = request->tty,
                               .stdin_fd = -1,
                               .stdout_fd = -1,
                               .stderr_fd = -1 };
  g_autoptr (GError) local_error = NULL;
  int in[2] = { -1, -1 };

  if (request->stdin)
    {
      if (!g_unix_open_pipe (in, FD_CLOEXEC, &local_error))
        return fail (self, local_error->message);
      options.stdin_fd = in[0];
      self->stdin_stream = g_unix_output_stream_new (in[1], TRUE);
    }
  if ((request->stdout && !add_reader (self, GROVE_STREAM_STDOUT, &options.stdout_fd, &local_error))
      || (request->stderr && !request->tty
          && !add_reader (self, GROVE_STREAM_STDERR, &options.stderr_fd, &local_error)))
    {
      close_fd (in[0]);
      return fail (self, local_error->message);
    }
  if (request->kind == GROVE_STREAM_EXEC)
    grove_engine_exec_async (self->engine, request->target_id, &options, NULL, exec_started_cb,
                             g_object_ref (self));
  else
    {
      GroveExecSession *exec
          = grove_engine_attach (self->engine, request->target_id, &options, &local_error);

      if (exec == NULL)
        fail (self, local_error->message);
      else
        exec_running (self, exec);
    }
  /* the exec session holds its own copies */
  close_fd (in[0]);
  close_fd (options.stdout_fd);
  close_fd (options.stderr_fd);
}

static void
stdin_written_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GroveStreamSession) self = user_data;
  g_autoptr (GError) local_error = NULL;

  self->stdin_writing = FALSE;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &local_error))
    {
      /* the process stopped reading: what it has not read is dropped */
      g_debug ("stdin of %s: %s", self->request->target_id, local_error->message);
      g_queue_clear_full (&self->stdin_queue, (GDestroyNotify)g_bytes_unref);
      g_clear_object (&self->stdin_stream);
      return;
    }
  write_stdin (self);
}

static void
write_stdin (GroveStreamSession *self)
{
  g_autoptr (GBytes) data = NULL;

  /* held until the process runs, so that a resize sent before it goes first */
  if (self->stdin_writing || self->stdin_stream == NULL || self->exec == NULL)
    return;
  data = g_queue_pop_head (&self->stdin_queue);
  if (data == NULL)
    {
      if (self->stdin_closing)
        g_clear_object (&self->stdin_stream);
      return;
    }
  self->stdin_writing = TRUE;
  g_output_stream_write_all_async (self->stdin_stream, g_bytes_get_data (data, NULL),
                                   g_bytes_get_size (data), G_PRIORITY_DEFAULT, NULL,
                                   stdin_written_cb, g_object_ref (self));
  /* the stream reads from the bytes until the write is done */
  g_object_set_data_full (G_OBJECT (self->stdin_stream), "grove-writing", g_steal_pointer (&data),
                          (GDestroyNotify)g_bytes_unref);
}

static void
resize (GroveStreamSession *self, GBytes *data)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root = NULL;
  JsonObject *size = NULL;

  if (!self->request->tty
      || !json_parser_load_from_data (parser, g_bytes_get_data (data, NULL),
                                      g_bytes_get_size (data), NULL))
    return;
  root = json_parser_get_root (parser);
  size = root != NULL && JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  if (size == NULL)
    return;
  self->rows = (guint)json_object_get_int_member_with_default (size, "Height", 0);
  self->cols = (guint)json_object_get_int_member_with_default (size, "Width", 0);
  apply_size (self);
}

/* ---- port-forward ---- */

typedef struct
{
  char *netns;
  guint16 port;
  int fd;
  int errsv;
} Dial;

/* connects to 127.0.0.1:port in the pod's network namespace: a thread enters it, the socket
 * stays there when the thread ends */
static gpointer
dial_thread (gpointer user_data)
{
  Dial *dial = user_data;
  struct sockaddr_in address = { .sin_family = AF_INET,
                                 .sin_port = htons (dial->port),
                                 .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int ns = -1;

  if (dial->netns != NULL)
    {
      ns = open (dial->netns, O_RDONLY | O_CLOEXEC);
      if (ns < 0 || setns (ns, CLONE_NEWNET) < 0)
        {
          dial->errsv = errno;
          close_fd (ns);
          return NULL;
        }
      close (ns);
    }
  dial->fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (dial->fd < 0 || connect (dial->fd, (struct sockaddr *)&address, sizeof address) < 0)
    {
      dial->errsv = errno;
      close_fd (dial->fd);
      dial->fd = -1;
    }
  return NULL;
}

static void forward_read (GroveStreamSession *self, guint index);

static void
forward_read_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Reader *reader = user_data;
  g_autoptr (GroveStreamSession) self = reader->self;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GBytes) data
      = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &local_error);
  guint index = reader->channel;

  g_free (reader);
  if (data != NULL && g_bytes_get_size (data) > 0)
    {
      send_bytes (self, 2 * index, data);
      forward_read (self, index);
      return;
    }
  if (local_error != NULL && !g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    send_text (self, 2 * index + 1, local_error->message);
  /* the connection ended: so does the session once every port's has */
  g_clear_object (&self->connections[index]);
  for (guint i = 0; i < self->request->n_ports; i++)
    if (self->connections[i] != NULL)
      return;
  finish (self);
}

static void
forward_read (GroveStreamSession *self, guint index)
{
  Reader *reader = g_new0 (Reader, 1);
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (self->connections[index]));

  reader->self = g_object_ref (self);
  reader->channel = index;
  g_input_stream_read_bytes_async (input, READ_CHUNK, G_PRIORITY_DEFAULT, self->cancellable,
                                   forward_read_cb, reader);
}

/**
 * grove_stream_dial:
 * @netns: (nullable): a network namespace to connect in; %NULL for groved's own
 * @port: a TCP port on 127.0.0.1 there
 * @error: return location
 *
 * Returns: (transfer full) (nullable): the connection
 */
GSocketConnection *
grove_stream_dial (const char *netns, guint16 port, GError **error)
{
  Dial dial = { .netns = (char *)netns, .port = port, .fd = -1 };
  g_autoptr (GSocket) socket = NULL;

  g_thread_join (g_thread_new ("grove-dial", dial_thread, &dial));
  if (dial.fd < 0)
    return grove_throw_errno_code (error, dial.errsv, "connecting to port %u in the pod", port),
           NULL;
  socket = g_socket_new_from_fd (dial.fd, error);
  if (socket == NULL)
    return close_fd (dial.fd), NULL;
  return g_socket_connection_factory_create_connection (socket);
}

static gboolean
connect_port (GroveStreamSession *self, const char *netns, guint index, GError **error)
{
  self->connections[index] = grove_stream_dial (netns, self->request->ports[index], error);
  return self->connections[index] != NULL;
}

static void
start_port_forward (GroveStreamSession *self, gboolean announce_ports)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GrovePod) pod
      = grove_engine_get_pod (self->engine, self->request->target_id, &local_error);

  if (pod == NULL)
    return fail (self, local_error->message);
  self->connections = g_new0 (GSocketConnection *, self->request->n_ports + 1);
  for (guint i = 0; i < self->request->n_ports; i++)
    {
      guint8 port[2] = { self->request->ports[i] & 0xff, self->request->ports[i] >> 8 };
      g_autoptr (GBytes) prefix = g_bytes_new (port, sizeof port);

      /* WebSocket clients learn the port of each channel pair from its first two bytes */
      if (announce_ports)
        {
          send_bytes (self, 2 * i, prefix);
          send_bytes (self, 2 * i + 1, prefix);
        }
      if (!connect_port (self, grove_pod_get_netns_path (pod), i, &local_error))
        {
          send_text (self, 2 * i + 1, local_error->message);
          g_clear_error (&local_error);
          continue;
        }
      forward_read (self, i);
    }
  for (guint i = 0; i < self->request->n_ports; i++)
    if (self->connections[i] != NULL)
      return;
  finish (self);
}

/* ---- the transport's side ---- */

/**
 * grove_stream_session_start:
 * @self: a session
 * @json_status: send the final status as a Kubernetes Status object (protocol v4 and later)
 *   rather than as text
 *
 * Starts the process, attaches, or connects the ports. Port-forward sessions announce each
 * channel's port in its first two bytes when @json_status is set (the WebSocket protocol).
 */
void
grove_stream_session_start (GroveStreamSession *self, gboolean json_status)
{
  g_return_if_fail (GROVE_IS_STREAM_SESSION (self));
  self->json_status = json_status;
  if (self->request->kind == GROVE_STREAM_PORT_FORWARD)
    start_port_forward (self, json_status);
  else
    start_exec_or_attach (self);
}

/**
 * grove_stream_session_receive:
 * @self: a session
 * @channel: the channel the client sent on
 * @data: what it sent
 */
void
grove_stream_session_receive (GroveStreamSession *self, guint channel, GBytes *data)
{
  g_return_if_fail (GROVE_IS_STREAM_SESSION (self));
  if (self->finished)
    return;
  if (self->request->kind == GROVE_STREAM_PORT_FORWARD)
    {
      guint index = channel / 2;
      GOutputStream *output = NULL;

      if (channel % 2 != 0 || index >= self->request->n_ports || self->connections == NULL
          || self->connections[index] == NULL)
        return;
      output = g_io_stream_get_output_stream (G_IO_STREAM (self->connections[index]));
      /* small writes to a local socket: a blocked peer only delays this session's loop turn */
      if (!g_output_stream_write_all (output, g_bytes_get_data (data, NULL),
                                      g_bytes_get_size (data), NULL, self->cancellable, NULL))
        g_debug ("port-forward to %s: the connection is gone", self->request->target_id);
      return;
    }
  if (channel == GROVE_STREAM_STDIN && self->stdin_stream != NULL && !self->stdin_closing)
    {
      g_queue_push_tail (&self->stdin_queue, g_bytes_ref (data));
      write_stdin (self);
    }
  else if (channel == GROVE_STREAM_RESIZE)
    resize (self, data);
}

/**
 * grove_stream_session_channel_closed:
 * @self: a session
 * @channel: a channel the client will send nothing more on
 *
 * A closed stdin reaches the process as end of file.
 */
void
grove_stream_session_channel_closed (GroveStreamSession *self, guint channel)
{
  g_return_if_fail (GROVE_IS_STREAM_SESSION (self));
  if (self->request->kind != GROVE_STREAM_PORT_FORWARD && channel == GROVE_STREAM_STDIN)
    {
      self->stdin_closing = TRUE;
      write_stdin (self);
    }
}

/**
 * grove_stream_session_client_gone:
 * @self: a session
 *
 * The client disconnected: an exec'd process is killed, an attach detached, port-forward
 * connections closed.
 */
void
grove_stream_session_client_gone (GroveStreamSession *self)
{
  g_return_if_fail (GROVE_IS_STREAM_SESSION (self));
  g_cancellable_cancel (self->cancellable);
  if (self->exec != NULL)
    grove_exec_session_detach (self->exec);
  for (guint i = 0; self->connections != NULL && i < self->request->n_ports; i++)
    if (self->connections[i] != NULL)
      g_io_stream_close (G_IO_STREAM (self->connections[i]), NULL, NULL);
  finish (self);
}
