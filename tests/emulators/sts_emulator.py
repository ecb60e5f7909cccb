#!/usr/bin/python3
"""sts_emulator.py - AWS STS AssumeRoleWithWebIdentity for tests, holding requests to what
STS enforces, with its error documents. Standard library only.

What it does, like STS:
  - The query protocol: POST / with an application/x-www-form-urlencoded body, or GET /?...
    (the parameters of both are read when both come). No signature is needed: the web
    identity token is the proof.
  - Action must be AssumeRoleWithWebIdentity (else 400 InvalidAction) and Version
    2011-06-15 (else 400 InvalidAction); RoleArn must be arn:<partition>:iam::<12
    digits>:role/<path and name>, 20-2048 characters; RoleSessionName 2-64 characters of
    [\\w+=,.@-]; WebIdentityToken 4-20000 characters; DurationSeconds, when given,
    900-43200 (400 ValidationError naming the parameter, or 400 MissingParameter).
  - The token must be one of the accepted ones (--token, or control): 400
    InvalidIdentityToken otherwise.
  - Errors are <ErrorResponse><Error><Type>Sender</Type><Code>..</Code><Message>..</Message>
    </Error><RequestId>..</RequestId></ErrorResponse> in text/xml.
  - A success is <AssumeRoleWithWebIdentityResponse> with AssumeRoleWithWebIdentityResult
    (SubjectFromWebIdentityToken, Audience, AssumedRoleUser, Credentials (SessionToken,
    SecretAccessKey, Expiration, AccessKeyId), Provider) and ResponseMetadata. The
    credentials (a new ASIA... key each time) live --lifetime seconds (default 3600;
    shorter than STS allows, for tests of their refresh) and are checkable by
    s3_emulator.py given the same --sts-seed (see sts_keys.py).

Control, under /_emu/:
  POST /_emu/control {"tokens": [..]} replaces the accepted tokens; {"lifetime": N}.
  GET /_emu/stats: {"calls", "issued", "refused", "requests": [{"token", "role",
    "session", "method", "code", "akid"}]} (code "" for a success).
Prints the port on its first stdout line.
"""
import argparse
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

from sts_keys import secret_for, session_token

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--sts-seed", default="sts-emulator-seed")
ap.add_argument("--token", action="append", default=[])
ap.add_argument("--lifetime", type=int, default=3600)
args = ap.parse_args()

XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"
ROLE_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
SESSION_RE = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)

lock = threading.Lock()
ctl = {"tokens": list(args.token), "lifetime": args.lifetime}
stats = {"calls": 0, "issued": 0, "refused": 0, "requests": []}
seq = [0]


