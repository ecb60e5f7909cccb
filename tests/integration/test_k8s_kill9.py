"""kubernetes_logs: the exactly-once run with sluice SIGKILLed K8S_KILLS (10) times at random
points while pods write, rotate and restart. Nothing may be lost; duplicates only within what
was in flight; and deduplicating by the event id (the file sink's id_key) leaves zero
duplicates: every repeated line carries the same id and content as its original.
The kills are placed by the emulator's progress, not by a clock: it stops itself at K8S_KILLS
random message counts; the test continues it and kills sluice at once, so every kill lands
while pods write, however slowly either side runs. While sluice is down the emulator writes
DOWN_LINES more messages (a rotation may happen meanwhile) and stops again until sluice is
back: a slow restart must not let a file be rotated twice, compressed and removed before
sluice ever saw it (no collector could read that; kubelet keeps files far longer)."""
import collections
import os
import random
import signal

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_common import config, count_lines, finish_kubelet, manifest, match, output, start_kubelet

LINES = int(os.environ.get("K8S_LINES", "6000"))
KILLS = int(os.environ.get("K8S_KILLS", "10"))
rnd = random.Random(int(os.environ.get("IT_SEED", "5")))
root = os.path.join(WORK, "pods")
os.makedirs(root)
man = os.path.join(WORK, "manifest.ndjson")
out = os.path.join(WORK, "out.ndjson")

# K8S_KILLS points, about evenly spread over the run (each about 0.6 to 1.6 s of writing
# after the one before at 400 lines a second), each followed by the pause that waits for
# the restart
DOWN_LINES = 20
step = LINES // (KILLS + 1)
kill_at = [i * step + rnd.randrange(-step // 3, step // 3) for i in range(1, KILLS + 1)]
pauses = sorted(kill_at + [p + DOWN_LINES for p in kill_at])


def stopped(p):
    """True once the process is in the stopped state (it sent itself SIGSTOP)."""
    if p.poll() is not None:
        raise AssertionError("kubelet emulator ended before its pause point")
    with open("/proc/%d/stat" % p.pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


s = Sluice(config(root, free_port(), extra=", checkpoint_interval_ms: 250"), "k8s").start()
k = start_kubelet("--root", root, "--manifest", man, "--pods", 50, "--lines", LINES, "--rate", 400,
                  "--format", "mixed", "--rotate-bytes", 12000, "--split", 1000, "--long-every", 40,
                  "--long-len", 2500, "--restarts", 5, "--new-pods", 3, "--seed", 12,
                  "--pause-at", ",".join(str(p) for p in pauses))
kills = 0
for _ in kill_at:
    wait_until(lambda: stopped(k), 300, "the emulator at kill point %d" % (kills + 1), interval=0.02)
    os.kill(k.pid, signal.SIGCONT)
    s.kill9()
    kills += 1
    s.start()
    wait_until(lambda: stopped(k), 300, "the emulator after kill %d" % kills, interval=0.02)
    os.kill(k.pid, signal.SIGCONT)
finish_kubelet(k)
want = manifest(man)
log("expecting", len(want), "events after", kills, "kills")


def complete():
    if count_lines(out) < len(want):
        return False
    return len({g["message"] for g in output(out)}) >= len(want)


wait_until(complete, 180, "every event delivered", interval=0.3)
assert s.stop() == 0, s.log_text()[-2000:]
got = output(out)
dups = match(want, got, exact=False)
log("duplicates (in flight at the kills):", dups)
assert dups <= len(want) // 2, dups

# Deduplicating by id: one id = one message with the same metadata, and no message twice.
by_id = collections.defaultdict(list)
for g in got:
    by_id[g["_id"]].append(g)
def same(g):
    # the path may differ: the same line read again after kubelet renamed N.log to N.log.<time>
    p = g["log.file.path"]
    return dict(g, timestamp=None, **{"log.file.path": p[:p.index(".log") + 4]})


for i, gs in by_id.items():
    first = same(gs[0])
    for g in gs[1:]:
        assert same(g) == first, (gs[0], g)
        assert g["timestamp"] == gs[0]["timestamp"], "time from the line, not the read time"
unique = [gs[0] for gs in by_id.values()]
match(want, unique, exact=True)
log("ok:", len(got), "lines,", dups, "duplicates, 0 after dedupe by id")
