/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveTestGrpcServer"

/*
 * GroveGrpcServer on a real unix socket, driven by a gRPC C-core client that runs in a
 * thread of its own while the test's main context serves: unary and streaming calls,
 * unknown methods, error statuses with details, deadlines, 16 MiB messages, shutdown with
 * a call under way and the socket's lock.
 */

#include <string.h>
#include <sys/stat.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "grove-error.h"
#include "grove-grpc-server.h"
#include "grove-test-utils.h"

#define ECHO "/grove.test.Echo/Echo"
#define STREAM "/grove.test.Echo/Count"
#define FAIL "/grove.test.Echo/Fail"
#define HOLD "/grove.test.Echo/Hold"

typedef struct
{
  char *tmpdir;
  char *socket_path;
  GroveGrpcServer *server;
  GThread *main_thread;
  GPtrArray *held;     /* GroveGrpcCall the Hold handler keeps */
  guint n_cancelled;   /* cancellables of held calls that fired */
  guint handler_calls; /* calls that reached any handler */
} Fixture;

/* one client call: what to send and, once done, what came back */
typedef struct
{
  char *target;
  const char *method;
  GBytes *request;
  guint timeout_ms;     /* 0: no deadline */
  GPtrArray *responses; /* GBytes */
  int status;
  char *message;
  GBytes *details; /* the grpc-status-details-bin trailer */
  gint64 elapsed_us;
  gint done;
} ClientCall;

static void
client_call_free (ClientCall *call)
{
  g_free (call->target);
  g_clear_pointer (&call->request, g_bytes_unref);
  g_clear_pointer (&call->responses, g_ptr_array_unref);
  g_free (call->message);
  g_clear_pointer (&call->details, g_bytes_unref);
  g_free (call);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ClientCall, client_call_free)

static ClientCall *
client_call_new (Fixture *fx, const char *method, GBytes *request, guint timeout_ms)
{
  ClientCall *call = g_new0 (ClientCall, 1);

  call->target = g_strconcat ("unix:", fx->socket_path, NULL);
  call->method = method;
  call->request = g_bytes_ref (request);
  call->timeout_ms = timeout_ms;
  call->responses = g_ptr_array_new_with_free_func ((GDestroyNotify)g_bytes_unref);
  call->status = -1;
  return call;
}

/* slice by slice, unlike the server's readall */
static GBytes *
client_bytes (grpc_byte_buffer *buffer)
{
  g_autoptr (GByteArray) data = g_byte_array_new ();
  grpc_byte_buffer_reader reader;
  grpc_slice slice;

  g_assert_true (grpc_byte_buffer_reader_init (&reader, buffer));
  while (grpc_byte_buffer_reader_next (&reader, &slice))
    {
      g_byte_array_append (data, GRPC_SLICE_START_PTR (slice), GRPC_SLICE_LENGTH (slice));
      grpc_slice_unref (slice);
    }
  grpc_byte_buffer_reader_destroy (&reader);
  return g_byte_array_free_to_bytes (g_steal_pointer (&data));
}

static void
client_batch (grpc_call *call, grpc_completion_queue *cq, const grpc_op *ops, size_t n, void *tag)
{
  g_assert_cmpint (grpc_call_start_batch (call, ops, n, tag, NULL), ==, GRPC_CALL_OK);
  grpc_completion_queue_pluck (cq, tag, gpr_inf_future (GPR_CLOCK_REALTIME), NULL);
}

static void
client_send (ClientCall *cc, grpc_call *call, grpc_completion_queue *cq)
{
  grpc_slice slice = grpc_slice_from_copied_buffer (g_bytes_get_data (cc->request, NULL),
                                                    g_bytes_get_size (cc->request));
  grpc_byte_buffer *buffer = grpc_raw_byte_buffer_create (&slice, 1);
  grpc_metadata_array initial;
  grpc_op ops[4];

  memset (ops, 0, sizeof ops);
  grpc_metadata_array_init (&initial);
  ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
  ops[1].op = GRPC_OP_SEND_MESSAGE;
  ops[1].data.send_message.send_message = buffer;
  ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
  ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
  ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
  client_batch (call, cq, ops, 4, (void *)1);
  grpc_metadata_array_destroy (&initial);
  grpc_byte_buffer_destroy (buffer);
  grpc_slice_unref (slice);
}

