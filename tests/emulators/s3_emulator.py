#!/usr/bin/python3
"""s3_emulator.py - an S3 API subset for tests, holding requests to what S3 enforces, with
its error codes. Standard library only. Path-style addressing (http://host:port/bucket/key),
or virtual-hosted style with the bucket in a name under localhost
(http://bucket.localhost:port/key, which curl resolves to loopback).

What it does, like S3:
  - Every S3 request must carry a valid SigV4 Authorization header (service s3) for the
    known key (--access-key/--secret-key): the canonical request is rebuilt from the request
    as received (the path as sent, as S3 does not normalise it; the query decoded and
    re-encoded and sorted; the signed headers) and x-amz-content-sha256 must be the body's
    hash (or UNSIGNED-PAYLOAD). Refusals: 403 InvalidAccessKeyId, 403 SignatureDoesNotMatch,
    400 XAmzContentSHA256Mismatch, 403 RequestTimeTooSkewed (over 15 minutes).
  - With --sts-seed, temporary keys (ASIA...) issued by sts_emulator.py with that seed are
    known too: their secret is derived from the key id and the request must carry their
    X-Amz-Security-Token (400 InvalidToken when missing or not theirs, 400 ExpiredToken
    after its expiry). The key ids seen are counted in stats ("sts_keys").
  - Buckets: --bucket NAME (repeatable) exist from the start; PUT /bucket creates one; an
    unknown bucket is 404 NoSuchBucket.
  - PutObject, GetObject (Range), HeadObject, DeleteObject, ListObjectsV2 (prefix,
    delimiter, max-keys, continuation-token, start-after, encoding-type=url), ListBuckets.
  - Multipart: CreateMultipartUpload, UploadPart (ETag = quoted MD5), CompleteMultipartUpload
    (parts in ascending order, each ETag matching an uploaded part: 400 InvalidPart /
    InvalidPartOrder; every part but the last at least --min-part-size, 5 MiB as in S3:
    400 EntityTooSmall; object ETag "<md5 of the part MD5s>-<n>"), AbortMultipartUpload
    (204; 404 NoSuchUpload), ListMultipartUploads.
  - Eventual listing: with list_delay N a new object appears in ListObjectsV2 only in the
    (N+1)-th listing after it was written (GET and HEAD see it at once); the delay in force
    when the object was written counts.
  - x-amz-server-side-encryption, -aws-kms-key-id, x-amz-storage-class, Content-Type and
    Content-Encoding are kept with the object and echoed on GET/HEAD.

Control (no signature needed), under /_emu/:
  POST /_emu/control {"fail": N, "status": 503, "code": "SlowDown", "ops": [..]} fails the
    next N S3 requests (of those operations, e.g. "PutObject", "UploadPart",
    "CompleteMultipartUpload", "CreateMultipartUpload"; all when absent) with that answer;
    {"list_delay": N}; {"deny": "AccessDenied"} refuses every write with 403 that code
    ({"deny": null} stops); {"delay_ms": D} before each S3 answer.
  GET /_emu/stats: counters by operation and answer, objects, open uploads, aborts, and
    overwrites of an existing key (overwrites_changed: with other bytes).
  GET /_emu/objects: [{"bucket","key","size","etag","parts","meta"}] of every object.
  GET /_emu/object?bucket=B&key=K: the object's bytes.
--count-only (benchmarks): object bodies are counted, not kept. Prints the port on its first
stdout line.
"""
import argparse
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

from sts_keys import check_token, secret_for

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--access-key", default="AKIDEXAMPLE")
ap.add_argument("--secret-key", default="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
ap.add_argument("--region", default="us-east-1")
ap.add_argument("--bucket", action="append", default=[])
ap.add_argument("--min-part-size", type=int, default=5 * 1024 * 1024)
ap.add_argument("--list-delay", type=int, default=0)
ap.add_argument("--count-only", action="store_true")
ap.add_argument("--sts-seed", default=None)
args = ap.parse_args()

lock = threading.Lock()
buckets = {b: {} for b in args.bucket}   # bucket -> key -> object dict
uploads = {}                              # upload id -> {"bucket","key","parts":{n:(etag,data)},"meta"}
stats = {"ops": {}, "answers": {}, "sig_fail": 0, "injected": 0, "aborted": 0, "completed": 0,
         "bytes_in": 0, "overwrites": 0, "overwrites_changed": 0, "sts_keys": {}}
ctl = {"fail": 0, "status": 503, "code": "SlowDown", "ops": None, "list_delay": args.list_delay,
       "deny": None, "delay_ms": 0}
seq = [0]

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"


class S3Error(Exception):
    def __init__(self, status, code, msg):
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def now_iso(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t or time.time()))


