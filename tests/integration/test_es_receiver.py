"""The benchmarks' Elasticsearch peer (bench/es_receiver.c, built beside sluice): a benchmark
ends when it has counted every document, so its count must be exact and its refusals those
of es_emulator.py --count-only. Checked by hand requests (a node's answer, _bulk counted as
lines / 2, a gzip body by its first member, keep-alive; 400 to a body without its final
newline, to bad gzip and to a chunked body; 404 elsewhere), then with sluice itself: a file
of N lines through the elasticsearch sink, with and without gzip, counted N."""
import gzip
import http.client
import json
import os
import shutil
import socket
import subprocess

from harness import (SLUICE, WORK, Sluice, append_lines, file_to_es_config, log, track,
                     wait_until)

RECEIVER = os.path.join(os.path.dirname(os.path.abspath(SLUICE)), "es_receiver")
err = open(os.path.join(WORK, "es_receiver.err"), "wb")
proc = track(subprocess.Popen([RECEIVER, "0"], stdout=subprocess.PIPE, stderr=err, text=True))
first = proc.stdout.readline()
assert first.startswith("es_receiver listening"), first
port = int(first.split()[-1])


def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    return r.status, r.read()


def stats():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    st, body = request(c, "GET", "/_emulator/stats")
    c.close()
    assert st == 200, st
    return json.loads(body)


def bulk(n, start=0):
    return "".join('{"create":{"_index":"t","_id":"%d"}}\n{"message":"m %d \\u00e9"}\n' % (i, i)
                   for i in range(start, start + n)).encode()


c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
st, body = request(c, "GET", "/")
node = json.loads(body)
assert st == 200 and node["version"]["number"].startswith("8."), (st, node)

# Counted as lines / 2, answered item by item; the same connection throughout.
st, body = request(c, "POST", "/_bulk?filter_path=errors,items.*.status", bulk(3),
                   {"Content-Type": "application/x-ndjson"})
ans = json.loads(body)
assert st == 200 and ans["errors"] is False and len(ans["items"]) == 3, (st, ans)
st, body = request(c, "PUT", "/logs/_bulk", gzip.compress(bulk(5, 3)),
                   {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"})
assert st == 200 and len(json.loads(body)["items"]) == 5, (st, body)
# Of two gzip members, the first alone is read, as Elasticsearch reads it.
st, body = request(c, "POST", "/_bulk", gzip.compress(bulk(2, 8)) + gzip.compress(bulk(4, 10)),
                   {"Content-Encoding": "gzip"})
assert st == 200 and len(json.loads(body)["items"]) == 2, (st, body)
assert stats()["count_only_docs"] == 10, stats()

# Refusals: no final newline, bad gzip, an unknown path; none counts.
st, _ = request(c, "POST", "/_bulk", bulk(2)[:-1])
assert st == 400, st
c.close()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
st, _ = request(c, "POST", "/_bulk", b"\x1f\x8b\x08\x00 not gzip at all",
                {"Content-Encoding": "gzip"})
assert st == 400, st
c.close()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
st, _ = request(c, "GET", "/_cat/indices")
assert st == 404, st
c.close()
# A chunked body (sluice sends Content-Length): refused.
with socket.create_connection(("127.0.0.1", port), timeout=30) as sk:
    sk.sendall(b"POST /_bulk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n0\r\n\r\n")
    head = sk.recv(4096).decode("latin-1")
    assert head.startswith("HTTP/1.1 400"), head
after = stats()  # bad_requests counts the refused _bulk bodies, as the emulator's does
assert after["count_only_docs"] == 10 and after["bad_requests"] == 2, after
log("by hand: 10 documents counted; two bodies, a chunked request and a path refused")

# sluice's own requests, as the benchmarks send them; each run from a fresh data_dir.
N = 20000
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
append_lines(os.path.join(logs, "app.log"),
             ('{"level":"info","msg":"event %05d \\"q\\" \u00e9 \u4e2d\u6587 %s"}'
              % (i, "z" * (i % 90)) for i in range(N)))
for comp in ("none", "gzip"):
    shutil.rmtree(os.path.join(WORK, "data"), ignore_errors=True)
    n0 = stats()["count_only_docs"]
    s = Sluice(file_to_es_config(logs, "http://127.0.0.1:%d" % port,
                                 "    compression: %s\n"
                                 "    batch: { max_events: 1000, timeout_ms: 50 }\n" % comp),
               name="sluice-" + comp).start()
    wait_until(lambda: stats()["count_only_docs"] - n0 >= N, 90, comp + " delivery")
    wait_until(lambda: s.metric("sluice_component_sent_events_total", component_id="es") >= N, 30,
               comp + " acknowledged")
    assert s.stop() == 0
    got = stats()["count_only_docs"] - n0
    assert got == N, (comp, got)
    log("%s: %d documents from sluice, each counted once" % (comp, N))

proc.terminate()
assert proc.wait(timeout=10) in (0, -15), proc.returncode
