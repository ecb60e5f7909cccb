#!/usr/bin/env bash
# syslog.sh - syslog source benchmark: bench/syslog_load.py sends over TCP (octet-counted
# RFC 5424 with structured data, or LF-framed RFC 3164) -> syslog source -> blackhole.
# Prints events/s, events per sluice CPU-second and peak RSS.
#
#   bash bench/syslog.sh
#
# Environment:
#   SLUICE   binary (default: build/sluice of this repo)
#   CONNS    connections (default 4)   BLOCKS  blocks of 1,000 messages per connection (default 500)
#   FORMATS  subset of: 5424 3164 (default: both)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
PY=/usr/bin/python3
CONNS="${CONNS:-4}" BLOCKS="${BLOCKS:-500}" FORMATS="${FORMATS:-5424 3164}"
CLK_TCK="$(getconf CLK_TCK)"
work="$(mktemp -d /tmp/sluice-syslogbench.XXXXXX)"
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

printf "%-8s %6s %10s %8s %10s %12s %10s\n" format conns events wall_s events/s events/cpu_s peak_MiB
for fmt in $FORMATS; do
  api=$(free_port) port=$(free_port)
  printf 'data_dir: %s\napi: { address: "127.0.0.1:%s" }\nsources:\n  in: { type: syslog, mode: tcp, address: "127.0.0.1:%s" }\nsinks:\n  out: { type: blackhole, inputs: [in] }\n' \
    "$work/data-$fmt" "$api" "$port" >"$work/$fmt.yaml"
  "$SLUICE" run -c "$work/$fmt.yaml" >"$work/$fmt.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do curl -fsS --max-time 1 "http://127.0.0.1:$api/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
  t0=$(date +%s.%N)
  total=$("$PY" "$here/syslog_load.py" --port "$port" --conns "$CONNS" --blocks "$BLOCKS" --format "$fmt")
  while [ "$(sent $api)" != "$total" ]; do sleep 0.05; done
  t1=$(date +%s.%N)
  cpu=$(cpu_s $pid) hwm=$(hwm_mib $pid)
  kill -TERM $pid; wait $pid || true; pid=""
  awk -v f="$fmt" -v c="$CONNS" -v n="$total" -v a="$t0" -v b="$t1" -v cpu="$cpu" -v h="$hwm" \
    'BEGIN { w = b - a; if (cpu <= 0) cpu = 0.01;
             printf "%-8s %6d %10d %8.2f %10.0f %12.0f %10s\n", f, c, n, w, n / w, n / cpu, h }'
done
