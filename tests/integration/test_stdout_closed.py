"""`sluice run | head`: the stdout sink's reader leaves after a few lines. Standard output can
never take a line again, so sluice stops by itself (exit 1, so that a service manager
restarts it with a new one, and a line saying why) instead of retrying forever, and what it could not write stays unacknowledged: the next start writes
the rest, to the end of the file. (Lines written into the pipe before its reader left are
gone with the pipe, as for any writer: the input is larger than a pipe holds, so the first
run cannot have written everything.)"""
import os
import subprocess

from harness import SLUICE, WORK, log, read_run_to_last, track

N = 50000  # about 540 KB: more than a pipe holds
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "app.log"), "w") as f:
    f.write("".join("line %d\n" % i for i in range(N)))
cfg = os.path.join(WORK, "sluice.yaml")
with open(cfg, "w") as f:
    f.write("""
data_dir: %s/data
api: { enabled: false }
sources:
  in: { type: file, include: ["%s/*.log"], read_from: head, batch_max_events: 100 }
sinks:
  out: { type: stdout, inputs: [in], encoding: text, batch: { max_events: 100 } }
""" % (WORK, logs))

# The reader takes three lines and closes the pipe.
errlog = open(os.path.join(WORK, "run1.log"), "wb")
p = track(subprocess.Popen([SLUICE, "run", "-c", cfg], stdout=subprocess.PIPE, stderr=errlog))
first = [p.stdout.readline().decode() for _ in range(3)]
p.stdout.close()
rc = p.wait(timeout=120)  # a bound for a hang, not a time asserted
text = open(os.path.join(WORK, "run1.log"), "rb").read().decode()
log("first run: exit", rc, "after", first)
assert rc == 1, (rc, text[-2000:])
assert "standard output was closed by its reader: stopping" in text, text[-2000:]
assert first == ["line 0\n", "line 1\n", "line 2\n"], first

# The next start writes what the first could not, to the last line.
seen = read_run_to_last(cfg, os.path.join(WORK, "run2.log"), N - 1)
# what it wrote is a run of the file's lines up to the end, in order
assert seen == list(range(seen[0], N)) and seen[0] > 2, (seen[:3], len(seen))
log("ok: the second run wrote lines %d..%d" % (seen[0], N - 1))
