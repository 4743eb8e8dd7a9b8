#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# groved's polkit checks against a real polkitd. In a private mount namespace, tmpfs mounts
# over polkit's action and rules directories hold only Grove's built actions and the test's
# rules; a dbus-daemon with the system bus's policy and Grove's bus policy stands in for the
# system bus (polkitd finds it through DBUS_SYSTEM_BUS_ADDRESS); groved runs on it with
# [daemon] polkit = yes. An unprivileged member of the group the bus policy lets in
# (uid 65534) then calls groved: changes are refused without a grant and the engine does
# nothing, reading is open, a grant of org.grove.manage-containers allows ordinary pods but
# not privileged or host-namespace ones until org.grove.run-privileged (which implies
# manage) is granted, and with polkitd stopped every change is refused. Root is never asked
# about. Needs root, unshare, setpriv, polkitd, runc and conmon; the machine's polkit
# directories are never touched, and nothing is left behind.
set -u

. "${G_TEST_SRCDIR:-$(dirname "$0")}/grove-test-lib.sh"

# everything below runs in a mount namespace of its own: exec keeps the PID, which names
# the test's cgroup for tests/tap-test
if [ "${GROVE_TEST_POLKIT_NS:-}" != 1 ] && [ "$(id -u)" = 0 ] && command -v unshare > /dev/null; then
  GROVE_TEST_POLKIT_NS=1 exec unshare --mount --propagation private "$BASH" "$0" "$@"
fi
polkitd=
for candidate in /usr/lib/polkit-1/polkitd /usr/libexec/polkitd /usr/libexec/polkit-1/polkitd; do
  [ -x "$candidate" ] && polkitd=$candidate && break
done
if [ -z "$polkitd" ] || ! getent passwd polkitd > /dev/null; then
  echo "1..0 # SKIP needs polkitd and its user polkitd"
  exit 0
fi
if ! getent group grove > /dev/null && ! getent group users > /dev/null; then
  echo "1..0 # SKIP needs a group grove or users"
  exit 0
fi
grove_test_start grove-polkit 23 unshare setpriv dbus-daemon gdbus runc conmon
if [ "${GROVE_TEST_POLKIT_NS:-}" != 1 ]; then
  echo "Bail out! not in a mount namespace of the test's own"
  exit 1
fi
path=/org/grove/Runtime1
policy=$builddir/data/org.grove.policy
dbus_pid=
groved_pid=
polkitd_pid=
caller_uid=65534
caller=$(getent passwd $caller_uid | cut -d: -f1)

cleanup() {
  if [ -n "$groved_pid" ] && kill -0 "$groved_pid" 2> /dev/null; then
    grove_test_remove_pods
    grove_test_sigterm_groved
  fi
  if [ -n "$polkitd_pid" ] && kill -0 "$polkitd_pid" 2> /dev/null; then
    kill -TERM "$polkitd_pid"
    wait "$polkitd_pid" 2> /dev/null
  fi
  [ -n "$dbus_pid" ] && kill "$dbus_pid" 2> /dev/null
  # the tmpfs mounts over polkit's directories go with the mount namespace
  grove_test_remove_dirs
}
trap cleanup EXIT

if [ ! -r "$policy" ]; then
  echo "Bail out! $policy is not built"
  exit 1
fi

# polkit's directories, as polkitd sees them in this namespace only
for dir in /usr/share/polkit-1/actions /usr/share/polkit-1/rules.d /etc/polkit-1/rules.d; do
  if [ ! -d "$dir" ] || ! mount -t tmpfs -o mode=0755 grove-test-polkit "$dir"; then
    echo "Bail out! cannot mount a tmpfs over $dir"
    exit 1
  fi
done
cp "$policy" /usr/share/polkit-1/actions/org.grove.policy

# the bus: the system bus's policy, Grove's, and polkit's (its user owns its name, everyone
# may call it)
cat > "$tmp/polkit-bus.conf" << 'EOF'
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy user="polkitd">
    <allow own="org.freedesktop.PolicyKit1"/>
  </policy>
  <policy context="default">
    <allow send_destination="org.freedesktop.PolicyKit1"/>
  </policy>
