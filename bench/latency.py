#!/usr/bin/python3
"""latency.py - end-to-end latency of the aggregator path: a Forward client writes events
at a steady rate (one message every 10 ms, each event's EventTime is the moment it is
written) -> forward source -> otlp sink with its default batch, concurrency and encoding
-> an OTLP/HTTP receiver here that stamps each request when its body has been read.
Latency of an event = arrival stamp - its EventTime; reported as P50/P95/P99/max per rate,
with sluice's CPU seconds. Every event written must arrive (the run fails otherwise).

  SLUICE=build/sluice /usr/bin/python3 bench/latency.py                 # 100, 10k, 100k events/s
  /usr/bin/python3 bench/latency.py --rates 10000 --seconds 20
  /usr/bin/python3 bench/latency.py --sink 'batch: { timeout_ms: 200 }'  # extra sink options
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import gzip
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgpack

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "emulators"))
from otlp_pb import fields  # noqa: E402

TICK_S = 0.010


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.requests = []  # (arrival ns, body bytes, gzip)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        now = time.time_ns()
        with self.server.lock:
            self.server.requests.append((now, body, self.headers.get("Content-Encoding") == "gzip",
                                         self.headers.get("Content-Type", "")))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


def record_times(body, ctype):
    """time_unix_nano of every LogRecord of an ExportLogsServiceRequest (protobuf or JSON)."""
    if "json" in ctype:
        import json
        d = json.loads(body)
        return [int(r["timeUnixNano"]) for rl in d.get("resourceLogs", [])
                for sl in rl.get("scopeLogs", []) for r in sl.get("logRecords", [])]
    out = []
    for f, _, rl in fields(body):
        if f != 1:
            continue
        for f2, _, sl in fields(rl):
            if f2 != 2:
                continue
            for f3, _, lr in fields(sl):
                if f3 != 2:
                    continue
                for f4, _, v in fields(lr):
                    if f4 == 1:
                        out.append(v)
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def sent_by_sink(api):
    for line in get("http://127.0.0.1:%d/metrics" % api).splitlines():
        if line.startswith("sluice_component_sent_events_total{") and 'component_id="out"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def pct(sorted_vals, p):
    return sorted_vals[min(len(sorted_vals) - 1, int(len(sorted_vals) * p))]


def run_rate(sluice, work, rate, seconds, sink_extra):
    rx = Receiver()
    threading.Thread(target=rx.serve_forever, daemon=True).start()
    api = free_port()
    fport = free_port()
    while fport == api:  # two binds in a row may get the same ephemeral port
        fport = free_port()
    data = os.path.join(work, "data-%d" % rate)
    shutil.rmtree(data, ignore_errors=True)
    cfg = os.path.join(work, "latency-%d.yaml" % rate)
    with open(cfg, "w") as f:
        f.write("""data_dir: %s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: forward, address: "127.0.0.1:%d" }
sinks:
  out:
    type: otlp
    inputs: [in]
    endpoint: "http://127.0.0.1:%d"
%s""" % (data, api, fport, rx.server_address[1], "".join("    %s\n" % s for s in sink_extra)))
    log = open(os.path.join(work, "sluice-%d.log" % rate), "w")
    p = subprocess.Popen([sluice, "run", "-c", cfg], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(400):
            try:
                get("http://127.0.0.1:%d/readyz" % api)
                break
            except OSError:
                if p.poll() is not None:
                    raise SystemExit("sluice exited: see %s" % log.name)
                time.sleep(0.025)
        conn = socket.create_connection(("127.0.0.1", fport))
        per_tick = max(1, round(rate * TICK_S))
        ticks = int(seconds / TICK_S)
        rec = {"message": "GET /api/v1/items 200 12ms", "level": "info", "service": "checkout"}
        cpu0 = cpu_seconds(p.pid)
        t_next = time.monotonic()
        sent = 0
        for _ in range(ticks):
            now = time.time_ns()
            et = msgpack.ExtType(0, (now // 10**9).to_bytes(4, "big") + (now % 10**9).to_bytes(4, "big"))
            conn.sendall(msgpack.packb(["bench.latency", [[et, rec]] * per_tick]))
            sent += per_tick
            t_next += TICK_S
            d = t_next - time.monotonic()
            if d > 0:
                time.sleep(d)
        deadline = time.monotonic() + 60
        while sent_by_sink(api) < sent and time.monotonic() < deadline:
            time.sleep(0.1)
        cpu = cpu_seconds(p.pid) - cpu0
        conn.close()
    finally:
        p.terminate()
        p.wait()
        log.close()
        rx.shutdown()
    lat, nreq = [], 0
    for arrival, b, gz, ct in rx.requests:
        nreq += 1
        for t in record_times(gzip.decompress(b) if gz else b, ct):
            lat.append((arrival - t) / 1e6)
    if len(lat) != sent:
        raise SystemExit("rate %d: %d events written, %d arrived" % (rate, sent, len(lat)))
    lat.sort()
    return {"rate": rate, "events": sent, "requests": nreq, "p50": pct(lat, 0.50),
            "p95": pct(lat, 0.95), "p99": pct(lat, 0.99), "max": lat[-1], "cpu": cpu}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", default="100,10000,100000")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--sink", action="append", default=[], help="extra YAML lines of the otlp sink")
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    sluice = os.environ.get("SLUICE", os.path.join(here, "..", "build", "sluice"))
    work = tempfile.mkdtemp(prefix="sluice-latency.")
    try:
        print("%8s %8s %8s %8s %8s %8s %8s %7s" % ("events/s", "events", "requests", "p50_ms", "p95_ms",
                                                   "p99_ms", "max_ms", "cpu_s"))
        for r in [int(x) for x in a.rates.split(",")]:
            x = run_rate(sluice, work, r, a.seconds, a.sink)
            print("%8d %8d %8d %8.1f %8.1f %8.1f %8.1f %7.2f" % (x["rate"], x["events"], x["requests"], x["p50"],
                                                                 x["p95"], x["p99"], x["max"], x["cpu"]))
            sys.stdout.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
