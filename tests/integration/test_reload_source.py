"""Reload changes a source's option while its files are written: the file source's
`include` grows from a.log to a.log and b.log (and its read budget changes). The old
instance stops reading, its acks settle and it saves its position; the new one resumes
from there. Every line of a.log arrives (duplicates only within what was in flight), b.log
is read from the reload on, and the unchanged sink is not restarted."""
import json
import os
import threading
import time

from harness import Sluice, WORK, free_port, log, wait_until
from reload_common import ndjson_messages, post_reload, reloads, sighup_reload, write

N = int(os.environ.get("IT_LINES", "40000"))
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
a_log, b_log = os.path.join(logs, "a.log"), os.path.join(logs, "b.log")
out = os.path.join(WORK, "out", "out.ndjson")
api = free_port()


def cfg(include, budget):
    return """
data_dir: %s/data
shutdown_timeout: 10s
api: { address: "127.0.0.1:%d" }
sources:
  files: { type: file, include: %s, read_budget_bytes: %d }
sinks:
  out: { type: file, inputs: [files], path: "%s", batch: { max_events: 200, timeout_ms: 20 } }
""" % (WORK, api, include, budget, out)


class Delivered:
    """Counts the sink's lines by their first letter as its file grows, reading only what is
    new (the writers ask often; re-reading millions of lines each time does not scale)."""

    def __init__(self, path):
        self.path, self.off, self.rest = path, 0, b""
        self.count = {}
        self.lock = threading.Lock()

    def of(self, prefix):
        with self.lock:
            try:
                with open(self.path, "rb") as f:
                    f.seek(self.off)
                    data = f.read()
            except FileNotFoundError:
                data = b""
            self.off += len(data)
            lines = (self.rest + data).split(b"\n")
            self.rest = lines.pop()
            for line in filter(bytes.strip, lines):
                m = json.loads(line)["message"]
                self.count[m[:1]] = self.count.get(m[:1], 0) + 1
            return self.count.get(prefix, 0)


delivered = Delivered(out)


class Writer(threading.Thread):
    """Appends "<prefix><i>" lines, 100 at a time with a pause of a millisecond between
    (a steady load), until stop(); never more than AHEAD lines past what the sink has
    written of them, so a slow (sanitized, loaded) sluice is not left millions behind."""
    AHEAD = 20000

    def __init__(self, path, prefix):
        super().__init__(daemon=True)
        self.path, self.prefix = path, prefix
        self.n = 0
        self.stopping = threading.Event()

    def run(self):
        with open(self.path, "a") as f:
            while not self.stopping.is_set():
                if self.n - delivered.of(self.prefix) < self.AHEAD:
                    f.write("".join("%s%d\n" % (self.prefix, self.n + i) for i in range(100)))
                    f.flush()
                    self.n += 100
                time.sleep(0.001)

    def stop(self):
        self.stopping.set()
        self.join(60)
        return self.n


open(a_log, "w").close()
s = Sluice(cfg('["%s"]' % a_log, 65536)).start()
wa = Writer(a_log, "a")
wa.start()

wait_until(lambda: delivered.of("a") >= N // 4, 120, "a quarter of N delivered")
write(s.config, cfg('["%s", "%s"]' % (a_log, b_log), 32768))
sighup_reload(s)
log("reload 1 at", wa.n, "lines written")
wb = Writer(b_log, "b")
wb.start()

wait_until(lambda: delivered.of("a") >= N // 2 and delivered.of("b") > 0, 120, "half of N delivered")
write(s.config, cfg('["%s/*.log"]' % logs, 65536))
code, body = post_reload(s)
assert code == 200 and body["changed"] == ["files"], (code, body)
log("reload 2 at", wa.n, "lines written")

wait_until(lambda: delivered.of("a") >= N, 120, "N delivered")
na, nb = wa.stop(), wb.stop()
want = set("a%d" % i for i in range(na)) | set("b%d" % i for i in range(nb))
wait_until(lambda: set(ndjson_messages(out)) >= want, 300, "every line delivered")
assert reloads(s, "ok") == 2
assert s.stop() == 0
got = ndjson_messages(out)
assert set(got) == want, "unexpected lines"
dups = len(got) - len(set(got))
# In flight at each restart: at most what one turn read (read_budget_bytes of short lines)
# plus the sink's buffer; both are far below this bound for these line sizes.
assert dups <= 2 * 65536 // 3, "too many duplicates: %d" % dups
text = s.log_text()
assert text.count("source stopped for the reload") == 2, text[-3000:]
assert "stopped for a restart" not in text, "the unchanged sink was restarted"
log("ok: %d lines, %d duplicates, source restarted twice" % (len(want), dups))

# ---- A changed network source: the listener moves to the new instance ----------------------
# The forward source's max_connections changes. Its open connection ends (after its acked
# chunk), the port is bound again by the new instance and a new connection is served.
from fwdclient import Client, packed_entries  # noqa: E402

out2 = os.path.join(WORK, "out2", "out.ndjson")
api2, port = free_port(), free_port()


def cfg2(maxconn):
    return """
data_dir: %s/data2
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d", max_connections: %d }
sinks:
  out: { type: file, inputs: [fwd], path: "%s" }
""" % (WORK, api2, port, maxconn, out2)


s2 = Sluice(cfg2(10), name="fwd").start()
c1 = Client(port)
c1.send(["t", packed_entries([{"message": "f%d" % i} for i in range(100)]), {"chunk": "x1"}])
c1.wait_ack("x1")
write(s2.config, cfg2(20))
code, body = post_reload(s2)
assert code == 200 and body["changed"] == ["fwd"], (code, body)
assert c1.sock.recv(1) == b"", "the old instance's connection is still open"
c1.close()
wait_until(s2.ready, 60, "the new instance ready (listening)")
c2 = Client(port)
c2.send(["t", packed_entries([{"message": "f%d" % i} for i in range(100, 200)]), {"chunk": "x2"}])
c2.wait_ack("x2")
assert sorted(ndjson_messages(out2)) == sorted("f%d" % i for i in range(200))
assert "stopped for a restart" not in s2.log_text()
c2.close()
assert s2.stop() == 0
log("ok: forward source restarted on its port")
