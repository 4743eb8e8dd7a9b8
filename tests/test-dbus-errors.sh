#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Malformed D-Bus calls against groved on a private bus: wrong argument types, unknown
# methods, interfaces, properties and object paths, bad pod and container configs, unknown
# handlers, pods and images. Each gets the documented error name and a message naming what
# was wrong, and groved still answers afterwards. Needs root, conmon and runc; leaves no
# process, mount, cgroup or directory behind.
set -u

. "${G_TEST_SRCDIR:-$(dirname "$0")}/grove-test-lib.sh"
grove_test_start grove-dbus-errors 29 dbus-daemon gdbus runc conmon python3
path=/org/grove/Runtime1
dbus_pid=
groved_pid=

has_owner() {
  gdbus call --address "$bus" --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.NameHasOwner "$name" 2> /dev/null | grep -q true
}

# call OBJECT-PATH INTERFACE.METHOD ARGS...: gdbus call to groved; its stdout and stderr
# (gdbus's own warnings included) in $out, exit code in $rc
call() {
  local object=$1 method=$2
  shift 2
  out=$(gdbus call --address "$bus" --dest "$name" --object-path "$object" --method "$method" \
    "$@" 2>&1)
  rc=$?
}

# expect WHAT ERROR-NAME [MESSAGE-PATTERN]: the last call failed with ERROR-NAME (an extended
# regex), its message matches the extended regex MESSAGE-PATTERN, and groved still answers
expect() {
  local what=$1 error=$2 pattern=${3:-.}
  local info info_rc
  info=$("$grovectl" --bus "$bus" info 2>&1)
  info_rc=$?
  if [ "$rc" != 0 ] && echo "$out" | grep -qE "GDBus\.Error:$error: " &&
    echo "$out" | grep -E "GDBus\.Error:$error: " | grep -qE -- "$pattern" &&
    [ "$info_rc" = 0 ] && kill -0 "$groved_pid" 2> /dev/null; then
    ok "$what: $error"
  else
    not_ok "$what: $error" "gdbus exit $rc: $out" "grovectl info exit $info_rc: $info"
  fi
}

