"""A record whose "message" is not a string (a number, an object, an array, a bool), sent
over Forward (fluent-logger) or to the http source (JSON and msgpack bodies): the message
is its JSON text, as the parse transform makes it, and the output has one "message" key.
It was kept as a field named message beside an empty (or the `log`) message, so the file
sink wrote two "message" keys and readers kept one of them. null says nothing."""
import json
import os
import urllib.request

import msgpack
from fluent import sender

from harness import Sluice, WORK, free_port, wait_until

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

records = [
    ({"message": 42, "k": "int"}, "42"),
    ({"message": {"code": 5, "text": "hi"}, "k": "obj"}, '{"code":5,"text":"hi"}'),
    ({"message": [1, "a"], "k": "arr"}, '[1,"a"]'),
    ({"message": True, "k": "bool"}, "true"),
    ({"log": "the log line", "message": 7, "k": "log first"}, "7"),
    ({"message": None, "log": "from log", "k": "null"}, "from log"),
]


def post(tag, body, ctype):
    req = urllib.request.Request("http://127.0.0.1:%d/%s" % (p_http, tag), data=body,
                                 headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert json.loads(r.read()) == {"accepted": len(records)}


fl = sender.FluentSender("fwd", host="127.0.0.1", port=p_fwd)
for rec, _ in records:
    assert fl.emit(None, rec), fl.last_error
fl.close()
post("json", json.dumps([r for r, _ in records]).encode(), "application/json")
post("msgpack", b"".join(msgpack.packb(r) for r, _ in records), "application/msgpack")


def pairs(items):
    return items  # keep every key, duplicates included


def lines():
    try:
        with open(out, "rb") as f:
            return [json.loads(x, object_pairs_hook=pairs) for x in f if x.endswith(b"\n")]
    except FileNotFoundError:
        return []


n = 3 * len(records)
wait_until(lambda: len(lines()) >= n, 60, "every record in the output")
want = {r["k"]: m for r, m in records}
got = lines()
assert len(got) == n, len(got)
for ev in got:
    keys = [k for k, _ in ev]
    d = dict(ev)
    assert keys.count("message") == 1, ev
    # JSON text: compact from msgpack, as written in a JSON body
    if d["k"] == "null":
        assert d["message"] == "from log", ev
    else:
        assert json.loads(d["message"]) == json.loads(want[d["k"]]), (d, want[d["k"]])
    if d["k"] == "log first":
        assert d["log"] == "the log line", ev
    else:
        assert "log" not in d, ev
assert sorted(dict(ev)["tag"] for ev in got) == sorted(["fwd"] * 6 + ["json"] * 6 + ["msgpack"] * 6)
assert s.stop() == 0
