"""kubernetes_logs across SIGKILLs landing right after kubelet rotations: containers write
fast, kubelet renames 0.log to 0.log.<time> (the runtime may still write a line through its
old fd) and sluice is SIGKILLed at once, before it could read the renamed file's tail; while
it is down the containers write on and may rotate again. K8S_KILLS (8) kills, each after a
seeded burst and, half the time, once sluice delivered a seeded share (states, not sleeps).
Every message must be delivered at least once (counted in and out against the manifest), and
deduplicating by event id must leave none twice: a file found again after the restart keeps
its identity, so its lines keep their ids.
Rotated files stay uncompressed here: kubelet gzips the older ones at its next rotation, and a
file gzipped (deleted) while sluice was down before it read it is lost, a documented limit."""
import collections
import os
import random
import sys

from harness import ROOT, Sluice, WORK, free_port, log, wait_until
from k8s_common import config, count_lines, delivered_all, manifest, match, output

sys.path.insert(0, os.path.join(ROOT, "tests", "emulators"))
import kubelet  # noqa: E402

KILLS = int(os.environ.get("K8S_KILLS", "8"))
rnd = random.Random(int(os.environ.get("IT_SEED", "11")))
root = os.path.join(WORK, "pods")
man = os.path.join(WORK, "manifest.ndjson")
out = os.path.join(WORK, "out.ndjson")

kubelet.Container.compress_old = lambda self, rotated: None  # see the docstring
kub = kubelet.Kubelet(root, seed=21, fmt="mixed", containers=2, rotate_bytes=1 << 40, split=1000,
                      long_every=40, long_len=2500, manifest=man)
for _ in range(4):
    kub.add_pod()
containers = [c for p in kub.pods for c in p.containers]


def burst(lo, hi):
    for _ in range(rnd.randint(lo, hi)):
        kub.write_one()
    kub.manifest.flush()


s = Sluice(config(root, free_port()), "k8s")
for k in range(KILLS):
    s.start()
    burst(300, 1500)
    how = "right after the rotation"
    if rnd.random() < 0.5:
        target = int(kub.events * rnd.uniform(0.2, 0.9))
        wait_until(lambda: count_lines(out) >= target, 300, "%d lines delivered" % target, 0.05)
        how = "with %d lines out, right after the rotation" % target
    rotated = rnd.sample(containers, rnd.randint(1, 2))
    for c in rotated:
        c.rotate()
    s.kill9()
    log("kill %d %s of %s: %d messages written, %d lines out" % (
        k + 1, how, ", ".join("%s/%s" % (c.pod.name, c.name) for c in rotated), kub.events,
        count_lines(out)))
    if rnd.random() < 0.6:  # written, and rotated, while sluice is down
        burst(0, 800)
        if rnd.random() < 0.5:
            rnd.choice(containers).rotate()

burst(100, 300)
kub.close()
want = manifest(man)
assert len(want) == kub.events
s.start()
wait_until(lambda: delivered_all(out, want), 300, "every message delivered", 0.3)
assert s.stop() == 0, s.log_text()[-2000:]
got = output(out)
dups = match(want, got, exact=False)
log("%d messages, %d delivered, %d duplicates after %d kills, %d rotations" % (
    len(want), len(got), dups, KILLS, kub.rotations))

# Deduplicating by id: one id = one message with the same metadata, and no message twice.
by_id = collections.defaultdict(list)
for g in got:
    by_id[g["_id"]].append(g)


def same(g):
    # the path may differ: the same line read again after kubelet renamed N.log to N.log.<time>
    p = g["log.file.path"]
    return dict(g, timestamp=None, **{"log.file.path": p[:p.index(".log") + 4]})


for gs in by_id.values():
    for g in gs[1:]:
        assert same(g) == same(gs[0]), (gs[0], g)
match(want, [gs[0] for gs in by_id.values()], exact=True)
log("ok: every message delivered; 0 duplicates after dedupe by id")
