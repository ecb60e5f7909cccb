#!/usr/bin/env bash
# callgrind.sh - instructions per event for file -> blackhole under valgrind's callgrind.
# Instruction counts are stable run to run, unlike wall time: use them for before/after.
#
#   SLUICE=build/sluice bash bench/callgrind.sh          # 20 MB by default
#   CG_MB=5 CG_KEEP=1 bash bench/callgrind.sh            # keep the callgrind.out for kcachegrind
#   CG_EXTRA='limits: { memory: 1GiB }' bash bench/callgrind.sh   # top-level YAML added
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
CG_MB="${CG_MB:-20}"
CG_SEED="${CG_SEED:-1}"
CG_TIMEOUT="${CG_TIMEOUT:-600}"
. "$here/lib.sh"

[ -x "$SLUICE" ] || { echo "callgrind: no sluice binary at $SLUICE" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "callgrind: valgrind is required" >&2; exit 2; }

w="$(mktemp -d /tmp/sluice-cg.XXXXXX)"
cleanup() {
  bench_kill
  if [ -z "${CG_KEEP:-}" ]; then rm -rf "$w"; else echo "callgrind: kept $w"; fi
}
trap cleanup EXIT

mkdir -p "$w/logs" "$w/data"
summary="$("$PY" "$here/gen_logs.py" --mb "$CG_MB" --seed "$CG_SEED" --out "$w/logs/app.log")"
lines="$(echo "$summary" | sed -n 's/.*lines=\([0-9]*\).*/\1/p')"
port="$(free_port)"
cat >"$w/sluice.yaml" <<YAML
data_dir: $w/data
api: { address: "127.0.0.1:$port" }
${CG_EXTRA:-}
sources:
  in: { type: file, include: ["$w/logs/*.log"], read_from: head }
sinks:
  out: { type: blackhole, inputs: [in] }
YAML

# run_cg OUTFILE EXPECTED_EVENTS: runs sluice under callgrind until the sink has
# delivered EXPECTED_EVENTS (0: until the API answers once), then stops it cleanly.
run_cg() {
  local out="$1" expect="$2"
  rm -rf "$w/data"; mkdir -p "$w/data"
  sluice_start "$w/sluice.yaml" "$w/sluice.log" "valgrind --tool=callgrind --callgrind-out-file=$out"
  sluice_wait callgrind 1 "$CG_TIMEOUT" sent_at_least "$port" out "$expect"
  sluice_stop
}
totals() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }

# Baseline: the same binary and config with nothing to read (start-up, dynamic linking,
# one API poll, shutdown), subtracted so the per-event figure is the pipeline's own cost.
mv "$w/logs/app.log" "$w/app.log.hold"
run_cg "$w/callgrind.base" 0
mv "$w/app.log.hold" "$w/logs/app.log"
run_cg "$w/callgrind.out" "$lines"

total="$(totals "$w/callgrind.out")"
base="$(totals "$w/callgrind.base")"
[ -n "$total" ] && [ -n "$base" ] || { echo "callgrind: no totals in output" >&2; exit 1; }
bytes="$(echo "$summary" | sed -n 's/.*bytes=\([0-9]*\).*/\1/p')"
echo "events:               $lines"
echo "bytes:                $bytes"
echo "instructions:         $total (empty run: $base)"
"$PY" -c "import sys; t,b,e,n=map(int,sys.argv[1:]); print('instructions/event:   %.0f (net of the empty run)' % ((t-b)/e)); print('instructions/byte:    %.2f' % ((t-b)/n))" \
  "$total" "$base" "$lines" "$bytes"
echo
callgrind_annotate --inclusive=no "$w/callgrind.out" 2>/dev/null | sed -n '1,/^$/d; 1,40p' | head -40 || true