</busconfig>
EOF
grove_test_policy_group "$srcdir/../data/org.grove.Runtime1.conf"
grove_test_system_bus_conf "$tmp/bus.conf" "$policy_conf" "$tmp/polkit-bus.conf"
bus_out=$(dbus-daemon --config-file="$tmp/bus.conf" --fork --print-address=1 --print-pid=1) ||
  exit 99
bus=$(echo "$bus_out" | sed -n 1p)
dbus_pid=$(echo "$bus_out" | sed -n 2p)

has_owner() {
  gdbus call --address "$bus" --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
    --method org.freedesktop.DBus.NameHasOwner "$1" 2> /dev/null | grep -q true
}
wait_owner() {
  for _ in $(seq 100); do
    has_owner "$1" && return 0
    kill -0 "$2" 2> /dev/null || return 1
    sleep 0.1
  done
  return 1
}

# start_polkitd RULES: polkitd with RULES (JavaScript) as its only rules file. It starts as
# root and changes to its user polkitd itself.
start_polkitd() {
  rm -f /etc/polkit-1/rules.d/*
  [ -n "$1" ] && echo "$1" > /etc/polkit-1/rules.d/50-grove-test.rules
  DBUS_SYSTEM_BUS_ADDRESS=$bus "$polkitd" > "$tmp/polkitd.log" 2>&1 &
  polkitd_pid=$!
  if ! wait_owner org.freedesktop.PolicyKit1 "$polkitd_pid"; then
    echo "Bail out! polkitd did not start: $(cat "$tmp/polkitd.log")"
    exit 1
  fi
}
stop_polkitd() {
  kill -TERM "$polkitd_pid"
  wait "$polkitd_pid" 2> /dev/null
  polkitd_pid=
}
# grant ACTION...: a rule allowing the caller each ACTION
grant() {
  local ids
  ids=$(printf '"%s", ' "$@")
  echo "polkit.addRule(function(action, subject) {
  if ([${ids%, }].indexOf(action.id) >= 0 && subject.user == \"$caller\")
    return polkit.Result.YES;
});"
}

start_groved() {
  printf '[daemon]\npolkit = %s\n[runtime]\ncgroup_parent = /grove-test-%s\n' "$1" "$$" \
    > "$tmp/grove.conf"
  printf '[network]\nconf_dir = %s/no-cni\n' "$tmp" >> "$tmp/grove.conf"
  "$groved" --config "$tmp/grove.conf" --bus "$bus" --root "$tmp/root" --runroot "$tmp/run" \
    --pause "$pause" 2> "$tmp/groved.log" &
  groved_pid=$!
  if ! wait_owner "$name" "$groved_pid"; then
    echo "Bail out! groved did not start: $(cat "$tmp/groved.log")"
    exit 1
  fi
}

# as_root / as_caller OBJECT-PATH INTERFACE.METHOD ARGS...: a gdbus call to groved, by root
# or by the unprivileged member of $group; output in $out, exit code in $rc
call_as() {
  local who=$1 object=$2 method=$3
  local run=()
  shift 3
  [ "$who" = caller ] && run=(setpriv --reuid=$caller_uid --regid=$caller_uid --groups="$gid")
  out=$("${run[@]}" gdbus call --address "$bus" --dest "$name" --object-path "$object" \
    --method "$method" "$@" 2>&1)
  rc=$?
}
as_root() { call_as root "$@"; }
as_caller() { call_as caller "$@"; }
# the last call failed with PermissionDenied, its message matching the extended regex PATTERN
denied() {
  [ "$rc" != 0 ] && echo "$out" | grep -qE "GDBus\.Error:org\.grove\.Error\.PermissionDenied: .*$1"
}
succeeded() { [ "$rc" = 0 ]; }
verdict() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else not_ok "$what" "exit $rc: $out" "$(tail -3 "$tmp/groved.log")"; fi
}
pod_config() {
  echo "{\"metadata\": {\"name\": \"$1\", \"namespace\": \"default\", \"uid\": \"uid-$1\"}${2:-}}"
}
privileged=', "linux": {"securityContext": {"privileged": true}}'
host_network=', "linux": {"securityContext": {"namespaceOptions": {"network": "NODE"}}}'
# pod_property OBJECT-PATH NAME: the property as root reads it, e.g. (<'ready'>,)
pod_property() {
  gdbus call --address "$bus" --dest "$name" --object-path "$1" \
    --method org.freedesktop.DBus.Properties.Get org.grove.Pod1 "$2" 2> /dev/null
}
# the IDs of the pods named NAME, as root lists them
pods_named() {
  local pods
  pods=$(gdbus call --address "$bus" --dest "$name" --object-path $path \
    --method org.grove.Runtime1.ListPods '@a{sv} {}' 2> /dev/null)
  for pod_path in $(echo "$pods" | grep -o "/org/grove/Runtime1/pods/[0-9a-f]*"); do
    pod_property "$pod_path" Name | grep -q "'$1'" && echo "${pod_path##*/}"
  done
}
no_pod() { [ -z "$(pods_named "$1")" ]; }
reply_path() { echo "$out" | sed -n "s|^(objectpath '\\(.*\\)',)\$|\\1|p"; }
manage=org.grove.manage-containers
run_privileged=org.grove.run-privileged

