"""`sluice run | consumer` whose consumer is alive but stopped reading (a paused pager, a
stuck program downstream): the stdout sink's write waits on a full pipe. A stop must still
end at shutdown_timeout, as for any send waiting on its peer: the write is given up at the
deadline, what was not written stays unacknowledged, and the process exits 0 instead of
hanging until the reader goes away. The next start, with a reader that reads, writes every
line the first run did not get into the pipe, to the end of the file."""
import fcntl
import json
import os
import signal
import struct
import subprocess
import termios

from harness import SLUICE, WORK, api_get, free_port, log, read_run_to_last, track, wait_until

N = 200000
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "app.log"), "w") as f:
    f.write("".join("line %d\n" % i for i in range(N)))
api = "127.0.0.1:%d" % free_port()
cfg = os.path.join(WORK, "sluice.yaml")
with open(cfg, "w") as f:
    f.write("""
data_dir: %s/data
shutdown_timeout: 2s
api: { address: "%s" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  out: { type: stdout, inputs: [in], encoding: text, buffer: { max_bytes: 256KiB } }
""" % (WORK, api, logs))


def sink_status():
    try:
        st = json.loads(api_get(api, "/api/v1/status")[1])
    except (OSError, ValueError):
        return None
    return [c for c in st["components"] if c["id"] == "out"][0]


last_unread = [-1]


def stuck(fd, cap):
    """The pipe holds most of its size and took nothing since the last look (the sink leaves
    its last pages to the reader), a request is out, and the sink's buffer is full: the
    write waits on the reader. A full buffer alone is not it: a sink just started fills it
    before its first request."""
    unread = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    still, last_unread[0] = unread == last_unread[0], unread
    st = sink_status()
    return (still and unread >= cap // 2 and st is not None and st["inflight"] >= 1 and
            st["buffer"]["blocked_pushes"] > 0)


# The reader never reads: the pipe fills, the sink's write waits, its buffer fills.
p = track(subprocess.Popen([SLUICE, "run", "-c", cfg], stdout=subprocess.PIPE,
                           stderr=open(os.path.join(WORK, "run1.log"), "wb")))
cap = fcntl.fcntl(p.stdout.fileno(), 1032)  # F_GETPIPE_SZ
wait_until(lambda: stuck(p.stdout.fileno(), cap), 120, "the sink stuck on a full pipe")
p.send_signal(signal.SIGTERM)
try:
    rc = p.wait(timeout=90)  # a bound for a hang, not a time asserted
except subprocess.TimeoutExpired:
    p.kill()
    p.wait()
    raise AssertionError("sluice did not stop while its standard output was not read")
text = open(os.path.join(WORK, "run1.log"), "rb").read().decode()
assert rc == 0, (rc, text[-2000:])
assert "not delivered (kept for redelivery)" in text, text[-2000:]
# what reached the pipe before the stop; a line cut by the deadline has no newline
first = p.stdout.read().decode().split("\n")[:-1]
p.stdout.close()
got1 = [int(x.split()[1]) for x in first]
log("first run: exit", rc, "with", len(got1), "lines in the pipe")
assert got1 == list(range(len(got1))), got1[:5]

# The next start, read: the lines the pipe did not get, to the end.
seen = read_run_to_last(cfg, os.path.join(WORK, "run2.log"), N - 1)
assert seen[0] <= len(got1) and seen == list(range(seen[0], N)), (seen[:3], len(got1))
log("ok: stopped while the reader was stuck; the second run wrote lines %d..%d" % (seen[0], N - 1))
