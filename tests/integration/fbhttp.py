"""fbhttp.py - what Fluent Bit's `http` output (plugins/out_http/http.c) puts on the wire,
rebuilt from its source for tests: the same bodies, headers and answers it expects.

- format msgpack (its default): the chunk as Fluent Bit holds it, posted as is. Since
  Fluent Bit 2.1 a record is [[EventTime, metadata], record]; records of a group (logs from
  its OTLP input) sit between markers whose time is -1 (start) and -2 (end) seconds.
  Content-Type: application/msgpack.
- format json: one array of objects; json_lines: objects each followed by a newline
  (Content-Type application/x-ndjson); json_stream: objects back to back with nothing
  between them (Content-Type application/json, as json). Each object starts with the date
  key (json_date_key, default "date") in json_date_format: double (default; printed with
  "%.16g"), epoch, epoch_ms, iso8601 ("%Y-%m-%dT%H:%M:%S.%06luZ") or java_sql_timestamp
  ("%Y-%m-%d %H:%M:%S.%06lu"); a record with metadata adds "__internal__":
  {"group_attributes": ..., "log_metadata": ...} (src/flb_pack.c
  flb_pack_msgpack_to_json_format).
- compress gzip: the body gzipped with Content-Encoding: gzip.
- User-Agent: Fluent-Bit. A 200..205 answer is success; another 4xx than 408/429 drops the
  chunk ("will not be retried"); anything else is retried.
"""
import gzip
import http.client
import json
import struct
import time

import msgpack

MIME = {"msgpack": "application/msgpack", "json": "application/json",
        "json_stream": "application/json", "json_lines": "application/x-ndjson"}


def event_time(sec, nsec):
    return msgpack.ExtType(0, struct.pack(">II", sec & 0xffffffff, nsec))


class Record:
    """One log record as Fluent Bit holds it: time in ns, metadata map, body map."""

    def __init__(self, ts_ns, body, metadata=None):
        self.ts_ns, self.body, self.metadata = ts_ns, body, metadata or {}


def chunk_v2(records, group=None):
    """Fluent Bit >= 2.1 chunk bytes. group=(metadata, attributes) wraps the records in
    group start/end markers."""
    out = b""
    if group:
        out += msgpack.packb([[event_time(-1, 0), group[0]], group[1]], use_bin_type=True)
    for r in records:
        out += msgpack.packb([[event_time(r.ts_ns // 10**9, r.ts_ns % 10**9), r.metadata], r.body],
                             use_bin_type=True)
    if group:
        out += msgpack.packb([[event_time(-2, 0), {}], {}], use_bin_type=True)
    return out


def date_json(ts_ns, fmt):
    """The date key's value as Fluent Bit prints it (JSON text)."""
    sec, nsec = divmod(ts_ns, 10**9)
    if fmt == "double":
        return "%.16g" % (ts_ns / 1e9)
    if fmt == "epoch":
        return "%d" % sec
    if fmt == "epoch_ms":
        return "%d" % (ts_ns // 10**6)
    base = time.strftime("%Y-%m-%dT%H:%M:%S" if fmt == "iso8601" else "%Y-%m-%d %H:%M:%S",
                         time.gmtime(sec))
    return '"%s.%06d%s"' % (base, nsec // 1000, "Z" if fmt == "iso8601" else "")


def date_ns(ts_ns, fmt):
    """The time a receiver reading the date key exactly gets back."""
    if fmt == "double":
        whole, _, frac = date_json(ts_ns, fmt).partition(".")
        return int(whole) * 10**9 + int((frac + "000000000")[:9])
    if fmt == "epoch":
        return ts_ns // 10**9 * 10**9
    if fmt == "epoch_ms":
        return ts_ns // 10**6 * 10**6
    return ts_ns // 1000 * 1000


def json_object(r, date_key="date", date_format="double", group_attributes=None):
    """One record as flb_pack_msgpack_to_json_format writes it: the date key first, then
    __internal__ when there is metadata, then the record."""
    parts = []
    if date_key:
        parts.append("%s:%s" % (json.dumps(date_key), date_json(r.ts_ns, date_format)))
    if r.metadata or group_attributes:
        parts.append('"__internal__":' + json.dumps(
            {"group_attributes": group_attributes or {}, "log_metadata": r.metadata},
            separators=(",", ":")))
    for k, v in r.body.items():
        parts.append("%s:%s" % (json.dumps(k), json.dumps(v, separators=(",", ":"))))
    return "{" + ",".join(parts) + "}"


def body(records, fmt, date_key="date", date_format="double", group=None):
    if fmt == "msgpack":
        return chunk_v2(records, group)
    objs = [json_object(r, date_key, date_format, group[1] if group else None).encode()
            for r in records]
    if fmt == "json":
        return b"[" + b",".join(objs) + b"]"
    if fmt == "json_lines":
        return b"".join(o + b"\n" for o in objs)
    if fmt == "json_stream":
        return b"".join(objs)
    raise ValueError(fmt)


def post(port, uri, data, fmt, gzip_on=False, host="127.0.0.1"):
    """One flush. Returns (status, Fluent Bit's verdict: ok / retry / drop)."""
    headers = {"Content-Type": MIME[fmt], "User-Agent": "Fluent-Bit"}
    if gzip_on:
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    c = http.client.HTTPConnection(host, port, timeout=30)
    try:
        c.request("POST", uri, body=data, headers=headers)
        r = c.getresponse()
        r.read()
        st = r.status
    finally:
        c.close()
    if 200 <= st <= 205:
        return st, "ok"
    if 400 <= st < 500 and st not in (408, 429):
        return st, "drop"
    return st, "retry"
