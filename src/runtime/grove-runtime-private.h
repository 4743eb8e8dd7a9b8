/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "grove-container.h"
#include "grove-pod.h"

G_BEGIN_DECLS

JsonObject *grove_pod_get_record (GrovePod *self);
JsonObject *grove_container_get_record (GroveContainer *self);

G_END_DECLS
