"""kafka sink, kill -9: a writer appends LINES lines while sluice (file -> kafka) is SIGKILLed
and restarted KILLS times, each kill once the writer reaches a seeded line count. At the end
(every line written, every event acknowledged) kcat reads the topic: every line is there (by
its sluice-id, which is the file position, so a re-read event has the same id) and the
duplicates per kill are within the file pipeline's bound of docs/ARCHITECTURE.md ("What
kill -9 costs"): buffer + request + two source batches + the committed batches not yet
written.

The mock cluster keeps about 5 MB per partition and drops its oldest messages beyond that
(the log start moves), and every line goes to one partition (one file, one key): LINES and
the duplicate bound keep the topic under it (about 23,000 messages of 170 bytes at most),
and a moved log start fails the test as the mock's retention, not as a loss."""
import collections
import os
import random
import threading
import time

from harness import Sluice, WORK, free_port, log, wait_until
from kafka_mock import KafkaMock, consume

KILLS = int(os.environ.get("IT_KILLS", "4"))
LINES = int(os.environ.get("IT_LINES", "12000"))
rnd = random.Random(int(os.environ.get("IT_SEED", "7")))
LINE = 100
SRC_BATCH = 100
SINK_BATCH = 200
BUF_BYTES = 64 * 1024
CKPT_LIVE_BATCHES = 16  # SL_CKPT_LIVE_BATCHES in src/core/checkpoint.h
BOUND = BUF_BYTES // LINE + (SINK_BATCH + SRC_BATCH) + 2 * SRC_BATCH + CKPT_LIVE_BATCHES * SRC_BATCH

kafka = KafkaMock(3)
kafka.cmd("topic k 4")
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
path = os.path.join(logs, "app.log")
state = {"n": 0}


def writer():
    with open(path, "a") as f:
        while state["n"] < LINES:
            for _ in range(100):
                i = state["n"]
                line = "seq=%08d " % i
                f.write(line + "x" * (LINE - len(line)) + "\n")
                state["n"] += 1
            f.flush()
            time.sleep(0.01)


api = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"], batch_max_events: %d }
sinks:
  out:
    type: kafka
    inputs: [in]
    brokers: "%s"
    topic: k
    encoding: raw
    buffer: { max_bytes: %d }
    batch: { max_events: %d, timeout_ms: 20 }
""" % (WORK, api, logs, SRC_BATCH, kafka.bootstrap, BUF_BYTES, SINK_BATCH)).start()

t = threading.Thread(target=writer)
t.start()
for k, at in enumerate(sorted(rnd.sample(range(1000, LINES - 1000), KILLS))):
    wait_until(lambda: state["n"] >= at, 120, "line %d written" % at, 0.01)
    s.kill9()
    log("kill %d at line %d" % (k + 1, state["n"]))
    s.start()
t.join()
total = state["n"]
assert total == LINES, total


def seqs(msgs):
    return [int(m["payload"].split()[0][4:]) for m in msgs]


last = {}


def all_in_kafka():
    last["msgs"] = consume(kafka.bootstrap, "k")
    last["pending"] = s.component("in")["pending_acks"]
    return last["pending"] == 0 and len(set(seqs(last["msgs"]))) == total


try:
    wait_until(all_in_kafka, 180, "every line in kafka")
finally:
    msgs = last.get("msgs", [])
    start = min((m["offset"] for m in msgs), default=0)
    assert start == 0, "the mock dropped its oldest messages (log start %d): retention" % start
assert s.stop() == 0, s.log_text()[-2000:]
msgs = consume(kafka.bootstrap, "k")
got = collections.Counter(int(m["payload"].split()[0][4:]) for m in msgs)
ids = collections.Counter(m["headers"]["sluice-id"] for m in msgs)
missing = set(range(total)) - set(got)
dups = sum(c - 1 for c in got.values())
log("lines %d, messages %d, duplicates %d (bound %d per kill x %d)" % (total, len(msgs), dups, BOUND, KILLS))
assert not missing, "lost %d, e.g. %s" % (len(missing), sorted(missing)[:10])
assert len(ids) == total, "one id per line, the same on a re-read"
assert dups <= BOUND * KILLS, dups
kafka.stop()
print("ok")
