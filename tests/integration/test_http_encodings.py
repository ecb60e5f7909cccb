"""http and otlp sources: bodies with Content-Encoding deflate (a zlib stream, as Vector's
`compression: zlib` and the OpenTelemetry Collector send it, or raw deflate), zstd (one
frame or several, compressed by the zstd program as Vector's `compression: zstd` does) and
snappy (a raw block by libsnappy, as Vector's `compression: snappy` sends it, or snappy's
framing format) are taken like gzip ones. They were answered 415, which Vector and the
Collector do not retry: the events were dropped. A truncated or garbage zstd or snappy
body is a 400, one inflating past 8 x max_body_bytes a 413, and nothing of them is kept."""
import json
import os
import subprocess
import urllib.error
import urllib.request
import zlib

from harness import Sluice, WORK, free_port, ndjson_file, snappy_block, snappy_framed, wait_until

api, p_http, p_otlp = free_port(), free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  web:  { type: http, address: "127.0.0.1:%d", max_body_bytes: 64KiB }
  otel: { type: otlp, address: "127.0.0.1:%d" }
sinks:
  out: { type: file, inputs: [web, otel], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, p_http, p_otlp, out)).start()


def post(url, body, enc, ctype="application/x-ndjson"):
    req = urllib.request.Request(url, data=body, headers={"Content-Type": ctype,
                                                          "Content-Encoding": enc})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def zstd(data):
    return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, capture_output=True,
                          check=True).stdout


def ndjson(prefix, n):
    return b"".join(b'{"message":"%s %03d"}\n' % (prefix.encode(), i) for i in range(n))


web = "http://127.0.0.1:%d/" % p_http
raw = zlib.compressobj(6, zlib.DEFLATED, -15)
cases = [
    ("zlib", zlib.compress(ndjson("zlib", 200)), "deflate", 200),
    ("raw", raw.compress(ndjson("raw", 50)) + raw.flush(), "deflate", 50),
    ("zstd", zstd(ndjson("zstd", 300)), "zstd", 300),
    ("frames", zstd(ndjson("frames", 10)) + zstd(ndjson("frames", 10)), "zstd", 20),
    ("snappy", snappy_block(ndjson("snappy", 400)), "snappy", 400),
    ("sframed", snappy_framed(ndjson("sframed", 600), chunk=4096), "snappy", 600),
    ("sstored", snappy_framed(ndjson("sstored", 30), stored=True), "snappy", 30),
]
expected = {}
for tag, body, enc, n in cases:
    code, ans = post(web + tag, body, enc)
    assert (code, json.loads(ans)) == (200, {"accepted": n}), (tag, code, ans)
    expected[tag] = n

# Refused: nothing of them is kept.
big = zstd(b'{"message":"%s"}\n' % (b"x" * (600 * 1024)))
assert len(big) < 64 * 1024
for tag, body, want in (("short", zstd(ndjson("short", 100))[:-9], 400),
                        ("garbage", b"not zstd at all", 400),
                        ("bomb", big, 413)):
    code, ans = post(web + tag, body, "zstd")
    assert code == want, (tag, code, ans)
# snappy: a block cut short, a framed chunk whose CRC does not match its data, a block
# claiming more than 8 x max_body_bytes.
sbad = bytearray(snappy_framed(ndjson("sbad", 20)))
sbad[14] ^= 1  # the first chunk's checksum
sbig = snappy_block(b'{"message":"%s"}\n' % (b"y" * (600 * 1024)))
assert len(sbig) < 64 * 1024
for tag, body, want in (("sshort", snappy_block(ndjson("sshort", 100))[:-9], 400),
                        ("scrc", bytes(sbad), 400),
                        ("sbomb", sbig, 413)):
    code, ans = post(web + tag, body, "snappy")
    assert code == want, (tag, code, ans)
code, ans = post(web + "br", b"x", "br")
assert code == 415 and b"zstd, snappy" in ans, (code, ans)

# The otlp source shares the request layer: a zstd OTLP/JSON request, as the Collector's
# otlphttp exporter sends with `compression: zstd`.
otlp = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
    {"body": {"stringValue": "otel %d" % i}} for i in range(5)]}]}]}
code, ans = post("http://127.0.0.1:%d/v1/logs" % p_otlp, zstd(json.dumps(otlp).encode()), "zstd",
                 "application/json")
assert code == 200, (code, ans)
expected["otel"] = 5

total = sum(expected.values())
wait_until(lambda: len(ndjson_file(out)) >= total, 60, "every accepted event in the output")
got = ndjson_file(out)
assert len(got) == total, len(got)
for tag, n in expected.items():
    msgs = sorted(e["message"] for e in got if e["message"].startswith(tag + " "))
    if tag == "frames":
        assert msgs == sorted(["frames %03d" % i for i in range(10)] * 2), msgs
    elif tag == "otel":
        assert msgs == ["otel %d" % i for i in range(5)], msgs
    else:
        assert msgs == ["%s %03d" % (tag, i) for i in range(n)], (tag, msgs[:3])
assert (s.metric("sluice_component_errors_total", component_id="web", reason="bad_encoding")
        or 0) == 4
assert s.stop() == 0
