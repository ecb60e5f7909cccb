"""Reload adds a sink, then removes another: a forward client keeps one connection; events
acknowledged before the add reach only the first sink, those between the two reloads reach
both, those after the removal only the new one. The source is never restarted, the removed
sink leaves /metrics and the status, and a removed disk-buffered sink's records stay on
disk and are delivered when it comes back."""
import os

from fwdclient import Client, packed_entries
from harness import Sluice, WORK, free_port, log, wait_until
from reload_common import ndjson_messages, post_reload, sighup_reload, write

out1 = os.path.join(WORK, "out", "one.ndjson")
out2 = os.path.join(WORK, "out", "two.ndjson")
blocker = os.path.join(WORK, "blocked")  # a regular file where out3's directory should be
out3 = os.path.join(blocker, "three.ndjson")
api, port = free_port(), free_port()
HEAD = """
data_dir: %s/data
shutdown_timeout: 5s
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d" }
sinks:
""" % (WORK, api, port)
ONE = '  one: { type: file, inputs: [fwd], path: "%s" }\n' % out1
TWO = '  two: { type: file, inputs: [fwd], path: "%s" }\n' % out2
THREE = ('  three: { type: file, inputs: [fwd], path: "%s", buffer: { type: disk },\n'
         '          retry: { initial_ms: 20, max_ms: 100 }, circuit_breaker: { failures: 0 } }\n' % out3)


class Stream:
    """One connection for the whole test; numbering continues across phases."""

    def __init__(self):
        self.client = Client(port, timeout=120)
        self.next = 0

    def send(self, n):
        c = self.client
        names = []
        for k in range(0, n, 50):
            batch = ["e%d" % (self.next + k + i) for i in range(min(50, n - k))]
            cid = "p%d" % (self.next + k)
            c.send(["t", packed_entries([{"message": m} for m in batch]), {"chunk": cid}])
            c.wait_ack(cid)
            names += batch
        self.next += n
        return set(names)


s = Sluice(HEAD + ONE).start()
st = Stream()
a = st.send(1000)

write(s.config, HEAD + ONE + TWO)
code, body = post_reload(s)
assert code == 200 and body == {"reloaded": True, "changed": [], "added": ["two"], "removed": []}, body
b = st.send(1000)

write(s.config, HEAD + TWO)
sighup_reload(s)
c = st.send(1000)
wait_until(lambda: set(ndjson_messages(out2)) >= b | c, 60, "two has everything since it was added")
assert set(ndjson_messages(out1)) == a | b, "one: not exactly what came before its removal"
assert set(ndjson_messages(out2)) == b | c, "two: not exactly what came after it was added"
assert [x["id"] for x in s.status()["components"]] == ["fwd", "two"]
m = s.get("/metrics")[1]
assert 'component_id="one"' not in m and 'component_id="two"' in m

# A disk-buffered sink that cannot deliver is removed: its records stay on disk and are
# delivered once it is back (and can deliver).
open(blocker, "w").close()
write(s.config, HEAD + TWO + THREE)
assert post_reload(s)[0] == 200
d = st.send(500)
wait_until(lambda: s.counter("sluice_sink_retries_total", component_id="three") >= 2, 60, "three retrying")
write(s.config, HEAD + TWO)
assert post_reload(s) == (200, {"reloaded": True, "changed": [], "added": [], "removed": ["three"]})
e = st.send(500)
assert os.listdir(os.path.join(WORK, "data", "buffers", "three")), "three's disk buffer is gone"
assert ("three: removed by a reload: its disk buffer keeps %d undelivered event(s)" % len(d)
        in s.log_text()), s.log_text()[-2000:]
os.unlink(blocker)
write(s.config, HEAD + TWO + THREE)
assert post_reload(s)[0] == 200
wait_until(lambda: set(ndjson_messages(out3)) >= d, 60, "three's buffered events after it came back")
assert set(ndjson_messages(out3)) == d, "three: only what it had buffered"
wait_until(lambda: set(ndjson_messages(out2)) >= b | c | d | e, 60, "two has everything")

text = s.log_text()
assert "source stopped for the reload" not in text, "the source was restarted"
assert s.stop() == 0
log("ok: add, remove, disk buffer kept across removal")
