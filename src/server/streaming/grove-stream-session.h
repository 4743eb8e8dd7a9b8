/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "grove-engine.h"

G_BEGIN_DECLS

/**
 * GroveStreamChannel:
 * @GROVE_STREAM_STDIN: what the client types
 * @GROVE_STREAM_STDOUT: the process's output
 * @GROVE_STREAM_STDERR: its error output
 * @GROVE_STREAM_ERROR: the final status (Kubernetes remote command protocol v4: JSON)
 * @GROVE_STREAM_RESIZE: terminal size changes, JSON `{"Width": W, "Height": H}`
 *
 * The channels of an exec or attach session, numbered as the Kubernetes WebSocket channel
 * protocol numbers them. A port-forward session uses 2 * i for the data and 2 * i + 1 for
 * the errors of its i-th port.
 */
typedef enum
{
  GROVE_STREAM_STDIN = 0,
  GROVE_STREAM_STDOUT = 1,
  GROVE_STREAM_STDERR = 2,
  GROVE_STREAM_ERROR = 3,
  GROVE_STREAM_RESIZE = 4,
} GroveStreamChannel;

/**
 * GroveStreamKind:
 * @GROVE_STREAM_EXEC: a new process in a container
 * @GROVE_STREAM_ATTACH: a running container's own stdio
 * @GROVE_STREAM_PORT_FORWARD: TCP connections to ports in a pod's network namespace
 */
typedef enum
{
  GROVE_STREAM_EXEC,
  GROVE_STREAM_ATTACH,
  GROVE_STREAM_PORT_FORWARD,
} GroveStreamKind;

/**
 * GroveStreamRequest:
 * @kind: what the session does
 * @target_id: the container (exec, attach) or pod (port-forward)
 * @argv: (nullable): the command (exec)
 * @tty: a terminal
 * @stdin: the client sends input
 * @stdout: the client wants the output
 * @stderr: the client wants the error output apart (no terminal)
 * @ports: (nullable): the ports (port-forward)
 * @n_ports: how many
 *
 * What a CRI Exec, Attach or PortForward call asked for; the token in its URL stands for it.
 */
typedef struct
{
  GroveStreamKind kind;
  char *target_id;
  char **argv;
  gboolean tty;
  gboolean stdin;
  gboolean stdout;
  gboolean stderr;
  guint16 *ports;
  guint n_ports;
} GroveStreamRequest;

GroveStreamRequest *grove_stream_request_copy (const GroveStreamRequest *request);
void grove_stream_request_free (GroveStreamRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GroveStreamRequest, grove_stream_request_free)

#define GROVE_TYPE_STREAM_SESSION (grove_stream_session_get_type ())
G_DECLARE_FINAL_TYPE (GroveStreamSession, grove_stream_session, GROVE, STREAM_SESSION, GObject)

GroveStreamSession *grove_stream_session_new (GroveEngine *engine,
                                              const GroveStreamRequest *request);
const GroveStreamRequest *grove_stream_session_get_request (GroveStreamSession *self);
void grove_stream_session_start (GroveStreamSession *self, gboolean json_status);
void grove_stream_session_receive (GroveStreamSession *self, guint channel, GBytes *data);
void grove_stream_session_channel_closed (GroveStreamSession *self, guint channel);
void grove_stream_session_client_gone (GroveStreamSession *self);
gboolean grove_stream_session_is_finished (GroveStreamSession *self);

GSocketConnection *grove_stream_dial (const char *netns, guint16 port, GError **error);

G_END_DECLS
