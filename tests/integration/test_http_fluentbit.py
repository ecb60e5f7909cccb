"""http source fed as Fluent Bit's `http` output feeds it (fbhttp.py rebuilds its bodies and
headers from plugins/out_http/http.c and src/flb_pack.c): format msgpack (raw chunks of
[[EventTime, metadata], record] with group markers), json, json_lines and json_stream, with
and without gzip, and every json_date_format. Every record must arrive once with its own
time to the precision the format carries, its body and fields, its metadata as
fluentbit.metadata.* fields, and no `date` field; every flush must get an answer Fluent Bit
counts as success (a 400 would drop the chunk for good)."""
import os

from fbhttp import Record, body, date_ns, post
from harness import Sluice, WORK, free_port, ndjson_file, wait_until

api, port = free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  fb: { type: http, address: "127.0.0.1:%d" }
sinks:
  out: { type: file, inputs: [fb], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, port, out)).start()

CASES = [  # format, gzip, json_date_format, wrapped in a group
    ("msgpack", False, None, False),
    ("msgpack", True, None, True),
    ("json", False, "double", False),
    ("json", True, "double", True),
    ("json_lines", False, "double", False),
    ("json_lines", True, "iso8601", False),
    ("json_lines", False, "epoch", False),
    ("json_lines", False, "epoch_ms", False),
    ("json_lines", False, "java_sql_timestamp", False),
    ("json_stream", False, "double", False),
    ("json_stream", True, "double", True),
]
K = 40
BASE = 1733300000 * 10**9
expected = {}
for c, (fmt, gz, datefmt, grouped) in enumerate(CASES):
    recs = []
    for i in range(K):
        ts = BASE + c * 10**10 + i * 1234567891 + 7
        meta = {"otlp": {"severity_number": 9}, "k": "v%d" % i} if i % 3 == 0 else {}
        recs.append(Record(ts, {"log": "c%d-%d" % (c, i), "n": i, "nested": {"a": [i, "x"]}}, meta))
        expected["c%d-%d" % (c, i)] = (ts if fmt == "msgpack" else date_ns(ts, datefmt), meta, c, i)
    group = ({"schema": "otlp", "resource_id": 0}, {"resource": {"service.name": "api"}}) if grouped else None
    data = body(recs, fmt, date_format=datefmt or "double", group=group)
    st, verdict = post(port, "/fb.case%d" % c, data, fmt, gzip_on=gz)
    assert verdict == "ok", (CASES[c], st)


def outputs():
    return ndjson_file(out)  # complete lines: sluice may be writing the last


def ns(rfc3339):
    import calendar
    import time
    whole, _, rest = rfc3339.partition(".")
    frac = rest.rstrip("Z")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) * 10**9 + int((frac + "0" * 9)[:9])


try:
    wait_until(lambda: len(outputs()) >= len(expected), 30, "every record written")
    got = outputs()
    assert len(got) == len(expected), (len(got), len(expected))
    seen = set()
    for e in got:
        m = e["message"]
        assert m in expected and m not in seen, m
        seen.add(m)
        ts, meta, c, i = expected[m]
        assert ns(e["timestamp"]) == ts, (CASES[c], m, e["timestamp"], ts)
        assert e["tag"] == "fb.case%d" % c, e
        assert e["n"] == i and e["nested"] == {"a": [i, "x"]}, e
        assert "date" not in e and "__internal__" not in e, e
        if meta:
            assert e["fluentbit.metadata.otlp"] == {"severity_number": 9}, e
            assert e["fluentbit.metadata.k"] == meta["k"], e
        else:
            assert not [k for k in e if k.startswith("fluentbit.metadata.")], e
    assert (s.metric("sluice_component_errors_total", component_id="fb", reason="parse") or 0) == 0
    assert s.stop() == 0
finally:
    s.kill9()
