"""HTTP sinks behind a proxy: with http_proxy set, requests go through the proxy (the sinks'
own client leaves proxied requests to libcurl); a host named in no_proxy is reached
directly. Both elasticsearch sinks store every event exactly once."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, append_lines, free_port, http_json, wait_until

N = 1500
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
append_lines(os.path.join(logs, "a.log"), ("proxied event %05d" % i for i in range(N)))
via = Emulator("es_emulator.py")
direct = Emulator("es_emulator.py")
proxy = Emulator("http_proxy.py")


def stats(emu):
    return http_json("http://127.0.0.1:%d/_emulator/stats" % emu.port)


def messages(emu):
    with urllib.request.urlopen("http://127.0.0.1:%d/_emulator/docs" % emu.port, timeout=10) as r:
        return sorted(json.loads(l)["_source"]["message"] for l in r.read().decode().splitlines() if l.strip())


cfg = """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  via:
    type: elasticsearch
    inputs: [in]
    endpoint: "http://127.0.0.1:%d"
    index: via
    batch: { max_events: 100, timeout_ms: 20 }
  direct:
    type: elasticsearch
    inputs: [in]
    endpoint: "http://localhost:%d"
    index: direct
    batch: { max_events: 100, timeout_ms: 20 }
""" % (WORK, free_port(), logs, via.port, direct.port)
env = {"http_proxy": "http://127.0.0.1:%d" % proxy.port, "no_proxy": "localhost"}
for k in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "NO_PROXY"):
    os.environ.pop(k, None)
s = Sluice(cfg, env=env).start()
try:
    wait_until(lambda: stats(via)["docs"] == N and stats(direct)["docs"] == N, 60,
               "every event in both")
    want = sorted("proxied event %05d" % i for i in range(N))
    assert messages(via) == want and messages(direct) == want
    ps = http_json("http://127.0.0.1:%d/_proxy/stats" % proxy.port)
    # every bulk request of `via` went through the proxy, none of `direct`
    assert ps["targets"].get("127.0.0.1:%d" % via.port, 0) >= stats(via)["bulk_requests"] >= 15, ps
    assert not any(t.endswith(":%d" % direct.port) for t in ps["targets"]), ps
    assert stats(direct)["bulk_requests"] >= 15
finally:
    s.stop()
    for e in (via, direct, proxy):
        e.stop()
