/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define GROVE_ERROR (grove_error_quark ())

/**
 * GroveError:
 * @GROVE_ERROR_FAILED: generic failure
 * @GROVE_ERROR_NOT_FOUND: the named image, pod, container or file does not exist
 * @GROVE_ERROR_INVALID_ARGUMENT: the caller passed something malformed
 * @GROVE_ERROR_ALREADY_EXISTS: the name or ID is taken
 * @GROVE_ERROR_BUSY: the object is in use (an image used by a container, a locked store)
 * @GROVE_ERROR_PERMISSION_DENIED: the caller may not do this
 * @GROVE_ERROR_INVALID_IMAGE: an image, manifest, config or layer is malformed or hostile
 * @GROVE_ERROR_DIGEST_MISMATCH: content does not match the digest that names it
 * @GROVE_ERROR_UNSUPPORTED: valid input Grove does not handle (e.g. no image for this platform)
 * @GROVE_ERROR_WRONG_STATE: the object is not in a state that allows this (start a running
 *   container, create a container in a stopped pod)
 * @GROVE_ERROR_UNAVAILABLE: a remote service cannot be reached or used: a registry that is
 *   unreachable, fails the TLS handshake or stops sending
 *
 * Errors of the %GROVE_ERROR domain. Each maps to a D-Bus error name
 * `org.grove.Error.<Name>`.
 */
typedef enum
{
  GROVE_ERROR_FAILED,
  GROVE_ERROR_NOT_FOUND,
  GROVE_ERROR_INVALID_ARGUMENT,
  GROVE_ERROR_ALREADY_EXISTS,
  GROVE_ERROR_BUSY,
  GROVE_ERROR_PERMISSION_DENIED,
  GROVE_ERROR_INVALID_IMAGE,
  GROVE_ERROR_DIGEST_MISMATCH,
  GROVE_ERROR_UNSUPPORTED,
  GROVE_ERROR_WRONG_STATE,
  GROVE_ERROR_UNAVAILABLE,
  GROVE_ERROR_LAST /*< skip >*/
} GroveError;

GQuark grove_error_quark (void);

G_END_DECLS
