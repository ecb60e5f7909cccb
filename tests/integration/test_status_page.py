"""The live status page at /: one self-contained HTML page (no external assets) that draws
the pipeline from /api/v1/status and computes rates between polls. Headless Chromium loads
it through chromedriver's W3C HTTP API (urllib only): the component ids appear in the graph
and the table, the graph's edges follow `inputs`, and a sink's rate is nonzero and changes
between two reads. The screenshot is kept as $WORK/status_page.png."""
import base64
import json
import os
import subprocess
import urllib.request

from harness import Sluice, WORK, free_port, track, wait_until

port = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  gen: { type: demo, rate: 3000 }
transforms:
  tag: { type: add_fields, inputs: [gen], fields: { env: test } }
sinks:
  null: { type: blackhole, inputs: [tag] }
""" % (WORK, port)).start()
driver = None
try:
    # The page itself: HTML, small, nothing fetched from elsewhere.
    with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/html"), r.headers["Content-Type"]
        page = r.read().decode()
    assert 2000 < len(page) < 16384, len(page)
    for external in ("http://", "https://", "src=", "<link"):
        assert external not in page, external
    # What the page needs from the status document.
    st = s.status()
    ids = {c["id"]: c for c in st["components"]}
    assert ids["tag"]["inputs"] == ["gen"] and ids["null"]["inputs"] == ["tag"], ids
    assert "inputs" not in ids["gen"]
    assert isinstance(st["recent_errors"], list) and isinstance(ids["gen"]["counters"], dict)

    dport = free_port()
    driver = track(subprocess.Popen(["chromedriver", "--port=%d" % dport],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    base = "http://127.0.0.1:%d" % dport

    def wd(method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())["value"]

    def driver_up():
        try:
            return wd("GET", "/status")["ready"]
        except OSError:
            return False
    wait_until(driver_up, 60, "chromedriver")
    sess = wd("POST", "/session", {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
        "binary": "/usr/bin/chromium",
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--user-data-dir=" + os.path.join(WORK, "chrome"), "--window-size=1100,700"]}}}})
    sid = sess["sessionId"]
    wd("POST", "/session/%s/url" % sid, {"url": "http://127.0.0.1:%d/" % port})

    def js(expr):
        return wd("POST", "/session/%s/execute/sync" % sid, {"script": "return " + expr, "args": []})

    def rate():
        v = js("(document.querySelector('#row-null .rate')||{}).dataset ? "
               "document.querySelector('#row-null .rate').dataset.rate : ''")
        return float(v) if v else None

    wait_until(lambda: (rate() or 0) > 0, 60, "a nonzero rate on the page")
    first = rate()
    wait_until(lambda: rate() not in (None, first), 60, "the rate to change on the next poll")
    text = js("document.body.innerText")
    for cid in ("gen", "tag", "null"):
        assert js("!!document.getElementById('row-%s') && !!document.getElementById('node-%s')"
                  % (cid, cid)), cid
        assert cid in text, cid
    assert js("document.querySelectorAll('#graph path').length") == 2  # gen->tag, tag->null
    assert "ready" in text and "no reload yet" in text
    png = base64.b64decode(wd("GET", "/session/%s/screenshot" % sid))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(WORK, "status_page.png"), "wb") as f:
        f.write(png)
    wd("DELETE", "/session/%s" % sid)
finally:
    if driver:
        driver.terminate()
        driver.wait()
    assert s.stop() == 0
