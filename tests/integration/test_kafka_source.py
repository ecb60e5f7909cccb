"""kafka source: kcat produces into the mock cluster (4 partitions), sluice consumes into a file
sink. Checked: every message arrives with the stable id topic/partition/offset, or the
sluice-id header's when the message carries one; sluice's own JSON comes back as the event it
was. Then, while kcat keeps producing, sluice is killed with SIGKILL KILLS times and
restarted: after each kill the group's committed offsets (read from the cluster as any
client would) are never ahead of what the file holds, and at the end every message is in the
file, the duplicates being exactly offsets at or past the committed offset of some kill.
/metrics: sluice_kafka_consumer_lag and sluice_kafka_committed_offset have one series per
partition, the lag reaching 0 and the committed offsets the partitions' ends after each
drain."""
import collections
import json
import os
import random
import threading
import time

from harness import Sluice, WORK, log, wait_until
from kafka_mock import KafkaMock, consumer_config, file_lines, kcat

KILLS = int(os.environ.get("IT_KILLS", "2"))
rnd = random.Random(int(os.environ.get("IT_SEED", "5")))
P = 4
kafka = KafkaMock(3)
kafka.cmd("topic in-a %d" % P)
out = os.path.join(WORK, "out")
os.makedirs(out)
outfile = os.path.join(out, "out.ndjson")


def produce(lo, hi, header=False):
    data = "".join("k%d:%s\n" % (i % 16, json.dumps({"n": i, "text": "line %d" % i})) for i in range(lo, hi))
    args = ["-P", "-t", "in-a", "-K:"]
    if header:
        args += ["-H", "sluice-id=upstream-%d" % lo]
    kcat(kafka.bootstrap, *args, input=data)


s = Sluice(consumer_config(kafka.bootstrap, "aggregators", ["^in-.*"], outfile, 200,
                           librdkafka='topic.metadata.refresh.interval.ms: "1000"',
                           file_opts="    id_key: _id\n")).start()


def partition_gauges(name):
    """{partition: value} of the source's series of a per-partition gauge."""
    res = {}
    for l in s.get("/metrics")[1].splitlines():
        if l.startswith(name + "{") and 'component_id="in"' in l and 'topic="in-a"' in l:
            part = int(l.split('partition="')[1].split('"')[0])
            res[part] = float(l.rsplit(" ", 1)[1])
    return res


def drained_metrics(total):
    """Quiet and drained: lag 0 on every partition, the committed offsets summing to total."""
    wait_until(lambda: partition_gauges("sluice_kafka_consumer_lag") == {p: 0.0 for p in range(P)}, 60,
               "sluice_kafka_consumer_lag 0 on every partition")
    wait_until(lambda: sorted(partition_gauges("sluice_kafka_committed_offset")) == list(range(P))
               and sum(partition_gauges("sluice_kafka_committed_offset").values()) == total, 60,
               "sluice_kafka_committed_offset at the partitions' ends")
    com = partition_gauges("sluice_kafka_committed_offset")
    assert [int(com[p]) for p in range(P)] == kafka.committed("aggregators", "in-a", P), (
        com, kafka.committed("aggregators", "in-a", P))


def lines():
    return file_lines(outfile)


# 1. ids and decoding
produce(0, 1000)
produce(1000, 1001, header=True)
wait_until(lambda: len(lines()) == 1001, 120, "the first messages")
got = lines()
for e in got:
    n = json.loads(e["message"])["n"]
    if n == 1000:
        assert e["_id"] == "upstream-1000", e
    else:
        assert e["_id"] == "in-a/%d/%d" % (e["kafka.partition"], e["kafka.offset"]), e
    assert e["kafka.topic"] == "in-a"
assert sorted(json.loads(e["message"])["n"] for e in got) == list(range(1001))
wait_until(lambda: sum(kafka.committed("aggregators", "in-a", P)) == 1001, 60, "offsets committed")
# quiet (nothing produced): every partition's lag comes to 0 and stays there
wait_until(lambda: [p["lag"] for p in s.component("in")["partitions"]] == [0] * P, 60,
           "lag 0 on every partition")
drained_metrics(1001)

# 2. kill -9 while kcat produces
state = {"n": 1001, "run": True}


def producer():
    while state["run"]:
        produce(state["n"], state["n"] + 200)
        state["n"] += 200
        time.sleep(0.05)


t = threading.Thread(target=producer)
t.start()
windows = []  # per kill: the committed offsets, and what the file held then
for k in range(KILLS):
    # the restarted member owns every partition once the killed one's session expired
    wait_until(lambda: len(s.component("in")["partitions"]) == P, 60, "partitions assigned")
    time.sleep(rnd.uniform(0.5, 2.0))
    s.kill9()
    committed = kafka.committed("aggregators", "in-a", P)
    held = collections.defaultdict(set)
    for e in lines():
        held[e["kafka.partition"]].add(e["kafka.offset"])
    for p in range(P):
        ahead = [o for o in range(max(committed[p], 0)) if o not in held[p]]
        assert not ahead, "kill %d: partition %d committed %d but offsets %s not delivered" % (
            k + 1, p, committed[p], ahead[:5])
    windows.append((committed, held))
    log("kill %d: committed %s, delivered %d" % (k + 1, committed, sum(len(h) for h in held.values())))
    s.start()
state["run"] = False
t.join()
# messages on every partition after the last restart, so each gets a commit of its own
produce(state["n"], state["n"] + 200)
state["n"] += 200
total = state["n"]
wait_until(lambda: len({e["_id"] for e in lines()}) == total, 180, "every message after the kills")
wait_until(lambda: sum(kafka.committed("aggregators", "in-a", P)) == total - 0, 60, "all committed")
drained_metrics(total)
assert s.stop() == 0, s.log_text()[-2000:]

got = lines()
ns = collections.Counter(json.loads(e["message"])["n"] for e in got)
assert set(ns) == set(range(total)), "lost: %s" % sorted(set(range(total)) - set(ns))[:10]
pos = collections.Counter((e["kafka.partition"], e["kafka.offset"]) for e in got)
dups = {k: c for k, c in pos.items() if c > 1}
window = 0
for committed, held in windows:
    window += sum(1 for p in range(P) for o in held[p] if o >= max(committed[p], 0))
for (p, o), c in dups.items():
    assert any(o >= max(cm[p], 0) for cm, _ in windows), ("duplicate below every committed offset", p, o)
ndup = sum(c - 1 for c in dups.values())
log("messages %d, duplicates %d, unacked windows at the kills %d" % (total, ndup, window))
assert ndup <= window, (ndup, window)
kafka.stop()
print("ok")
