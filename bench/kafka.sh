#!/usr/bin/env bash
# kafka.sh - the two tiers of a Kafka deployment against librdkafka's mock cluster
# (tests/emulators/kafka_mock, 3 brokers on loopback): file -> parse(json) -> kafka sink
# (idempotent, acks=all), then kafka source (consumer group, offsets committed behind acks)
# -> blackhole reading back what the sink produced. Reports events per CPU-second of sluice
# and its peak RSS. The mock shares the CPUs (it is the broker: it stores every message).
# The mock keeps about 5 MB per partition and deletes the oldest batches beyond it (as
# retention would), so the topic has BENCH_PARTITIONS (64) partitions and the keyless
# messages spread over them one by one (sticky.partitioning.linger.ms 0: librdkafka's sticky
# partitioner would put everything produced within 10 ms, up to ~6 MB, into one partition).
# After the sink step the mock's watermarks must show every event the sink counted as
# delivered, none deleted; the source step then must read exactly that many (~370 bytes each
# as JSON). Either falling short fails the run and says which.
#
#   SLUICE=build/sluice BENCH_EVENTS=200000 BENCH_COMPRESSION="none lz4" bash bench/kafka.sh
# Binds loopback ports: run it in its own network namespace where others share the machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
MOCK="${KAFKA_MOCK:-$(dirname "$SLUICE")/kafka_mock}"
N="${BENCH_EVENTS:-200000}"
P="${BENCH_PARTITIONS:-64}"
BENCH_COMPRESSION="${BENCH_COMPRESSION:-none lz4}"
. "$here/lib.sh"
dir="$(mktemp -d /tmp/sluice-kafkabench.XXXXXX)"
mpid=""
cleanup() {
  bench_kill
  exec 3>&- 2>/dev/null || true
  [ -n "$mpid" ] && kill "$mpid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
[ -x "$MOCK" ] || { echo "bench: no kafka_mock at $MOCK (make all builds it)" >&2; exit 2; }

mkdir -p "$dir/logs"
job_logs "$dir/logs/app.log" "$N" plain
echo "input: $N events, $(stat -c %s "$dir/logs/app.log") bytes"
mkfifo "$dir/ctl"
"$MOCK" 3 <"$dir/ctl" >"$dir/mock.out" 2>"$dir/mock.err" &
mpid=$!
exec 3>"$dir/ctl"
for _ in $(seq 1 100); do [ -s "$dir/mock.out" ] && break; sleep 0.05; done
bs="$(head -1 "$dir/mock.out")"
# mock <command>: sends one command to the mock, prints its answer (fails on an error answer).
mock() {
  local n ans
  n="$(wc -l <"$dir/mock.out")"
  echo "$*" >&3
  for _ in $(seq 1 600); do [ "$(wc -l <"$dir/mock.out")" -gt "$n" ] && break; sleep 0.05; done
  ans="$(sed -n "$((n + 1))p" "$dir/mock.out")"
  case "$ans" in ok*) echo "${ans#ok}" ;; *) echo "bench: kafka_mock $*: ${ans:-no answer}" >&2; exit 1 ;; esac
}

# run <name> <port> <component> <count>: waits until <component> sent <count> events, prints a row.
run() {
  local name="$1" port="$2" comp="$3" N="$4"
  local t0 t1 n
  t0="$(date +%s.%N)"
  sluice_start "$dir/run.yaml" "$dir/run.log"
  sluice_ready "$port"
  local last=-1 since
  since="$EPOCHSECONDS"
  while :; do
    sent_count "$port" "$comp"; n="$sent"
    [ "$n" -ge "$N" ] 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/run.log" >&2; exit 1; }
    if [ "$n" != "$last" ]; then last="$n"; since="$EPOCHSECONDS"; fi
    if [ $((EPOCHSECONDS - since)) -ge "${BENCH_TIMEOUT:-60}" ]; then
      echo "bench: $name stuck at $n of $N events" >&2; curl -fsS "http://127.0.0.1:$port/api/v1/status" | head -c 1200 >&2; exit 1
    fi
    bench_sleep 0.05
  done
  t1="$(date +%s.%N)"
  sluice_measure
  sluice_stop
  "$PY" -c "
n=${n%.*}; wall=$t1-$t0; cpu=$ticks/$CLK_TCK
print('%-18s %9d %7.2f %10.0f %6.2f %12.0f %8.1f' % ('$name', n, wall, n/wall, cpu, n/cpu if cpu else 0, $peak_kb/1024))"
}

printf '%-18s %9s %7s %10s %6s %12s %8s\n' step events wall_s events/s cpu_s events/cpu_s peak_MB
for c in $BENCH_COMPRESSION; do
  mock topic "bench-$c" "$P" >/dev/null
  port="$(free_port)"
  rm -rf "$dir/data"; mkdir -p "$dir/data"
  { file_json_yaml "$dir/data" "$port" "$dir/logs/*.log"; cat <<YAML; } >"$dir/run.yaml"
  out:
    type: kafka
    inputs: [p]
    brokers: "$bs"
    topic: bench-$c
    key: ""
    compression: $c
    concurrency: 4
    batch: { max_events: 5000, max_bytes: 8MiB, timeout_ms: 200 }
    librdkafka: { sticky.partitioning.linger.ms: "0" }
YAML
  run "sink-$c" "$port" out "$N"
  # What the mock holds: every delivered event (the sum of the end offsets) and nothing
  # deleted (every log start 0), else the source cannot read it all back.
  wm="$(mock watermarks "bench-$c" "$P")"
  read -r produced deleted parts <<<"$(tr ' ' '\n' <<<"$wm" | awk -F: 'NF == 2 {
    hi += $2; lo += $1; if ($1 > 0) p = p sprintf("%s%d (%d of %d)", p ? ", " : "", NR - 2, $1, $2) }
    END { print hi + 0, lo + 0, (p ? p : "-") }')"
  if [ "$produced" -ne "$N" ]; then
    echo "bench: the mock holds $produced of the $N events the sink counted as delivered" >&2; exit 1
  fi
  if [ "$deleted" -ne 0 ]; then
    echo "bench: the mock's retention (~5 MB per partition) deleted $deleted of $N events before" \
      "the source ran, in partition(s) $parts: raise BENCH_PARTITIONS" >&2
    exit 1
  fi
  port="$(free_port)"
  rm -rf "$dir/data"; mkdir -p "$dir/data"
  cat >"$dir/run.yaml" <<YAML
data_dir: $dir/data
api: { address: "127.0.0.1:$port" }
sources:
  in: { type: kafka, brokers: "$bs", group_id: bench-$c, topics: [bench-$c], batch_max_events: 2000 }
sinks:
  out: { type: blackhole, inputs: [in] }
YAML
  run "source-$c" "$port" out "$produced"
done
