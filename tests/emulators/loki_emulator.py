#!/usr/bin/python3
"""loki_emulator.py - Grafana Loki's push API (POST /loki/api/v1/push) for tests, holding
requests to what Loki 3.x enforces, with its error texts. Standard library only: the
snappy block decompressor and the protobuf reader are written here (strict: a wire type
that does not match push.proto, a truncated field or a bad snappy copy is a 400).

What it enforces, like Loki:
  - Content-Type application/x-protobuf (body: one raw snappy block, not the framed format)
    or application/json (optionally Content-Encoding: gzip); anything else is 415.
  - Stream labels parse as a Loki label set: {name="value", ...}, names
    [a-zA-Z_][a-zA-Z0-9_]*, Go string escapes in values, no duplicate, at least one label.
  - Per stream (tenant + labels): with unordered writes off (the default here, Loki's
    `unordered_writes: false`), an entry older than the stream's newest is refused with
    "entry out of order"; one equal in time and line to the newest is dropped silently as
    a duplicate. --unordered: Loki 3's default instead: refused only when older than the
    newest minus --max-behind-s ("entry too far behind"), exact duplicates dropped.
  - reject_old_samples: an entry older than now - --reject-old-s is refused ("has timestamp
    too old"); creation_grace_period: one newer than now + 10 minutes too ("too new").
  - Loki 3's default limits, with the distributor's texts: a line over max_line_size
    (256 KB), a stream with more than 15 label names (max_label_names_per_series;
    service_name not counted), a label name over 1024 bytes or a value over 2048, an entry
    with structured metadata over 64 KB or 128 entries. --no-structured-metadata (a Loki
    whose schema is older than v13, run with allow_structured_metadata: false): an entry
    with structured metadata is refused ("includes structured metadata, but this feature
    is disallowed"); control {"allow_structured_metadata": true} lifts it.
  - Valid entries of a request are stored even when others are refused; the answer is then
    400 with the reasons (as Loki does).
  - --multi-tenant: X-Scope-OrgID is required (401 "no org id"); --basic user:pass and
    --bearer TOKEN: 401 without them.
  --tls-cert/--tls-key: serve HTTPS.
  --count-only (benchmarks): every push is accepted without being read; /stats counts bytes.

Control: POST /control {"fail": N, "status": 429, "retry_after": 1} fails the next N pushes;
{"delay_ms": D} waits D ms before each push; {"max_body": BYTES}: a push whose body (as
received) is larger is answered 413 before Loki reads it, as a proxy in front of Loki with a
body limit (nginx's client_max_body_size) does, 0 = no limit; {"reset": true}. GET /stats:
counters (status_413, body_bytes: the push bodies as received) and entries per stream.
GET /entries?since=N: the stored entries from the N-th on, as JSON lines
{"tenant","stream","labels","ts","line","metadata","encoding"}. Prints the port on its first
stdout line.
"""
import argparse
import base64
import gzip
import json
import re
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class BadRequest(Exception):
    pass


# ---- snappy (raw block format) --------------------------------------------------------------

def uvarint(b, i, limit=10):
    v = sh = 0
    for _ in range(limit):
        if i >= len(b):
            raise BadRequest("truncated varint")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << sh
        if not c & 0x80:
            return v, i
        sh += 7
    raise BadRequest("varint too long")


def snappy_decompress(b):
    n, i = uvarint(b, 0, 5)
    out = bytearray()
    while i < len(b):
        tag = b[i]
        i += 1
        kind = tag & 3
        if kind == 0:  # literal
            ln = tag >> 2
            if ln >= 60:
                k = ln - 59
                if i + k > len(b):
                    raise BadRequest("snappy: truncated literal length")
                ln = int.from_bytes(b[i:i + k], "little")
                i += k
            ln += 1
            if i + ln > len(b):
                raise BadRequest("snappy: truncated literal")
            out += b[i:i + ln]
            i += ln
            continue
        if kind == 1:
            if i + 1 > len(b):
                raise BadRequest("snappy: truncated copy")
            ln = 4 + ((tag >> 2) & 7)
            off = ((tag >> 5) << 8) | b[i]
            i += 1
        else:
            k = 2 if kind == 2 else 4
            if i + k > len(b):
                raise BadRequest("snappy: truncated copy")
            ln = (tag >> 2) + 1
            off = int.from_bytes(b[i:i + k], "little")
            i += k
        if off == 0 or off > len(out):
            raise BadRequest("snappy: bad copy offset")
        for _ in range(ln):  # may overlap its own output
            out.append(out[-off])
        if len(out) > n:
            raise BadRequest("snappy: longer than declared")
    if len(out) != n:
        raise BadRequest("snappy: %d bytes, %d declared" % (len(out), n))
    return bytes(out)


