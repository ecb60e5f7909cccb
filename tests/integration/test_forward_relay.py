"""sluice forward sink -> sluice forward source with chunk acks, shared key + user, TLS (certificate
made with `openssl req` here), gzip and failover (the first server is down). The receiver is
killed with SIGKILL twice mid-stream and restarted: the sender retransmits what was not acked
and every event arrives (duplicates allowed, none lost; a duplicate carries the same id).
The writer is held at a limit the test raises after each kill, so each kill lands while
events are still to come however fast or slow the pipeline runs."""
import json
import os
import subprocess
import threading
import time

from harness import Sluice, WORK, free_port, log, wait_until

N = int(os.environ.get("FWD_RELAY_EVENTS", "30000"))
cert, key = os.path.join(WORK, "cert.pem"), os.path.join(WORK, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
               check=True, capture_output=True)

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
open(os.path.join(logs, "app.log"), "w").close()


limit = [N // 2]  # the writer stops here until the test raises it
limit_cv = threading.Condition()


def writer():
    with open(os.path.join(logs, "app.log"), "a") as f:
        for i in range(N):
            if i == limit[0]:
                f.flush()
                with limit_cv:
                    limit_cv.wait_for(lambda: i < limit[0])
            f.write("event %06d %s\n" % (i, "p" * (i % 40)))
            if i % 200 == 199:
                f.flush()
                time.sleep(0.02)


def raise_limit(n):
    with limit_cv:
        limit[0] = n
        limit_cv.notify_all()

api_s, api_r, port, dead = free_port(), free_port(), free_port(), free_port()
out = os.path.join(WORK, "received.ndjson")

receiver_cfg = """
data_dir: %s/recv
shutdown_timeout: 5s
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d", shared_key: "k3y", users: { relay: "pw0" },
         tls: { cert_file: "%s", key_file: "%s" } }
sinks:
  out: { type: file, inputs: [fwd], path: "%s", id_key: _id, batch: { timeout_ms: 20 } }
""" % (WORK, api_r, port, cert, key, out)

sender = Sluice("""
data_dir: %s/send
shutdown_timeout: 5s
api: { address: "127.0.0.1:%d" }
sources:
  app: { type: file, include: ["%s/*.log"], batch_max_events: 500 }
sinks:
  fwd:
    type: forward
    inputs: [app]
    servers: ["127.0.0.1:%d", "127.0.0.1:%d"]
    shared_key: "k3y"
    username: relay
    password: "pw0"
    compression: gzip
    tag: relay.app
    ack_timeout: 2s
    connect_timeout: 1s
    tls: { enabled: true, ca_file: "%s" }
    concurrency: 3
    batch: { max_events: 500, timeout_ms: 20 }
    retry: { initial_ms: 50, max_ms: 300 }
    circuit_breaker: { failures: 0 }
""" % (WORK, api_s, logs, dead, port, cert), name="sender")


def received():
    if not os.path.exists(out):
        return []
    with open(out, "rb") as f:
        lines = f.read().split(b"\n")
    res = []
    for l in lines:
        if l.strip():
            try:
                res.append(json.loads(l))
            except ValueError:
                pass  # a line torn by SIGKILL: its events are retransmitted
    return res


def received_count():
    """Lines in the output so far (cheap enough to poll often)."""
    try:
        with open(out, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


recv = Sluice(receiver_cfg, name="recv").start()
sender.start()
w = threading.Thread(target=writer, daemon=True)
w.start()
for round_ in range(2):
    # Let part of the stream through, then kill the receiver mid-stream. After the first kill
    # the writer goes on once the receiver is back (so that the second kill finds the stream
    # flowing), after the second one at once (events come while the receiver is down).
    target = N * (round_ + 1) // 3
    wait_until(lambda: received_count() >= target, 120, "events reaching the receiver", interval=0.01)
    recv.kill9()
    n = len(received())
    log("receiver killed at", n, "events")
    assert n < N, "the stream ended before the kill"
    if round_ == 1:
        raise_limit(N)
    time.sleep(0.3)
    recv = Sluice(receiver_cfg, name="recv%d" % round_).start()
    if round_ == 0:
        raise_limit(N * 5 // 6)

w.join()
wait_until(lambda: len({e["message"] for e in received()}) == N, 180, "every event after the kills")
assert (sender.metric("sluice_sink_retries_total", component_id="fwd") or 0) > 0, "no retransmission happened"
ev = received()
msgs = {e["message"] for e in ev}
assert msgs == {"event %06d %s" % (i, "p" * (i % 40)) for i in range(N)}
assert {e["tag"] for e in ev} == {"relay.app"}
log("received %d lines, %d unique, %d duplicates" % (len(ev), len(msgs), len(ev) - len(msgs)))
# Chunk ids derive from the sender's stable event ids, and the receiver's ids from the chunk:
# a retransmitted event arrives with the same id, so an idempotent sink drops the repeat.
ids = {}
for e in ev:
    assert e.get("_id"), e
    ids.setdefault(e["message"], set()).add(e["_id"])
assert all(len(v) == 1 for v in ids.values()), [v for v in ids.values() if len(v) > 1][:3]
assert len({next(iter(v)) for v in ids.values()}) == N
# The sender committed its file positions only for acked events: all of them by now.
wait_until(lambda: sender.component("app")["pending_acks"] == 0, 60, "sender acks")
assert sender.stop() == 0
assert recv.stop() == 0
