#!/usr/bin/env bash
# build.sh - builds sluice's OCI image with podman, without pulling any base image:
#   1. debootstrap makes a minimal Debian root (bookworm, minbase) with the packages that hold
#      the libraries sluice loads: those `ldd build/sluice` lists, the ones it loads on first
#      use (libcurl, libsnappy, libsystemd, libzstd, librdkafka), CA certificates, and curl for the
#      healthcheck;
#   2. the runtime root keeps only what runs: sluice's shared-library closure (resolved by the
#      dynamic loader inside the Debian root), curl, the CA bundle, /etc/passwd with the
#      sluice user (10001), /var/lib/sluice owned by it, /tmp;
#   3. `podman import` makes that root the base image, and `podman build` (Containerfile, COPY
#      only, no RUN) adds the binary, the user, the volume, the healthcheck and the labels.
# Tags: localhost/sluice:<version> and :latest, and $REGISTRY/sluice:<version> when REGISTRY is
# set (then `podman push $REGISTRY/sluice:<version>`). Also writes build/image/sluice-<version>.tar
# (docker-archive, for `podman load` / `docker load`).
#
# Env: SLUICE (the binary; default: `make all` and build/sluice), IMAGE_WORK (default
# build/image), SUITE (bookworm), MIRROR (debootstrap's default when empty), REGISTRY,
# STORAGE (podman storage root; default: podman's own). Needs root, podman and debootstrap
# (installed with apt-get when missing). Slow on the first run (debootstrap downloads about
# 40 MB); the Debian root is kept in IMAGE_WORK and reused.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
WORKDIR="${IMAGE_WORK:-$root/build/image}"
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-}"
UID_SLUICE=10001

need=()
command -v podman >/dev/null || need+=(podman)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  echo "image: installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
PODMAN=(podman)
[ -n "${STORAGE:-}" ] && PODMAN+=(--root "$STORAGE/root" --runroot "$STORAGE/run" --storage-driver vfs)

if [ -z "${SLUICE:-}" ]; then
  nice -n 10 make -j2 all >/dev/null
  SLUICE="$root/build/sluice"
fi
VERSION="$("$SLUICE" version | awk '{print $2}')"
REVISION="$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)"
CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
mkdir -p "$WORKDIR"

# ---- 1. the Debian root ------------------------------------------------------------------
# The libraries sluice loads, by the packages that ship them (on this build machine).
libs=$(ldd "$SLUICE" | awk '$3 ~ /^\// {print $3}')
lazy="libcurl.so.4 libsnappy.so.1 libsystemd.so.0 libzstd.so.1 librdkafka.so.1"  # dlopen'ed on first use (core/lazylib)
pkgs="ca-certificates curl"
for l in $libs $(for n in $lazy; do echo "/usr/lib/x86_64-linux-gnu/$n"; done); do
  r=$(realpath "$l")  # dpkg knows a file by the path its package gave (/lib or /usr/lib)
  p=$(dpkg -S "$r" "${r#/usr}" 2>/dev/null | head -1 | cut -d: -f1) || true
  [ -n "$p" ] || { echo "image: no package ships $l" >&2; exit 1; }
  pkgs="$pkgs $p"
done
pkgs=$(echo "$pkgs" | tr ' ' '\n' | grep -v '^libc6$' | sort -u | tr '\n' ',' | sed 's/,$//')
deb="$WORKDIR/debian-$SUITE"
if [ ! -e "$deb/.sluice-pkgs" ] || [ "$(cat "$deb/.sluice-pkgs")" != "$pkgs" ]; then
  echo "image: debootstrap $SUITE with $pkgs"
  rm -rf "$deb"
  debootstrap --variant=minbase --include="$pkgs" "$SUITE" "$deb" $MIRROR >"$WORKDIR/debootstrap.log" 2>&1 ||
    { tail -20 "$WORKDIR/debootstrap.log"; exit 1; }
  echo "$pkgs" >"$deb/.sluice-pkgs"
fi

