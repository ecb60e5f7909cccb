"""file source with more files than the open files limit allows (ulimit -n 256, the default
max_open_files of 1024): the source keeps its files within a share of the limit, closing idle
ones and reopening them as they grow, so the sink can still open its output and the API still
answers; every line of every file arrives exactly once, and the limit is said once in the log
and counted (fd_limit), not as one 'skipping' line per file. A second source whose files come
while the first holds the share with idle files still reads them through a few of its own.

Then with a soft limit of 256 under a hard one of 4096 (a shell's 1024 under systemd's
524288): run raises its soft limit to the hard one, and every file stays open."""
import os
import resource

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

FILES = 600
LIMIT = 256
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
paths = [os.path.join(logs, "f%04d.log" % i) for i in range(FILES)]


def write_round(r):
    for i, p in enumerate(paths):
        with open(p, "a") as f:
            f.write("file %d round %d\n" % (i, r))


def low_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


def low_soft_limit():
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, 4096))


def config(name, out):
    return Sluice("""data_dir: %s/data-%s
api: { address: "127.0.0.1:%d" }
sources:
  f: { type: file, include: ["%s/*.log"] }
sinks:
  o: { type: file, inputs: [f], path: "%s", batch: { timeout_ms: 50 } }
""" % (WORK, name, free_port(), logs, out), name=name)


write_round(0)
out = os.path.join(WORK, "out.ndjson")
s = config("hard", out).start(preexec_fn=low_limit)


def count():
    return len(ndjson_file(out))


wait_until(lambda: count() >= FILES, 120, "the first line of every file")
assert s.status()["components"], "the API answers"
write_round(1)
wait_until(lambda: count() >= 2 * FILES, 120, "the second line of every file")
assert s.counter("sluice_component_errors_total", component_id="f", reason="fd_limit") == 1
assert s.stop() == 0
msgs = [e["message"] for e in ndjson_file(out)]
assert len(msgs) == len(set(msgs)) == 2 * FILES, (len(msgs), len(set(msgs)))
text = s.log_text()
assert "Too many open files" not in text, text[-2000:]
assert text.count("the open files limit (%d" % LIMIT) == 1, text[-2000:]
log("ok:", len(msgs), "lines from", FILES, "files under ulimit -n", LIMIT)

out2 = os.path.join(WORK, "out2.ndjson")
s = config("soft", out2).start(preexec_fn=low_soft_limit)
with open("/proc/%d/limits" % s.proc.pid) as f:
    soft = [l.split()[3] for l in f if l.startswith("Max open files")][0]
assert soft == "4096", soft
wait_until(lambda: len(ndjson_file(out2)) >= 2 * FILES, 120, "every line of every file")


def target(fd):
    try:
        return os.readlink("/proc/%d/fd/%s" % (s.proc.pid, fd))
    except OSError:  # closed since the listing (a socket, say)
        return ""


open_logs = [p for p in map(target, os.listdir("/proc/%d/fd" % s.proc.pid)) if p.startswith(logs)]
assert len(open_logs) == FILES, len(open_logs)
assert s.counter("sluice_component_errors_total", component_id="f", reason="fd_limit") == 0
assert s.stop() == 0
assert len(ndjson_file(out2)) == 2 * FILES
log("ok: soft limit raised to the hard one,", len(open_logs), "files open")

# Two sources under ulimit -n 256: the first holds every descriptor of the share, idle; the
# second, whose files come later, still gets a few and reads its files through them.
logs_b = os.path.join(WORK, "logs-b")
os.makedirs(logs_b)
out3 = os.path.join(WORK, "out3.ndjson")
s = Sluice("""data_dir: %s/data-two
api: { address: "127.0.0.1:%d" }
sources:
  a: { type: file, include: ["%s/*.log"] }
  b: { type: file, include: ["%s/*.log"] }
sinks:
  o: { type: file, inputs: [a, b], path: "%s", batch: { timeout_ms: 50 } }
""" % (WORK, free_port(), logs, logs_b, out3), name="two").start(preexec_fn=low_limit)
wait_until(lambda: len(ndjson_file(out3)) >= 2 * FILES, 120, "the first source's files")
for i in range(50):
    with open(os.path.join(logs_b, "b%02d.log" % i), "w") as f:
        f.write("second source file %d\n" % i)
wait_until(lambda: len(ndjson_file(out3)) >= 2 * FILES + 50, 120, "the second source's files")
assert s.stop() == 0
log("ok: a second source reads its files while the first holds its share")
