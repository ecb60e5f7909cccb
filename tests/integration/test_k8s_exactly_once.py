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
# a rotated file was read: some events come from N.log.<time>
assert any(".log." in g["log.file.path"] for g in got), "no event read from a renamed file"
log("ok:", len(got), "events exactly once")
