"""http source, chunked request bodies (Transfer-Encoding: chunked): curl uploads (NDJSON,
JSON, gzip), chunk extensions and trailers, keep-alive after a chunked request, 413 as soon
as a chunk would pass max_body_bytes (before its bytes are sent), and bad framing from a raw
socket answered 400 with the connection closed while another client keeps being served.
Every accepted event is counted in the output."""
import gzip
import http.client
import json
import os
import socket
import subprocess

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

api, port = free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  web: { type: http, address: "127.0.0.1:%d", max_body_bytes: 256KiB, request_timeout: 20s }
sinks:
  out: { type: file, inputs: [web], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, port, out)).start()


def outputs():
    return ndjson_file(out)  # complete lines: sluice may be writing the last


def curl_chunked(path, data, ctype, extra=()):
    f = os.path.join(WORK, "body")
    with open(f, "wb") as fh:
        fh.write(data)
    cmd = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-H", "Transfer-Encoding: chunked",
           "-H", "Content-Type: " + ctype, "--data-binary", "@" + f,
           "http://127.0.0.1:%d%s" % (port, path)] + list(extra)
    r = subprocess.run(cmd, capture_output=True, timeout=60)
    body, code = r.stdout.decode().rsplit("\n", 1)
    return int(code), body


expected = 0


def ok(n, *a, **kw):
    global expected
    code, body = curl_chunked(*a, **kw)
    assert code == 200, (code, body)
    assert json.loads(body) == {"accepted": n}, body
    expected += n


nd = b"".join(b'{"message":"nd%05d","pad":"%s"}\n' % (i, b"y" * 40) for i in range(2000))
ok(2000, "/app.nd", nd, "application/x-ndjson")
ok(3, "/app.arr", json.dumps([{"message": "arr%d" % i} for i in range(3)]).encode(), "application/json")
gz = gzip.compress(b"".join(b'{"message":"gz%d"}\n' % i for i in range(700)))
ok(700, "/app.gz", gz, "application/x-ndjson", extra=["-H", "Content-Encoding: gzip"])
log("curl chunked uploads ok")


def raw(data, read_all=True):
    """Sends raw bytes on a new connection; returns (status, response text, closed)."""
    c = socket.create_connection(("127.0.0.1", port), timeout=20)
    c.sendall(data)
    got = b""
    closed = False
    while True:
        try:
            d = c.recv(65536)
        except ConnectionResetError:
            closed = True
            break
        if not d:
            closed = True
            break
        got += d
        if not read_all and b"\r\n\r\n" in got:
            break
    c.close()
    text = got.decode(errors="replace")
    return int(text.split(" ", 2)[1]) if text else 0, text, closed


head = b"POST /raw HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"

# Extensions, upper-case hex, trailers, and a second (Content-Length) request pipelined
# behind the chunked one on the same connection.
body = b'{"message":"ext0"}\n{"message":"ext1"}\n'
req = head + b"%X;name=value\r\n" % 5 + body[:5] + b"\r\n" + b"%x ; x\r\n" % (len(body) - 5) + body[5:] + \
    b"\r\n0\r\nX-Trailer: yes\r\n\r\n"
second = b'{"message":"after chunked"}'
req += b"POST /raw2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(second) + second
code, text, closed = raw(req)
assert text.count("HTTP/1.1 200") == 2 and '{"accepted":2}' in text and '{"accepted":1}' in text, text
expected += 3

# A good keep-alive client that keeps sending while the bad ones are refused.
good = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
good_n = 0


def good_post():
    global good_n, expected
    good.request("POST", "/good", b'{"message":"good%d"}' % good_n, {"Content-Type": "application/json"})
    r = good.getresponse()
    assert r.status == 200 and json.loads(r.read()) == {"accepted": 1}
    good_n += 1
    expected += 1


good_post()
errors0 = s.metric("sluice_component_errors_total", component_id="web", reason="bad_chunked") or 0
bad_framings = [
    b"zz\r\n{}\r\n0\r\n\r\n",                  # size not hex
    b"\r\n",                                   # empty size
    b"5\n{\"a\":\r\n0\r\n\r\n",                # bare LF after the size
    b"2\r\n{}XX0\r\n\r\n",                     # no CRLF after the data
    b"3\r\n{}\r\n\r\n0\r\n\r\n",               # data longer than its size claims... CR in data
    b"1" * 17 + b"\r\n",                       # more than 16 hex digits
    b"-1\r\n",                                 # negative
    b"2\r\n{}\r\n0\r\nbad trailer\n\r\n",      # bare LF in the trailers
    b"2;" + b"e" * 5000 + b"\r\n{}\r\n0\r\n\r\n",  # a 5 KB extension line
]
for i, framing in enumerate(bad_framings):
    code, text, closed = raw(head + framing)
    assert code == 400 and closed, (i, code, text)
    assert "chunked" in text, text
    good_post()
wait_until(lambda: (s.metric("sluice_component_errors_total", component_id="web", reason="bad_chunked") or 0)
           - errors0 >= len(bad_framings), 20, "bad framings counted")
log("bad framing: 400 and closed, the good client kept going")

# 413 as soon as the bound is passed: a chunk claiming more than max_body_bytes is refused
# before any of its bytes are sent; so is the chunk that takes many small ones past it.
code, text, closed = raw(head + b"100000\r\n", read_all=False)
assert code == 413, text
c = socket.create_connection(("127.0.0.1", port), timeout=20)
c.sendall(head + b"".join(b"3e8\r\n" + b"x" * 1000 + b"\r\n" for _ in range(263)))  # 263,000 > 256 KiB
resp = b""
while b"\r\n\r\n" not in resp:  # the body never ended (no last chunk): the answer comes anyway
    more = c.recv(4096)
    if not more:
        break
    resp += more
assert resp.startswith(b"HTTP/1.1 413"), resp
c.close()
good_post()

# Both Content-Length and Transfer-Encoding: refused; another transfer coding: 501.
code, text, closed = raw(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
assert code == 400 and closed, text
code, text, closed = raw(b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n")
assert code == 501 and closed, text
good_post()
good.close()

wait_until(lambda: len(outputs()) == expected, 30, "every accepted event in the output")
msgs = [e["message"] for e in outputs()]
assert len(msgs) == expected and "after chunked" in msgs and "ext1" in msgs
assert sum(1 for m in msgs if m.startswith("good")) == good_n
assert [e for e in outputs() if e["message"] == "nd01999"][0]["tag"] == "app.nd"
log("accepted", expected)
assert s.stop() == 0
