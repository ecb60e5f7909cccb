"""kubernetes_logs: more inotify events than the kernel queues (max_queued_events) arrive while
sluice is stopped (SIGSTOP): hundreds of new pods at once plus a storm of writes. The queue
overflows (IN_Q_OVERFLOW, counted as inotify_overflow) and the rescan it triggers finds every
file; the periodic rescan is set to an hour so only that rescan can. Every line arrives once."""
import os
import signal

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_common import config, count_lines, match, output
import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "emulators"))
from kubelet import Kubelet  # noqa: E402

NEW_PODS = int(os.environ.get("K8S_NEW_PODS", "400"))
root = os.path.join(WORK, "pods")
man = os.path.join(WORK, "manifest.ndjson")
out = os.path.join(WORK, "out.ndjson")
with open("/proc/sys/fs/inotify/max_queued_events") as f:
    max_queued = int(f.read())

k = Kubelet(root, seed=3, fmt="cri", rotate_bytes=1 << 30, long_every=0, manifest=man)
first = [k.add_pod() for _ in range(2)]
for p in first:
    k.write_one(p)
s = Sluice(config(root, free_port(), rescan=3600000), "k8s").start()
wait_until(lambda: count_lines(out) >= 2, 30, "the first pods' lines")

os.kill(s.proc.pid, signal.SIGSTOP)
try:
    for _ in range(NEW_PODS):
        p = k.add_pod()
        k.write_one(p)
    # writes to the two watched files, alternating so the kernel cannot merge the events
    for i in range(max_queued + 1000):
        k.write_one(first[i % 2])
finally:
    os.kill(s.proc.pid, signal.SIGCONT)
k.close()
want = [l for l in open(man)]
log("expecting", len(want), "events from", len(k.pods), "pods")
wait_until(lambda: count_lines(out) >= len(want), 120, "every event delivered", interval=0.2)
wait_until(lambda: (s.metric("sluice_component_errors_total", component_id="pods", reason="inotify_overflow") or 0) >= 1,
           30, "the overflow to be counted")
assert s.stop() == 0, s.log_text()[-2000:]
import json  # noqa: E402
match([json.loads(l) for l in want], output(out), exact=True)
log("ok: overflow seen, every file found by the rescan")
