"""kafka sink, kill -9: a writer appends lines while sluice (file -> kafka) is SIGKILLed at
random moments and restarted, KILLS times. At the end (every line written, every event
acknowledged) kcat reads the topic: every line is there (by its sluice-id, which is the file
position, so a re-read event has the same id) and the duplicates per kill are within the
file pipeline's bound of docs/ARCHITECTURE.md ("What kill -9 costs"): buffer + request +
two source batches + the committed batches not yet written."""
import collections
import json
import os
import random
import threading
import time

from harness import Sluice, WORK, free_port, log, wait_until
from kafka_mock import KafkaMock, consume

KILLS = int(os.environ.get("IT_KILLS", "4"))
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
state = {"n": 0, "run": True}


def writer():
    with open(path, "a") as f:
        while state["run"]:
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
for k in range(KILLS):
    time.sleep(rnd.uniform(0.3, 1.2))
    s.kill9()
    log("kill %d at line %d" % (k + 1, state["n"]))
    s.start()
time.sleep(0.5)
state["run"] = False
t.join()
total = state["n"]


def seqs():
    return [int(m["payload"].split()[0][4:]) for m in consume(kafka.bootstrap, "k")]


wait_until(lambda: s.component("in")["pending_acks"] == 0 and len(set(seqs())) == total, 180,
           "every line in kafka")
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
