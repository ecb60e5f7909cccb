#!/usr/bin/env bash
# otlp_source.sh - otlp source benchmark: bench/otlp_source_load.py POSTs OTLP/HTTP log
# exports (protobuf and JSON) over keep-alive connections -> otlp source -> blackhole.
# Prints events/s, events per sluice CPU-second and peak RSS. The blackhole flushes after 5 ms:
# a client waits for its 200, which comes once the sink is done with the request's events.
#
#   nice -n 10 bash bench/otlp_source.sh
#
# Environment:
#   SLUICE    binary (default: build/sluice of this repo)
#   CONNS     connections (default 2)   REQUESTS  per connection (default 400)
#   RECORDS   log records per request (default 500)   ENCODINGS  subset of: protobuf json
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
. "$here/lib.sh"
CONNS="${CONNS:-2}" REQUESTS="${REQUESTS:-400}" RECORDS="${RECORDS:-500}"
ENCODINGS="${ENCODINGS:-protobuf json}"
work="$(mktemp -d /tmp/sluice-otlpsrcbench.XXXXXX)"
cleanup() {
  bench_kill
  rm -rf "$work"
}
trap cleanup EXIT

printf "%-9s %6s %10s %8s %10s %12s %10s\n" encoding conns events wall_s events/s events/cpu_s peak_MiB
for enc in $ENCODINGS; do
  api=$(free_port) port=$(free_port)
  printf 'data_dir: %s\napi: { address: "127.0.0.1:%s" }\nsources:\n  in: { type: otlp, address: "127.0.0.1:%s" }\nsinks:\n  out: { type: blackhole, inputs: [in], batch: { timeout_ms: 5 } }\n' \
    "$work/data-$enc" "$api" "$port" >"$work/$enc.yaml"
  sluice_start "$work/$enc.yaml" "$work/$enc.log"
  sluice_ready "$api"
  t0=$(date +%s.%N)
  total=$("$PY" "$here/otlp_source_load.py" --port "$port" --conns "$CONNS" --requests "$REQUESTS" \
    --records "$RECORDS" --encoding "$enc")
  sluice_wait otlp_source 0.05 0 sent_at_least "$api" out "$total"
  t1=$(date +%s.%N)
  cpu=$(cpu_s $pid) hwm=$(hwm_mib $pid)
  sluice_stop
  awk -v f="$enc" -v c="$CONNS" -v n="$total" -v a="$t0" -v b="$t1" -v cpu="$cpu" -v h="$hwm" \
    'BEGIN { w = b - a; if (cpu <= 0) cpu = 0.01;
             printf "%-9s %6d %10d %8.2f %10.0f %12.0f %10s\n", f, c, n, w, n / w, n / cpu, h }'
done
