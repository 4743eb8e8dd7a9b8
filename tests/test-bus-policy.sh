#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The bus policy data/org.grove.Runtime1.conf on a private dbus-daemon whose default policy is
# the system bus's: root may own org.grove.Runtime1 and call it; nobody may neither call nor
# own it; a member of the group grove may call the Grove and standard interfaces, no other,
# and may not own the name; no interface of the XML is missing from the policy. The name's
# owner is groved when it is built and runc is installed, else a small PyGObject program.
# Needs root; leaves no process or file behind.
set -u

. "${G_TEST_SRCDIR:-$(dirname "$0")}/grove-test-lib.sh"
srcdir=${G_TEST_SRCDIR:-$(dirname "$0")}/..
builddir=${G_TEST_BUILDDIR:-$(dirname "$0")}/..
policy=${GROVE_BUS_POLICY:-$srcdir/data/org.grove.Runtime1.conf}
groved=${GROVED:-$builddir/groved}
pause=$builddir/grove-pause
name=org.grove.Runtime1
path=/org/grove/Runtime1

if [ "$(id -u)" != 0 ]; then
  echo "1..0 # SKIP needs root"
  exit 0
fi
for tool in dbus-daemon gdbus setpriv; do
  if ! command -v "$tool" > /dev/null; then
    echo "1..0 # SKIP needs $tool"
    exit 0
  fi
done
owner=
if [ -x "$groved" ] && [ -x "$pause" ] && command -v runc > /dev/null; then
  owner=groved
else
  for python in "${GROVE_PYTHON:-}" python3 /usr/bin/python3; do
    if [ -n "$python" ] && "$python" -c 'from gi.repository import Gio' 2> /dev/null; then
      owner=python
      break
    fi
  done
fi
if [ -z "$owner" ]; then
  echo "1..0 # SKIP needs groved and runc, or python3 with PyGObject, to own $name"
  exit 0
fi
if [ ! -r "$policy" ]; then
  echo "Bail out! cannot read $policy"
  exit 1
fi

# the group rules need a real group; where grove does not exist, test them on a copy
# that names "users" instead
if ! getent group grove > /dev/null && ! getent group users > /dev/null; then
  echo "1..0 # SKIP needs a group grove or users"
  exit 0
fi

echo "1..12"
# check NAME STATUS OUTPUT: ok when STATUS is 0, else not ok showing OUTPUT (not the
# library's check, which judges a grovectl call)
check() {
  if [ "$2" = 0 ]; then ok "$1"; else not_ok "$1" "$3"; fi
}

tmp=$(mktemp -d "${GROVE_TEST_TMPBASE:-/var/tmp}/grove-bus-policy-XXXXXX") || exit 99
dbus_pid=
owner_pid=

cleanup() {
  if [ -n "$owner_pid" ] && kill -0 "$owner_pid" 2> /dev/null; then
    kill -TERM "$owner_pid"
    wait "$owner_pid" 2> /dev/null
  fi
  if [ -n "$dbus_pid" ] && kill -0 "$dbus_pid" 2> /dev/null; then
    kill -TERM "$dbus_pid"
  fi
  if grep -q " $tmp/" /proc/self/mountinfo; then
    awk -v base="$tmp/" 'index($5, base) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
      while read -r m; do umount -l "$m"; done
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

grove_test_policy_group "$policy"
[ "$group" != grove ] && echo "# no group grove here: testing its rules as group users"
grove_test_system_bus_conf "$tmp/bus.conf" "$policy_conf"

# 1: dbus-daemon accepts the policy
bus_out=$(dbus-daemon --config-file="$tmp/bus.conf" --fork --print-address=1 --print-pid=1 \
  2> "$tmp/dbus.log")
rc=$?
bus=$(echo "$bus_out" | sed -n 1p)
dbus_pid=$(echo "$bus_out" | sed -n 2p)
if [ "$rc" != 0 ] || [ -z "$dbus_pid" ] || grep -q -i 'warn\|error' "$tmp/dbus.log"; then
  not_ok "dbus-daemon loads the policy" "exit $rc: $(cat "$tmp/dbus.log")"
  echo "Bail out! no bus"
  exit 1
fi
ok "dbus-daemon loads the policy"

# a method call on the test bus as root, or as another user with setpriv's arguments
call_as() {
  local who=$1
  shift
  if [ "$who" = root ]; then
    gdbus call --address "$bus" "$@" 2>&1
  else
    setpriv "$who" --regid=nogroup "${groups_args[@]}" gdbus call --address "$bus" "$@" 2>&1
  fi
}
as_nobody() {
  groups_args=(--clear-groups)
  call_as --reuid=nobody "$@"
}
as_member() {
  groups_args=(--groups="$gid")
  call_as --reuid=nobody "$@"
}
has_owner() {
  gdbus call --address "$bus" --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.NameHasOwner "$name" 2> /dev/null | grep -q true
}
ping_args=(--dest "$name" --object-path "$path" --method org.freedesktop.DBus.Peer.Ping)
get_args=(--dest "$name" --object-path "$path" --method org.freedesktop.DBus.Properties.Get
  "$name" Version)
own_args=(--dest org.freedesktop.DBus --object-path /org/freedesktop/DBus
  --method org.freedesktop.DBus.RequestName "$name" 4)
# refused by the bus, not by the owner
denied() { echo "$1" | grep -q 'org.freedesktop.DBus.Error.AccessDenied'; }
# answered by the owner: a reply, or an error of the owner's (the PyGObject owner has no
# objects), never one of the bus's
reached() {
  [ "$2" = 0 ] || { ! denied "$1" && echo "$1" | grep -q 'Error.Unknown\(Method\|Object\)'; }
}

# 2: root owns the name
if [ "$owner" = groved ]; then
  printf '[runtime]\ncgroup_parent = /grove-test-%s\n' "$$" > "$tmp/grove.conf"
  printf '[network]\nconf_dir = %s/no-cni\n' "$tmp" >> "$tmp/grove.conf"
  "$groved" --config "$tmp/grove.conf" --bus "$bus" --root "$tmp/root" --runroot "$tmp/run" \
    --pause "$pause" > "$tmp/owner.log" 2>&1 &
else
  "$python" - "$bus" "$name" > "$tmp/owner.log" 2>&1 << 'EOF' &
import sys
from gi.repository import Gio, GLib

flags = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
         | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)