start_polkitd ""
start_groved yes

# 1-3: no grant: a change is refused, naming the action and why, and nothing happens
verdict "groved says it checks calls with polkit" grep -q "checked with polkit" "$tmp/groved.log"
as_caller $path org.grove.Runtime1.CreatePod "$(pod_config refused)" ''
verdict "$caller without a grant: CreatePod is refused for $manage" \
  denied "not authorized for $manage: authentication is required"
verdict "... and the engine created no pod" no_pod refused

# 4-5: reading needs no grant
as_caller $path org.grove.Runtime1.ListPods '@a{sv} {}'
ok_list=$rc
as_caller $path org.grove.Runtime1.ListImages
[ "$ok_list" = 0 ] && ok_list=$rc
as_caller $path org.grove.Runtime1.ListContainers '@a{sv} {}'
[ "$ok_list" = 0 ] && ok_list=$rc
rc=$ok_list
verdict "$caller without a grant may ListPods, ListImages and ListContainers" succeeded
as_caller $path org.freedesktop.DBus.Properties.GetAll org.grove.Runtime1
verdict "$caller without a grant may read the Runtime1 properties" succeeded

# 6: every other Runtime1 change is refused too
all_denied=0
for call in "ImportImage /nonexistent ''" "StartImport /nonexistent ''" \
  "RemoveImage busybox" "TagImage busybox other:1" "UntagImage busybox"; do
  eval "as_caller $path org.grove.Runtime1.$call"
  denied "$manage" || { all_denied=1 && break; }
done
verdict "$caller without a grant: image import, removal and tags are refused" [ $all_denied = 0 ]

# 7: root is not asked (polkitd would say yes to uid 0 anyway)
as_root $path org.grove.Runtime1.CreatePod "$(pod_config by-root)" ''
root_pod=$(reply_path)
verdict "root without a grant may CreatePod" succeeded

# 8-10: the objects' own methods
as_caller "$root_pod" org.grove.Pod1.Stop
denied "$manage"
stop_denied=$?
as_caller "$root_pod" org.grove.Pod1.Remove
verdict "$caller without a grant: Pod1.Stop and Remove are refused, the pod stays ready" \
  eval 'denied "$manage" && [ $stop_denied = 0 ] && pod_property "$root_pod" State | grep -q "<'"'ready'"'>"' 
as_caller $path org.grove.Runtime1.CreateContainer "${root_pod##*/}" \
  '{"metadata": {"name": "c"}, "image": {"image": "busybox"}}'
verdict "$caller without a grant: CreateContainer is refused for $manage" denied "$manage"
as_root $path org.grove.Runtime1.StartImport /nonexistent ''
job=$(reply_path)
as_caller "$job" org.grove.Job1.Cancel
verdict "$caller without a grant: Job1.Cancel is refused for $manage" denied "$manage"

# 11-15: manage-containers granted
stop_polkitd
start_polkitd "$(grant $manage)"
as_caller $path org.grove.Runtime1.CreatePod "$(pod_config managed)" ''
managed_pod=$(reply_path)
verdict "$caller with $manage: CreatePod of an ordinary pod succeeds" \
  eval 'succeeded && [ -n "$(pods_named managed)" ]' 
