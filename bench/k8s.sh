#!/usr/bin/env bash
# k8s.sh - kubernetes_logs -> blackhole over a kubelet-style tree: events per CPU-second
# (whole process, all threads), MB/s and peak RSS, for 100 pods and for 1,000 files.
#
#   SLUICE=build/sluice bash bench/k8s.sh
#
# Environment: K8S_MB (total size, default 1000), K8S_LAYOUTS (default "100x1 100x10":
# pods x containers per pod), BENCH_DIR (kept if set), BENCH_TIMEOUT (default 120 s).
# K8S_API=1: every pod is also known to the Kubernetes API emulator
# (tests/emulators/k8s_api_emulator.py) with 6 labels, 3 annotations, a ReplicaSet owner and
# namespace labels, and sluice enriches every event from it: the cost of API metadata.
# Run it in a network namespace of its own (unshare -n) like the tests.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
K8S_MB="${K8S_MB:-1000}"
K8S_LAYOUTS="${K8S_LAYOUTS:-100x1 100x10}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-120}"
. "$here/lib.sh"
own_dir=0
if [ -z "${BENCH_DIR:-}" ]; then BENCH_DIR="$(mktemp -d /tmp/sluice-k8s.XXXXXX)"; own_dir=1; fi
api_pid=""
cleanup() {
  bench_kill
  if [ -n "$api_pid" ] && kill -0 "$api_pid" 2>/dev/null; then kill -TERM "$api_pid" 2>/dev/null || true; fi
  if [ "$own_dir" = 1 ]; then rm -rf "$BENCH_DIR"; fi
}
trap cleanup EXIT

printf '%-10s %6s %7s %10s %8s %8s %7s %12s %8s %s\n' layout files MB events wall_s MB/s cpu_s events/cpu_s peak_MB check
for layout in $K8S_LAYOUTS; do
  pods="${layout%x*}"; ctrs="${layout#*x}"
  tree="$BENCH_DIR/tree-$layout-$K8S_MB"
  if [ ! -s "$tree.summary" ]; then
    rm -rf "$tree"
    "$PY" "$here/gen_pods.py" --out "$tree" --pods "$pods" --containers "$ctrs" --mb "$K8S_MB" >"$tree.summary"
  fi
  lines="$(sed -n 's/.*lines=\([0-9]*\).*/\1/p' "$tree.summary")"
  bytes="$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$tree.summary")"
  files="$(sed -n 's/.*files=\([0-9]*\).*/\1/p' "$tree.summary")"
  w="$BENCH_DIR/run-$layout"; rm -rf "$w"; mkdir -p "$w/data"
  port="$(free_port)"
  api_opts=""
  if [ "${K8S_API:-0}" = 1 ]; then
    "$PY" "$repo/tests/emulators/k8s_api_emulator.py" --token bench >"$w/api.out" 2>"$w/api.err" &
    api_pid=$!
    while ! grep -q listening "$w/api.out" 2>/dev/null; do kill -0 "$api_pid" || exit 1; sleep 0.05; done
    api_port="$(awk '{print $NF; exit}' "$w/api.out")"
    echo bench >"$w/token"
    "$PY" - "$tree" "$api_port" <<'PYEOF'
import json, os, sys, urllib.request
tree, port = sys.argv[1], int(sys.argv[2])
def ctl(what, body):
    urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/_ctl/%s" % (port, what),
                           data=json.dumps(body).encode(), method="POST"), timeout=30).read()
nss = set()
for d in sorted(os.listdir(tree)):
    parts = d.split("_")
    if len(parts) != 3:
        continue
    ns, pod, uid = parts
    if ns not in nss:
        nss.add(ns)
        ctl("namespace", {"op": "add", "namespace": {"metadata": {"name": ns, "labels": {
            "team": "team-" + ns, "kubernetes.io/metadata.name": ns}}}})
    ctl("pod", {"op": "add", "pod": {"metadata": {
        "name": pod, "namespace": ns, "uid": uid,
        "labels": {"app": pod, "app.kubernetes.io/name": pod, "app.kubernetes.io/part-of": "shop",
                   "tier": "backend", "version": "v1.2.3", "pod-template-hash": "7d9f8c6b5d"},
        "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8080",
                        "kubectl.kubernetes.io/default-container": "app"},
        "ownerReferences": [{"kind": "ReplicaSet", "name": pod + "-7d9f8c6b5d", "controller": True}]},
        "spec": {"nodeName": "bench-node"}}})
PYEOF
    api_opts=", api_url: \"http://127.0.0.1:$api_port\", token_file: \"$w/token\", node_name: bench-node"
  fi
  cat >"$w/run.yaml" <<YAML
data_dir: $w/data
api: { address: "127.0.0.1:$port" }
sources:
  in: { type: kubernetes_logs, path: "$tree", read_from: head, exclude_self: false$api_opts }
sinks:
  out: { type: blackhole, inputs: [in] }
YAML
  t0="$(date +%s.%N)"
  "$SLUICE" run -c "$w/run.yaml" >"$w/run.log" 2>&1 &
  pid=$!
  last=-1; last_change="$EPOCHSECONDS"; n=0
  while :; do
    sent_count "$port"; n="${sent:-0}"
    [ "$n" -ge "$lines" ] && break
    now="$EPOCHSECONDS"
    if [ "$n" != "$last" ]; then last="$n"; last_change="$now"; fi
    if [ $((now - last_change)) -ge "$BENCH_TIMEOUT" ]; then echo "k8s bench: stuck at $n/$lines" >&2; break; fi
    kill -0 "$pid" 2>/dev/null || { echo "k8s bench: sluice exited:" >&2; tail -20 "$w/run.log" >&2; break; }
    bench_sleep 0.05
  done
  t1="$(date +%s.%N)"
  ticks="$(cpu_ticks "$pid" 2>/dev/null || echo 0)"; peak_kb="$(status_kb "$pid" VmHWM)"
  kill -TERM "$pid" 2>/dev/null || true; wait "$pid" || true; pid=""
  if [ -n "$api_pid" ]; then
    kill -TERM "$api_pid" 2>/dev/null || true; wait "$api_pid" 2>/dev/null || true; api_pid=""
  fi
  check=ok; [ "$n" -ge "$lines" ] || check="INCOMPLETE($n)"
  "$PY" - "$layout" "$files" "$lines" "$bytes" "$t0" "$t1" "$ticks" "$CLK_TCK" "$peak_kb" "$check" <<'PYEOF'
import sys
layout, files, lines, nbytes, t0, t1, ticks, hz, peak, check = sys.argv[1:]
wall = max(float(t1) - float(t0), 1e-9); cpu = int(ticks) / int(hz); ev = int(lines)
print("%-10s %6s %7.0f %10d %8.2f %8.1f %7.2f %12.0f %8.1f %s" % (layout, files, int(nbytes) / 1e6, ev, wall,
      int(nbytes) / 1e6 / wall, cpu, ev / cpu if cpu else float("nan"), int(peak or 0) / 1024, check))
PYEOF
done
