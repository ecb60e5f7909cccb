"""The `multiline:` option of the tailing sources, through kill -9: a group's lines are held
in the source and the file's position stops at the first line of a group still open, so
after any crash a group is read again whole.

1. file (*.log, multiline: java) -> file: three files of Java log groups written whole;
   exactly once and in order without a kill, then two kills while a writer appends.
2. kubernetes_logs (multiline: java) -> file: two containers whose stdout and stderr
   traces are merged line by line at random in one CRI file, long lines split into P parts;
   two kills while a writer appends. Groups are joined per stream, after the CRI parts.

Quiet state each time: writer stopped, every group out whole, every file committed to its
end (the last group of a stream goes out after timeout_ms). Then: no line lost, every
event one whole group of one stream (with that stream's `stream` field), each stream's
groups first delivered in order. A file holds one position for both of a container's
streams: resuming at the first line of one stream's open group can fall inside a group of
the other stream that was delivered whole already; its tail then comes again (lines
repeated, never delivered for the first time in a tail). The file source has one stream
per file: never a tail there."""
import os
import random
import threading
import time

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until
from ml_common import Groups, committed_to_end

rnd = random.Random(int(os.environ.get("IT_SEED", "23")))


def read_out(path):
    return ndjson_file(path)  # complete lines: sluice may be writing the last


def kill_twice_while(s, writer):
    state = {"run": True}

    def loop():
        while state["run"]:
            writer()
            time.sleep(0.005)

    t = threading.Thread(target=loop)
    t.start()
    try:
        for k in range(2):
            time.sleep(rnd.uniform(0.5, 2.0))
            s.kill9()
            log("killed %d" % (k + 1))
            s.start()
        time.sleep(rnd.uniform(0.5, 1.5))
    finally:
        state["run"] = False
        t.join()


# ---- 1. file source ------------------------------------------------------------------------
FILES = ["a", "b", "c"]
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
out1 = os.path.join(WORK, "out1", "out.ndjson")
g1 = Groups(rnd)