# ---- protobuf (logproto.PushRequest) ----------------------------------------------------------

def fields(b):
    """Yields (number, wire type, value) of one message; strict about truncation."""
    i = 0
    while i < len(b):
        tag, i = uvarint(b, i)
        num, wt = tag >> 3, tag & 7
        if num == 0:
            raise BadRequest("proto: field number 0")
        if wt == 0:
            v, i = uvarint(b, i)
        elif wt == 2:
            ln, i = uvarint(b, i)
            if i + ln > len(b):
                raise BadRequest("proto: truncated field %d" % num)
            v = b[i:i + ln]
            i += ln
        elif wt == 1:
            if i + 8 > len(b):
                raise BadRequest("proto: truncated fixed64")
            v = b[i:i + 8]
            i += 8
        elif wt == 5:
            if i + 4 > len(b):
                raise BadRequest("proto: truncated fixed32")
            v = b[i:i + 4]
            i += 4
        else:
            raise BadRequest("proto: wire type %d" % wt)
        yield num, wt, v


def expect(num, wt, want, where):
    if wt != want:
        raise BadRequest("proto: %s field %d has wire type %d, want %d" % (where, num, wt, want))


def utf8(b, where):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("proto: %s is not valid UTF-8" % where)


def decode_push(b):
    streams = []
    for num, wt, v in fields(b):
        if num == 1:
            expect(num, wt, 2, "PushRequest")
            labels, entries = None, []
            for n2, w2, v2 in fields(v):
                if n2 == 1:
                    expect(n2, w2, 2, "StreamAdapter")
                    labels = utf8(v2, "labels")
                elif n2 == 2:
                    expect(n2, w2, 2, "StreamAdapter")
                    entries.append(decode_entry(v2))
                elif n2 == 3:
                    expect(n2, w2, 0, "StreamAdapter")
                else:
                    raise BadRequest("proto: StreamAdapter field %d" % n2)
            streams.append((labels or "", entries))
        elif num == 2:
            expect(num, wt, 2, "PushRequest")
        else:
            raise BadRequest("proto: PushRequest field %d" % num)
    return streams


def decode_entry(b):
    ts, line, md = None, "", {}
    for num, wt, v in fields(b):
        if num == 1:
            expect(num, wt, 2, "EntryAdapter")
            sec = nsec = 0
            for n2, w2, v2 in fields(v):
                expect(n2, w2, 0, "Timestamp")
                if n2 == 1:
                    sec = v2 - (1 << 64) if v2 >= 1 << 63 else v2
                elif n2 == 2:
                    nsec = v2
                    if nsec >= 10 ** 9:
                        raise BadRequest("proto: nanos out of range")
                else:
                    raise BadRequest("proto: Timestamp field %d" % n2)
            ts = sec * 10 ** 9 + nsec
        elif num == 2:
            expect(num, wt, 2, "EntryAdapter")
            line = v.decode("utf-8", errors="replace")
        elif num == 3:
            expect(num, wt, 2, "EntryAdapter")
            name = value = ""
            for n2, w2, v2 in fields(v):
                expect(n2, w2, 2, "LabelPairAdapter")
                if n2 == 1:
                    name = utf8(v2, "metadata name")
                elif n2 == 2:
                    value = utf8(v2, "metadata value")
                else:
                    raise BadRequest("proto: LabelPairAdapter field %d" % n2)
            md[name] = value
        else:
            raise BadRequest("proto: EntryAdapter field %d" % num)
    if ts is None:
        raise BadRequest("entry without timestamp")
    return ts, line, md


# ---- labels -----------------------------------------------------------------------------------

NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
          "\\": "\\", '"': '"'}


def go_unquote(s, i):
    """Reads a Go double-quoted string starting at s[i] == '"'; returns (value, next i)."""
    out = bytearray()
    i += 1
    while True:
        if i >= len(s):
            raise BadRequest("unterminated label value")
        c = s[i]
        if c == '"':
            return out.decode("utf-8", errors="replace"), i + 1
        if c == "\n":
            raise BadRequest("newline in label value")
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        if i + 1 >= len(s):
            raise BadRequest("bad escape")
        e = s[i + 1]
        if e in SIMPLE:
            out += SIMPLE[e].encode()
            i += 2
        elif e == "x":
            h = s[i + 2:i + 4]
            if not re.fullmatch(r"[0-9a-fA-F]{2}", h):
                raise BadRequest("bad \\x escape")
            out.append(int(h, 16))
            i += 4
        elif e in "uU":
            k = 4 if e == "u" else 8
            h = s[i + 2:i + 2 + k]
            if not re.fullmatch(r"[0-9a-fA-F]{%d}" % k, h):
                raise BadRequest("bad \\%s escape" % e)
            out += chr(int(h, 16)).encode("utf-8", errors="replace")
            i += 2 + k
        elif e in "01234567":
            o = s[i + 1:i + 4]
            if not re.fullmatch(r"[0-7]{3}", o) or int(o, 8) > 255:
                raise BadRequest("bad octal escape")
            out.append(int(o, 8))
            i += 4
        else:
            raise BadRequest("bad escape \\%s" % e)


