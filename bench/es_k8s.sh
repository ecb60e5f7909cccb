#!/usr/bin/env bash
# es_k8s.sh - kubernetes_logs -> elasticsearch (no compression by default) ->
# es_emulator.py --count-only without valgrind: sluice's CPU time (utime + stime, all
# threads) and peak RSS (VmHWM) once the emulator has counted every document. The same
# pipeline and settings as es_callgrind.sh, over a bigger tree.
#
#   SLUICE=build/sluice ES_MB=300 RUNS=2 bash bench/es_k8s.sh
#
# Environment: ES_MB (tree size, default 300), ES_PODS (40), ES_COMP (none|gzip),
# ES_CONC (4), ES_MAX_EVENTS (5000), ES_EXTRA (more sink options, YAML flow members),
# ES_WRAP (a command in front of sluice, e.g. "perf record -e cpu-clock -o perf.data":
# then cpu_s and peak RSS are the wrapper's), RUNS (1), BENCH_DIR (kept if set; the tree
# is generated once per size).
# Run it in a network namespace of its own (unshare -n) like the tests.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
ES_MB="${ES_MB:-300}"
ES_PODS="${ES_PODS:-40}"
ES_COMP="${ES_COMP:-none}"
ES_CONC="${ES_CONC:-4}"
ES_MAX_EVENTS="${ES_MAX_EVENTS:-5000}"
ES_EXTRA="${ES_EXTRA:-}"
RUNS="${RUNS:-1}"
PY=/usr/bin/python3
CLK_TCK="$(getconf CLK_TCK)"
[ -x "$SLUICE" ] || { echo "es_k8s: no sluice binary at $SLUICE" >&2; exit 2; }
own_dir=0
if [ -z "${BENCH_DIR:-}" ]; then BENCH_DIR="$(mktemp -d /tmp/sluice-esk8s.XXXXXX)"; own_dir=1; fi
pid=""; emu=""
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  [ -n "$emu" ] && kill "$emu" 2>/dev/null || true
  if [ "$own_dir" = 1 ]; then rm -rf "$BENCH_DIR"; fi
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

tree="$BENCH_DIR/tree-$ES_PODS-$ES_MB"
if [ ! -s "$tree.summary" ]; then
  rm -rf "$tree"
  "$PY" "$here/gen_pods.py" --out "$tree" --pods "$ES_PODS" --mb "$ES_MB" >"$tree.summary"
fi
lines="$(sed -n 's/.*lines=\([0-9]*\).*/\1/p' "$tree.summary")"
w="$BENCH_DIR/run"; rm -rf "$w"; mkdir -p "$w"
"$PY" "$repo/tests/emulators/es_emulator.py" --count-only >"$w/emu.out" 2>"$w/emu.err" &
emu=$!
for _ in $(seq 1 100); do [ -s "$w/emu.out" ] && break; sleep 0.05; done
eport="$(awk '{print $2; exit}' "$w/emu.out")"
docs() { curl -fsS "http://127.0.0.1:$eport/_emulator/stats" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['count_only_docs'])"; }

printf '%-8s %9s %8s %7s %12s %8s\n' run events wall_s cpu_s events/cpu_s peak_MB
for run in $(seq 1 "$RUNS"); do
  rm -rf "$w/data"; mkdir -p "$w/data"
  port="$(free_port)"
  cat >"$w/run.yaml" <<YAML
data_dir: $w/data
api: { address: "127.0.0.1:$port" }
sources:
  in: { type: kubernetes_logs, path: "$tree", read_from: head, exclude_self: false }
sinks:
  out:
    type: elasticsearch
    inputs: [in]
    endpoint: "http://127.0.0.1:$eport"
    index: "bench-%Y.%m.%d"
    compression: $ES_COMP
    concurrency: $ES_CONC
    batch: { max_events: $ES_MAX_EVENTS, max_bytes: 8MiB, timeout_ms: 200 }
$( [ -n "$ES_EXTRA" ] && printf '    %s\n' "$ES_EXTRA" )
YAML
  n0="$(docs)"
  t0="$(date +%s.%N)"
  ${ES_WRAP:-} "$SLUICE" run -c "$w/run.yaml" >"$w/sluice.log" 2>&1 &
  pid=$!
  while :; do
    n="$(docs)"; [ $((n - n0)) -ge "$lines" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "es_k8s: sluice exited early" >&2; cat "$w/sluice.log" >&2; exit 1; }
    sleep 0.05
  done
  t1="$(date +%s.%N)"
  ticks="$(cpu_ticks "$pid")"; peak_kb="$(status_kb "$pid" VmHWM)"
  kill -TERM "$pid"; wait "$pid" || true; pid=""
  "$PY" -c "import sys; r,ev,t0,t1,tk,hz,pk=sys.argv[1:]; cpu=int(tk)/int(hz); ev=int(ev)
print('%-8s %9d %8.2f %7.2f %12.0f %8.1f' % (r, ev, float(t1)-float(t0), cpu, ev/cpu, int(pk)/1024))" \
    "$run" "$lines" "$t0" "$t1" "$ticks" "$CLK_TCK" "$peak_kb"
done
