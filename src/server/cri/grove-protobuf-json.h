/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>
#include <protobuf-c/protobuf-c.h>

G_BEGIN_DECLS

JsonObject *grove_protobuf_to_json (const ProtobufCMessage *message);

G_END_DECLS
