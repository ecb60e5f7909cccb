"""http source as Fluentd's in_http takes requests (the Fluentd aggregator's drop-in serves
it on 8888): `curl -d 'json={...}'` (a form field json=, or msgpack=, percent-encoded or
not, one record or an array), `time=` for the event time, and the path as the tag with
its slashes as dots (/app/web is app.web, which a route on app.** takes). The form was
read as a JSON body (400: the records were refused) and the tag was app/web, which no
route pattern matched. A form without json= or msgpack= is a 400, as in Fluentd; a JSON
body that curl -d labels a form is taken as before."""
import json
import os
import subprocess
import urllib.parse

import msgpack

from harness import Sluice, WORK, free_port, ndjson_file, wait_until

api, port = free_port(), free_port()
out, other = os.path.join(WORK, "app.ndjson"), os.path.join(WORK, "other.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  web: { type: http, address: "127.0.0.1:%d" }
transforms:
  app:  { type: route, inputs: [web], match: ["app.**"] }
  rest: { type: route, inputs: [web], match: ["app.**"], invert: true }
sinks:
  app_out: { type: file, inputs: [app], path: "%s", batch: { timeout_ms: 20 } }
  other_out: { type: file, inputs: [rest], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, port, out, other)).start()


def curl(path, *args):
    r = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-X", "POST"] +
                       list(args) + ["http://127.0.0.1:%d%s" % (port, path)],
                       capture_output=True, timeout=60, check=True)
    body, code = r.stdout.decode().rsplit("\n", 1)
    return int(code), body


def ok(n, path, *args):
    code, body = curl(path, *args)
    assert (code, json.loads(body)) == (200, {"accepted": n}), (path, code, body)


# Fluentd's own example, and its variants.
ok(1, "/app/login", "-d", 'json={"action":"login","user":2}')
ok(1, "/app/enc/", "--data-urlencode", 'json={"message":"a & b + c = d"}', "-d", "time=1700000000")
ok(2, "/app.batch", "--data-urlencode", 'json=[{"message":"b1"},{"message":"b2"}]')
mp = "msgpack=" + urllib.parse.quote_from_bytes(msgpack.packb({"message": "mp form", "n": 7}))
ok(1, "/app/mp", "--data-binary", mp)
ok(1, "/debug.test", "-d", 'json={"message":"not app"}')
# curl -d with a JSON body labels it a form: still JSON, '&' and 'json=' inside included.
ok(1, "/app/plain", "-d", '{"message":"x?a=1&json=2"}')
code, body = curl("/app/bad", "-d", "foo=bar&baz=1")
assert code == 400 and "json=" in json.loads(body)["error"], (code, body)

wait_until(lambda: len(ndjson_file(out)) >= 6 and len(ndjson_file(other)) >= 1, 60,
           "every accepted record routed")
got = ndjson_file(out)
by_tag = {}
for e in got:
    by_tag.setdefault(e["tag"], []).append(e)
assert sorted(by_tag) == ["app.batch", "app.enc", "app.login", "app.mp", "app.plain"], by_tag
assert by_tag["app.login"][0]["action"] == "login" and by_tag["app.login"][0]["user"] == 2
enc = by_tag["app.enc"][0]
assert enc["message"] == "a & b + c = d" and enc["timestamp"] == "2023-11-14T22:13:20.000000000Z", enc
assert [e["message"] for e in by_tag["app.batch"]] == ["b1", "b2"]
assert by_tag["app.mp"][0]["message"] == "mp form" and by_tag["app.mp"][0]["n"] == 7
assert by_tag["app.plain"][0]["message"] == "x?a=1&json=2"
assert [e["tag"] for e in ndjson_file(other)] == ["debug.test"]
assert len(got) == 6
assert s.stop() == 0
