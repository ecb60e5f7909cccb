#!/usr/bin/env bash
# es_bench.sh - file -> elasticsearch sink -> the count-only Elasticsearch peer (es_start
# in lib.sh).
# First measures the peer alone (curl posting a prebuilt gzip _bulk body in parallel),
# then sluice with gzip (ISA-L and zlib) and without compression. Reports events per
# CPU-second of sluice, MB/s, the compression ratio on the wire and peak RSS.
#
#   SLUICE=build/sluice BENCH_MB=500 bash bench/es_bench.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
BENCH_MB="${BENCH_MB:-500}"
BENCH_SEED="${BENCH_SEED:-1}"
BENCH_MODES="${BENCH_MODES:-gzip gzip_zlib none}"
. "$here/lib.sh"
dir="$(mktemp -d /tmp/sluice-esbench.XXXXXX)"
cleanup() {
  bench_kill
  rm -rf "$dir"
}
trap cleanup EXIT

mkdir -p "$dir/logs"
"$PY" "$here/gen_logs.py" --mb "$BENCH_MB" --seed "$BENCH_SEED" --out "$dir/logs/app.log" >"$dir/summary"
lines="$(sed -n 's/.*lines=\([0-9]*\).*/\1/p' "$dir/summary")"
bytes="$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$dir/summary")"
echo "input: $lines events, $bytes bytes"

# 1. The peer alone: 400 requests of 5000 documents each, 4 in parallel.
es_start "$dir"
"$PY" - "$dir/body.gz" <<'PYEOF'
import gzip, json, sys
lines = []
for i in range(5000):
    lines.append(json.dumps({"create": {"_index": "bench", "_id": "%032x" % i}}))
    lines.append(json.dumps({"@timestamp": "2026-11-21T00:00:00.000000000Z", "message": "x" * 200 + str(i)}))
open(sys.argv[1], "wb").write(gzip.compress(("\n".join(lines) + "\n").encode(), 1))
PYEOF
urls=(); for _ in $(seq 1 400); do urls+=("http://127.0.0.1:$eport/_bulk" -o /dev/null); done
t0="$(date +%s.%N)"
curl -fsS --no-progress-meter -Z --parallel-max 4 -H 'Content-Type: application/x-ndjson' -H 'Content-Encoding: gzip' \
  --data-binary @"$dir/body.gz" "${urls[@]}"
t1="$(date +%s.%N)"
n="$(es_stat count_only_docs)"
"$PY" -c "import sys; n=int(sys.argv[1]); w=float(sys.argv[3])-float(sys.argv[2]); print('peer alone: %d docs in %.2f s = %.0f docs/s' % (n, w, n/w))" "$n" "$t0" "$t1"
emu_stop

printf '%-10s %10s %8s %8s %11s %7s %12s %8s %9s %s\n' mode events wall_s MB/s events/s cpu_s events/cpu_s ratio peak_MB check
for mode in $BENCH_MODES; do
  es_start "$dir"
  port="$(free_port)"
  case "$mode" in
    gzip) comp="compression: gzip" ;;
    gzip_zlib) comp="gzip_engine: zlib" ;;
    none) comp="compression: none" ;;
  esac
  rm -rf "$dir/data"; mkdir -p "$dir/data"
  es_yaml "$dir/data" "$port" "{ type: file, include: [\"$dir/logs/*.log\"], read_from: head }" "$comp" 4 5000 \
    >"$dir/run.yaml"
  t0="$(date +%s.%N)"
  sluice_start "$dir/run.yaml" "$dir/run.log"
  sluice_wait es_bench 0.05 0 es_counted 0 "$lines"
  t1="$(date +%s.%N)"
  check=ok
  sluice_measure
  wire="$(es_stat body_bytes)"; decoded="$(es_stat decoded_bytes)"
  sluice_stop
  emu_stop
  "$PY" - "$mode" "$lines" "$bytes" "$t0" "$t1" "$ticks" "$CLK_TCK" "$peak_kb" "$wire" "$decoded" "$check" <<'PYEOF'
import sys
mode, ev, nb, t0, t1, ticks, hz, peak, wire, dec, check = sys.argv[1:]
ev, nb = int(ev), int(nb)
wall = float(t1) - float(t0)
cpu = int(ticks) / int(hz)
print("%-10s %10d %8.2f %8.1f %11.0f %7.2f %12.0f %8.2f %9.1f %s" % (
    mode, ev, wall, nb / 1e6 / wall, ev / wall, cpu, ev / cpu if cpu else float("nan"),
    int(dec) / max(int(wire), 1), int(peak) / 1024, check))
PYEOF
done