static void
client_receive (ClientCall *cc, grpc_call *call, grpc_completion_queue *cq)
{
  for (;;)
    {
      grpc_byte_buffer *message = NULL;
      grpc_op op = { 0 };
      op.op = GRPC_OP_RECV_MESSAGE;
      op.data.recv_message.recv_message = &message;
      client_batch (call, cq, &op, 1, (void *)2);
      if (message == NULL)
        break;
      g_ptr_array_add (cc->responses, client_bytes (message));
      grpc_byte_buffer_destroy (message);
    }
}

static void
client_status (ClientCall *cc, grpc_call *call, grpc_completion_queue *cq)
{
  grpc_metadata_array trailing;
  grpc_status_code status = GRPC_STATUS_OK;
  grpc_slice details = grpc_empty_slice ();
  grpc_op op = { 0 };

  grpc_metadata_array_init (&trailing);
  op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
  op.data.recv_status_on_client.trailing_metadata = &trailing;
  op.data.recv_status_on_client.status = &status;
  op.data.recv_status_on_client.status_details = &details;
  client_batch (call, cq, &op, 1, (void *)3);
  cc->status = status;
  cc->message
      = g_strndup ((const char *)GRPC_SLICE_START_PTR (details), GRPC_SLICE_LENGTH (details));
  for (size_t i = 0; i < trailing.count; i++)
    if (grpc_slice_str_cmp (trailing.metadata[i].key, "grpc-status-details-bin") == 0)
      cc->details = g_bytes_new (GRPC_SLICE_START_PTR (trailing.metadata[i].value),
                                 GRPC_SLICE_LENGTH (trailing.metadata[i].value));
  grpc_slice_unref (details);
  grpc_metadata_array_destroy (&trailing);
}

static grpc_channel *
client_channel (const char *target)
{
  grpc_arg arg = { 0 };
  grpc_channel_args args = { 1, &arg };
  grpc_channel_credentials *credentials = grpc_insecure_credentials_create ();
  grpc_channel *channel;

  /* the client may receive more than the server sends, to see the server's limit */
  arg.type = GRPC_ARG_INTEGER;
  arg.key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
  arg.value.integer = 64 * 1024 * 1024;
  channel = grpc_channel_create (target, credentials, &args);
  grpc_channel_credentials_release (credentials);
  return channel;
}

static gpointer
client_thread (gpointer data)
{
  ClientCall *cc = data;
  grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck (NULL);
  grpc_channel *channel = client_channel (cc->target);
  grpc_slice method = grpc_slice_from_copied_string (cc->method);
  gpr_timespec deadline = gpr_inf_future (GPR_CLOCK_REALTIME);
  gint64 start = g_get_monotonic_time ();
  grpc_call *call;

  if (cc->timeout_ms > 0)
    deadline = gpr_time_add (gpr_now (GPR_CLOCK_MONOTONIC),
                             gpr_time_from_millis (cc->timeout_ms, GPR_TIMESPAN));
  call = grpc_channel_create_call (channel, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL,
                                   deadline, NULL);
  client_send (cc, call, cq);
  client_receive (cc, call, cq);
  client_status (cc, call, cq);
  cc->elapsed_us = g_get_monotonic_time () - start;
  grpc_call_unref (call);
  grpc_slice_unref (method);
  grpc_channel_destroy (channel);
  grpc_completion_queue_shutdown (cq);
  while (grpc_completion_queue_pluck (cq, NULL, gpr_inf_future (GPR_CLOCK_REALTIME), NULL).type
         != GRPC_QUEUE_SHUTDOWN)
    ;
  grpc_completion_queue_destroy (cq);
  g_atomic_int_set (&cc->done, 1);
  g_main_context_wakeup (NULL);
  return NULL;
}

/* runs the call in a thread while the main context serves; returns once it is done */
static void
client_call_wait (ClientCall *cc, GThread *thread)
{
  while (!g_atomic_int_get (&cc->done))
    g_main_context_iteration (NULL, TRUE);
  g_thread_join (thread);
}

