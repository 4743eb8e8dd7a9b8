/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveCriService"

/*
 * GetContainerEvents, kubelet's evented PLEG: a server stream per subscriber carrying
 * created, started, stopped and deleted events, each with the pod's status and the
 * statuses of all its containers. The engine says "this container changed"; the service
 * remembers each container's last state to tell which event that was.
 */

#include "grove-cri-service-private.h"

typedef struct
{
  GroveContainerState state;
  char *pod_id;
} Seen;

static void
seen_free (Seen *seen)
{
  g_free (seen->pod_id);
  g_free (seen);
}

static void
broadcast (GroveCriService *self, const char *container_id, const char *pod_id,
           Runtime__V1__ContainerEventType type)
{
  g_autoptr (GPtrArray) arena = grove_cri_arena_new_array ();
  g_autoptr (GrovePod) pod = grove_engine_get_pod (self->engine, pod_id, NULL);
  g_autoptr (GBytes) bytes = NULL;
  Runtime__V1__ContainerEventResponse event = RUNTIME__V1__CONTAINER_EVENT_RESPONSE__INIT;

  if (self->event_calls->len == 0)
    return;
  event.container_id = (char *)container_id;
  event.container_event_type = type;
  event.created_at = g_get_real_time () * 1000;
  if (pod != NULL)
    event.pod_sandbox_status = grove_cri_pod_status (arena, pod);
  event.containers_statuses
      = grove_cri_pod_container_statuses (self, arena, pod_id, &event.n_containers_statuses);
  bytes = grove_cri_pack (&event.base);
  /* backwards: a subscriber that is gone is dropped on the way */
  for (guint i = self->event_calls->len; i > 0; i--)
    {
      GroveGrpcCall *call = self->event_calls->pdata[i - 1];

      if (grove_grpc_call_is_finished (call) || !grove_grpc_call_send_message (call, bytes))
        g_ptr_array_remove_index (self->event_calls, i - 1);
    }
}

static void
container_changed_cb (GroveEngine *engine, GroveContainer *container, GroveCriService *self)
{
  const char *id = grove_container_get_id (container);
  GroveContainerState state = grove_container_get_state (container);
  Seen *seen = g_hash_table_lookup (self->states, id);
  gboolean created = seen == NULL;

  if (created)
    {
      seen = g_new0 (Seen, 1);
      seen->state = GROVE_CONTAINER_STATE_CREATED;
      seen->pod_id = g_strdup (grove_container_get_pod_id (container));
      g_hash_table_insert (self->states, g_strdup (id), seen);
      broadcast (self, id, seen->pod_id,
                 RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT);
    }
  if (state == seen->state)
    return;
  /* a container that ended before anyone looked has still started first */
  if (state == GROVE_CONTAINER_STATE_RUNNING
      || (state == GROVE_CONTAINER_STATE_EXITED && seen->state == GROVE_CONTAINER_STATE_CREATED
          && grove_container_get_started_at (container) > 0))
    broadcast (self, id, seen->pod_id, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT);
  if (state == GROVE_CONTAINER_STATE_EXITED)
    broadcast (self, id, seen->pod_id, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT);
  seen->state = state;
}

static void
container_removed_cb (GroveEngine *engine, const char *id, GroveCriService *self)
{
  Seen *seen = g_hash_table_lookup (self->states, id);
  g_autofree char *pod_id = NULL;

  /* its last CPU reading is of no more use */
  g_hash_table_remove (self->cpu_seen, id);

  if (seen == NULL)
    return;
  pod_id = g_strdup (seen->pod_id);
  g_hash_table_remove (self->states, id);
  broadcast (self, id, pod_id, RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT);
}

static void
pod_removed_cb (GroveEngine *engine, const char *id, GroveCriService *self)
{
  g_hash_table_remove (self->cpu_seen, id);
}

/**
 * grove_cri_events_init: (skip)
 * @self: the service
 *
 * Starts following the engine's containers, from the state they are in now.
 */
void
grove_cri_events_init (GroveCriService *self)
{
  GroveListFilter filter = { .state = -1 };
  g_autoptr (GPtrArray) containers = grove_engine_list_containers (self->engine, &filter);

  self->states = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify)seen_free);
  for (guint i = 0; i < containers->len; i++)
    {
      Seen *seen = g_new0 (Seen, 1);

      seen->state = grove_container_get_state (containers->pdata[i]);
      seen->pod_id = g_strdup (grove_container_get_pod_id (containers->pdata[i]));
      g_hash_table_insert (self->states, g_strdup (grove_container_get_id (containers->pdata[i])),
                           seen);
    }
  g_signal_connect_object (self->engine, "container-changed", G_CALLBACK (container_changed_cb),
                           self, 0);
  g_signal_connect_object (self->engine, "pod-removed", G_CALLBACK (pod_removed_cb), self, 0);
  g_signal_connect_object (self->engine, "container-removed", G_CALLBACK (container_removed_cb),
                           self, 0);
}

/**
 * grove_cri_events_shutdown: (skip)
 * @self: the service
 *
 * Ends the event streams.
 */
void
grove_cri_events_shutdown (GroveCriService *self)
{
  for (guint i = 0; self->event_calls != NULL && i < self->event_calls->len; i++)
    if (!grove_grpc_call_is_finished (self->event_calls->pdata[i]))
      grove_grpc_call_return_status (self->event_calls->pdata[i], GROVE_GRPC_STATUS_UNAVAILABLE,
                                     "groved is shutting down");
  if (self->event_calls != NULL)
    g_ptr_array_set_size (self->event_calls, 0);
}

/* the stream stays open until the client goes or groved stops */
static void
handle_get_events (GroveCriService *self, GroveGrpcCall *call, const ProtobufCMessage *message)
{
  g_ptr_array_add (self->event_calls, g_object_ref (call));
}

const GroveCriMethod grove_cri_event_methods[] = {
  GROVE_CRI_RUNTIME_STREAM ("GetContainerEvents", runtime__v1__get_events_request,
                            handle_get_events),
};

const guint grove_cri_n_event_methods = G_N_ELEMENTS (grove_cri_event_methods);
