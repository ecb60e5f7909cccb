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
PY=/usr/bin/python3
CONNS="${CONNS:-2}" REQUESTS="${REQUESTS:-400}" RECORDS="${RECORDS:-500}"
ENCODINGS="${ENCODINGS:-protobuf json}"
CLK_TCK="$(getconf CLK_TCK)"
work="$(mktemp -d /tmp/sluice-otlpsrcbench.XXXXXX)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
sent() {
  curl -fsS --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null |
    awk '/^sluice_component_sent_events_total\{/ && /component_id="out"/ && !done {print $NF; done=1}' || true
}
cpu_s() { awk -v t="$CLK_TCK" '{printf "%.2f", ($14 + $15) / t}' "/proc/$1/stat"; }
hwm_mib() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

printf "%-9s %6s %10s %8s %10s %12s %10s\n" encoding conns events wall_s events/s events/cpu_s peak_MiB
for enc in $ENCODINGS; do
  api=$(free_port) port=$(free_port)
  printf 'data_dir: %s\napi: { address: "127.0.0.1:%s" }\nsources:\n  in: { type: otlp, address: "127.0.0.1:%s" }\nsinks:\n  out: { type: blackhole, inputs: [in], batch: { timeout_ms: 5 } }\n' \
    "$work/data-$enc" "$api" "$port" >"$work/$enc.yaml"
  "$SLUICE" run -c "$work/$enc.yaml" >"$work/$enc.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do curl -fsS --max-time 1 "http://127.0.0.1:$api/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
  t0=$(date +%s.%N)
  total=$("$PY" "$here/otlp_source_load.py" --port "$port" --conns "$CONNS" --requests "$REQUESTS" \
    --records "$RECORDS" --encoding "$enc")
  while [ "$(sent $api)" != "$total" ]; do sleep 0.05; done
  t1=$(date +%s.%N)
  cpu=$(cpu_s $pid) hwm=$(hwm_mib $pid)
  kill -TERM $pid; wait $pid || true; pid=""
  awk -v f="$enc" -v c="$CONNS" -v n="$total" -v a="$t0" -v b="$t1" -v cpu="$cpu" -v h="$hwm" \
    'BEGIN { w = b - a; if (cpu <= 0) cpu = 0.01;
             printf "%-9s %6d %10d %8.2f %10.0f %12.0f %10s\n", f, c, n, w, n / w, n / cpu, h }'
done
