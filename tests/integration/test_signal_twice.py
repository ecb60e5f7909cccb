"""A stop signal sent twice by one process within 3 s (as `timeout` does: to sluice, then to
its process group) is one stop: sluice drains and exits 0. It took the second for "force" and
exited 1 at once without draining. A second signal from another process still forces."""
import os
import signal
import subprocess

from harness import Sluice, WORK, free_port, log, wait_until

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(100):
        f.write("line %d\n" % i)


def start(name, shutdown_timeout):
    """A sink that cannot deliver, so the drain lasts shutdown_timeout."""
    s = Sluice("""
data_dir: %s/data-%s
shutdown_timeout: %s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  out: { type: http, inputs: [in], uri: "http://127.0.0.1:%d/x" }
""" % (WORK, name, shutdown_timeout, free_port(), logs, free_port()), name=name).start()
    wait_until(lambda: s.counter("sluice_sink_retries_total", component_id="out") >= 1,
               what="the sink retrying")
    os.kill(s.proc.pid, signal.SIGTERM)
    # the second once the first is taken: two at once may merge into one pending signal
    wait_until(lambda: "Terminated received: stopping" in s.log_text(), what="the first")
    return s


# 1. SIGTERM again from this process: the same stop, drained to its deadline, exit 0.
s = start("twice", "3s")
os.kill(s.proc.pid, signal.SIGTERM)
rc = s.wait_exit(60)
text = s.log_text()
assert rc == 0, (rc, text[-2000:])
assert "Terminated again from the same process (pid %d): the same stop" % os.getpid() \
    in text, text[-2000:]
assert "exiting now" not in text and "shutdown deadline" in text, text[-2000:]

# 2. A second SIGTERM from another process (kill(1)) ends a drain of 60 s at once, exit 1.
s = start("force", "60s")
subprocess.run(["kill", "-TERM", str(s.proc.pid)], check=True)
rc = s.wait_exit(30)
text = s.log_text()
assert rc == 1 and "second Terminated: exiting now" in text, (rc, text[-2000:])
log("ok: one stop for a signal sent twice by one process, one from elsewhere forces")
