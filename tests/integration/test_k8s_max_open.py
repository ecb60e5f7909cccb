"""kubernetes_logs with more files than max_open_files: idle files are closed and reopened by
position, so every line of every pod still arrives exactly once, and the number of open files
stays bounded. K8S_PODS scales the run."""
import os

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_common import config, count_lines, output

PODS = int(os.environ.get("K8S_PODS", "300"))
root = os.path.join(WORK, "pods")
T = "2024-05-01T12:00:00Z"
paths = []
for i in range(PODS):
    d = os.path.join(root, "ns_p%d_uid-%d" % (i, i), "app")
    os.makedirs(d)
    paths.append(os.path.join(d, "0.log"))


def write_round(r, n):
    for i, p in enumerate(paths):
        with open(p, "a") as f:
            for k in range(n):
                f.write("%s stdout F pod %d round %d line %d\n" % (T, i, r, k))


write_round(0, 20)
out = os.path.join(WORK, "out.ndjson")
s = Sluice(config(root, free_port(), extra=", max_open_files: 32"), "k8s").start()
wait_until(lambda: count_lines(out) >= PODS * 20, 60, "first round")
fds = len(os.listdir("/proc/%d/fd" % s.proc.pid))
write_round(1, 5)
wait_until(lambda: count_lines(out) >= PODS * 25, 60, "second round")
assert s.stop() == 0
msgs = [g["message"] for g in output(out)]
assert len(msgs) == len(set(msgs)) == PODS * 25, (len(msgs), len(set(msgs)))
assert fds < 32 + 40, fds  # the log files open at most max_open_files, plus sockets and state
log("ok:", len(msgs), "lines from", PODS, "pods with", fds, "fds open")
