"""Two tiers end to end: two agents (file -> kafka sink) write into a topic of 4 partitions on
a 3-broker cluster; two aggregators (kafka source, one consumer group -> elasticsearch sink)
index it. While writers append counted lines (a unique id in each), the test
  1. kills one aggregator with SIGKILL and starts it again (its partitions go to the other
     member once its session expires, then come back to the new member),
  2. takes the broker leading partition 0 down (maybe the group's coordinator too) and up,
  3. adds a third aggregator (a rebalance) and removes it with SIGTERM (another).
A sampler reads the group's committed offsets from the cluster, then the emulator's
document count, all along; the emulator stores documents in order, so each sample says
which documents were in Elasticsearch when the offsets were read.

Checked at the end, in a quiet state (writers stopped, everything indexed and committed):
  - every line is in Elasticsearch exactly once: the doc count is the number of lines and
    every line id is there (the _id is the sluice-id header the agent set, so a re-read is
    an overwrite of the same document);
  - offsets were committed only behind acknowledgements: for every sample and partition,
    every message below the committed offset was already stored when it was read;
  - the committed offsets end at the partitions' ends;
  - duplicates are bounded by what was in flight: each overwrite is either a second copy in
    Kafka (an agent's retried produce, bounded by its retried batches) or a re-read after an
    ownership of its partition ended (revoked, lost, or its member killed) while it was in
    flight: at or past the committed offset sampled before that end, below the end offset
    sampled after it. Ownership changes come from the aggregators' logs, which name the
    partitions, and from the kill."""
import collections
import datetime
import json
import os
import re
import subprocess
import threading
import time
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, wait_until
from kafka_mock import KafkaMock, consume, kcat

P = 4
TOPIC = "logs"
GROUP = "aggregators"
BATCH = 200
AGENTS = 2
FILES = 2  # per agent
CHUNK = int(os.environ.get("IT_CHUNK", "5"))  # lines per file per writer turn
# at most this many lines: the mock cluster keeps about 5 MB per partition and drops older
# messages past it, which kcat must still read at the end
MAX_LINES = int(os.environ.get("IT_MAX_LINES", "100000"))

kafka = KafkaMock(3)
kafka.cmd("topic %s %d" % (TOPIC, P))
mock_lock = threading.Lock()  # the mock's stdin is one conversation: sampler and main thread
es = Emulator("es_emulator.py")
base = "http://127.0.0.1:%d" % es.port


def es_get(path):
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return json.loads(r.read().decode() or "null")


def es_docs():
    return es_get("/_emulator/stats")["docs"]


def mock(line):
    with mock_lock:
        return kafka.cmd(line)


def committed():
    with mock_lock:
        return kafka.committed(GROUP, TOPIC, P)


