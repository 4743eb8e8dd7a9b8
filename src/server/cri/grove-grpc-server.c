/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveGrpcServer"

/*
 * A gRPC server on a unix socket for a GLib program, built on gRPC's C core; nothing else
 * in Grove includes a gRPC header.
 *
 * One thread blocks in grpc_completion_queue_next() and only hands each completed
 * operation to the main context through an async queue and a GSource; everything else
 * (calls, handlers, batches) happens on the main context. One generic
 * grpc_server_request_call() is always armed, so that a call to a method nobody added is
 * answered UNIMPLEMENTED at once rather than waiting for its deadline. Each call has a
 * RECV_CLOSE_ON_SERVER batch in flight from its start: its completion says the call is
 * over, and whether it was cancelled (deadline, client gone, server shutdown), which
 * cancels the call's GCancellable.
 *
 * Shutdown cancels every call, waits for the thread, which ends once the queue has
 * delivered every operation, and handles what it delivered without running handlers.
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>

#include "grove-grpc-server.h"
#include "grove-utils.h"

#define STATUS_DETAILS_KEY "grpc-status-details-bin"

typedef enum
{
  OP_NEW_CALL,
  OP_RECV_MESSAGE,
  OP_CLOSE,
  OP_SEND,
  OP_SHUTDOWN,
} OpKind;

/* one batch in flight: its tag, and the storage gRPC writes into until it completes */
typedef struct
{
  OpKind kind;
  int success;
  GroveGrpcCall *call; /* owned; NULL for OP_NEW_CALL and OP_SHUTDOWN */
  grpc_call *new_call; /* OP_NEW_CALL */
  grpc_call_details details;
  grpc_metadata_array request_metadata;
  grpc_byte_buffer *message; /* OP_RECV_MESSAGE: received; OP_SEND: sent */
  int cancelled;             /* OP_CLOSE */
  grpc_slice status_message; /* OP_SEND */
  grpc_metadata trailer;
  gboolean has_status;
  gboolean has_trailer;
} Op;

typedef struct
{
  GroveGrpcHandler handler;
  gpointer user_data;
  GDestroyNotify destroy;
  gboolean streaming;
} Method;

struct _GroveGrpcServer
{
  GObject parent_instance;

  char *socket_path;
  int lock_fd;
  gboolean grpc_initialized;
  grpc_server *server;
  grpc_completion_queue *cq;
  GThread *thread;
  GMainContext *context;
  GSource *source;     /* dispatches @events on @context */
  GAsyncQueue *events; /* Op *, completed, from the thread */
  GHashTable *methods; /* path → Method */
  GHashTable *calls;   /* GroveGrpcCall set: those not over yet */
  gboolean stopping;   /* shutdown is draining: no handler runs, no batch starts */
};

struct _GroveGrpcCall
{
  GObject parent_instance;

  GroveGrpcServer *server;
  grpc_call *grpc; /* NULL once the call is over */
  char *method;
  const Method *info; /* NULL for an unknown method */
  gint64 deadline;
  GCancellable *cancellable;
  gboolean answered;      /* the handler gave its status */
  gboolean over;          /* the call ended on the wire */
  gboolean metadata_sent; /* initial metadata went out */
  gboolean sending;       /* a send batch is in flight */
  GQueue queue;           /* GBytes still to send */
  gboolean status_pending;
  GroveGrpcStatus status;
  char *status_message;
  GBytes *details;
};

G_DEFINE_TYPE (GroveGrpcServer, grove_grpc_server, G_TYPE_OBJECT)
G_DEFINE_TYPE (GroveGrpcCall, grove_grpc_call, G_TYPE_OBJECT)

static Op *
op_new (OpKind kind, GroveGrpcCall *call)
{
  Op *op = g_new0 (Op, 1);

  op->kind = kind;
  op->call = call != NULL ? g_object_ref (call) : NULL;
  if (kind == OP_NEW_CALL)
    {
      grpc_call_details_init (&op->details);
      grpc_metadata_array_init (&op->request_metadata);
    }
  return op;
}

