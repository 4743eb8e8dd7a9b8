/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "api.pb-c.h"
#include "grove-cri-service.h"
#include "grove-stream-server.h"

G_BEGIN_DECLS

struct _GroveCriService
{
  GObject parent_instance;
  GroveEngine *engine;
  char *pod_cidr;                   /* from UpdateRuntimeConfig; NULL until kubelet sets it */
  char *default_registry;           /* where short names are pulled from; NULL for none */
  GHashTable *cpu_seen;             /* container ID → CpuSample: the last CPU figures read */
  GPtrArray *event_calls;           /* GroveGrpcCall of GetContainerEvents streams */
  GHashTable *states;               /* container ID → its last state, to name the events */
  GroveStreamServer *stream_server; /* where Exec, Attach and PortForward send clients */
};

typedef void (*GroveCriHandler) (GroveCriService *self, GroveGrpcCall *call,
                                 const ProtobufCMessage *request);

/* one RPC: its path, its request's type, and what serves it */
typedef struct
{
  const char *path;
  const ProtobufCMessageDescriptor *request;
  GroveCriHandler handler;
  gboolean stream; /* a server stream: the handler sends messages, then ends the call */
} GroveCriMethod;

#define GROVE_CRI_RUNTIME_METHOD(name, request, handler)                                           \
  {                                                                                                \
    GROVE_CRI_RUNTIME_SERVICE name, &request##__descriptor, handler, FALSE                         \
  }
#define GROVE_CRI_RUNTIME_STREAM(name, request, handler)                                           \
  {                                                                                                \
    GROVE_CRI_RUNTIME_SERVICE name, &request##__descriptor, handler, TRUE                          \
  }
#define GROVE_CRI_IMAGE_METHOD(name, request, handler)                                             \
  {                                                                                                \
    GROVE_CRI_IMAGE_SERVICE name, &request##__descriptor, handler, FALSE                           \
  }

/* the methods of each part of the service, for grove_cri_service_register() */
extern const GroveCriMethod grove_cri_pod_methods[];
extern const guint grove_cri_n_pod_methods;
extern const GroveCriMethod grove_cri_container_methods[];
extern const guint grove_cri_n_container_methods;
extern const GroveCriMethod grove_cri_stats_methods[];
extern const guint grove_cri_n_stats_methods;
extern const GroveCriMethod grove_cri_event_methods[];
extern const guint grove_cri_n_event_methods;
extern const GroveCriMethod grove_cri_streaming_methods[];
extern const guint grove_cri_n_streaming_methods;
extern const GroveCriMethod grove_cri_metric_methods[];
extern const guint grove_cri_n_metric_methods;

/* arena: memory a response points into, freed after packing */
gpointer grove_cri_arena_keep (GPtrArray *arena, gpointer data);
char *grove_cri_arena_strdup (GPtrArray *arena, const char *text);
char **grove_cri_arena_strv (GPtrArray *arena, const char *const *strv, size_t *n_out);
GPtrArray *grove_cri_arena_new_array (void);
#define grove_cri_arena_new(arena, Type, init)                                                     \
  ((Type *)grove_cri_arena_keep ((arena), g_memdup2 (&(Type)init, sizeof (Type))))

void grove_cri_reply (GroveGrpcCall *call, const ProtobufCMessage *message);
void grove_cri_reply_error (GroveGrpcCall *call, const GError *error);
void grove_cri_reply_status (GroveGrpcCall *call, GroveGrpcStatus status, const char *format, ...)
    G_GNUC_PRINTF (3, 4);
gpointer grove_cri_info_map (GPtrArray *arena, const ProtobufCMessageDescriptor *entry_descriptor,
                             char *json, size_t *n_out);
gpointer grove_cri_string_map (GPtrArray *arena, const ProtobufCMessageDescriptor *entry_descriptor,
                               JsonObject *object, size_t *n_out);
GHashTable *grove_cri_selector (ProtobufCMessage **entries, size_t n_entries);
char *grove_cri_json_text (JsonBuilder *builder);
GBytes *grove_cri_pack (const ProtobufCMessage *message);

/* a call answered later: the service and the call, kept alive until then */
typedef struct
{
  GroveCriService *self;
  GroveGrpcCall *call;
} GroveCriAsyncCall;

GroveCriAsyncCall *grove_cri_async_call_new (GroveCriService *self, GroveGrpcCall *call);
void grove_cri_async_call_free (GroveCriAsyncCall *async_call);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GroveCriAsyncCall, grove_cri_async_call_free)

/* shared by the pod, container and event parts */
Runtime__V1__PodSandboxStatus *grove_cri_pod_status (GPtrArray *arena, GrovePod *pod);
Runtime__V1__ContainerStatus *grove_cri_container_status (GPtrArray *arena,
                                                          GroveContainer *container);
Runtime__V1__ContainerStatus **grove_cri_pod_container_statuses (GroveCriService *self,
                                                                 GPtrArray *arena,
                                                                 const char *pod_id, size_t *n_out);
/* what measuring pods gives: the pods, their own figures, their containers' */
typedef struct
{
  GroveCriService *self;
  GroveGrpcCall *call;
  GPtrArray *pods;            /* GrovePod */
  GPtrArray *pod_stats;       /* GrovePodStats, one per pod, in the same order */
  GPtrArray *containers;      /* GroveContainer of those pods */
  GPtrArray *container_stats; /* GroveContainerStats of those that could be measured */
} GroveCriPodFigures;

typedef void (*GroveCriPodFiguresFunc) (GroveCriPodFigures *figures);

void grove_cri_measure_pods (GroveCriService *self, GroveGrpcCall *call, GPtrArray *pods,
                             GroveCriPodFiguresFunc done);
GroveContainer *grove_cri_find_container (GPtrArray *containers, const char *id);
void grove_cri_events_init (GroveCriService *self);
void grove_cri_events_shutdown (GroveCriService *self);

G_END_DECLS
