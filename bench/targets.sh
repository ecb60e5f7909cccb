#!/usr/bin/env bash
# targets.sh - every throughput, memory and latency target of the node-agent and aggregator
# paths in one run, each benchmark repeated, with the host's reference point measured in
# between, so that one table says where the targets stand in this minute on this host.
#
#   BENCH_DIR=/tmp/bt RUNS=5 unshare -n sh -c 'ip link set lo up && bash bench/targets.sh'
#
# Rounds alternate the benchmarks (elasticsearch none, gzip, the reference point, otlp), so
# a noisy minute touches all of them alike; then latency, idle RSS and file -> blackhole.
# Per target: the median, the range, how many runs met the goal. The reference point is
# build/es_ceiling (make build/es_ceiling): the same kubernetes_logs -> elasticsearch work
# in one pass on one thread, the most this host gives in this minute; its median shows
# whether the figures come from a quiet or a busy host (3.0-3.2 M quiet, 2.0-2.3 M busy
# here). BENCH_DIR keeps the generated data between invocations. Exits 0 when it ran,
# whatever the figures (it measures, it does not judge a build).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
RUNS="${RUNS:-5}"
export SLUICE
[ -x "$SLUICE" ] || { echo "targets: no sluice binary at $SLUICE" >&2; exit 2; }
[ -x "$repo/build/es_ceiling" ] || { echo "targets: make build/es_ceiling first" >&2; exit 2; }
if [ -z "${BENCH_DIR:-}" ]; then
  BENCH_DIR="$(mktemp -d /tmp/sluice-targets.XXXXXX)"
  trap 'rm -rf "$BENCH_DIR"' EXIT
fi
export BENCH_DIR
res="$BENCH_DIR/targets.tsv"; : >"$res"

# figure OUTPUT COLUMN: COLUMN of the last row under the last header that names it.
figure() {
  awk -v name="$2" '{ for (i = 1; i <= NF; i++) if ($i == name) { col = i; hnf = NF; next } }
       col && NF == hnf && $col ~ /^[0-9.]+$/ { v = $col }
       END { if (v == "") exit 1; print v }' <<<"$1"
}
# run NAME COLUMN CMD...: one run, its figure appended to the results as "NAME<TAB>value".
run() {
  local name="$1" col="$2" out v; shift 2
  if ! out="$("$@" 2>&1)" || ! v="$(figure "$out" "$col")"; then
    echo "$out" | tail -20 >&2; echo "targets: $name failed" >&2; exit 1
  fi
  printf '%s\t%s\n' "$name" "$v" >>"$res"
  printf '  %-14s %s\n' "$name" "$v"
}
es() { ES_CONC=1 ES_MAX_EVENTS=1000 ES_MB=300 "$@" bash "$here/es_k8s.sh"; }

for r in $(seq 1 "$RUNS"); do
  echo "round $r of $RUNS"
  run es_none events/cpu_s es env
  run es_gzip events/cpu_s es env ES_COMP=gzip
  run reference events/cpu_s es env ES_CEILING=1
  run otlp events/cpu_s env OTLP_DEFAULTS=1 RECEIVER_ALONE=0 BENCH_MODES=protobuf \
    bash "$here/otlp.sh"
done
echo "latency"
lat="$(/usr/bin/python3 "$here/latency.py" 2>&1)" || { echo "$lat" | tail -20 >&2; exit 1; }
awk '$1 ~ /^[0-9]+$/ && NF >= 8 { printf "latency_%s\t%s\n", $1, $5 }' <<<"$lat" >>"$res"
for r in $(seq 1 3); do run idle_rss idle_MB env BENCH_MB=1 BENCH_PIPELINES=blackhole \
  bash "$here/run.sh"; done
for r in $(seq 1 3); do run blackhole events/cpu_s env BENCH_MB=1000 BENCH_PIPELINES=blackhole \
  bash "$here/run.sh"; done

# The table: per name its median, range, and the runs that met the goal (a goal of a
# minimum for rates, of a maximum for latency and memory).
/usr/bin/python3 - "$res" <<'EOF'
import statistics, sys
goals = [  # name, what, goal, kind (min: at least; max: at most), unit divisor, unit
    ("es_none", "kubernetes_logs -> elasticsearch, none", 1.5e6, "min", 1e3, "k ev/cpu-s"),
    ("es_gzip", "kubernetes_logs -> elasticsearch, gzip", 1.2e6, "min", 1e3, "k ev/cpu-s"),
    ("otlp", "forward -> parse(json) -> otlp", 1.2e6, "min", 1e3, "k ev/cpu-s"),
    ("latency_100", "latency P95 at 100 events/s", 20, "max", 1, "ms"),
    ("latency_10000", "latency P95 at 10,000 events/s", 20, "max", 1, "ms"),
    ("latency_100000", "latency P95 at 100,000 events/s", 20, "max", 1, "ms"),
    ("idle_rss", "idle RSS", 8, "max", 1, "MB"),
    ("blackhole", "file -> blackhole", 5.7e6, "min", 1e3, "k ev/cpu-s"),
    ("reference", "reference point (es_ceiling)", None, None, 1e3, "k ev/cpu-s"),
]
vals = {}
for line in open(sys.argv[1]):
    k, v = line.split("\t")
    vals.setdefault(k, []).append(float(v))
print("\n%-42s %5s %9s %19s %9s %5s" % ("target", "runs", "median", "range", "goal", "met"))
for name, what, goal, kind, div, unit in goals:
    v = vals.get(name, [])
    if not v:
        continue
    f = lambda x: ("%.0f" % (x / div)) if div > 1 else ("%.1f" % x)
    met = "-" if goal is None else "%d/%d" % (
        sum(1 for x in v if (x >= goal if kind == "min" else x <= goal)), len(v))
    g = "-" if goal is None else ("%s %s" % ("≥" if kind == "min" else "≤", f(goal)))
    print("%-42s %5d %9s %19s %9s %5s  %s" % (what, len(v), f(statistics.median(v)),
          "%s-%s" % (f(min(v)), f(max(v))), g, met, unit))
EOF