class StsError(Exception):
    def __init__(self, code, msg, status=400):
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def validate(p):
    if p.get("Action") != "AssumeRoleWithWebIdentity":
        raise StsError("InvalidAction", "Could not find operation %s for version %s"
                       % (p.get("Action"), p.get("Version")))
    if p.get("Version") != "2011-06-15":
        raise StsError("InvalidAction", "Could not find operation %s for version %s"
                       % (p.get("Action"), p.get("Version")))
    for name in ("RoleArn", "RoleSessionName", "WebIdentityToken"):
        if name not in p:
            raise StsError("MissingParameter",
                           "The request must contain the parameter %s" % name)
    role = p["RoleArn"]
    if not (20 <= len(role) <= 2048) or not ROLE_RE.match(role):
        raise StsError("ValidationError", "1 validation error detected: Value '%s' at "
                       "'roleArn' failed to satisfy constraint: Member must be a role ARN" % role)
    if not SESSION_RE.match(p["RoleSessionName"]):
        raise StsError("ValidationError", "1 validation error detected: Value '%s' at "
                       "'roleSessionName' failed to satisfy constraint: Member must satisfy "
                       "regular expression pattern: [\\w+=,.@-]*" % p["RoleSessionName"])
    if not (4 <= len(p["WebIdentityToken"]) <= 20000):
        raise StsError("ValidationError", "1 validation error detected: Value at "
                       "'webIdentityToken' failed to satisfy constraint: Member must have "
                       "length between 4 and 20000")
    if "DurationSeconds" in p:
        d = p["DurationSeconds"]
        if not d.isdigit() or not (900 <= int(d) <= 43200):
            raise StsError("ValidationError", "1 validation error detected: Value '%s' at "
                           "'durationSeconds' failed to satisfy constraint" % d)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, body, ctype="text/xml"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def handle_any(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        u = urlsplit(self.path)
        if u.path.startswith("/_emu/"):
            return self.control(method, u.path, body)
        p = dict(parse_qsl(u.query, keep_blank_values=True))
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if method == "POST" and body:
            if ctype != "application/x-www-form-urlencoded":
                return self.error(StsError("InvalidAction", "Unsupported Content-Type: %s"
                                           % ctype), p, method)
            try:
                p.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                   strict_parsing=True))
            except (UnicodeDecodeError, ValueError):
                return self.error(StsError("MalformedQueryString", "malformed form body"),
                                  p, method)
        try:
            validate(p)
            with lock:
                accepted = p["WebIdentityToken"] in ctl["tokens"]
                lifetime = ctl["lifetime"]
            if not accepted:
                raise StsError("InvalidIdentityToken", "The web identity token that was "
                               "passed could not be validated by AWS. Get a new identity "
                               "token from the identity provider and then retry the request.")
        except StsError as e:
            return self.error(e, p, method)
        with lock:
            seq[0] += 1
            n = seq[0]
        akid = "ASIA%016d" % n
        exp = int(time.time()) + lifetime
        role = p["RoleArn"]
        acct, rname = role.split(":")[4], role.rsplit("/", 1)[1]
        x = ('<AssumeRoleWithWebIdentityResponse xmlns="%s">\n'
             '  <AssumeRoleWithWebIdentityResult>\n'
             '    <SubjectFromWebIdentityToken>system:serviceaccount:default:sluice'
             '</SubjectFromWebIdentityToken>\n'
             '    <Audience>sts.amazonaws.com</Audience>\n'
             '    <AssumedRoleUser>\n'
             '      <Arn>arn:aws:sts::%s:assumed-role/%s/%s</Arn>\n'
             '      <AssumedRoleId>AROA%012d:%s</AssumedRoleId>\n'
             '    </AssumedRoleUser>\n'
             '    <Credentials>\n'
             '      <SessionToken>%s</SessionToken>\n'
             '      <SecretAccessKey>%s</SecretAccessKey>\n'
             '      <Expiration>%s</Expiration>\n'
             '      <AccessKeyId>%s</AccessKeyId>\n'
             '    </Credentials>\n'
             '    <Provider>arn:aws:iam::%s:oidc-provider/oidc.eks.local</Provider>\n'
             '  </AssumeRoleWithWebIdentityResult>\n'
             '  <ResponseMetadata>\n'
             '    <RequestId>%s</RequestId>\n'
             '  </ResponseMetadata>\n'
             '</AssumeRoleWithWebIdentityResponse>\n') % (
                 XMLNS, acct, escape(rname), escape(p["RoleSessionName"]), n,
                 escape(p["RoleSessionName"]), session_token(args.sts_seed, akid, exp),
                 escape(secret_for(args.sts_seed, akid)), iso(exp), akid, acct, uuid.uuid4())
        with lock:
            stats["calls"] += 1
            stats["issued"] += 1
            stats["requests"].append({"token": p["WebIdentityToken"], "role": role,
                                      "session": p["RoleSessionName"], "method": method,
                                      "code": "", "akid": akid})
        self.send(200, x.encode())

    def error(self, e, p, method):
        with lock:
            stats["calls"] += 1
            stats["refused"] += 1
            stats["requests"].append({"token": p.get("WebIdentityToken"),
                                      "role": p.get("RoleArn"),
                                      "session": p.get("RoleSessionName"), "method": method,
                                      "code": e.code, "akid": None})
        x = ('<ErrorResponse xmlns="%s">\n  <Error>\n    <Type>Sender</Type>\n'
             '    <Code>%s</Code>\n    <Message>%s</Message>\n  </Error>\n'
             '  <RequestId>%s</RequestId>\n</ErrorResponse>\n') % (
                 XMLNS, escape(e.code), escape(e.msg), uuid.uuid4())
        self.send(e.status, x.encode())

    def control(self, method, path, body):
        if path == "/_emu/control" and method == "POST":
            c = json.loads(body or b"{}")
            with lock:
                for k in ("tokens", "lifetime"):
                    if k in c:
                        ctl[k] = c[k]
            return self.send(200, b"{}", "application/json")
        if path == "/_emu/stats":
            with lock:
                out = json.dumps(stats).encode()
            return self.send(200, out, "application/json")
        return self.send(404, b"", "application/json")


class Server(ThreadingHTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", args.port), Handler)
print("listening on %d" % srv.server_address[1], flush=True)
srv.serve_forever()
