/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveCriService"

/*
 * CRI Exec, Attach and PortForward do not stream over gRPC: they check the request and
 * answer with a single-use URL of groved's streaming server, which the client connects to.
 */

#include "grove-cri-service-private.h"
#include "grove-stream-server.h"
#include "grove-utils.h"

/**
 * grove_cri_service_set_stream_server:
 * @self: a #GroveCriService
 * @server: (nullable): the streaming server Exec, Attach and PortForward hand out URLs of
 *
 * Without one, those calls are UNAVAILABLE.
 */
void
grove_cri_service_set_stream_server (GroveCriService *self, GroveStreamServer *server)
{
  g_return_if_fail (GROVE_IS_CRI_SERVICE (self));
  g_set_object (&self->stream_server, server);
}

static gboolean
check_server (GroveCriService *self, GroveGrpcCall *call)
{
  if (self->stream_server != NULL)
    return TRUE;
  grove_cri_reply_status (call, GROVE_GRPC_STATUS_UNAVAILABLE, "groved runs no streaming server");
  return FALSE;
}

/* a running container, or a reply saying why not */
static GroveContainer *
running_container (GroveCriService *self, GroveGrpcCall *call, const char *method, const char *id)
{
  g_autoptr (GError) local_error = NULL;
  GroveContainer *container = NULL;

  if (id == NULL || id[0] == '\0')
    return grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT,
                                   "%s: container_id is required", method),
           NULL;
  container = grove_engine_get_container (self->engine, id, &local_error);
  if (container == NULL)
    return grove_cri_reply_error (call, local_error), NULL;
  if (grove_container_get_state (container) != GROVE_CONTAINER_STATE_RUNNING)
    {
      grove_cri_reply_status (call, GROVE_GRPC_STATUS_FAILED_PRECONDITION,
                              "%s: container %s is not running", method,
                              grove_container_get_id (container));
      g_object_unref (container);
      return NULL;
    }
  return container;
}

/* kubelet's own rules for the streams a client may ask for */
static gboolean
check_streams (GroveGrpcCall *call, const char *method, gboolean in, gboolean out, gboolean err,
               gboolean tty)
{
  if (!in && !out && !err)
    return grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT,
                                   "%s: one of stdin, stdout and stderr must be set", method),
           FALSE;
  if (tty && err)
    return grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT,
                                   "%s: tty and stderr cannot both be set (a terminal has one "
                                   "output)",
                                   method),
           FALSE;
  return TRUE;
}

static void
handle_exec (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__ExecRequest *request = (const Runtime__V1__ExecRequest *)message;
  g_autoptr (GroveContainer) container = NULL;
  g_autofree char *url = NULL;
  g_auto (GStrv) argv = NULL;
  GroveStreamRequest stream = { .kind = GROVE_STREAM_EXEC };
  Runtime__V1__ExecResponse response = RUNTIME__V1__EXEC_RESPONSE__INIT;

  if (!check_server (self, call)
      || !check_streams (call, "Exec", request->stdin, request->stdout, request->stderr,
                         request->tty))
    return;
  if (request->n_cmd == 0 || request->cmd[0][0] == '\0')
    return grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT,
                                   "Exec: cmd is required");
  container = running_container (self, call, "Exec", request->container_id);
  if (container == NULL)
    return;
  argv = g_new0 (char *, request->n_cmd + 1);
  for (size_t i = 0; i < request->n_cmd; i++)
    argv[i] = g_strdup (request->cmd[i]);
  stream.target_id = (char *)grove_container_get_id (container);
  stream.argv = argv;
  stream.tty = request->tty;
  stream.stdin = request->stdin;
  stream.stdout = request->stdout;
  stream.stderr = request->stderr;
  url = grove_stream_server_add (self->stream_server, &stream);
  response.url = url;
  grove_cri_reply (call, &response.base);
}

static void
handle_attach (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__AttachRequest *request = (const Runtime__V1__AttachRequest *)message;
  g_autoptr (GroveContainer) container = NULL;
  g_autofree char *url = NULL;
  GroveStreamRequest stream = { .kind = GROVE_STREAM_ATTACH };
  Runtime__V1__AttachResponse response = RUNTIME__V1__ATTACH_RESPONSE__INIT;

  if (!check_server (self, call)
      || !check_streams (call, "Attach", request->stdin, request->stdout, request->stderr,
                         request->tty))
    return;
  container = running_container (self, call, "Attach", request->container_id);
  if (container == NULL)
    return;
  stream.target_id = (char *)grove_container_get_id (container);
  stream.tty = request->tty;
  stream.stdin = request->stdin;
  stream.stdout = request->stdout;
  stream.stderr = request->stderr;
  url = grove_stream_server_add (self->stream_server, &stream);
  response.url = url;
  grove_cri_reply (call, &response.base);
}

static void
handle_port_forward (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  const Runtime__V1__PortForwardRequest *request = (const Runtime__V1__PortForwardRequest *)message;
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GrovePod) pod = NULL;
  g_autofree guint16 *ports = NULL;
  g_autofree char *url = NULL;
  GroveStreamRequest stream = { .kind = GROVE_STREAM_PORT_FORWARD };
  Runtime__V1__PortForwardResponse response = RUNTIME__V1__PORT_FORWARD_RESPONSE__INIT;

  if (!check_server (self, call))
    return;
  pod = grove_engine_get_pod (self->engine, request->pod_sandbox_id, &local_error);
  if (pod == NULL)
    return grove_cri_reply_error (call, local_error);
  if (grove_pod_get_state (pod) != GROVE_POD_STATE_READY)
    return grove_cri_reply_status (call, GROVE_GRPC_STATUS_FAILED_PRECONDITION,
                                   "PortForward: pod %s is not ready", grove_pod_get_id (pod));
  ports = g_new0 (guint16, request->n_port + 1);
  for (size_t i = 0; i < request->n_port; i++)
    {
      if (request->port[i] <= 0 || request->port[i] > 65535)
        return grove_cri_reply_status (call, GROVE_GRPC_STATUS_INVALID_ARGUMENT,
                                       "PortForward: port %d is not 1 to 65535", request->port[i]);
      ports[i] = (guint16)request->port[i];
    }
  stream.target_id = (char *)grove_pod_get_id (pod);
  stream.ports = ports;
  stream.n_ports = request->n_port;
  url = grove_stream_server_add (self->stream_server, &stream);
  response.url = url;
  grove_cri_reply (call, &response.base);
}

const GroveCriMethod grove_cri_streaming_methods[] = {
  GROVE_CRI_RUNTIME_METHOD ("Exec", runtime__v1__exec_request, handle_exec),
  GROVE_CRI_RUNTIME_METHOD ("Attach", runtime__v1__attach_request, handle_attach),
  GROVE_CRI_RUNTIME_METHOD ("PortForward", runtime__v1__port_forward_request, handle_port_forward),
};

const guint grove_cri_n_streaming_methods = G_N_ELEMENTS (grove_cri_streaming_methods);
