"""http source: answers a client reads as an HTTP client does.

1. A body over max_body_bytes is answered 413 before it is read, and the connection closes.
   A client that sends the whole body before it reads (Fluent Bit's out_http, python's
   http.client without Expect) must still read the 413: closing with the body unread made
   the kernel reset the connection, and the client saw "connection reset" instead (curl:
   "send failure", 1 in 3). Five such clients, each sending 4 MB, each reads a 413.
2. A request whose lines end in a bare LF (printf | nc) is answered; it waited out
   request_timeout and was closed without an answer.
3. Two Content-Length headers that disagree are a 400, not a guess at the body."""
import json
import os
import socket

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

api, port = free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  web: { type: http, address: "127.0.0.1:%d", max_body_bytes: 64KiB, request_timeout: 60s }
sinks:
  out: { type: file, inputs: [web], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, port, out)).start()


def answer(sock):
    """Everything the server sends until it closes (a reset is an error)."""
    got = b""
    while True:
        d = sock.recv(65536)
        if not d:
            return got
        got += d


# 1. the 413 reaches a client that sends its whole body first
body = b"x" * (4 << 20)
for i in range(5):
    c = socket.create_connection(("127.0.0.1", port), timeout=60)
    c.sendall(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body))
    try:
        c.sendall(body)  # the server reads and drops it while it lingers
    except (BrokenPipeError, ConnectionResetError) as e:
        raise AssertionError("client %d: the body's send failed: %r" % (i, e))
    got = answer(c)
    c.close()
    log("client", i, "->", got.split(b"\r\n", 1)[0])
    assert got.startswith(b"HTTP/1.1 413 "), got[:200]

# 2. bare LF line ends
msg = json.dumps({"message": "bare-lf"}).encode()
c = socket.create_connection(("127.0.0.1", port), timeout=60)
c.sendall(b"POST /lf HTTP/1.1\nHost: x\nContent-Type: application/json\n"
          b"Content-Length: %d\nConnection: close\n\n%s" % (len(msg), msg))
got = answer(c)
c.close()
log("bare LF ->", got.split(b"\r\n", 1)[0])
assert got.startswith(b"HTTP/1.1 200 "), got[:200]
wait_until(lambda: any(e.get("message") == "bare-lf" for e in ndjson_file(out)), 30,
           "the bare-LF request's event delivered")

# 3. Content-Length twice, disagreeing
c = socket.create_connection(("127.0.0.1", port), timeout=60)
c.sendall(b"POST /two HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
          b"Content-Length: 30\r\n\r\nabc")
got = answer(c)
c.close()
log("two lengths ->", got.split(b"\r\n", 1)[0])
assert got.startswith(b"HTTP/1.1 400 "), got[:200]
assert b"Content-Length given twice" in got, got

# nothing else was delivered: the refused bodies are not events
msgs = [e.get("message") for e in ndjson_file(out)]
assert msgs == ["bare-lf"], msgs
s.stop()
log("ok")
