"""Reload fixes a sink that cannot deliver: the file sink's path is unusable, so events wait
in its buffer (memory, then disk) until it is full and the forward source is blocked pushing
into it (backpressure), and one request keeps retrying; a reload points the sink at a good
path. The buffer is kept with its contents and the request cut short goes back into it, so
every event arrives exactly once at the new path and the forward client gets every ack on
its one connection."""
import os

from fwdclient import Client, packed_entries
from harness import Sluice, WORK, free_port, log, wait_until
from reload_common import ndjson_messages, post_reload, write

CHUNK = 100

for kind, bound in (("memory", "max_bytes: 64KiB"), ("disk", "max_size: 16KiB")):
    base = os.path.join(WORK, kind)
    os.makedirs(base)
    blocker = os.path.join(base, "blocked")  # a regular file where a directory should be
    open(blocker, "w").close()
    good = os.path.join(base, "out", "out.ndjson")
    api, port = free_port(), free_port()

    def cfg(path):
        return """
data_dir: %s/data
shutdown_timeout: 2s
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d" }
sinks:
  out: { type: file, inputs: [fwd], path: "%s", buffer: { type: %s, %s },
         batch: { max_events: %d, timeout_ms: 20 },
         retry: { initial_ms: 20, max_ms: 100 }, circuit_breaker: { failures: 0 } }
""" % (base, api, port, path, kind, bound, CHUNK)

    s = Sluice(cfg(os.path.join(blocker, "out.ndjson")), name="sluice-" + kind).start()
    c = Client(port, timeout=120)

    def received():
        return s.counter("sluice_component_received_events_total", component_id="out")

    def blocked():
        return s.metric("sluice_buffer_blocked_pushes", component_id="out") == 1

    # One chunk at a time (each its own batch) until the source is blocked on the full buffer.
    chunks = 0
    while not blocked():
        assert chunks < 200, "the buffer never filled"
        c.send(["t", packed_entries([{"message": "e%d" % (chunks * CHUNK + i)} for i in range(CHUNK)]),
                {"chunk": "c%d" % chunks}])
        chunks += 1
        wait_until(lambda: received() == chunks * CHUNK or blocked(), 60, "chunk taken or source blocked")
    N = chunks * CHUNK
    wait_until(lambda: s.counter("sluice_sink_retries_total", component_id="out") >= 3, 60, "retries")

    write(s.config, cfg(good))
    code, body = post_reload(s)
    log(kind, "reload:", code, body)
    assert code == 200 and body["changed"] == ["out"], (code, body)
    for k in range(chunks):
        c.wait_ack("c%d" % k)
    # (a disk buffer acks once written: wait for the delivery itself)
    wait_until(lambda: len(set(ndjson_messages(good))) >= N, 60, "every event at the new path")
    wait_until(lambda: s.counter("sluice_component_sent_events_total", component_id="out") >= N
               and s.metric("sluice_sink_inflight", component_id="out") == 0, 60, "sink idle")
    got = ndjson_messages(good)
    assert sorted(got) == sorted("e%d" % i for i in range(N)), \
        "%s: %d events, %d unique" % (kind, len(got), len(set(got)))
    assert "could not be given back" not in s.log_text()
    c.close()
    assert s.stop() == 0
    log("ok:", kind, "buffer carried over,", N, "events exactly once")

# ---- The source changes while it is blocked on the full buffer of the sink that is down ----
# Its blocked push gives up when the reload stops it (the batch is not kept; the client has
# no ack for it), so the reload does not wait for the sink. A second reload fixes the sink;
# the client, whose connection the old instance closed, sends again what it has no ack for:
# every event arrives (duplicates: what was accepted but not acknowledged).
base = os.path.join(WORK, "source")
os.makedirs(base)
blocker = os.path.join(base, "blocked")
open(blocker, "w").close()
good = os.path.join(base, "out", "out.ndjson")
api, port = free_port(), free_port()


def cfg3(path, maxconn):
    return """
data_dir: %s/data
shutdown_timeout: 2s
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d", max_connections: %d }
sinks:
  out: { type: file, inputs: [fwd], path: "%s", buffer: { max_bytes: 64KiB },
         batch: { max_events: %d, timeout_ms: 20 },
         retry: { initial_ms: 20, max_ms: 100 }, circuit_breaker: { failures: 0 } }
""" % (base, api, port, maxconn, path, CHUNK)


s = Sluice(cfg3(os.path.join(blocker, "out.ndjson"), 10), name="sluice-source").start()
c = Client(port, timeout=120)
sent = []
while s.metric("sluice_buffer_blocked_pushes", component_id="out") != 1:
    assert len(sent) < 200, "the buffer never filled"
    k = len(sent)
    c.send(["t", packed_entries([{"message": "e%d" % (k * CHUNK + i)} for i in range(CHUNK)]),
            {"chunk": "c%d" % k}])
    sent.append(k)
    wait_until(lambda: s.counter("sluice_component_received_events_total", component_id="out")
               == len(sent) * CHUNK or s.metric("sluice_buffer_blocked_pushes", component_id="out") == 1,
               60, "chunk taken or source blocked")
write(s.config, cfg3(os.path.join(blocker, "out.ndjson"), 20))
code, body = post_reload(s)
assert code == 200 and body["changed"] == ["fwd"], (code, body)
assert c.sock.recv(1) == b"", "the old instance's connection is still open"
c.close()
write(s.config, cfg3(good, 20))
code, body = post_reload(s)
assert code == 200 and body["changed"] == ["out"], (code, body)
wait_until(s.ready, 60, "the new forward instance listening")
c = Client(port, timeout=120)
for k in sent:  # none was acknowledged: send them all again
    c.send(["t", packed_entries([{"message": "e%d" % (k * CHUNK + i)} for i in range(CHUNK)]),
            {"chunk": "r%d" % k}])
for k in sent:
    c.wait_ack("r%d" % k)
want = set("e%d" % i for i in range(len(sent) * CHUNK))
wait_until(lambda: set(ndjson_messages(good)) >= want, 60, "every event at the new path")
got = ndjson_messages(good)
assert set(got) == want
assert len(got) - len(want) <= len(want), "more than one extra copy"
assert "events of the replaced source are still in flight" in s.log_text()
c.close()
assert s.stop() == 0
log("ok: a source blocked on a down sink's full buffer restarted; %d events, %d again" %
    (len(want), len(got) - len(want)))