static void
op_free (Op *op)
{
  if (op->kind == OP_NEW_CALL)
    {
      if (op->new_call != NULL)
        grpc_call_unref (op->new_call);
      grpc_call_details_destroy (&op->details);
      grpc_metadata_array_destroy (&op->request_metadata);
    }
  if (op->message != NULL)
    grpc_byte_buffer_destroy (op->message);
  if (op->has_status)
    grpc_slice_unref (op->status_message);
  if (op->has_trailer)
    {
      grpc_slice_unref (op->trailer.key);
      grpc_slice_unref (op->trailer.value);
    }
  g_clear_object (&op->call);
  g_free (op);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Op, op_free)

/* gRPC's own log lines go to GLib's log; its errors are about peers, not about us */
static void
grpc_log_cb (gpr_log_func_args *args)
{
  GLogLevelFlags level
      = args->severity == GPR_LOG_SEVERITY_ERROR ? G_LOG_LEVEL_MESSAGE : G_LOG_LEVEL_DEBUG;

  g_log ("GroveGrpc", level, "gRPC %s:%d: %s", args->file, args->line, args->message);
}

/* Calls */

static void
grove_grpc_call_finalize (GObject *object)
{
  GroveGrpcCall *self = GROVE_GRPC_CALL (object);

  if (self->grpc != NULL)
    grpc_call_unref (self->grpc);
  g_queue_clear_full (&self->queue, (GDestroyNotify)g_bytes_unref);
  g_clear_pointer (&self->method, g_free);
  g_clear_pointer (&self->status_message, g_free);
  g_clear_pointer (&self->details, g_bytes_unref);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->server);
  G_OBJECT_CLASS (grove_grpc_call_parent_class)->finalize (object);
}

static void
grove_grpc_call_class_init (GroveGrpcCallClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = grove_grpc_call_finalize;
}

static void
grove_grpc_call_init (GroveGrpcCall *self)
{
  self->cancellable = g_cancellable_new ();
  g_queue_init (&self->queue);
}

/* a deadline as g_get_monotonic_time() sees it; G_MAXINT64 when there is none */
static gint64
deadline_to_monotonic (gpr_timespec deadline)
{
  gpr_timespec left;

  if (gpr_time_cmp (deadline, gpr_inf_future (deadline.clock_type)) == 0)
    return G_MAXINT64;
  left = gpr_time_sub (gpr_convert_clock_type (deadline, GPR_CLOCK_MONOTONIC),
                       gpr_now (GPR_CLOCK_MONOTONIC));
  /* a year is as good as forever and keeps the sum from overflowing */
  if (left.tv_sec > 365 * 24 * 3600)
    return G_MAXINT64;
  return g_get_monotonic_time () + left.tv_sec * G_USEC_PER_SEC + left.tv_nsec / 1000;
}

static char *
slice_to_string (grpc_slice slice)
{
  return g_strndup ((const char *)GRPC_SLICE_START_PTR (slice), GRPC_SLICE_LENGTH (slice));
}

static GroveGrpcCall *
call_new (GroveGrpcServer *server, Op *op)
{
  GroveGrpcCall *self = g_object_new (GROVE_TYPE_GRPC_CALL, NULL);

  self->server = g_object_ref (server);
  self->grpc = g_steal_pointer (&op->new_call);
  self->method = slice_to_string (op->details.method);
  self->deadline = deadline_to_monotonic (op->details.deadline);
  self->info = g_hash_table_lookup (server->methods, self->method);
  return self;
}

/* starts a batch; on failure (a bug, or the call torn down under us) the op is dropped */
static gboolean
start_batch (GroveGrpcCall *self, const grpc_op *ops, size_t n_ops, Op *op)
{
  grpc_call_error result = grpc_call_start_batch (self->grpc, ops, n_ops, op, NULL);

  if (result != GRPC_CALL_OK)
    {
      g_warning ("gRPC call %s: starting a batch failed (%d)", self->method, (int)result);
      op_free (op);
      return FALSE;
    }
  return TRUE;
}

static void
bytes_unref_cb (void *data)
{
  g_bytes_unref (data);
}