static ClientCall *
call_sync (Fixture *fx, const char *method, GBytes *request, guint timeout_ms)
{
  ClientCall *cc = client_call_new (fx, method, request, timeout_ms);

  client_call_wait (cc, g_thread_new ("client", client_thread, cc));
  return cc;
}

static GBytes *
text_bytes (const char *text)
{
  return g_bytes_new (text, strlen (text));
}

static gboolean
bytes_equal_text (GBytes *bytes, const char *text)
{
  return g_bytes_get_size (bytes) == strlen (text)
         && memcmp (g_bytes_get_data (bytes, NULL), text, strlen (text)) == 0;
}

/* Handlers */

static void
echo_cb (GroveGrpcCall *call, GBytes *request, gpointer user_data)
{
  Fixture *fx = user_data;

  g_assert_true (g_thread_self () == fx->main_thread);
  g_assert_cmpstr (grove_grpc_call_get_method (call), ==, ECHO);
  fx->handler_calls++;
  grove_grpc_call_return_message (call, request);
}

typedef struct
{
  GroveGrpcCall *call;
  guint left;
  guint sent;
} Counter;

static gboolean
count_cb (gpointer user_data)
{
  Counter *counter = user_data;
  g_autofree char *text = NULL;
  g_autoptr (GBytes) message = NULL;

  if (counter->left == 0)
    {
      grove_grpc_call_return_status (counter->call, GROVE_GRPC_STATUS_OK, NULL);
      g_object_unref (counter->call);
      g_free (counter);
      return G_SOURCE_REMOVE;
    }
  text = g_strdup_printf ("message %u", counter->sent++);
  message = text_bytes (text);
  g_assert_true (grove_grpc_call_send_message (counter->call, message));
  counter->left--;
  return G_SOURCE_CONTINUE;
}

/* the request is the number of messages to send, one per main-loop turn */
static void
stream_cb (GroveGrpcCall *call, GBytes *request, gpointer user_data)
{
  Fixture *fx = user_data;
  g_autofree char *text = g_strndup (g_bytes_get_data (request, NULL), g_bytes_get_size (request));
  Counter *counter = g_new0 (Counter, 1);

  fx->handler_calls++;
  counter->call = g_object_ref (call);
  counter->left = (guint)g_ascii_strtoull (text, NULL, 10);
  g_idle_add (count_cb, counter);
}

static void
fail_cb (GroveGrpcCall *call, GBytes *request, gpointer user_data)
{
  Fixture *fx = user_data;
  g_autoptr (GBytes) details = text_bytes ("\x08\x05\x12\x03why");

  fx->handler_calls++;
  grove_grpc_call_return_status_full (call, GROVE_GRPC_STATUS_NOT_FOUND, "no such thing 'nothing'",
                                      details);
}

static void
held_cancelled_cb (GCancellable *cancellable, gpointer user_data)
{
  Fixture *fx = user_data;

  g_assert_true (g_thread_self () == fx->main_thread);
  fx->n_cancelled++;
}

/* keeps the call unanswered until the test decides */
static void
hold_cb (GroveGrpcCall *call, GBytes *request, gpointer user_data)
{
  Fixture *fx = user_data;

  fx->handler_calls++;
  g_cancellable_connect (grove_grpc_call_get_cancellable (call), G_CALLBACK (held_cancelled_cb), fx,
                         NULL);
  g_ptr_array_add (fx->held, g_object_ref (call));
}

static GroveGrpcServer *
server_new (Fixture *fx)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveGrpcServer) server = grove_grpc_server_new (fx->socket_path, &error);

  g_assert_no_error (error);
  grove_grpc_server_add_unary (server, ECHO, echo_cb, fx, NULL);
  grove_grpc_server_add_server_stream (server, STREAM, stream_cb, fx, NULL);
  grove_grpc_server_add_unary (server, FAIL, fail_cb, fx, NULL);
  grove_grpc_server_add_unary (server, HOLD, hold_cb, fx, NULL);
  return g_steal_pointer (&server);
}

static void
fixture_setup (Fixture *fx, gconstpointer data)
{
  fx->tmpdir = grove_test_make_tmpdir ();
  fx->socket_path = g_build_filename (fx->tmpdir, "run", "grpc.sock", NULL);
  fx->main_thread = g_thread_self ();
  fx->held = g_ptr_array_new_with_free_func (g_object_unref);
  fx->server = server_new (fx);
}

