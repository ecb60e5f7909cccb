"""kubernetes_logs: a container that exits in the middle of a line leaves a last CRI `P` part
(containerd writes what is left at EOF as a partial) or a Docker entry without a newline,
and nothing ever completes it. It is delivered once partial_timeout_ms has passed, marked
log.truncated and counted, and its file's position moves past it: before, the message was
held until the file went away and the position stayed at its offset, so every restart read
the rest of the file again. A message whose parts are all there is still joined. Every line
is counted in and out."""
import json
import os

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_common import config, output

N = 200
T = "2026-12-07T10:00:00.000000000Z"
root = os.path.join(WORK, "pods")
cri = os.path.join(root, "shop_web-1_u-web", "app")
dock = os.path.join(root, "shop_job-1_u-job", "task")
os.makedirs(cri)
os.makedirs(dock)
cri = os.path.join(cri, "0.log")
dock = os.path.join(dock, "0.log")
with open(cri, "w") as f:
    f.write("%s stdout P joined first half, \n%s stdout F second half\n" % (T, T))
    f.write("%s stderr P Password: \n" % T)  # the container never wrote the rest
    for i in range(N):
        f.write("%s stdout F web %d\n" % (T, i))
with open(dock, "w") as f:
    for i in range(N):
        f.write(json.dumps({"log": "job %d\n" % i, "stream": "stdout", "time": T}) + "\n")
    f.write(json.dumps({"log": "exiting without a newline", "stream": "stderr", "time": T}) + "\n")

out = os.path.join(WORK, "out.ndjson")
cfg = config(root, free_port(), extra=", partial_timeout_ms: 1000")
want = 2 * N + 3


def by_message():
    got = {}
    for g in output(out):
        assert g["message"] not in got, "delivered twice: %r" % g
        got[g["message"]] = g
    return got


s = Sluice(cfg, "k8s").start()
wait_until(lambda: len(output(out)) >= want, 60, "the unterminated partials delivered")
got = by_message()
assert len(got) == want, sorted(got)[:5]
assert "joined first half, second half" in got, "parts of one message not joined"
for m, stream in (("Password: ", "stderr"), ("exiting without a newline", "stderr")):
    assert got[m]["stream"] == stream and got[m].get("log.truncated") is True, got[m]
assert "log.truncated" not in got["web 7"] and "log.truncated" not in got["job 7"]
errs = s.counter("sluice_component_errors_total", component_id="pods", reason="partial_unterminated")
assert errs == 2, errs
assert s.counter("sluice_component_received_events_total", component_id="pods") == 2 * N + 4
assert s.stop() == 0, s.log_text()[-2000:]

# A restart reads from where the files were left: nothing again.
with open(cri, "a") as f:
    f.write("%s stdout F after the restart\n" % T)
s = Sluice(cfg, "k8s-again").start()
wait_until(lambda: "after the restart" in {g["message"] for g in output(out)}, 60,
           "the line written while stopped")
assert s.stop() == 0, s.log_text()[-2000:]
got = by_message()
assert len(got) == want + 1, len(got)
log("ok: unterminated partials delivered after the timeout, nothing read twice after a restart")
