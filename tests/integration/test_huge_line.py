"""A 100 MB line, binary garbage and a directory where a file was expected: each is
reported, nothing crashes, memory stays bounded, and the other lines still flow."""
import os

from harness import Sluice, WORK, free_port, log, read_ndjson_messages, wait_until

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "big.log"), "wb") as f:
    f.write(b"before\n")
    chunk = b"A" * (1 << 20)
    for _ in range(100):
        f.write(chunk)
    f.write(b"\nafter\n")
    f.write(b"\x00\xff\xfe garbage \x80\x81\n")
    f.write(b"tail\n")
os.mkdir(os.path.join(logs, "dir.log"))
port = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"], max_line_bytes: 1MiB }
sinks:
  out: { type: file, inputs: [in], path: "%s/out/out.ndjson" }
""" % (WORK, port, logs, WORK)).start()
# 1 + 100 chunks + after + garbage + tail
wait_until(lambda: s.metric("sluice_component_sent_events_total", component_id="out") == 104, timeout=300,
           what="all lines and chunks")
rss = s.metric("process_resident_memory_bytes")
assert (s.metric("sluice_component_errors_total", component_id="in", reason="line_too_long") or 0) >= 1, \
    "long line not counted"
assert s.stop() == 0
got = read_ndjson_messages([os.path.join(WORK, "out", "out.ndjson")])
assert got[0] == "before" and got[-3] == "after" and got[-1] == "tail", (got[0][:20], got[-3:])
assert sum(len(m) for m in got[1:101]) == 100 << 20, "chunks do not add up to the line"
log("peak-ish RSS while moving a 100 MB line: %.1f MiB" % (rss / 1048576))
assert rss < 256 << 20, "memory not bounded: %d" % rss