/* the message's bytes, not copied: the slice keeps a reference */
static grpc_byte_buffer *
byte_buffer_from_bytes (GBytes *bytes)
{
  gsize length = 0;
  gconstpointer data = g_bytes_get_data (bytes, &length);
  grpc_slice slice;
  grpc_byte_buffer *buffer;

  if (length == 0)
    slice = grpc_empty_slice ();
  else
    slice
        = grpc_slice_new_with_user_data ((void *)data, length, bytes_unref_cb, g_bytes_ref (bytes));
  buffer = grpc_raw_byte_buffer_create (&slice, 1);
  grpc_slice_unref (slice);
  return buffer;
}

static GBytes *
bytes_from_byte_buffer (grpc_byte_buffer *buffer)
{
  grpc_byte_buffer_reader reader;
  grpc_slice slice;
  GBytes *bytes;

  if (!grpc_byte_buffer_reader_init (&reader, buffer))
    return NULL;
  slice = grpc_byte_buffer_reader_readall (&reader);
  grpc_byte_buffer_reader_destroy (&reader);
  bytes = g_bytes_new (GRPC_SLICE_START_PTR (slice), GRPC_SLICE_LENGTH (slice));
  grpc_slice_unref (slice);
  return bytes;
}

static void
add_status_op (GroveGrpcCall *self, grpc_op *ops, size_t *n_ops, Op *op)
{
  grpc_op *status = &ops[(*n_ops)++];

  op->status_message = grpc_slice_from_copied_string (self->status_message);
  op->has_status = TRUE;
  status->op = GRPC_OP_SEND_STATUS_FROM_SERVER;
  status->data.send_status_from_server.status = (grpc_status_code)self->status;
  status->data.send_status_from_server.status_details = &op->status_message;
  if (self->details != NULL)
    {
      gsize length = 0;
      gconstpointer data = g_bytes_get_data (self->details, &length);
      op->trailer.key = grpc_slice_from_static_string (STATUS_DETAILS_KEY);
      op->trailer.value = grpc_slice_from_copied_buffer (data, length);
      op->has_trailer = TRUE;
      status->data.send_status_from_server.trailing_metadata_count = 1;
      status->data.send_status_from_server.trailing_metadata = &op->trailer;
    }
  self->status_pending = FALSE;
}

/* sends what is queued, one batch at a time (gRPC allows one message in flight); the
 * status goes with the last message */
static void
pump (GroveGrpcCall *self)
{
  g_autoptr (GBytes) message = NULL;
  grpc_op ops[3];
  size_t n_ops = 0;
  Op *op;

  if (self->sending || self->grpc == NULL || self->over || self->server->stopping)
    return;
  message = g_queue_pop_head (&self->queue);
  if (message == NULL && !self->status_pending)
    return;
  memset (ops, 0, sizeof ops);
  op = op_new (OP_SEND, self);
  if (!self->metadata_sent)
    {
      ops[n_ops++].op = GRPC_OP_SEND_INITIAL_METADATA;
      self->metadata_sent = TRUE;
    }
  if (message != NULL)
    {
      op->message = byte_buffer_from_bytes (message);
      ops[n_ops].op = GRPC_OP_SEND_MESSAGE;
      ops[n_ops++].data.send_message.send_message = op->message;
    }
  if (self->status_pending && g_queue_is_empty (&self->queue))
    add_status_op (self, ops, &n_ops, op);
  self->sending = start_batch (self, ops, n_ops, op);
}

static void
set_status (GroveGrpcCall *self, GroveGrpcStatus status, const char *message, GBytes *details)
{
  self->answered = TRUE;
  self->status_pending = TRUE;
  self->status = status;
  self->status_message = g_strdup (message != NULL ? message : "");
  self->details = details != NULL ? g_bytes_ref (details) : NULL;
}

/**
 * grove_grpc_call_get_method:
 * @self: a #GroveGrpcCall
 *
 * Returns: the full method path, e.g. `/runtime.v1.RuntimeService/Version`
 */
const char *
grove_grpc_call_get_method (GroveGrpcCall *self)
{
  g_return_val_if_fail (GROVE_IS_GRPC_CALL (self), NULL);
  return self->method;
}

/**
 * grove_grpc_call_get_cancellable:
 * @self: a #GroveGrpcCall
 *
 * The cancellable is cancelled, on the main context, when the call ends before the
 * handler answered: the client's deadline passed, the client cancelled or went away, or
 * the server shut down. Work done for the call should stop then.
 *
 * Returns: (transfer none): the call's #GCancellable
 */
