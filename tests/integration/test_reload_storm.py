"""Many reloads in a row (1) while files are written, (2) under a forward client's stream: each changes one thing of a file source ->
add_fields -> file sink pipeline (the sink's batch size, the transform's value, the source's
read budget, an extra sink added or removed), by SIGHUP or POST, without waiting for the
pipeline between them. Every line of the file reaches the main sink; duplicates stay within
what was in flight at the source's restarts; the process stops cleanly (under ASan: no
leak, no use after free). Phase 2 adds changes of concurrency, an extra sink added and
removed with either buffer kind, and an id moving between transforms and sinks."""
import os
import random
import threading
import time

from harness import Sluice, WORK, free_port, log, wait_until
from reload_common import ndjson_messages, post_reload, reloads, sighup_reload, write

ROUNDS = int(os.environ.get("IT_ROUNDS", "24"))
rnd = random.Random(int(os.environ.get("IT_SEED", "5")))
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
app = os.path.join(logs, "app.log")
out = os.path.join(WORK, "out", "out.ndjson")
extra = os.path.join(WORK, "out", "extra.ndjson")
api = free_port()


def cfg(batch, value, budget, with_extra):
    text = """
data_dir: %s/data
shutdown_timeout: 10s
api: { address: "127.0.0.1:%d" }
sources:
  files: { type: file, include: ["%s/*.log"], read_budget_bytes: %d }
transforms:
  tag: { type: add_fields, inputs: [files], fields: { v: "%s" } }
sinks:
  out: { type: file, inputs: [tag], path: "%s", batch: { max_events: %d, timeout_ms: 20 } }
""" % (WORK, api, logs, budget, value, out, batch)
    if with_extra:
        text += '  extra: { type: file, inputs: [files], path: "%s" }\n' % extra
    return text


class Writer(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.n = 0
        self.stopping = threading.Event()

    def run(self):
        with open(app, "a") as f:
            while not self.stopping.is_set():
                f.write("".join("l%d\n" % (self.n + i) for i in range(50)))
                f.flush()
                self.n += 50
                time.sleep(0.001)  # a steady load, not a wait


state = {"batch": 100, "value": "a", "budget": 65536, "extra": False}
s = Sluice(cfg(100, "a", 65536, False)).start()
w = Writer()
w.start()
source_restarts = 0
for r in range(ROUNDS):
    what = rnd.choice(["batch", "value", "budget", "extra"])
    if what == "batch":
        state["batch"] = rnd.choice([10, 50, 100, 500])
    elif what == "value":
        state["value"] = "v%d" % r
    elif what == "budget":
        state["budget"] = rnd.choice([4096, 65536, 262144])
    else:
        state["extra"] = not state["extra"]
    write(s.config, cfg(state["batch"], state["value"], state["budget"], state["extra"]))
    if r % 2:
        sighup_reload(s)
    else:
        code, body = post_reload(s)
        assert code == 200, (code, body)
        source_restarts += "files" in body["changed"]
wait_until(lambda: len(ndjson_messages(out)) > 0, 60, "some output")
n = w.stopping.set() or (w.join(60), w.n)[1]
want = set("l%d" % i for i in range(n))
wait_until(lambda: set(ndjson_messages(out)) >= want, 300, "every line in out")
assert reloads(s, "ok") == ROUNDS and reloads(s, "failed") == 0
assert s.stop() == 0
got = ndjson_messages(out)
assert set(got) == want
dups = len(got) - len(set(got))
assert dups <= (ROUNDS + 1) * 262144 // 4, "too many duplicates: %d" % dups
log("ok: %d reloads, %d lines, %d duplicates" % (ROUNDS, n, dups))

# ---- 2. The same under a forward client's counted stream, with more kinds of change ---------
# The main sink's batch size and concurrency, the transform's value, an extra sink added and
# removed (memory or disk buffer), and an id that moves between transforms and sinks. The
# client keeps one connection; every event reaches the main sink once (sink restarts here
# cut no request short: the file sink is never down).
from reload_common import Sender  # noqa: E402

N2 = int(os.environ.get("IT_EVENTS", "40000"))
out2 = os.path.join(WORK, "out2", "out.ndjson")
ex2 = os.path.join(WORK, "out2", "extra.ndjson")
api2, port2 = free_port(), free_port()


def cfg2(batch, conc, extra, value, swapped):
    t = """
data_dir: %s/data2
shutdown_timeout: 5s
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d" }
transforms:
  tag: { type: add_fields, inputs: [fwd], fields: { v: "%s" } }
""" % (WORK, api2, port2, value)
    if swapped:
        t += "  sw: { type: add_fields, inputs: [fwd], fields: { a: b } }\n"
    t += """sinks:
  out: { type: file, inputs: [tag], path: "%s", concurrency: %d, batch: { max_events: %d, timeout_ms: 10 } }
""" % (out2, conc, batch)
    if extra:
        t += '  extra: { type: file, inputs: [fwd], path: "%s", buffer: { type: %s } }\n' % (ex2, extra)
    t += "  bh: { type: blackhole, inputs: [sw] }\n" if swapped else "  sw: { type: blackhole, inputs: [fwd] }\n"
    return t


st = dict(batch=100, conc=1, extra=None, value="a", swapped=False)
s2 = Sluice(cfg2(**st), name="fwd").start()
snd = Sender(port2, N2, chunk=100, window=8)
snd.start()
for r in range(ROUNDS):
    what = rnd.choice(["batch", "conc", "extra", "value", "swapped"])
    if what == "batch":
        st["batch"] = rnd.choice([5, 50, 300])
    elif what == "conc":
        st["conc"] = rnd.choice([1, 2, 4])
    elif what == "extra":  # a buffer cannot change live: remove, then add with any kind
        st["extra"] = None if st["extra"] else rnd.choice(["memory", "disk"])
    elif what == "value":
        st["value"] = "v%d" % r
    else:
        st["swapped"] = not st["swapped"]
    write(s2.config, cfg2(**st))
    if r % 2:
        sighup_reload(s2)
    else:
        code, body = post_reload(s2)
        assert code == 200, (code, body)
    assert not snd.error, "the client's connection failed: %r" % (snd.error,)
snd.join(600)
assert not snd.error and snd.acked == N2, (snd.error, snd.acked)
wait_until(lambda: len(set(ndjson_messages(out2))) >= N2, 120, "every event in out")
assert reloads(s2, "ok") == ROUNDS and reloads(s2, "failed") == 0
assert "source stopped for the reload" not in s2.log_text()
assert s2.stop() == 0
got = ndjson_messages(out2)
assert sorted(set(got)) == sorted("e%d" % i for i in range(N2))
# a restart repeats at most the requests it cut short: concurrency x max_events
assert len(got) - len(set(got)) <= ROUNDS * 4 * 300, "too many duplicates"
log("ok: %d reloads under a forward stream, %d events, %d duplicates" % (ROUNDS, N2, len(got) - len(set(got))))