# ---- 2. the runtime root -----------------------------------------------------------------
rootfs="$WORKDIR/rootfs"
rm -rf "$rootfs"
mkdir -p "$rootfs"/{usr/bin,usr/lib/x86_64-linux-gnu,usr/lib64,etc/ssl/certs,etc/sluice,tmp,var/lib/sluice,proc,dev,sys}
for d in bin lib lib64 sbin; do ln -s "usr/$d" "$rootfs/$d"; done
mkdir -p "$rootfs/usr/sbin"
cp "$SLUICE" "$deb/usr/bin/sluice"  # only to resolve its libraries in the Debian root
closure() {  # the absolute paths of every library $1 needs, resolved inside the Debian root
  chroot "$deb" /usr/lib64/ld-linux-x86-64.so.2 --list "$1" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'
}
files="/usr/bin/curl /usr/lib64/ld-linux-x86-64.so.2"
for f in /usr/bin/sluice /usr/bin/curl $(for n in $lazy; do echo "/usr/lib/x86_64-linux-gnu/$n"; done); do
  out=$(chroot "$deb" /usr/lib64/ld-linux-x86-64.so.2 --list "$f")
  if echo "$out" | grep -q 'not found'; then echo "image: $f: $out" >&2; exit 1; fi
  files="$files $f $(closure "$f")"
done
rm -f "$deb/usr/bin/sluice"
for f in $(echo "$files" | tr ' ' '\n' | sort -u); do
  case "$f" in /usr/bin/sluice) continue ;; /lib/*|/lib64/*) f="/usr$f" ;; esac
  real=$(chroot "$deb" realpath "$f")
  mkdir -p "$rootfs$(dirname "$f")" "$rootfs$(dirname "$real")"
  cp -a "$deb$real" "$rootfs$real"
  [ "$real" = "$f" ] || ln -sf "$real" "$rootfs$f"
done
# CA certificates for https:// sinks (OpenSSL looks in /usr/lib/ssl, which points here).
cp -a "$deb/etc/ssl/certs/ca-certificates.crt" "$rootfs/etc/ssl/certs/"
mkdir -p "$rootfs/usr/lib/ssl"
ln -s /etc/ssl/certs "$rootfs/usr/lib/ssl/certs"
ln -s /etc/ssl/certs/ca-certificates.crt "$rootfs/usr/lib/ssl/cert.pem"
cp -a "$deb/etc/os-release" "$deb/usr/lib/os-release" "$rootfs/usr/lib/" 2>/dev/null || true
ln -sf ../usr/lib/os-release "$rootfs/etc/os-release"
cat >"$rootfs/etc/passwd" <<PW
root:x:0:0:root:/root:/usr/sbin/nologin
sluice:x:$UID_SLUICE:$UID_SLUICE:sluice:/var/lib/sluice:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
PW
cat >"$rootfs/etc/group" <<GR
root:x:0:
sluice:x:$UID_SLUICE:
nogroup:x:65534:
GR
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
chmod 1777 "$rootfs/tmp"
chown "$UID_SLUICE:$UID_SLUICE" "$rootfs/var/lib/sluice"
chmod 0700 "$rootfs/var/lib/sluice"
base_tar="$WORKDIR/rootfs.tar"
tar --sort=name --numeric-owner --mtime="@0" -C "$rootfs" -cf "$base_tar" .

# ---- 3. the image ------------------------------------------------------------------------
base="localhost/sluice-base:$VERSION"
"${PODMAN[@]}" import --quiet "$base_tar" "$base" >/dev/null
ctx="$WORKDIR/context"
rm -rf "$ctx"
mkdir -p "$ctx"
cp "$here/Containerfile" "$ctx/"
cp "$SLUICE" "$ctx/sluice"
strip --strip-debug "$ctx/sluice"
tags=(-t "localhost/sluice:$VERSION" -t "localhost/sluice:latest")
[ -n "${REGISTRY:-}" ] && tags+=(-t "$REGISTRY/sluice:$VERSION")
# docker format: OCI image configs have no HEALTHCHECK
"${PODMAN[@]}" build --quiet --format docker --pull=never --network=none \
  --build-arg "BASE=$base" --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" \
  --build-arg "CREATED=$CREATED" "${tags[@]}" "$ctx" >/dev/null
rm -f "$WORKDIR/sluice-$VERSION.tar"
"${PODMAN[@]}" save --quiet --format docker-archive -o "$WORKDIR/sluice-$VERSION.tar" "localhost/sluice:$VERSION"
size=$("${PODMAN[@]}" image inspect --format '{{.Size}}' "localhost/sluice:$VERSION")
echo "image: localhost/sluice:$VERSION ($((size / 1024 / 1024)) MiB, $(echo "$files" | tr ' ' '\n' | sort -u | wc -l) files from Debian $SUITE), saved to $WORKDIR/sluice-$VERSION.tar"
