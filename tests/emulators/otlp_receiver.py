#!/usr/bin/python3
"""otlp_receiver.py - an OTLP/HTTP logs receiver for tests: decodes protobuf with
python3-protobuf (the message types are built here from the public field numbers) or OTLP
JSON, checks headers and gzip, stores every log record, and fails on demand. Prints the
port on its first stdout line.

  --require-header "Name: value"   answer 401 unless the request has it (repeatable)
  --count-only                     accept without decoding (benchmarks): counts bytes only
Control with POST /control and a JSON object:
  {"fail": N, "status": 503, "retry_after": 1}  fail the next N requests with that status
  {"reject_marker": "poison"}     400 for any request whose records contain it
  {"partial": N}                  accept, but answer rejected_log_records = N (next request)
  {"delay_ms": D}                 wait D ms before handling each request (a slow consumer)
  {"reset": true}
GET /records: every stored request as {"encoding", "gzip", "headers", "query", "body"} where
body is the request as a dict (protobuf converted with MessageToDict, so both encodings
compare). The path must be /v1/logs (any query string is kept in "query").
/records?since=N: the stored requests from the N-th on (a reader polling for new ones).

OTLP JSON is held to the OpenTelemetry Collector's reader (pdata's JSON unmarshaler), not
only to proto3 JSON: traceId/spanId are hex of 16/8 bytes (not base64); intValue and the
*UnixNano times are a number or a decimal string; doubleValue is a number or a string Go's
ParseFloat reads ("NaN", "Infinity", "-Infinity") - null is refused; boolValue is a bool.
GET /stats: counters.
"""
import argparse
import base64
import gzip
import json
import sys
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

F = descriptor_pb2.FieldDescriptorProto


