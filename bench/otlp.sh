#!/usr/bin/env bash
# otlp.sh - the OTLP pipeline benchmark against the OTLP receiver in count-only mode:
#   BENCH_SOURCE=forward (default): Forward load generator (PackedForward, records
#     {"log": "<JSON line>", "stream"} as Fluent Bit sends them) -> forward source ->
#     parse(json) -> otlp sink;
#   BENCH_SOURCE=file: file -> parse(json) -> severity -> otlp sink.
# First measures the receiver alone (RECEIVER_ALONE=0 skips it), then each encoding in
# BENCH_MODES (protobuf json). Reports events per CPU-second of sluice and peak RSS.
#
#   SLUICE=build/sluice BENCH_EVENTS=1000000 bash bench/otlp.sh
#   BENCH_SOURCE=file BENCH_MODES=protobuf bash bench/otlp.sh
#   OTLP_CONCURRENCY=4 OTLP_MAX_EVENTS=2000: the sink's concurrency and batch.max_events
#   OTLP_DEFAULTS=1: the sink's own defaults instead (no concurrency or batch options)
#   OTLP_EXTRA="buffer: { max_bytes: 2MiB }": more sink options, one line of YAML flow members
#   BENCH_TEXT=utf8: the forward load's messages in other scripts (forward_load.py --utf8)
#   BENCH_THREADS=1: a line per thread after each run (lib.sh's thread_report)
#   BENCH_WRAP="valgrind --tool=massif --massif-out-file=massif.out" BENCH_EVENTS=100000 ...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
N="${BENCH_EVENTS:-1000000}"
BENCH_MODES="${BENCH_MODES:-protobuf json}"
BENCH_SOURCE="${BENCH_SOURCE:-forward}"
FWD_CONNS="${FWD_CONNS:-4}"
RECEIVER_ALONE="${RECEIVER_ALONE:-1}"
. "$here/lib.sh"
dir="$(mktemp -d /tmp/sluice-otlpbench.XXXXXX)"
gen=""
cleanup() {
  [ -n "$gen" ] && kill "$gen" 2>/dev/null || true
  bench_kill
  rm -rf "$dir"
}
trap cleanup EXIT

if [ "$RECEIVER_ALONE" = 1 ]; then
  # The receiver alone: 4 keep-alive connections post a 250 kB body (the wire size of 5,000
  # gzip'd protobuf records here) 400 times; events/s assumes 5,000 records per request.
  emu_start "$dir" otlp_receiver.py --count-only
  "$PY" - "$eport" <<'PYEOF'
import http.client, os, sys, threading, time
port, body, per = int(sys.argv[1]), os.urandom(250_000), 100
def post():
    c = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(per):
        c.request("POST", "/v1/logs", body, {"Content-Type": "application/x-protobuf",
                                             "Content-Encoding": "gzip"})
        r = c.getresponse(); r.read(); assert r.status == 200
t0 = time.time()
ts = [threading.Thread(target=post) for _ in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
w = time.time() - t0
print("receiver alone: %d requests of 250 kB in %.2f s = %.0f requests/s = %.0f events/s at 5,000 per request"
      % (4 * per, w, 4 * per / w, 4 * per * 5000 / w))
PYEOF
  emu_stop
fi

if [ "$BENCH_SOURCE" = file ]; then
  mkdir -p "$dir/logs"
  job_logs "$dir/logs/app.log" "$N"
  bytes="$(stat -c %s "$dir/logs/app.log")"
  echo "input: $N events, $bytes bytes"
else
  per_conn=$(( (N + FWD_CONNS * 1000 - 1) / (FWD_CONNS * 1000) ))
  N=$(( per_conn * FWD_CONNS * 1000 ))
  echo "input: $N events over $FWD_CONNS Forward connections (PackedForward, 1,000 per message)"
fi
printf '%-9s %9s %7s %10s %6s %12s %8s %s\n' mode events wall_s events/s cpu_s events/cpu_s peak_MB wire_MB
for mode in $BENCH_MODES; do
  emu_start "$dir" otlp_receiver.py --count-only
  port="$(free_port)"
  rm -rf "$dir/data"; mkdir -p "$dir/data"
  cat >"$dir/run.yaml" <<YAML
data_dir: $dir/data
api: { address: "127.0.0.1:$port" }
YAML
  if [ "$BENCH_SOURCE" = file ]; then
    fport=""
    cat >>"$dir/run.yaml" <<YAML
sources:
  in: { type: file, include: ["$dir/logs/*.log"], read_from: head }
transforms:
  p: { type: parse, inputs: [in], format: json }
  sev: { type: severity, inputs: [p] }
YAML
    last=sev
  else
    fport="$(free_port)"
    cat >>"$dir/run.yaml" <<YAML
sources:
  in: { type: forward, address: "127.0.0.1:$fport" }
transforms:
  p: { type: parse, inputs: [in], format: json }
YAML
    last=p
  fi
  cat >>"$dir/run.yaml" <<YAML
sinks:
  out:
    type: otlp
    inputs: [$last]
    endpoint: "http://127.0.0.1:$eport"
    encoding: $mode
    resource: { service.name: bench }
YAML
  if [ "${OTLP_DEFAULTS:-0}" != 1 ]; then
    cat >>"$dir/run.yaml" <<YAML
    concurrency: ${OTLP_CONCURRENCY:-4}
    batch: { max_events: ${OTLP_MAX_EVENTS:-2000}, max_bytes: 8MiB, timeout_ms: 200 }
YAML
  fi
  if [ -n "${OTLP_EXTRA:-}" ]; then printf '    %s\n' "$OTLP_EXTRA" >>"$dir/run.yaml"; fi
  t0="$(date +%s.%N)"
  sluice_start "$dir/run.yaml" "$dir/run.log" "${BENCH_WRAP:-}"
  sluice_ready "$port"
  if [ -n "$fport" ]; then
    "$PY" "$here/forward_load.py" forward "$fport" --log-json --connections "$FWD_CONNS" \
      --messages "$per_conn" --events 1000 ${BENCH_TEXT:+--$BENCH_TEXT} >"$dir/gen.out" &
    gen=$!
  fi
  sluice_wait otlp 0.05 0 sent_at_least "$port" out "$N"
  t1="$(date +%s.%N)"
  sluice_measure
  threads=""
  if [ "${BENCH_THREADS:-0}" = 1 ]; then threads="$(thread_report "$pid" "$N")"; fi
  wire="$(curl -fsS "http://127.0.0.1:$eport/stats" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["wire_bytes"])')"
  [ -n "$gen" ] && { wait "$gen"; gen=""; }
  sluice_stop
  emu_stop
  wire_row "$mode" "$N" "$t0" "$t1" "$wire"
  if [ -n "$threads" ]; then echo "$threads"; fi
done
