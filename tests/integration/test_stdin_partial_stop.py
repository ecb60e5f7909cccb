"""stdin source stopped by SIGTERM while its input is still open and ends in a partial line
(no newline yet): the bytes of that line were read from the pipe already, so the stop emits
them as a last event, as end of input does, instead of dropping them."""
import os
import signal
import subprocess

from harness import SLUICE, WORK, log, ndjson_file, track, wait_until

out = os.path.join(WORK, "out.ndjson")
cfg = os.path.join(WORK, "sluice.yaml")
with open(cfg, "w") as f:
    f.write("""
data_dir: %s/data
api: { enabled: false }
sources:
  in: { type: stdin }
sinks:
  out: { type: file, inputs: [in], path: "%s" }
""" % (WORK, out))

logf = open(os.path.join(WORK, "sluice.log"), "wb")
p = track(subprocess.Popen([SLUICE, "run", "-c", cfg], stdin=subprocess.PIPE, stdout=logf,
                           stderr=subprocess.STDOUT))
# The writer keeps the pipe open: no end of input, only the stop.
p.stdin.write(b"first line\nsecond line\r\nno newline yet")
p.stdin.flush()
wait_until(lambda: len(ndjson_file(out)) >= 2, 60, "the two complete lines delivered")
p.send_signal(signal.SIGTERM)
rc = p.wait(timeout=60)
p.stdin.close()
with open(os.path.join(WORK, "sluice.log"), "rb") as f:
    text = f.read().decode(errors="replace")
msgs = [e["message"] for e in ndjson_file(out)]
log("exit", rc, "messages", msgs)
assert rc == 0, text[-3000:]
assert msgs == ["first line", "second line", "no newline yet"], (msgs, text[-3000:])
log("ok")
