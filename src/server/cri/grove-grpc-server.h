/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * GROVE_GRPC_MAX_MESSAGE_SIZE:
 *
 * The largest message a #GroveGrpcServer receives or sends: 16 MiB (gRPC's default
 * receive limit is 4 MiB, too small for big ListContainers answers).
 */
#define GROVE_GRPC_MAX_MESSAGE_SIZE (16 * 1024 * 1024)

/**
 * GroveGrpcStatus:
 * @GROVE_GRPC_STATUS_OK: success
 * @GROVE_GRPC_STATUS_CANCELLED: the caller cancelled
 * @GROVE_GRPC_STATUS_UNKNOWN: an error with no better code
 * @GROVE_GRPC_STATUS_INVALID_ARGUMENT: the request is malformed
 * @GROVE_GRPC_STATUS_DEADLINE_EXCEEDED: the call's deadline passed
 * @GROVE_GRPC_STATUS_NOT_FOUND: what the request names does not exist
 * @GROVE_GRPC_STATUS_ALREADY_EXISTS: what the request would create exists
 * @GROVE_GRPC_STATUS_PERMISSION_DENIED: the caller may not do this
 * @GROVE_GRPC_STATUS_RESOURCE_EXHAUSTED: out of a resource (a message too big)
 * @GROVE_GRPC_STATUS_FAILED_PRECONDITION: the object is not in a state that allows this
 * @GROVE_GRPC_STATUS_ABORTED: a conflict with another operation
 * @GROVE_GRPC_STATUS_OUT_OF_RANGE: a value past its range
 * @GROVE_GRPC_STATUS_UNIMPLEMENTED: the method is not served
 * @GROVE_GRPC_STATUS_INTERNAL: a broken invariant
 * @GROVE_GRPC_STATUS_UNAVAILABLE: try again later
 * @GROVE_GRPC_STATUS_DATA_LOSS: data lost or corrupted
 * @GROVE_GRPC_STATUS_UNAUTHENTICATED: the caller is not authenticated
 *
 * The gRPC status codes, with gRPC's numbers.
 */
typedef enum
{
  GROVE_GRPC_STATUS_OK = 0,
  GROVE_GRPC_STATUS_CANCELLED = 1,
  GROVE_GRPC_STATUS_UNKNOWN = 2,
  GROVE_GRPC_STATUS_INVALID_ARGUMENT = 3,
  GROVE_GRPC_STATUS_DEADLINE_EXCEEDED = 4,
  GROVE_GRPC_STATUS_NOT_FOUND = 5,
  GROVE_GRPC_STATUS_ALREADY_EXISTS = 6,
  GROVE_GRPC_STATUS_PERMISSION_DENIED = 7,
  GROVE_GRPC_STATUS_RESOURCE_EXHAUSTED = 8,
  GROVE_GRPC_STATUS_FAILED_PRECONDITION = 9,
  GROVE_GRPC_STATUS_ABORTED = 10,
  GROVE_GRPC_STATUS_OUT_OF_RANGE = 11,
  GROVE_GRPC_STATUS_UNIMPLEMENTED = 12,
  GROVE_GRPC_STATUS_INTERNAL = 13,
  GROVE_GRPC_STATUS_UNAVAILABLE = 14,
  GROVE_GRPC_STATUS_DATA_LOSS = 15,
  GROVE_GRPC_STATUS_UNAUTHENTICATED = 16,
} GroveGrpcStatus;

#define GROVE_TYPE_GRPC_CALL (grove_grpc_call_get_type ())
G_DECLARE_FINAL_TYPE (GroveGrpcCall, grove_grpc_call, GROVE, GRPC_CALL, GObject)

#define GROVE_TYPE_GRPC_SERVER (grove_grpc_server_get_type ())
G_DECLARE_FINAL_TYPE (GroveGrpcServer, grove_grpc_server, GROVE, GRPC_SERVER, GObject)

/**
 * GroveGrpcHandler:
 * @call: the call; take a reference to answer it after returning
 * @request: the request message's bytes (serialised protobuf)
 * @user_data: what the method was added with
 *
 * Serves one call of a method, on the main context the server was made in. A unary
 * method answers once with grove_grpc_call_return_message() or
 * grove_grpc_call_return_status(); a server-streaming method sends any number of
 * messages with grove_grpc_call_send_message() and ends with
 * grove_grpc_call_return_status(). Either may answer at once or later.
 */
typedef void (*GroveGrpcHandler) (GroveGrpcCall *call, GBytes *request, gpointer user_data);

GroveGrpcServer *grove_grpc_server_new (const char *socket_path, GError **error);
const char *grove_grpc_server_get_socket_path (GroveGrpcServer *self);
void grove_grpc_server_add_unary (GroveGrpcServer *self, const char *method,
                                  GroveGrpcHandler handler, gpointer user_data,
                                  GDestroyNotify destroy);
void grove_grpc_server_add_server_stream (GroveGrpcServer *self, const char *method,
                                          GroveGrpcHandler handler, gpointer user_data,
                                          GDestroyNotify destroy);
guint grove_grpc_server_get_n_calls (GroveGrpcServer *self);
void grove_grpc_server_shutdown (GroveGrpcServer *self);

const char *grove_grpc_call_get_method (GroveGrpcCall *self);
GCancellable *grove_grpc_call_get_cancellable (GroveGrpcCall *self);
gint64 grove_grpc_call_get_deadline (GroveGrpcCall *self);
gboolean grove_grpc_call_is_finished (GroveGrpcCall *self);
void grove_grpc_call_return_message (GroveGrpcCall *self, GBytes *response);
void grove_grpc_call_return_status (GroveGrpcCall *self, GroveGrpcStatus status,
                                    const char *message);
void grove_grpc_call_return_status_full (GroveGrpcCall *self, GroveGrpcStatus status,
                                         const char *message, GBytes *details);
gboolean grove_grpc_call_send_message (GroveGrpcCall *self, GBytes *message);
guint grove_grpc_call_get_n_queued (GroveGrpcCall *self);

G_END_DECLS