GCancellable *
grove_grpc_call_get_cancellable (GroveGrpcCall *self)
{
  g_return_val_if_fail (GROVE_IS_GRPC_CALL (self), NULL);
  return self->cancellable;
}

/**
 * grove_grpc_call_get_deadline:
 * @self: a #GroveGrpcCall
 *
 * Returns: the client's deadline in g_get_monotonic_time() microseconds, or %G_MAXINT64
 *   when the client set none
 */
gint64
grove_grpc_call_get_deadline (GroveGrpcCall *self)
{
  g_return_val_if_fail (GROVE_IS_GRPC_CALL (self), 0);
  return self->deadline;
}

/**
 * grove_grpc_call_is_finished:
 * @self: a #GroveGrpcCall
 *
 * Returns: %TRUE once the call is over on the wire (answered and sent, or cancelled)
 */
gboolean
grove_grpc_call_is_finished (GroveGrpcCall *self)
{
  g_return_val_if_fail (GROVE_IS_GRPC_CALL (self), TRUE);
  return self->over;
}

/**
 * grove_grpc_call_return_message:
 * @self: a call of a unary method
 * @response: the response message's bytes
 *
 * Answers the call with @response and status OK. A call that is over already (cancelled)
 * ignores the answer. Only one answer is allowed.
 */
void
grove_grpc_call_return_message (GroveGrpcCall *self, GBytes *response)
{
  g_return_if_fail (GROVE_IS_GRPC_CALL (self));
  g_return_if_fail (response != NULL);
  g_return_if_fail (self->info != NULL && !self->info->streaming);
  g_return_if_fail (!self->answered);

  set_status (self, GROVE_GRPC_STATUS_OK, NULL, NULL);
  g_queue_push_tail (&self->queue, g_bytes_ref (response));
  pump (self);
}

/**
 * grove_grpc_call_return_status_full:
 * @self: a #GroveGrpcCall
 * @status: the status
 * @message: (nullable): the status message, UTF-8
 * @details: (nullable): bytes for the `grpc-status-details-bin` trailer (a serialised
 *   `google.rpc.Status`)
 *
 * Ends the call with @status. For a unary method it is the answer, and must not be
 * %GROVE_GRPC_STATUS_OK (use grove_grpc_call_return_message()); a server stream ends
 * after the messages queued before it are sent. A call that is over already ignores it.
 */
void
grove_grpc_call_return_status_full (GroveGrpcCall *self, GroveGrpcStatus status,
                                    const char *message, GBytes *details)
{
  g_return_if_fail (GROVE_IS_GRPC_CALL (self));
  g_return_if_fail (!self->answered);
  g_return_if_fail (status != GROVE_GRPC_STATUS_OK
                    || (self->info != NULL && self->info->streaming));

  set_status (self, status, message, details);
  pump (self);
}

/**
 * grove_grpc_call_return_status:
 * @self: a #GroveGrpcCall
 * @status: the status
 * @message: (nullable): the status message, UTF-8
 *
 * grove_grpc_call_return_status_full() without details.
 */
void
grove_grpc_call_return_status (GroveGrpcCall *self, GroveGrpcStatus status, const char *message)
{
  grove_grpc_call_return_status_full (self, status, message, NULL);
}

/**
 * grove_grpc_call_send_message:
 * @self: a call of a server-streaming method
 * @message: the message's bytes
 *
 * Queues @message on the stream; messages go out in order, one at a time.
 *
 * Returns: %FALSE when the call is over (the client is gone): stop sending
 */
gboolean
grove_grpc_call_send_message (GroveGrpcCall *self, GBytes *message)
{
  g_return_val_if_fail (GROVE_IS_GRPC_CALL (self), FALSE);
  g_return_val_if_fail (message != NULL, FALSE);
  g_return_val_if_fail (self->info != NULL && self->info->streaming, FALSE);
  g_return_val_if_fail (!self->answered, FALSE);

  if (self->over || self->grpc == NULL)
    return FALSE;
  g_queue_push_tail (&self->queue, g_bytes_ref (message));
  pump (self);
  return TRUE;
}

