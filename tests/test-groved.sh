#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# groved on a private bus: it owns org.grove.Runtime1, one groved per root, SIGHUP adds a
# handler, SIGTERM stops it cleanly (exit 0, name gone) and a bad config stops it starting.
# Needs root; leaves no process, mount or directory behind.
set -u

. "${G_TEST_SRCDIR:-$(dirname "$0")}/grove-test-lib.sh"
grove_test_start grove-groved 8 dbus-daemon gdbus runc
dbus_pid=
groved_pid=

cleanup() {
  if [ -n "$groved_pid" ] && kill -0 "$groved_pid" 2> /dev/null; then
    kill -KILL "$groved_pid"
    wait "$groved_pid" 2> /dev/null
  fi
  [ -n "$dbus_pid" ] && kill "$dbus_pid" 2> /dev/null
  if grep -q " $tmp/" /proc/self/mountinfo; then
    awk -v base="$tmp/" 'index($5, base) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
      while read -r m; do umount -l "$m"; done
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

grove_test_start_bus

has_owner() {
  gdbus call --address "$bus" --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.NameHasOwner "$name" 2> /dev/null | grep -q true
}

# the config is the test's own, so nothing in /etc/grove changes what groved does
conf=$tmp/grove.conf
printf '[runtime]\ncgroup_parent = /grove-test-%s\n' "$$" > "$conf"
# no CNI config of the machine's: pods get loopback only, nothing outside the test's reach
printf '[network]\nconf_dir = %s/no-cni\n' "$tmp" >> "$conf"
# exec: the PID `$!` gives is groved's own, not a subshell's
run_groved() {
  exec "$groved" --config "$conf" --bus "$bus" --root "$tmp/root" --runroot "$tmp/run" \
    --pause "$pause" "$@"
}

# 1: groved starts and owns the name
run_groved 2> "$tmp/groved.log" &
groved_pid=$!
for _ in $(seq 100); do
  has_owner && break
  kill -0 "$groved_pid" 2> /dev/null || break
  sleep 0.1
done
if has_owner; then
  ok "groved owns $name"
else
  not_ok "groved owns $name" "$(cat "$tmp/groved.log")"
fi

# 2: a second groved on the same root is refused by the store's lock
second=$(timeout 20 "$groved" --config "$conf" --bus "$bus" --root "$tmp/root" \
  --runroot "$tmp/run2" --pause "$pause" 2>&1)
rc=$?
if [ "$rc" = 1 ] && echo "$second" | grep -q "in use"; then
  ok "a second groved on the same root exits 1: in use"
else
  not_ok "a second groved on the same root exits 1: in use" "exit $rc: $second"
fi

# 3: SIGHUP adds a new handler and reports what needs a restart
mkdir "$tmp/grove.conf.d"
printf '[handler.extra]\npath = /bin/true\n[runtime]\ncgroup_parent = /elsewhere\n' \
  > "$tmp/grove.conf.d/50-extra.conf"
kill -HUP "$groved_pid"
for _ in $(seq 50); do
  grep -q "reload done" "$tmp/groved.log" && break
  sleep 0.1
done
if grep -q "added runtime handler extra" "$tmp/groved.log" &&
  grep -q "cgroup_parent changed.*needs a restart" "$tmp/groved.log" && has_owner; then
  ok "SIGHUP adds a handler and names what needs a restart"
else
  not_ok "SIGHUP adds a handler and names what needs a restart" "$(cat "$tmp/groved.log")"
fi
rm -r "$tmp/grove.conf.d"

# 4, 5: SIGTERM stops it within 5 s with exit 0, and the name is gone
grove_test_sigterm_groved 5
if [ "$rc" = 0 ]; then
  ok "SIGTERM stops groved within 5 s with exit 0"
else
  not_ok "SIGTERM stops groved within 5 s with exit 0" "exit $rc" "$(cat "$tmp/groved.log")"
fi
if has_owner; then
  not_ok "$name is gone after groved stopped"
else
  ok "$name is gone after groved stopped"
fi

# 6: the store lock went with it: a new groved on the root starts and stops again
run_groved 2> "$tmp/groved2.log" &
groved_pid=$!
for _ in $(seq 100); do
  has_owner && break
  kill -0 "$groved_pid" 2> /dev/null || break
  sleep 0.1
done
if has_owner; then
  kill -INT "$groved_pid"
  wait "$groved_pid"
  rc=$?
  groved_pid=
  if [ "$rc" = 0 ]; then
    ok "groved restarts on the same root and stops on SIGINT"
  else
    not_ok "groved restarts on the same root and stops on SIGINT" "exit $rc"
  fi
else
  not_ok "groved restarts on the same root and stops on SIGINT" "$(cat "$tmp/groved2.log")"
fi

# 7: an unknown key stops groved from starting, naming file, line, group and key
printf '[storage]\nroot = /var/lib/grove\n[runtime]\ncgroup_parent = /x\nbogus_key = 1\n' \
  > "$tmp/bad.conf"
bad=$(timeout 20 "$groved" --config "$tmp/bad.conf" --bus "$bus" --root "$tmp/root" \
  --runroot "$tmp/run" --pause "$pause" 2>&1)
rc=$?
if [ "$rc" = 1 ] && echo "$bad" | grep -qF "$tmp/bad.conf:5: [runtime] bogus_key" &&
  ! has_owner; then
  ok "a bad key: exit 1 naming file, line, group and key"
else
  not_ok "a bad key: exit 1 naming file, line, group and key" "exit $rc: $bad"
fi

# 8: a config named on the command line must exist
missing=$(timeout 20 "$groved" --config "$tmp/missing.conf" --bus "$bus" --root "$tmp/root" \
  --runroot "$tmp/run" --pause "$pause" 2>&1)
rc=$?
if [ "$rc" = 1 ] && echo "$missing" | grep -qF "$tmp/missing.conf does not exist"; then
  ok "a missing --config: exit 1"
else
  not_ok "a missing --config: exit 1" "exit $rc: $missing"
fi

exit "$failed"
