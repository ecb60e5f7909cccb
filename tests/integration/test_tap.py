"""`sluice tap` and GET /api/v1/tap: the events a component outputs, as NDJSON, while the
pipeline runs unchanged. A transform's tap gives N events with its fields; a low --rate
samples and says how many it skipped; a sink can be tapped; an unknown component is a
clear error naming the real ones; a second client on the same component is refused; and
every event still reaches the sink exactly once (counted in and out)."""
import json
import os
import subprocess
import urllib.request

from harness import SLUICE, Sluice, WORK, free_port, wait_until

TOTAL = 40000  # 20 s at 2000/s: the taps below run while events flow
port = free_port()
out_path = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  gen: { type: demo, rate: 2000, count: %d }
transforms:
  tag: { type: add_fields, inputs: [gen], fields: { env: tapped } }
sinks:
  out: { type: file, inputs: [tag], path: "%s" }
""" % (WORK, port, TOTAL, out_path)).start()
api = "127.0.0.1:%d" % port


def tap(*args):
    return subprocess.run([SLUICE, "tap", *args, "--api", api], capture_output=True, text=True,
                          timeout=120)


try:
    wait_until(lambda: s.component("out")["sent_events"] > 0, 60, "events through the pipeline")

    r = tap("tag", "-n", "50", "--rate", "100000")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 50, (len(lines), r.stdout[-500:])
    for l in lines:
        ev = json.loads(l)
        assert ev["env"] == "tapped" and ev["message"] and "timestamp" in ev, ev

    # Sampled: at most 2 a second, and the skipped ones counted on stderr.
    r = tap("gen", "-n", "4", "--rate", "2")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 4, r.stdout
    assert all("env" not in json.loads(l) for l in r.stdout.splitlines())  # before the transform
    assert "events skipped (over --rate 2/s)" in r.stderr, r.stderr

    r = tap("out", "-n", "5", "--rate", "100000")  # a sink: what it takes in
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 5, (r.returncode, r.stderr)

    r = tap("nope", "-n", "1")
    assert r.returncode == 1 and r.stdout == "", (r.returncode, r.stdout)
    assert "no component 'nope' (components: gen, tag, out)" in r.stderr, repr(r.stderr)

    # The endpoint itself: chunked NDJSON; a bad request; one client per component.
    with urllib.request.urlopen("http://%s/api/v1/tap?component=tag&limit=3&rate=1000" % api,
                                timeout=60) as h:
        assert h.headers["Content-Type"] == "application/x-ndjson"
        assert h.headers["Transfer-Encoding"] == "chunked"
        body = h.read().decode()
    assert len([json.loads(l) for l in body.splitlines() if l]) == 3, body
    assert s.get("/api/v1/tap")[0] == 400
    assert s.get("/api/v1/tap?component=tag&rate=0")[0] == 400
    held = urllib.request.urlopen("http://%s/api/v1/tap?component=tag&rate=1" % api, timeout=60)
    try:
        assert held.readline()  # attached: the first event came
        code, text = s.get("/api/v1/tap?component=tag&limit=1")
        assert code == 409 and "already tapped" in text, (code, text)
    finally:
        held.close()
    # Once the first client leaves (seen at its next write), the component can be tapped again.
    wait_until(lambda: tap("tag", "-n", "1").returncode == 0, 60, "the tap to be free again")

    # Nothing lost or doubled by tapping: the demo source ends after TOTAL events and
    # sluice exits once they are delivered; every one is in the sink's file once.
    assert s.component("gen")["sent_events"] < TOTAL, "the taps ran after the source ended"
    assert s.wait_exit(180) == 0
    assert "gen: emitted %d events" % TOTAL in s.log_text()
    with open(out_path) as f:
        out = [json.loads(l) for l in f]
    assert len(out) == TOTAL, len(out)
    assert all(e["env"] == "tapped" for e in out)
finally:
    assert s.stop() == 0  # already exited: its status
