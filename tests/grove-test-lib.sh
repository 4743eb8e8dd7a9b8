# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by the shell tests that run groved on a private bus: where the built programs
# are, the root and tool checks, TAP helpers, the test's own temporary directory and
# grovectl wrappers. Call `grove_test_start PREFIX PLAN TOOL...` first.
srcdir=${G_TEST_SRCDIR:-$(dirname "$0")}
builddir=${G_TEST_BUILDDIR:-$(dirname "$0")}/..
groved=${GROVED:-$builddir/groved}
grovectl=${GROVECTL:-$builddir/grovectl}
pause=$builddir/grove-pause
name=org.grove.Runtime1
n=0
failed=0
bus=
tmp=

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
  n=$((n + 1))
  failed=1
  echo "not ok $n - $1"
  shift
  for line in "$@"; do echo "$line" | sed 's/^/# /'; done
}

# skips the whole test (exit 0) without root or one of the TOOLs, prints the plan, sets $tmp
grove_test_start() {
  local prefix=$1 plan=$2
  shift 2
  if [ "$(id -u)" != 0 ]; then
    echo "1..0 # SKIP needs root"
    exit 0
  fi
  for tool in "$@"; do
    if ! command -v "$tool" > /dev/null; then
      echo "1..0 # SKIP needs $tool"
      exit 0
    fi
  done
  echo "1..$plan"
  tmp=$(mktemp -d "${GROVE_TEST_TMPBASE:-/var/tmp}/$prefix-XXXXXX") || exit 99
}

# runs grovectl on the test's bus: its stdout in $out, stderr in $err, exit code in $rc
ctl() {
  "$grovectl" --bus "$bus" "$@" > "$tmp/out" 2> "$tmp/err"
  rc=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}

# check NAME EXPECTED_RC [SHELL-CONDITION]: judges the last ctl call
check() {
  local what=$1 want=$2 cond=${3:-true}
  if [ "$rc" = "$want" ] && eval "$cond"; then
    ok "$what"
  else
    not_ok "$what" "exit $rc (want $want)" "stdout: $out" "stderr: $err"
  fi
}

json() {
  python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"
}

# starts a dbus-daemon of the test's own: sets $bus and $dbus_pid
grove_test_start_bus() {
  local bus_out
  bus_out=$(dbus-daemon --session --fork --print-address=1 --print-pid=1) || exit 99
  bus=$(echo "$bus_out" | sed -n 1p)
  dbus_pid=$(echo "$bus_out" | sed -n 2p)
}

# removes groved's pods, so that it takes down their containers, netns and mounts itself
grove_test_remove_pods() {
  for pod in $("$grovectl" --bus "$bus" -o json pod ls 2> /dev/null |
    json '" ".join(p["Id"] for p in d)' 2> /dev/null); do
    "$grovectl" --bus "$bus" pod rm "$pod" > /dev/null 2>&1
  done
}

# grove_test_sigterm_groved [SECONDS]: SIGTERM to groved ($groved_pid), SIGKILL if it runs
# on for SECONDS (default 10); $rc is its exit code, or "timeout"; $groved_pid is cleared
grove_test_sigterm_groved() {
  local timed_out=
  kill -TERM "$groved_pid"
  for _ in $(seq $((${1:-10} * 10))); do
    kill -0 "$groved_pid" 2> /dev/null || break
    sleep 0.1
  done
  if kill -0 "$groved_pid" 2> /dev/null; then
    timed_out=1
    kill -KILL "$groved_pid"
  fi
  wait "$groved_pid" 2> /dev/null
  rc=$?
  [ -n "$timed_out" ] && rc=timeout
  groved_pid=
}

# the CRI client (tests/cri-client.py) needs python3 with grpcio and grpc_tools: sets
# $cri_python, or skips the whole test (exit 0) when there is none. Call it before
# grove_test_start; set $cri_socket to where groved serves (groved --cri-socket).
grove_test_need_cri_client() {
  cri_python=
  for p in "${GROVE_PYTHON:-}" /usr/bin/python3 python3; do
    if [ -n "$p" ] && "$p" -c 'import grpc, grpc_tools.protoc' 2> /dev/null; then
      cri_python=$p
      break
    fi
  done
  if [ -z "$cri_python" ]; then
    echo "1..0 # SKIP needs python3 with grpcio and grpc_tools"
    exit 0
  fi
}

# runs the CRI client on $cri_socket: its stdout in $out, stderr in $err, exit code in $rc;
# the messages it generates from api.proto are kept in $tmp/cri-stubs
cri() {
  mkdir -p "$tmp/cri-stubs"
  "$cri_python" "$srcdir/cri-client.py" --socket "$cri_socket" --stubs "$tmp/cri-stubs" \
    "$@" > "$tmp/out" 2> "$tmp/err"
  rc=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
}

# grove_test_policy_group POLICY: the group whose members the bus policy POLICY
# (data/org.grove.Runtime1.conf) lets call groved: sets $group, $gid, and $policy_conf, the
# file to include: POLICY itself where the group grove exists, else a copy in $tmp whose
# rules name the group users. Fails when neither group exists.
grove_test_policy_group() {
  group=grove
  policy_conf=$(realpath "$1")
  if ! getent group grove > /dev/null; then
    getent group users > /dev/null || return 1
    group=users
    policy_conf=$tmp/policy-users.conf
    sed 's/group="grove"/group="users"/' "$1" > "$policy_conf"
  fi
  gid=$(getent group "$group" | cut -d: -f3)
}

# grove_test_system_bus_conf FILE INCLUDE...: writes FILE, a dbus-daemon config with the
# system bus's default policy (dbus's system.conf), which the INCLUDEd policies punch holes
# in; on an abstract socket, so that any user reaches it whatever the modes of $tmp
grove_test_system_bus_conf() {
  local file=$1 include
  shift
  {
    cat << EOC
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:abstract=$tmp/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
EOC
    for include in "$@"; do echo "  <include>$include</include>"; done
    echo "</busconfig>"
  } > "$file"
}

# once the test's processes are gone: unmounts what is left below $tmp, removes the test's
# cgroups (its cgroup parent is /grove-test-$$) and $tmp
grove_test_remove_dirs() {
  sleep 0.2
  awk -v base="$tmp/" 'index($5, base) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount -l "$m"; done
  for dir in /sys/fs/cgroup/grove-test-$$ /sys/fs/cgroup/*/grove-test-$$; do
    [ -d "$dir" ] && find "$dir" -depth -type d -exec rmdir {} \; 2> /dev/null
  done
  rm -rf "$tmp"
}
