"""A full disk (a file-size limit on the process): the disk buffer's writes fail, the error
is logged and counted, the source pauses instead of losing anything, the state reads
io_error; once space returns every event is delivered exactly once."""
import glob
import os
import resource

from harness import Sluice, WORK, free_port, log, read_ndjson_messages, wait_until

N = 20000
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("full %06d %s\n" % (i, "d" * 150))  # ~3.3 MB in all
want = ["full %06d %s" % (i, "d" * 150) for i in range(N)]
LIMIT = 1 << 20  # no file may grow past 1 MiB: the buffer segment hits it first

port = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  out:
    type: file
    inputs: [in]
    path: "%s/out/out.%%H%%M.ndjson"
    buffer: { type: disk, max_size: 64MiB }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 0 }
""" % (WORK, port, logs, WORK))
s.start(preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, resource.RLIM_INFINITY)))
try:
    wait_until(lambda: (s.metric("sluice_component_errors_total", component_id="out", reason="io") or 0) +
               (s.metric("sluice_component_errors_total", component_id="out", reason="disk_full") or 0) > 0,
               what="the disk buffer to report the failed write")
    assert s.component("in")["sent_events"] < N or s.component("out")["state"] == "io_error"
    resource.prlimit(s.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    def delivered():
        return len(read_ndjson_messages(sorted(glob.glob(os.path.join(WORK, "out", "*.ndjson"))))) >= N
    wait_until(delivered, timeout=120, what="every event after space returned")
    wait_until(lambda: s.component("in")["pending_acks"] == 0, what="positions committed")
    assert s.component("out")["state"] == "ok", s.component("out")["state"]
finally:
    assert s.stop() == 0
got = read_ndjson_messages(sorted(glob.glob(os.path.join(WORK, "out", "*.ndjson"))))
assert sorted(got) == want, "lost or duplicated events: %d delivered of %d" % (len(got), N)
text = s.log_text()
assert "disk buffer" in text or "buffer write failed" in text, text[-2000:]
log("ok: %d events through a full disk" % len(got))