static void
fixture_teardown (Fixture *fx, gconstpointer data)
{
  if (fx->server != NULL)
    grove_grpc_server_shutdown (fx->server);
  g_clear_object (&fx->server);
  g_clear_pointer (&fx->held, g_ptr_array_unref);
  grove_test_rm_rf (fx->tmpdir);
  g_clear_pointer (&fx->tmpdir, g_free);
  g_clear_pointer (&fx->socket_path, g_free);
}

/* Tests */

static gboolean
wait_for (guint *counter, guint want, guint timeout_ms)
{
  gint64 end = g_get_monotonic_time () + timeout_ms * 1000;

  while (*counter < want && g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
  return *counter >= want;
}

/* the server learns that a call is over a moment after the client */
static gboolean
wait_no_calls (Fixture *fx)
{
  gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (grove_grpc_server_get_n_calls (fx->server) > 0 && g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
  return grove_grpc_server_get_n_calls (fx->server) == 0;
}

static void
test_unary (Fixture *fx, gconstpointer data)
{
  g_autoptr (GBytes) request = text_bytes ("hello over gRPC");
  g_autoptr (ClientCall) cc = call_sync (fx, ECHO, request, 10000);
  g_autoptr (GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr (ClientCall) empty_cc = NULL;
  struct stat st;

  g_assert_cmpint (cc->status, ==, GROVE_GRPC_STATUS_OK);
  g_assert_cmpuint (cc->responses->len, ==, 1);
  g_assert_true (g_bytes_equal (cc->responses->pdata[0], request));
  /* an empty message is a valid one (a protobuf message with every field unset) */
  empty_cc = call_sync (fx, ECHO, empty, 10000);
  g_assert_cmpint (empty_cc->status, ==, GROVE_GRPC_STATUS_OK);
  g_assert_cmpuint (empty_cc->responses->len, ==, 1);
  g_assert_cmpuint (g_bytes_get_size (empty_cc->responses->pdata[0]), ==, 0);
  g_assert_cmpuint (fx->handler_calls, ==, 2);
  g_assert_true (wait_no_calls (fx));
  g_assert_cmpint (stat (fx->socket_path, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));
  g_assert_cmpint (st.st_mode & 07777, ==, 0660);
}

static void
test_stream (Fixture *fx, gconstpointer data)
{
  g_autoptr (GBytes) request = text_bytes ("250");
  g_autoptr (ClientCall) cc = call_sync (fx, STREAM, request, 10000);
  g_autoptr (GBytes) none = text_bytes ("0");
  g_autoptr (ClientCall) empty_cc = NULL;

  g_assert_cmpint (cc->status, ==, GROVE_GRPC_STATUS_OK);
  g_assert_cmpuint (cc->responses->len, ==, 250);
  for (guint i = 0; i < cc->responses->len; i++)
    {
      g_autofree char *want = g_strdup_printf ("message %u", i);
      g_assert_true (bytes_equal_text (cc->responses->pdata[i], want));
    }
  /* a stream may end without any message */
  empty_cc = call_sync (fx, STREAM, none, 10000);
  g_assert_cmpint (empty_cc->status, ==, GROVE_GRPC_STATUS_OK);
  g_assert_cmpuint (empty_cc->responses->len, ==, 0);
}

static void
test_unimplemented (Fixture *fx, gconstpointer data)
{
  g_autoptr (GBytes) request = text_bytes ("x");
  g_autoptr (ClientCall) cc = call_sync (fx, "/grove.test.Echo/Nothing", request, 30000);

  g_assert_cmpint (cc->status, ==, GROVE_GRPC_STATUS_UNIMPLEMENTED);
  g_assert_nonnull (strstr (cc->message, "/grove.test.Echo/Nothing"));
  g_assert_cmpuint (cc->responses->len, ==, 0);
  /* at once, not at the deadline */
  g_assert_cmpint (cc->elapsed_us, <, G_USEC_PER_SEC);
  g_assert_cmpuint (fx->handler_calls, ==, 0);
  /* and the server goes on serving */
  g_clear_pointer (&cc, client_call_free);
  cc = call_sync (fx, ECHO, request, 10000);
  g_assert_cmpint (cc->status, ==, GROVE_GRPC_STATUS_OK);
}

static void
test_error_status (Fixture *fx, gconstpointer data)
{
  g_autoptr (GBytes) request = text_bytes ("x");
  g_autoptr (ClientCall) cc = call_sync (fx, FAIL, request, 10000);

  g_assert_cmpint (cc->status, ==, GROVE_GRPC_STATUS_NOT_FOUND);
  g_assert_cmpstr (cc->message, ==, "no such thing 'nothing'");
  g_assert_cmpuint (cc->responses->len, ==, 0);
  g_assert_nonnull (cc->details);
  g_assert_true (bytes_equal_text (cc->details, "\x08\x05\x12\x03why"));
}

static void
test_deadline (Fixture *fx, gconstpointer data)
{
  g_autoptr (GBytes) request = text_bytes ("x");
  g_autoptr (ClientCall) cc = call_sync (fx, HOLD, request, 300);
  g_autoptr (GBytes) late = text_bytes ("too late");
  GroveGrpcCall *held;

  g_assert_cmpint (cc->status, ==, GROVE_GRPC_STATUS_DEADLINE_EXCEEDED);
  g_assert_cmpint (cc->elapsed_us, >=, 250 * 1000);
  g_assert_cmpuint (fx->held->len, ==, 1);
  held = fx->held->pdata[0];
  g_assert_cmpint (grove_grpc_call_get_deadline (held), <,
                   g_get_monotonic_time () + G_USEC_PER_SEC);
  /* the server sees the deadline pass too, and the handler's cancellable fires */
  g_assert_true (wait_for (&fx->n_cancelled, 1, 5000));
  g_assert_true (g_cancellable_is_cancelled (grove_grpc_call_get_cancellable (held)));
  g_assert_true (grove_grpc_call_is_finished (held));
  /* an answer after that is ignored */
  grove_grpc_call_return_message (held, late);
  g_assert_true (wait_no_calls (fx));
}

static void
test_big_message (Fixture *fx, gconstpointer data)
{
  gsize size = GROVE_GRPC_MAX_MESSAGE_SIZE;
  g_autofree guint8 *payload = g_malloc (size + 1);
  g_autoptr (GBytes) request = NULL;
  g_autoptr (GBytes) too_big = NULL;
  g_autoptr (ClientCall) cc = NULL;

  for (gsize i = 0; i < size + 1; i++)
    payload[i] = (guint8)(i * 7 + i / 4093);
  request = g_bytes_new (payload, size);
  too_big = g_bytes_new (payload, size + 1);
  cc = call_sync (fx, ECHO, request, 30000);
  g_assert_cmpint (cc->status, ==, GROVE_GRPC_STATUS_OK);
  g_assert_cmpuint (cc->responses->len, ==, 1);
  g_assert_true (g_bytes_equal (cc->responses->pdata[0], request));
  /* one byte more is refused before any handler sees it */
  g_clear_pointer (&cc, client_call_free);
  cc = call_sync (fx, ECHO, too_big, 30000);
  g_assert_cmpint (cc->status, ==, GROVE_GRPC_STATUS_RESOURCE_EXHAUSTED);
  g_assert_cmpuint (fx->handler_calls, ==, 1);
}

static void
test_shutdown_in_flight (Fixture *fx, gconstpointer data)
{
  g_autoptr (GBytes) request = text_bytes ("x");
  g_autoptr (GBytes) late = text_bytes ("too late");
  g_autoptr (ClientCall) cc = client_call_new (fx, HOLD, request, 30000);
  GThread *thread = g_thread_new ("client", client_thread, cc);
  gint64 start;

  g_assert_true (wait_for (&fx->handler_calls, 1, 10000));
  g_assert_cmpuint (grove_grpc_server_get_n_calls (fx->server), ==, 1);
  start = g_get_monotonic_time ();
  grove_grpc_server_shutdown (fx->server);
  g_test_message ("shutdown with a call under way took %" G_GINT64_FORMAT " us",
                  g_get_monotonic_time () - start);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC / 2);
  /* the call was cancelled and its cancellable fired; the socket is gone */
  g_assert_cmpuint (fx->n_cancelled, ==, 1);
  g_assert_true (grove_grpc_call_is_finished (fx->held->pdata[0]));
  g_assert_false (g_file_test (fx->socket_path, G_FILE_TEST_EXISTS));
  grove_grpc_call_return_message (fx->held->pdata[0], late);
  client_call_wait (cc, thread);
  g_assert_cmpint (cc->status, !=, GROVE_GRPC_STATUS_OK);
  g_assert_cmpint (cc->elapsed_us, <, 10 * G_USEC_PER_SEC);
  g_test_message ("the client saw status %d: %s", cc->status, cc->message);
  g_assert_cmpuint (grove_grpc_server_get_n_calls (fx->server), ==, 0);
  /* shutting down again does nothing */
  grove_grpc_server_shutdown (fx->server);
}

static void
test_lock (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GroveGrpcServer) second = grove_grpc_server_new (fx->socket_path, &error);
  g_autoptr (GBytes) request = text_bytes ("still here");
  g_autoptr (ClientCall) cc = NULL;

  g_assert_null (second);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, fx->socket_path));
  /* the first one keeps its socket and serves */
  cc = call_sync (fx, ECHO, request, 10000);
  g_assert_cmpint (cc->status, ==, GROVE_GRPC_STATUS_OK);
  g_assert_true (g_bytes_equal (cc->responses->pdata[0], request));
  /* once it is gone, the socket can be served again */
  grove_grpc_server_shutdown (fx->server);
  g_clear_object (&fx->server);
  g_clear_error (&error);
  fx->server = server_new (fx);
  g_clear_pointer (&cc, client_call_free);
  cc = call_sync (fx, ECHO, request, 10000);
  g_assert_cmpint (cc->status, ==, GROVE_GRPC_STATUS_OK);
}

