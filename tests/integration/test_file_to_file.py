"""1,000,000 lines file -> file: every line delivered exactly once, in order, with the
same content digest; then the daemon drains and stops cleanly on SIGTERM."""
import glob
import os
import random

from harness import Sluice, WORK, digest, free_port, log, read_ndjson_messages, wait_until

N = int(os.environ.get("IT_LINES", "1000000"))
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
rnd = random.Random(42)
lines = []
with open(os.path.join(logs, "app.log"), "w") as f:
    for i in range(N):
        pad = "x" * rnd.randint(0, 120)
        line = 'seq=%d level=info msg="request served" path=/api/v1/items/%d "quoted" \\ %s' % (i, i % 977, pad)
        lines.append(line)
        f.write(line + "\n")

port = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  out: { type: file, inputs: [in], path: "%s/out/out.ndjson", batch: { max_events: 5000, timeout_ms: 100 } }
""" % (WORK, port, logs, WORK)).start()

wait_until(lambda: s.metric("sluice_component_sent_events_total", component_id="out") == N,
           timeout=900, what="all lines delivered", interval=0.5)
assert s.stop() == 0, "non-zero exit"
got = read_ndjson_messages(sorted(glob.glob(os.path.join(WORK, "out", "*.ndjson"))))
log("delivered", len(got), "of", N)
assert len(got) == N, "count mismatch: %d != %d" % (len(got), N)
assert digest(got) == digest(lines), "content digest mismatch"
ck = os.path.join(WORK, "data", "checkpoints")
assert os.listdir(ck), "no checkpoint written"
log("ok: %d lines, digest %s" % (N, digest(got)[:16]))
