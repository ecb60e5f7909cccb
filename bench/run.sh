#!/usr/bin/env bash
# run.sh - throughput, CPU and memory benchmark of sluice pipelines.
# Generates logs once per size, then runs each pipeline and prints one table row per run.
#
#   SLUICE=build/sluice BENCH_MB="100 1000" bash bench/run.sh
#
# Environment:
#   SLUICE            binary (default: build/sluice next to this script's repo)
#   BENCH_MB          space-separated sizes in MB (default 1000)
#   BENCH_PIPELINES   subset of: blackhole file_memory file_disk multiline (default: the first
#                     three; multiline = file -> multiline (java) -> blackhole)
#   BENCH_FILES       number of input files the data is spread over (default 1)
#   BENCH_SEED        generator seed (default 1)
#   BENCH_DIR         work directory (default: a new temp dir, removed at the end)
#   BENCH_TIMEOUT     seconds without progress before a run is declared stuck (default 120)
#   BENCH_RESULTS     also append the rows, tab-separated, to this file
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
BENCH_MB="${BENCH_MB:-1000}"
BENCH_PIPELINES="${BENCH_PIPELINES:-blackhole file_memory file_disk}"
BENCH_FILES="${BENCH_FILES:-1}"
BENCH_SEED="${BENCH_SEED:-1}"
BENCH_TIMEOUT="${BENCH_TIMEOUT:-120}"
. "$here/lib.sh"

[ -x "$SLUICE" ] || { echo "bench: no sluice binary at $SLUICE (build it with make, or set SLUICE)" >&2; exit 2; }

own_dir=0
if [ -z "${BENCH_DIR:-}" ]; then
  BENCH_DIR="$(mktemp -d /tmp/sluice-bench.XXXXXX)"
  own_dir=1
fi
cleanup() {
  bench_kill
  if [ "$own_dir" = 1 ]; then rm -rf "$BENCH_DIR"; fi
}
trap cleanup EXIT

# write_config FILE PIPELINE WORKDIR PORT LOGGLOB
write_config() {
  local cfg="$1" pipe="$2" w="$3" port="$4" glob="$5"
  {
    echo "data_dir: $w/data"
    echo "api: { address: \"127.0.0.1:$port\" }"
    echo "sources:"
    echo "  in: { type: file, include: [\"$glob\"], read_from: head }"
    if [ "$pipe" = multiline ]; then
      echo "transforms:"
      echo "  ml: { type: multiline, inputs: [in], mode: java }"
    fi
    echo "sinks:"
    case "$pipe" in
      multiline)   echo "  out: { type: blackhole, inputs: [ml] }" ;;
      blackhole)   echo "  out: { type: blackhole, inputs: [in] }" ;;
      file_memory) echo "  out: { type: file, inputs: [in], path: $w/out.ndjson }" ;;
      file_disk)   echo "  out: { type: file, inputs: [in], path: $w/out.ndjson, buffer: { type: disk, max_size: 4GiB } }" ;;
      *) echo "bench: unknown pipeline $pipe" >&2; exit 2 ;;
    esac
  } >"$cfg"
}

# sent PORT PIPELINE -> delivered events of sink "out" in `sent` (empty if the API does not
# answer); for multiline, the lines the transform took (it sends fewer events than lines)
sent() { if [ "$2" = multiline ]; then sent_count "$1" ml received; else sent_count "$1" out; fi; }

wait_api() {
  local i
  for i in $(seq 1 200); do
    http_get "$1" /healthz && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    bench_sleep 0.05
  done
  return 1
}


stop_sluice() {
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; bench_sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}

printf '%-12s %7s %10s %8s %8s %11s %7s %12s %9s %9s %s\n' \
  pipeline MB events wall_s MB/s events/s cpu_s events/cpu_s peak_MB idle_MB check
