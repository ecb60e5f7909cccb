# lib.sh - what the benchmarks share. Sourced after `set -euo pipefail` by a script that has
# set `repo` (the checkout) and SLUICE:
#
#   . "$here/lib.sh"
#
# It keeps its state in the script's globals: `pid` and `log` of the sluice it started,
# `emu` and `eport` of the Elasticsearch emulator; bench_kill (for the script's EXIT trap)
# ends both if they still run.
PY=/usr/bin/python3
CLK_TCK=1000000 # the unit of cpu_ticks: microseconds
pid=""; log=""; emu=""; eport=""

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# CPU time of process $1, all its threads, in microseconds (CLK_TCK a second): the sum of
# the threads' on-CPU nanoseconds in schedstat, which the scheduler keeps exactly, where
# utime + stime in /proc/<pid>/stat move in 10 ms ticks (3% of a 0.3 s run). Threads that
# already exited are not in it; sluice's live as long as the process.
cpu_ticks() {
  cat "/proc/$1/task/"*/schedstat 2>/dev/null |
    awk '{ s += $1 } END { if (NR == 0) exit 1; printf "%d\n", s / 1000 }'
}
# The same in seconds, three decimals.
cpu_s() { local t; t="$(cpu_ticks "$1")" && awk -v t="$t" -v hz="$CLK_TCK" 'BEGIN { printf "%.3f", t / hz }'; }
# thread_report PID EVENTS: one line per thread of PID (its name, its CPU in ns per event,
# the kernel's share of it from the tick counts utime and stime, voluntary and involuntary
# context switches), for where a run's CPU went: a voluntary switch is a wait that another
# thread or the peer ended with a wake-up. Before them the process's
# minor page faults (field 10 of /proc/PID/stat) per thousand events: memory first touched.
thread_report() {
  local t
  awk -v n="$2" '{ printf "  process minor faults %d, %.2f per 1,000 events\n", $10, $10 * 1000 / n }' \
    "/proc/$1/stat" 2>/dev/null
  for t in "/proc/$1/task/"*; do
    printf '%s %s %s %s\n' "$(cat "$t/comm")" "$(awk '{print $1}' "$t/schedstat")" \
      "$(awk '/^(nonvoluntary|voluntary)_ctxt_switches/ {printf "%s ", $2}' "$t/status")" \
      "$(awk '{print $14, $15}' "$t/stat")"
  done 2>/dev/null | awk -v n="$2" '$2 / n >= 1 {
    printf "  thread %-10s %5.0f ns/event  kernel %3.0f%%  switches %5d voluntary %5d involuntary\n",
      $1, $2 / n, $5 + $6 ? 100 * $6 / ($5 + $6) : 0, $3, $4 }'
}
# A field of /proc/$1/status in kB (VmHWM: peak RSS), 0 once the process is gone.
status_kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_mib() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# http_get PORT PATH: the body of GET http://127.0.0.1:PORT/PATH in the global `reply`
# (status 1 when nothing answers or the status is not 200), over bash's /dev/tcp. The waits
# below poll with it and bench_sleep: no process is started, so a wait takes next to nothing
# from the cores the measured pipeline runs on (a curl piped to python cost about 75 ms of
# CPU a poll: over a one-second run, more than the pipeline's own). The answer is read
# with -N, in a few reads: without it, or with a timeout (-t), bash makes one or two system
# calls a byte (60 ms for a 10 KB metrics page), so a peer that accepts and never answers
# holds the call. Answers up to 1 MiB.
http_get() {
  local fd resp=""
  reply=""
  { exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&"$fd"
  IFS= read -r -N 1048576 -u "$fd" resp || true
  exec {fd}>&-
  [[ "$resp" == "HTTP/1."?" 200"* ]] || return 1
  reply="${resp#*$'\r\n\r\n'}"
}
# stat_get PORT PATH KEY: the JSON number KEY of GET PORT/PATH in the global `stat`.
stat_get() {
  stat=""
  http_get "$1" "$2" && [[ "$reply" =~ \"$3\":\ *([0-9]+) ]] && stat="${BASH_REMATCH[1]}"
}
# stat_at_least PORT PATH KEY N: that number is at least N.
stat_at_least() { stat_get "$1" "$2" "$3" && [ "$stat" -ge "$4" ]; }
# bench_sleep SECONDS: a sleep without a process: a read that times out on a pipe no one
# writes (opened once).
bench_sleep() {
  [ -n "${sleep_fd:-}" ] || exec {sleep_fd}<> <(:)
  read -r -t "$1" -u "$sleep_fd" _ || true
}

bench_kill() {
  if [ -n "$pid" ]; then pkill -KILL -P "$pid" 2>/dev/null || true; kill -KILL "$pid" 2>/dev/null || true; fi
  if [ -n "$emu" ]; then kill "$emu" 2>/dev/null || true; fi
}

# sluice_start CONFIG LOG [WRAP]: sluice runs CONFIG in the background (behind the command
# WRAP, split into words: valgrind, perf), its output into LOG; sets pid and log.
sluice_start() {
  log="$2"
  ${3:-} "$SLUICE" run -c "$1" >"$2" 2>&1 &
  pid=$!
}
# sluice_wait WHAT EVERY TIMEOUT CMD...: runs CMD every EVERY seconds until it succeeds.
# Exits 1 with the log when sluice exits first, or after TIMEOUT seconds (0: no limit).
sluice_wait() {
  local what="$1" every="$2" limit="$3" start
  shift 3
  start="$(date +%s)"
  until "$@"; do
    kill -0 "$pid" 2>/dev/null || { echo "$what: sluice exited early" >&2; cat "$log" >&2; exit 1; }
    if [ "$limit" -gt 0 ] && [ $(( $(date +%s) - start )) -ge "$limit" ]; then
      echo "$what: timeout after ${limit}s" >&2; exit 1
    fi
    bench_sleep "$every"
  done
}
# sluice_ready PORT: waits (at most 10 s) for the API on PORT to say ready.
sluice_ready() {
  for _ in $(seq 1 200); do http_get "$1" /readyz && return 0; bench_sleep 0.05; done
}
# sent_count PORT [ID [WHAT]]: the events component ID (default out) of the sluice whose API
# is on PORT has sent (WHAT received: taken in), in the global `sent` (empty while the API
# does not answer); no process.
sent_count() {
  sent=""
  http_get "$1" /metrics || return 0
  local re="sluice_component_${3:-sent}_events_total\\{component_id=\"${2:-out}\"[^}]*\\} ([0-9]+)"
  if [[ "$reply" =~ $re ]]; then sent="${BASH_REMATCH[1]}"; fi
}
# sent_events PORT [ID]: the same, printed.
sent_events() { sent_count "$@"; echo "$sent"; }
# sent_at_least PORT ID N: component ID has sent at least N events (N 0: the API answers).
sent_at_least() { sent_count "$1" "$2"; [ -n "$sent" ] && [ "$sent" -ge "$3" ]; }
# sluice_measure: ticks (CPU, as cpu_ticks) and peak_kb (VmHWM) of the running sluice.
sluice_measure() { ticks="$(cpu_ticks "$pid")"; peak_kb="$(status_kb "$pid" VmHWM)"; }
# sluice_stop: TERM, and wait for the exit. Behind a wrapper that forks it (perf record),
# sluice is the wrapper's child: it is stopped first, so that it does not outlive the run.
sluice_stop() {
  pkill -TERM -P "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}
# api_up PORT: the API of the sluice on PORT answers /metrics.
api_up() { http_get "$1" /metrics; }

# peer_start DIR CMD...: the measured pipeline's peer, CMD, in the background, its output in
# DIR (emu.out, emu.err); sets emu and eport (the last word of its first line). emu_stop
# ends it.
peer_start() {
  local d="$1"
  shift
  rm -f "$d/emu.out"
  "$@" >"$d/emu.out" 2>"$d/emu.err" &
  emu=$!
  for _ in $(seq 1 100); do [ -s "$d/emu.out" ] && break; bench_sleep 0.05; done
  eport="$(awk '{print $NF; exit}' "$d/emu.out")"
}
# emu_start DIR SCRIPT ARGS...: tests/emulators/SCRIPT as the peer.
emu_start() {
  local d="$1" script="$2"
  shift 2
  # The receiver must keep up, or the pipeline measured idles between requests and its CPU
  # per event rises (cold caches, wake-ups). Python's buffers of bodies over glibc's mmap
  # threshold are fresh mappings each request, faulted in page by page: a gzip'd _bulk
  # of 870 KB cost the emulator 8 ms of CPU, 2 ms with heap memory kept between requests.
  peer_start "$d" env \
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=134217728 \
    "$PY" "$repo/tests/emulators/$script" "$@"
}
emu_stop() { kill "$emu" 2>/dev/null || true; wait "$emu" 2>/dev/null || true; emu=""; }

# es_start DIR: the count-only Elasticsearch peer (it counts and drops what it is sent):
# build/es_receiver (bench/es_receiver.c; make builds it), which takes a sixth of the CPU
# es_emulator.py --count-only takes on the same cores as the pipeline (round 17 of the
# elasticsearch section), or that emulator with ES_RECEIVER=python. es_stat KEY: one of its
# stats (the same names in both).
es_start() {
  if [ "${ES_RECEIVER:-c}" = python ]; then emu_start "$1" es_emulator.py --count-only; return; fi
  local bin="${ES_RECEIVER_BIN:-$repo/build/es_receiver}"
  [ -x "$bin" ] || { echo "bench: no $bin (make build/es_receiver), or ES_RECEIVER=python" >&2; exit 2; }
  peer_start "$1" "$bin"
}
es_stat() { stat_get "$eport" /_emulator/stats "$1" && echo "$stat"; }
# es_counted N0 N: the emulator has counted at least N documents since it had counted N0.
es_counted() { stat_at_least "$eport" /_emulator/stats count_only_docs $(($1 + $2)); }

# es_yaml DATA PORT SOURCE OPTION CONC MAX_EVENTS [EXTRA]: the config of the elasticsearch
# benchmarks: source `in` (SOURCE, a YAML flow mapping) -> elasticsearch at the emulator
# (eport) with OPTION (a line: "compression: none") and EXTRA (more sink options, one line).
es_yaml() {
  cat <<YAML
data_dir: $1
api: { address: "127.0.0.1:$2" }
sources:
  in: $3
sinks:
  out:
    type: elasticsearch
    inputs: [in]
    endpoint: "http://127.0.0.1:$eport"
    index: "bench-%Y.%m.%d"
    $4
    concurrency: $5
    batch: { max_events: $6, max_bytes: 8MiB, timeout_ms: 200 }
YAML
  if [ -n "${7:-}" ]; then printf '    %s\n' "$7"; fi
}

# wire_row MODE N T0 T1 WIRE: a row of MODE, N events, wall s (T0 to T1), events/s, CPU s,
# events per CPU-second, peak MB (ticks and peak_kb of sluice_measure), MB on the wire.
wire_row() {
  "$PY" -c "
import sys
mode, n, t0, t1, ticks, hz, peak, wire = sys.argv[1:]
wall = float(t1) - float(t0); cpu = int(ticks) / int(hz); n = int(n)
print('%-9s %9d %7.2f %10.0f %6.2f %12.0f %8.1f %.1f' % (mode, n, wall, n / wall, cpu, n / cpu,
      int(peak) / 1024, int(wire) / 1e6))
" "$1" "$2" "$3" "$4" "$ticks" "$CLK_TCK" "$peak_kb" "$5"
}

# file_json_yaml DATA PORT GLOB: the head of a config whose source `in` reads GLOB from its
# start and whose transform `p` parses it as JSON, up to `sinks:` (the script's own follow).
file_json_yaml() {
  cat <<YAML
data_dir: $1
api: { address: "127.0.0.1:$2" }
sources:
  in: { type: file, include: ["$3"], read_from: head }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
YAML
}

# job_logs FILE N [plain]: N lines of JSON job logs into FILE, the same every time (seed 1):
# timestamp, level, message, trace_id, job_id, machine_id, worker_id, duration_ms, ok;
# `plain`: every level info, without duration_ms and ok.
job_logs() {
  "$PY" - "$1" "$2" "${3:-}" <<'PYEOF'
import json, random, sys
r = random.Random(1)
plain = sys.argv[3] == "plain"
lv = ["info"] * 12 + ["debug"] * 4 + ["warn"] * 3 + ["error"]
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        e = {"timestamp": "2026-11-21T10:30:45.%03dZ" % (i % 1000),
             "level": "info" if plain else r.choice(lv),
             "message": "job %d processed in %d ms" % (i, r.randint(1, 900)),
             "trace_id": "%032x" % r.getrandbits(128), "job_id": "job-%d" % i,
             "machine_id": "m-%d" % (i % 7), "worker_id": "w-%d" % (i % 31)}
        if not plain:
            e["duration_ms"] = r.randint(1, 900)
            e["ok"] = r.random() < 0.9
        f.write(json.dumps(e) + "\n")
PYEOF
}
