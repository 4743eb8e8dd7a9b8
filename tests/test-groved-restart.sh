#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Containers outlive groved: a container keeps running while groved is stopped, a new
# groved on the same root finds it running with the same PID and can stop it, and a
# container that exits while no groved runs shows its real exit code afterwards.
# Needs root, conmon and runc; leaves no process, mount, cgroup or directory behind.
set -u

. "${G_TEST_SRCDIR:-$(dirname "$0")}/grove-test-lib.sh"
grove_test_start grove-restart 14 dbus-daemon gdbus runc conmon python3
dbus_pid=
groved_pid=

# FIELD of container $1 as `grovectl -o json inspect` shows it, "" if that fails
field() {
  "$grovectl" --bus "$bus" -o json inspect "$1" 2> /dev/null | json "d[\"$2\"]" 2> /dev/null
}

alive() { [ -n "$1" ] && [ "$1" != 0 ] && kill -0 "$1" 2> /dev/null; }

has_owner() {
  gdbus call --address "$bus" --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.NameHasOwner "$name" 2> /dev/null | grep -q true
}

conf=$tmp/grove.conf
printf '[runtime]\ncgroup_parent = /grove-test-%s\n' "$$" > "$conf"
# no CNI config of the machine's: pods get loopback only, nothing outside the test's reach
printf '[network]\nconf_dir = %s/no-cni\n' "$tmp" >> "$conf"

# starts groved (logging to $1) and waits until it owns the name; exec: `$!` is groved's PID
start_groved() {
  (exec "$groved" --config "$conf" --bus "$bus" --root "$tmp/root" --runroot "$tmp/run" \
    --pause "$pause" 2>> "$1") &
  groved_pid=$!
  for _ in $(seq 100); do
    has_owner && return 0
    kill -0 "$groved_pid" 2> /dev/null || return 1
    sleep 0.1
  done
  has_owner
}

