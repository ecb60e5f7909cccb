#!/usr/bin/env bash
# es_ceiling.sh - the reference point of es_k8s.sh: the same tree and emulator, the same
# documents written by build/es_ceiling (bench/es_ceiling.c: one thread, no pipeline), its
# events per CPU-second beside sluice's.
#
#   ES_MB=300 RUNS=3 bash bench/es_ceiling.sh
#
# Environment: ES_MB (300), ES_PODS (40), ES_MAX_EVENTS (documents a request, 1000), RUNS (1),
# BENCH_DIR (kept if set). Run it in a network namespace of its own (unshare -n).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
CEILING="${CEILING:-$repo/build/es_ceiling}"
ES_MB="${ES_MB:-300}"
ES_PODS="${ES_PODS:-40}"
ES_MAX_EVENTS="${ES_MAX_EVENTS:-1000}"
RUNS="${RUNS:-1}"
. "$here/lib.sh"
[ -x "$CEILING" ] || { echo "es_ceiling: no binary at $CEILING (make build/es_ceiling)" >&2; exit 2; }
own_dir=0
if [ -z "${BENCH_DIR:-}" ]; then BENCH_DIR="$(mktemp -d /tmp/sluice-esceil.XXXXXX)"; own_dir=1; fi
cleanup() {
  bench_kill
  if [ "$own_dir" = 1 ]; then rm -rf "$BENCH_DIR"; fi
}
trap cleanup EXIT

tree="$BENCH_DIR/tree-$ES_PODS-$ES_MB"
if [ ! -s "$tree.summary" ]; then
  rm -rf "$tree"
  "$PY" "$here/gen_pods.py" --out "$tree" --pods "$ES_PODS" --mb "$ES_MB" >"$tree.summary"
fi
lines="$(sed -n 's/.*lines=\([0-9]*\).*/\1/p' "$tree.summary")"
w="$BENCH_DIR/run"; rm -rf "$w"; mkdir -p "$w"
es_start "$w"
for run in $(seq 1 "$RUNS"); do
  n0="$(es_stat count_only_docs)"
  out="$("$CEILING" "$tree" "$eport" "$ES_MAX_EVENTS")"
  n1="$(es_stat count_only_docs)"
  [ $((n1 - n0)) -eq "$lines" ] || { echo "es_ceiling: the emulator counted $((n1 - n0)) of $lines" >&2; exit 1; }
  echo "run $run: $out"
done