connection = Gio.DBusConnection.new_for_address_sync(sys.argv[1], flags, None, None)
connection.set_exit_on_close(True)
# 4: DBUS_NAME_FLAG_DO_NOT_QUEUE
reply = connection.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                             "org.freedesktop.DBus", "RequestName",
                             GLib.Variant("(su)", (sys.argv[2], 4)), GLib.VariantType("(u)"),
                             Gio.DBusCallFlags.NONE, -1, None)
print("RequestName:", reply.unpack()[0], flush=True)
GLib.MainLoop().run()
EOF
fi
owner_pid=$!
for _ in $(seq 100); do
  has_owner && break
  kill -0 "$owner_pid" 2> /dev/null || break
  sleep 0.1
done
if has_owner; then
  ok "root ($owner) owns $name"
else
  not_ok "root ($owner) owns $name" "$(cat "$tmp/owner.log")"
  echo "Bail out! nobody owns $name"
  exit 1
fi

# 3: root may call
out=$(call_as root "${ping_args[@]}")
check "root may call Peer.Ping on $name" $? "$out"

# 4, 5, 6: nobody may not call, not even Peer or Properties, and may not own the name
out=$(as_nobody "${ping_args[@]}")
denied "$out"
check "nobody may not call Peer.Ping: AccessDenied" $? "$out"
out=$(as_nobody "${get_args[@]}")
denied "$out"
check "nobody may not call Properties.Get: AccessDenied" $? "$out"
out=$(as_nobody "${own_args[@]}")
denied "$out"
check "nobody may not own $name: AccessDenied" $? "$out"

# 7-11: a member of the group
out=$(as_member "${ping_args[@]}")
check "a member of $group may call Peer.Ping" $? "$out"
out=$(as_member "${get_args[@]}")
reached "$out" $?
check "a member of $group may call Properties.Get" $? "$out"
out=$(as_member --dest "$name" --object-path "$path" \
  --method org.freedesktop.DBus.ObjectManager.GetManagedObjects)
reached "$out" $?
check "a member of $group may call ObjectManager.GetManagedObjects" $? "$out"
out=$(as_member --dest "$name" --object-path "$path" --method org.grove.Other1.Frobnicate)
denied "$out"
check "a member of $group may not call another interface: AccessDenied" $? "$out"
out=$(as_member "${own_args[@]}")
denied "$out"
check "a member of $group may not own $name: AccessDenied" $? "$out"

# 12: no interface of groved's is left out of the policy: a method call on each reaches it
closed=
for iface in $(sed -n 's/.*<interface name="\(org\.grove\.[^"]*\)".*/\1/p' \
  "$srcdir/data/org.grove.Runtime1.xml"); do
  out=$(as_member --dest "$name" --object-path "$path" --method "$iface.NoSuchMethod")
  denied "$out" && closed="$closed $iface"
done
[ -z "$closed" ]
check "a member of $group may call every interface in org.grove.Runtime1.xml" $? \
  "refused by the bus:$closed"

# stop the owner before the bus, so groved does not log a lost connection
kill -TERM "$owner_pid"
wait "$owner_pid" 2> /dev/null
owner_pid=
exit "$failed"
