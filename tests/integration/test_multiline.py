"""file (*.log) -> multiline (java) -> file: every line of every stack trace reaches the
output inside the event of its group, through kill -9.

Three files get groups written whole (one write each): single log lines, and log lines
followed by a Java exception with frames, a "Caused by:" chain and "... N more" (2-14
lines). Every line is unique, so each output event maps back to the lines it holds.

1. No kill: once every group is out and every file's position is committed to its end,
   the output is exactly the groups, once each, in order per file.
2. A writer keeps appending while sluice is SIGKILLed twice at random moments and
   restarted. Quiet state: the writer stopped, every group out whole, every position at its
   file's end (the last group of each file goes out after timeout_ms). Then: no line lost;
   every event is one group or its tail (a restart that read again from a position inside
   a group already delivered); never a piece of one group joined to another, never a group
   cut short; each file's groups first arrive in order."""
import glob
import json
import os
import random
import threading
import time

from harness import Sluice, WORK, free_port, log, wait_until

rnd = random.Random(int(os.environ.get("IT_SEED", "17")))
FILES = ["a", "b", "c"]
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
out = os.path.join(WORK, "out", "out.ndjson")

groups = {f: [] for f in FILES}  # file -> list of groups (lists of lines), as written
where = {}                        # line -> (file, group index, line index)
lock = threading.Lock()


