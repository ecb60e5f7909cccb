"""limits.memory with the http source: CLIENTS clients post NDJSON bodies at once into a
slow http sink (the source answers 200 once a body's events are delivered, so what it
holds is what the clients have in flight, more than the room the limit leaves). Before the
process reaches the limit the source answers 429 with Retry-After as soon as a request's
head is in (as under buffer pressure; counted as `backpressure` and in its
`memory_pauses`), a client sends the refused body again, and in the end every line is
delivered exactly once while the resident set sampled from /proc/<pid>/status stayed under
the limit plus ALLOWANCE. The limit is the footprint of the same pipeline after one
request plus ROOM."""
import http.client
import json
import threading
import time
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, post_json, wait_until
from mem_common import ASAN_ALLOWANCE, MiB, PeakSampler, assert_peak_under, limit_over, vmrss

ROOM = 16 * MiB
# A body being read and parsed, a request in flight. A refused body is not read (the 429
# comes with its head; the body is discarded as it arrives), so it costs no heap, under
# ASan either: the same allowance holds for both builds.
ALLOWANCE = 4 * MiB + ASAN_ALLOWANCE
CLIENTS = 64
BODIES = 5  # per client
PER_BODY = 1000
sink = Emulator("http_sink_server.py")
ctl = lambda body: post_json("http://127.0.0.1:%d/control" % sink.port, body)
stats = lambda: json.loads(urllib.request.urlopen("http://127.0.0.1:%d/stats" % sink.port,
                                                  timeout=10).read())


def config(name, port, limit):
    return """data_dir: %s/%s-data
api: { address: "127.0.0.1:%d" }
%s
sources:
  web: { type: http, address: "127.0.0.1:%d", max_body_bytes: 4MiB, retry_after: 1 }
sinks:
  out:
    type: http
    inputs: [web]
    uri: "http://127.0.0.1:%d/ingest"
    buffer: { type: memory, max_bytes: 1GiB }
    batch: { max_events: 1000, timeout_ms: 50 }
    retry: { initial_ms: 20, max_ms: 200 }
""" % (WORK, name, free_port(), "limits: { memory: %d }" % limit if limit else "", port,
       sink.port)


def post(conn, body):
    conn.request("POST", "/t", body, {"Content-Type": "application/x-ndjson"})
    r = conn.getresponse()
    r.read()
    return r.status, r.getheader("Retry-After")


# 1. The footprint after one request.
p0 = free_port()
s = Sluice(config("base", p0, 0), name="base").start()
c = http.client.HTTPConnection("127.0.0.1", p0, timeout=60)
assert post(c, b'{"message":"warm-up"}\n')[0] == 200
wait_until(lambda: stats()["lines"] == 1, 60, "the warm-up event delivered")
base = vmrss(s.proc.pid)
c.close()
assert s.stop() == 0
limit = limit_over(base, ROOM)
ctl({"reset": True})
assert CLIENTS * PER_BODY * 300 > ROOM

ctl({"delay_ms": 250})  # about 4 requests of 1000 events a second: slower than the client
p1 = free_port()
s = Sluice(config("run", p1, limit)).start()
sampler = PeakSampler(s.proc.pid)
refused, retry_after, errors = [0], set(), []
lock = threading.Lock()


def client(k):
    try:
        c = http.client.HTTPConnection("127.0.0.1", p1, timeout=120)
        for b in range(BODIES):
            body = "".join('{"message":"h %02d %02d %04d %s"}\n' % (k, b, i, "h" * 260)
                           for i in range(PER_BODY)).encode()
            while True:
                st, ra = post(c, body)
                if st == 200:
                    break
                assert st == 429, st
                with lock:
                    refused[0] += 1
                    retry_after.add(ra)
                time.sleep(0.05)  # the client's own pacing (it would wait Retry-After)
        c.close()
    except Exception as e:  # reported by the main thread
        errors.append(repr(e))


try:
    clients = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in clients:
        t.start()
    wait_until(lambda: refused[0] > 0 or errors, 120, "a body refused for memory")
    ctl({"delay_ms": 0})  # the source is held: now let the sink drain
    for t in clients:
        t.join()
    assert not errors, errors
    refused = refused[0]
    assert retry_after == {"1"}, retry_after
    wait_until(lambda: stats()["lines"] == CLIENTS * BODIES * PER_BODY, 300, "every line delivered")
    assert s.counter("sluice_component_errors_total", component_id="web", reason="backpressure") >= refused
    assert s.component("web")["counters"].get("memory_pauses", 0) >= 1
    wait_until(lambda: s.metric("sluice_memory_paused_sources") == 0, 30, "no source paused")
finally:
    sampler.stop()
    s.stop()
with urllib.request.urlopen("http://127.0.0.1:%d/lines" % sink.port, timeout=60) as r:
    got = [json.loads(l)["message"] for l in r.read().decode().splitlines() if l.strip()]
assert len(got) == CLIENTS * BODIES * PER_BODY and len(set(got)) == len(got), (len(got), len(set(got)))
log("footprint %.1f MiB, limit %.1f MiB, peak RSS sampled %.1f MiB; %d bodies refused with 429;"
    " %d lines delivered once" % (base / MiB, limit / MiB, sampler.peak / MiB, refused, len(got)))
assert_peak_under(sampler.peak, limit, ALLOWANCE)
sink.stop()
