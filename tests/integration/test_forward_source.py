"""forward source: every Forward mode crafted by hand (Message with integer time and
EventTime, Forward, PackedForward, CompressedPackedForward), chunk acks, a real client
(fluent-logger), the shared-key + users handshake, and bad input that must close only the
offending connection while good ones keep flowing. Every event sent is counted in the
output."""
import os
import select
import socket
import struct
import time

import msgpack
from fluent import sender

from fwdclient import Client, event_time, gzip_entries, packed_entries
from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

api, p_plain, p_auth, p_idle = free_port(), free_port(), free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  fwd:  { type: forward, address: "127.0.0.1:%d", max_message_bytes: 1MiB,
          handshake_timeout: 1s, idle_timeout: 60s, max_connections: 2100 }
  sec:  { type: forward, address: "127.0.0.1:%d", shared_key: "s3cret",
          self_hostname: "agg.test", users: { alice: wonderland }, handshake_timeout: 5s }
  idl:  { type: forward, address: "127.0.0.1:%d", idle_timeout: 3s }
sinks:
  out: { type: file, inputs: [fwd, sec, idl], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, p_plain, p_auth, p_idle, out)).start()

expected = 0


def outputs():
    return ndjson_file(out)


# 1. Message mode, integer time, no chunk.
c = Client(p_plain)
c.send(["app.msg", 1700000000, {"message": "hello int", "n": 1}])
expected += 1
# 2. Message mode with EventTime and chunk: the ack comes back.
c.send(["app.msg", event_time(1700000001, 987654321), {"log": "hello ns", "nested": {"a": [1, 2]}},
        {"chunk": "c1"}])
c.wait_ack("c1")
expected += 1
# 3. Forward mode.
c.send(["app.fwd", [[1700000002, {"message": "f%d" % i}] for i in range(10)], {"chunk": "c2", "size": 10}])
c.wait_ack("c2")
expected += 10
# 4. PackedForward (bin) and 5. CompressedPackedForward.
c.send(["app.packed", packed_entries([{"message": "p%d" % i} for i in range(100)]), {"chunk": "c3", "size": 100}])
c.wait_ack("c3")
expected += 100
c.send(["app.gz", gzip_entries([{"message": "z%d" % i} for i in range(100)]),
        {"chunk": "c4", "size": 100, "compressed": "gzip"}])
c.wait_ack("c4")
expected += 100
# Two gzip members concatenated (as Fluentd appends chunks).
two = gzip_entries([{"message": "m%d" % i} for i in range(5)]) + gzip_entries([{"message": "m%d" % i} for i in range(5, 9)])
c.send(["app.gz2", two, {"chunk": "c5", "compressed": "gzip"}])
c.wait_ack("c5")
expected += 9
# `size` is the entry count (Fluentd): a wrong one is a counted warning, the events stay.
mism0 = s.metric("sluice_component_errors_total", component_id="fwd", reason="size_mismatch") or 0
c.send(["app.size", packed_entries([{"message": "sz%d" % i} for i in range(3)]), {"chunk": "c6", "size": 7}])
c.wait_ack("c6")
c.send(["app.size", gzip_entries([{"message": "sy%d" % i} for i in range(4)]),
        {"chunk": "c7", "size": 1, "compressed": "gzip"}])
c.wait_ack("c7")
expected += 7
c.close()
wait_until(lambda: (s.metric("sluice_component_errors_total", component_id="fwd", reason="size_mismatch") or 0) - mism0 == 2,
           20, "size mismatches counted")

wait_until(lambda: len(outputs()) == expected, 30, "first events in the output")
ev = outputs()
byid = {e["message"]: e for e in ev}
assert byid["hello int"]["tag"] == "app.msg" and byid["hello int"]["n"] == 1
assert byid["hello ns"]["timestamp"].endswith(".987654321Z"), byid["hello ns"]
assert byid["hello ns"]["nested"] == {"a": [1, 2]}, byid["hello ns"]
assert byid["p99"]["tag"] == "app.packed" and byid["z5"]["tag"] == "app.gz"
assert byid["m8"]["tag"] == "app.gz2"
assert byid["sz2"]["tag"] == "app.size" and byid["sy3"]["tag"] == "app.size"
log("all modes ok:", expected)

# 6. A real client: fluent-logger (Message mode, EventTime with nanosecond precision).
fl = sender.FluentSender("app", host="127.0.0.1", port=p_plain, nanosecond_precision=True)
for i in range(50):
    assert fl.emit("logger", {"message": "fl%d" % i, "i": i}), fl.last_error
