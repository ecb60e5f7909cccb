"""http source with curl: every content type (JSON object, array, NDJSON, msgpack, text),
gzip bodies, bearer auth, 400 with the error position, 401, 405, 413, 415, a slow sender
closed after request_timeout, and 429 with Retry-After when the sink's buffer is full,
answered as soon as a request's head is in (the body, not read before, is thrown away as it
arrives; 100-continue is refused instead). Every accepted event is counted in the output."""
import gzip
import json
import os
import subprocess

import msgpack

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

api, port, port_auth, port_slow = free_port(), free_port(), free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
# `slow` has a short request_timeout and serves only the slow sender: every other request
# goes where a busy machine cannot make it time out.
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  web:  { type: http, address: "127.0.0.1:%d", max_body_bytes: 512KiB }
  priv: { type: http, address: "127.0.0.1:%d", auth: { bearer_token: "tok123" }, tag: private }
  slow: { type: http, address: "127.0.0.1:%d", request_timeout: 1s }
sinks:
  out: { type: file, inputs: [web, priv, slow], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, port, port_auth, port_slow, out)).start()


def curl(path, data, ctype=None, extra=(), p=port, method="POST"):
    f = os.path.join(WORK, "body")
    with open(f, "wb") as fh:
        fh.write(data)
    cmd = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method,
           "--data-binary", "@" + f, "http://127.0.0.1:%d%s" % (p, path)]
    if ctype:
        cmd += ["-H", "Content-Type: " + ctype]
    cmd += list(extra)
    r = subprocess.run(cmd, capture_output=True, timeout=60)
    body, code = r.stdout.decode().rsplit("\n", 1)
    return int(code), body


def outputs():
    return ndjson_file(out)  # complete lines: sluice may be writing the last


expected = 0


def ok(n, *a, **kw):
    global expected
    code, body = curl(*a, **kw)
    assert code == 200, (code, body)
    assert json.loads(body) == {"accepted": n}, body
    expected += n


ok(1, "/app.obj", b'{"message":"one","level":"info","n":5,"obj":{"a":1}}', "application/json")
ok(3, "/app.arr", json.dumps([{"message": "a%d" % i} for i in range(3)]).encode(), "application/json")
ok(4, "/app.nd", b"".join(json.dumps({"message": "nd%d" % i}).encode() + b"\n" for i in range(4)),
   "application/x-ndjson")
ok(2, "/app.ndj", b'{"message":"j0"}\n{"message":"j1"}\n', "application/json")
ok(1, "/app.mp", msgpack.packb({"message": "mp0", "k": [1, 2]}), "application/msgpack")
ok(3, "/app.mpa", msgpack.packb([{"message": "mpa%d" % i} for i in range(3)]), "application/x-msgpack")
ok(2, "/app.txt", b"text one\ntext two\n", "text/plain")
ok(1, "/app.form", b'{"message":"curl -d"}', "application/x-www-form-urlencoded")
ok(500, "/app.gz", gzip.compress(b"".join(b'{"message":"gz%d"}\n' % i for i in range(500))),
   "application/x-ndjson", extra=["-H", "Content-Encoding: gzip"])
# A body big enough for curl to use Expect: 100-continue.
big = b"".join(b'{"message":"big%05d","pad":"%s"}\n' % (i, b"x" * 100) for i in range(3000))
ok(3000, "/app.big", big, "application/x-ndjson", extra=["-H", "Expect: 100-continue"])
ok(1, "/", b'{"message":"tok"}', "application/json", p=port_auth,
   extra=["-H", "Authorization: Bearer tok123"])

# Errors.
code, body = curl("/bad", b'{"message": "x",\n "broken": tru}', "application/json")
assert code == 400 and "byte" in json.loads(body)["error"], (code, body)
log("400:", body)
code, body = curl("/bad", b'{"message":"ok"}\n{"message": oops}\n', "application/x-ndjson")
assert code == 400 and "line 2" in json.loads(body)["error"], (code, body)
code, body = curl("/bad", b"\x81\xa1m", "application/msgpack")
assert code == 400, (code, body)
code, body = curl("/bad", b"\x00" * 20, "application/json", extra=["-H", "Content-Encoding: gzip"])
assert code == 400, (code, body)
code, body = curl("/big", b"x" * (600 * 1024), "text/plain")
assert code == 413, (code, body)
code, body = curl("/", b'{"message":"x"}', "application/json", p=port_auth)
assert code == 401, (code, body)
code, body = curl("/", b'{"message":"x"}', "application/json", p=port_auth,
                  extra=["-H", "Authorization: Bearer nope"])
assert code == 401, (code, body)
code, body = curl("/x", b"", method="GET")
assert code == 405, (code, body)
code, body = curl("/x", b"<a/>", "application/xml")
assert code == 415, (code, body)
# A gzip bomb: inflates beyond 8 x max_body_bytes.
code, body = curl("/bomb", gzip.compress(b" " * (5 << 20)), "text/plain", extra=["-H", "Content-Encoding: gzip"])
assert code == 413, (code, body)

# A slow sender (half a request, then nothing) is closed after request_timeout.
import socket  # noqa: E402
slow = socket.create_connection(("127.0.0.1", port_slow), timeout=60)
slow.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mess")
assert slow.recv(100) == b"", "slow request not closed"
slow.close()
assert (s.metric("sluice_component_errors_total", component_id="slow", reason="request_timeout") or 0) == 1
assert (s.metric("sluice_component_errors_total", component_id="web", reason="request_timeout") or 0) == 0

