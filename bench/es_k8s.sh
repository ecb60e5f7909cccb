#!/usr/bin/env bash
# es_k8s.sh - kubernetes_logs -> elasticsearch (no compression by default) -> the
# count-only peer (es_start in lib.sh) without valgrind: sluice's CPU time (schedstat,
# all threads) and peak RSS (VmHWM) once the peer has counted every document. The same
# pipeline and settings as es_callgrind.sh, over a bigger tree.
#
#   SLUICE=build/sluice ES_MB=300 RUNS=2 bash bench/es_k8s.sh
#
# Environment: ES_MB (tree size, default 300), ES_PODS (40), ES_TEXT (ascii: gen_pods.py's
# tree; utf8: gen_utf8_lines.py's file in each of ES_PODS pods), ES_COMP (none|gzip),
# ES_CONC (4), ES_MAX_EVENTS (5000), ES_EXTRA (more sink options, YAML flow members),
# ES_WRAP (a command in front of sluice, e.g. "perf record -e cpu-clock -o perf.data":
# then cpu_s and peak RSS are the wrapper's), RUNS (1), BENCH_DIR (kept if set; the tree
# is generated once per size), ES_THREADS=1 (a line per thread after each run: its CPU per
# event and context switches, lib.sh's thread_report). `requests` is how many _bulk
# requests the peer counted: fewer, fuller ones cost less per event.
# ES_CEILING=1: the reference point instead of sluice, build/es_ceiling (make
# build/es_ceiling; bench/es_ceiling.c): the same documents written in one thread without a
# pipeline, ES_MAX_EVENTS a request; its CPU is its own (CLOCK_PROCESS_CPUTIME_ID), no RSS.
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
. "$here/lib.sh"
[ -x "$SLUICE" ] || { echo "es_k8s: no sluice binary at $SLUICE" >&2; exit 2; }
CEILING="${CEILING:-$repo/build/es_ceiling}"
if [ "${ES_CEILING:-0}" = 1 ] && [ ! -x "$CEILING" ]; then
  echo "es_k8s: no $CEILING (make build/es_ceiling)" >&2; exit 2
fi
own_dir=0
if [ -z "${BENCH_DIR:-}" ]; then BENCH_DIR="$(mktemp -d /tmp/sluice-esk8s.XXXXXX)"; own_dir=1; fi
cleanup() {
  bench_kill
  if [ "$own_dir" = 1 ]; then rm -rf "$BENCH_DIR"; fi
}
trap cleanup EXIT

tree="$BENCH_DIR/tree-$ES_PODS-$ES_MB"
if [ "${ES_TEXT:-ascii}" = utf8 ]; then
  # Text in other scripts: each pod's one container logs gen_utf8_lines.py's file (100,000
  # lines, 16 MB of messages; ES_MB is not used).
  tree="$BENCH_DIR/tree-utf8-$ES_PODS"
  if [ ! -s "$tree.summary" ]; then
    rm -rf "$tree"
    mkdir -p "$tree"
    "$PY" "$here/gen_utf8_lines.py" --out "$tree/text.log" # the same file for every pod
    for p in $(seq 0 $((ES_PODS - 1))); do
      d="$tree/ns$p""_pod-$p""_$(printf '%08d' "$p")-0000-4000-8000-000000000000/app"
      mkdir -p "$d"
      cp "$tree/text.log" "$d/0.log"
    done
    rm "$tree/text.log"
    echo "lines=$((ES_PODS * 100000)) files=$ES_PODS" >"$tree.summary"
  fi
elif [ ! -s "$tree.summary" ]; then
  rm -rf "$tree"
  "$PY" "$here/gen_pods.py" --out "$tree" --pods "$ES_PODS" --mb "$ES_MB" >"$tree.summary"
fi
lines="$(sed -n 's/.*lines=\([0-9]*\).*/\1/p' "$tree.summary")"
# The tree read once first: pages of it evicted while the machine idled would otherwise be
# read back from disk, at a cost in kernel time, by whichever run comes first.
find "$tree" -name '*.log' -exec cat {} + >/dev/null
w="$BENCH_DIR/run"; rm -rf "$w"; mkdir -p "$w"
es_start "$w"

printf '%-8s %9s %8s %7s %12s %8s %8s\n' run events wall_s cpu_s events/cpu_s peak_MB requests
for run in $(seq 1 "$RUNS"); do
  if [ "${ES_CEILING:-0}" = 1 ]; then
    n0="$(es_stat count_only_docs)"
    t0="$(date +%s.%N)"
    out="$("$CEILING" "$tree" "$eport" "$ES_MAX_EVENTS")"
    t1="$(date +%s.%N)"
    n1="$(es_stat count_only_docs)"
    [ $((n1 - n0)) -eq "$lines" ] || { echo "es_k8s: the emulator counted $((n1 - n0)) of $lines" >&2; exit 1; }
    cpu="$(echo "$out" | sed -n 's/.* cpu_s=\([0-9.]*\).*/\1/p')"
    "$PY" -c "import sys; r,ev,t0,t1,cpu=sys.argv[1:]; ev=int(ev)
print('%-8s %9d %8.2f %7.3f %12.0f %8s %8s' % (r + 'c', ev, float(t1)-float(t0), float(cpu), ev/float(cpu), '-', '-'))" \
      "$run" "$lines" "$t0" "$t1" "$cpu"
    continue
  fi
  rm -rf "$w/data"; mkdir -p "$w/data"
  port="$(free_port)"
  es_yaml "$w/data" "$port" "{ type: kubernetes_logs, path: \"$tree\", read_from: head, exclude_self: false }" \
    "compression: $ES_COMP" "$ES_CONC" "$ES_MAX_EVENTS" "$ES_EXTRA" >"$w/run.yaml"
  n0="$(es_stat count_only_docs)"
  r0="$(es_stat bulk_requests)"
  t0="$(date +%s.%N)"
  sluice_start "$w/run.yaml" "$w/sluice.log" "${ES_WRAP:-}"
  sluice_wait es_k8s 0.05 0 es_counted "$n0" "$lines"
  t1="$(date +%s.%N)"
  sluice_measure
  r1="$(es_stat bulk_requests)"
  threads=""
  if [ "${ES_THREADS:-0}" = 1 ]; then threads="$(thread_report "$pid" "$lines")"; fi
  sluice_stop
  "$PY" -c "import sys; r,ev,t0,t1,tk,hz,pk,rq=sys.argv[1:]; cpu=int(tk)/int(hz); ev=int(ev)
print('%-8s %9d %8.2f %7.3f %12.0f %8.1f %8s' % (r, ev, float(t1)-float(t0), cpu, ev/cpu, int(pk)/1024, rq))" \
    "$run" "$lines" "$t0" "$t1" "$ticks" "$CLK_TCK" "$peak_kb" "$((r1 - r0))"
  if [ -n "$threads" ]; then echo "$threads"; fi
done
