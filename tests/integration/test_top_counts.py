"""`sluice top`'s IN and OUT columns are counts of events: five events read and sent show as
5, as the status page and /api/v1/status say, not as "5.0" (a count written like a rate,
or a version). Large counts keep their k, M and G."""
import os
import subprocess

from harness import SLUICE, Sluice, WORK, free_port, wait_until

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    f.write("".join("line %d\n" % i for i in range(5)))
port = free_port()
s = Sluice("data_dir: %s\napi: {address: '127.0.0.1:%d'}\n"
           "sources: {in: {type: file, include: ['%s/*.log']}}\n"
           "sinks: {out: {type: blackhole, inputs: [in]}}\n"
           % (os.path.join(WORK, "data"), port, logs)).start()
try:
    wait_until(lambda: s.component("out")["sent_events"] == 5, 60, "the five lines sent")
    r = subprocess.run([SLUICE, "top", "--once", "--interval", "100", "--api",
                        "127.0.0.1:%d" % port], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = {l.split()[0]: l.split() for l in r.stdout.splitlines()[3:] if l.strip()}
    for cid in ("in", "out"):
        # ID KIND TYPE EV/S IN OUT ...
        assert rows[cid][4:6] == ["5", "5"], r.stdout
finally:
    assert s.stop() == 0
print("ok: top shows counts as whole numbers")
