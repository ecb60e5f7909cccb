#!/usr/bin/python3
"""cloudwatch_emulator.py - a CloudWatch Logs endpoint for tests, written from the public API
reference: the JSON 1.1 protocol (POST /, X-Amz-Target: Logs_20140328.<Action>), error bodies
with __type (in turn "X", "com.amazonaws.logs#X" and "X:<url>", every spelling the protocol
allows, and the X-Amzn-ErrorType header), SigV4 verification against known credentials, pagination tokens, throttling and
ingestion delay. Prints the port on its first stdout line.

Actions: DescribeLogGroups, DescribeLogStreams, FilterLogEvents, GetLogEvents, CreateLogGroup,
CreateLogStream, PutLogEvents.
Credentials: --access-key/--secret (default AKIDSLUICETEST / sluice-test-secret); --token
requires that X-Amz-Security-Token; --also-key AKID:SECRET (repeatable) accepts another
account's long-term key too. A wrong signature gets InvalidSignatureException (403).
Control (unsigned, under /_emulator/):
  POST control {"throttle": N}        the next N API calls get ThrottlingException
               {"fail5xx": N}         the next N get ServiceUnavailableException (503)
               {"rps": R}             per-action rate limit (calls/s), beyond it throttling
               {"page_size": N}       events per page at most (default --page-size)
               {"delay_ms": D}        wait D ms before each answer
               {"throttle_live": N, "grid_ms": W}  the next N FilterLogEvents whose window is
                                      on the W grid at neither end (a live tail's; backfill
                                      windows are aligned) get ThrottlingException
               {"stream_stats_lag_ms": L}  DescribeLogStreams' lastEventTimestamp and
                                      lastIngestionTime see only events ingested L ms ago or
                                      earlier (the real fields are updated lazily)
               {"retention": {"<group>": D}}  the group keeps its events D days (null: for
                                      ever, the default; also --retention GROUP=D):
                                      DescribeLogGroups says retentionInDays, and events
                                      whose timestamp is older than now - D days are
                                      neither returned (FilterLogEvents, GetLogEvents) nor
                                      listed or counted (events, stats)
  POST generate {"groups":[...], "streams":S, "days":D, "per_hour":K, "end_ms":T}
               history: for every group and stream, K events per hour over D days before T
               seasonal traffic instead of K: "profile": [24 counts] per UTC hour of the day
               and "weekend": [24 counts] for Saturdays and Sundays (default: profile); the
               hours are then whole clock hours ending at or before T, so each hour-long
               window holds exactly its hour's count ("days" may span several weeks)
  POST put     {"group","stream","events":[{"timestamp","message"}], "ingest_delay_ms":X}
               events that become visible X ms from now (ingestion delay)
  POST delete  {"group", "start", "end"}   forget events in [start, end) (tests only)
  GET stats    counters; GET events?group=G -> NDJSON {"group","stream","id","timestamp"}
  GET requests NDJSON, in order, one line per signed FilterLogEvents / DescribeLogStreams /
               DescribeLogGroups call (a DescribeLogGroups line has the prefix in "prefix")
               {"seq","t","key","action","group","start","end","token","names","prefix",
               "throttled","status","live_ids"} (t: monotonic seconds at arrival; key: the
               access key id) (live_ids: returned events that came in through put) and
               one per put {"seq","action":"put","ids"}
Credential endpoints serving the known credentials (with --token as session token; with
--creds-ttl T every fetch issues a new session token whose Expiration is T s away, and the API
refuses a token with ExpiredTokenException once it is older than --creds-valid V s: a client
that refreshes 5 minutes before Expiration never sees that when V > T - 300):
  GET /ecs-credentials (ECS container endpoint; checks Authorization when --ecs-auth is set)
  PUT /latest/api/token, GET /latest/meta-data/iam/security-credentials/[role] (IMDSv2)
"""
import argparse
import bisect
import hashlib
import hmac
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PREFIX = "Logs_20140328."
ALSO_KEYS = {}  # --also-key: access key id -> secret


