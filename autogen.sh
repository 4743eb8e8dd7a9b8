#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
set -e
srcdir=$(dirname "$0")
test -z "$srcdir" && srcdir=.
(cd "$srcdir" && autoreconf --force --install)
if [ -z "$NOCONFIGURE" ]; then
  exec "$srcdir/configure" "$@"
fi
