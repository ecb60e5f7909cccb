#!/usr/bin/env bash
# idle_rss.sh - idle memory of the smallest pipeline (file source on an empty directory ->
# blackhole, the idle_MB of bench/run.sh), and where it goes: the resident kilobytes of each
# mapped file and of anonymous memory, from /proc/<pid>/smaps, largest first.
#
#   SLUICE=build/sluice IDLE_RUNS=5 bash bench/idle_rss.sh
#
# Each run starts sluice, waits for /healthz, reads what the start cost 0.3 s later (CPU
# of all threads from /proc/<pid>/task/*/schedstat, and minor faults), then reads VmRSS one
# second after /healthz; the table is of the last run. Then the idle CPU of the last run: each thread's time on CPU
# (/proc/<pid>/task/*/schedstat) over IDLE_CPU_SECS seconds (default 5; 0 skips it), in ms
# per second, by thread name. IDLE_SINK=loki (or journald as IDLE_SOURCE) shows what a component that
# loads a library on first use adds.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
IDLE_RUNS="${IDLE_RUNS:-5}"
IDLE_SOURCE="${IDLE_SOURCE:-file}"
IDLE_SINK="${IDLE_SINK:-blackhole}"
IDLE_CPU_SECS="${IDLE_CPU_SECS:-5}"
. "$here/lib.sh"

[ -x "$SLUICE" ] || { echo "idle_rss: no sluice binary at $SLUICE" >&2; exit 2; }
w="$(mktemp -d /tmp/sluice-idle.XXXXXX)"
cleanup() {
  bench_kill
  rm -rf "$w"
}
trap cleanup EXIT

rss=(); start_ms=(); start_flt=()
for i in $(seq 1 "$IDLE_RUNS"); do
  rm -rf "$w/data" "$w/empty"; mkdir -p "$w/data" "$w/empty"
  port="$(free_port)"
  {
    echo "data_dir: $w/data"
    echo "api: { address: \"127.0.0.1:$port\" }"
    echo "sources:"
    case "$IDLE_SOURCE" in
      file)     echo "  in: { type: file, include: [\"$w/empty/*.log\"], read_from: head }" ;;
      journald) echo "  in: { type: journald, directory: $w/empty }" ;;
      *) echo "idle_rss: unknown source $IDLE_SOURCE" >&2; exit 2 ;;
    esac
    echo "sinks:"
    case "$IDLE_SINK" in
      blackhole) echo "  out: { type: blackhole, inputs: [in] }" ;;
      loki)      echo "  out: { type: loki, inputs: [in], endpoint: \"http://127.0.0.1:9/\" }" ;;
      *) echo "idle_rss: unknown sink $IDLE_SINK" >&2; exit 2 ;;
    esac
  } >"$w/idle.yaml"
  "$SLUICE" run -c "$w/idle.yaml" >"$w/idle.log" 2>&1 &
  pid=$!
  up=0
  for _ in $(seq 1 200); do
    if curl -fsS --max-time 1 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then up=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  [ "$up" = 1 ] || { echo "idle_rss: sluice did not start" >&2; cat "$w/idle.log" >&2; exit 1; }
  sleep 0.3
  start_ms+=("$(cat /proc/"$pid"/task/*/schedstat | awk '{ s += $1 } END { printf "%.1f", s / 1e6 }')")
  start_flt+=("$(awk '{ print $10 }' "/proc/$pid/stat")")
  sleep 0.7
  kb="$(awk '$1=="VmRSS:" {print $2}' "/proc/$pid/status")"
  rss+=("$kb")
  if [ "$i" -eq "$IDLE_RUNS" ]; then
    cp "/proc/$pid/smaps" "$w/smaps"
    if [ "$IDLE_CPU_SECS" != 0 ]; then
      snap() { for t in /proc/"$pid"/task/*; do echo "$(basename "$t") $(cut -d' ' -f1 "$t/schedstat") $(cat "$t/comm")"; done; }
      snap >"$w/cpu0"; sleep "$IDLE_CPU_SECS"; snap >"$w/cpu1"
    fi
  fi
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""
done

printf 'idle VmRSS (MB):'
for kb in "${rss[@]}"; do awk -v k="$kb" 'BEGIN { printf " %.1f", k / 1024 }'; done
printf '  median %s\n' "$(printf '%s\n' "${rss[@]}" | sort -n |
  awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] / 1024 }')"
echo "start (0.3 s after /healthz): CPU ms ${start_ms[*]}; minor faults ${start_flt[*]}"
if [ -s "$w/cpu1" ]; then
  awk -v secs="$IDLE_CPU_SECS" 'NR == FNR { t0[$1] = $2; next }
       { ms = ($2 - t0[$1]) / 1e6 / secs; total += ms; printf " %s %.2f", $3, ms }
       END { printf "; total %.2f\n", total }' "$w/cpu0" "$w/cpu1" |
    sed "s/^/idle CPU (ms per second, over $IDLE_CPU_SECS s):/"
fi
# A mapping's header line has an address range first; its Rss line follows.
awk '$1 ~ /^[0-9a-f]+-[0-9a-f]+$/ { n = split($6, p, "/"); name = NF >= 6 ? p[n] : "[anon]" }
     $1 == "Rss:" { kb[name] += $2; total += $2 }
     END { for (k in kb) if (kb[k]) printf "%8d kB  %s\n", kb[k], k; printf "%8d kB  total\n", total }' \
  "$w/smaps" | sort -rn
