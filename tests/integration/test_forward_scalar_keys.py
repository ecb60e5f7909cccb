"""A record with keys that are numbers, booleans or nil ({200: "ok"}, from a Lua filter or a
Ruby hash) is data to Fluentd's and Fluent Bit's in_forward: the forward and http sources
take it, the key as its text ("200"). The forward source closed the connection instead,
so the client sent the chunk again and again, never acknowledged (Fluentd's retries hold
every chunk behind it), and the http source refused the whole msgpack body with a 400."""
import json
import os
import urllib.request

import msgpack
from fluent import sender

from fwdclient import Client
from harness import Sluice, WORK, free_port, ndjson_file, wait_until

api, p_fwd, p_http = free_port(), free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d" }
  web: { type: http, address: "127.0.0.1:%d" }
sinks:
  out: { type: file, inputs: [fwd, web], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, p_fwd, p_http, out)).start()

rec = {"message": "codes", 200: "ok", -1: "minus", True: "yes", None: "nil",
       "nested": {404: "nf"}}
fl = sender.FluentSender("fl", host="127.0.0.1", port=p_fwd)
assert fl.emit(None, rec), fl.last_error
fl.close()
c = Client(p_fwd)
c.sock.sendall(msgpack.packb(["chunked", [[1700000000, rec]], {"chunk": "aw=="}]))
assert c.read_obj() == {"ack": "aw=="}  # acknowledged, not closed
c.close()
req = urllib.request.Request("http://127.0.0.1:%d/web" % p_http, data=msgpack.packb(rec),
                             headers={"Content-Type": "application/msgpack"})
with urllib.request.urlopen(req, timeout=30) as r:
    assert json.loads(r.read()) == {"accepted": 1}

wait_until(lambda: len(ndjson_file(out)) >= 3, 60, "every record in the output")
got = ndjson_file(out)
assert sorted(e["tag"] for e in got) == ["chunked", "fl", "web"], got
for e in got:
    assert e["message"] == "codes", e
    assert (e["200"], e["-1"], e["true"], e["null"]) == ("ok", "minus", "yes", "nil"), e
    assert e["nested"] == {"404": "nf"}, e
assert not s.metric("sluice_component_errors_total", component_id="fwd", reason="malformed")
assert s.stop() == 0
