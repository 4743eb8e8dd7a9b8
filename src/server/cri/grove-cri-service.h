/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "grove-engine.h"
#include "grove-grpc-server.h"

G_BEGIN_DECLS

/**
 * GROVE_CRI_RUNTIME_SERVICE:
 *
 * The method path prefix of the CRI's runtime service.
 */
#define GROVE_CRI_RUNTIME_SERVICE "/runtime.v1.RuntimeService/"

/**
 * GROVE_CRI_IMAGE_SERVICE:
 *
 * The method path prefix of the CRI's image service.
 */
#define GROVE_CRI_IMAGE_SERVICE "/runtime.v1.ImageService/"

#define GROVE_TYPE_CRI_SERVICE (grove_cri_service_get_type ())
G_DECLARE_FINAL_TYPE (GroveCriService, grove_cri_service, GROVE, CRI_SERVICE, GObject)

GroveCriService *grove_cri_service_new (GroveEngine *engine);
void grove_cri_service_register (GroveCriService *self, GroveGrpcServer *server);
const char *grove_cri_service_get_pod_cidr (GroveCriService *self);
void grove_cri_service_set_default_registry (GroveCriService *self, const char *registry);
GroveGrpcStatus grove_cri_status_from_error (const GError *error);

typedef struct _GroveStreamServer GroveStreamServer;
void grove_cri_service_set_stream_server (GroveCriService *self, GroveStreamServer *server);

G_END_DECLS
