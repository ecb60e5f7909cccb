#!/usr/bin/env bash
# Runs every integration test (tests/integration/test_*.sh and test_*.py) against $SLUICE.
# Each test gets its own temporary directory in $WORK and must clean up its processes.
# ONLY=name runs the tests whose file name contains it; REPEAT=N runs each selected test
# N times, each in a fresh $WORK (a flakiness hunt: `REPEAT=20 ONLY=test_es_faults`).
#
# JOBS=N runs N tests at a time (default: twice the cores, at most 4; most of a test's time
# is spent waiting on its daemons and peers: 2 at a time kept 0.7 of 2 cores busy, 4 at a
# time 1.4, in half the wall time). Each test then runs in its own network
# namespace (`unshare -n`, loopback only), so fixed ports (24224, 8888, ...) and ephemeral
# ones can never collide between tests. Where a namespace cannot be made (not root, no
# unshare), tests run one at a time in the host's namespace, as JOBS=1 always does.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
: "${SLUICE:?set SLUICE to the sluice binary}"
# Under ASan, freed memory sits in a quarantine (256 MB by default) and would read as RSS
# growth in the memory-bound tests; a small quarantine keeps those tests meaningful.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=16}"
export SLUICE PYTHON=/usr/bin/python3 ROOT="$(cd "$here/../.." && pwd)"
only="${ONLY:-}"
repeat="${REPEAT:-1}"
cores=$(nproc 2>/dev/null || echo 1)
jobs="${JOBS:-$((cores >= 2 ? 4 : 2 * cores))}"
netns=0
if [ "$jobs" -gt 1 ] && unshare -n sh -c 'ip link set lo up' 2>/dev/null; then
  netns=1
else
  jobs=1
fi
results=$(mktemp -d /tmp/sluice-it-results.XXXXXX)

run_one() {  # $1 = test file, $2 = name to print, $3 = result file
  local t="$1" name="$2" res="$3" start cmd work
  work=$(mktemp -d /tmp/sluice-it.XXXXXX)
  start=$(date +%s)
  case "$t" in
    *.py) cmd=("$PYTHON" "$t");;
    *) cmd=(bash "$t");;
  esac
  if [ "$netns" -eq 1 ]; then
    # "$@" keeps the command's words intact through sh -c.
    cmd=(unshare -n sh -c 'ip link set lo up && exec "$@"' sh "${cmd[@]}")
  fi
  WORK="$work" timeout 600 "${cmd[@]}" >"$work/test.log" 2>&1 &
  local tpid=$! rc=0
  echo "$tpid" >"$res.pid"  # for the interrupt trap: timeout passes a TERM on to the test
  wait "$tpid" || rc=$?
  rm -f "$res.pid"
  if [ "$rc" -eq 0 ]; then
    echo "ok   $name ($(( $(date +%s) - start ))s)" >"$res.tmp"
    rm -rf "$work"
    mv "$res.tmp" "$res"
  else
    { echo "FAIL $name (log: $work/test.log)"; tail -30 "$work/test.log"; } >"$res.tmp"
    mv "$res.tmp" "$res.fail"  # renamed when complete: report() never reads half a file
  fi
}

# The longest tests first (those over 45 s in a plain build), so the last ones to finish are
# short and no slot waits alone on a long one at the end.
tests=()
for t in "$here"/test_chaos_*.py "$here"/test_s3_awscli.py "$here"/test_kafka_two_tier.py \
         "$here"/test_s3.py "$here"/test_kill9_dup_bound.py "$here"/test_*.sh "$here"/test_*.py; do
  [ -e "$t" ] || continue
  case " ${tests[*]-} " in *" $t "*) continue;; esac
  name=$(basename "$t")
  [ -n "$only" ] && [[ "$name" != *"$only"* ]] && continue
  tests+=("$t")
done

# Interrupted: stop the tests still running (each under its own `timeout`, which relays the
# signal), so none is left behind.
stop_running() {
  local f
  for f in "$results"/*.pid; do [ -e "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null; done
  wait
  rm -rf "$results"
  exit 130
}
trap stop_running INT TERM

n=0
report() {  # print the results that are in, each once
  local f
  for f in "$results"/*; do
    [ -e "$f" ] || continue
    case "$f" in *.shown|*.tmp|*.pid) continue;; esac
    cat "$f"; mv "$f" "$f.shown"
  done
}
for t in "${tests[@]}"; do
  for ((r = 1; r <= repeat; r++)); do
    name=$(basename "$t"); [ "$repeat" -gt 1 ] && name="$name #$r"
    n=$((n+1))
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; report; done
    run_one "$t" "$name" "$results/$(printf '%04d' "$n")" &
  done
done
wait
report
fails=$(ls "$results" | grep -c '\.fail\.shown$' || true)
echo "integration: $((n-fails))/$n passed"
if [ "$fails" -gt 0 ]; then
  for f in "$results"/*.fail.shown; do head -1 "$f" | sed 's/^FAIL \(.*\) (log: .*/failed: \1/'; done
fi
rm -rf "$results"
[ "$fails" -eq 0 ]