/**
 * grove_grpc_call_get_n_queued:
 * @self: a #GroveGrpcCall
 *
 * Returns: how many messages wait to be sent (a slow reader lets them pile up)
 */
guint
grove_grpc_call_get_n_queued (GroveGrpcCall *self)
{
  g_return_val_if_fail (GROVE_IS_GRPC_CALL (self), 0);
  return g_queue_get_length (&self->queue);
}

/* Server: completed operations, on the main context */

static void
arm_request (GroveGrpcServer *self)
{
  Op *op = op_new (OP_NEW_CALL, NULL);
  grpc_call_error result = grpc_server_request_call (self->server, &op->new_call, &op->details,
                                                     &op->request_metadata, self->cq, self->cq, op);

  if (result != GRPC_CALL_OK)
    {
      g_warning ("gRPC: cannot wait for calls on %s (%d)", self->socket_path, (int)result);
      op_free (op);
    }
}

static void
start_call (GroveGrpcServer *self, GroveGrpcCall *call)
{
  grpc_op close_op = { 0 };
  grpc_op recv_op = { 0 };
  Op *close = op_new (OP_CLOSE, call);
  Op *recv = NULL;
  g_autofree char *message = NULL;

  close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
  close_op.data.recv_close_on_server.cancelled = &close->cancelled;
  if (!start_batch (call, &close_op, 1, close))
    return;
  g_hash_table_add (self->calls, g_object_ref (call));
  if (call->info == NULL)
    {
      message = g_strdup_printf ("unknown method %s", call->method);
      g_debug ("%s", message);
      set_status (call, GROVE_GRPC_STATUS_UNIMPLEMENTED, message, NULL);
      pump (call);
      return;
    }
  recv = op_new (OP_RECV_MESSAGE, call);
  recv_op.op = GRPC_OP_RECV_MESSAGE;
  recv_op.data.recv_message.recv_message = &recv->message;
  start_batch (call, &recv_op, 1, recv);
}

static void
handle_new_call (GroveGrpcServer *self, Op *op)
{
  g_autoptr (GroveGrpcCall) call = NULL;

  if (!op->success || self->stopping)
    return;
  arm_request (self);
  call = call_new (self, op);
  start_call (self, call);
}

static void
handle_request (GroveGrpcServer *self, Op *op)
{
  GroveGrpcCall *call = op->call;
  g_autoptr (GBytes) request = NULL;

  if (self->stopping || call->over || call->answered)
    return;
  if (op->success && op->message != NULL)
    request = bytes_from_byte_buffer (op->message);
  if (request == NULL)
    {
      set_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT, "the call carries no request message",
                  NULL);
      pump (call);
      return;
    }
  call->info->handler (call, request, call->info->user_data);
}

static void
handle_close (GroveGrpcServer *self, Op *op)
{
  g_autoptr (GroveGrpcCall) call = g_object_ref (op->call);

  call->over = TRUE;
  g_queue_clear_full (&call->queue, (GDestroyNotify)g_bytes_unref);
  /* gRPC keeps what its own operations in flight still need */
  g_clear_pointer (&call->grpc, grpc_call_unref);
  g_hash_table_remove (self->calls, call);
  if (op->cancelled)
    {
      g_debug ("gRPC call %s cancelled", call->method);
      g_cancellable_cancel (call->cancellable);
    }
}

static void
handle_op (GroveGrpcServer *self, Op *op)
{
  switch (op->kind)
    {
    case OP_NEW_CALL:
      handle_new_call (self, op);
      break;
    case OP_RECV_MESSAGE:
      handle_request (self, op);
      break;
    case OP_CLOSE:
      handle_close (self, op);
      break;
    case OP_SEND:
      op->call->sending = FALSE;
      if (op->success)
        pump (op->call);
      break;
    case OP_SHUTDOWN:
    default:
      break;
    }
}

