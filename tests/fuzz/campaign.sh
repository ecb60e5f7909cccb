#!/usr/bin/env bash
# A fuzzing campaign: each libFuzzer target (ONLY=<substring> picks some) for FUZZ_MINUTES
# (default 30) of its own CPU time, JOBS targets at a time (default: one per core), growing
# the corpus run.sh keeps in build-fuzz/corpus/<target>. The budget is CPU time, not wall
# time, so a campaign on a busy machine (or at `nice -n 19`) still gives every target its
# minutes: a watcher sends SIGINT (libFuzzer then prints its final stats) once the fuzzer's
# user+system time reaches the budget. One table row per target:
# CPU seconds, executions, coverage (cov = edges, ft = features), corpus entries, and
# whether it stopped on a crash (the input is kept in build-fuzz/campaign/<target>/).
set -euo pipefail
cd "$(dirname "$0")/../.."
mins="${FUZZ_MINUTES:-30}"
jobs="${JOBS:-$(nproc)}"
# Checked before any fuzzer starts: a budget that fails to compute would leave one running.
[[ "$mins" =~ ^[1-9][0-9]*$ ]] || { echo "campaign: FUZZ_MINUTES must be a whole number of minutes (got '$mins')" >&2; exit 2; }
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "campaign: JOBS must be a positive whole number (got '$jobs')" >&2; exit 2; }
out=build-fuzz
FUZZ_BUILD_ONLY=1 bash tests/fuzz/run.sh >/dev/null
mkdir -p "$out/campaign"

run_one() { # target: fuzz it, then print its row
  local name=$1 dir="$out/campaign/$1" rc=0
  mkdir -p "$dir"
  local seeds="tests/fuzz/seeds/$name"; [ -d "$seeds" ] || seeds=""
  local ticks budget=$((mins * 60 * $(getconf CLK_TCK))) used=0
  "$out/$name" -artifact_prefix="$dir/" -rss_limit_mb=2048 -print_final_stats=1 \
      "$out/corpus/$name" $seeds >"$dir/log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    # Fields 14 and 15 of /proc/<pid>/stat: user and system time in clock ticks.
    ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null) || break
    [ -n "$ticks" ] && used=$ticks
    if [ "$used" -ge "$budget" ]; then kill -INT "$pid"; break; fi
    sleep 5
  done
  wait "$pid" || rc=$?
  # An interrupt at the budget is the normal end, not a crash (libFuzzer exits 72 on SIGINT).
  [ "$used" -ge "$budget" ] && ! ls "$dir" | grep -qE '^(crash|leak|timeout|oom)-' && rc=0
  local cpu execs last
  cpu=$((used / $(getconf CLK_TCK)))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$dir/log" | tail -1)
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$cpu" "${execs:-?}" \
    "$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")" \
    "$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")" \
    "$(ls "$out/corpus/$name" | wc -l)" \
    "$([ $rc -eq 0 ] && echo none || echo "CRASH (exit $rc): $(ls "$dir" | grep -E '^(crash|leak|timeout|oom)-' | head -1)")"
}

echo "| target | CPU s | executions | cov | ft | corpus | crash |"
echo "|---|---|---|---|---|---|---|"
targets=()
for t in tests/fuzz/fuzz_*.c; do
  name=$(basename "$t" .c)
  [[ -z "${ONLY:-}" || "$name" == *"$ONLY"* ]] && targets+=("$name")
done
for name in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_one "$name" &
done
wait