def parse_labels(s):
    s = s.strip()
    if not s.startswith("{") or not s.endswith("}"):
        raise BadRequest("error parsing labels %r: not a label set" % s)
    i, out = 1, {}
    while True:
        while i < len(s) and s[i] == " ":
            i += 1
        if s[i] == "}" and i == len(s) - 1:
            break
        m = NAME.match(s, i)
        if not m:
            raise BadRequest("error parsing labels %r: bad label name at %d" % (s, i))
        name = m.group(0)
        i = m.end()
        if s[i:i + 1] != "=" or s[i + 1:i + 2] != '"':
            raise BadRequest("error parsing labels %r: expected =\" at %d" % (s, i))
        value, i = go_unquote(s, i + 1)
        if name in out:
            raise BadRequest("error parsing labels %r: duplicate label name %s" % (s, name))
        out[name] = value
        while i < len(s) and s[i] == " ":
            i += 1
        if s[i] == ",":
            i += 1
        elif s[i] == "}" and i == len(s) - 1:
            break
        else:
            raise BadRequest("error parsing labels %r: expected , or } at %d" % (s, i))
    if not out:
        raise BadRequest("error at least one label pair is required per stream")
    return out


def canon(labels):
    return "{" + ", ".join('%s="%s"' % (k, labels[k].replace("\\", "\\\\").replace('"', '\\"')
                                        .replace("\n", "\\n")) for k in sorted(labels)) + "}"


def decode_json(b):
    try:
        doc = json.loads(b)
    except ValueError as e:
        raise BadRequest("invalid JSON: %s" % e)
    if not isinstance(doc, dict) or not isinstance(doc.get("streams"), list):
        raise BadRequest("JSON: streams missing")
    streams = []
    for st in doc["streams"]:
        lab = st.get("stream") if isinstance(st, dict) else None
        vals = st.get("values") if isinstance(st, dict) else None
        if not isinstance(lab, dict) or not isinstance(vals, list):
            raise BadRequest("JSON: stream without stream/values")
        for k, v in lab.items():
            if not NAME.fullmatch(k) or not isinstance(v, str):
                raise BadRequest("JSON: bad label %r" % k)
        if not lab:
            raise BadRequest("error at least one label pair is required per stream")
        entries = []
        for v in vals:
            if not isinstance(v, list) or len(v) not in (2, 3) or not isinstance(v[0], str) \
                    or not v[0].isdigit() or not isinstance(v[1], str):
                raise BadRequest("JSON: bad value %r" % (v,))
            md = v[2] if len(v) == 3 else {}
            if not isinstance(md, dict) or not all(isinstance(x, str) for x in md.values()):
                raise BadRequest("JSON: bad structured metadata %r" % (md,))
            entries.append((int(v[0]), v[1], md))
        streams.append((lab, entries))
    return streams


# what nginx answers for a body over client_max_body_size
NGINX_413 = ("<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
             "<center><h1>413 Request Entity Too Large</h1></center>\r\n"
             "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


def fmt_ts(ns):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10 ** 9)) + ".%09dZ" % (ns % 10 ** 9)


def stream_limit_error(key, lab):
    """Loki 3's default label limits (validation.go), or None."""
    n = len(lab) - ("service_name" in lab)
    if n > 15:
        return "entry for stream '%s' has %d label names; limit %d" % (key, n, 15)
    for k, v in lab.items():
        if len(k.encode()) > 1024:
            return "stream '%s' has label name too long: '%s'" % (key, k)
        if len(v.encode()) > 2048:
            return "stream '%s' has label value too long: '%s'" % (key, v)
    return None