def make_group(f, g):
    head = "2024-05-14T10:%02d:%02d.%03dZ %s [%s] c.s.Orders - g=%06d " % (
        g // 3600 % 60, g // 60 % 60, g % 1000, "INFO " if g % 3 else "ERROR", f, g)
    if g % 3:
        return [head + "served"]
    lines = [head + "request failed", "java.lang.IllegalStateException: order %s-%d has no lines" % (f, g)]
    for k in range(rnd.randint(0, 6)):
        lines.append("\tat com.shop.orders.Svc.step_%s_%d_%d(Svc.java:%d)" % (f, g, k, 10 + k))
    if rnd.random() < 0.5:
        lines.append("Caused by: java.io.IOException: disk %s-%d" % (f, g))
        lines.append("\tat com.shop.store.Disk.write_%s_%d(Disk.java:7)" % (f, g))
        lines.append("\t... %d more" % (g * 10 + FILES.index(f)))
    return lines


def write_groups(f, n):
    fd = os.open(os.path.join(logs, f + ".log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for _ in range(n):
            with lock:
                g = len(groups[f])
                lines = make_group(f, g)
                for i, l in enumerate(lines):
                    assert l not in where, l
                    where[l] = (f, g, i)
                groups[f].append(lines)
            data = "".join(l + "\n" for l in lines).encode()
            assert os.write(fd, data) == len(data)  # one write: a group is never half there
    finally:
        os.close(fd)


def delivered():
    try:
        with open(out, "rb") as fh:
            return [json.loads(l)["message"] for l in fh if l.strip()]
    except FileNotFoundError:
        return []


def positions():
    """dev:ino -> committed offset, from the newer valid copy of the source's checkpoint."""
    best = (-1, {})
    for p in glob.glob(os.path.join(WORK, "data", "checkpoints", "in.ckpt*")):
        if not (p.endswith(".ckpt") or p.endswith(".ckpt.live")):
            continue
        try:
            with open(p) as fh:
                lines = fh.read().split("\n")
        except FileNotFoundError:
            continue
        if len(lines) < 3 or not lines[0].startswith("# sluice checkpoint v2 "):
            continue
        gen = int(lines[0].split()[-1])
        pos = {}
        for l in lines[1:-2]:
            k, v, _ = l.split(" ", 2)
            pos[k] = int(v)
        if gen > best[0]:
            best = (gen, pos)
    return best[1]


def quiet():
    """Every group out whole and every file committed to its end."""
    pos = positions()
    for f in FILES:
        st = os.stat(os.path.join(logs, f + ".log"))
        if pos.get("%d:%d" % (st.st_dev, st.st_ino)) != st.st_size:
            return False
    got = set(delivered())
    with lock:
        return all("\n".join(g) in got for f in FILES for g in groups[f])


def classify(msgs):
    """Maps each event to (file, group, first line index); fails on anything that is not a
    whole group or the tail of one."""
    res = []
    for m in msgs:
        lines = m.split("\n")
        locs = [where.get(l) for l in lines]
        assert all(locs), "an event with a line never written: %r" % m[:200]
        f, g, i0 = locs[0]
        for k, (f2, g2, i) in enumerate(locs):
            assert (f2, g2, i) == (f, g, i0 + k), "an event mixing groups or out of order: %r" % m[:300]
        assert i0 + len(lines) == len(groups[f][g]), "a group cut short: %r" % m[:300]
        res.append((f, g, i0))
    return res


cfg = """
data_dir: %s/data
shutdown_timeout: 10s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"], read_from: head, glob_interval_ms: 200, batch_max_events: 40 }
transforms:
  ml: { type: multiline, inputs: [in], mode: java, timeout_ms: 4000 }
sinks:
  out: { type: file, inputs: [ml], path: "%s", batch: { max_events: 200, timeout_ms: 20 } }
""" % (WORK, free_port(), logs, out)

# ---- 1. no kill: exactly once, in order -------------------------------------------------
for f in FILES:
    write_groups(f, 400)
s = Sluice(cfg).start()
wait_until(quiet, 180, "phase 1: every group out and committed", 0.2)
got = classify(delivered())
for f in FILES:
    mine = [(g, i0) for (f2, g, i0) in got if f2 == f]
    assert mine == [(g, 0) for g in range(len(groups[f]))], "file %s: not every group exactly once in order" % f
joined = None
for line in s.get("/metrics")[1].splitlines():
    if line.startswith("sluice_component_counter_total{") and 'component_id="ml"' in line \
            and 'name="multiline_joined"' in line:
        joined = int(float(line.rsplit(" ", 1)[1]))
traces = sum(1 for f in FILES for g in groups[f] if len(g) > 1)
assert joined == traces, "multiline_joined %s, %d traces written" % (joined, traces)
log("phase 1: %d groups, %d lines, exactly once" % (len(got), len(where)))

# ---- 2. kill -9 twice while writing --------------------------------------------------------
state = {"run": True}


def writer():
    while state["run"]:
        for f in FILES:
            write_groups(f, rnd.randint(1, 30))
        time.sleep(0.005)


t = threading.Thread(target=writer)
t.start()
try:
    for k in range(2):
        time.sleep(rnd.uniform(0.5, 2.0))
        s.kill9()
        log("killed %d at %d lines written" % (k + 1, len(where)))
        s.start()
    time.sleep(rnd.uniform(0.5, 1.5))
finally:
    state["run"] = False
    t.join()
wait_until(quiet, 300, "phase 2: every group out and committed", 0.2)
assert s.stop() == 0, s.log_text()[-2000:]

msgs = delivered()
got = classify(msgs)
seen = set()
for (f, g, i0) in got:
    for i in range(i0, len(groups[f][g])):
        seen.add((f, g, i))
lost = [(f, g, i) for f in FILES for g in range(len(groups[f])) for i in range(len(groups[f][g]))
        if (f, g, i) not in seen]
assert not lost, "lines lost, first: %r" % lost[:3]
for f in FILES:
    first = []
    for (f2, g, i0) in got:
        if f2 == f and i0 == 0 and g not in first:
            first.append(g)
    assert first == list(range(len(groups[f]))), "file %s: groups not first delivered in order" % f
dups = len(msgs) - sum(len(groups[f]) for f in FILES)
tails = sum(1 for (_, _, i0) in got if i0 > 0)
log("phase 2: %d groups, %d lines, %d events (%d again after the kills, %d of them tails)"
    % (sum(len(groups[f]) for f in FILES), len(where), len(msgs), dups, tails))
