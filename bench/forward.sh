#!/usr/bin/env bash
# forward.sh - network source benchmark: a Forward load generator (PackedForward, 1,000
# events per message, several connections) -> forward source -> blackhole, and HTTP NDJSON
# -> http source -> blackhole. Prints events/s, events per sluice CPU-second and peak RSS.
#
#   bash bench/forward.sh
#
# Environment:
#   SLUICE          binary (default: build/sluice of this repo)
#   FWD_CONNS       Forward connections (default 8)       FWD_MESSAGES  per connection (default 400)
#   FWD_ACK         1: chunk acks, 8 in flight per connection (default 0)
#   HTTP_CONNS      HTTP connections (default 4)          HTTP_MESSAGES per connection (default 100)
#   IDLE_CONNS      extra idle Forward connections held open during the run (default 0)
#   BENCH_MODES     subset of: forward http relay (default: forward http)
#                   relay: file (RELAY_MB of bench/gen_logs.py lines) -> forward sink (acks,
#                   RELAY_CONCURRENCY requests in flight) -> forward source -> blackhole
#   SINK_BUFFER     memory buffer bound of the blackhole sink (default: the 64MiB default)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
. "$here/lib.sh"
FWD_CONNS="${FWD_CONNS:-8}" FWD_MESSAGES="${FWD_MESSAGES:-400}" FWD_ACK="${FWD_ACK:-0}"
HTTP_CONNS="${HTTP_CONNS:-4}" HTTP_MESSAGES="${HTTP_MESSAGES:-100}" IDLE_CONNS="${IDLE_CONNS:-0}"
BENCH_MODES="${BENCH_MODES:-forward http}"
RELAY_MB="${RELAY_MB:-200}" RELAY_CONCURRENCY="${RELAY_CONCURRENCY:-4}"
work="$(mktemp -d /tmp/sluice-fwdbench.XXXXXX)"
idle_pid=""
spid=""
cleanup() {
  [ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null || true
  [ -n "$idle_pid" ] && kill "$idle_pid" 2>/dev/null || true
  bench_kill
  rm -rf "$work"
}
trap cleanup EXIT

printf "%-8s %6s %10s %8s %10s %12s %10s\n" mode conns events wall_s events/s events/cpu_s peak_MiB
for mode in $BENCH_MODES; do
  api=$(free_port) port=$(free_port)
  if [ "$mode" = relay ]; then
    "$PY" "$here/gen_logs.py" --mb "$RELAY_MB" --out "$work/relay.log" >/dev/null
    total=$(wc -l <"$work/relay.log")
    printf 'data_dir: %s\napi: { address: "127.0.0.1:%s" }\nsources:\n  in: { type: forward, address: "127.0.0.1:%s" }\nsinks:\n  out: { type: blackhole, inputs: [in] }\n' \
      "$work/data-recv" "$api" "$port" >"$work/recv.yaml"
    sapi=$(free_port)
    printf 'data_dir: %s\napi: { address: "127.0.0.1:%s" }\nsources:\n  app: { type: file, include: ["%s"] }\nsinks:\n  fwd: { type: forward, inputs: [app], servers: ["127.0.0.1:%s"], concurrency: %s, batch: { max_events: 2000 } }\n' \
      "$work/data-send" "$sapi" "$work/relay.log" "$port" "$RELAY_CONCURRENCY" >"$work/send.yaml"
    sluice_start "$work/recv.yaml" "$work/recv.log"
    for _ in $(seq 1 200); do http_get "$api" /healthz && break; bench_sleep 0.05; done
    t0=$(date +%s.%N)
    "$SLUICE" run -c "$work/send.yaml" >"$work/send.log" 2>&1 &
    spid=$!
    sluice_wait forward 0.05 0 sent_at_least "$api" out "$total"
    t1=$(date +%s.%N)
    cpu=$(awk -v a="$(cpu_s $pid)" -v b="$(cpu_s $spid)" 'BEGIN { printf "%.2f", a + b }')
    hwm="$(hwm_mib $spid)+$(hwm_mib $pid)"
    kill -TERM $spid $pid; wait $spid $pid || true; spid="" pid=""
    awk -v c="$RELAY_CONCURRENCY" -v n="$total" -v a="$t0" -v b="$t1" -v cpu="$cpu" -v h="$hwm" \
      'BEGIN { w = b - a; if (cpu <= 0) cpu = 0.01;
               printf "%-8s %6d %10d %8.2f %10.0f %12.0f %10s\n", "relay", c, n, w, n / w, n / cpu, h }'
    continue
  fi
  if [ "$mode" = forward ]; then
    src="{ type: forward, address: \"127.0.0.1:$port\" }"
    conns=$FWD_CONNS msgs=$FWD_MESSAGES
    extra=""; [ "$FWD_ACK" = 1 ] && extra="--ack"
  else
    src="{ type: http, address: \"127.0.0.1:$port\" }"
    conns=$HTTP_CONNS msgs=$HTTP_MESSAGES extra=""
  fi
  cat >"$work/$mode.yaml" <<EOF
data_dir: $work/data-$mode
api: { address: "127.0.0.1:$api" }
sources:
  in: $src
sinks:
  out: { type: blackhole, inputs: [in]${SINK_BUFFER:+, buffer: { max_bytes: $SINK_BUFFER \}} }
EOF
  sluice_start "$work/$mode.yaml" "$work/$mode.log"
  for _ in $(seq 1 200); do http_get "$api" /healthz && break; bench_sleep 0.05; done
  if [ "$IDLE_CONNS" -gt 0 ] && [ "$mode" = forward ]; then
    "$PY" -c "
import socket, sys, time
s = [socket.create_connection(('127.0.0.1', $port)) for _ in range($IDLE_CONNS)]
print('idle', len(s), flush=True); time.sleep(3600)" >"$work/idle.out" &
    idle_pid=$!
    for _ in $(seq 1 100); do grep -q idle "$work/idle.out" 2>/dev/null && break; sleep 0.1; done
  fi
  cpu0=$(cpu_s $pid)
  t0=$(date +%s.%N)
  total=$("$PY" "$here/forward_load.py" "$mode" "$port" --connections "$conns" --messages "$msgs" $extra)
  sluice_wait forward 0.05 0 sent_at_least "$api" out "$total"
  t1=$(date +%s.%N)
  cpu1=$(cpu_s $pid)
  hwm=$(hwm_mib $pid)
  sluice_stop
  [ -n "$idle_pid" ] && { kill "$idle_pid" 2>/dev/null || true; wait "$idle_pid" 2>/dev/null || true; idle_pid=""; }
  awk -v m="$mode" -v c="$conns" -v n="$total" -v a="$t0" -v b="$t1" -v c0="$cpu0" -v c1="$cpu1" -v h="$hwm" \
    'BEGIN { w = b - a; cpu = c1 - c0; if (cpu <= 0) cpu = 0.01;
             printf "%-8s %6d %10d %8.2f %10.0f %12.0f %10s\n", m, c, n, w, n / w, n / cpu, h }'
done
