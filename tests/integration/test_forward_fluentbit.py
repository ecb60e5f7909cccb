"""Fluent Bit -> the forward source.

1. Replays the bytes a real Fluent Bit 5.1.1 sent (tests/data/fluent-bit-forward, eight
   configurations): every case delivers its three events with the tag, the time to the
   nanosecond and the record, and the ack cases get back exactly the recorded server's
   bytes (each `ack` is the chunk id). In the shared-key cases the recorded PING's digest
   binds the recorded server's random nonce, so it cannot pass against a live server: each
   connection does a fresh handshake written as Fluent Bit writes it (same hostname, salt
   bytes as a str, user and password; the writer is checked here against the recorded PING
   for the recorded nonce, byte for byte), then sends the recorded bytes that followed the
   PING unchanged. (tests/unit/test_forward_recorded.c checks the recorded PINGs against
   the recorded nonces through the source's own check.)
2. Shapes Fluent Bit sends that the recordings do not hold: a non-empty metadata map
   (fields fluentbit.metadata.*), Message mode with [time, metadata] or an option
   `metadata`, group markers (skipped), unknown options, gzip of several members,
   fluent_signal 1 (acked and dropped, counted), and malformed metadata (closed, counted).
3. Seed 001's setup: a client that writes what Fluent Bit's out_forward writes (TLS, shared
   key, user, CompressedPackedForward of [[EventTime, {}], record], acks) delivers every
   record."""
import gzip
import json
import os
import socket
import struct
import subprocess
import time

import msgpack

from fwdclient import Client, event_time, fluent_bit_ping, raw, unpacker
from harness import ROOT, Sluice, WORK, free_port, log, ndjson_file, wait_until

DATA = os.path.join(ROOT, "tests", "data", "fluent-bit-forward")
CASES = json.load(open(os.path.join(DATA, "cases.json")))
RECORD = CASES["record"]

cert, key = os.path.join(WORK, "cert.pem"), os.path.join(WORK, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
               check=True, capture_output=True)

api, p_plain, p_sk, p_sku, p_tls = free_port(), free_port(), free_port(), free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  plain: { type: forward, address: "127.0.0.1:%d" }
  sk:    { type: forward, address: "127.0.0.1:%d", shared_key: "emp-log-aggregation-key",
           self_hostname: fb-server }
  sku:   { type: forward, address: "127.0.0.1:%d", shared_key: "k", self_hostname: fb-server,
           users: { alice: s3cret } }
  seed:  { type: forward, address: "127.0.0.1:%d", shared_key: "emp-log-aggregation-key",
           users: { fbuser: fbpass }, tls: { cert_file: "%s", key_file: "%s" } }
sinks:
  out: { type: file, inputs: [plain, sk, sku, seed], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, p_plain, p_sk, p_sku, p_tls, cert, key, out)).start()


def outputs():
    return ndjson_file(out)


def rfc3339(ns):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + ".%09dZ" % (ns % 10**9)


def messages(data):
    """(offset, end, object) of each msgpack message of a recorded stream."""
    u = unpacker()
    u.feed(data)
    res, off = [], 0
    for o in u:
        end = u.tell()
        res.append((off, end, o))
        off = end
    return res


def expected_events(data):
    """The events of a recorded client stream, decoded here independently of sluice:
    (tag, time ns, record, metadata)."""
    evs = []
    for _, _, m in messages(data):
        if m[0] == "PING":
            continue
        entries = m[1]
        if isinstance(entries, bytes):
            if len(m) > 2 and m[2].get("compressed") == "gzip":
                entries = gzip.decompress(entries)
            u = unpacker()
            u.feed(entries)
            entries = list(u)
        for t, rec in entries:
            meta = {}
            if isinstance(t, list):
                t, meta = t
            if isinstance(t, msgpack.ExtType):
                sec, nsec = struct.unpack(">II", t.data)
                ns = sec * 10**9 + nsec
            else:
                ns = t * 10**9
            evs.append((m[0], ns, rec, meta))
    return evs


def read_exactly(sock, n):
    got = b""
    sock.settimeout(30)
    while len(got) < n:
        d = sock.recv(n - len(got))
        if not d:
            raise AssertionError("closed after %d of %d answer bytes" % (len(got), n))
        got += d
    return got


