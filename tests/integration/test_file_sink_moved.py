"""The file sink's output rotated by someone else, as logrotate does without copytruncate:
`out.ndjson` renamed to `out.ndjson.1` while lines flow, later `out.ndjson.1` moved away
again and a new `out.ndjson` renamed. Each time the sink opens the path again at its next
write, so the path fills anew, and every line of the input is in exactly one of the files:
none lost in a renamed file the sink kept writing to, none twice."""
import os

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
outdir = os.path.join(WORK, "out")
out = os.path.join(outdir, "out.ndjson")
app = os.path.join(logs, "app.log")

s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  out: { type: file, inputs: [in], path: "%s", batch: { max_events: 50, timeout_ms: 20 } }
""" % (WORK, free_port(), logs, out)).start()

moved = []


def total():
    return sum(len(ndjson_file(p)) for p in [out] + moved if os.path.exists(p))


def append(first, n):
    with open(app, "a") as f:
        f.write("".join("line %d\n" % i for i in range(first, first + n)))


n = 0
for rnd in range(3):
    append(n, 500)
    n += 500
    wait_until(lambda: total() >= n, 60, "%d lines written" % n)
    # the path moves away between writes; the sink has it open
    dst = os.path.join(outdir, "moved.%d" % rnd)
    os.rename(out, dst)
    moved.append(dst)
    append(n, 500)
    n += 500
    wait_until(lambda: os.path.exists(out) and total() >= n, 60,
               "the path opened again and %d lines written" % n)
    log("round", rnd, "moved", len(ndjson_file(dst)), "now at the path", len(ndjson_file(out)))
    assert len(ndjson_file(out)) > 0

got = []
for p in moved + [out]:
    got += [int(o["message"].split()[1]) for o in ndjson_file(p)]
assert sorted(got) == list(range(n)), "lost or twice: %d lines for %d" % (len(got), n)
assert s.stop() == 0
assert "moved or deleted: opening it again" in s.log_text()
log("ok: %d lines in %d files" % (n, len(moved) + 1))
