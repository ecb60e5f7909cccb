"""file (*.log) -> multiline transform (java) -> file: every line of every stack trace reaches
the output inside the event of its group, through kill -9.

Three files get groups written whole (one write each): single log lines, and log lines
followed by a Java exception with frames, a "Caused by:" chain and "... N more" (2-14
lines). Every line is unique, so each output event maps back to the lines it holds.

1. No kill: once every group is out and every file's position is committed to its end,
   the output is exactly the groups, once each, in order per file.
2. A writer keeps appending while sluice is SIGKILLed twice at random moments and
   restarted. Quiet state: the writer stopped, every group out whole, every position at its
   file's end (the last group of each file goes out after timeout_ms). Then: no line lost;
   every event is one group or its tail (a restart that read again from a position inside
   a group already delivered, see ARCHITECTURE.md); never a piece of one group joined to
   another, never a group cut short; each file's groups first arrive in order."""
import json
import os
import random
import threading
import time

from harness import Sluice, WORK, free_port, log, wait_until
from ml_common import Groups, committed_to_end

rnd = random.Random(int(os.environ.get("IT_SEED", "17")))
FILES = ["a", "b", "c"]
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
out = os.path.join(WORK, "out", "out.ndjson")
groups = Groups(rnd)


def write_groups(f, n):
    fd = os.open(os.path.join(logs, f + ".log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for _ in range(n):
            data = "".join(l + "\n" for l in groups.new(f, f)).encode()
            assert os.write(fd, data) == len(data)  # one write: a group is never half there
    finally:
        os.close(fd)


def delivered():
    try:
        with open(out, "rb") as fh:
            return [json.loads(l)["message"] for l in fh if l.strip()]
    except FileNotFoundError:
        return []


def quiet():
    """Every group out whole and every file committed to its end."""
    if not committed_to_end("in", [os.path.join(logs, f + ".log") for f in FILES]):
        return False
    got = set(delivered())
    return all(g in got for g in groups.all_whole())


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
got = groups.check(delivered(), tails_ok=False)
assert len(got) == sum(len(gs) for gs in groups.by.values()), "not every group exactly once"
joined = None
for line in s.get("/metrics")[1].splitlines():
    if line.startswith("sluice_component_counter_total{") and 'component_id="ml"' in line \
            and 'name="multiline_joined"' in line:
        joined = int(float(line.rsplit(" ", 1)[1]))
traces = sum(1 for gs in groups.by.values() for g in gs if len(g) > 1)
assert joined == traces, "multiline_joined %s, %d traces written" % (joined, traces)
log("phase 1: %d groups, %d lines, exactly once" % (len(got), len(groups.where)))

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
        log("killed %d at %d lines written" % (k + 1, len(groups.where)))
        s.start()
    time.sleep(rnd.uniform(0.5, 1.5))
finally:
    state["run"] = False
    t.join()
wait_until(quiet, 300, "phase 2: every group out and committed", 0.2)
assert s.stop() == 0, s.log_text()[-2000:]

msgs = delivered()
got = groups.check(msgs, tails_ok=True)
ngroups = sum(len(gs) for gs in groups.by.values())
log("phase 2: %d groups, %d lines, %d events (%d again after the kills, %d of them tails)"
    % (ngroups, len(groups.where), len(msgs), len(msgs) - ngroups, sum(1 for g in got if g[2] > 0)))