# the test's own processes: conmons started for its dirs and whatever is in its cgroups
own_pids() {
  local p
  for dir in /proc/[0-9]*; do
    p=${dir#/proc/}
    { tr '\0' ' ' < "$dir/cmdline"; } 2> /dev/null | grep -qF -- "$tmp/" && echo "$p"
  done
  for dir in /sys/fs/cgroup/grove-test-$$ /sys/fs/cgroup/*/grove-test-$$; do
    [ -d "$dir" ] && find "$dir" -name cgroup.procs -exec cat {} + 2> /dev/null
  done
}

cleanup() {
  if [ -n "$groved_pid" ] && kill -0 "$groved_pid" 2> /dev/null; then
    grove_test_remove_pods
    grove_test_sigterm_groved
  fi
  # a test that failed half-way may leave containers that no groved removed
  for p in $(own_pids | sort -u); do
    [ "$p" != $$ ] && kill -KILL "$p" 2> /dev/null
  done
  [ -n "$dbus_pid" ] && kill "$dbus_pid" 2> /dev/null
  grove_test_remove_dirs
}
trap cleanup EXIT

grove_test_start_bus

if ! start_groved "$tmp/groved.log"; then
  echo "Bail out! groved did not start: $(cat "$tmp/groved.log")"
  exit 1
fi
python3 "$srcdir/mkimage.py" busybox --format oci-dir "$tmp/busybox" > /dev/null || exit 99
ctl image import "$tmp/busybox" --tag busybox
if [ "$rc" != 0 ]; then
  echo "Bail out! image import failed: $err"
  exit 1
fi

# 1-2: a pod, a long-running container and one that ends by itself a little later
cat > "$tmp/pod.json" << EOF
{"metadata": {"name": "restart", "namespace": "default", "uid": "uid-restart"},
 "logDirectory": "$tmp/logs"}
EOF
cat > "$tmp/sleeper.json" << 'EOF'
{"metadata": {"name": "sleeper"}, "image": {"image": "busybox"}, "command": ["sleep", "1000"]}
EOF
cat > "$tmp/quitter.json" << 'EOF'
{"metadata": {"name": "quitter"}, "image": {"image": "busybox"},
 "command": ["/bin/sh", "-c", "sleep 6; exit 5"]}
EOF
ctl pod run "$tmp/pod.json"
pod_id=$out
ctl create "$pod_id" "$tmp/sleeper.json"
sleeper=$out
ctl start "$sleeper"
sleeper_pid=$(field "$sleeper" Pid)
if [ "$rc" = 0 ] && [ "$(field "$sleeper" State)" = running ] && alive "$sleeper_pid"; then
  ok "a pod with a running sleep 1000 (PID $sleeper_pid)"
else
  not_ok "a pod with a running sleep 1000" "exit $rc: $err" "PID: $sleeper_pid"
fi
ctl create "$pod_id" "$tmp/quitter.json"
quitter=$out
ctl start "$quitter"
quitter_pid=$(field "$quitter" Pid)
if [ "$rc" = 0 ] && alive "$quitter_pid"; then
  ok "a second container that will exit 5 in 6 s (PID $quitter_pid)"
else
  not_ok "a second container that will exit 5 in 6 s" "exit $rc: $err" "PID: $quitter_pid"
fi

# 3-5: SIGTERM stops groved with exit 0; the containers run on without it
grove_test_sigterm_groved
if [ "$rc" = 0 ] && ! has_owner; then
  ok "SIGTERM stops groved with exit 0"
else
  not_ok "SIGTERM stops groved with exit 0" "exit $rc" "$(cat "$tmp/groved.log")"
fi
if alive "$sleeper_pid" && grep -q '^sleep' "/proc/$sleeper_pid/cmdline" 2> /dev/null; then
  ok "the sleeper is still alive without groved"
else
  not_ok "the sleeper is still alive without groved" "PID $sleeper_pid is gone"
fi
if alive "$quitter_pid"; then
  ok "the second container is still running when groved has stopped"
else
  not_ok "the second container is still running when groved has stopped" \
    "PID $quitter_pid ended before groved did: the test cannot see an exit without groved"
fi

# 6: the second container ends while no groved runs (conmon writes its exit file)
for _ in $(seq 150); do
  alive "$quitter_pid" || break
  sleep 0.1
done
if alive "$quitter_pid"; then
  not_ok "the second container exits while groved is stopped" "PID $quitter_pid still runs"
else
  ok "the second container exits while groved is stopped"
fi

# 7-9: a new groved on the same root finds both as they are
if start_groved "$tmp/groved2.log"; then
  ok "a new groved starts on the same root"
else
  not_ok "a new groved starts on the same root" "$(cat "$tmp/groved2.log")"
  echo "Bail out! no groved to test against"
  exit 1
fi
ctl -o json inspect "$sleeper"
check "it reports the sleeper running with the same PID" 0 \
  '[ "$(echo "$out" | json "d[\"State\"], d[\"Pid\"]")" = "running $sleeper_pid" ]'
ctl -o json inspect "$quitter"
check "it reports the second container exited with code 5" 0 \
  '[ "$(echo "$out" | json "d[\"State\"], d[\"ExitCode\"], d[\"Reason\"]")" = "exited 5 Error" ]'

# 10-11: the new groved can stop the container the old one started
ctl stop -t 1 "$sleeper"
check "grovectl stop stops it" 0 '[ "$out" = "$sleeper" ] && ! alive "$sleeper_pid"'
ctl -o json inspect "$sleeper"
check "it exited on the signal: exit code 137 or 143, PID 0" 0 \
  'echo "$out" | json "d[\"State\"], d[\"ExitCode\"], d[\"Pid\"]" | grep -qxE "exited (137|143) 0"'

# 12-13: pod rm cleans up: no pod, no container, no conmon, no rootfs mount
ctl pod rm "$pod_id"
check "pod rm removes the pod and its containers" 0 \
  '[ "$out" = "$pod_id" ] && [ -z "$("$grovectl" --bus "$bus" ps -a | tail -n +2)" ] &&
   [ -z "$("$grovectl" --bus "$bus" pod ls | tail -n +2)" ]'
left=$(own_pids | grep -vx "$groved_pid" | sort -u | tr '\n' ' ')
mounts=$(awk -v base="$tmp/root/" 'index($5, base) == 1 { print $5 }' /proc/self/mountinfo)
if [ -z "$left" ] && [ -z "$mounts" ]; then
  ok "no container process, conmon or rootfs mount is left"
else
  not_ok "no container process, conmon or rootfs mount is left" "processes: $left" \
    "mounts: $mounts"
fi

# 14: and the second groved stops cleanly too
grove_test_sigterm_groved
if [ "$rc" = 0 ]; then
  ok "the new groved stops with exit 0"
else
  not_ok "the new groved stops with exit 0" "exit $rc" "$(cat "$tmp/groved2.log")"
fi

exit "$failed"
