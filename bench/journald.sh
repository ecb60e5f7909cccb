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
. "$here/lib.sh"
REMOTE=/lib/systemd/systemd-journal-remote
FILES="${FILES:-3}" PER="${PER:-100000}"
work="$(mktemp -d /tmp/sluice-journaldbench.XXXXXX)"
cleanup() {
  bench_kill
  rm -rf "$work"
}
trap cleanup EXIT
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
sluice_start "$work/j.yaml" "$work/j.log"
sluice_wait journald 0.05 0 sent_at_least "$api" out "$total"
t1=$(date +%s.%N)
cpu=$(cpu_s $pid) hwm=$(hwm_mib $pid) anon=$(anon_mib $pid)
sluice_stop
printf "%-8s %10s %8s %10s %12s %10s %10s\n" files events wall_s events/s events/cpu_s peak_MiB anon_MiB
awk -v f="$FILES" -v n="$total" -v a="$t0" -v b="$t1" -v cpu="$cpu" -v h="$hwm" -v an="$anon" \
  'BEGIN { w = b - a; if (cpu <= 0) cpu = 0.01;
           printf "%-8d %10d %8.2f %10.0f %12.0f %10s %10s\n", f, n, w, n / w, n / cpu, h, an }'
