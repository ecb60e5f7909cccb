#!/usr/bin/env bash
# Runs every unit test binary in $1/unit; fails if any fails.
set -u
dir="${1:-build}/unit"
fail=0; n=0
for t in "$dir"/test_*; do
  [ -x "$t" ] || continue
  n=$((n+1))
  if ! out=$("$t" 2>&1); then
    echo "FAIL $(basename "$t")"; echo "$out" | tail -40; fail=$((fail+1))
  else
    echo "ok   $(basename "$t")"
  fi
done
echo "unit: $((n-fail))/$n passed"
[ "$fail" -eq 0 ] && [ "$n" -gt 0 ]