fl.close()
expected += 50
wait_until(lambda: len(outputs()) == expected, 30, "fluent-logger events")
assert {e["tag"] for e in outputs() if e["message"].startswith("fl")} == {"app.logger"}

# 7. Shared key + user: a good login delivers; a bad key or password gets PONG false.
c = Client(p_auth, shared_key="s3cret", username="alice", password="wonderland")
assert c.pong[1] is True and c.pong[3] == "agg.test"
c.send(["sec.app", packed_entries([{"message": "sec%d" % i} for i in range(20)]), {"chunk": "k1"}])
c.wait_ack("k1")
c.close()
expected += 20
for key, user, pw in (("wrong", "alice", "wonderland"), ("s3cret", "alice", "nope"),
                      ("s3cret", "bob", "wonderland"), ("s3cret", "", "")):
    c = Client(p_auth)
    helo = c.read_obj()
    assert helo[0] == "HELO"
    c.close()
    bad = Client(p_auth, shared_key=None)
    try:
        ok = bad.handshake(key, "h", user, pw)
        assert ok is False, "bad credentials accepted"
        try:
            bad.read_obj()
            raise AssertionError("connection kept open after a failed handshake")
        except (ConnectionError, OSError):
            pass
    finally:
        bad.close()
# A PING with wrong types in each position: closed, counted, nothing else disturbed.
def ping_items():
    return ["PING", "h", b"salt", "0" * 128, "alice", "0" * 128]


for pos, wrong in ((0, 1), (1, 7), (2, None), (3, [1]), (4, {"u": 1}), (5, True)):
    items = ping_items()
    items[pos] = wrong
    c = Client(p_auth)
    c.read_obj()
    c.send(items)
    try:
        while True:
            c.read_obj()
    except (ConnectionError, OSError):
        pass
    c.close()
for bad_ping in (["PING", "h"], {"PING": 1}, "PING"):
    c = Client(p_auth)
    c.read_obj()
    c.send(bad_ping)
    try:
        while True:
            c.read_obj()
    except (ConnectionError, OSError):
        pass
    c.close()
# A message before the handshake closes the connection.
c = Client(p_auth)
c.read_obj()
c.send(["sec.app", 1700000000, {"message": "sneaky"}])
try:
    c.read_obj()
    raise AssertionError("data before PING accepted")
except (ConnectionError, OSError):
    pass
c.close()

# 8. Bad input while a good connection keeps streaming (opened once the inputs are built:
# it must not sit idle past idle_timeout meanwhile).
good_sent = 0


def good_send(tag):
    global good_sent, expected
    good.send(["good", packed_entries([{"message": "g%d" % (good_sent + i)} for i in range(10)]), {"chunk": tag}])
    good.wait_ack(tag)
    good_sent += 10
    expected += 10


def closed_by_server(sock):
    sock.settimeout(60)
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                return True
    except ConnectionResetError:
        return True


