#!/usr/bin/env bash
# test.sh - builds the image (build.sh) and proves it runs, without starting a container (this
# machine refuses a container's setrlimit): the image's filesystem is exported and sluice runs
# in it with chroot, in a private network and mount namespace, as the image's user:
#   - the image's config: user 10001, /var/lib/sluice volume, healthcheck on /healthz, the
#     quickstart as command, OCI labels, tags;
#   - every ELF file in it resolves all its libraries there (the dynamic loader says so);
#   - `sluice version`, `sluice validate` of each Kubernetes overlay's config;
#   - the quickstart: events reach ./demo/out in the volume, /healthz answers, the
#     healthcheck's own command (curl in the image) passes, and SIGTERM stops it cleanly;
#   - the libraries loaded on first use load: an http sink (libcurl), a loki sink in protobuf
#     (libsnappy) and a journald source (libsystemd) start and the pipeline is ready.
# `make image` runs it. Slow (debootstrap and podman); not part of `make test`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export IMAGE_WORK="${IMAGE_WORK:-$root/build/image}"
export STORAGE="${STORAGE:-$IMAGE_WORK/storage}"
PODMAN=(podman --root "$STORAGE/root" --runroot "$STORAGE/run" --storage-driver vfs)
bash "$here/build.sh"
VERSION="$("${SLUICE:-$root/build/sluice}" version | awk '{print $2}')"
IMG="localhost/sluice:$VERSION"
fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- the image's configuration -------------------------------------------------------------
"${PODMAN[@]}" image inspect "$IMG" >"$IMAGE_WORK/inspect.json"
/usr/bin/python3 - "$IMAGE_WORK/inspect.json" "$VERSION" <<'PY' || exit 1
import json, sys
img = json.load(open(sys.argv[1]))[0]
version = sys.argv[2]
c = img["Config"]
assert c["User"] == "10001:10001", c["User"]
assert "/var/lib/sluice" in c["Volumes"], c.get("Volumes")
assert c["WorkingDir"] == "/var/lib/sluice", c["WorkingDir"]
assert c["Entrypoint"] == ["/usr/bin/sluice"] and c["Cmd"] == ["run"], (c["Entrypoint"], c["Cmd"])
assert c["StopSignal"] == "SIGTERM", c.get("StopSignal")
hc = img.get("Healthcheck") or c.get("Healthcheck")
assert hc and hc["Test"][0] == "CMD" and "http://127.0.0.1:2020/healthz" in hc["Test"], hc
l = c["Labels"]
assert l["org.opencontainers.image.version"] == version, l
assert l["org.opencontainers.image.title"] == "sluice" and len(l["org.opencontainers.image.revision"]) == 40, l
assert "localhost/sluice:latest" in img["RepoTags"] and "localhost/sluice:%s" % version in img["RepoTags"], img["RepoTags"]
assert len(img["RootFS"]["Layers"]) == 2, img["RootFS"]  # the imported root + the COPY
print("image config ok: %d MiB, layers %d" % (img["Size"] >> 20, len(img["RootFS"]["Layers"])))
PY

# ---- its filesystem ------------------------------------------------------------------------
rootfs="$IMAGE_WORK/export"
rm -rf "$rootfs"; mkdir -p "$rootfs"
cid=$("${PODMAN[@]}" create "$IMG")   # created, never started
"${PODMAN[@]}" export "$cid" | tar -C "$rootfs" -xf -
"${PODMAN[@]}" rm "$cid" >/dev/null 2>>"$IMAGE_WORK/podman.log"  # (a healthcheck timer it cannot remove without systemd: noise)
n=0
while IFS= read -r f; do
  head -c 4 "$f" | grep -q 'ELF' || continue
  out=$(chroot "$rootfs" /lib64/ld-linux-x86-64.so.2 --list "${f#$rootfs}" 2>&1) || true
  if echo "$out" | grep -q 'not found'; then fail "${f#$rootfs}: $out"; fi
  n=$((n + 1))
done < <(find "$rootfs/usr" -type f)
echo "libraries ok: $n ELF files resolve every library in the image"
[ "$(stat -c %u "$rootfs/var/lib/sluice")" = 10001 ] || fail "/var/lib/sluice is not the sluice user's"

mkdir -p "$rootfs/etc/sluice"
for o in node-agent aggregator cloudwatch; do
  cp "$root/deploy/kubernetes/overlays/$o/sluice.yaml" "$rootfs/etc/sluice/$o.yaml"
done
cat >"$rootfs/etc/sluice/lazy.yaml" <<'YAML'
data_dir: /var/lib/sluice/lazy
shutdown_timeout: 1s
api: { address: "127.0.0.1:2021" }
sources:
  gen: { type: demo, rate: 10 }
  journal: { type: journald, directory: /tmp/journal, read_from: head }