for mb in $BENCH_MB; do
  logs="$BENCH_DIR/logs-$mb"
  if [ ! -s "$logs/summary" ]; then
    rm -rf "$logs"; mkdir -p "$logs"
    "$PY" "$here/gen_logs.py" --mb "$mb" --seed "$BENCH_SEED" --files "$BENCH_FILES" --out "$logs/app.log" >"$logs/summary"
  fi
  lines="$(sed -n 's/.*lines=\([0-9]*\).*/\1/p' "$logs/summary")"
  bytes="$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$logs/summary")"
  for pipe in $BENCH_PIPELINES; do
    w="$BENCH_DIR/run-$mb-$pipe"
    rm -rf "$w"; mkdir -p "$w/data" "$w/empty"
    port="$(free_port)"

    # Idle RSS: the same pipeline started with nothing to read.
    write_config "$w/idle.yaml" "$pipe" "$w" "$port" "$w/empty/*.log"
    "$SLUICE" run -c "$w/idle.yaml" >"$w/idle.log" 2>&1 &
    pid=$!
    if ! wait_api "$port"; then echo "bench: sluice did not start (see $w/idle.log)" >&2; cat "$w/idle.log" >&2; exit 1; fi
    sleep 1
    idle_kb="$(status_kb "$pid" VmRSS)"
    stop_sluice
    rm -rf "$w/data" "$w/out.ndjson"; mkdir -p "$w/data"

    # The measured run: spawn to the moment the sink reports every line delivered.
    port="$(free_port)"
    write_config "$w/run.yaml" "$pipe" "$w" "$port" "$logs/*.log"
    t0="$(date +%s.%N)"
    "$SLUICE" run -c "$w/run.yaml" >"$w/run.log" 2>&1 &
    pid=$!
    wait_api "$port" || { echo "bench: sluice did not start (see $w/run.log)" >&2; cat "$w/run.log" >&2; exit 1; }
    last=-1; last_change="$EPOCHSECONDS"; n=0
    while :; do
      sent "$port" "$pipe"; n="${sent:-0}"
      [ "$n" -ge "$lines" ] && break
      now="$EPOCHSECONDS"
      if [ "$n" != "$last" ]; then last="$n"; last_change="$now"; fi
      if [ $((now - last_change)) -ge "$BENCH_TIMEOUT" ]; then
        echo "bench: $pipe stuck at $n/$lines events for ${BENCH_TIMEOUT}s (see $w/run.log)" >&2
        break
      fi
      kill -0 "$pid" 2>/dev/null || { echo "bench: sluice exited early (see $w/run.log)" >&2; break; }
      bench_sleep 0.1
    done
    t1="$(date +%s.%N)"
    ticks="$(cpu_ticks "$pid" 2>/dev/null || echo 0)"
    peak_kb="$(status_kb "$pid" VmHWM)"
    stop_sluice

    check="ok"
    [ "$n" -ge "$lines" ] || check="INCOMPLETE($n)"
    if [ "$pipe" != blackhole ] && [ "$pipe" != multiline ] && [ "$check" = ok ]; then
      out_lines="$(cat "$w"/out.ndjson* 2>/dev/null | wc -l)"
      [ "$out_lines" -ge "$lines" ] || check="OUTPUT_SHORT($out_lines)"
    fi
    row="$("$PY" - "$pipe" "$mb" "$lines" "$bytes" "$t0" "$t1" "$ticks" "$CLK_TCK" "$peak_kb" "$idle_kb" "$check" <<'PYEOF'
import sys
pipe, mb, lines, nbytes, t0, t1, ticks, hz, peak, idle, check = sys.argv[1:]
wall = max(float(t1) - float(t0), 1e-9)
cpu = int(ticks) / int(hz)
ev = int(lines)
print("%-12s %7s %10d %8.2f %8.1f %11.0f %7.2f %12.0f %9.1f %9.1f %s" % (
    pipe, mb, ev, wall, int(nbytes) / 1e6 / wall, ev / wall, cpu,
    ev / cpu if cpu > 0 else float("nan"), int(peak or 0) / 1024, int(idle or 0) / 1024, check))
PYEOF
)"
    echo "$row"
    if [ -n "${BENCH_RESULTS:-}" ]; then echo "$row" | tr -s ' ' '\t' >>"$BENCH_RESULTS"; fi
    rm -rf "$w"
  done
done