# ---- 1. The recordings ------------------------------------------------------------------
expected = 0
for case in CASES["cases"]:
    name = case["case"]
    client = open(os.path.join(DATA, name + ".client.bin"), "rb").read()
    server = open(os.path.join(DATA, name + ".server.bin"), "rb").read()
    want = expected_events(client)
    assert len(want) == 3 and all(w[2] == RECORD and w[0] == "app.web" for w in want), name
    shared = case["in_forward"].get("Shared_Key")
    if not shared:
        c = socket.create_connection(("127.0.0.1", p_plain))
        c.sendall(client)
        if server:
            got = read_exactly(c, len(server))
            assert got == server, "%s: acks %r, recorded %r" % (name, got, server)
            acks = [m["ack"] for _, _, m in messages(server)]
            chunks = [m[2]["chunk"] for _, _, m in messages(client)]
            assert acks == chunks, (acks, chunks)
        c.close()
    else:
        port = p_sk if "security.users" not in case["in_forward"] else p_sku
        user = case["out_forward"].get("Username", "")
        pw = case["out_forward"].get("Password", "")
        msgs = messages(client)
        srv = [m for _, _, m in messages(server)]
        pings = [i for i, (_, _, m) in enumerate(msgs) if m[0] == "PING"]
        for k, i in enumerate(pings):
            ping = msgs[i][2]
            salt = raw(ping[2])
            # The PING writer used below gives the recorded PING for the recorded nonce.
            helo = srv[2 * k]
            assert fluent_bit_ping("fb-client", salt, raw(helo[1]["nonce"]), raw(helo[1]["auth"]),
                                   shared, user, pw) == client[msgs[i][0]:msgs[i][1]], name
            end = msgs[pings[k + 1]][0] if k + 1 < len(pings) else len(client)
            c = Client(port, shared_key=shared, hostname="fb-client", username=user, password=pw,
                       fluent_bit=True, salt=salt)
            assert c.pong[1] is True and c.pong[3] == "fb-server", c.pong
            c.send_raw(client[msgs[i][1]:end])
            c.close()
    expected += 3
    wait_until(lambda: len(outputs()) == expected, 30, "events of " + name)
    got = {e["timestamp"]: e for e in outputs()}
    for tag, ns, rec, meta in want:
        e = got.get(rfc3339(ns))
        assert e is not None, "%s: no event at %s" % (name, rfc3339(ns))
        assert e["tag"] == tag and e["message"] == rec["message"], e
        for k2, v in rec.items():
            if k2 != "message":
                assert e[k2] == v, (k2, e)
        assert not [k2 for k2 in e if k2.startswith("fluentbit.metadata")], e  # maps were empty
    log("replayed", name)

# ---- 2. Shapes beyond the recordings ------------------------------------------------------
c = Client(p_plain)
meta = {"source": "agent", "otlp": {"severity_number": 9}}
group = [[[event_time(0xffffffff, 0), {"resource": {}}], {"scope": "s"}],
         [[event_time(1800000000, 1), meta], {"message": "with meta", "n": 1}],
         [[-2, {}], {}]]
c.send(["fb.meta", group, {"chunk": "m1", "size": 3, "fluent_signal": 0, "future_option": [1, {"x": 2}]}])
c.wait_ack("m1")
c.send(["fb.msg", [event_time(1800000000, 2), {"k": 5}], {"log": "message mode"}, {"chunk": "m2"}])
c.wait_ack("m2")
c.send(["fb.msg", event_time(1800000000, 3), {"message": "option meta"},
        {"chunk": "m3", "metadata": {"m": "v"}}])
c.wait_ack("m3")


def packed(entries):
    return b"".join(msgpack.packb(e, use_bin_type=True) for e in entries)


members = (gzip.compress(packed([[[event_time(1800000001, i), {"i": i}], {"message": "gz%d" % i}]
                                  for i in range(3)])) +
           gzip.compress(packed([[[event_time(1800000001, i), {}], {"message": "gz%d" % i}]
                                 for i in range(3, 5)])))