cleanup() {
  if [ -n "$groved_pid" ] && kill -0 "$groved_pid" 2> /dev/null; then
    grove_test_remove_pods
    grove_test_sigterm_groved
  fi
  # a test that failed half-way may leave an infra container that no groved removed
  for dir in /proc/[0-9]*; do
    p=${dir#/proc/}
    [ "$p" = $$ ] && continue
    { tr '\0' ' ' < "$dir/cmdline"; } 2> /dev/null | grep -qF -- "$tmp/" && kill -KILL "$p"
  done 2> /dev/null
  for dir in /sys/fs/cgroup/grove-test-$$ /sys/fs/cgroup/*/grove-test-$$; do
    [ -d "$dir" ] && find "$dir" -name cgroup.procs -exec cat {} + 2> /dev/null
  done | sort -u | while read -r p; do kill -KILL "$p" 2> /dev/null; done
  [ -n "$dbus_pid" ] && kill "$dbus_pid" 2> /dev/null
  grove_test_remove_dirs
}
trap cleanup EXIT

grove_test_start_bus

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

good_pod='{"metadata": {"name": "errors", "namespace": "default", "uid": "uid-errors"}}'

# 1-6: messages whose signature does not match the method's: D-Bus InvalidArgs, sent by
# GDBus before groved's handler runs. gdbus call converts each argument to the type
# introspection gives, so a wrong type shows up as a wrong number of arguments.
call $path org.grove.Runtime1.CreatePod "$good_pod"
expect "CreatePod with one argument (s) instead of (ss)" org.freedesktop.DBus.Error.InvalidArgs \
  '\(s\).*\(ss\)'
call $path org.grove.Runtime1.CreatePod "$good_pod" "" ""
expect "CreatePod with three arguments" org.freedesktop.DBus.Error.InvalidArgs '\(sss\)'
call $path org.grove.Runtime1.ListPods
expect "ListPods without its a{sv} filter" org.freedesktop.DBus.Error.InvalidArgs \
  '\(\).*\(a\{sv\}\)'
call $path org.grove.Runtime1.ListImages "extra"
expect "ListImages, which takes nothing, with an argument" org.freedesktop.DBus.Error.InvalidArgs
call $path org.freedesktop.DBus.Properties.Get org.grove.Runtime1 NoSuchProperty
expect "Get of an unknown property" org.freedesktop.DBus.Error.InvalidArgs NoSuchProperty
call $path org.freedesktop.DBus.Properties.Set org.grove.Runtime1 Version '<"one">'
expect "Set of the read-only Version to a string" org.freedesktop.DBus.Error.InvalidArgs Version

# 7: the same number of arguments of the wrong type needs a client that does not convert
# them; dbus-send (from dbus-bin) is one
if command -v dbus-send > /dev/null; then
  out=$(dbus-send --bus="$bus" --print-reply --dest=$name $path org.grove.Runtime1.CreatePod \
    int32:42 string: 2>&1)
  rc=$?
  # dbus-send prints "Error NAME: MESSAGE"; put it the way gdbus does for expect
  out=$(echo "$out" | sed 's/^Error \([^:]*\): /GDBus.Error:\1: /')
  expect "CreatePod with (is) instead of (ss)" org.freedesktop.DBus.Error.InvalidArgs \
    '\(is\).*\(ss\)'
else
  ok "CreatePod with (is) instead of (ss) # SKIP needs dbus-send"
fi

# 8-11: unknown methods, interfaces and objects
call $path org.grove.Runtime1.Frobnicate
expect "an unknown method" org.freedesktop.DBus.Error.UnknownMethod Frobnicate
call $path org.grove.NoSuchInterface1.ListImages
expect "a method on an unknown interface" org.freedesktop.DBus.Error.UnknownMethod \
  NoSuchInterface1
# GLib 2.74 answers an object path with nothing on it with UnknownMethod; newer GLib may
# say UnknownObject
unknown_id=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
call $path/pods/$unknown_id org.grove.Pod1.Stop
expect "Pod1.Stop on a pod path nothing is at" 'org.freedesktop.DBus.Error.Unknown(Method|Object)' \
  "$unknown_id"
call /org/grove/NoSuchObject org.grove.Runtime1.ListImages
expect "a Runtime1 method on the wrong object path" \
  'org.freedesktop.DBus.Error.Unknown(Method|Object)' /org/grove/NoSuchObject

# 12-17: pod configs that are not valid PodSandboxConfigs
call $path org.grove.Runtime1.CreatePod '{}' ''
expect "CreatePod with {}" org.grove.Error.InvalidArgument metadata.name
call $path org.grove.Runtime1.CreatePod 'this is not JSON' ''
expect "CreatePod with text that is not JSON" org.grove.Error.InvalidArgument "pod config"
call $path org.grove.Runtime1.CreatePod '[1, 2]' ''
expect "CreatePod with a JSON array" org.grove.Error.InvalidArgument "not a JSON object"
call $path org.grove.Runtime1.CreatePod '' ''
expect "CreatePod with an empty config" org.grove.Error.InvalidArgument "pod config"
call $path org.grove.Runtime1.CreatePod '{"hostname": "nometa", "labels": {"a": "b"}}' ''
expect "CreatePod without metadata" org.grove.Error.InvalidArgument metadata
call $path org.grove.Runtime1.CreatePod '{"metadata": {"name": "a", "namespace": "b"}}' ''
expect "CreatePod without metadata.uid" org.grove.Error.InvalidArgument metadata.uid

# 18: a handler groved does not have
call $path org.grove.Runtime1.CreatePod "$good_pod" 'no-such-handler'
expect "CreatePod with an unknown handler" org.grove.Error.NotFound no-such-handler

# 19-20: filters with unknown keys or wrongly typed values
call $path org.grove.Runtime1.ListPods '{"colour": <"green">}'
expect "ListPods with an unknown filter key" org.grove.Error.InvalidArgument colour
call $path org.grove.Runtime1.ListContainers '{"state": <42>}'
expect "ListContainers with an int32 state filter" org.grove.Error.InvalidArgument state

# 21: none of the failed calls left a pod behind
pods=$("$grovectl" --bus "$bus" -o json pod ls 2>&1)
if [ "$(echo "$pods" | json 'len(d)' 2>&1)" = 0 ]; then
  ok "the failed CreatePod calls left no pod"
else
  not_ok "the failed CreatePod calls left no pod" "$pods"
fi

# 22-26: containers in an unknown pod, with a missing image or a bad config
call $path org.grove.Runtime1.CreateContainer "$unknown_id" \
  '{"metadata": {"name": "c"}, "image": {"image": "busybox"}}'
expect "CreateContainer in an unknown pod" org.grove.Error.NotFound "$unknown_id"
call $path org.grove.Runtime1.CreatePod "$good_pod" ''
pod_path=$(echo "$out" | sed -n "s|^(objectpath '\\(.*\\)',)\$|\\1|p")
pod_id=${pod_path##*/}
if [ "$rc" = 0 ] && [ "$pod_path" = "$path/pods/$pod_id" ] && [ ${#pod_id} = 64 ]; then
  ok "a valid pod for the container cases"
else
  not_ok "a valid pod for the container cases" "exit $rc: $out" "$(tail -5 "$tmp/groved.log")"
fi
call $path org.grove.Runtime1.CreateContainer "$pod_id" \
  '{"metadata": {"name": "c"}, "image": {"image": "localhost/no-such-image:1"}}'
expect "CreateContainer with an image not in the store" org.grove.Error.NotFound \
  "localhost/no-such-image:1"
call $path org.grove.Runtime1.CreateContainer "$pod_id" '{"metadata": {"name": "c"}}'
expect "CreateContainer without image.image" org.grove.Error.InvalidArgument image.image
call $path org.grove.Runtime1.CreateContainer "$pod_id" 'not JSON either'
expect "CreateContainer with text that is not JSON" org.grove.Error.InvalidArgument \
  "container config"

# 27-28: methods of the wrong interface or with arguments on a real pod object
call "$pod_path" org.grove.Pod1.Start
expect "Pod1.Start, which pods do not have" org.freedesktop.DBus.Error.UnknownMethod Start
call "$pod_path" org.grove.Pod1.Stop 'now'
expect "Pod1.Stop with an argument" org.freedesktop.DBus.Error.InvalidArgs '\(s\).*\(\)'

# 29: the pod has no container from the failed calls, and it is still ready
ctrs=$("$grovectl" --bus "$bus" -o json ps -a 2>&1)
state=$("$grovectl" --bus "$bus" -o json pod inspect "$pod_id" 2>&1 | json 'd["State"]' 2>&1)
if [ "$(echo "$ctrs" | json 'len(d)' 2>&1)" = 0 ] && [ "$state" = ready ]; then
  ok "the failed CreateContainer calls left no container; the pod is still ready"
else
  not_ok "the failed CreateContainer calls left no container; the pod is still ready" \
    "containers: $ctrs" "pod state: $state"
fi

exit "$failed"
