#!/usr/bin/env bash
# es_callgrind.sh - instructions per event of kubernetes_logs -> elasticsearch (no
# compression) -> es_emulator.py --count-only, under valgrind's callgrind. The empty run
# (same config, empty tree) is subtracted, as in callgrind.sh.
#
#   SLUICE=build/sluice CG_MB=20 bash bench/es_callgrind.sh
#   CG_COMP=gzip CG_KEEP=1 bash bench/es_callgrind.sh       # gzip; keep the outputs
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
CG_MB="${CG_MB:-20}"
CG_PODS="${CG_PODS:-40}"
CG_COMP="${CG_COMP:-none}"
CG_TIMEOUT="${CG_TIMEOUT:-600}"
PY=/usr/bin/python3
[ -x "$SLUICE" ] || { echo "es_callgrind: no sluice binary at $SLUICE" >&2; exit 2; }
w="$(mktemp -d /tmp/sluice-escg.XXXXXX)"
pid=""; emu=""
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  [ -n "$emu" ] && kill "$emu" 2>/dev/null || true
  if [ -z "${CG_KEEP:-}" ]; then rm -rf "$w"; else echo "es_callgrind: kept $w"; fi
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

summary="$("$PY" "$here/gen_pods.py" --out "$w/tree" --pods "$CG_PODS" --mb "$CG_MB")"
lines="$(echo "$summary" | sed -n 's/.*lines=\([0-9]*\).*/\1/p')"
mkdir -p "$w/empty"
"$PY" "$repo/tests/emulators/es_emulator.py" --count-only >"$w/emu.out" 2>"$w/emu.err" &
emu=$!
for _ in $(seq 1 100); do [ -s "$w/emu.out" ] && break; sleep 0.05; done
eport="$(awk '{print $2; exit}' "$w/emu.out")"
docs() { curl -fsS "http://127.0.0.1:$eport/_emulator/stats" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['count_only_docs'])"; }
port="$(free_port)"

# run_cg OUTFILE TREE EXPECTED: until the emulator has counted EXPECTED more documents
# (0: until the API answers once), then a clean stop.
run_cg() {
  local out="$1" tree="$2" expect="$3" n0 n start
  rm -rf "$w/data"; mkdir -p "$w/data"
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
    compression: $CG_COMP
    concurrency: 4
    batch: { max_events: 5000, max_bytes: 8MiB, timeout_ms: 200 }
YAML
  n0="$(docs)"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$SLUICE" run -c "$w/run.yaml" >"$w/sluice.log" 2>&1 &
  pid=$!
  start="$(date +%s)"
  while :; do
    if [ "$expect" -eq 0 ]; then
      curl -fsS --max-time 10 "http://127.0.0.1:$port/metrics" >/dev/null 2>&1 && break
    else
      n="$(docs)"; [ $((n - n0)) -ge "$expect" ] && break
    fi
    kill -0 "$pid" 2>/dev/null || { echo "es_callgrind: sluice exited early" >&2; cat "$w/sluice.log" >&2; exit 1; }
    [ $(( $(date +%s) - start )) -ge "$CG_TIMEOUT" ] && { echo "es_callgrind: timeout" >&2; exit 1; }
    sleep 1
  done
  kill -TERM "$pid"; wait "$pid" || true; pid=""
}
totals() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }
run_cg "$w/callgrind.base" "$w/empty" 0
run_cg "$w/callgrind.out" "$w/tree" "$lines"
total="$(totals "$w/callgrind.out")"; base="$(totals "$w/callgrind.base")"
echo "events:               $lines ($summary)"
echo "instructions:         $total (empty run: $base)"
"$PY" -c "import sys; t,b,e=map(int,sys.argv[1:]); print('instructions/event:   %.0f (net of the empty run)' % ((t-b)/e))" "$total" "$base" "$lines"
echo
callgrind_annotate --inclusive=no "$w/callgrind.out" 2>/dev/null | sed -n '1,/^$/d; 1,40p' | head -45 || true