static gboolean
events_cb (gpointer user_data)
{
  GroveGrpcServer *self = user_data;
  Op *op;

  /* first, so that a wake-up coming while the queue is drained is not lost */
  g_source_set_ready_time (self->source, -1);
  while ((op = g_async_queue_try_pop (self->events)) != NULL)
    {
      g_autoptr (Op) done = op;
      handle_op (self, done);
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
events_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  return callback (user_data);
}

static GSourceFuncs events_funcs = { .dispatch = events_dispatch };

/* the completion queue's thread: it only passes completed operations on */
static gpointer
queue_thread (gpointer user_data)
{
  GroveGrpcServer *self = user_data;

  for (;;)
    {
      grpc_event event
          = grpc_completion_queue_next (self->cq, gpr_inf_future (GPR_CLOCK_REALTIME), NULL);
      Op *op = event.tag;

      if (event.type == GRPC_QUEUE_SHUTDOWN)
        break;
      if (event.type != GRPC_OP_COMPLETE)
        continue;
      op->success = event.success;
      /* the server is done with every call: the queue ends once all is delivered */
      if (op->kind == OP_SHUTDOWN)
        grpc_completion_queue_shutdown (self->cq);
      g_async_queue_push (self->events, op);
      g_source_set_ready_time (self->source, 0);
    }
  return NULL;
}

/* Server: lifetime */

static void
grove_grpc_server_dispose (GObject *object)
{
  grove_grpc_server_shutdown (GROVE_GRPC_SERVER (object));
  G_OBJECT_CLASS (grove_grpc_server_parent_class)->dispose (object);
}

static void
grove_grpc_server_finalize (GObject *object)
{
  GroveGrpcServer *self = GROVE_GRPC_SERVER (object);

  grove_close_fd (&self->lock_fd);
  g_clear_pointer (&self->socket_path, g_free);
  g_clear_pointer (&self->methods, g_hash_table_unref);
  g_clear_pointer (&self->calls, g_hash_table_unref);
  g_clear_pointer (&self->events, g_async_queue_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  if (self->grpc_initialized)
    grpc_shutdown ();
  G_OBJECT_CLASS (grove_grpc_server_parent_class)->finalize (object);
}

static void
grove_grpc_server_class_init (GroveGrpcServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = grove_grpc_server_dispose;
  object_class->finalize = grove_grpc_server_finalize;
}

static void
method_free (gpointer data)
{
  Method *method = data;

  if (method->destroy != NULL)
    method->destroy (method->user_data);
  g_free (method);
}

static void
grove_grpc_server_init (GroveGrpcServer *self)
{
  self->lock_fd = -1;
  self->methods = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, method_free);
  self->calls = g_hash_table_new_full (g_direct_hash, g_direct_equal, g_object_unref, NULL);
  self->events = g_async_queue_new ();
}

/* `<socket>.lock`, held for the server's life: gRPC unlinks a socket file in its way, so
 * the lock is what keeps a second server from taking over a live socket */
static gboolean
take_lock (GroveGrpcServer *self, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (self->socket_path);
  g_autofree char *lock_path = g_strconcat (self->socket_path, ".lock", NULL);

  if (g_mkdir_with_parents (dir, 0755) < 0)
    return grove_throw_errno_code (error, errno, "creating the socket's directory %s", dir);
  self->lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (self->lock_fd < 0)
    return grove_throw_errno_code (error, errno, "opening the lock file %s", lock_path);
  if (flock (self->lock_fd, LOCK_EX | LOCK_NB) < 0)
    {
      int errsv = errno;
      if (errsv == EWOULDBLOCK)
        return grove_throw (error, GROVE_ERROR_BUSY,
                            "socket %s is in use by another server (%s is locked)",
                            self->socket_path, lock_path);
      return grove_throw_errno_code (error, errsv, "locking %s", lock_path);
    }
  return TRUE;
}

/* before the server started: shut down and wait for the queue, on this thread */
static void
destroy_unstarted (GroveGrpcServer *self)
{
  g_autoptr (Op) shutdown = op_new (OP_SHUTDOWN, NULL);

  grpc_server_shutdown_and_notify (self->server, self->cq, shutdown);
  grpc_completion_queue_shutdown (self->cq);
  while (grpc_completion_queue_next (self->cq, gpr_inf_future (GPR_CLOCK_REALTIME), NULL).type
         != GRPC_QUEUE_SHUTDOWN)
    ;
  g_clear_pointer (&self->server, grpc_server_destroy);
  g_clear_pointer (&self->cq, grpc_completion_queue_destroy);
}

static gboolean
bind_server (GroveGrpcServer *self, GError **error)
{
  grpc_arg args[2] = { { 0 } };
  grpc_channel_args channel_args = { G_N_ELEMENTS (args), args };
  g_autofree char *address = g_strconcat ("unix:", self->socket_path, NULL);
  grpc_server_credentials *credentials = NULL;
  int port;

  args[0].type = GRPC_ARG_INTEGER;
  args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  args[0].value.integer = GROVE_GRPC_MAX_MESSAGE_SIZE;
  args[1].type = GRPC_ARG_INTEGER;
  args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
  args[1].value.integer = GROVE_GRPC_MAX_MESSAGE_SIZE;
  self->cq = grpc_completion_queue_create_for_next (NULL);
  self->server = grpc_server_create (&channel_args, NULL);
  grpc_server_register_completion_queue (self->server, self->cq, NULL);
  credentials = grpc_insecure_server_credentials_create ();
  port = grpc_server_add_http2_port (self->server, address, credentials);
  grpc_server_credentials_release (credentials);
  if (port == 0)
    {
      destroy_unstarted (self);
      return grove_throw (error, GROVE_ERROR_FAILED, "gRPC cannot listen on %s", self->socket_path);
    }
  return TRUE;
}

static gboolean
start_server (GroveGrpcServer *self, GError **error)
{
  grpc_init ();
  self->grpc_initialized = TRUE;
  gpr_set_log_function (grpc_log_cb);
  if (!bind_server (self, error))
    return FALSE;
  grpc_server_start (self->server);
  self->source = g_source_new (&events_funcs, sizeof (GSource));
  g_source_set_name (self->source, "GroveGrpcServer events");
  g_source_set_callback (self->source, events_cb, self, NULL);
  g_source_attach (self->source, self->context);
  arm_request (self);
  self->thread = g_thread_new ("grove-grpc", queue_thread, self);
  /* the socket is for root and the group the admin gives it, as the runtime is root */
  if (chmod (self->socket_path, 0660) < 0)
    {
      int errsv = errno;
      grove_grpc_server_shutdown (self);
      return grove_throw_errno_code (error, errsv, "chmod %s", self->socket_path);
    }
  return TRUE;
}

/**
 * grove_grpc_server_new:
 * @socket_path: the unix socket to serve on (absolute)
 * @error: return location
 *
 * Takes the lock file `<socket_path>.lock` (creating the directory), then listens on
 * @socket_path (mode 0660; a stale socket file is replaced) with messages of up to
 * %GROVE_GRPC_MAX_MESSAGE_SIZE each way. Handlers run on the thread-default main context
 * of the caller; add methods before that context runs again. Calls to methods not added
 * get UNIMPLEMENTED. A socket whose lock another server holds fails with
 * %GROVE_ERROR_BUSY.
 *
 * Returns: (transfer full) (nullable): the serving server, or %NULL with @error set
 */
GroveGrpcServer *
grove_grpc_server_new (const char *socket_path, GError **error)
{
  g_autoptr (GroveGrpcServer) self = NULL;

  g_return_val_if_fail (socket_path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!g_path_is_absolute (socket_path))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT, "the socket path '%s' is not absolute",
                        socket_path),
           NULL;
  if (strlen (socket_path) >= sizeof (((struct sockaddr_un *)NULL)->sun_path))
    return grove_throw (error, GROVE_ERROR_INVALID_ARGUMENT,
                        "the socket path %s is longer than a unix socket address allows",
                        socket_path),
           NULL;
  self = g_object_new (GROVE_TYPE_GRPC_SERVER, NULL);
  self->socket_path = g_strdup (socket_path);
  self->context = g_main_context_ref_thread_default ();
  if (!take_lock (self, error) || !start_server (self, error))
    return NULL;
  g_debug ("serving gRPC on %s", socket_path);
  return g_steal_pointer (&self);
}

