#!/usr/bin/env bash
# es_callgrind.sh - instructions per event of kubernetes_logs -> elasticsearch (no
# compression) -> the count-only peer (es_start in lib.sh), under valgrind's callgrind.
# The empty run (same config, empty tree) is subtracted, as in callgrind.sh.
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
. "$here/lib.sh"
[ -x "$SLUICE" ] || { echo "es_callgrind: no sluice binary at $SLUICE" >&2; exit 2; }
w="$(mktemp -d /tmp/sluice-escg.XXXXXX)"
cleanup() {
  bench_kill
  if [ -z "${CG_KEEP:-}" ]; then rm -rf "$w"; else echo "es_callgrind: kept $w"; fi
}
trap cleanup EXIT

summary="$("$PY" "$here/gen_pods.py" --out "$w/tree" --pods "$CG_PODS" --mb "$CG_MB")"
lines="$(echo "$summary" | sed -n 's/.*lines=\([0-9]*\).*/\1/p')"
mkdir -p "$w/empty"
es_start "$w"
port="$(free_port)"

# run_cg OUTFILE TREE EXPECTED: until the emulator has counted EXPECTED more documents
# (0: until the API answers once), then a clean stop.
run_cg() {
  local out="$1" tree="$2" expect="$3" n0
  rm -rf "$w/data"; mkdir -p "$w/data"
  es_yaml "$w/data" "$port" "{ type: kubernetes_logs, path: \"$tree\", read_from: head, exclude_self: false }" \
    "compression: $CG_COMP" 4 5000 >"$w/run.yaml"
  n0="$(es_stat count_only_docs)"
  sluice_start "$w/run.yaml" "$w/sluice.log" "valgrind --tool=callgrind --callgrind-out-file=$out"
  if [ "$expect" -eq 0 ]; then
    sluice_wait es_callgrind 1 "$CG_TIMEOUT" api_up "$port"
  else
    sluice_wait es_callgrind 1 "$CG_TIMEOUT" es_counted "$n0" "$expect"
  fi
  sluice_stop
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
