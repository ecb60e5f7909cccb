"""Disk buffer: with the sink failing, every event is durably buffered and the source
commits; after a restart (SIGTERM, then SIGKILL) the buffer replays everything. Then a
byte in the middle of a segment is corrupted: the bad record is cut and reported, the good
records before and after it are delivered."""
import glob
import os

from harness import Sluice, WORK, free_port, log, read_ndjson_messages, wait_until

N = 5000
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("event %05d payload %s\n" % (i, "z" * (i % 50)))
want = ["event %05d payload %s" % (i, "z" * (i % 50)) for i in range(N)]

blocker = os.path.join(WORK, "blocked")
outdir = os.path.join(WORK, "out")


def config(port, out_parent):
    return """
data_dir: %s/data
shutdown_timeout: 5s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"], batch_max_events: 100 }
sinks:
  out:
    type: file
    inputs: [in]
    path: "%s/out.ndjson"
    buffer: { type: disk, max_size: 64MiB, fsync: always }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 0 }
""" % (WORK, port, logs, out_parent)


def buffered(s):
    # Every event read, and every ack in: all of them are durably in the disk buffer.
    src = s.component("in")
    return src["sent_events"] == N and src["pending_acks"] == 0


# 1. Sink blocked (its parent path is a regular file): everything lands in the disk buffer.
open(blocker, "w").close()
port = free_port()
s = Sluice(config(port, blocker), name="blocked").start()
wait_until(lambda: buffered(s), what="all events in the disk buffer")
assert s.stop() == 0
ck = glob.glob(os.path.join(WORK, "data", "checkpoints", "*"))
assert ck, "source did not commit although events were durably buffered"

# 2. Restart still blocked, then kill -9: the buffer must survive.
s = Sluice(config(port, blocker), name="blocked2").start()
wait_until(lambda: (s.metric("sluice_sink_retries_total", component_id="out") or 0) > 0, what="replay attempts")
assert s.component("in")["sent_events"] == 0, "source re-read committed events"
s.kill9()

# 3. Corrupt one byte in the middle of the largest segment.
segs = [p for p in glob.glob(os.path.join(WORK, "data", "buffers", "out", "*")) if os.path.getsize(p) > 100000]
assert segs, os.listdir(os.path.join(WORK, "data", "buffers", "out"))
seg = max(segs, key=os.path.getsize)
size = os.path.getsize(seg)
with open(seg, "r+b") as f:
    f.seek(size // 2)
    b = f.read(1)
    f.seek(size // 2)
    f.write(bytes([b[0] ^ 0xFF]))
log("corrupted", seg, "at", size // 2)

# 4. Unblock the sink and restart: all but the one corrupt record arrive.
os.unlink(blocker)
s = Sluice(config(port, outdir), name="fixed").start()
wait_until(lambda: s.metric("sluice_component_sent_events_total", component_id="out") == N - 100,
           what="buffer drained")
corrupt = s.metric("sluice_component_errors_total", component_id="out", reason="corrupt_record")
assert s.stop() == 0
got = read_ndjson_messages([os.path.join(outdir, "out.ndjson")])
missing = [w for w in want if w not in set(got)]
log("delivered %d, missing %d, corrupt records %s" % (len(got), len(missing), corrupt))
assert corrupt == 1, "corrupt record not reported in metrics: %s" % corrupt
assert "corrupt" in s.log_text(), "corruption not logged"
assert len(missing) == 100, "expected exactly one record (100 events) lost, missing %d" % len(missing)
idx = [want.index(m) for m in missing]
assert idx == list(range(idx[0], idx[0] + 100)), "missing events are not one record"
assert idx[0] > 0 and idx[-1] < N - 1, "good records on both sides must be kept"
assert len(got) == len(set(got)), "duplicates after a clean replay"
