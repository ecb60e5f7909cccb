#!/usr/bin/env bash
# redis.sh - the two halves of a Redis spill: file -> parse(json) -> redis sink (RPUSH or
# XADD, pipelined), then redis source -> blackhole draining what was stored. Reports events
# per CPU-second of sluice and peak RSS; redis-server runs on a free loopback port.
# BENCH_TLS=1 runs the same over TLS (redis-server with --tls-port and a test CA made here).
#
#   SLUICE=build/sluice BENCH_EVENTS=500000 BENCH_MODES="list stream" bash bench/redis.sh
#   SLUICE=build/sluice BENCH_EVENTS=500000 BENCH_TLS=1 bash bench/redis.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
N="${BENCH_EVENTS:-500000}"
BENCH_MODES="${BENCH_MODES:-list stream}"
BENCH_TLS="${BENCH_TLS:-0}"
. "$here/lib.sh"
dir="$(mktemp -d /tmp/sluice-redisbench.XXXXXX)"
rpid=""
cleanup() {
  bench_kill
  [ -n "$rpid" ] && kill "$rpid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

mkdir -p "$dir/logs" "$dir/empty"
job_logs "$dir/logs/app.log" "$N" plain
echo "input: $N events, $(stat -c %s "$dir/logs/app.log") bytes"
rport="$(free_port)"
listen=(--port "$rport"); rcli=(redis-cli -p "$rport"); tls=""; sfx=""
if [ "$BENCH_TLS" = 1 ]; then
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout "$dir/ca.key" -out "$dir/ca.pem" -days 1 -subj "/CN=bench CA" 2>/dev/null
  openssl req "${ec[@]}" -keyout "$dir/srv.key" -out "$dir/srv.csr" -subj "/CN=redis" 2>/dev/null
  echo "subjectAltName=IP:127.0.0.1" >"$dir/srv.ext"
  openssl x509 -req -in "$dir/srv.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -out "$dir/srv.pem" -days 1 -extfile "$dir/srv.ext" 2>/dev/null
  listen=(--port 0 --tls-port "$rport" --tls-cert-file "$dir/srv.pem" --tls-key-file "$dir/srv.key"
          --tls-ca-cert-file "$dir/ca.pem" --tls-auth-clients no)
  rcli=(redis-cli -p "$rport" --tls --cacert "$dir/ca.pem")
  tls=", tls: { enabled: true, ca_file: \"$dir/ca.pem\" }"
  sfx="-tls"
fi
redis-server "${listen[@]}" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" >/dev/null &
rpid=$!
for _ in $(seq 1 100); do "${rcli[@]}" ping >/dev/null 2>&1 && break; sleep 0.05; done

# run <name> <yaml> <metric component> : waits until `out` sent N events, prints a row.
run() {
  local name="$1" port="$2"
  local t0 t1
  t0="$(date +%s.%N)"
  sluice_start "$dir/run.yaml" "$dir/run.log"
  sluice_ready "$port"
  sluice_wait redis 0.05 0 sent_at_least "$port" out "$N"
  t1="$(date +%s.%N)"
  sluice_measure
  sluice_stop
  "$PY" -c "
n=$N; wall=$t1-$t0; cpu=$ticks/$CLK_TCK
print('%-18s %9d %7.2f %10.0f %6.2f %12.0f %8.1f' % ('$name', n, wall, n/wall, cpu, n/cpu if cpu else 0, $peak_kb/1024))"
}

printf '%-18s %9s %7s %10s %6s %12s %8s\n' step events wall_s events/s cpu_s events/cpu_s peak_MB
for mode in $BENCH_MODES; do
  "${rcli[@]}" flushall >/dev/null
  port="$(free_port)"
  rm -rf "$dir/data"; mkdir -p "$dir/data"
  { file_json_yaml "$dir/data" "$port" "$dir/logs/*.log"; cat <<YAML; } >"$dir/run.yaml"
  out:
    type: redis
    inputs: [p]
    address: 127.0.0.1:$rport
    key: spill
    mode: $mode
    batch: { max_events: 5000, max_bytes: 8MiB, timeout_ms: 200 }
    ${tls#, }
YAML
  run "$mode-sink$sfx" "$port"
  port="$(free_port)"
  rm -rf "$dir/data"; mkdir -p "$dir/data"
  cat >"$dir/run.yaml" <<YAML
data_dir: $dir/data
api: { address: "127.0.0.1:$port" }
sources:
  drain: { type: redis, address: "127.0.0.1:$rport", key: spill, mode: $mode, batch_max_events: 2000$tls }
sinks:
  out: { type: blackhole, inputs: [drain] }
YAML
  run "$mode-source$sfx" "$port"
  left="$("${rcli[@]}" eval "return redis.call('exists', KEYS[1]) == 1 and (redis.call('type', KEYS[1]).ok == 'list' and redis.call('llen', KEYS[1]) or redis.call('xlen', KEYS[1])) or 0" 1 spill)"
  echo "  left in redis after the drain: $left"
done