def entry_limit_error(key, line, md, allow_sm):
    """Loki 3's default entry limits, or None."""
    n = len(line.encode())
    if n > 256 * 1024:
        return ("Max entry size '%d' bytes exceeded for stream '%s' while adding an entry with "
                "length '%d' bytes" % (256 * 1024, key, n))
    if md and not allow_sm:
        return ("stream '%s' includes structured metadata, but this feature is disallowed. "
                "Please see `limits_config.allow_structured_metadata` or contact your Loki "
                "administrator to enable it." % key)
    size = sum(len(k.encode()) + len(v.encode()) for k, v in md.items())
    if size > 64 * 1024:
        return ("stream '%s' has structured metadata too large: '%d' bytes, limit: '%d' bytes. "
                "Please see `limits_config.max_structured_metadata_size` or contact your Loki "
                "administrator to increase it." % (key, size, 64 * 1024))
    if len(md) > 128:
        return ("stream '%s' has too many structured metadata labels: '%d', limit: '%d'. Please "
                "see `limits_config.max_structured_metadata_entries_count` or contact your "
                "Loki administrator to increase it." % (key, len(md), 128))
    return None


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.entries = []
        self.streams = {}  # (tenant, canon labels) -> {"newest": ts, "last": (ts, line), "seen": set}
        self.counts = {}
        self.fail = 0
        self.delay_ms = 0
        self.fail_status = 500
        self.retry_after = None
        self.max_body = 0
        self.allow_sm = not self.args.no_structured_metadata
        self.stats = {"requests": 0, "pushes_ok": 0, "entries": 0, "dups": 0, "refused": 0,
                      "out_of_order": 0, "too_old": 0, "bad": 0, "unauthorized": 0,
                      "injected": 0, "bad_content_type": 0, "status_413": 0, "body_bytes": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, code, body=b"", ctype="text/plain; charset=utf-8", extra=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        st = self.server.state
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        with st.lock:
            if u.path == "/stats":
                d = dict(st.stats)
                d["streams"] = {"%s|%s" % k: n for k, n in st.counts.items()}
                return self.answer(200, json.dumps(d), "application/json")
            if u.path == "/entries":
                since = int(q.get("since", ["0"])[0])
                body = "".join(json.dumps(e) + "\n" for e in st.entries[since:])
                return self.answer(200, body, "application/x-ndjson")
            if u.path == "/ready":
                return self.answer(200, "ready\n")
        self.answer(404, "404 page not found\n")

    def do_POST(self):
        st = self.server.state
        u = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        if u.path == "/control":
            c = json.loads(body or b"{}")
            with st.lock:
                if c.get("reset"):
                    st.reset()
                if "fail" in c:
                    st.fail = int(c["fail"])
                    st.fail_status = int(c.get("status", 500))
                    st.retry_after = c.get("retry_after")
                if "delay_ms" in c:
                    st.delay_ms = int(c["delay_ms"])
                if "max_body" in c:
                    st.max_body = int(c["max_body"])
                if "allow_structured_metadata" in c:
                    st.allow_sm = bool(c["allow_structured_metadata"])
            return self.answer(200, "{}", "application/json")
        if u.path != "/loki/api/v1/push":
            return self.answer(404, "404 page not found\n")
        a = st.args
        with st.lock:
            st.stats["requests"] += 1
            st.stats["body_bytes"] += len(body)
            delay = st.delay_ms
            if st.max_body and len(body) > st.max_body:
                st.stats["status_413"] += 1
                return self.answer(413, NGINX_413, "text/html")
        if delay:
            time.sleep(delay / 1000.0)  # a slow Loki: requests stay in flight longer
        tenant = self.headers.get("X-Scope-OrgID") or ""
        auth = self.headers.get("Authorization") or ""
        if a.bearer and auth != "Bearer " + a.bearer or \
                a.basic and auth != "Basic " + base64.b64encode(a.basic.encode()).decode():
            with st.lock:
                st.stats["unauthorized"] += 1
            return self.answer(401, "Unauthorized\n")
        if a.multi_tenant and not tenant:
            with st.lock:
                st.stats["unauthorized"] += 1
            return self.answer(401, "no org id\n")
        with st.lock:
            if st.fail > 0:
                st.fail -= 1
                st.stats["injected"] += 1
                extra = {"Retry-After": str(st.retry_after)} if st.retry_after is not None else None
                code = st.fail_status
                return self.answer(code, "injected failure %d\n" % code, extra=extra)
        if a.count_only:  # benchmarks: accepted unread, so sluice is what is measured
            with st.lock:
                st.stats["pushes_ok"] += 1
                st.stats["wire_bytes"] = st.stats.get("wire_bytes", 0) + len(body)
            return self.answer(204)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            if ctype == "application/json":
                if (self.headers.get("Content-Encoding") or "") == "gzip":
                    body = gzip.decompress(body)
                streams = [(canon(lab), lab, ents) for lab, ents in decode_json(body)]
                enc = "json"
            elif ctype == "application/x-protobuf":
                streams = []
                for text, ents in decode_push(snappy_decompress(body)):
                    lab = parse_labels(text)
                    streams.append((canon(lab), lab, ents))
                enc = "protobuf"
            else:
                with st.lock:
                    st.stats["bad_content_type"] += 1
                return self.answer(415, "unsupported Content-Type %r\n" % ctype)
        except BadRequest as e:
            with st.lock:
                st.stats["bad"] += 1
            return self.answer(400, str(e) + "\n")
        errors = self.store(tenant, streams, enc)
        if errors:
            return self.answer(400, errors)
        with st.lock:
            st.stats["pushes_ok"] += 1
        self.answer(204)

    def store(self, tenant, streams, enc):
        st, a = self.server.state, self.server.state.args
        now = time.time_ns()
        msgs = []
        with st.lock:
            for key, lab, ents in streams:
                s = st.streams.setdefault((tenant, key), {"newest": None, "last": None, "seen": set()})
                failed = []
                bad = stream_limit_error(key, lab)
                if bad:  # the distributor refuses every entry of the stream
                    st.stats["refused"] += len(ents)
                    msgs.append(bad)
                    continue
                for ts, line, md in ents:
                    bad = entry_limit_error(key, line, md, st.allow_sm)
                    if bad:
                        st.stats["limits"] = st.stats.get("limits", 0) + 1
                        failed.append(bad)
                        continue
                    if ts > now + 600 * 10 ** 9:
                        failed.append("entry for stream '%s' has timestamp too new: %s"
                                      % (key, fmt_ts(ts)))
                        continue
                    if ts < now - a.reject_old_s * 10 ** 9:
                        st.stats["too_old"] += 1
                        failed.append("entry for stream '%s' has timestamp too old: %s, oldest "
                                      "acceptable timestamp is: %s" % (key, fmt_ts(ts), fmt_ts(now - a.reject_old_s * 10 ** 9)))
                        continue
                    if (ts, line) in s["seen"] if a.unordered else s["last"] == (ts, line):
                        st.stats["dups"] += 1  # Loki drops an exact duplicate silently
                        continue
                    if s["newest"] is not None:
                        if a.unordered and ts < s["newest"] - a.max_behind_s * 10 ** 9:
                            st.stats["out_of_order"] += 1
                            failed.append("entry with timestamp %s ignored, reason: 'entry too far behind, "
                                          "entry timestamp is: %s, oldest acceptable timestamp is: %s'"
                                          % (fmt_ts(ts), fmt_ts(ts), fmt_ts(s["newest"] - a.max_behind_s * 10 ** 9)))
                            continue
                        if not a.unordered and ts < s["newest"]:
                            st.stats["out_of_order"] += 1
                            failed.append("entry with timestamp %s ignored, reason: 'entry out of order'" % fmt_ts(ts))
                            continue
                    s["newest"] = ts if s["newest"] is None else max(ts, s["newest"])
                    s["last"] = (ts, line)
                    if a.unordered:
                        s["seen"].add((ts, line))
                    st.entries.append({"tenant": tenant, "stream": key, "labels": lab, "ts": ts,
                                       "line": line, "metadata": md, "encoding": enc})
                    st.counts[(tenant, key)] = st.counts.get((tenant, key), 0) + 1
                    st.stats["entries"] += 1
                if failed:
                    st.stats["refused"] += len(failed)
                    msgs.append(",\n".join(failed[:10]) + ",\nuser '%s', total ignored: %d out of %d for stream: %s"
                                % (tenant or "fake", len(failed), len(ents), key))
        return "\n".join(msgs)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client killed mid-request (the kill -9 tests) is not the emulator's error


class TLSServer(Server):
    """HTTPS; the handshake runs on the connection's thread, so a refused client never
    holds up the accept loop."""

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.settimeout(30)
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            return
        request.settimeout(None)
        super().finish_request(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--multi-tenant", action="store_true")
    ap.add_argument("--basic", help="user:password required")
    ap.add_argument("--bearer", help="token required")
    ap.add_argument("--unordered", action="store_true")
    ap.add_argument("--count-only", action="store_true")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--max-behind-s", type=int, default=3600)
    ap.add_argument("--reject-old-s", type=int, default=7 * 24 * 3600)
    ap.add_argument("--no-structured-metadata", action="store_true")
    args = ap.parse_args()
    srv = (TLSServer if args.tls_cert else Server)(("127.0.0.1", args.port), Handler)
    if args.tls_cert:
        srv.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        srv.ctx.load_cert_chain(args.tls_cert, args.tls_key)
    srv.state = State(args)
    print("port %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
