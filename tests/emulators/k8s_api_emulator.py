#!/usr/bin/python3
"""k8s_api_emulator.py - the part of a Kubernetes API server that log shippers use: pods and
namespaces, list and watch, as kube-apiserver answers them.

  GET /api/v1/pods, /api/v1/namespaces/<ns>/pods, /api/v1/namespaces
      ?fieldSelector=spec.nodeName=<node> (pods), ?labelSelector is not supported
      ?watch=1|true&resourceVersion=<rv>&allowWatchBookmarks=true&timeoutSeconds=<n>
      A list answers {"kind":"PodList","metadata":{"resourceVersion":...},"items":[...]}.
      A watch streams one JSON event a line (chunked): ADDED/MODIFIED/DELETED after rv,
      BOOKMARK every --bookmark-ms when asked for, and ends after timeoutSeconds. A watch from
      a resourceVersion older than the last compaction gets ERROR {code: 410} (or an HTTP 410,
      see /_ctl/gone), as the real server does once its watch cache no longer has it.
  GET /api, /apis, /api/v1: discovery, enough for kubectl.
  Every API call needs "Authorization: Bearer <token>" with a token the emulator accepts
  (--token, /_ctl/tokens), else 401.

Control (no auth), JSON bodies:
  POST /_ctl/pod        {"op": "add"|"modify"|"delete", "pod": {...}}   (uid, rv assigned)
  POST /_ctl/namespace  {"op": ..., "namespace": {...}}
  POST /_ctl/gone       {"mode": "event"|"http"}  compacts: every rv handed out is too old;
                        open watches end (with an ERROR 410 event in "event" mode) and a watch
                        from an older rv gets 410 (an ERROR event, or the HTTP status)
  POST /_ctl/fail       {"count": n, "status": 500} the next n API calls answer status;
                        {"count": n, "hang": true} the next n calls never answer (a timeout)
  POST /_ctl/slow       {"ms": n} every list answer waits n ms first
  POST /_ctl/tokens     {"tokens": [...]} the accepted tokens
  POST /_ctl/watch_error {"count": n, "code": 500} the next n watches answer one ERROR event
                        with that code and end at once (an etcd failure, 500; a cache behind
                        the client's resourceVersion, 504 ResourceVersionTooLarge)
  POST /_ctl/forbid     {"resources": ["namespaces"]} lists and watches of these answer 403,
                        as RBAC without that permission does
  GET  /_ctl/stats      counters: lists, watches, unauthorized, tokens_seen, open_watches;
                        watch_at: when each watch was asked (monotonic seconds)

Usage: k8s_api_emulator.py [--port N] [--token T] [--bookmark-ms N] [--tls CERT KEY]
Prints "k8s_api_emulator listening on port N" first."""
import argparse
import json
import ssl
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Condition()
state = {
    "rv": 100,
    "compacted": 0,          # a watch from rv < compacted gets 410
    "gone_mode": "event",
    "kick": 0,               # bumped by /_ctl/gone: open watches end with 410
    "fail": [],              # pending failures: {"status": n} or {"hang": True}
    "slow_ms": 0,
    "tokens": set(),
    "forbidden": set(),
    "watch_errors": [],      # pending watch ERROR events: their codes
    "objs": {"pods": {}, "namespaces": {}},
    "log": {"pods": [], "namespaces": []},   # (rv, type, obj)
    "stats": {"lists": {"pods": 0, "namespaces": 0}, "watches": {"pods": 0, "namespaces": 0},
              "unauthorized": 0, "tokens_seen": [], "open_watches": 0, "gone_sent": 0,
              "failed": 0, "watch_at": {"pods": [], "namespaces": []}},
}
args = None

KINDS = {"pods": ("Pod", "PodList"), "namespaces": ("Namespace", "NamespaceList")}


def key_of(res, obj):
    md = obj["metadata"]
    return md["name"] if res == "namespaces" else "%s/%s" % (md.get("namespace", "default"), md["name"])


def change(res, op, obj):
    with lock:
        state["rv"] += 1
        rv = str(state["rv"])
        kind = KINDS[res][0]
        obj = json.loads(json.dumps(obj))
        obj.setdefault("apiVersion", "v1")
        obj.setdefault("kind", kind)
        md = obj.setdefault("metadata", {})
        if res == "pods":
            md.setdefault("namespace", "default")
        k = key_of(res, obj)
        old = state["objs"][res].get(k)
        md.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
        md["resourceVersion"] = rv
        if op == "delete":
            if k in state["objs"][res]:
                del state["objs"][res][k]
            typ = "DELETED"
        else:
            state["objs"][res][k] = obj
            typ = "ADDED" if op == "add" and not old else "MODIFIED"
        state["log"][res].append((int(rv), typ, obj))
        lock.notify_all()
        return obj


