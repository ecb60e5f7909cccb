"""kubernetes_logs positions: read_from: tail applies only to files present at the very first
start; a pod that appears later is read from its start (no loss for new pods); a restart
resumes exactly after the last delivered line; `sluice checkpoints reset` forgets them."""
import os
import subprocess

from harness import SLUICE, Sluice, WORK, free_port, log, wait_until
from k8s_common import config, count_lines, output

root = os.path.join(WORK, "pods")
T = "2024-05-01T12:00:00Z"


def write(pod, tag, n, start=0):
    d = os.path.join(root, "ns_%s_uid-%s" % (pod, pod), "app")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "0.log"), "a") as f:
        for i in range(start, start + n):
            f.write("%s stdout F %s-%d\n" % (T, tag, i))


out = os.path.join(WORK, "out.ndjson")
write("old", "before", 5)
cfg = config(root, free_port(), extra=", read_from: tail")
s = Sluice(cfg, "k8s").start()
wait_until(lambda: os.path.exists(os.path.join(WORK, "data", "checkpoints", "pods.ckpt")), 20, "checkpoint")
write("old", "after", 5)
write("new", "new", 5)
wait_until(lambda: count_lines(out) >= 10, 30, "10 events")
assert s.stop() == 0
msgs = sorted(g["message"] for g in output(out))
assert msgs == sorted(["after-%d" % i for i in range(5)] + ["new-%d" % i for i in range(5)]), msgs

# Restart: exactly the lines written while stopped, nothing twice.
write("old", "later", 3)
write("new", "new", 2, start=5)
s = Sluice(cfg, "k8s2").start()
wait_until(lambda: count_lines(out) >= 15, 30, "15 events")
assert s.stop() == 0
msgs = [g["message"] for g in output(out)]
assert len(msgs) == len(set(msgs)) == 15, msgs
assert {"later-0", "later-2", "new-6"} <= set(msgs)

r = subprocess.run([SLUICE, "checkpoints", "reset", "-c", os.path.join(WORK, "k8s.yaml"), "--source", "pods"],
                   capture_output=True, text=True)
assert r.returncode == 0, r.stdout + r.stderr
log("ok: tail at first start, new pods from head, exact resume, reset:", r.stdout.strip())
