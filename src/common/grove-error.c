/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "GroveError"

#include <gio/gio.h>

#include "grove-error.h"

static const GDBusErrorEntry grove_error_entries[] = {
  { GROVE_ERROR_FAILED, "org.grove.Error.Failed" },
  { GROVE_ERROR_NOT_FOUND, "org.grove.Error.NotFound" },
  { GROVE_ERROR_INVALID_ARGUMENT, "org.grove.Error.InvalidArgument" },
  { GROVE_ERROR_ALREADY_EXISTS, "org.grove.Error.AlreadyExists" },
  { GROVE_ERROR_BUSY, "org.grove.Error.Busy" },
  { GROVE_ERROR_PERMISSION_DENIED, "org.grove.Error.PermissionDenied" },
  { GROVE_ERROR_INVALID_IMAGE, "org.grove.Error.InvalidImage" },
  { GROVE_ERROR_DIGEST_MISMATCH, "org.grove.Error.DigestMismatch" },
  { GROVE_ERROR_UNSUPPORTED, "org.grove.Error.Unsupported" },
  { GROVE_ERROR_WRONG_STATE, "org.grove.Error.WrongState" },
  { GROVE_ERROR_UNAVAILABLE, "org.grove.Error.Unavailable" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (grove_error_entries) == GROVE_ERROR_LAST);

/**
 * grove_error_quark:
 *
 * Returns: the #GQuark of the %GROVE_ERROR domain, registered with GDBus so each code
 *   travels as a named D-Bus error.
 */
GQuark
grove_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("grove-error-quark", &quark, grove_error_entries,
                                      G_N_ELEMENTS (grove_error_entries));
  return (GQuark)quark;
}
