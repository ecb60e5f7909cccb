#!/usr/bin/env bash
# callgrind.sh - instructions per event for file -> blackhole under valgrind's callgrind.
# Instruction counts are stable run to run, unlike wall time: use them for before/after.
#
#   SLUICE=build/sluice bash bench/callgrind.sh          # 20 MB by default
#   CG_MB=5 CG_KEEP=1 bash bench/callgrind.sh            # keep the callgrind.out for kcachegrind
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
CG_MB="${CG_MB:-20}"
CG_SEED="${CG_SEED:-1}"
CG_TIMEOUT="${CG_TIMEOUT:-600}"
PY=/usr/bin/python3

[ -x "$SLUICE" ] || { echo "callgrind: no sluice binary at $SLUICE" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "callgrind: valgrind is required" >&2; exit 2; }

w="$(mktemp -d /tmp/sluice-cg.XXXXXX)"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  if [ -z "${CG_KEEP:-}" ]; then rm -rf "$w"; else echo "callgrind: kept $w"; fi
}
trap cleanup EXIT

mkdir -p "$w/logs" "$w/data"
summary="$("$PY" "$here/gen_logs.py" --mb "$CG_MB" --seed "$CG_SEED" --out "$w/logs/app.log")"
lines="$(echo "$summary" | sed -n 's/.*lines=\([0-9]*\).*/\1/p')"
port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
cat >"$w/sluice.yaml" <<YAML
data_dir: $w/data
api: { address: "127.0.0.1:$port" }
sources:
  in: { type: file, include: ["$w/logs/*.log"], read_from: head }
sinks:
  out: { type: blackhole, inputs: [in] }
YAML

valgrind --tool=callgrind --callgrind-out-file="$w/callgrind.out" \
  "$SLUICE" run -c "$w/sluice.yaml" >"$w/sluice.log" 2>&1 &
pid=$!
start="$(date +%s)"
n=0
while :; do
  n="$(curl -fsS --max-time 10 "http://127.0.0.1:$port/metrics" 2>/dev/null |
       awk '/^sluice_component_sent_events_total\{/ && /component_id="out"/ && /component_kind="sink"/ {print $NF; exit}')"
  n="${n:-0}"
  [ "$n" -ge "$lines" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "callgrind: sluice exited early" >&2; cat "$w/sluice.log" >&2; exit 1; }
  if [ $(( $(date +%s) - start )) -ge "$CG_TIMEOUT" ]; then
    echo "callgrind: only $n/$lines events after ${CG_TIMEOUT}s" >&2; exit 1
  fi
  sleep 1
done
kill -TERM "$pid"
wait "$pid" || true
pid=""

total="$(awk '/^(summary|totals):/ {print $2; exit}' "$w/callgrind.out")"
[ -n "$total" ] || { echo "callgrind: no totals in output" >&2; exit 1; }
echo "events:             $lines"
echo "bytes:              $(echo "$summary" | sed -n 's/.*bytes=\([0-9]*\).*/\1/p')"
echo "instructions:       $total"
"$PY" -c "import sys; t,e,b=map(int,sys.argv[1:]); print('instructions/event: %.0f' % (t/e)); print('instructions/byte:  %.1f' % (t/b))" \
  "$total" "$lines" "$(echo "$summary" | sed -n 's/.*bytes=\([0-9]*\).*/\1/p')"
echo "(totals include start-up, API polling and shutdown; compare runs of the same CG_MB)"
echo
callgrind_annotate --inclusive=no "$w/callgrind.out" 2>/dev/null | sed -n '1,/^$/d; 1,40p' | head -40 || true
