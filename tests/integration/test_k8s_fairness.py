"""kubernetes_logs fairness: one noisy pod with a large backlog cannot starve a quiet one.
With read_budget_bytes per file per turn, the quiet pod's lines come out near the start of
the output, not after the noisy pod's backlog (an order check, not a timing one)."""
import os

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_common import config, count_lines, output

NOISY = int(os.environ.get("K8S_NOISY_LINES", "40000"))
root = os.path.join(WORK, "pods")
T = "2024-05-01T12:00:00Z"


def pod_file(name):
    d = os.path.join(root, "ns_%s_uid-%s" % (name, name), "app")
    os.makedirs(d)
    return os.path.join(d, "0.log")


with open(pod_file("noisy"), "w") as f:
    for i in range(NOISY):
        f.write("%s stdout F noisy %d %s\n" % (T, i, "n" * 200))
with open(pod_file("quiet"), "w") as f:
    for i in range(3):
        f.write("%s stdout F quiet %d\n" % (T, i))
out = os.path.join(WORK, "out.ndjson")
s = Sluice(config(root, free_port(), extra=", read_budget_bytes: 64KiB"), "k8s").start()
wait_until(lambda: count_lines(out) >= NOISY + 3, 60, "every line")
assert s.stop() == 0
msgs = [g["message"] for g in output(out)]
pos = [i for i, m in enumerate(msgs) if m.startswith("quiet")]
# one turn of the noisy file is 64 KiB (~300 lines); allow a few turns and batching
assert len(pos) == 3 and max(pos) < 3000, (pos, len(msgs))
log("ok: quiet pod's lines at positions", pos, "of", len(msgs))