def build_types():
    fd = descriptor_pb2.FileDescriptorProto(name="otlp_logs_test.proto", package="otlp",
                                            syntax="proto3")

    def msg(name, fields, oneof=None):
        m = fd.message_type.add(name=name)
        if oneof:
            m.oneof_decl.add(name=oneof)
        for num, fname, ftype, label, tname, in_oneof in fields:
            f = m.field.add(name=fname, number=num, type=ftype, label=label)
            if tname:
                f.type_name = ".otlp." + tname
            if in_oneof:
                f.oneof_index = 0
        return m

    O, R = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    msg("AnyValue", [
        (1, "string_value", F.TYPE_STRING, O, None, True),
        (2, "bool_value", F.TYPE_BOOL, O, None, True),
        (3, "int_value", F.TYPE_INT64, O, None, True),
        (4, "double_value", F.TYPE_DOUBLE, O, None, True),
        (5, "array_value", F.TYPE_MESSAGE, O, "ArrayValue", True),
        (6, "kvlist_value", F.TYPE_MESSAGE, O, "KeyValueList", True),
        (7, "bytes_value", F.TYPE_BYTES, O, None, True),
    ], oneof="value")
    msg("ArrayValue", [(1, "values", F.TYPE_MESSAGE, R, "AnyValue", False)])
    msg("KeyValueList", [(1, "values", F.TYPE_MESSAGE, R, "KeyValue", False)])
    msg("KeyValue", [(1, "key", F.TYPE_STRING, O, None, False),
                     (2, "value", F.TYPE_MESSAGE, O, "AnyValue", False)])
    msg("InstrumentationScope", [(1, "name", F.TYPE_STRING, O, None, False),
                                 (2, "version", F.TYPE_STRING, O, None, False),
                                 (3, "attributes", F.TYPE_MESSAGE, R, "KeyValue", False),
                                 (4, "dropped_attributes_count", F.TYPE_UINT32, O, None, False)])
    msg("Resource", [(1, "attributes", F.TYPE_MESSAGE, R, "KeyValue", False),
                     (2, "dropped_attributes_count", F.TYPE_UINT32, O, None, False)])
    msg("LogRecord", [
        (1, "time_unix_nano", F.TYPE_FIXED64, O, None, False),
        (11, "observed_time_unix_nano", F.TYPE_FIXED64, O, None, False),
        (2, "severity_number", F.TYPE_INT32, O, None, False),
        (3, "severity_text", F.TYPE_STRING, O, None, False),
        (5, "body", F.TYPE_MESSAGE, O, "AnyValue", False),
        (6, "attributes", F.TYPE_MESSAGE, R, "KeyValue", False),
        (7, "dropped_attributes_count", F.TYPE_UINT32, O, None, False),
        (8, "flags", F.TYPE_FIXED32, O, None, False),
        (9, "trace_id", F.TYPE_BYTES, O, None, False),
        (10, "span_id", F.TYPE_BYTES, O, None, False),
        (12, "event_name", F.TYPE_STRING, O, None, False),
    ])
    msg("ScopeLogs", [(1, "scope", F.TYPE_MESSAGE, O, "InstrumentationScope", False),
                      (2, "log_records", F.TYPE_MESSAGE, R, "LogRecord", False),
                      (3, "schema_url", F.TYPE_STRING, O, None, False)])
    msg("ResourceLogs", [(1, "resource", F.TYPE_MESSAGE, O, "Resource", False),
                         (2, "scope_logs", F.TYPE_MESSAGE, R, "ScopeLogs", False),
                         (3, "schema_url", F.TYPE_STRING, O, None, False)])
    msg("ExportLogsServiceRequest", [(1, "resource_logs", F.TYPE_MESSAGE, R, "ResourceLogs", False)])
    msg("ExportLogsPartialSuccess", [(1, "rejected_log_records", F.TYPE_INT64, O, None, False),
                                     (2, "error_message", F.TYPE_STRING, O, None, False)])
    msg("ExportLogsServiceResponse", [(1, "partial_success", F.TYPE_MESSAGE, O,
                                       "ExportLogsPartialSuccess", False)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)

    def cls(name):
        d = pool.FindMessageTypeByName("otlp." + name)
        if hasattr(message_factory, "GetMessageClass"):
            return message_factory.GetMessageClass(d)
        return message_factory.MessageFactory(pool).GetPrototype(d)
    return cls("ExportLogsServiceRequest"), cls("ExportLogsServiceResponse")


Request, Response = build_types()


def to_dict(m):
    # traceId/spanId as hex, like OTLP JSON, so both encodings compare equal
    d = json_format.MessageToDict(m)
    for rl in d.get("resourceLogs", []):
        for sl in rl.get("scopeLogs", []):
            for r in sl.get("logRecords", []):
                for k in ("traceId", "spanId"):
                    if k in r:
                        r[k] = base64.b64decode(r[k]).hex()
    return d


def collector_checks(node):
    """Raises ValueError where the collector's JSON reader would refuse the value."""
    if isinstance(node, list):
        for x in node:
            collector_checks(x)
        return
    if not isinstance(node, dict):
        return
    for k, v in node.items():
        if k == "doubleValue":
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                raise ValueError("doubleValue %r: a number or a numeric string" % (v,))
            if isinstance(v, str):
                try:
                    float(v)
                except ValueError:
                    raise ValueError("doubleValue %r is not a number" % v)
        elif k in ("intValue", "timeUnixNano", "observedTimeUnixNano"):
            if isinstance(v, bool) or not (isinstance(v, int) or
                                           (isinstance(v, str) and v.lstrip("-").isdigit())):
                raise ValueError("%s %r: a number or a decimal string" % (k, v))
        elif k == "boolValue" and not isinstance(v, bool):
            raise ValueError("boolValue %r is not a bool" % (v,))
        else:
            collector_checks(v)


def nonfinite_to_str(d):
    """MessageToDict already writes NaN/Infinity as strings; nothing else to do but keep
    floats JSON-safe for /records."""
    if isinstance(d, list):
        return [nonfinite_to_str(x) for x in d]
    if isinstance(d, dict):
        return {k: nonfinite_to_str(v) for k, v in d.items()}
    if isinstance(d, float) and not math.isfinite(d):
        return "NaN" if math.isnan(d) else ("Infinity" if d > 0 else "-Infinity")
    return d


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.required = [h.split(":", 1) for h in args.require_header]
        self.count_only = args.count_only
        self.reset()

    def reset(self):
        self.requests = []
        self.fail = 0
        self.fail_status = 503
        self.retry_after = None
        self.reject_marker = ""
        self.partial = 0
        self.delay_ms = 0
        self.counts = {"requests": 0, "accepted": 0, "failed": 0, "rejected": 0, "records": 0,
                       "unauthorized": 0, "bad": 0, "wire_bytes": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, code, body=b"", ctype="application/json", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        st = self.server.state
        with st.lock:
            if self.path == "/records":
                return self.answer(200, json.dumps(st.requests).encode())
            if self.path.startswith("/records?since="):
                since = int(self.path.split("=", 1)[1])
                return self.answer(200, json.dumps(st.requests[since:]).encode())
            if self.path == "/stats":
                return self.answer(200, json.dumps(st.counts).encode())
        self.answer(404)

    def do_POST(self):
        st = self.server.state
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/control":
            c = json.loads(raw or b"{}")
            with st.lock:
                if c.get("reset"):
                    st.reset()
                if "fail" in c:
                    st.fail = c["fail"]
                    st.fail_status = c.get("status", 503)
                    st.retry_after = c.get("retry_after")
                if "reject_marker" in c:
                    st.reject_marker = c["reject_marker"]
                if "partial" in c:
                    st.partial = c["partial"]
                if "delay_ms" in c:
                    st.delay_ms = int(c["delay_ms"])
            return self.answer(200, b"{}")
        url = urlsplit(self.path)
        if url.path != "/v1/logs":
            return self.answer(404)
        if st.delay_ms:
            time.sleep(st.delay_ms / 1000.0)
        with st.lock:
            st.counts["requests"] += 1
            for k, v in st.required:
                if self.headers.get(k.strip()) != v.strip():
                    st.counts["unauthorized"] += 1
                    return self.answer(401, b'{"message":"missing header"}')
            if st.fail > 0:
                st.fail -= 1
                st.counts["failed"] += 1
                extra = {"Retry-After": str(st.retry_after)} if st.retry_after is not None else None
                return self.answer(st.fail_status, b'{"message":"failing on demand"}', extra=extra)
        gz = self.headers.get("Content-Encoding") == "gzip"
        if st.count_only:
            with st.lock:
                st.counts["accepted"] += 1
                st.counts["wire_bytes"] += len(raw)
            return self.answer(200, b"", "application/x-protobuf")
        ctype = self.headers.get("Content-Type", "")
        try:
            body = gzip.decompress(raw) if gz else raw
            if ctype == "application/x-protobuf":
                m = Request()
                m.ParseFromString(body)
                enc = "protobuf"
            elif ctype == "application/json":
                doc = json.loads(body.decode())
                collector_checks(doc)
                # OTLP JSON carries ids as hex where proto3 JSON expects base64
                for rl in doc.get("resourceLogs", []):
                    for sl in rl.get("scopeLogs", []):
                        for r in sl.get("logRecords", []):
                            for k, n in (("traceId", 16), ("spanId", 8)):
                                if k in r:
                                    b = bytes.fromhex(r[k])
                                    if len(b) != n:
                                        raise ValueError("%s of %d bytes" % (k, len(b)))
                                    r[k] = base64.b64encode(b).decode()
                m = json_format.ParseDict(doc, Request())
                enc = "json"
            else:
                raise ValueError("content type " + ctype)
            d = nonfinite_to_str(to_dict(m))
        except Exception as e:  # a bad request is the sink's bug: answer 400 and count it
            with st.lock:
                st.counts["bad"] += 1
            sys.stderr.write("otlp_receiver: bad request: %s\n" % e)
            return self.answer(400, json.dumps({"message": str(e)}).encode())
        n = sum(len(sl.get("logRecords", [])) for rl in d.get("resourceLogs", [])
                for sl in rl.get("scopeLogs", []))
        with st.lock:
            if st.reject_marker and st.reject_marker in json.dumps(d):
                st.counts["rejected"] += 1
                return self.answer(400, b'{"message":"rejected on demand"}')
            st.counts["accepted"] += 1
            st.counts["records"] += n
            st.requests.append({"encoding": enc, "gzip": gz, "headers": dict(self.headers),
                                "query": url.query, "body": d})
            partial, st.partial = st.partial, 0
        resp = Response()
        if partial:
            resp.partial_success.rejected_log_records = partial
            resp.partial_success.error_message = "some records rejected on demand"
        if enc == "json":
            out = json_format.MessageToJson(resp).encode()
            return self.answer(200, out, "application/json")
        return self.answer(200, resp.SerializeToString(), "application/x-protobuf")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--require-header", action="append", default=[])
    ap.add_argument("--count-only", action="store_true")
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.state = State(args)
    print("port %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
