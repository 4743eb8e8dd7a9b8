#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs the exact Debian 12 packages Grove's build, tests and benchmarks need.
# Idempotent: packages already installed are skipped, apt is only called when needed.
set -euo pipefail

packages=(
  # build
  autoconf automake autopoint libtool make gcc libc6-dev pkg-config gettext clang-format
  libglib2.0-dev libglib2.0-bin libostree-dev libarchive-dev libjson-glib-dev
  libzstd-dev libseccomp-dev libssl-dev python3
  libgrpc-dev protobuf-c-compiler libprotobuf-c-dev zlib1g-dev libsoup-3.0-dev
  # tests
  ostree busybox-static umoci skopeo zstd gzip tar attr dbus-daemon
  runc crun conmon iproute2 polkitd python3-grpcio python3-grpc-tools
  python3-websocket openssl containernetworking-plugins iptables docker-registry
  apache2-utils
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