class ApiError(Exception):
    def __init__(self, status, typ, msg):
        super().__init__(msg)
        self.status, self.typ, self.msg = status, typ, msg


class Stream:
    def __init__(self, name, created):
        self.name = name
        self.created = created
        self.events = []   # (timestamp, id, message, ingestion_ms), kept sorted
        self.dirty = False

    def sorted_events(self):
        if self.dirty:
            self.events.sort()
            self.dirty = False
        return self.events


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.groups = {}   # name -> {stream name -> Stream}
        self.created = {}
        self.seq = 0
        self.page_size = args.page_size
        self.throttle = 0
        self.fail5xx = 0
        self.rps = args.rps
        self.delay_ms = 0
        self.calls = {}    # action -> [timestamps in the last second]
        self.stream_stats_lag_ms = 0
        self.throttle_live = 0
        self.grid_ms = 3600000
        self.reqlog = []   # see GET requests
        self.retention = {}  # group -> days its events are kept (absent: for ever)
        self.live_ids = set()
        self.issued = {}   # rotating session token -> issue time (--creds-ttl)
        self.stats = {"requests": 0, "throttled": 0, "failed": 0, "bad_signature": 0,
                      "events_returned": 0}
        self.per_action = {}

    def next_id(self, ts):
        self.seq += 1
        # real ids are long decimal strings; these are unique and sort like real ones
        return "%020d%016d%020d" % (ts, self.seq, 0)

    def kept_from(self, group):
        """The oldest timestamp the group still holds (its retention), or None."""
        d = self.retention.get(group)
        return now_ms() - int(d) * 86400000 if d else None

    def group(self, name):
        g = self.groups.get(name)
        if g is None:
            raise ApiError(400, "ResourceNotFoundException", "The specified log group does not exist.")
        return g

    def add(self, group, stream, ts, msg, ingest):
        g = self.groups.setdefault(group, {})
        self.created.setdefault(group, int(time.time() * 1000))
        s = g.get(stream)
        if s is None:
            s = g[stream] = Stream(stream, int(time.time() * 1000))
        eid = self.next_id(ts)
        s.events.append((ts, eid, msg, ingest))
        s.dirty = True
        return eid


def b64tok(obj):
    import base64
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode()


def untok(t):
    import base64
    try:
        return json.loads(base64.urlsafe_b64decode(t.encode()))
    except Exception:
        raise ApiError(400, "InvalidParameterException", "The specified nextToken is invalid.")