/**
 * grove_grpc_server_get_socket_path:
 * @self: a #GroveGrpcServer
 *
 * Returns: the socket the server listens on
 */
const char *
grove_grpc_server_get_socket_path (GroveGrpcServer *self)
{
  g_return_val_if_fail (GROVE_IS_GRPC_SERVER (self), NULL);
  return self->socket_path;
}

static void
add_method (GroveGrpcServer *self, const char *path, gboolean streaming, GroveGrpcHandler handler,
            gpointer user_data, GDestroyNotify destroy)
{
  Method *method = g_new0 (Method, 1);

  method->handler = handler;
  method->user_data = user_data;
  method->destroy = destroy;
  method->streaming = streaming;
  g_hash_table_insert (self->methods, g_strdup (path), method);
}

/**
 * grove_grpc_server_add_unary:
 * @self: a #GroveGrpcServer
 * @method: the full method path, `/package.Service/Method`
 * @handler: serves each call
 * @user_data: passed to @handler
 * @destroy: (nullable): frees @user_data with the server
 *
 * Serves @method, a method with one request and one response, with @handler.
 */
void
grove_grpc_server_add_unary (GroveGrpcServer *self, const char *method, GroveGrpcHandler handler,
                             gpointer user_data, GDestroyNotify destroy)
{
  g_return_if_fail (GROVE_IS_GRPC_SERVER (self));
  g_return_if_fail (method != NULL && method[0] == '/');
  g_return_if_fail (handler != NULL);
  g_return_if_fail (!g_hash_table_contains (self->methods, method));

  add_method (self, method, FALSE, handler, user_data, destroy);
}