wait_until(lambda: len(outputs()) == expected, 30, "every accepted event in the output")
ev = outputs()
one = [e for e in ev if e["message"] == "one"][0]
assert one["tag"] == "app.obj" and one["n"] == 5 and one["obj"] == {"a": 1}, one
assert [e for e in ev if e["message"] == "tok"][0]["tag"] == "private"
assert [e for e in ev if e["message"] == "mp0"][0]["k"] == [1, 2]
assert s.stop() == 0
log("accepted", expected)

# 429: the sink cannot deliver (nothing listens) and its buffer holds one batch.
api2, port2, dead = free_port(), free_port(), free_port()
s2 = Sluice("""
data_dir: %s/data2
shutdown_timeout: 2s
api: { address: "127.0.0.1:%d" }
sources:
  web: { type: http, address: "127.0.0.1:%d", retry_after: 7 }
sinks:
  down: { type: http, inputs: [web], uri: "http://127.0.0.1:%d/", concurrency: 1,
          buffer: { type: memory, max_bytes: 1 }, circuit_breaker: { failures: 0 },
          retry: { initial_ms: 50, max_ms: 100 } }
""" % (WORK, api2, port2, dead), name="full").start()
hanging = []
got429 = None
for i in range(20):
    r = subprocess.run(["curl", "-sS", "-i", "--max-time", "2", "-H", "Content-Type: application/json",
                        "--data-binary", '{"message":"p%d"}' % i, "http://127.0.0.1:%d/t" % port2],
                       capture_output=True)
    text = r.stdout.decode(errors="replace")
    if text.startswith("HTTP/1.1 429"):
        got429 = text
        break
    # Accepted into the pipeline but not delivered: no 2xx may come back.
    assert "HTTP/1.1 200" not in text, text
assert got429 and "Retry-After: 7" in got429, got429
log("429 after", i, "requests")
assert (s2.metric("sluice_component_errors_total", component_id="web", reason="backpressure") or 0) >= 1

# The refusal comes with the head, before the body is read (http_request.c note 5): a client
# that sends only the head of a 3 MiB body gets the 429 at once. The body it then sends is
# thrown away as it arrives, and the connection serves the next request.
BIG = 3 << 20
HEAD = b"POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n"


def answer(k):
    """One answer off socket k: (status line, headers lower-cased, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = k.recv(65536)
        assert more, ("closed before an answer", data)
        data += more
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    hdrs = dict((l.split(":", 1)[0].lower(), l.split(":", 1)[1].strip()) for l in lines[1:])
    while len(rest) < int(hdrs["content-length"]):
        rest += k.recv(65536)
    return lines[0], hdrs, rest


def refused(st, hdrs, close=False):
    assert st.startswith("HTTP/1.1 429") and hdrs.get("retry-after") == "7", (st, hdrs)
    assert (hdrs.get("connection") == "close") == close, hdrs


bp = lambda: s2.metric("sluice_component_errors_total", component_id="web", reason="backpressure")
before = bp()
k = socket.create_connection(("127.0.0.1", port2), timeout=60)
k.sendall(HEAD % (b"", BIG))
st, hdrs, _ = answer(k)  # nothing of the body sent yet
refused(st, hdrs)
k.sendall(b"x" * BIG)  # not JSON: read as a request it would be answered 400
k.sendall(HEAD % (b"", 17) + b'{"message":"p99"}')
refused(*answer(k)[:2])
# A chunked body is drained to its last chunk the same way.
k.sendall(b"POST /t HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Transfer-Encoding: chunked\r\n\r\n")
refused(*answer(k)[:2])
k.sendall(b"5\r\nxxxxx\r\n0\r\n\r\n" + HEAD % (b"", 2) + b"{}")
refused(*answer(k)[:2])
k.close()
# Expect: 100-continue is answered 429 instead of 100, and the connection closes.
k = socket.create_connection(("127.0.0.1", port2), timeout=60)
k.sendall(HEAD % (b"Expect: 100-continue\r\n", BIG))
st, hdrs, _ = answer(k)
refused(st, hdrs, close=True)
assert k.recv(100) == b"", "still open after refusing a 100-continue"
k.close()
# Clients as they are: curl (Expect: 100-continue for a body this size) stops at the 429;
# python's http.client sends the whole body, reads the 429, and keeps its connection.
f = os.path.join(WORK, "bigbody")
with open(f, "wb") as fh:
    fh.write(b"[" + b",".join(b'{"message":"late%d"}' % i for i in range(100000)) + b"]")
r = subprocess.run(["curl", "-sS", "-i", "-H", "Content-Type: application/json", "--data-binary",
                    "@" + f, "http://127.0.0.1:%d/t" % port2], capture_output=True, timeout=60)
assert r.returncode == 0 and r.stdout.startswith(b"HTTP/1.1 429"), (r.returncode, r.stdout[:300], r.stderr)
import http.client  # noqa: E402
hc = http.client.HTTPConnection("127.0.0.1", port2, timeout=60)
for _ in range(2):
    hc.request("POST", "/t", open(f, "rb").read(), {"Content-Type": "application/json"})
    resp = hc.getresponse()
    resp.read()
    assert resp.status == 429 and not resp.will_close, (resp.status, resp.getheaders())
hc.close()
assert bp() == before + 8, (before, bp())
log("429 at the head: before the body, drained, keep-alive; 100-continue refused and closed")
s2.stop()