def now_ms():
    return int(time.time() * 1000)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls

    def log_message(self, *a):
        pass

    def send(self, status, obj, ctype="application/x-amz-json-1.1", extra=None):
        body = (json.dumps(obj) if not isinstance(obj, (bytes, str)) else obj)
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "%032x" % random.getrandbits(128))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # ---- SigV4 -------------------------------------------------------------------------
    def verify(self, raw):
        a = self.headers.get("Authorization") or ""
        if not a.startswith("AWS4-HMAC-SHA256 "):
            raise ApiError(400, "MissingAuthenticationTokenException", "Missing Authentication Token")
        parts = dict(p.strip().split("=", 1) for p in a[len("AWS4-HMAC-SHA256 "):].split(",") if "=" in p)
        try:
            ak, date, region, service, term = parts["Credential"].split("/")
            signed = parts["SignedHeaders"].split(";")
            sig = parts["Signature"]
        except (KeyError, ValueError):
            raise ApiError(400, "IncompleteSignatureException", "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'.")
        secret = ARGS.secret if ak == ARGS.access_key else ALSO_KEYS.get(ak)
        if secret is None:
            raise ApiError(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
        if ARGS.creds_ttl:
            tok = self.headers.get("X-Amz-Security-Token") or ""
            with STATE.lock:
                issued = STATE.issued.get(tok)
            if issued is None:
                raise ApiError(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
            if time.time() - issued > ARGS.creds_valid:
                STATE.stats["expired_token"] = STATE.stats.get("expired_token", 0) + 1
                raise ApiError(400, "ExpiredTokenException", "The security token included in the request is expired")
            STATE.stats.setdefault("tokens_used", {})[tok] = 1
        elif ARGS.token and self.headers.get("X-Amz-Security-Token") != ARGS.token:
            raise ApiError(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
        amz_date = self.headers.get("X-Amz-Date") or ""
        if "host" not in signed or "x-amz-date" not in signed or amz_date[:8] != date:
            raise ApiError(403, "InvalidSignatureException", "Signature missing required headers.")
        try:
            t = time.mktime(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")) - time.timezone
        except ValueError:
            raise ApiError(403, "InvalidSignatureException", "Invalid X-Amz-Date.")
        if abs(time.time() - t) > 900:
            raise ApiError(403, "InvalidSignatureException", "Signature expired: %s is now earlier than allowed." % amz_date)
        u = urlsplit(self.path)
        lines = []
        for h in signed:
            vals = self.headers.get_all(h) or []
            lines.append(h + ":" + ",".join(" ".join(v.split()) for v in vals))
        creq = "\n".join([self.command, u.path or "/", "&".join(sorted(u.query.split("&"))) if u.query else "",
                          "\n".join(lines) + "\n", ";".join(signed), hashlib.sha256(raw).hexdigest()])
        scope = "/".join([date, region, service, term])
        sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(creq.encode()).hexdigest()])
        k = ("AWS4" + secret).encode()
        for m in (date, region, service, term):
            k = hmac.new(k, m.encode(), hashlib.sha256).digest()
        want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want.encode(), sig.encode(errors="replace")):
            if ARGS.debug:
                sys.stderr.write("signature mismatch; canonical request:\n%s\nbody: %r\nheaders: %s\n" % (creq, raw, self.headers))
            raise ApiError(403, "InvalidSignatureException",
                           "The request signature we calculated does not match the signature you provided. "
                           "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
        return ak

    # ---- API ---------------------------------------------------------------------------
    def do_POST(self):
        self.entry = None
        raw = self.body()
        u = urlsplit(self.path)
        if u.path.startswith("/_emulator/"):
            return self.control(u.path[len("/_emulator/"):], raw)
        st = STATE
        target = self.headers.get("X-Amz-Target") or ""
        try:
            if not target.startswith(PREFIX):
                raise ApiError(400, "UnknownOperationException", "")
            action = target[len(PREFIX):]
            ak = self.verify(raw)
            try:
                peek = json.loads(raw or b"{}")
            except ValueError:
                peek = {}
            entry = None
            with st.lock:
                st.stats["requests"] += 1
                st.per_action[action] = st.per_action.get(action, 0) + 1
                if action in ("FilterLogEvents", "DescribeLogStreams", "DescribeLogGroups") and isinstance(peek, dict):
                    entry = {"seq": len(st.reqlog), "t": time.monotonic(), "key": ak, "action": action, "group": peek.get("logGroupName"),
                             "start": peek.get("startTime"), "end": peek.get("endTime"),
                             "token": bool(peek.get("nextToken")), "names": len(peek.get("logStreamNames") or []),
                             "prefix": peek.get("logGroupNamePrefix") if action == "DescribeLogGroups"
                             else peek.get("logStreamNamePrefix"), "order": peek.get("orderBy"),
                             "descending": peek.get("descending"), "throttled": False, "status": 200,
                             "live_ids": []}
                    st.reqlog.append(entry)
                    self.entry = entry
                if st.throttle > 0:
                    st.throttle -= 1
                    st.stats["throttled"] += 1
                    raise ApiError(400, "ThrottlingException", "Rate exceeded")
                if st.throttle_live > 0 and action == "FilterLogEvents" and entry is not None:
                    a, b = entry["start"], entry["end"]
                    if isinstance(a, int) and isinstance(b, int) and a % st.grid_ms and (b + 1) % st.grid_ms:
                        st.throttle_live -= 1
                        st.stats["throttled"] += 1
                        raise ApiError(400, "ThrottlingException", "Rate exceeded")
                if st.fail5xx > 0:
                    st.fail5xx -= 1
                    st.stats["failed"] += 1
                    raise ApiError(503, "ServiceUnavailableException", "The service is unavailable")
                if st.rps:
                    t = time.monotonic()
                    c = [x for x in st.calls.get(action, []) if t - x < 1.0]
                    if len(c) >= st.rps:
                        st.calls[action] = c
                        st.stats["throttled"] += 1
                        raise ApiError(400, "ThrottlingException", "Rate exceeded")
                    c.append(t)
                    st.calls[action] = c
                delay = st.delay_ms
            if delay:
                time.sleep(delay / 1000.0)
            try:
                req = json.loads(raw or b"{}")
                if not isinstance(req, dict):
                    raise ValueError
            except ValueError:
                raise ApiError(400, "SerializationException", "Start of structure or map found where not expected.")
            fn = getattr(self, "api_" + action, None)
            if fn is None:
                raise ApiError(400, "UnknownOperationException", "")
            with st.lock:
                out = fn(st, req)
                ent = getattr(self, "entry", None)
                if ent is not None and action == "FilterLogEvents" and st.live_ids:
                    ent["live_ids"] = [e["eventId"] for e in out["events"] if e["eventId"] in st.live_ids]
                self.entry = None
            return self.send(200, out)
        except ApiError as e:
            if e.typ == "InvalidSignatureException":
                st.stats["bad_signature"] += 1
            ent = getattr(self, "entry", None)
            if ent is not None:
                ent["status"] = e.status
                ent["throttled"] = e.typ == "ThrottlingException"
                self.entry = None
            # The AWS JSON protocol lets a server spell the type as "X", "namespace#X" or
            # either with a ":<url>" suffix (clients sanitize it); the header carries the
            # suffixed form. Every spelling in turn, so a client that knows one fails here.
            with st.lock:
                st.error_seq = getattr(st, "error_seq", 0) + 1
                form = st.error_seq % 3
            coral = ":http://internal.amazon.com/coral/com.amazonaws.logs/"
            typ = (e.typ, "com.amazonaws.logs#" + e.typ, e.typ + coral)[form]
            return self.send(e.status, {"__type": typ, "message": e.msg},
                             extra={"X-Amzn-ErrorType": e.typ + coral})

    def page_size(self, st, req, maxv):
        lim = req.get("limit", maxv)
        if not isinstance(lim, int) or lim < 1 or lim > maxv:
            raise ApiError(400, "InvalidParameterException", "1 validation error detected: Value at 'limit' failed to satisfy constraint")
        return min(lim, st.page_size)

    def api_DescribeLogGroups(self, st, req):
        prefix = req.get("logGroupNamePrefix", "")
        names = sorted(n for n in st.groups if n.startswith(prefix))
        start = untok(req["nextToken"])["i"] if req.get("nextToken") else 0
        lim = self.page_size(st, req, 50)
        page = names[start:start + lim]
        out = {"logGroups": [{"logGroupName": n, "creationTime": st.created.get(n, 0), "storedBytes": 0,
                              "arn": "arn:aws:logs:us-east-1:123456789012:log-group:%s:*" % n} for n in page]}
        for g in out["logGroups"]:
            if st.retention.get(g["logGroupName"]):
                g["retentionInDays"] = int(st.retention[g["logGroupName"]])
        if start + lim < len(names):
            out["nextToken"] = b64tok({"i": start + lim})
        return out

    def api_DescribeLogStreams(self, st, req):
        g = st.group(req.get("logGroupName", ""))
        prefix = req.get("logStreamNamePrefix", "")
        order = req.get("orderBy", "LogStreamName")
        ss = [s for s in g.values() if s.name.startswith(prefix)]
        seen_by = now_ms() - st.stream_stats_lag_ms  # lazily updated fields see up to here

        def last_seen(s):
            ev = [e for e in s.sorted_events() if e[3] <= seen_by]
            return ev[-1][0] if ev else 0
        if order == "LastEventTime":
            if prefix:
                raise ApiError(400, "InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.")
            ss.sort(key=lambda s: (last_seen(s), s.name))
        else:
            ss.sort(key=lambda s: s.name)
        if req.get("descending"):
            ss.reverse()
        start = untok(req["nextToken"])["i"] if req.get("nextToken") else 0
        lim = self.page_size(st, req, 50)
        page = ss[start:start + lim]
        out = {"logStreams": []}
        for s in page:
            ev = [e for e in s.sorted_events() if e[3] <= seen_by]
            d = {"logStreamName": s.name, "creationTime": s.created, "storedBytes": 0,
                 "arn": "arn:aws:logs:us-east-1:123456789012:log-group:%s:log-stream:%s" % (req["logGroupName"], s.name)}
            if ev:
                d.update(firstEventTimestamp=ev[0][0], lastEventTimestamp=ev[-1][0],
                         lastIngestionTime=max(e[3] for e in ev), uploadSequenceToken="1")
            out["logStreams"].append(d)
        if start + lim < len(ss):
            out["nextToken"] = b64tok({"i": start + lim})
        return out

    def api_FilterLogEvents(self, st, req):
        name = req.get("logGroupName", "")
        g = st.group(name)
        names = req.get("logStreamNames")
        sprefix = req.get("logStreamNamePrefix")
        if names is not None and sprefix is not None:
            raise ApiError(400, "InvalidParameterException", "logStreamNames and logStreamNamePrefix are mutually exclusive")
        if names is not None and (not isinstance(names, list) or not 1 <= len(names) <= 100):
            raise ApiError(400, "InvalidParameterException", "1 validation error detected: Value at 'logStreamNames' failed to satisfy constraint: Member must have length less than or equal to 100")
        lo = req.get("startTime", 0)
        hi = req.get("endTime", 2 ** 62)
        if not isinstance(lo, int) or not isinstance(hi, int):
            raise ApiError(400, "InvalidParameterException", "startTime and endTime must be numbers")
        lim = self.page_size(st, req, 10000)
        after = None
        if req.get("nextToken"):
            tk = untok(req["nextToken"])
            after = (tk["t"], tk["id"])
        t = now_ms()
        kept = st.kept_from(name)
        if kept is not None:
            lo = max(lo, kept)  # expired events are gone
        evs = []
        # per stream: bisect to the first candidate, take at most lim + 1 visible events
        for s in g.values():
            if names and s.name not in names:
                continue
            if sprefix and not s.name.startswith(sprefix):
                continue
            ev = s.sorted_events()
            i = bisect.bisect_right(ev, (after[0], after[1], "\U0010ffff")) if after else 0
            i = max(i, bisect.bisect_left(ev, (lo,)))
            taken = 0
            while i < len(ev) and taken <= lim:
                e = ev[i]
                i += 1
                if e[0] > hi:
                    break
                if e[3] <= t and (after is None or (e[0], e[1]) > after):
                    evs.append((e[0], e[1], s.name, e[2], e[3]))
                    taken += 1
        evs.sort()
        page = evs[:lim]
        out = {"events": [{"logStreamName": e[2], "timestamp": e[0], "message": e[3],
                           "ingestionTime": e[4], "eventId": e[1]} for e in page],
               "searchedLogStreams": []}
        st.stats["events_returned"] += len(page)
        if len(evs) > lim:
            out["nextToken"] = b64tok({"t": page[-1][0], "id": page[-1][1]})
        return out

    def api_GetLogEvents(self, st, req):
        g = st.group(req.get("logGroupName", ""))
        s = g.get(req.get("logStreamName", ""))
        if s is None:
            raise ApiError(400, "ResourceNotFoundException", "The specified log stream does not exist.")
        lo = req.get("startTime", 0)
        hi = req.get("endTime", 2 ** 62)
        lim = self.page_size(st, req, 10000)
        t = now_ms()
        kept = st.kept_from(req.get("logGroupName", ""))
        if kept is not None:
            lo = max(lo, kept)
        evs = [e for e in s.sorted_events() if lo <= e[0] < hi and e[3] <= t]
        pos = 0
        if req.get("nextToken"):
            tok = req["nextToken"]
            if not tok.startswith("f/"):
                raise ApiError(400, "InvalidParameterException", "The specified nextToken is invalid.")
            pos = untok(tok[2:])["i"]
        elif req.get("startFromHead") is not True:
            pos = max(0, len(evs) - lim)
        page = evs[pos:pos + lim]
        st.stats["events_returned"] += len(page)
        nxt = pos + len(page)
        return {"events": [{"timestamp": e[0], "message": e[2], "ingestionTime": e[3]} for e in page],
                "nextForwardToken": "f/" + b64tok({"i": nxt}),
                "nextBackwardToken": "b/" + b64tok({"i": pos})}

    def api_CreateLogGroup(self, st, req):
        n = req.get("logGroupName", "")
        if n in st.groups:
            raise ApiError(400, "ResourceAlreadyExistsException", "The specified log group already exists")
        st.groups[n] = {}
        st.created[n] = now_ms()
        return {}

    def api_CreateLogStream(self, st, req):
        g = st.group(req.get("logGroupName", ""))
        n = req.get("logStreamName", "")
        if n in g:
            raise ApiError(400, "ResourceAlreadyExistsException", "The specified log stream already exists")
        g[n] = Stream(n, now_ms())
        return {}

    def api_PutLogEvents(self, st, req):
        g = st.group(req.get("logGroupName", ""))
        if req.get("logStreamName", "") not in g:
            raise ApiError(400, "ResourceNotFoundException", "The specified log stream does not exist.")
        t = now_ms()
        for e in req.get("logEvents", []):
            st.add(req["logGroupName"], req["logStreamName"], int(e["timestamp"]), str(e["message"]), t)
        return {"nextSequenceToken": "1"}

    # ---- Control -----------------------------------------------------------------------
    def control(self, what, raw):
        st = STATE
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            return self.send(400, {"error": "bad json"}, "application/json")
        with st.lock:
            if what == "control":
                for k in ("throttle", "fail5xx", "rps", "page_size", "delay_ms", "stream_stats_lag_ms",
                          "throttle_live", "grid_ms"):
                    if k in req:
                        setattr(st, k, req[k])
                for g, d in (req.get("retention") or {}).items():
                    if d:
                        st.retention[g] = int(d)
                    else:
                        st.retention.pop(g, None)
                return self.send(200, {"ok": True}, "application/json")
            if what == "generate":
                end = int(req.get("end_ms", now_ms()))
                per_hour = int(req.get("per_hour", 1))
                hours = int(req.get("days", 1) * 24)
                rnd = random.Random(req.get("seed", 1))
                profile = req.get("profile")
                weekend = req.get("weekend") or profile
                n = 0
                for gname in req["groups"]:
                    st.groups.setdefault(gname, {})  # streams: 0 makes an empty group
                    st.created.setdefault(gname, now_ms())
                    for si in range(int(req.get("streams", 1))):
                        sname = "stream-%03d" % si
                        for h in range(hours):
                            base = end - (h + 1) * 3600000
                            k_hour = per_hour
                            if profile:
                                base = (end // 3600000 - h - 1) * 3600000
                                tm = time.gmtime(base // 1000)
                                k_hour = int((weekend if tm.tm_wday >= 5 else profile)[tm.tm_hour])
                            for k in range(k_hour):
                                ts = base + rnd.randrange(3600000)
                                msg = req.get("json") and json.dumps({"level": "info", "n": n, "g": gname}) \
                                    or "%s %s event %d" % (gname, sname, n)
                                st.add(gname, sname, ts, msg, ts + rnd.randrange(1000))
                                n += 1
                return self.send(200, {"events": n}, "application/json")
            if what == "put":
                vis = now_ms() + int(req.get("ingest_delay_ms", 0))
                ids = [st.add(req["group"], req["stream"], int(e["timestamp"]), e["message"], vis)
                       for e in req["events"]]
                st.live_ids.update(ids)
                st.reqlog.append({"seq": len(st.reqlog), "action": "put", "ids": ids})
                return self.send(200, {"ids": ids}, "application/json")
            if what == "delete":
                g = st.groups.get(req["group"], {})
                n = 0
                for s in g.values():
                    keep = [e for e in s.events if not (req["start"] <= e[0] < req["end"])]
                    n += len(s.events) - len(keep)
                    s.events = keep
                return self.send(200, {"deleted": n}, "application/json")
        return self.send(404, {"error": "unknown"}, "application/json")

    def creds_json(self):
        token = ARGS.token
        ttl = 3600
        if ARGS.creds_ttl:
            with STATE.lock:
                token = "ROT-%d" % (len(STATE.issued) + 1)
                STATE.issued[token] = time.time()
            ttl = ARGS.creds_ttl
        exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + ttl))
        return {"AccessKeyId": ARGS.access_key, "SecretAccessKey": ARGS.secret, "Token": token,
                "Expiration": exp, "Code": "Success", "Type": "AWS-HMAC"}

    def do_PUT(self):
        self.body()
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            STATE.stats["imds_tokens"] = STATE.stats.get("imds_tokens", 0) + 1
            return self.send(200, "imds-session-token", "text/plain")
        return self.send(403, "", "text/plain")

    def do_GET(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        st = STATE
        if u.path == "/ecs-credentials":
            if ARGS.ecs_auth and self.headers.get("Authorization") != ARGS.ecs_auth:
                return self.send(401, "", "text/plain")
            st.stats["ecs_calls"] = st.stats.get("ecs_calls", 0) + 1
            return self.send(200, self.creds_json(), "application/json")
        if u.path.startswith("/latest/meta-data/iam/security-credentials/"):
            if self.headers.get("X-aws-ec2-metadata-token") != "imds-session-token":
                return self.send(401, "", "text/plain")  # IMDSv2 only
            if u.path.endswith("/"):
                return self.send(200, "sluice-role\n", "text/plain")
            if u.path.endswith("/sluice-role"):
                st.stats["imds_calls"] = st.stats.get("imds_calls", 0) + 1
                return self.send(200, self.creds_json(), "application/json")
            return self.send(404, "", "text/plain")
        with st.lock:
            if u.path == "/_emulator/stats":
                kept = {g: st.kept_from(g) for g in st.groups}
                d = dict(st.stats, per_action=st.per_action,
                         events=sum(1 for gn, g in st.groups.items() for s in g.values()
                                    for e in s.events if kept[gn] is None or e[0] >= kept[gn]))
                return self.send(200, d, "application/json")
            if u.path == "/_emulator/requests":
                out = "".join(json.dumps(e) + "\n" for e in st.reqlog)
                return self.send(200, out, "application/x-ndjson")
            if u.path == "/_emulator/events":
                want = q.get("group", [None])[0]
                t = now_ms()
                out = []
                for gname, g in st.groups.items():
                    if want and gname != want:
                        continue
                    kept = st.kept_from(gname)
                    for s in g.values():
                        for e in s.events:
                            if e[3] <= t and (kept is None or e[0] >= kept):
                                out.append(json.dumps({"group": gname, "stream": s.name, "id": e[1], "timestamp": e[0]}))
                return self.send(200, "\n".join(out) + ("\n" if out else ""), "application/x-ndjson")
        return self.send(404, {"__type": "UnknownOperationException"})


def main():
    global ARGS, STATE, ALSO_KEYS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--access-key", default="AKIDSLUICETEST")
    ap.add_argument("--secret", default="sluice-test-secret")
    ap.add_argument("--token", default="")
    ap.add_argument("--page-size", type=int, default=10000)
    ap.add_argument("--rps", type=int, default=0)
    ap.add_argument("--debug", action="store_true")
    ap.add_argument("--also-key", action="append", default=[])
    ap.add_argument("--ecs-auth", default="")
    ap.add_argument("--creds-ttl", type=int, default=0)
    ap.add_argument("--creds-valid", type=float, default=0)
    ap.add_argument("--retention", action="append", default=[], help="GROUP=DAYS (repeatable)")
    ARGS = ap.parse_args()
    ALSO_KEYS = dict(k.split(":", 1) for k in ARGS.also_key)
    STATE = State(ARGS)
    for r in ARGS.retention:
        g, d = r.rsplit("=", 1)
        STATE.retention[g] = int(d)
    srv = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    srv.daemon_threads = True
    print("listening on port %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