c.send(["fb.gz", members, {"chunk": "m4", "size": 5, "compressed": "gzip", "fluent_signal": 0}])
c.wait_ack("m4")
sig0 = s.metric("sluice_component_errors_total", component_id="plain", reason="unsupported_signal") or 0
c.send(["fb.metrics", b"\x81\xa4meta\xc0", {"chunk": "m5", "fluent_signal": 1}])
c.wait_ack("m5")
c.close()
expected += 1 + 1 + 1 + 5
wait_until(lambda: len(outputs()) == expected, 30, "crafted Fluent Bit shapes")
assert (s.metric("sluice_component_errors_total", component_id="plain", reason="unsupported_signal") or 0) == sig0 + 1
assert (s.metric("sluice_component_errors_total", component_id="plain", reason="size_mismatch") or 0) == 0
byid = {e["message"]: e for e in outputs()}
e = byid["with meta"]
assert e["tag"] == "fb.meta" and e["fluentbit.metadata.source"] == "agent", e
assert e["fluentbit.metadata.otlp"] == {"severity_number": 9}, e
assert e["timestamp"] == rfc3339(1800000000 * 10**9 + 1), e
assert "scope" not in json.dumps(outputs()), "a group marker became an event"
assert byid["message mode"]["fluentbit.metadata.k"] == 5 and byid["message mode"]["tag"] == "fb.msg"
assert byid["option meta"]["fluentbit.metadata.m"] == "v"
assert byid["gz1"]["fluentbit.metadata.i"] == 1 and "fluentbit.metadata.i" not in byid["gz4"]
assert not [e for e in outputs() if e["tag"] == "fb.metrics"]

# Malformed metadata closes that connection only, with a clear, counted error.
bad0 = s.metric("sluice_component_errors_total", component_id="plain", reason="malformed") or 0
for bad in (["fb.bad", [[[1800000000, "not a map"], {"m": 1}]]],
            ["fb.bad", [[[1800000000, {}, "extra"], {"m": 1}]]],
            ["fb.bad", [1800000000, {}], "record not a map"]):
    b = socket.create_connection(("127.0.0.1", p_plain), timeout=30)
    b.sendall(msgpack.packb(bad, use_bin_type=True))
    assert b.recv(100) == b"", "malformed message did not close the connection"
    b.close()
wait_until(lambda: (s.metric("sluice_component_errors_total", component_id="plain", reason="malformed") or 0) == bad0 + 3,
           20, "malformed metadata counted")
# (the error text itself, "metadata is not a map", is checked by test_forward_recorded.c:
# the log line is rate limited to one a second per listener)

# A record nested deeper than the decoder goes is counted as that, not as bytes that are
# no msgpack (it said "malformed msgpack at byte 0")
deep = ["fb.deep", [[1800000000, {"m": 1}]]]
inner = deep[1][0][1]
for _ in range(40):
    inner["m"] = [{"m": 1}]
    inner = inner["m"][0]
b = socket.create_connection(("127.0.0.1", p_plain), timeout=30)
b.sendall(msgpack.packb(deep, use_bin_type=True))
assert b.recv(100) == b"", "a too deep message did not close the connection"
b.close()
wait_until(lambda: s.metric("sluice_component_errors_total", component_id="plain",
                            reason="too_deep") == 1, 20, "too deep counted apart")
assert (s.metric("sluice_component_errors_total", component_id="plain", reason="malformed")
        or 0) == bad0 + 3

# ---- 3. Seed 001: TLS, shared key, user, gzip, acks, as Fluent Bit writes them -----------
N = 40
c = Client(p_tls, shared_key="emp-log-aggregation-key", hostname="fb-edge", username="fbuser",
           password="fbpass", tls_ca=cert, fluent_bit=True)
assert c.pong[1] is True
for k in range(N):
    ents = packed([[[event_time(1800000100 + k, j), {}], dict(RECORD, message="seed %d.%d" % (k, j))]
                   for j in range(5)])
    chunk = "seed%02d" % k
    c.send(["app.web", gzip.compress(ents), {"chunk": chunk, "size": 5, "compressed": "gzip",
                                             "fluent_signal": 0}])
    c.wait_ack(chunk)
c.close()
expected += N * 5
wait_until(lambda: len(outputs()) == expected, 60, "seed 001 events")
seed = [e for e in outputs() if e["message"].startswith("seed ")]
assert len({e["message"] for e in seed}) == N * 5
assert all(e["job_id"] == "job-7" and e["tag"] == "app.web" for e in seed)
# A bad password is refused as Fluent Bit would be told: PONG false, connection closed.
bad = Client(p_tls, tls_ca=cert)
assert bad.handshake("emp-log-aggregation-key", "fb-edge", "fbuser", "nope") is False
assert bad.pong[2] == "username/password mismatch"
bad.close()
log("delivered", len(outputs()))
assert s.stop() == 0
