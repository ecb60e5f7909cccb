#!/usr/bin/env bash
# setup.sh - installs the Debian packages sluice builds and tests with.
# Idempotent: installs only what is missing, and does nothing when all are present.
set -euo pipefail

PKGS=(
  build-essential pkg-config clang
  libyaml-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
  libcmocka-dev
  libisal-dev python3-elasticsearch
  python3 python3-yaml curl prometheus
  python3-msgpack python3-fluent-logger openssl
  python3-protobuf python3-grpcio libpcre2-dev libhiredis-dev redis-server awscli
  rsyslog rsyslog-openssl
  libsnappy-dev libzstd-dev zstd
  libsystemd-dev systemd systemd-journal-remote
  librdkafka-dev kcat
  chromium chromium-driver tmux nodejs
  iproute2 util-linux tzdata
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# kubectl (kustomize rendering, the API emulator's cross-check): Debian's kubernetes-client,
# unless a kubectl from elsewhere is already installed (both ship /usr/bin/kubectl).
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