def http_date(t):
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t))


def hmac256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def parse_query(raw):
    """[(name, value)] decoded, blank values kept, in order."""
    out = []
    for part in raw.split("&") if raw else []:
        if not part:
            continue
        k, _, v = part.partition("=")
        out.append((unquote(k.replace("+", "%20")), unquote(v.replace("+", "%20"))))
    return out


def canonical_query(raw):
    enc = [(quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in parse_query(raw)]
    return "&".join("%s=%s" % kv for kv in sorted(enc))


AUTH_RE = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,"
                     r"\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})\s*$")


def verify_sigv4(method, raw_path, raw_query, headers, body):
    auth = headers.get("Authorization")
    if not auth:
        raise S3Error(403, "AccessDenied", "Access Denied (no Authorization header)")
    m = AUTH_RE.match(auth)
    if not m:
        raise S3Error(400, "AuthorizationHeaderMalformed", "The authorization header is malformed")
    akid, date, region, service, signed, sig = m.groups()
    secret = args.secret_key
    if akid != args.access_key and args.sts_seed and akid.startswith("ASIA"):
        exp = check_token(args.sts_seed, akid, headers.get("x-amz-security-token"))
        if exp == "invalid":
            raise S3Error(400, "InvalidToken",
                          "The provided token is malformed or otherwise invalid.")
        if exp <= time.time():
            raise S3Error(400, "ExpiredToken", "The provided token has expired.")
        secret = secret_for(args.sts_seed, akid)
        with lock:
            stats["sts_keys"][akid] = stats["sts_keys"].get(akid, 0) + 1
    elif akid != args.access_key:
        raise S3Error(403, "InvalidAccessKeyId",
                      "The AWS Access Key Id you provided does not exist in our records.")
    if region != args.region or service != "s3":
        raise S3Error(400, "AuthorizationHeaderMalformed",
                      "the region '%s' is wrong; expecting '%s'" % (region, args.region))
    amz_date = headers.get("x-amz-date", "")
    try:
        t = time.mktime(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")) - time.mktime(time.gmtime(0))
    except ValueError:
        raise S3Error(403, "AccessDenied", "no valid x-amz-date")
    if abs(t - time.time()) > 900:
        raise S3Error(403, "RequestTimeTooSkewed",
                      "The difference between the request time and the current time is too large.")
    if amz_date[:8] != date:
        raise S3Error(403, "SignatureDoesNotMatch", "credential date does not match x-amz-date")
    names = signed.split(";")
    if "host" not in names or "x-amz-date" not in names:
        raise S3Error(403, "AccessDenied", "host and x-amz-date must be signed")
    payload = headers.get("x-amz-content-sha256")
    if payload is None:
        raise S3Error(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    if payload != "UNSIGNED-PAYLOAD" and not payload.startswith("STREAMING-"):
        if payload != hashlib.sha256(body).hexdigest():
            raise S3Error(400, "XAmzContentSHA256Mismatch",
                          "The provided 'x-amz-content-sha256' header does not match what was computed.")
    lines = []
    for n in names:
        vals = headers.get_all(n) or []
        lines.append("%s:%s\n" % (n, ",".join(" ".join(v.split()) for v in vals)))
    creq = "\n".join([method, raw_path or "/", canonical_query(raw_query), "".join(lines), signed,
                      payload])
    scope = "%s/%s/s3/aws4_request" % (date, region)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = hmac256(("AWS4" + secret).encode(), date)
    k = hmac256(k, region)
    k = hmac256(k, "s3")
    k = hmac256(k, "aws4_request")
    want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, sig):
        raise S3Error(403, "SignatureDoesNotMatch",
                      "The request signature we calculated does not match the signature you provided. "
                      "Check your key and signing method.")


def error_xml(code, msg, resource=""):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
            '<Resource>%s</Resource><RequestId>%d</RequestId></Error>' %
            (escape(code), escape(msg), escape(resource), seq[0])).encode()