def write_files(n):
    for f in FILES:
        fd = os.open(os.path.join(logs, f + ".log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            for _ in range(n()):
                data = "".join(l + "\n" for l in g1.new(f, f)).encode()
                assert os.write(fd, data) == len(data)
        finally:
            os.close(fd)


def quiet1():
    if not committed_to_end("in", [os.path.join(logs, f + ".log") for f in FILES], "data1"):
        return False
    got = set(e["message"] for e in read_out(out1))
    return all(g in got for g in g1.all_whole())


cfg1 = """
data_dir: %s/data1
shutdown_timeout: 10s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"], read_from: head, glob_interval_ms: 200,
        batch_max_events: 40, multiline: { mode: java, timeout_ms: 3000 } }
sinks:
  out: { type: file, inputs: [in], path: "%s", batch: { max_events: 200, timeout_ms: 20 } }
""" % (WORK, free_port(), logs, out1)

write_files(lambda: 300)
s = Sluice(cfg1, name="file").start()
wait_until(quiet1, 180, "file: every group out and committed", 0.2)
got = g1.check([e["message"] for e in read_out(out1)], tails_ok=False)
assert len(got) == sum(len(gs) for gs in g1.by.values()), "file: not every group exactly once"
# With multiline: the source counts lines read (published per read pass, not per line).
lines_in = s.counter("sluice_component_received_events_total", component_id="in")
assert lines_in == len(g1.where), "file: %s lines counted, %d read" % (lines_in, len(g1.where))
bytes_in = s.counter("sluice_component_received_bytes_total", component_id="in")
size = sum(os.path.getsize(os.path.join(logs, f + ".log")) for f in FILES)
assert bytes_in == size, "file: %s bytes counted, %d in the files" % (bytes_in, size)
kill_twice_while(s, lambda: write_files(lambda: rnd.randint(1, 30)))
wait_until(quiet1, 180, "file: every group out and committed after the kills", 0.2)
assert s.stop() == 0, s.log_text()[-2000:]
events = read_out(out1)
got = g1.check([e["message"] for e in events], tails_ok=False)
for e in events:
    st, g, _ = g1.where[e["message"].split("\n")[0]]
    assert e["log.file.path"].endswith("/%s.log" % st), e
n1 = sum(len(gs) for gs in g1.by.values())
log("file: %d groups, %d lines, %d events (%d again after the kills, all whole)"
    % (n1, len(g1.where), len(events), len(events) - n1))

# ---- 2. kubernetes_logs --------------------------------------------------------------------
root = os.path.join(WORK, "pods")
PODS = [("shop", "orders-7d9f", "uid-1111", "app"), ("shop", "billing-5c2a", "uid-2222", "app")]
paths = []
for ns, pod, uid, ctr in PODS:
    d = os.path.join(root, "%s_%s_%s" % (ns, pod, uid), ctr)
    os.makedirs(d)
    paths.append(os.path.join(d, "0.log"))
out2 = os.path.join(WORK, "out2", "out.ndjson")
g2 = Groups(rnd)
seq = [0]


def cri(stream, msg):
    """A message as CRI records: F, or split into P parts when long enough."""
    seq[0] += 1
    ts = "2024-05-14T10:00:%02d.%09dZ" % (seq[0] // 1000000000 % 60, seq[0] % 1000000000)
    parts = []
    if len(msg) > 40 and rnd.random() < 0.3:
        cut = sorted(rnd.sample(range(1, len(msg)), rnd.randint(1, 2)))
        bounds = [0] + cut + [len(msg)]
        parts = [msg[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]
    else:
        parts = [msg]
    return "".join("%s %s %s %s\n" % (ts, stream, "F" if i == len(parts) - 1 else "P", p)
                   for i, p in enumerate(parts))


def write_pods():
    """Per container: a few groups of each stream, their lines merged at random (stdout and
    stderr share the file, and a group of one often starts while the other's is open)."""
    for (ns, pod, uid, ctr), path in zip(PODS, paths):
        lines = {"stdout": [], "stderr": []}
        for _ in range(rnd.randint(1, 10)):
            lines["stdout"] += g2.new((pod, "stdout"), pod + "-out")
            lines["stderr"] += g2.new((pod, "stderr"), pod + "-err")
        chunk = []
        while lines["stdout"] or lines["stderr"]:
            st = rnd.choice([k for k in lines if lines[k]])
            chunk.append(cri(st, lines[st].pop(0)))
        data = "".join(chunk).encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            assert os.write(fd, data) == len(data)
        finally:
            os.close(fd)


def quiet2():
    if not committed_to_end("pods", paths, "data2"):
        return False
    got = set(e["message"] for e in read_out(out2))
    return all(g in got for g in g2.all_whole())


cfg2 = """
data_dir: %s/data2
shutdown_timeout: 10s
api: { address: "127.0.0.1:%d" }
sources:
  pods: { type: kubernetes_logs, path: "%s", rescan_interval_ms: 200, exclude_self: false,
          batch_max_events: 40, multiline: { mode: java, timeout_ms: 3000 } }
sinks:
  out: { type: file, inputs: [pods], path: "%s", batch: { max_events: 200, timeout_ms: 20 } }
""" % (WORK, free_port(), root, out2)

for _ in range(20):
    write_pods()
s = Sluice(cfg2, name="k8s").start()
wait_until(quiet2, 180, "k8s: every group out and committed", 0.2)
got = g2.check([e["message"] for e in read_out(out2)], tails_ok=False)
assert len(got) == sum(len(gs) for gs in g2.by.values()), "k8s: not every group exactly once"
kill_twice_while(s, write_pods)
wait_until(quiet2, 180, "k8s: every group out and committed after the kills", 0.2)
assert s.stop() == 0, s.log_text()[-2000:]
events = read_out(out2)
got = g2.check([e["message"] for e in events], tails_ok="repeat")
for e in events:
    (pod, stream), g, _ = g2.where[e["message"].split("\n")[0]]
    assert e["stream"] == stream and e["kubernetes.pod_name"] == pod, e
n2 = sum(len(gs) for gs in g2.by.values())
log("kubernetes_logs: %d groups, %d lines, %d events (%d again after the kills, %d of them tails)"
    % (n2, len(g2.where), len(events), len(events) - n2, sum(1 for g in got if g[2] > 0)))
