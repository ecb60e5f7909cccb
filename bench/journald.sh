#!/usr/bin/env bash
# journald.sh - journald source benchmark: journal files written beforehand by
# systemd-journal-remote from bench/journald_gen.py (15 fields per entry) -> journald source
# (directory:) -> blackhole. Prints events/s, events per sluice CPU-second and peak RSS.
#
#   bash bench/journald.sh
#
# Environment:
#   SLUICE   binary (default: build/sluice of this repo)
#   FILES    journal files (default 3)   PER  entries per file (default 100000)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
PY=/usr/bin/python3
REMOTE=/lib/systemd/systemd-journal-remote
FILES="${FILES:-3}" PER="${PER:-100000}"
CLK_TCK="$(getconf CLK_TCK)"
work="$(mktemp -d /tmp/sluice-journaldbench.XXXXXX)"
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
# sd-journal maps the journal files: most of the RSS is their pages (RssFile), not the heap
anon_mib() { awk '/RssAnon/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

mkdir -p "$work/journal"
for f in $(seq 1 "$FILES"); do
  "$PY" "$here/journald_gen.py" "$PER" $(( (f - 1) * PER )) |
    "$REMOTE" --output="$work/journal/f$f.journal" - 2>/dev/null
done
total=$(( FILES * PER ))
api=$(free_port)
printf 'data_dir: %s\napi: { address: "127.0.0.1:%s" }\nsources:\n  in: { type: journald, directory: "%s" }\nsinks:\n  out: { type: blackhole, inputs: [in] }\n' \
  "$work/data" "$api" "$work/journal" >"$work/j.yaml"
t0=$(date +%s.%N)
"$SLUICE" run -c "$work/j.yaml" >"$work/j.log" 2>&1 &
pid=$!
while [ "$(sent $api)" != "$total" ]; do
  kill -0 $pid 2>/dev/null || { cat "$work/j.log"; exit 1; }
  sleep 0.05
done
t1=$(date +%s.%N)
cpu=$(cpu_s $pid) hwm=$(hwm_mib $pid) anon=$(anon_mib $pid)
kill -TERM $pid; wait $pid || true; pid=""
printf "%-8s %10s %8s %10s %12s %10s %10s\n" files events wall_s events/s events/cpu_s peak_MiB anon_MiB
awk -v f="$FILES" -v n="$total" -v a="$t0" -v b="$t1" -v cpu="$cpu" -v h="$hwm" -v an="$anon" \
  'BEGIN { w = b - a; if (cpu <= 0) cpu = 0.01;
           printf "%-8d %10d %8.2f %10.0f %12.0f %10s %10s\n", f, n, w, n / w, n / cpu, h, an }'
