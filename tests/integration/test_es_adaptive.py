"""elasticsearch sink with `concurrency: adaptive` (AIMD): the limit rises while the node
answers quickly; one answer far slower than the moving average halves it, and so does one
answer that throttles some of its items (429 inside a 200). Each halving is read on a
frozen pipeline: the emulator answers exactly one request and holds every later one, so
nothing else can move the limit while the test reads it. Every event is stored once."""
import os

from es_common import Lines
from harness import Emulator, Sluice, WORK, file_to_es_config, http_json, log, wait_until

R = int(os.environ.get("ES_N", "2000"))  # events per round of quick answers (50 requests)
M = 400
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
emu = Emulator("es_emulator.py")
base = "http://127.0.0.1:%d" % emu.port


def call(method, p, body=None):
    return http_json(base + p, body, method)


stats = lambda: call("GET", "/_emulator/stats")
control = lambda body: call("POST", "/_emulator/control", body)
cfg = file_to_es_config(logs, base, """\
    index: adaptive
    concurrency: adaptive
    timeout_ms: 120000
    batch: { max_events: 40, timeout_ms: 20 }
""")
s = Sluice(cfg).start()
limit = lambda: s.component("es")["concurrency_limit"]
lines = Lines(os.path.join(logs, "a.log"), "adaptive %06d", stats, lambda: s.component("es"))
write = lines.write
quiet_limit = lambda: lines.quiet(limit)


def rise(target):
    """Quick answers until the quiet limit is at least target (it started at 1). A rare
    slow answer on a loaded machine halves it on the way; another round then takes it up."""
    return lines.rounds(R, limit, lambda l: l >= target, 30,
                        "the limit never rose to %d on quick answers" % target)[-1]


try:
    peak = rise(3)

    # One answer 2 s late (the moving average is a few ms): halved. The later requests
    # are held, so the limit read is the one that answer left.
    L = peak
    control({"delay_ms": 2000, "answer": 1})
    write(M)
    wait_until(lambda: limit() <= L // 2, 60, "limit halved by one slow answer (from %d)" % L)
    slow_to = limit()
    # "answer": None too: were the held request not yet sent, it would otherwise be the
    # one answered request's successor and stall the emulator again, for good.
    control({"delay_ms": 0, "stall": False, "answer": None})

    # One answer with some items refused by 429: the sink takes it as push-back. (That
    # answer's success may first add one, so at most (L + 1) // 2.)
    L = rise(3)
    before = stats()
    control({"item_429": 0.5, "answer": 1})
    write(M)
    wait_until(lambda: stats()["stalled"] > before["stalled"], 60, "the next request held")
    wait_until(lambda: limit() <= (L + 1) // 2, 60, "limit halved by item 429s (from %d)" % L)
    st = stats()
    assert st["item_429"] > 0 and st["created"] > before["created"], st  # a partial success
    control({"item_429": 0, "stall": False, "answer": None})
    quiet_limit()
    st = stats()
    assert st["created"] == lines.written and st["conflicts"] == 0, st
finally:
    s.stop()
log("ok: adaptive concurrency rose to %d on quick answers, fell to %d after one slow answer"
    " and to at most %d after one throttled answer" % (peak, slow_to, (L + 1) // 2))
emu.stop()