/**
 * grove_grpc_server_add_server_stream:
 * @self: a #GroveGrpcServer
 * @method: the full method path, `/package.Service/Method`
 * @handler: serves each call
 * @user_data: passed to @handler
 * @destroy: (nullable): frees @user_data with the server
 *
 * Serves @method, a method with one request and a stream of responses, with @handler.
 */
void
grove_grpc_server_add_server_stream (GroveGrpcServer *self, const char *method,
                                     GroveGrpcHandler handler, gpointer user_data,
                                     GDestroyNotify destroy)
{
  g_return_if_fail (GROVE_IS_GRPC_SERVER (self));
  g_return_if_fail (method != NULL && method[0] == '/');
  g_return_if_fail (handler != NULL);
  g_return_if_fail (!g_hash_table_contains (self->methods, method));

  add_method (self, method, TRUE, handler, user_data, destroy);
}

/**
 * grove_grpc_server_get_n_calls:
 * @self: a #GroveGrpcServer
 *
 * Returns: how many calls are under way
 */
guint
grove_grpc_server_get_n_calls (GroveGrpcServer *self)
{
  g_return_val_if_fail (GROVE_IS_GRPC_SERVER (self), 0);
  return g_hash_table_size (self->calls);
}

/**
 * grove_grpc_server_shutdown:
 * @self: a #GroveGrpcServer
 *
 * Stops serving: calls under way are cancelled (their cancellables fire; answers given
 * later are ignored), the thread is joined, the socket removed and the lock released.
 * Takes milliseconds. Calling it again does nothing.
 */
void
grove_grpc_server_shutdown (GroveGrpcServer *self)
{
  gint64 start = g_get_monotonic_time ();
  Op *op;

  g_return_if_fail (GROVE_IS_GRPC_SERVER (self));
  if (self->server == NULL || self->thread == NULL)
    return;
  grpc_server_shutdown_and_notify (self->server, self->cq, op_new (OP_SHUTDOWN, NULL));
  grpc_server_cancel_all_calls (self->server);
  g_thread_join (g_steal_pointer (&self->thread));
  /* every operation has completed: what is left is answered by nobody */
  self->stopping = TRUE;
  while ((op = g_async_queue_try_pop (self->events)) != NULL)
    {
      g_autoptr (Op) done = op;
      handle_op (self, done);
    }
  g_hash_table_remove_all (self->calls);
  g_clear_pointer (&self->server, grpc_server_destroy);
  g_clear_pointer (&self->cq, grpc_completion_queue_destroy);
  if (self->source != NULL)
    g_source_destroy (self->source);
  g_clear_pointer (&self->source, g_source_unref);
  if (unlink (self->socket_path) < 0 && errno != ENOENT)
    g_warning ("removing %s: %s", self->socket_path, g_strerror (errno));
  grove_close_fd (&self->lock_fd);
  g_debug ("gRPC server on %s shut down in %" G_GINT64_FORMAT " us", self->socket_path,
           g_get_monotonic_time () - start);
}