static void
test_bad_path (Fixture *fx, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *long_path = g_strnfill (120, 'x');
  g_autofree char *too_long = g_build_filename (fx->tmpdir, long_path, NULL);
  g_autofree char *dir_path = g_build_filename (fx->tmpdir, "a-directory", NULL);
  g_autoptr (GroveGrpcServer) server = grove_grpc_server_new ("relative.sock", &error);

  g_assert_null (server);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  server = grove_grpc_server_new (too_long, &error);
  g_assert_null (server);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  /* a directory in the socket's place cannot be replaced by a socket */
  g_assert_cmpint (mkdir (dir_path, 0755), ==, 0);
  server = grove_grpc_server_new (dir_path, &error);
  g_assert_null (server);
  g_assert_error (error, GROVE_ERROR, GROVE_ERROR_FAILED);
  g_assert_true (g_file_test (dir_path, G_FILE_TEST_IS_DIR));
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  grpc_init ();
  g_test_add ("/grove/grpc-server/unary", Fixture, NULL, fixture_setup, test_unary,
              fixture_teardown);
  g_test_add ("/grove/grpc-server/stream", Fixture, NULL, fixture_setup, test_stream,
              fixture_teardown);
  g_test_add ("/grove/grpc-server/unimplemented", Fixture, NULL, fixture_setup, test_unimplemented,
              fixture_teardown);
  g_test_add ("/grove/grpc-server/error-status", Fixture, NULL, fixture_setup, test_error_status,
              fixture_teardown);
  g_test_add ("/grove/grpc-server/deadline", Fixture, NULL, fixture_setup, test_deadline,
              fixture_teardown);
  g_test_add ("/grove/grpc-server/big-message", Fixture, NULL, fixture_setup, test_big_message,
              fixture_teardown);
  g_test_add ("/grove/grpc-server/shutdown-in-flight", Fixture, NULL, fixture_setup,
              test_shutdown_in_flight, fixture_teardown);
  g_test_add ("/grove/grpc-server/lock", Fixture, NULL, fixture_setup, test_lock, fixture_teardown);
  g_test_add ("/grove/grpc-server/bad-path", Fixture, NULL, fixture_setup, test_bad_path,
              fixture_teardown);
  status = g_test_run ();
  grpc_shutdown ();
  return status;
}
