"""`sluice tap -n COUNT` whose stream ends before COUNT events (the sluice it taps stops)
exited 0 without a word, so `sluice tap web -n 1000 > sample.ndjson` in a script took the
few events that came for the sample asked for. It now says how many of how many came and
exits 1; what came is on stdout, whole lines only."""
import json
import os
import subprocess

from harness import SLUICE, Sluice, WORK, free_port, wait_until

port = free_port()
s = Sluice("data_dir: %s\napi: {address: '127.0.0.1:%d'}\n"
           "sources: {slow: {type: demo, rate: 5}}\n"
           "sinks: {drop: {type: blackhole, inputs: [slow]}}\n"
           % (os.path.join(WORK, "data"), port)).start()
out_path = os.path.join(WORK, "tap.out")
with open(out_path, "w") as out:
    tap = subprocess.Popen([SLUICE, "tap", "slow", "-n", "1000", "--api", "127.0.0.1:%d" % port],
                           stdout=out, stderr=subprocess.PIPE, text=True)
try:
    def tapped():
        with open(out_path) as f:
            return f.read().count("\n")
    wait_until(lambda: tapped() >= 2, 60, "two events tapped")
    assert s.stop() == 0
    _, err = tap.communicate(timeout=60)
    got = tapped()
    assert tap.returncode == 1, (tap.returncode, err)
    assert "sluice tap: %d of the 1000 events asked for" % got in err, err
    with open(out_path) as f:
        for line in f:
            json.loads(line)
finally:
    if tap.poll() is None:
        tap.kill()
        tap.wait()
print("ok: a tap stream cut short is an error")