def ends():
    """The partitions' end offsets (ListOffsets, as kcat asks them)."""
    args = ["kcat", "-b", kafka.bootstrap, "-Q"]
    for p in range(P):
        args += ["-t", "%s:%d:-1" % (TOPIC, p)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return None
    res = {}
    for line in r.stdout.splitlines():  # "logs [2] offset 1234"
        w = line.split()
        if len(w) == 4 and w[0] == TOPIC and w[2] == "offset":
            res[int(w[1].strip("[]"))] = int(w[3])
    return [res[p] for p in range(P)] if len(res) == P else None


# ---- the agents ------------------------------------------------------------------------------
def agent(i):
    d = os.path.join(WORK, "agent%d-logs" % i)
    os.makedirs(d)
    return Sluice("""
data_dir: %s/data-agent%d
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  kafka:
    type: kafka
    inputs: [in]
    brokers: "%s"
    topic: %s
    key: ""
    message_timeout: 5s
    batch: { max_events: %d, timeout_ms: 20 }
    retry: { initial_ms: 50, max_ms: 500 }
""" % (WORK, i, free_port(), d, kafka.bootstrap, TOPIC, BATCH), name="agent%d" % i), d


def aggregator(name):
    return Sluice("""
data_dir: %s/data-%s
api: { address: "127.0.0.1:%d" }
sources:
  in:
    type: kafka
    brokers: "%s"
    group_id: %s
    topics: [%s]
    batch_max_events: %d
    revoke_timeout: 3s  # below the mock's rebalance window (session.timeout.ms - 1 s)
    librdkafka: { session.timeout.ms: "6000", heartbeat.interval.ms: "300", topic.metadata.refresh.interval.ms: "1000" }
sinks:
  es:
    type: elasticsearch
    inputs: [in]
    endpoint: "%s"
    index: twotier
    action: index
    batch: { max_events: %d, timeout_ms: 20 }
    retry: { initial_ms: 50, max_ms: 500 }
""" % (WORK, name, free_port(), kafka.bootstrap, GROUP, TOPIC, BATCH, base, BATCH), name=name)


def owned(s):
    return len(s.component("in")["partitions"])


def shared_by(members):
    """The group's assignment has settled over exactly these members."""
    o = [owned(m) for m in members]
    return all(x >= 1 for x in o) and sum(o) == P


# ---- writers and the sampler ----------------------------------------------------------------
state = {"write": True, "sample": True}
written = []  # line ids in the order written
samples = []  # (t before, committed offsets, docs stored when they were read, end offsets, t after)


def writer(dirs):
    n = 0
    while state["write"] and len(written) < MAX_LINES:
        for a, d in enumerate(dirs):
            for f in range(FILES):
                ids = ["a%d-f%d-%07d" % (a, f, n + k) for k in range(CHUNK)]
                with open(os.path.join(d, "f%d.log" % f), "a") as fh:
                    fh.write("".join("two-tier line %s\n" % i for i in ids))
                written.extend(ids)
        n += CHUNK
        time.sleep(0.05)  # pacing of the load, not a wait for a state


def sampler():
    while state["sample"]:
        t0 = time.time()
        try:
            c = committed()
        except AssertionError:  # the coordinator is down: no answer this time
            c = None
        if c is not None:
            n = es_docs()
            samples.append((t0, c, n, ends(), time.time()))
        time.sleep(0.1)


kills = []  # (time, member, partitions it owned)
es_retries = [0]  # bulk requests the aggregators sent again (killed incarnations and the rest)
EV = re.compile(r"^(\S+) info  in: kafka: \d+ partition\(s\) (assigned|revoked|lost):((?: \S+/\d+)*)$", re.M)


def rebalances(text):
    """(time, what, partitions) of every assignment change a member logged."""
    for m in EV.finditer(text):
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ")
        yield (t.replace(tzinfo=datetime.timezone.utc).timestamp(), m.group(2),
               [int(x.rsplit("/", 1)[1]) for x in m.group(3).split()])


def kill9(name):
    """SIGKILL; the partitions the member owned end there (from its log since its start)."""
    m = aggs[name]
    since = m.incarnation
    es_retries[0] += m.counter("sluice_sink_retries_total", component_id="es")
    m.kill9()
    t = time.time()
    own = set()
    for _, what, ps in rebalances(m.log_text()[since:]):
        own = own | set(ps) if what == "assigned" else own - set(ps)
    kills.append((t, name, sorted(own)))


def start(name):
    m = aggs.get(name) or aggregator(name)
    m.incarnation = len(m.log_text())
    aggs[name] = m.start()
    return m


aggs = {}
start("agg1")
start("agg2")
wait_until(lambda: shared_by(list(aggs.values())), 90, "the group shares the partitions")
agents, dirs = zip(*(agent(i) for i in range(AGENTS)))
for a in agents:
    a.start()
threads = [threading.Thread(target=writer, args=(dirs,)), threading.Thread(target=sampler)]
for t in threads:
    t.start()

progress = {"docs": 0}


def flowing(more):
    """Waits until Elasticsearch holds `more` documents more than at the last call."""
    want = progress["docs"] + more
    wait_until(lambda: es_docs() >= want, 120, "%d more documents" % more)
    progress["docs"] = es_docs()


def settle(members, what):
    """After a disruption: the assignment has settled over `members`; everything up to the
    end offsets read now gets committed (read, indexed, acknowledged) by the new owners."""
    wait_until(lambda: shared_by(members), 120, what + ": assignment settled")
    end = wait_until(ends, 60, "end offsets")
    wait_until(lambda: all(c >= e for c, e in zip(committed(), end)), 120,
               what + ": committed up to the end offsets %s" % end)
    log("%s: settled, committed up to %s, docs %d" % (what, end, es_docs()))


# 1. SIGKILL an aggregator while it holds read, unacknowledged messages; start it again
flowing(2000)
wait_until(lambda: any(p["read"] > max(p["committed"], 0) for p in aggs["agg1"].component("in")["partitions"]),
           60, "agg1 has messages in flight")
kill9("agg1")
log("agg1 killed owning partitions %s, %d documents stored" % (kills[-1][2], es_docs()))
start("agg1")
settle([aggs["agg1"], aggs["agg2"]], "kill -9 agg1")

# 2. the broker leading partition 0 down while the lines flow, then up
flowing(1000)
meta = json.loads(kcat(kafka.bootstrap, "-L", "-J", "-t", TOPIC).stdout)
broker = [p["leader"] for t in meta["topics"] for p in t["partitions"] if p["partition"] == 0][0]
mock("down %d" % broker)
# the outage is felt: some agent's delivery reports time out and the runtime retries
wait_until(lambda: sum(a.counter("sluice_component_errors_total", component_id="kafka", reason="produce_retry")
                       for a in agents) >= 1, 120, "produce retries while broker %d is down" % broker)
mock("up %d" % broker)
settle([aggs["agg1"], aggs["agg2"]], "broker %d down and up" % broker)

# 3. a third aggregator joins, then leaves
flowing(1000)
start("agg3")
settle(list(aggs.values()), "agg3 joined")
wait_until(lambda: aggs["agg3"].counter("sluice_component_sent_events_total", component_id="es") > 0,
           120, "agg3 indexes")
flowing(500)
es_retries[0] += aggs["agg3"].counter("sluice_sink_retries_total", component_id="es")
assert aggs["agg3"].stop() == 0, aggs["agg3"].log_text()[-2000:]
settle([aggs["agg1"], aggs["agg2"]], "agg3 left")

# quiet state: writers stop, agents deliver everything, aggregators index and commit it all
flowing(500)
state["write"] = False
threads[0].join()
total = len(written)
for a in agents:
    wait_until(lambda: a.component("in")["pending_acks"] == 0 and a.component("in")["sent_events"] >= total // AGENTS,
               180, "%s delivered every line" % a.name)
wait_until(lambda: es_docs() == total, 180, "every line indexed (%d)" % total)
end = wait_until(ends, 60, "end offsets")
wait_until(lambda: committed() == end, 120, "committed offsets at the ends %s" % end)
state["sample"] = False
threads[1].join()
st = es_get("/_emulator/stats")
retries = sum(a.counter("sluice_sink_retries_total", component_id="kafka") for a in agents)
for a in agents:
    assert a.stop() == 0, a.log_text()[-2000:]
es_retries[0] += sum(m.counter("sluice_sink_retries_total", component_id="es") for m in aggs.values()
                     if m.proc.poll() is None)
for name in ("agg1", "agg2"):
    assert aggs[name].stop() == 0, aggs[name].log_text()[-2000:]

# ---- checks ---------------------------------------------------------------------------------
msgs = consume(kafka.bootstrap, TOPIC)
order = es_get("/_emulator/ids")
pos = {i: k for k, i in enumerate(order)}
attempts = es_get("/_emulator/attempts")
docs = [json.loads(l) for l in urllib.request.urlopen(base + "/_emulator/docs", timeout=60).read().decode().splitlines() if l]

# every line exactly once, by _id
lines = collections.Counter(d["_source"]["message"].rsplit(" ", 1)[1] for d in docs)
assert len(docs) == total == st["docs"], (len(docs), total, st["docs"])
missing = set(written) - set(lines)
assert not missing, "lost %d lines, e.g. %s" % (len(missing), sorted(missing)[:10])
assert all(c == 1 for c in lines.values()), [l for l, c in lines.items() if c > 1][:10]
# the _id is the agent's sluice-id, carried by every copy of the line in Kafka
copies = collections.defaultdict(list)  # _id -> [(partition, offset)]
for m in msgs:
    line = json.loads(m["payload"])["message"]
    copies[m["headers"]["sluice-id"]].append((m["partition"], m["offset"], line))
for d in docs:
    assert d["_id"] in copies and all(c[2] == d["_source"]["message"] for c in copies[d["_id"]]), d
assert len(copies) == total, (len(copies), total)

# offsets committed only behind acknowledgements, at every sample
at = {(p, o): i for i, cs in copies.items() for p, o, _ in cs}
# per partition, the most documents Elasticsearch needed to hold every message below offset o+1
need = [[] for _ in range(P)]
for (p, o) in sorted(at):
    assert o == len(need[p]), ("a hole in partition", p, o)
    need[p].append(max(need[p][-1] if need[p] else 0, pos[at[(p, o)]] + 1))
early = [(c, ndocs, p) for _, c, ndocs, _, _ in samples for p in range(P) if c[p] > 0 and need[p][c[p] - 1] > ndocs]
assert not early, "committed before indexed (offsets, docs then, partition): %s" % early[:5]
assert end == [1 + max(o for p, o in at if p == q) for q in range(P)], (end, "holes in the topic?")

# duplicates: second copies in Kafka, or re-reads inside a disruption's window
kafka_dups = sum(len(cs) - 1 for cs in copies.values())
overwrites = sum(n - 1 for n in attempts.values())
assert overwrites == st["overwrites"], (overwrites, st["overwrites"])
assert kafka_dups <= retries * BATCH, (kafka_dups, retries)
# every end of an ownership: (time, partition) from the logs (up to the members' last stop,
# which comes after the quiet state and re-reads nothing) and the kill
last = max(t for t, _, _, _, _ in samples)
owner_ends = [(t, p) for t, _, ps in kills for p in ps]
for m in aggs.values():
    owner_ends += [(t, p) for t, what, ps in rebalances(m.log_text()) if what != "assigned" and t <= last
                   for p in ps]
windows = []  # per end: partition, committed sampled before it, end offset sampled after it
for t, p in owner_ends:
    before = [c[p] for t0, c, _, _, t1 in samples if t1 < t]
    after = [e[p] for t0, _, _, e, _ in samples if t0 > t + 0.001 and e]
    windows.append((p, max([0] + before), min(after) if after else end[p]))
window = sum(hi - lo for _, lo, hi in windows if hi > lo)
for i, n in attempts.items():
    reread = sum(1 for p, o, _ in copies[i] for q, lo, hi in windows if q == p and lo <= o < hi)
    # (a bulk request the sink sent again may repeat an id once more per retry)
    assert n - 1 <= len(copies[i]) - 1 + reread + es_retries[0], ("an overwrite outside every window", i, n, copies[i])
log("lines %d, kafka messages %d (second copies %d, agent retries %d), ES overwrites %d "
    "(in-flight windows: %d messages over %d ownership ends; bulk retries %d), samples %d, kills %d"
    % (total, len(msgs), kafka_dups, retries, overwrites, window, len(owner_ends), es_retries[0],
       len(samples), len(kills)))
assert overwrites <= kafka_dups + window + es_retries[0] * BATCH, (overwrites, kafka_dups, window, es_retries)
assert len(samples) >= 10, len(samples)
kafka.stop()
es.stop()
print("ok")