as_caller $path org.grove.Runtime1.CreatePod "$(pod_config privileged "$privileged")" ''
verdict "$caller with $manage: CreatePod of a privileged pod is refused for $run_privileged" \
  denied "$run_privileged"
as_caller $path org.grove.Runtime1.CreatePod "$(pod_config host-net "$host_network")" ''
verdict "$caller with $manage: CreatePod of a host-network pod is refused for $run_privileged" \
  denied "$run_privileged"
as_caller $path org.grove.Runtime1.CreateContainer "${managed_pod##*/}" \
  "{\"metadata\": {\"name\": \"c\"}, \"image\": {\"image\": \"busybox\"}$privileged}"
verdict "$caller with $manage: a privileged container is refused for $run_privileged" \
  denied "$run_privileged"
as_caller "$managed_pod" org.grove.Pod1.Remove
verdict "$caller with $manage: Pod1.Remove of its pod succeeds" \
  eval 'succeeded && no_pod managed'

# 16: a command in a privileged pod's container needs run-privileged too, not only manage
python3 "$srcdir/mkimage.py" busybox --format oci-dir "$tmp/busybox" || exit 99
as_root $path org.grove.Runtime1.ImportImage "$tmp/busybox" busybox
as_root $path org.grove.Runtime1.CreatePod "$(pod_config root-privileged "$privileged")" ''
root_privileged=$(reply_path)
as_root $path org.grove.Runtime1.CreateContainer "${root_privileged##*/}" \
  '{"metadata": {"name": "shell"}, "image": {"image": "busybox"}, "command": ["sleep", "600"]}'
privileged_container=$(reply_path)
as_root "${privileged_container:-/}" org.grove.Container1.Start
as_caller "${privileged_container:-/}" org.grove.Container1.ExecSync '["true"]' 10
exec_sync_denied=$?
denied "$run_privileged" && exec_sync_denied=0
as_caller "${privileged_container:-/}" org.grove.Container1.Exec '["true"]' '@a{sv} {}'
verdict "$caller with $manage: Exec and ExecSync in a privileged pod are refused for $run_privileged" \
  eval '[ $exec_sync_denied = 0 ] && denied "$run_privileged"'

# 17-19: run-privileged granted alone; its policy makes it imply manage-containers
stop_polkitd
start_polkitd "$(grant $run_privileged)"
as_caller "${privileged_container:-/}" org.grove.Container1.ExecSync '["sh", "-c", "echo in"]' 10
verdict "$caller with $run_privileged: ExecSync in the privileged pod runs" \
  eval 'succeeded && echo "$out" | grep -q "^(0, b.in\\\\n."'
as_root "$root_privileged" org.grove.Pod1.Remove
as_caller $path org.grove.Runtime1.CreatePod "$(pod_config privileged "$privileged")" ''
privileged_pod=$(reply_path)
verdict "$caller with $run_privileged: CreatePod of a privileged pod succeeds, trusted" \
  eval 'succeeded && pod_property "$privileged_pod" Trusted | grep -q "<true>"' 
as_caller "${privileged_pod:-/}" org.grove.Pod1.Remove
verdict "$caller with $run_privileged only: Pod1.Remove ($manage) succeeds" \
  eval 'succeeded && no_pod privileged'

# 20-21: polkitd gone: groved fails closed, but root still gets through
stop_polkitd
as_caller $path org.grove.Runtime1.CreatePod "$(pod_config no-polkit)" ''
verdict "polkitd stopped: $caller's CreatePod is refused: polkit is not running" \
  eval 'denied "$manage for :[0-9.]*: polkit is not running" && no_pod no-polkit'
as_root "$root_pod" org.grove.Pod1.Remove
verdict "polkitd stopped: root may still remove its pod" eval 'succeeded && no_pod by-root'

# 22-23: polkit = auto on a bus that is not the system bus: no checks
grove_test_sigterm_groved
start_groved auto
verdict "polkit = auto on a private bus: groved says it does not check" \
  grep -q "not checked with polkit" "$tmp/groved.log"
as_caller $path org.grove.Runtime1.CreatePod "$(pod_config unchecked)" ''
verdict "polkit = auto on a private bus: $caller's CreatePod succeeds without polkitd" \
  eval 'succeeded && [ -n "$(pods_named unchecked)" ]'

exit "$failed"
