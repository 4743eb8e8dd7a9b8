#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# grovectl against a real groved on a private bus: images, pods, containers, logs, exec,
# run, JSON output and exit codes. Needs root, conmon and runc; removes every pod it made
# and leaves no process, mount, cgroup or directory behind.
set -u

. "${G_TEST_SRCDIR:-$(dirname "$0")}/grove-test-lib.sh"
grove_test_start grove-ctl 37 dbus-daemon gdbus runc conmon python3 script
dbus_pid=
groved_pid=

cleanup() {
  if [ -n "$groved_pid" ] && kill -0 "$groved_pid" 2> /dev/null; then
    grove_test_remove_pods
    grove_test_sigterm_groved
  fi
  [ -n "$dbus_pid" ] && kill "$dbus_pid" 2> /dev/null
  awk -v base="$tmp/" 'index($5, base) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m"; done
  for dir in /sys/fs/cgroup/*/grove-test-$$; do
    [ -d "$dir" ] && find "$dir" -depth -type d -exec rmdir {} \; 2> /dev/null
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

grove_test_start_bus

has_owner() {
  gdbus call --address "$bus" --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.NameHasOwner "$name" 2> /dev/null | grep -q true
}

# 1: with nothing on the bus grovectl says the daemon is unreachable
ctl ps
check "no groved: exit 125" 125 'echo "$err" | grep -q "not running"'

conf=$tmp/grove.conf
printf '[runtime]\ncgroup_parent = /grove-test-%s\n' "$$" > "$conf"
# no CNI config of the machine's: pods get loopback only, nothing outside the test's reach
printf '[network]\nconf_dir = %s/no-cni\n' "$tmp" >> "$conf"
"$groved" --config "$conf" --bus "$bus" --root "$tmp/root" --runroot "$tmp/run" \
  --pause "$pause" 2> "$tmp/groved.log" &
groved_pid=$!
for _ in $(seq 100); do
  has_owner && break
  kill -0 "$groved_pid" 2> /dev/null || break
  sleep 0.1
done
if ! has_owner; then
  echo "Bail out! groved did not start: $(cat "$tmp/groved.log")"
  exit 1
fi

# 2-7: images
python3 "$srcdir/mkimage.py" busybox --format oci-dir "$tmp/busybox" || exit 99
ctl image import "$tmp/busybox" --tag busybox
check "image import prints the image ID" 0 'echo "$out" | grep -qE "^[0-9a-f]{64}$"'
image_id=$out
ctl image ls
check "image ls: a table with the short ID and the name" 0 \
  'echo "$out" | head -1 | grep -q "IMAGE ID" && echo "$out" | grep -q "^${image_id:0:12} .*busybox:latest"'
ctl -o json image ls
check "image ls -o json: full data" 0 \
  '[ "$(echo "$out" | json "d[0][\"Id\"] + \" \" + d[0][\"Names\"][0]")" = "$image_id docker.io/library/busybox:latest" ]'
ctl image inspect "${image_id:0:8}" --output json
check "image inspect by ID prefix" 0 '[ "$(echo "$out" | json "d[\"Id\"]")" = "$image_id" ]'
ctl image tag busybox localhost/bb:1
check "image tag" 0
ctl image inspect localhost/bb:1
check "image inspect by the new name" 0 'echo "$out" | grep -q "localhost/bb:1"'

# 8-10: a pod from a config file
cat > "$tmp/pod.json" << EOF
{"metadata": {"name": "web", "namespace": "default", "uid": "uid-web"},
 "hostname": "web", "labels": {"app": "web"}, "logDirectory": "$tmp/logs"}
EOF
ctl pod run "$tmp/pod.json"
check "pod run prints the pod ID" 0 'echo "$out" | grep -qE "^[0-9a-f]{64}$"'
pod_id=$out
ctl pod ls
check "pod ls shows the pod" 0 'echo "$out" | grep -q "^${pod_id:0:12} .*web .*default .*ready"'
ctl -o json pod inspect web
check "pod inspect by name, as JSON with the config" 0 \
  '[ "$(echo "$out" | json "d[\"Id\"] + \" \" + d[\"Config\"][\"metadata\"][\"uid\"]")" = "$pod_id uid-web" ]'

# 11-13: a container that greets, then waits
cat > "$tmp/ctr.json" << 'EOF'
{"metadata": {"name": "greeter"}, "image": {"image": "busybox"},
 "command": ["/bin/sh", "-c", "echo hello from grove; echo to stderr >&2; exec sleep 300"],
 "logPath": "greeter.log"}
EOF
ctl create "${pod_id:0:10}" "$tmp/ctr.json"
check "create prints the container ID" 0 'echo "$out" | grep -qE "^[0-9a-f]{64}$"'
ctr_id=$out
ctl ps
check "ps leaves out a created container" 0 '! echo "$out" | grep -q "${ctr_id:0:12}"'
ctl start "${ctr_id:0:12}"
check "start" 0 '[ "$out" = "$ctr_id" ]'

# 14-16: ps and logs
ctl ps
check "ps shows it running" 0 \
  'echo "$out" | grep -q "^${ctr_id:0:12} .*greeter .*busybox .*running .*${pod_id:0:12}$"'
for _ in $(seq 50); do
  ctl logs greeter
  echo "$out" | grep -q "hello from grove" && break
  sleep 0.1
done
check "logs prints the greeting to stdout, stderr to stderr" 0 \
  '[ "$out" = "hello from grove" ] && [ "$err" = "to stderr" ]'
ctl -o json ps
check "ps -o json has the log path" 0 \
  '[ "$(echo "$out" | json "d[0][\"LogPath\"]")" = "$tmp/logs/greeter.log" ]'

# 17-23: exec, with grovectl's own stdio handed to the command
ctl exec "${ctr_id:0:12}" sh -c 'echo out; echo err >&2; exit 3'
check "exec: output and the command's exit code" 3 '[ "$out" = out ] && [ "$err" = err ]'
ctl exec greeter ls -d /proc/1
check "exec passes options on to the command" 0 '[ "$out" = /proc/1 ]'
ctl exec --timeout 10 greeter -- ls -d /proc/1
check "exec --timeout takes its own options and --" 0 '[ "$out" = /proc/1 ]'
printf 'one\ntwo' > "$tmp/input"
ctl exec -i greeter sh -c 'cat; echo; exit 4' < "$tmp/input"
check "exec -i: the command reads grovectl's stdin" 4 '[ "$out" = "$(printf "one\ntwo")" ]'
ctl exec greeter cat < "$tmp/input"
check "exec without -i: the command reads nothing" 0 '[ -z "$out" ]'
ctl exec -e GREETING=hi -w /etc greeter sh -c 'echo $GREETING $(pwd)'
check "exec -e and -w" 0 '[ "$out" = "hi /etc" ]'
# a real terminal: script(1) gives grovectl a pty of a known size, then types into it
printf 'stty size; tty; exit 6\n' |
  script -qec "stty rows 24 cols 91; $grovectl --bus $bus exec -it greeter sh" /dev/null \
    > "$tmp/out" 2> "$tmp/err"
rc=$?
out=$(tr -d '\r' < "$tmp/out")
err=$(cat "$tmp/err")
check "exec -it: a terminal of the caller's size, the exit code through" 6 \
  'echo "$out" | grep -qx "24 91" && echo "$out" | grep -qx "/dev/pts/[0-9]*"'

# 24-27: stop, logs -f of an exited container, rm
ctl stop -t 1 greeter
check "stop -t 1" 0 '[ "$out" = "$ctr_id" ]'
ctl ps -a
check "ps -a shows it exited" 0 'echo "$out" | grep -qE "^${ctr_id:0:12} .*exited \((137|143)\)"'
ctl logs -f greeter
check "logs -f ends when the container has exited" 0 '[ "$out" = "hello from grove" ]'
ctl rm greeter
check "rm" 0 '[ "$out" = "$ctr_id" ]'

# 28-29: logs -f follows a running container until it exits
cat > "$tmp/ticker.json" << 'EOF'
{"metadata": {"name": "ticker"}, "image": {"image": "busybox"},
 "command": ["/bin/sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.3; done; exit 4"]}
EOF
ctl create web "$tmp/ticker.json"
ticker=$out
ctl start "$ticker"
ctl logs -f "$ticker"
check "logs -f follows until exit" 0 '[ "$out" = "$(printf "tick 1\ntick 2\ntick 3")" ]'
ctl inspect "$ticker"
check "inspect: state and exit code" 0 \
  'echo "$out" | grep -q "^State: *exited$" && echo "$out" | grep -q "^ExitCode: *4$"'

# 30-31: pods go
ctl pod stop web
check "pod stop" 0 '[ "$out" = "$pod_id" ]'
ctl pod rm "${pod_id:0:12}"
check "pod rm" 0 '[ "$out" = "$pod_id" ] && [ -z "$("$grovectl" --bus "$bus" pod ls | tail -n +2)" ]'

# 32-33: run
ctl run --rm busybox echo hi
check "run --rm busybox echo hi" 0 '[ "$out" = hi ] && [ -z "$("$grovectl" --bus "$bus" pod ls | tail -n +2)" ]'
ctl run --rm busybox sh -c 'echo bye >&2; exit 7'
check "run returns the command's exit code" 7 '[ "$err" = bye ]'

# 34-37: errors
ctl inspect 0123456789ab
check "an unknown ID: exit 1 naming it" 1 \
  '[ "$err" = "grovectl: No container has the ID, ID prefix or name “0123456789ab”" ]'
ctl image rm no-such-image
check "a daemon error: exit 1 without the D-Bus error name" 1 \
  'echo "$err" | grep -q "^grovectl: " && ! echo "$err" | grep -q "org.grove.Error"'
ctl frobnicate
check "an unknown command: exit 2" 2 'echo "$err" | grep -q "Unknown command"'
ctl stop
check "a missing argument: exit 2" 2 'echo "$err" | grep -q "Usage: grovectl stop"'

exit "$failed"
