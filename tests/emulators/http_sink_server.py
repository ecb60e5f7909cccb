#!/usr/bin/python3
"""http_sink_server.py - an HTTP endpoint for testing sinks: stores every NDJSON line it
accepts and misbehaves on demand (errors, 429 with Retry-After, poison rejects, dropped
connections, delays). Prints the chosen port on its first stdout line.

Control, by flags or at run time with POST /control and a JSON object:
  {"fail": N, "status": 503, "retry_after": 2}   fail the next N requests
  {"reject_marker": "poison"}                    400 for any request containing it ("" = off)
  {"drop": N}                                    close the next N connections without answer
  {"delay_ms": 250}                              wait before every answer
  {"redirect": "https://host/ingest"}            301 to that Location for every request, with
                                                 nginx's HTML body, as a proxy moving the
                                                 endpoint does ("" = off)
  {"reset": true}                                forget counters and stored lines
GET /stats returns counters as JSON; GET /lines returns the stored lines (NDJSON),
GET /lines?since=N those from the N-th on (a reader polling for new ones).
"""
import argparse
import gzip
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.out_path = args.output
        self.fail = args.fail
        self.fail_status = args.fail_status
        self.retry_after = args.retry_after
        self.reject_marker = args.reject_marker or ""
        self.redirect = ""
        self.drop = args.drop
        self.delay_ms = args.delay_ms
        self.reset_counters()
        if self.out_path:
            open(self.out_path, "w").close()

    def reset_counters(self):
        self.requests = 0
        self.accepted_requests = 0
        self.lines = []
        self.failed = 0
        self.rejected = 0
        self.dropped = 0
        self.gzip_requests = 0
        self.methods = {}
        self.last_headers = {}

    def stats(self):
        return {
            "requests": self.requests,
            "accepted_requests": self.accepted_requests,
            "lines": len(self.lines),
            "failed": self.failed,
            "rejected": self.rejected,
            "dropped": self.dropped,
            "gzip_requests": self.gzip_requests,
            "methods": self.methods,
            "last_headers": self.last_headers,
            "pending_fail": self.fail,
            "pending_drop": self.drop,
        }


STATE = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real endpoints do

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, status, obj):
        self.reply(status, json.dumps(obj).encode(), {"Content-Type": "application/json"})

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        gz = (self.headers.get("Content-Encoding") or "").lower() == "gzip"
        if gz:
            data = gzip.decompress(data)
        return data, gz

    def do_GET(self):
        with STATE.lock:
            if self.path == "/stats":
                return self.reply_json(200, STATE.stats())
            if self.path == "/lines" or self.path.startswith("/lines?since="):
                since = int(self.path.split("=", 1)[1]) if "=" in self.path else 0
                body = "".join(l + "\n" for l in STATE.lines[since:]).encode()
                return self.reply(200, body, {"Content-Type": "application/x-ndjson"})
        self.reply(404, b"not found")

    def do_PUT(self):
        self.ingest()

    def do_POST(self):
        if self.path == "/control":
            data, _ = self.read_body()
            try:
                ctl = json.loads(data or b"{}")
            except ValueError:
                return self.reply(400, b"bad control json")
            with STATE.lock:
                if ctl.get("reset"):
                    STATE.reset_counters()
                    STATE.fail = STATE.drop = 0
                    if STATE.out_path:
                        open(STATE.out_path, "w").close()
                if "fail" in ctl:
                    STATE.fail = int(ctl["fail"])
                if "status" in ctl:
                    STATE.fail_status = int(ctl["status"])
                if "retry_after" in ctl:
                    STATE.retry_after = ctl["retry_after"]
                if "reject_marker" in ctl:
                    STATE.reject_marker = ctl["reject_marker"] or ""
                if "drop" in ctl:
                    STATE.drop = int(ctl["drop"])
                if "delay_ms" in ctl:
                    STATE.delay_ms = int(ctl["delay_ms"])
                if "redirect" in ctl:
                    STATE.redirect = ctl["redirect"] or ""
                return self.reply_json(200, STATE.stats())
        self.ingest()

    def ingest(self):
        try:
            data, gz = self.read_body()
        except (OSError, ValueError) as e:
            return self.reply(400, ("bad body: %s" % e).encode())
        with STATE.lock:
            STATE.requests += 1
            STATE.methods[self.command] = STATE.methods.get(self.command, 0) + 1
            STATE.last_headers = {k.lower(): v for k, v in self.headers.items()}
            if gz:
                STATE.gzip_requests += 1
            delay = STATE.delay_ms
            action = None
            if STATE.drop > 0:
                STATE.drop -= 1
                STATE.dropped += 1
                action = "drop"
            elif STATE.fail > 0:
                STATE.fail -= 1
                STATE.failed += 1
                action = "fail"
                status, retry_after = STATE.fail_status, STATE.retry_after
            elif STATE.redirect:
                action = "redirect"
                location = STATE.redirect
            elif STATE.reject_marker and STATE.reject_marker.encode() in data:
                STATE.rejected += 1
                action = "reject"
        if delay:
            time.sleep(delay / 1000.0)
        if action == "drop":
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass
            return
        if action == "fail":
            headers = {}
            if retry_after is not None and status in (429, 503):
                headers["Retry-After"] = str(retry_after)
            return self.reply(status, b"temporarily failing", headers)
        if action == "redirect":
            body = (b"<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n"
                    b"<body>\r\n<center><h1>301 Moved Permanently</h1></center>\r\n"
                    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
            return self.reply(301, body, {"Location": location, "Content-Type": "text/html"})
        if action == "reject":
            return self.reply(400, ("request contains marker %r" % STATE.reject_marker).encode())
        text = data.decode("utf-8", errors="replace")
        if text.lstrip().startswith("["):
            try:
                lines = [json.dumps(o, separators=(",", ":")) for o in json.loads(text)]
            except ValueError:
                return self.reply(400, b"invalid json array")
        else:
            lines = [l for l in text.split("\n") if l.strip()]
        with STATE.lock:
            STATE.accepted_requests += 1
            STATE.lines.extend(lines)
            if STATE.out_path:
                with open(STATE.out_path, "a") as f:
                    for l in lines:
                        f.write(l + "\n")
        self.reply_json(200, {"accepted": len(lines)})


def main():
    global STATE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--output", help="append every accepted line to this file")
    ap.add_argument("--fail", type=int, default=0, help="fail the first N requests")
    ap.add_argument("--fail-status", type=int, default=503)
    ap.add_argument("--retry-after", default=None, help="Retry-After value for 429/503")
    ap.add_argument("--reject-marker", default="", help="400 for requests containing it")
    ap.add_argument("--drop", type=int, default=0, help="drop the first N connections")
    ap.add_argument("--delay-ms", type=int, default=0)
    args = ap.parse_args()
    STATE = State(args)
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
