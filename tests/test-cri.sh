#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# groved's CRI socket, driven by tests/cri-client.py (messages generated from api.proto at
# test time) on a private bus: Version, Status, RuntimeConfig, UpdateRuntimeConfig, the
# image service against images imported over D-Bus, error statuses, the socket's lock and
# a clean SIGTERM. Needs root; leaves no process, mount or directory behind.
set -u

. "${G_TEST_SRCDIR:-$(dirname "$0")}/grove-test-lib.sh"
grove_test_need_cri_client
grove_test_start grove-cri 27 dbus-daemon runc du stat
dbus_pid=
groved_pid=
cri_socket=$tmp/run/cri.sock

cleanup() {
  if [ -n "$groved_pid" ] && kill -0 "$groved_pid" 2> /dev/null; then
    kill -KILL "$groved_pid"
    wait "$groved_pid" 2> /dev/null
  fi
  [ -n "$dbus_pid" ] && kill "$dbus_pid" 2> /dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# jq-like: a Python expression over the JSON in $out, d being the document
field() {
  echo "$out" | json "$1"
}

# check_error NAME CODE TEXT: the last cri call failed with status CODE, naming TEXT
check_error() {
  if [ "$rc" = 1 ] && echo "$err" | grep -qx "code: $2" && echo "$err" | grep -qF -- "$3"; then
    ok "$1"
  else
    not_ok "$1" "exit $rc (want 1, code $2, message with '$3')" "stdout: $out" "stderr: $err"
  fi
}

grove_test_start_bus
conf=$tmp/grove.conf
printf '[runtime]\ncgroup_parent = /grove-test-%s\n' "$$" > "$conf"
# no CNI config of the machine's: pods get loopback only, nothing outside the test's reach
printf '[network]\nconf_dir = %s/no-cni\n' "$tmp" >> "$conf"
"$groved" --config "$conf" --bus "$bus" --root "$tmp/root" --runroot "$tmp/run" \
  --pause "$pause" --cri-socket "$cri_socket" 2> "$tmp/groved.log" &
groved_pid=$!

# 1: the socket comes up, root's and its group's only
for _ in $(seq 100); do
  [ -S "$cri_socket" ] && break
  kill -0 "$groved_pid" 2> /dev/null || break
  sleep 0.1
done
if [ -S "$cri_socket" ] && [ "$(stat -c %a "$cri_socket")" = 660 ]; then
  ok "groved serves the CRI on a socket of mode 0660"
else
  echo "Bail out! no CRI socket: $(cat "$tmp/groved.log")"
  exit 1
fi

# 2-5: the runtime itself
version=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$builddir/config.h")
cri version
check "Version: grove, its version, CRI v1" 0 \
  '[ "$(field "d[\"runtime_name\"], d[\"runtime_version\"], d[\"runtime_api_version\"]")" = "grove $version v1" ]'
cri status
check "Status: runtime ready; network not ready, NetworkPluginNotReady, no CNI" 0 \
  '[ "$(field "[(c[\"type\"], c.get(\"status\", False), c.get(\"reason\", \"\")) for c in d[\"status\"][\"conditions\"]] == [(\"RuntimeReady\", True, \"\"), (\"NetworkReady\", False, \"NetworkPluginNotReady\")]")" = True ] &&
   field "d[\"status\"][\"conditions\"][1][\"message\"]" | grep -q CNI && [ -z "$(field "d.get(\"info\", \"\")")" ]'
cri status -v
check "Status: the engine's runtime handlers, verbose info as JSON" 0 \
  '[ "$(field "[h[\"name\"] for h in d[\"runtime_handlers\"]]")" = "$(field "json.loads(d[\"info\"][\"info\"])[\"runtimeHandlers\"]")" ] &&
   field "[h[\"name\"] for h in d[\"runtime_handlers\"]]" | grep -q "runc"'
cri config
check "RuntimeConfig: the cgroupfs driver" 0 '[ "$(field "d[\"linux\"][\"cgroup_driver\"]")" = CGROUPFS ]'

# 6-7: UpdateRuntimeConfig keeps the pod CIDR; a bad one names the field
cri call RuntimeService/UpdateRuntimeConfig \
  '{"runtime_config": {"network_config": {"pod_cidr": "10.88.0.0/16,fd00:88::/64"}}}'
rc1=$rc
cri status -v
check "UpdateRuntimeConfig: the pod CIDR is kept" 0 \
  '[ "$rc1" = 0 ] && [ "$(field "json.loads(d[\"info\"][\"info\"])[\"podCIDR\"]")" = "10.88.0.0/16,fd00:88::/64" ]'
cri call RuntimeService/UpdateRuntimeConfig \
  '{"runtime_config": {"network_config": {"pod_cidr": "10.88.0.0/99"}}}'
check_error "UpdateRuntimeConfig: a bad CIDR is INVALID_ARGUMENT naming the field" \
  INVALID_ARGUMENT "runtime_config.network_config.pod_cidr"

# images come in over D-Bus: busybox with two names, and two images that name a user
"$cri_python" "$srcdir/mkimage.py" busybox --format oci-dir "$tmp/busybox" || exit 99
"$cri_python" "$srcdir/mkimage.py" busybox --user 1000:1000 --format oci-dir "$tmp/uid" || exit 99
"$cri_python" "$srcdir/mkimage.py" busybox --user app --format oci-dir "$tmp/named" || exit 99
ctl image import "$tmp/busybox" --tag busybox
image_id=$out
ctl image tag busybox localhost/bb:1
ctl image import "$tmp/uid" --tag localhost/uid:1
ctl image import "$tmp/named" --tag localhost/named:1
ctl -o json image ls
size=$(echo "$out" | json '[i for i in d if i["Id"] == "'"$image_id"'"][0]["Size"]')

# 8-10: ListImages
cri images
check "ListImages: the three images" 0 '[ "$(field "len(d[\"images\"])")" = 3 ]'
cri images busybox
check "ListImages filtered by a name: ID, every tag, digest, size" 0 \
  '[ "$(field "len(d[\"images\"])")" = 1 ] &&
   [ "$(field "d[\"images\"][0][\"id\"]")" = "sha256:$image_id" ] &&
   [ "$(field "sorted(d[\"images\"][0][\"repo_tags\"])")" = "['"'docker.io/library/busybox:latest', 'localhost/bb:1'"']" ] &&
   field "d[\"images\"][0][\"repo_digests\"][0]" | grep -qE "@sha256:[0-9a-f]{64}$" &&
   [ "$(field "d[\"images\"][0][\"size\"]")" = "$size" ] && [ "$size" -gt 0 ]'
cri images quay.io/not/here:1
check "ListImages filtered by an absent name: none" 0 '[ "$(field "len(d.get(\"images\", []))")" = 0 ]'

# 11-15: ImageStatus
cri inspecti "${image_id:0:12}"
check "ImageStatus by ID prefix: no user, no info unless verbose" 0 \
  '[ "$(field "d[\"image\"][\"id\"]")" = "sha256:$image_id" ] &&
   [ "$(field "\"uid\" in d[\"image\"] or \"username\" in d[\"image\"] or \"info\" in d")" = False ]'
cri inspecti localhost/uid:1
check "ImageStatus: a numeric User is the uid" 0 \
  '[ "$(field "d[\"image\"][\"uid\"][\"value\"], d[\"image\"].get(\"username\")")" = "1000 None" ]'
cri inspecti localhost/named:1
check "ImageStatus: a named User is the username" 0 \
  '[ "$(field "d[\"image\"].get(\"uid\"), d[\"image\"][\"username\"]")" = "None app" ]'
cri inspecti -v busybox
check "ImageStatus verbose: info with the image config" 0 \
  '[ "$(field "json.loads(d[\"info\"][\"info\"])[\"id\"]")" = "$image_id" ] &&
   [ "$(field "json.loads(d[\"info\"][\"info\"])[\"config\"][\"config\"][\"Cmd\"]")" = "['"'sh'"']" ]'
cri inspecti quay.io/not/here:1
check "ImageStatus of an absent image: an empty answer, no error" 0 '[ "$out" = "{}" ]'

# 16-18: PullImage (tests/test-cri-pull.py pulls from registries)
cri pull busybox
check "PullImage of a short name in the store, no default registry: its image ref" 0 \
  '[ "$(field "d[\"image_ref\"]")" = "sha256:$image_id" ]'
# nothing listens on loopback port 1: refused at once, never a network beyond loopback
cri pull 127.0.0.1:1/not/here:1
check_error "PullImage from a registry that is not there: UNAVAILABLE, naming it" UNAVAILABLE \
  "127.0.0.1:1/not/here:1"
cri pull 'Not A Reference!'
check_error "PullImage of a malformed reference: INVALID_ARGUMENT" INVALID_ARGUMENT \
  "Not A Reference!"

# 19-20: RemoveImage removes every tag, also for D-Bus, and again is no error
cri rmi localhost/bb:1
rc1=$rc
ctl image ls
check "RemoveImage by one tag removes the image with all its tags (D-Bus sees it)" 0 \
  '[ "$rc1" = 0 ] && ! echo "$out" | grep -q -e busybox -e localhost/bb'
cri rmi localhost/bb:1 busybox "$image_id"
check "RemoveImage of an absent image: no error" 0

# 21: ImageFsInfo measures what du measures
cri imagefsinfo
du_bytes=$(du -sx -B1 "$tmp/root/storage" | cut -f1)
du_inodes=$(du -sx --inodes "$tmp/root/storage" | cut -f1)
check "ImageFsInfo: bytes and inodes as du counts them, the store's mount point" 0 \
  '[ "$(field "d[\"image_filesystems\"][0][\"used_bytes\"][\"value\"]")" = "$du_bytes" ] &&
   [ "$(field "d[\"image_filesystems\"][0][\"inodes_used\"][\"value\"]")" = "$du_inodes" ] &&
   [ "$(field "d[\"image_filesystems\"][0][\"fs_id\"][\"mountpoint\"]")" = "$(stat -c %m "$tmp/root/storage")" ] &&
   [ "$(field "abs(int(d[\"image_filesystems\"][0][\"timestamp\"]) // 10**9 - $(date +%s)) < 60")" = True ]'

# 22-25: errors
start=$(date +%s%N)
cri --timeout 20 call RuntimeService/CheckpointContainer
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
if [ "$elapsed_ms" -lt 10000 ]; then
  check_error "a method Grove does not serve yet: UNIMPLEMENTED at once ($elapsed_ms ms)" \
    UNIMPLEMENTED "/runtime.v1.RuntimeService/CheckpointContainer"
else
  not_ok "a method Grove does not serve yet: UNIMPLEMENTED at once" "after $elapsed_ms ms"
fi
cri call ImageService/ImageStatus '{"image": {"image": ""}}'
check_error "ImageStatus without an image: INVALID_ARGUMENT naming the field" INVALID_ARGUMENT \
  "image.image"
cri raw ImageService/ListImages 0aff
check_error "malformed protobuf bytes: INVALID_ARGUMENT" INVALID_ARGUMENT \
  "malformed runtime.v1.ListImagesRequest"
cri version
check "groved keeps serving after the errors" 0 '[ "$(field "d[\"runtime_name\"]")" = grove ]'

# 26: a second groved cannot take the socket over (its lock), and the first keeps it
second=$(timeout 20 "$groved" --config "$conf" --bus "$bus" --root "$tmp/root2" \
  --runroot "$tmp/run2" --pause "$pause" --cri-socket "$cri_socket" 2>&1)
rc1=$?
cri version
check "a second groved on the same CRI socket exits 1: in use" 0 \
  '[ "$rc1" = 1 ] && echo "$second" | grep -q "cri.sock is in use"'

# 27: SIGTERM: exit 0 and the socket is gone
grove_test_sigterm_groved 5
if [ "$rc" = 0 ] && [ ! -e "$cri_socket" ]; then
  ok "SIGTERM: groved exits 0 within 5 s and removes the socket"
else
  not_ok "SIGTERM: groved exits 0 within 5 s and removes the socket" "exit $rc" \
    "$(ls -l "$tmp/run")" "$(cat "$tmp/groved.log")"
fi

exit "$failed"
