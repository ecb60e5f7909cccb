"""file source across SIGKILLs while writers append fast and rotate. Two directories, as users
write their configs: users/ read with include ["<dir>/*.log"], its app.log rotated out of the
pattern (rename to app.log.<n> or app.log-<date>, or copytruncate to app.log.<n>); legacy/ read
with include ["<dir>/app.log*"], rotated by rename and copytruncate within the pattern.
sluice is SIGKILLed IT_KILLS (8) times: right after a rotation, or once it has delivered a seeded
share of what was written, and files are written and rotated while it is down. Every line
written must be delivered at least once; lines are counted in and out, duplicates reported."""
import collections
import glob
import json
import os
import random
import shutil

from harness import Sluice, WORK, free_port, log, wait_until

KILLS = int(os.environ.get("IT_KILLS", "8"))
ROTATE_EVERY = int(os.environ.get("IT_ROTATE_EVERY", "5000"))
rnd = random.Random(int(os.environ.get("IT_SEED", "7")))
out_dir = os.path.join(WORK, "out")


class Writer:
    """Appends numbered lines to <dir>/app.log and rotates it every ROTATE_EVERY lines."""

    def __init__(self, tag, methods):
        self.tag, self.methods = tag, methods
        self.dir = os.path.join(WORK, tag)
        os.makedirs(self.dir)
        self.path = os.path.join(self.dir, "app.log")
        self.f = open(self.path, "a")
        self.seq = self.rotations = 0
        self.written = []

    def rotate(self):
        self.rotations += 1
        method = self.methods[self.rotations % len(self.methods)]
        self.f.close()
        if method == "rename":
            os.rename(self.path, "%s.%d" % (self.path, self.rotations))
        elif method == "dateext":
            os.rename(self.path, "%s-2024%04d" % (self.path, self.rotations))
        else:  # copytruncate: nothing is written between the copy and the truncation
            shutil.copyfile(self.path, "%s.%d" % (self.path, self.rotations))
            open(self.path, "r+").truncate(0)
        self.f = open(self.path, "a")

    def write(self, n, end_with_rotation=False):
        for _ in range(n):
            line = "%s %08d %s" % (self.tag, self.seq, "y" * rnd.randint(10, 120))
            self.f.write(line + "\n")
            self.written.append(line)
            self.seq += 1
            if self.seq % ROTATE_EVERY == 0:
                self.rotate()
            elif self.seq % 200 == 0:
                self.f.flush()
        self.f.flush()
        if end_with_rotation:
            self.rotate()


users = Writer("users", ["rename", "dateext", "copytruncate"])
legacy = Writer("legacy", ["rename", "copytruncate"])
writers = [users, legacy]

cfg = """
data_dir: %s/data
shutdown_timeout: 10s
api: { address: "127.0.0.1:%d" }
sources:
  users: { type: file, include: ["%s/*.log"], glob_interval_ms: 200, checkpoint_interval_ms: 100 }
  legacy: { type: file, include: ["%s/app.log*"], glob_interval_ms: 200, checkpoint_interval_ms: 100 }
sinks:
  out: { type: file, inputs: [users, legacy], path: "%s/out.ndjson", batch: { max_events: 500, timeout_ms: 50 } }
""" % (WORK, free_port(), users.dir, legacy.dir, out_dir)


def out_bytes():
    data = b""
    for p in sorted(glob.glob(os.path.join(out_dir, "*.ndjson"))):
        with open(p, "rb") as f:
            data += f.read()
    return data


def delivered_count():
    return out_bytes().count(b"\n")


def written_total():
    return sum(len(w.written) for w in writers)


s = Sluice(cfg, name="run")
for k in range(KILLS):
    s.start()
    for w in writers:
        w.write(rnd.randint(2000, 8000))
    if rnd.random() < 0.5:
        # killed while it has read some of what was written (a seeded share)
        target = int(written_total() * rnd.uniform(0.1, 0.9))
        wait_until(lambda: delivered_count() >= target, 300, "%d lines delivered" % target, 0.1)
        how = "after %d lines out" % target
    else:
        how = "just after a rotation"
    for w in writers:  # a last burst, then the file is rotated away
        w.write(rnd.randint(100, 2000), end_with_rotation=how.startswith("just"))
    s.kill9()
    log("kill %d %s: written %d, out %d" % (k + 1, how, written_total(), delivered_count()))
    if rnd.random() < 0.6:  # written and rotated while sluice is down
        for w in writers:
            w.write(rnd.randint(500, 6000), end_with_rotation=rnd.random() < 0.5)

for w in writers:
    w.f.close()
total = written_total()
s.start()
want = collections.Counter(l for w in writers for l in w.written)
assert len(want) == total, "the writers repeated a line"


def complete():
    if delivered_count() < total:
        return False
    got = {json.loads(l)["message"] for l in out_bytes().splitlines() if l.strip()}
    return got.issuperset(want)


wait_until(complete, 300, "every written line delivered", 0.5)
assert s.stop() == 0, s.log_text()[-2000:]

got = collections.Counter(json.loads(l)["message"] for l in out_bytes().splitlines() if l.strip())
missing = [l for l in want if l not in got]
invented = [l for l in got if l not in want]
dups = sum(c - 1 for c in got.values() if c > 1)
log("written %d (%d rotations), delivered %d, missing %d, invented %d, duplicates %d after %d SIGKILLs"
    % (total, sum(w.rotations for w in writers), sum(got.values()), len(missing), len(invented), dups, KILLS))
assert not missing, "lost lines, first: %r" % missing[:3]
assert not invented, "delivered lines never written: %r" % invented[:3]
# Duplicates: what was in flight or read since the last checkpoint at each kill, plus a rotated
# file written and rotated away entirely after it (read again from its start).
assert dups <= KILLS * (2 * ROTATE_EVERY + 10000), "duplicates not bounded: %d" % dups