bad_inputs = [
    b"\xc1",                                               # never-used byte
    msgpack.packb({"not": "an array"}),
    msgpack.packb([1, 1700000000, {"message": "x"}]),      # tag not a string
    msgpack.packb(["t", "notatime", {"message": "x"}, {}]),  # time not a time
    msgpack.packb(["t", 1700000000, ["not", "a", "map"]]),   # record not a map
    msgpack.packb(["t", [[1700000000]]]),                  # entry not [time, record]
    msgpack.packb(["t", [["x", {}]]]),                     # entry time wrong
    msgpack.packb(["t", b"\x92\x01"]),                     # packed entries truncated
    msgpack.packb(["t", b"\x00" * 10, {"compressed": "gzip"}]),  # not gzip
    msgpack.packb(["t", 1700000000, {"m": 1}, {"chunk": 5}]),     # chunk not a string
    msgpack.packb(["t", 1700000000, {(1, 2): "array key"}]),  # a key that has no text
    msgpack.packb(["", 1700000000, {"m": 1}]),            # empty tag
    msgpack.packb(["t", True, {"m": 1}]),                 # second item neither time, array nor bin
    msgpack.packb(["t", None]),                           # nil entries
    msgpack.packb(["t", 1700000000, {"m": 1}, {}, 5]),    # five items
    msgpack.packb(["t", [[1700000000, "not a map"]]]),    # forward-mode record not a map
    msgpack.packb(["t", [[True, {"m": 1}]]]),             # forward-mode time a bool
    msgpack.packb(["t", [[msgpack.ExtType(0, b"\x00" * 4), {"m": 1}]]]),  # EventTime of 4 bytes
    msgpack.packb(["t", [[msgpack.ExtType(0, struct.pack(">II", 1, 2000000000)), {"m": 1}]]]),  # nsec >= 1e9
    msgpack.packb(["t", packed_entries([{"m": 1}]), 5]),  # option not a map
    msgpack.packb(["t", packed_entries([{"m": 1}]), {"size": "three"}]),   # size not a count
    msgpack.packb(["t", packed_entries([{"m": 1}]), {"size": -1}]),        # negative size
    msgpack.packb(["t", packed_entries([{"m": 1}]), {"compressed": 1}]),   # compressed not a string
    msgpack.packb(["t", packed_entries([{"m": 1}]), {"compressed": "lz4"}]),  # unknown compression
    msgpack.packb(["t", packed_entries([{"m": 1}]), {5: "key"}]),          # option key not a string
    msgpack.packb(["t", b"\x92\xce\x00\x00\x00\x01\x81\x80\xa1x"]),  # packed record key a map
    msgpack.packb(["t", gzip_entries([{"m": 1}])[:-6], {"compressed": "gzip"}]),  # truncated gzip
    b"\xdb\x7f\xff\xff\xff",                               # a 2 GB string claim
    b"\xdd\x7f\xff\xff\xff",                               # a 2 G element array claim
    b"\x93\xa1t" + b"\xdb\x7f\xff\xff\xff",                # 2 GB claim inside a message
    # a small gzip stream inflating beyond max_message_bytes (a zip bomb)
    msgpack.packb(["t", gzip_entries([{"message": "x" * 1000}] * 3000), {"compressed": "gzip"}]),
]
errors_before = s.metric("sluice_component_errors_total", component_id="fwd") or 0
good = Client(p_plain)
log("bad inputs")
for i, data in enumerate(bad_inputs):
    b = socket.create_connection(("127.0.0.1", p_plain), timeout=20)
    b.sendall(data)
    assert closed_by_server(b), "bad input %d did not close the connection" % i
    b.close()
    good_send("g%d" % i)
wait_until(lambda: (s.metric("sluice_component_errors_total", component_id="fwd") or 0) - errors_before >= len(bad_inputs),
           20, "every bad input counted")

# Truncated message then EOF: nothing is delivered from it, the daemon carries on.
b = socket.create_connection(("127.0.0.1", p_plain))
b.sendall(msgpack.packb(["t", 1700000000, {"message": "never"}])[:-3])
b.close()
good_send("trunc")

log("handshake timeout")
# Never-ending handshake: a client that never sends PING is closed after handshake_timeout.
h = socket.create_connection(("127.0.0.1", p_auth), timeout=20)
assert closed_by_server(h), "handshake never timed out"
h.close()

# idle_timeout: a connection silent for longer is closed and counted; one that keeps sending
# (every 0.3 s, well inside the 3 s) is not, however long the silent one takes to go: it
# sends until then, and once more after (its data arrives).
log("idle timeout")
quiet = socket.create_connection(("127.0.0.1", p_idle), timeout=20)
busy = Client(p_idle)
k = 0
while True:
    busy.send(["idle.busy", packed_entries([{"message": "busy%d" % k}]), {"chunk": "bz%d" % k}])
    busy.wait_ack("bz%d" % k)
    expected += 1
    k += 1
    if select.select([quiet], [], [], 0)[0]:
        break
    assert k < 1000, "silent connection not closed"
    time.sleep(0.3)
assert closed_by_server(quiet), "silent connection not closed"
quiet.close()
busy.send(["idle.busy", packed_entries([{"message": "busy-last"}]), {"chunk": "bzl"}])
busy.wait_ack("bzl")
expected += 1
busy.close()
assert (s.metric("sluice_component_errors_total", component_id="idl", reason="idle_timeout") or 0) >= 1

# Thousands of idle connections (max_connections 2100): good traffic keeps flowing.
log("idle connections")
idle = []
for i in range(2000):
    idle.append(socket.create_connection(("127.0.0.1", p_plain)))
good_send("idle1")
# Beyond max_connections: refused (closed at once), counted.
extra = [socket.create_connection(("127.0.0.1", p_plain)) for _ in range(300)]
wait_until(lambda: (s.metric("sluice_component_errors_total", component_id="fwd", reason="max_connections") or 0) > 0,
           20, "max_connections refusals counted")
for x in idle + extra:
    x.close()
good_send("idle2")
good.close()

wait_until(lambda: len(outputs()) == expected, 30, "every good event delivered")
msgs = [e["message"] for e in outputs()]
assert "never" not in msgs and "sneaky" not in msgs
assert len(set(m for m in msgs if m.startswith("g"))) == good_sent
log("delivered", len(msgs), "events; errors", s.metric("sluice_component_errors_total", component_id="fwd"))
assert s.stop() == 0
