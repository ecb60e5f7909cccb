"""forward source: a record with a "tag" key of its own (Fluentd's <inject> tag_key, a
record_transformer that copied an old tag) is routed by the Forward message's tag, as
Fluentd routes it, and comes out with one "tag". The record's key was kept as a second
"tag" field ahead of the message's, so a route on app.** dropped the event (it read the
record's value) and the file sink wrote two "tag" keys."""
import json
import os

import msgpack
from fluent import sender

from fwdclient import Client
from harness import Sluice, WORK, free_port, wait_until

api, port = free_port(), free_port()
out, rest = os.path.join(WORK, "app.ndjson"), os.path.join(WORK, "rest.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d" }
transforms:
  app:   { type: route, inputs: [fwd], match: ["app.**"] }
  other: { type: route, inputs: [fwd], match: ["app.**"], invert: true }
sinks:
  app_out:  { type: file, inputs: [app], path: "%s", batch: { timeout_ms: 20 } }
  rest_out: { type: file, inputs: [other], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, port, out, rest)).start()

fl = sender.FluentSender("app.web", host="127.0.0.1", port=port)
assert fl.emit(None, {"message": "m1", "tag": "kube.var.log"}), fl.last_error
assert fl.emit(None, {"message": "m2", "tag": {"nested": ["tag"]}}), fl.last_error
fl.close()
# Forward mode with an ack: the chunk is acknowledged and its events routed by "sys.cron".
c = Client(port)
c.sock.sendall(msgpack.packb(["sys.cron", [[1700000000, {"message": "m3", "tag": "app.fake"}]],
                              {"chunk": "Y2g="}]))
assert c.read_obj() == {"ack": "Y2g="}
c.close()


def lines(path):
    try:
        with open(path, "rb") as f:
            return [json.loads(x, object_pairs_hook=list) for x in f if x.endswith(b"\n")]
    except FileNotFoundError:
        return []


wait_until(lambda: len(lines(out)) >= 2 and len(lines(rest)) >= 1, 60, "every event routed")
got = {dict(e)["message"]: e for e in lines(out) + lines(rest)}
assert sorted(got) == ["m1", "m2", "m3"], got
for msg, tag in (("m1", "app.web"), ("m2", "app.web"), ("m3", "sys.cron")):
    keys = [k for k, _ in got[msg]]
    assert keys.count("tag") == 1 and dict(got[msg])["tag"] == tag, got[msg]
assert [dict(e)["message"] for e in lines(rest)] == ["m3"]
assert len(lines(out)) == 2
assert s.stop() == 0
