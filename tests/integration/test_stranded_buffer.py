"""A disk buffer left under data_dir by a sink the configuration no longer opens (renamed, or
given a memory buffer) is said at start with its count: its events were kept but nothing
said so, and a renamed sink looked like a clean switch. Once a sink of that id with a disk
buffer is back, every event is delivered."""
import os

from harness import Sluice, WORK, free_port, log, read_ndjson_messages, wait_until

N = 500
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("stranded %04d\n" % i)
out = os.path.join(WORK, "out.ndjson")
dead = free_port()  # nothing listens there: the http sink keeps its events on disk


def config(name, sink):
    return """
data_dir: %s/data
shutdown_timeout: 1s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
%s
""" % (WORK, free_port(), logs, sink)


def run(name, sink, want):
    """Starts with `sink`, waits for a log line holding `want` (or the start), stops."""
    s = Sluice(config(name, sink), name=name).start()
    try:
        if want:
            wait_until(lambda: want in s.log_text(), what=repr(want))
        return s
    finally:
        assert s.stop() == 0, s.log_text()[-2000:]


# 1. The sink cannot deliver; its disk buffer takes every event and the source commits.
s = Sluice(config("first", """  es_out:
    type: http
    inputs: [in]
    uri: "http://127.0.0.1:%d/bulk"
    buffer: { type: disk }
    retry: { initial_ms: 50, max_ms: 200 }""" % dead), name="first").start()
try:
    wait_until(lambda: s.component("in")["sent_events"] == N and
               s.component("in")["pending_acks"] == 0, what="every event in the disk buffer")
finally:
    assert s.stop() == 0
stranded = os.path.join(WORK, "data", "buffers", "es_out")

# 2. The sink renamed: its buffer is said, with its count.
s = run("renamed",
        '  archive: { type: file, inputs: [in], path: "%s.other", buffer: { type: disk } }' % out,
        "%s holds about %d undelivered event(s) of sink 'es_out', which this configuration "
        "does not have" % (stranded, N))
assert "delete the directory to drop them" in s.log_text()

# 3. The same id with a memory buffer: said too.
s = run("memory", """  es_out: { type: file, inputs: [in], path: "%s.memory" }""" % out,
        "of sink 'es_out', which has a memory buffer in this configuration")

# 4. The same id with a disk buffer again: no warning, every event delivered once.
s = Sluice(config("back", '  es_out: { type: file, inputs: [in], path: "%s", '
                          'buffer: { type: disk } }' % out), name="back").start()
try:
    wait_until(lambda: os.path.exists(out) and len(read_ndjson_messages([out])) >= N,
               what="the stranded events delivered")
finally:
    assert s.stop() == 0
assert "undelivered event(s) of sink" not in s.log_text(), s.log_text()[-2000:]
got = read_ndjson_messages([out])
assert sorted(got) == ["stranded %04d" % i for i in range(N)], "%d delivered of %d" % (len(got), N)
log("ok: a stranded disk buffer said at start and delivered when its sink came back")
