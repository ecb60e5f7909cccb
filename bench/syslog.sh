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
. "$here/lib.sh"
CONNS="${CONNS:-4}" BLOCKS="${BLOCKS:-500}" FORMATS="${FORMATS:-5424 3164}"
work="$(mktemp -d /tmp/sluice-syslogbench.XXXXXX)"
cleanup() {
  bench_kill
  rm -rf "$work"
}
trap cleanup EXIT

printf "%-8s %6s %10s %8s %10s %12s %10s\n" format conns events wall_s events/s events/cpu_s peak_MiB
for fmt in $FORMATS; do
  api=$(free_port) port=$(free_port)
  printf 'data_dir: %s\napi: { address: "127.0.0.1:%s" }\nsources:\n  in: { type: syslog, mode: tcp, address: "127.0.0.1:%s" }\nsinks:\n  out: { type: blackhole, inputs: [in] }\n' \
    "$work/data-$fmt" "$api" "$port" >"$work/$fmt.yaml"
  sluice_start "$work/$fmt.yaml" "$work/$fmt.log"
  sluice_ready "$api"
  t0=$(date +%s.%N)
  total=$("$PY" "$here/syslog_load.py" --port "$port" --conns "$CONNS" --blocks "$BLOCKS" --format "$fmt")
  sluice_wait syslog 0.05 0 sent_at_least "$api" out "$total"
  t1=$(date +%s.%N)
  cpu=$(cpu_s $pid) hwm=$(hwm_mib $pid)
  sluice_stop
  awk -v f="$fmt" -v c="$CONNS" -v n="$total" -v a="$t0" -v b="$t1" -v cpu="$cpu" -v h="$hwm" \
    'BEGIN { w = b - a; if (cpu <= 0) cpu = 0.01;
             printf "%-8s %6d %10d %8.2f %10.0f %12.0f %10s\n", f, c, n, w, n / w, n / cpu, h }'
done
