"""kubernetes_logs: 50 pods write CRI and Docker lines (long ones split into P/F parts,
interleaved across streams) while the kubelet emulator rotates (rename, new file, gzip),
restarts containers, creates and deletes pods. Every line must arrive exactly once at the
file sink, matched by content and pod metadata. K8S_LINES scales the run."""
import os

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_common import config, delivered_all, finish_kubelet, manifest, match, output, start_kubelet

LINES = int(os.environ.get("K8S_LINES", "6000"))
root = os.path.join(WORK, "pods")
os.makedirs(root)
man = os.path.join(WORK, "manifest.ndjson")
out = os.path.join(WORK, "out.ndjson")

s = Sluice(config(root, free_port()), "k8s").start()
k = start_kubelet("--root", root, "--manifest", man, "--pods", 50, "--lines", LINES, "--rate", 2000,
                  "--format", "mixed", "--rotate-bytes", 12000, "--split", 1000, "--long-every", 40,
                  "--long-len", 2500, "--restarts", 5, "--new-pods", 3, "--delete-pods", 3, "--seed", 11)
finish_kubelet(k)
want = manifest(man)
log("expecting", len(want), "events")
wait_until(lambda: delivered_all(out, want), 120, "every event delivered", interval=0.3)
assert s.stop() == 0, s.log_text()[-2000:]
got = output(out)
match(want, got, exact=True)
# .gz files exist (rotated and compressed) and were never read: no event names one
assert any(p.endswith(".gz") for _, _, fs in os.walk(root) for p in fs), "emulator compressed nothing"
assert not any(".gz" in g["log.file.path"] for g in got)

# A renamed file is read to its end under its new name. Whether sluice happened to lag behind
# a rotation above is up to the scheduler, so bring it about: while sluice is stopped, lines
# are appended to a live N.log, which kubelet then renames to N.log.<time> and reopens.
live = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".log"))
assert live, "no live log file left"
path = live[0]
rotated = path + ".20261204-120000.999"
tail = ["renamed-tail %03d" % i for i in range(20)]
fresh = ["after-rotation %03d" % i for i in range(5)]
with open(path, "a") as f:
    for m in tail:
        f.write("2026-12-04T12:00:00.000000000Z stdout F %s\n" % m)
os.rename(path, rotated)
with open(path, "w") as f:
    for m in fresh:
        f.write("2026-12-04T12:00:01.000000000Z stdout F %s\n" % m)
s = Sluice(config(root, free_port()), "k8s-again").start()
wait_until(lambda: {g["message"] for g in output(out)} >= set(tail + fresh), 120,
           "the renamed file's tail and the new file delivered", interval=0.3)
assert s.stop() == 0, s.log_text()[-2000:]
again = output(out)[len(got):]
by_msg = {g["message"]: g for g in again}
assert len(again) == len(tail) + len(fresh), "re-read after restart: %d events" % len(again)
assert all(by_msg[m]["log.file.path"] == rotated for m in tail), by_msg[tail[0]]
assert all(by_msg[m]["log.file.path"] == path for m in fresh), by_msg[fresh[0]]
log("ok:", len(got), "events exactly once; a renamed file read to its end")
