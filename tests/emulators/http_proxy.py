"""A forwarding HTTP proxy for tests (plain HTTP, no CONNECT): takes requests in absolute
form ("POST http://host:port/path HTTP/1.1"), sends each to its origin and relays the
answer. GET /_proxy/stats (origin form, to the proxy itself): {"requests": N,
"targets": {"host:port": N}}. Prints "port N" on its first line."""
import argparse
import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP = {"connection", "proxy-connection", "keep-alive", "transfer-encoding", "te", "trailer",
       "upgrade", "proxy-authorization"}
lock = threading.Lock()
stats = {"requests": 0, "targets": {}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def answer(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        if self.path == "/_proxy/stats":
            with lock:
                return self.answer(200, json.dumps(stats).encode(), [("Content-Type", "application/json")])
        u = urlsplit(self.path)
        if u.scheme != "http" or not u.hostname:
            return self.answer(400, b"absolute http URL required\n")
        target = "%s:%d" % (u.hostname, u.port or 80)
        with lock:
            stats["requests"] += 1
            stats["targets"][target] = stats["targets"].get(target, 0) + 1
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
        try:
            c = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=60)
            c.request(self.command, (u.path or "/") + ("?" + u.query if u.query else ""),
                      body=body, headers=headers)
            r = c.getresponse()
            data = r.read()
            out = [(k, v) for k, v in r.getheaders() if k.lower() not in HOP and k.lower() != "content-length"]
            c.close()
        except OSError as e:
            return self.answer(502, ("proxy: %s\n" % e).encode())
        return self.answer(r.status, data, out)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    print("port %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