def status_obj(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def matches(res, obj, q):
    if res == "pods":
        sel = q.get("fieldSelector", [""])[0]
        if sel.startswith("spec.nodeName="):
            if obj.get("spec", {}).get("nodeName") != sel.split("=", 1)[1]:
                return False
        ns = q.get("_ns")
        if ns and obj["metadata"].get("namespace") != ns:
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def body_json(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")

    def do_POST(self):
        path = urllib.parse.urlparse(self.path).path
        b = self.body_json()
        if path == "/_ctl/pod":
            return self.send_json(200, change("pods", b["op"], b["pod"]))
        if path == "/_ctl/namespace":
            return self.send_json(200, change("namespaces", b["op"], b["namespace"]))
        with lock:
            if path == "/_ctl/gone":
                # every rv handed out so far becomes too old; lists answer the new one
                state["gone_mode"] = b.get("mode", "event")
                state["rv"] += 1
                state["compacted"] = state["rv"]
                state["kick"] += 1
                lock.notify_all()
            elif path == "/_ctl/fail":
                one = {"hang": True} if b.get("hang") else {"status": b.get("status", 500)}
                state["fail"].extend([one] * b.get("count", 1))
            elif path == "/_ctl/slow":
                state["slow_ms"] = b.get("ms", 0)
            elif path == "/_ctl/tokens":
                state["tokens"] = set(b["tokens"])
            elif path == "/_ctl/watch_error":
                state["watch_errors"].extend([b.get("code", 500)] * b.get("count", 1))
            elif path == "/_ctl/forbid":
                state["forbidden"] = set(b["resources"])
            else:
                return self.send_json(404, status_obj(404, "NotFound", path))
        self.send_json(200, {})

    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        if u.path == "/_ctl/stats":
            with lock:
                return self.send_json(200, state["stats"])
        auth = self.headers.get("Authorization", "")
        with lock:
            tok = auth[7:] if auth.startswith("Bearer ") else ""
            if tok and tok not in state["stats"]["tokens_seen"]:
                state["stats"]["tokens_seen"].append(tok)
            ok = tok in state["tokens"]
            if not ok:
                state["stats"]["unauthorized"] += 1
            fail = state["fail"].pop(0) if ok and state["fail"] and u.path.startswith("/api/v1/") else None
            if fail:
                state["stats"]["failed"] += 1
        if not ok:
            return self.send_json(401, status_obj(401, "Unauthorized", "Unauthorized"))
        if fail and fail.get("hang"):
            time.sleep(3600)  # the client times out and closes; this thread is a daemon
            return
        if fail:
            return self.send_json(fail["status"], status_obj(fail["status"], "InternalError", "injected failure"))
        if u.path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [
                                            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
        if u.path == "/apis":
            return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
        if u.path == "/api/v1":
            return self.send_json(200, {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
                 "verbs": ["get", "list", "watch"], "shortNames": ["po"]},
                {"name": "namespaces", "singularName": "namespace", "namespaced": False,
                 "kind": "Namespace", "verbs": ["get", "list", "watch"], "shortNames": ["ns"]}]})
        parts = u.path.strip("/").split("/")
        q = urllib.parse.parse_qs(u.query)
        if parts[:2] != ["api", "v1"]:
            return self.send_json(404, status_obj(404, "NotFound", u.path))
        rest = parts[2:]
        if rest == ["pods"] or rest == ["namespaces"]:
            res = rest[0]
        elif len(rest) == 3 and rest[0] == "namespaces" and rest[2] == "pods":
            res = "pods"
            q["_ns"] = rest[1]
        else:
            return self.send_json(404, status_obj(404, "NotFound", u.path))
        with lock:
            forbidden = res in state["forbidden"]
        if forbidden:
            return self.send_json(403, status_obj(403, "Forbidden", (
                '%s is forbidden: User "system:serviceaccount:logging:sluice" cannot list '
                'resource "%s" in API group "" at the cluster scope') % (res, res)))
        if q.get("watch", [""])[0] in ("1", "true"):
            return self.watch(res, q)
        with lock:
            state["stats"]["lists"][res] += 1
            slow = state["slow_ms"]
        if slow:
            time.sleep(slow / 1000.0)
        with lock:
            items = [o for o in state["objs"][res].values() if matches(res, o, q)]
            rv = str(state["rv"])
        self.send_json(200, {"kind": KINDS[res][1], "apiVersion": "v1",
                             "metadata": {"resourceVersion": rv}, "items": items})

    def watch(self, res, q):
        rv_s = q.get("resourceVersion", [""])[0]
        bookmarks = q.get("allowWatchBookmarks", [""])[0] == "true"
        timeout = float(q.get("timeoutSeconds", ["1800"])[0])
        with lock:
            state["stats"]["watches"][res] += 1
            state["stats"]["watch_at"][res].append(time.monotonic())
            kick = state["kick"]
            too_old = rv_s not in ("", "0") and int(rv_s) < state["compacted"]
            mode = state["gone_mode"]
        if too_old and mode == "http":
            with lock:
                state["stats"]["gone_sent"] += 1
            return self.send_json(410, status_obj(410, "Gone", "too old resource version"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with lock:
            werr = state["watch_errors"].pop(0) if state["watch_errors"] else None
        try:
            if werr:
                reason, msg = {504: ("Timeout", "Too large resource version: %s, current: %d" % (
                    rv_s, state["rv"]))}.get(werr, ("InternalError", "etcdserver: request timed out"))
                self.chunk(json.dumps({"type": "ERROR", "object": status_obj(werr, reason, msg)}).encode()
                           + b"\n")
                self.chunk(b"")
                return
            if too_old:
                with lock:
                    state["stats"]["gone_sent"] += 1
                self.chunk(json.dumps({"type": "ERROR", "object": status_obj(
                    410, "Expired", "too old resource version: %s" % rv_s)}).encode() + b"\n")
                self.chunk(b"")
                return
            with lock:
                state["stats"]["open_watches"] += 1
            try:
                self.stream(res, q, rv_s, bookmarks, timeout, kick)
            finally:
                with lock:
                    state["stats"]["open_watches"] -= 1
            self.chunk(b"")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def stream(self, res, q, rv_s, bookmarks, timeout, kick):
        end = time.monotonic() + timeout
        if rv_s in ("", "0"):  # no rv: the current state as ADDED events first
            with lock:
                cur = [o for o in state["objs"][res].values() if matches(res, o, q)]
                last = state["rv"]
            for o in cur:
                self.chunk(json.dumps({"type": "ADDED", "object": o}).encode() + b"\n")
        else:
            last = int(rv_s)
        next_bm = time.monotonic() + args.bookmark_ms / 1000.0
        while True:
            with lock:
                now = time.monotonic()
                wait = min(end, next_bm) - now
                if wait > 0 and state["kick"] == kick and not any(
                        r > last for r, _, _ in state["log"][res][-1:]):
                    lock.wait(wait)
                if state["kick"] != kick:
                    # "event": the stream says 410 itself; "http": it just ends, and the
                    # watch resumed from the client's rv is answered HTTP 410
                    out = []
                    if state["gone_mode"] == "event":
                        state["stats"]["gone_sent"] += 1
                        out = [json.dumps({"type": "ERROR", "object": status_obj(
                            410, "Expired", "too old resource version")})]
                    done = True
                else:
                    out = []
                    for r, typ, o in state["log"][res]:
                        if r > last and matches(res, o, q):
                            out.append(json.dumps({"type": typ, "object": o}))
                        if r > last:
                            last = r
                    done = False
                    now = time.monotonic()
                    if bookmarks and now >= next_bm:
                        out.append(json.dumps({"type": "BOOKMARK", "object": {
                            "kind": KINDS[res][0], "apiVersion": "v1",
                            "metadata": {"resourceVersion": str(state["rv"])}}}))
                        last = max(last, state["rv"])
                        next_bm = now + args.bookmark_ms / 1000.0
            for line in out:
                self.chunk(line.encode() + b"\n")
            if done or time.monotonic() >= end:
                return


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", action="append", default=[])
    ap.add_argument("--bookmark-ms", type=int, default=60000)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = ap.parse_args()
    state["tokens"] = set(args.token)
    srv = Server(("127.0.0.1", args.port), Handler)
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("k8s_api_emulator listening on port %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