sinks:
  web: { type: http, inputs: [gen], uri: "http://127.0.0.1:9/ingest" }
  loki: { type: loki, inputs: [gen], endpoint: "http://127.0.0.1:9", encoding: protobuf }
  journal_out: { type: file, inputs: [journal], path: /tmp/journal-out.ndjson }
YAML
# a journal file for the journald source, written by systemd-journal-remote on this machine
mkdir -p "$rootfs/tmp/journal"
printf '__REALTIME_TIMESTAMP=1700000000000000\n__MONOTONIC_TIMESTAMP=1000\n_BOOT_ID=0123456789abcdef0123456789abcdef\nMESSAGE=hello from the journal\n\n' |
  /lib/systemd/systemd-journal-remote --output="$rootfs/tmp/journal/a.journal" - 2>/dev/null || fail "systemd-journal-remote"
chmod 0755 "$rootfs/tmp/journal"; chmod 0644 "$rootfs/tmp/journal/a.journal"

# Everything below runs inside `unshare -n -m`: loopback only, mounts private.
export rootfs
unshare -n -m /bin/bash -eu <<'SH'
ip link set lo up
mount --bind /proc "$rootfs/proc"
mount --bind /dev "$rootfs/dev"
run() {  # run as the image's user, in the image's working directory
  /usr/bin/python3 -c '
import os, sys
os.chroot(sys.argv[1]); os.chdir("/var/lib/sluice")
os.setgroups([]); os.setgid(10001); os.setuid(10001)
os.execv(sys.argv[2], sys.argv[2:])' "$rootfs" "$@"
}
start() {  # the same in the background: the job's pid is sluice's (exec, no shell between)
  exec /usr/bin/python3 -c '
import os, sys
os.chroot(sys.argv[1]); os.chdir("/var/lib/sluice")
os.setgroups([]); os.setgid(10001); os.setuid(10001)
os.execv(sys.argv[2], sys.argv[2:])' "$rootfs" "$@"
}
fail() { echo "FAIL: $*" >&2; exit 1; }
v=$(run /usr/bin/sluice version) || fail "sluice version"
echo "in the image: $v"
for o in node-agent aggregator cloudwatch; do
  run /usr/bin/sluice validate -c /etc/sluice/$o.yaml || fail "validate $o"
done

# the quickstart, the image's default command
start /usr/bin/sluice run >"$rootfs/tmp/quickstart.log" 2>&1 &
pid=$!
ok=0
for _ in $(seq 1 600); do
  kill -0 $pid 2>/dev/null || break
  lines=$(cat "$rootfs"/var/lib/sluice/demo/out/*.ndjson 2>/dev/null | wc -l)
  if [ "$lines" -ge 300 ] && curl -sf http://127.0.0.1:2020/readyz >/dev/null; then ok=1; break; fi
  sleep 0.2
done
[ $ok = 1 ] || { cat "$rootfs/tmp/quickstart.log"; fail "the quickstart produced no output"; }
run /usr/bin/curl -fsS -o /dev/null http://127.0.0.1:2020/healthz || fail "the healthcheck command failed"
kill -TERM $pid
wait $pid || { cat "$rootfs/tmp/quickstart.log"; fail "the quickstart did not stop cleanly"; }
[ -n "$(ls "$rootfs/var/lib/sluice/demo/data/checkpoints/")" ] || fail "no checkpoint"
echo "quickstart ok: $(cat "$rootfs"/var/lib/sluice/demo/out/*.ndjson | wc -l) events, healthcheck passed, clean stop"

# the libraries loaded on first use: libcurl (the http and loki sinks' requests through a
# proxy: the sinks' own client leaves only those to libcurl; a proxy that is not there loads
# it, and its "Failed to connect" is the proof), libsnappy (loki protobuf) and libsystemd
# (journald) each did its work
http_proxy=http://127.0.0.1:9 start /usr/bin/sluice run -c /etc/sluice/lazy.yaml >"$rootfs/tmp/lazy.log" 2>&1 &
pid=$!
ok=0
for _ in $(seq 1 600); do
  kill -0 $pid 2>/dev/null || break
  if grep -q 'web: delivery failed.*Failed to connect' "$rootfs/tmp/lazy.log" &&
     grep -q 'loki: delivery failed.*Failed to connect' "$rootfs/tmp/lazy.log" &&
     grep -q 'hello from the journal' "$rootfs/tmp/journal-out.ndjson" 2>/dev/null; then ok=1; break; fi
  sleep 0.2
done
kill -TERM $pid 2>/dev/null || true
wait $pid || true   # undelivered events (no peer) are not an error
[ $ok = 1 ] || { cat "$rootfs/tmp/lazy.log"; fail "http, loki or journald did not work in the image"; }
echo "lazy libraries ok: libcurl (http and loki sinks tried the proxy), libsnappy (loki protobuf sent), libsystemd (journal entry read)"
umount "$rootfs/dev" "$rootfs/proc"
SH
echo "image test ok: $IMG"
