#!/usr/bin/env bash
# Runs every integration test (tests/integration/test_*.sh and test_*.py) against $SLUICE.
# Each test gets its own temporary directory in $WORK and must clean up its processes.
# ONLY=name runs the tests whose file name contains it; REPEAT=N runs each selected test
# N times, each in a fresh $WORK (a flakiness hunt: `REPEAT=20 ONLY=test_es_faults`).
set -u
here="$(cd "$(dirname "$0")" && pwd)"
: "${SLUICE:?set SLUICE to the sluice binary}"
# Under ASan, freed memory sits in a quarantine (256 MB by default) and would read as RSS
# growth in the memory-bound tests; a small quarantine keeps those tests meaningful.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=16}"
export SLUICE PYTHON=/usr/bin/python3 ROOT="$(cd "$here/../.." && pwd)"
fail=0; n=0; failed=()
only="${ONLY:-}"
repeat="${REPEAT:-1}"

run_one() {  # $1 = test file, $2 = name to print
  local t="$1" name="$2" start cmd
  n=$((n+1))
  WORK=$(mktemp -d /tmp/sluice-it.XXXXXX); export WORK
  start=$(date +%s)
  case "$t" in
    *.py) cmd=("$PYTHON" "$t");;
    *) cmd=(bash "$t");;
  esac
  if timeout 600 "${cmd[@]}" >"$WORK/test.log" 2>&1; then
    echo "ok   $name ($(( $(date +%s) - start ))s)"
    rm -rf "$WORK"
  else
    echo "FAIL $name (log: $WORK/test.log)"; tail -30 "$WORK/test.log"
    fail=$((fail+1)); failed+=("$name")
  fi
}

for t in "$here"/test_*.sh "$here"/test_*.py; do
  [ -e "$t" ] || continue
  name=$(basename "$t")
  [ -n "$only" ] && [[ "$name" != *"$only"* ]] && continue
  if [ "$repeat" -gt 1 ]; then
    for ((r = 1; r <= repeat; r++)); do run_one "$t" "$name #$r"; done
  else
    run_one "$t" "$name"
  fi
done
echo "integration: $((n-fail))/$n passed"
[ "$fail" -gt 0 ] && printf 'failed: %s\n' "${failed[@]}"
[ "$fail" -eq 0 ]
