"""sluice started with standard input, output and error closed, as some supervisors start a
daemon: descriptors 0, 1 and 2 are reopened on /dev/null before anything else is opened.
Without that, the next descriptor opened took their number and a log line (fd 2) went into
an eventfd, a checkpoint file or a sink's socket. The pipeline then runs as usual: every
line delivered once, a clean stop, and a restart that resumes where it stopped."""
import os
import signal
import subprocess

from harness import SLUICE, WORK, free_port, log, ndjson_file, track, wait_until

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
out = os.path.join(WORK, "out.ndjson")
cfg = os.path.join(WORK, "sluice.yaml")
with open(cfg, "w") as f:
    f.write("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"], read_from: head }
sinks:
  out: { type: file, inputs: [in], path: "%s" }
""" % (WORK, free_port(), logs, out))


def start():
    # exec keeps the pid: the process whose descriptors are looked at is sluice itself
    return track(subprocess.Popen(["bash", "-c", 'exec "$0" run -c "$1" <&- >&- 2>&-', SLUICE,
                                   cfg]))


with open(os.path.join(logs, "app.log"), "w") as f:
    f.write("".join("line %d\n" % i for i in range(1000)))
p = start()
wait_until(lambda: len(ndjson_file(out)) >= 1000, 60, "1,000 lines delivered")
fds = {fd: os.readlink("/proc/%d/fd/%d" % (p.pid, fd)) for fd in (0, 1, 2)}
log("descriptors 0-2:", fds)
assert all(v == "/dev/null" for v in fds.values()), fds
p.send_signal(signal.SIGTERM)
assert p.wait(timeout=120) == 0

with open(os.path.join(logs, "app.log"), "a") as f:
    f.write("".join("line %d\n" % i for i in range(1000, 2000)))
p = start()
wait_until(lambda: len(ndjson_file(out)) >= 2000, 60, "the next 1,000 lines delivered")
p.send_signal(signal.SIGTERM)
assert p.wait(timeout=120) == 0
got = [int(o["message"].split()[1]) for o in ndjson_file(out)]
assert got == list(range(2000)), (len(got), got[:3])
log("ok: 2,000 lines once each over two runs with stdio closed")
