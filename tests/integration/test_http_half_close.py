"""http source: a client that writes its requests and then shuts its side of the connection
(shutdown(SHUT_WR), `nc -N`, a one-shot script) still gets every answer. Three pipelined
requests then EOF: three 200s, in order, and each request's event is delivered once. The
connection used to be closed at the EOF while the first request waited for its ack: the
event was accepted but its 200 never sent (the client sends it again: a duplicate), and the
two requests behind it were dropped unanswered."""
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
  web: { type: http, address: "127.0.0.1:%d" }
sinks:
  out: { type: file, inputs: [web], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, port, out)).start()


def request(msg, last=False):
    body = json.dumps({"message": msg}).encode()
    return (b"POST /half HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n%s\r\n%s"
            % (len(body), b"Connection: close\r\n" if last else b"", body))


c = socket.create_connection(("127.0.0.1", port), timeout=60)
c.sendall(request("h1") + request("h2") + request("h3", last=True))
c.shutdown(socket.SHUT_WR)
got = b""
while True:
    d = c.recv(65536)
    if not d:
        break
    got += d
c.close()
log("answers:", got)
assert got.count(b"HTTP/1.1 200 OK") == 3 and got.count(b'{"accepted":1}') == 3, got

wait_until(lambda: len(ndjson_file(out)) >= 3, 60, "three events")
assert sorted(e["message"] for e in ndjson_file(out)) == ["h1", "h2", "h3"], ndjson_file(out)
assert s.stop() == 0
log("ok: a half-closed connection got its three answers")
