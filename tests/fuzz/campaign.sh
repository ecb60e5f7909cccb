#!/usr/bin/env bash
# A fuzzing campaign: each libFuzzer target (ONLY=<substring> picks some) for FUZZ_MINUTES
# (default 30), JOBS targets at a time (default: one per core, so wall time is CPU time),
# growing the corpus run.sh keeps in build-fuzz/corpus/<target>. One table row per target:
# CPU seconds, executions, coverage (cov = edges, ft = features), corpus entries, and
# whether it stopped on a crash (the input is kept in build-fuzz/campaign/<target>/).
set -euo pipefail
cd "$(dirname "$0")/../.."
mins="${FUZZ_MINUTES:-30}"
jobs="${JOBS:-$(nproc)}"
out=build-fuzz
FUZZ_BUILD_ONLY=1 bash tests/fuzz/run.sh >/dev/null
mkdir -p "$out/campaign"

run_one() { # target: fuzz it, then print its row
  local name=$1 dir="$out/campaign/$1" rc=0
  mkdir -p "$dir"
  local seeds="tests/fuzz/seeds/$name"; [ -d "$seeds" ] || seeds=""
  TIMEFORMAT='%U %S'
  { time "$out/$name" -artifact_prefix="$dir/" -max_total_time=$((mins * 60)) \
        -rss_limit_mb=2048 -print_final_stats=1 "$out/corpus/$name" $seeds \
        >"$dir/log" 2>&1 || rc=$?; } 2>"$dir/cpu"
  local cpu execs last
  cpu=$(awk '{printf "%.0f", $1 + $2}' "$dir/cpu")
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
