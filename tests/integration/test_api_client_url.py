"""top, tap and reload take the API as the log names it: sluice logs "API listening on
http://127.0.0.1:PORT", and that URL given to --api was refused with "IPv6 hosts need
brackets" (and with a trailing / as "port must be a number"). http://HOST:PORT[/] is
HOST:PORT now; https:// and a path are refused saying why."""
import os
import re
import subprocess

from harness import SLUICE, Sluice, WORK, free_port, wait_until

port = free_port()
s = Sluice("data_dir: %s\napi: {address: '127.0.0.1:%d'}\n"
           "sources: {gen: {type: demo, rate: 200}}\n"
           "sinks: {out: {type: blackhole, inputs: [gen]}}\n"
           % (os.path.join(WORK, "data"), port)).start()


def sluice(*args):
    return subprocess.run([SLUICE] + list(args), capture_output=True, text=True, timeout=60)


try:
    wait_until(lambda: "API listening on http://" in s.log_text(), 30, "the API's log line")
    url = re.search(r"API listening on (http://\S+)", s.log_text()).group(1)
    assert url == "http://127.0.0.1:%d" % port, url
    for api in (url, url + "/"):
        r = sluice("top", "--once", "--interval", "100", "--api", api)
        assert r.returncode == 0 and re.search(r"^out\s", r.stdout, re.M), (api, r)
        r = sluice("tap", "gen", "-n", "1", "--api=" + api)
        assert r.returncode == 0 and r.stdout.count("\n") == 1, (api, r)
        r = sluice("reload", "--api", api)
        assert r.returncode == 0 and '"reloaded":true' in r.stdout, (api, r)
    r = sluice("top", "--once", "--api", "https://127.0.0.1:%d" % port)
    assert r.returncode == 2 and "plain HTTP" in r.stderr, r
    r = sluice("top", "--once", "--api", url + "/api/v1/status")
    assert r.returncode == 2 and "without a path" in r.stderr, r
finally:
    assert s.stop() == 0
print("ok: the API's URL as logged is an --api address")