def operation(method, key, q):
    if not key:
        if method == "GET":
            return "ListMultipartUploads" if "uploads" in q else "ListObjectsV2"
        return {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(method, "Bucket" + method)
    if method == "POST" and "uploads" in q:
        return "CreateMultipartUpload"
    if method == "POST" and "uploadId" in q:
        return "CompleteMultipartUpload"
    if method == "PUT" and "partNumber" in q:
        return "UploadPart"
    if method == "DELETE" and "uploadId" in q:
        return "AbortMultipartUpload"
    return {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject",
            "DELETE": "DeleteObject"}.get(method, "Object" + method)


META_HEADERS = ("content-type", "content-encoding", "x-amz-server-side-encryption",
                "x-amz-server-side-encryption-aws-kms-key-id", "x-amz-storage-class")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, body=b"", headers=None, ctype="application/xml"):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None and not (headers and "Content-Type" in headers):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if body is not None else 0))
        self.send_header("x-amz-request-id", str(seq[0]))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.dispatch("GET")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_HEAD(self):
        self.dispatch("HEAD")

    # ---- control ----
    def control(self, method, path, raw_query, body):
        q = dict(parse_query(raw_query))
        if path == "/_emu/control" and method == "POST":
            c = json.loads(body or b"{}")
            with lock:
                for k in ("fail", "status", "code", "ops", "list_delay", "deny", "delay_ms"):
                    if k in c:
                        ctl[k] = c[k]
            return self.send(200, b"{}", ctype="application/json")
        if path == "/_emu/stats":
            with lock:
                s = dict(stats)
                s["objects"] = sum(len(b) for b in buckets.values())
                s["uploads_open"] = len(uploads)
                s["fail_left"] = ctl["fail"]
            return self.send(200, json.dumps(s).encode(), ctype="application/json")
        if path == "/_emu/objects":
            with lock:
                out = [{"bucket": b, "key": k, "size": o["size"], "etag": o["etag"], "parts": o["parts"],
                        "meta": o["meta"]} for b, objs in buckets.items() for k, o in sorted(objs.items())]
            return self.send(200, json.dumps(out).encode(), ctype="application/json")
        if path == "/_emu/object":
            with lock:
                o = buckets.get(q.get("bucket", ""), {}).get(q.get("key", ""))
            if not o:
                return self.send(404, b"")
            return self.send(200, o["data"] or b"", ctype="application/octet-stream")
        return self.send(404, b"")

    def dispatch(self, method):
        u = urlsplit(self.path)
        raw_path, raw_query = u.path, u.query
        body = self.read_body()
        if raw_path.startswith("/_emu/"):
            return self.control(method, raw_path, raw_query, body)
        with lock:
            seq[0] += 1
            stats["bytes_in"] += len(body)
        path = unquote(raw_path)
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host.endswith(".localhost"):  # virtual-hosted style: <bucket>.localhost:<port>/<key>
            bucket, key = host[:-len(".localhost")], path.lstrip("/")
        else:
            bucket, _, key = path.lstrip("/").partition("/")
        q = dict(parse_query(raw_query))
        op = operation(method, key, q) if bucket else "ListBuckets"
        try:
            verify_sigv4(method, raw_path, raw_query, self.headers, body)
        except S3Error as e:
            with lock:
                stats["sig_fail"] += 1
            return self.answer(op, e.status, error_xml(e.code, e.msg, raw_path))
        with lock:
            stats["ops"][op] = stats["ops"].get(op, 0) + 1
            inject = ctl["fail"] > 0 and (not ctl["ops"] or op in ctl["ops"])
            if inject:
                ctl["fail"] -= 1
                stats["injected"] += 1
            deny = ctl["deny"] if method in ("PUT", "POST") else None
            delay = ctl["delay_ms"]
        if delay:
            time.sleep(delay / 1000.0)
        if inject:
            msg = "Please reduce your request rate." if ctl["code"] == "SlowDown" else "injected"
            return self.answer(op, ctl["status"], error_xml(ctl["code"], msg, raw_path))
        if deny:
            return self.answer(op, 403, error_xml(deny, "Access Denied", raw_path))
        try:
            status, out, hdrs = self.s3(method, op, bucket, key, q, body)
        except S3Error as e:
            return self.answer(op, e.status, error_xml(e.code, e.msg, raw_path))
        self.answer(op, status, out, hdrs)

    def answer(self, op, status, body, headers=None):
        with lock:
            k = "%s %d" % (op, status)
            stats["answers"][k] = stats["answers"].get(k, 0) + 1
        self.send(status, body, headers)

    # ---- S3 ----
    def s3(self, method, op, bucket, key, q, body):
        if op == "ListBuckets":
            with lock:
                names = sorted(buckets)
            x = "".join("<Bucket><Name>%s</Name><CreationDate>%s</CreationDate></Bucket>" % (escape(n), now_iso())
                        for n in names)
            return 200, ('<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult xmlns="%s"><Owner>'
                         '<ID>emu</ID><DisplayName>emu</DisplayName></Owner><Buckets>%s</Buckets>'
                         '</ListAllMyBucketsResult>' % (XMLNS, x)).encode(), None
        if op == "CreateBucket":
            with lock:
                buckets.setdefault(bucket, {})
            return 200, b"", {"Location": "/" + bucket}
        with lock:
            objs = buckets.get(bucket)
        if objs is None:
            raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist")
        if op == "HeadBucket":
            return 200, b"", None
        if op == "ListObjectsV2":
            return self.list_v2(objs, q)
        if op == "ListMultipartUploads":
            with lock:
                ups = [(i, u) for i, u in uploads.items() if u["bucket"] == bucket]
            x = "".join("<Upload><Key>%s</Key><UploadId>%s</UploadId></Upload>" % (escape(u["key"]), i)
                        for i, u in ups)
            return 200, ('<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult xmlns="%s">'
                         '<Bucket>%s</Bucket>%s<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>'
                         % (XMLNS, escape(bucket), x)).encode(), None
        meta = {h: self.headers[h] for h in META_HEADERS if self.headers.get(h) is not None}
        if op == "PutObject":
            if "x-amz-copy-source" in self.headers:
                raise S3Error(501, "NotImplemented", "copy is not emulated")
            etag = '"%s"' % hashlib.md5(body).hexdigest()
            self.store(objs, key, body, etag, 0, meta)
            return 200, b"", {"ETag": etag}
        if op in ("GetObject", "HeadObject"):
            with lock:
                o = objs.get(key)
            if not o:
                raise S3Error(404, "NoSuchKey", "The specified key does not exist.")
            h = {"ETag": o["etag"], "Last-Modified": http_date(o["mtime"]), "Accept-Ranges": "bytes",
                 "Content-Type": o["meta"].get("content-type", "binary/octet-stream")}
            for k2, v in o["meta"].items():
                if k2 != "content-type":
                    h[k2] = v
            data = o["data"] or b""
            rng = self.headers.get("Range")
            if rng and op == "GetObject":
                m = re.match(r"bytes=(\d+)-(\d*)$", rng)
                if m:
                    a = int(m.group(1))
                    b = int(m.group(2)) if m.group(2) else len(data) - 1
                    b = min(b, len(data) - 1)
                    h["Content-Range"] = "bytes %d-%d/%d" % (a, b, len(data))
                    return 206, data[a:b + 1], h
            if op == "HeadObject":
                self.send_response(200)
                for k2, v in h.items():
                    self.send_header(k2, v)
                self.send_header("Content-Length", str(o["size"]))
                self.end_headers()
                raise _Sent()
            return 200, data, h
        if op == "DeleteObject":
            with lock:
                objs.pop(key, None)
            return 204, b"", None
        if op == "CreateMultipartUpload":
            uid = uuid.uuid4().hex + "~x+y/z="  # characters a client must encode
            with lock:
                uploads[uid] = {"bucket": bucket, "key": key, "parts": {}, "meta": meta}
            return 200, ('<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult xmlns="%s">'
                         '<Bucket>%s</Bucket><Key>%s</Key><UploadId>%s</UploadId>'
                         '</InitiateMultipartUploadResult>' % (XMLNS, escape(bucket), escape(key),
                                                                escape(uid))).encode(), None
        uid = q.get("uploadId", "")
        with lock:
            up = uploads.get(uid)
        if not up or up["bucket"] != bucket or up["key"] != key:
            raise S3Error(404, "NoSuchUpload", "The specified upload does not exist.")
        if op == "UploadPart":
            try:
                n = int(q.get("partNumber", ""))
            except ValueError:
                n = 0
            if not 1 <= n <= 10000:
                raise S3Error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive")
            etag = '"%s"' % hashlib.md5(body).hexdigest()
            with lock:
                up["parts"][n] = (etag, body if not args.count_only else None, len(body),
                                  hashlib.md5(body).digest())
            return 200, b"", {"ETag": etag}
        if op == "AbortMultipartUpload":
            with lock:
                uploads.pop(uid, None)
                stats["aborted"] += 1
            return 204, b"", None
        if op == "CompleteMultipartUpload":
            listed = re.findall(r"<Part>\s*(.*?)\s*</Part>", body.decode("utf-8", "replace"), re.S)
            if not listed:
                raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed")
            nums, prev = [], 0
            for p in listed:
                mn = re.search(r"<PartNumber>\s*(\d+)\s*</PartNumber>", p)
                me = re.search(r"<ETag>\s*(.*?)\s*</ETag>", p, re.S)
                if not mn or not me:
                    raise S3Error(400, "MalformedXML", "The XML you provided was not well-formed")
                n = int(mn.group(1))
                etag = me.group(1).replace("&quot;", '"').replace("&#34;", '"')
                if not etag.startswith('"'):
                    etag = '"%s"' % etag
                if n <= prev:
                    raise S3Error(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
                prev = n
                with lock:
                    got = up["parts"].get(n)
                if not got or got[0] != etag:
                    raise S3Error(400, "InvalidPart", "One or more of the specified parts could not be found.")
                nums.append(n)
            with lock:
                parts = [up["parts"][n] for n in nums]
            for p in parts[:-1]:
                if p[2] < args.min_part_size:
                    raise S3Error(400, "EntityTooSmall",
                                  "Your proposed upload is smaller than the minimum allowed size")
            data = None if args.count_only else b"".join(p[1] for p in parts)
            etag = '"%s-%d"' % (hashlib.md5(b"".join(p[3] for p in parts)).hexdigest(), len(parts))
            with lock:
                if uploads.pop(uid, None) is None:
                    raise S3Error(404, "NoSuchUpload", "The specified upload does not exist.")
                stats["completed"] += 1
            self.store(objs, key, data, etag, len(parts), up["meta"], size=sum(p[2] for p in parts))
            return 200, ('<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUploadResult xmlns="%s">'
                         '<Location>/%s/%s</Location><Bucket>%s</Bucket><Key>%s</Key><ETag>%s</ETag>'
                         '</CompleteMultipartUploadResult>' % (XMLNS, escape(bucket), escape(key),
                                                                escape(bucket), escape(key),
                                                                escape(etag))).encode(), None
        raise S3Error(501, "NotImplemented", "%s is not emulated" % op)

    def store(self, objs, key, data, etag, parts, meta, size=None):
        with lock:
            old = objs.get(key)
            if old:  # what a writer that reuses keys would lose
                stats["overwrites"] += 1
                if old["etag"] != etag:
                    stats["overwrites_changed"] += 1
            objs[key] = {"data": None if args.count_only else data,
                         "size": size if size is not None else len(data or b""),
                         "etag": etag, "parts": parts, "meta": meta, "mtime": time.time(),
                         "hide": ctl["list_delay"]}

    def list_v2(self, objs, q):
        prefix = q.get("prefix", "")
        delim = q.get("delimiter", "")
        maxk = int(q.get("max-keys", "1000") or 1000)
        after = q.get("continuation-token") or q.get("start-after") or ""
        url = q.get("encoding-type") == "url"
        enc = (lambda s: quote(s, safe="/")) if url else (lambda s: s)
        with lock:
            visible = []
            for k in sorted(objs):
                o = objs[k]
                if o["hide"] > 0:  # eventual listing: hidden from this many listings
                    o["hide"] -= 1
                    continue
                visible.append((k, o))
        contents, prefixes, truncated, last = [], [], False, ""
        count = 0
        for k, o in visible:
            if not k.startswith(prefix) or k <= after:
                continue
            if delim:
                rest = k[len(prefix):]
                i = rest.find(delim)
                if i >= 0:
                    cp = prefix + rest[:i + len(delim)]
                    if cp <= after or (prefixes and prefixes[-1] == cp):
                        continue
                    if count >= maxk:
                        truncated = True
                        break
                    prefixes.append(cp)
                    last = cp + "\uffff"
                    count += 1
                    continue
            if count >= maxk:
                truncated = True
                break
            contents.append((k, o))
            last = k
            count += 1
        x = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="%s">' % XMLNS,
             "<Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>%d</MaxKeys>"
             % (escape(self.path.lstrip("/").split("?")[0]), escape(enc(prefix)), count, maxk)]
        if delim:
            x.append("<Delimiter>%s</Delimiter>" % escape(enc(delim)))
        if url:
            x.append("<EncodingType>url</EncodingType>")
        x.append("<IsTruncated>%s</IsTruncated>" % ("true" if truncated else "false"))
        if truncated:
            x.append("<NextContinuationToken>%s</NextContinuationToken>" % escape(last))
        for k, o in contents:
            x.append("<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>%s</ETag><Size>%d</Size>"
                     "<StorageClass>%s</StorageClass></Contents>"
                     % (escape(enc(k)), now_iso(o["mtime"]), escape(o["etag"]), o["size"],
                        escape(o["meta"].get("x-amz-storage-class", "STANDARD"))))
        for p in prefixes:
            x.append("<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>" % escape(enc(p)))
        x.append("</ListBucketResult>")
        return 200, "".join(x).encode(), None


class _Sent(Exception):
    pass


_orig_dispatch = Handler.dispatch


def _dispatch(self, method):
    try:
        _orig_dispatch(self, method)
    except _Sent:
        pass


Handler.dispatch = _dispatch


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


srv = Server(("127.0.0.1", args.port), Handler)
print("listening on %d" % srv.server_address[1], flush=True)
srv.serve_forever()
