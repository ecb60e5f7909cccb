#!/usr/bin/python3
"""es_emulator.py - an Elasticsearch node for tests, written from the public REST API docs:
_bulk with real per-item results and `errors`, create -> 409 on an existing _id, dynamic
mapping per index (a field's first type wins; a later mismatched value fails that item with
mapper_parsing_exception; a metadata field such as _id inside a document fails it too),
index names checked as a new index's are (invalid_index_name_exception), ingest pipelines
(PUT/GET/DELETE _ingest/pipeline/<id>; bulk's `pipeline` runs their `set` processors, a
pipeline the node lacks fails each item: "pipeline with id [x] does not exist"),
PUT /<index>/_mapping (ignore_malformed), _count and
_delete_by_query with a query (match_all, bool, term, range), a minimal
_search (max, min and terms-on-_index aggregations over the docs its query matches), aliases (POST _aliases applied atomically,
GET _alias, index and data stream aliases resolved by every pattern, bulk writes to an
alias's write index), PUT _data_stream/<name> (needs a data stream template) and DELETE,
data stream backing indices (.ds-<name>-<day>-00000N, each with its own mapping; POST
<stream or alias>/_rollover starts the next; a backing index is addressable by name),
GET _field_caps (a field's types per backing index, with the indices of each when they
differ), GET _mapping, scroll searches with a query (exists, term, range, bool), GET/PUT _settings (index.refresh_interval,
checked as a time value; index.blocks.write / read_only / read_only_allow_delete, which fail
bulk items writing there with cluster_block_exception, 403 or 429 as the servers answer),
PUT _cluster/settings cluster.blocks.read_only (and _allow_delete): every _bulk refused 403, _cat/indices, _index_template with data streams
(a template overlapping another of the same priority refused, as Elasticsearch does;
--builtin-templates: ES 8's logs-*-*, metrics-*-*, traces-*-*, synthetics-*-* at 100), legacy _template, filter_path on
_bulk, strict Content-Type checking (--strict-content-type), gzip bodies (the first member
only, as Elasticsearch's HTTP layer reads them: `gzip_dropped_bytes` counts what followed),
basic auth.
Prints the port on its first stdout line.

--flavor es7|es8|opensearch1|opensearch2 (default es8) reproduces what differs between them
(see FLAVORS): the GET / answer (version.number, version.distribution "opensearch",
tagline, X-Elastic-Product), `_type: "_doc"` in bulk items (ES 7, OpenSearch 1), `_type` in
an action accepted (ES 7, OpenSearch 1) or refused (ES 8, OpenSearch 2), the mapping error
type (ES 8: document_parsing_exception), ES 8's versioned media types; --version 7.7.1
emulates an Elasticsearch without composable templates (< 7.8) or data streams (< 7.9).

Faults, by flags or POST /_emulator/control with a JSON object:
  {"item_429": 0.3}          fail that fraction of bulk items with 429 (seeded, per item)
  {"fail": N, "status": 503} answer the next N requests with that status
  {"delay_ms": 500}          wait before each answer
  {"stall": true}            hold every request until stall is set false
  {"answer": N}              answer the next N requests, then stall (hold) every later one
  {"reset": N}               send headers and half a body, then close, for N bulk requests
  {"max_body": BYTES}        413 for request bodies above this size (as received)
  {"password": "x"}          change the basic-auth password (401 until the client matches)
  {"count_only": true}       benchmark mode: count documents, store nothing
  {"hold_scroll": true}      hold every new scroll search until set false (stats: scrolls_held)
  {"hold_field_caps": true}  hold every _field_caps request until set false
  {"drop_reused": N}         for the next N API requests that come on a connection which
                             already carried one, read the request and close without an
                             answer (a server that closed an idle connection as it was reused)
  {"idle_close_ms": MS}      close a connection that stays idle that long between requests
                             (0: never), as servers with a keep-alive timeout do
--api-key / --bearer accept only that Authorization; --tls-cert/--tls-key serve HTTPS;
--tls-client-ca also requires a client certificate signed by that CA (mutual TLS).
GET /_emulator/stats: counters (`max_body_bytes`: the largest request body as received), and
`inflight` / `max_inflight`: requests being answered now
and the most at once (POST {"max_inflight": 0} to start counting again), `tls_refused`:
handshakes refused (client certificate missing or not trusted), by OpenSSL reason in
`tls_refused_reasons`, `media_refused`: requests refused for their Content-Type (with
--strict-content-type); GET /_emulator/docs: every stored doc as NDJSON
({"_index","_id","_source"}); GET /_emulator/attempts: how many times each _id was sent;
GET /_emulator/ids: the _id of every stored doc, in the order they were first stored (a JSON
list; with one index and no deletes, what `docs` counted earlier is a prefix of it), and
`overwrites` in the stats: `index` actions on an _id already stored;
GET /_emulator/settings: each index's dynamic settings and their change log
([time.monotonic(), setting, value]); GET /_emulator/answers: [time.monotonic(), status] of every API answer as it was sent;
GET /_emulator/requests: the request line ("METHOD target") of every API request, in order.
Connections: `connections` counts those that carried an API request (`open_connections`:
those still open), `dropped_reused` and `idle_closed` what the two faults above did.

--prefix /insert/elasticsearch serves the API only under that path, as an
Elasticsearch-compatible store mounted below its root does (VictoriaLogs' /insert/elasticsearch/)
or a proxy routing by path: anything else is 404. --require-param k=v (repeatable) answers
400 to any API request whose query string lacks that parameter (a tenant or field-mapping
parameter the store reads from every request). Paths are percent-decoded per segment, as
the servers do. /_emulator/ stays at the root.
"""
import argparse
import base64
import fnmatch
import zlib
import json
import random
import select
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

# What differs between the servers the sink supports, from their public docs. `version`
# can be overridden (--version) to emulate an older minor release: composable
# _index_template needs Elasticsearch >= 7.8, data streams >= 7.9 (OpenSearch: any).
FLAVORS = {
    "es7": dict(product="Elasticsearch", version="7.17.15", lucene="8.11.1",
                tagline="You Know, for Search", item_type=True, accepts_type=True,
                mapping_error="mapper_parsing_exception", vnd_media=False),
    "es8": dict(product="Elasticsearch", version="8.11.0", lucene="9.8.0",
                tagline="You Know, for Search", item_type=False, accepts_type=False,
                mapping_error="document_parsing_exception", vnd_media=True),
    "opensearch1": dict(product="OpenSearch", version="1.3.13", lucene="8.10.1",
                        tagline="The OpenSearch Project: https://opensearch.org/", item_type=True,
                        accepts_type=True, mapping_error="mapper_parsing_exception", vnd_media=False),
    "opensearch2": dict(product="OpenSearch", version="2.11.0", lucene="9.7.0",
                        tagline="The OpenSearch Project: https://opensearch.org/", item_type=False,
                        accepts_type=False, mapping_error="mapper_parsing_exception", vnd_media=False),
}


def vtuple(v):
    return tuple(int(x) for x in v.split("-")[0].split(".")[:3])


def filter_path(obj, paths):
    """The response filter of ?filter_path=a,b.*.c (`*` matches any one key; arrays are
    walked through). Returns None when nothing is left."""
    def keep(o, pats):
        if isinstance(o, list):
            out = [x for x in (keep(e, pats) for e in o) if x is not None]
            return out or None
        if not isinstance(o, dict):
            return o if [] in pats else None
        if [] in pats:
            return o
        out = {}
        for k, v in o.items():
            sub = [p[1:] for p in pats if p and (p[0] == "*" or fnmatch.fnmatchcase(k, p[0]))]
            if sub:
                x = keep(v, sub)
                if x is not None:
                    out[k] = x
        return out or None
    return keep(obj, [p.split(".") for p in paths if p]) or {}



def field_get(doc, path):
    """A dotted field of a stored document: nested objects, or a literal dotted key."""
    if path in doc:
        return doc[path]
    cur = doc
    for p in path.split("."):
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


def as_ms(v):
    """epoch_millis numbers or ISO-8601 strings -> ms (None when neither)."""
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
        try:
            from datetime import datetime
            import re
            v = re.sub(r"(\.\d{6})\d+", r"\1", v.replace("Z", "+00:00"))
            return datetime.fromisoformat(v).timestamp() * 1000
        except ValueError:
            return None
    return None


def query_match(q, doc):
    """The query DSL subset _count and _delete_by_query need: match_all, bool
    (filter/must/must_not), term, exists, range (gte/gt/lte/lt; numbers, dates as ISO or ms)."""
    if not q or "match_all" in q:
        return True
    if "bool" in q:
        b = q["bool"]
        lst = lambda k: b.get(k) if isinstance(b.get(k), list) else ([b[k]] if k in b else [])
        return (all(query_match(c, doc) for c in lst("filter") + lst("must")) and
                not any(query_match(c, doc) for c in lst("must_not")))
    if "exists" in q:
        return field_get(doc, q["exists"].get("field", "")) is not None
    if "term" in q:
        (f, v), = q["term"].items()
        if isinstance(v, dict):
            v = v.get("value")
        return field_get(doc, f[:-8] if f.endswith(".keyword") else f) == v
    if "range" in q:
        (f, r), = q["range"].items()
        x = as_ms(field_get(doc, f))
        if x is None:
            return False
        for op, test in (("gte", lambda a, b: a >= b), ("gt", lambda a, b: a > b),
                         ("lte", lambda a, b: a <= b), ("lt", lambda a, b: a < b)):
            if op in r and not test(x, as_ms(r[op])):
                return False
        return True
    return False

class Index:
    def __init__(self, name, data_stream=False):
        self.name = name
        self.docs = {}      # _id -> source
        self.order = []
        self.mapping = {}   # dotted path -> {"type": t, "ignore_malformed": bool}
        self.data_stream = data_stream
        self.settings = {}  # dynamic index settings set with PUT _settings ("refresh_interval")
        self.settings_log = []  # [time.monotonic(), setting, value] of every change
        # A data stream's backing indices, oldest first: {"name", "mapping", "ids"}; the
        # last one takes the writes and its mapping is self.mapping (POST _rollover adds one).
        self.gens = []
        if data_stream:
            self.rollover({})

    def rollover(self, props):
        self.mapping = {}
        put_props(self, props)
        day = time.strftime("%Y.%m.%d", time.gmtime())
        self.gens.append({"name": ".ds-%s-%s-%06d" % (self.name, day, len(self.gens) + 1),
                          "mapping": self.mapping, "ids": set()})

    def backing(self):
        """(backing index name, mapping, ids or None for all) of each backing index."""
        if not self.gens:
            return [(self.name, self.mapping, None)]
        return [(g["name"], g["mapping"], g["ids"]) for g in self.gens]


TIME_UNITS = ("nanos", "micros", "ms", "s", "m", "h", "d")


# Index blocks (PUT <index>/_settings {"index.blocks.write": true}): what a bulk item
# writing to a blocked index is answered, (status, block) by the setting. The flood-stage
# disk block is a 429 since Elasticsearch 7.7 and in OpenSearch, a 403 before.
BLOCKS = {
    "index.blocks.write": (403, "FORBIDDEN/8/index write (api)"),
    "index.blocks.read_only": (403, "FORBIDDEN/5/index read-only (api)"),
    "index.blocks.read_only_allow_delete": (429, "TOO_MANY_REQUESTS/12/disk usage exceeded "
                                                 "flood-stage watermark, index has "
                                                 "read-only-allow-delete block"),
}


# Cluster-wide blocks (PUT _cluster/settings): a bulk request is refused whole, 403.
CLUSTER_BLOCKS = {
    "cluster.blocks.read_only": "FORBIDDEN/6/cluster read-only (api)",
    "cluster.blocks.read_only_allow_delete": "FORBIDDEN/13/cluster read-only / allow delete (api)",
}


def index_name_error(name):
    """Why Elasticsearch refuses `name` for a new index (invalid_index_name_exception), or
    None."""
    if name != name.lower():
        return "Invalid index name [%s], must be lowercase" % name
    if any(c in name for c in '\\/*?"<>| ,#'):
        return ("Invalid index name [%s], must not contain the following characters "
                "[ , \", *, \\, <, |, ,, >, /, ?]" % name)
    if ":" in name:
        return "Invalid index name [%s], must not contain ':'" % name
    if name[0] in "-_+":
        return "Invalid index name [%s], must not start with '_', '-', or '+'" % name
    if name in (".", ".."):
        return "Invalid index name [%s], must not be '.' or '..'" % name
    if len(name.encode()) > 255:
        return "Invalid index name [%s], index name is too long, (%d > 255)" % (name, len(name.encode()))
    return None


def block_of(ix, flavor):
    """(status, reason) of the first block set on ix, else None."""
    for key, (status, what) in BLOCKS.items():
        if ix.settings.get(key[6:]) == "true":
            if status == 429 and flavor["product"] == "Elasticsearch" and vtuple(flavor["version"]) < (7, 7):
                status, what = 403, "FORBIDDEN/12/index read-only / allow delete (api)"
            return status, "index [%s] blocked by: [%s];" % (ix.name, what)
    return None


def time_value_ok(v):
    """Elasticsearch's TimeValue as index settings take it: whole digits and a unit, or -1 /
    0 alone (fractions are refused: "fractional time values are not supported")."""
    if not isinstance(v, str):
        return False
    if v in ("-1", "0"):
        return True
    for u in sorted(TIME_UNITS, key=len, reverse=True):
        if v.endswith(u):
            n = v[:-len(u)]
            return n.isascii() and n.isdigit()
    return False


def flat_settings(obj, prefix=""):
    """{"index": {"refresh_interval": "1s"}} and {"index.refresh_interval": "1s"} alike."""
    out = {}
    for k, v in obj.items():
        if isinstance(v, dict):
            out.update(flat_settings(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def jtype(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "long"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "text"
    if isinstance(v, dict):
        return "object"
    return None


class MappingError(Exception):
    pass


def leaves(obj, prefix=""):
    """Yields (path, value) of a document the way Elasticsearch expands it: dotted keys
    become objects, arrays take their elements' type."""
    for k, v in obj.items():
        if not isinstance(k, str) or k.strip() == "":
            raise MappingError("field name cannot be an empty string")
        parts = k.split(".")
        if any(p == "" for p in parts):
            raise MappingError("field name [%s] cannot contain only whitespace or have empty "
                               "segments" % k)
        path = prefix + k
        if len(path.encode()) > 32766:
            raise MappingError("field name too long")
        if isinstance(v, dict):
            yield path, v
            yield from leaves(v, path + ".")
        elif isinstance(v, list):
            for x in v:
                if isinstance(x, dict):
                    yield path, x
                    yield from leaves(x, path + ".")
                elif x is not None:
                    yield path, x
        elif v is not None:
            yield path, v


# Metadata fields: a document that holds one at its top level is refused whole. `_type`
# only where types still exist (Elasticsearch 7, OpenSearch 1).
META_FIELDS = {"_id", "_index", "_source", "_routing", "_version", "_seq_no", "_field_names",
               "_ignored", "_data_stream_timestamp", "_doc_count", "_tier"}


def check_and_map(ix, src, doc_id, typed=False):
    """Applies dynamic mapping; raises MappingError on a conflict. Mapping is updated only
    when the whole document fits."""
    for k in src:
        if k in META_FIELDS or (typed and k == "_type"):
            raise MappingError("Field [%s] is a metadata field and cannot be added inside a "
                               "document. Use the index API request parameters." % k)
    new = {}
    for path, v in leaves(src):
        t = jtype(v)
        if path == "@timestamp" and t == "text":
            t = "date"
        m = ix.mapping.get(path) or new.get(path)
        if m is None:
            new[path] = {"type": t, "ignore_malformed": False}
            continue
        mt = m["type"]
        if mt == "object":
            if t != "object":
                raise MappingError("object mapping for [%s] tried to parse field [%s] as object, "
                                   "but found a concrete value" % (path, path))
        elif t == "object":
            raise MappingError("failed to parse field [%s] of type [%s] in document with id '%s'. "
                               "Preview of field's value: '%s'" % (path, mt, doc_id, json.dumps(v)[:40]))
        elif mt in ("long", "float"):
            ok = t in ("long", "float")
            if t == "text":
                try:
                    float(v)
                    ok = True
                except ValueError:
                    ok = False
            if not ok and not m.get("ignore_malformed"):
                raise MappingError("failed to parse field [%s] of type [%s] in document with id "
                                   "'%s'. Preview of field's value: '%s'" % (path, mt, doc_id, str(v)[:40]))
        elif mt == "boolean":
            if t != "boolean" and v not in ("true", "false") and not m.get("ignore_malformed"):
                raise MappingError("failed to parse field [%s] of type [boolean] in document with "
                                   "id '%s'" % (path, doc_id))
    ix.mapping.update(new)


class State:
    def __init__(self, a):
        self.lock = threading.Lock()
        self.cv = threading.Condition(self.lock)
        self.indices = {}
        self.templates = {}
        self.user = a.user
        self.api_key = a.api_key
        self.bearer = a.bearer
        self.password = a.password
        self.item_429 = a.item_429
        self.fail = 0
        self.fail_status = 503
        self.delay_ms = a.delay_ms
        self.stall = False
        self.answer = None  # answer this many more requests, then stall (None: no limit)
        self.answers = []  # [monotonic time, status] of every API answer, in order
        self.media_refused = []  # requests refused for their media type
        self.reset = 0
        self.max_body = a.max_body
        self.count_only = a.count_only
        self.rng = random.Random(a.seed)
        self.stats = dict(requests=0, bulk_requests=0, items=0, created=0, conflicts=0, overwrites=0,
                          item_429=0, mapping_errors=0, other_errors=0, gzip_requests=0,
                          gzip_dropped_bytes=0,
                          status_413=0, status_401=0, failed_requests=0, resets=0,
                          bad_requests=0, body_bytes=0, max_body_bytes=0, decoded_bytes=0, count_only_docs=0, stalled=0,
                          ids_missing=0, inflight=0, max_inflight=0, tls_refused=0,
                          tls_refused_reasons={}, settings_updates=0, connections=0,
                          dropped_reused=0, idle_closed=0, open_connections=0)
        self.drop_reused = 0
        self.idle_close_ms = 0
        self.attempts = {}
        self.flavor = dict(FLAVORS[a.flavor], name=a.flavor)
        if a.version:
            self.flavor["version"] = a.version
        v = vtuple(self.flavor["version"])
        es = self.flavor["product"] == "Elasticsearch"
        self.composable = not es or v >= (7, 8)
        self.data_streams = not es or v >= (7, 9)
        self.legacy_templates = {}
        if a.builtin_templates:
            # Elasticsearch 8's own (stack.templates.enabled): the data streams of Elastic
            # Agent and Fleet take their names from them
            for kind in ("logs", "metrics", "traces", "synthetics"):
                self.templates[kind] = {"index_patterns": ["%s-*-*" % kind], "priority": 100,
                                        "data_stream": {}, "_meta": {"managed": True}}
        self.strict_media = a.strict_media
        self.prefix = (a.prefix or "").rstrip("/")
        self.require = [kv.split("=", 1) for kv in a.require_param or []]
        self.request_lines = []
        self.aliases = {}  # alias -> {index or data stream: {"is_write_index": bool}}
        self.pipelines = {}  # ingest pipeline id -> its definition
        self.cluster_block = None  # the block PUT _cluster/settings set, refusing every write
        self.stats.update(alias_updates=0, type_seen=0, legacy_templates=0, composable_templates=0,
                          media_type_errors=0)

    def template_for(self, name):
        """The composable template with the highest priority, else the legacy one with the
        highest order (composable ones win, as in Elasticsearch >= 7.8 / OpenSearch)."""
        best = None
        for tname, t in self.templates.items():
            for pat in t.get("index_patterns", []):
                if fnmatch.fnmatchcase(name, pat):
                    if best is None or t.get("priority", 0) > best.get("priority", 0):
                        best = t
        if best is not None:
            return best
        order = None
        for tname, t in self.legacy_templates.items():
            for pat in t.get("index_patterns", []):
                if fnmatch.fnmatchcase(name, pat):
                    if order is None or t.get("order", 0) > order:
                        order = t.get("order", 0)
                        best = {"template": {"mappings": t.get("mappings", {})}}
        return best

    def write_target(self, name):
        """An alias's write index (its is_write_index one, or its only member); None when it
        has none. A name that is not an alias is itself."""
        a = self.aliases.get(name)
        if a is None:
            return name
        w = [i for i, o in a.items() if o.get("is_write_index")]
        if w:
            return w[0]
        return next(iter(a)) if len(a) == 1 and list(a.values())[0].get("is_write_index") is None else None

    def get_index(self, name, create=True):
        ix = self.indices.get(name)
        if ix is None and create:
            t = self.template_for(name)
            ix = Index(name, data_stream=bool(t and "data_stream" in t))
            if t:
                props = t.get("template", {}).get("mappings", {}).get("properties", {})
                put_props(ix, props)
            self.indices[name] = ix
            self.stats["indices_created"] = self.stats.get("indices_created", 0) + 1
        return ix


def put_props(ix, props, prefix=""):
    for k, v in props.items():
        if "properties" in v:
            ix.mapping[prefix + k] = {"type": "object", "ignore_malformed": False}
            put_props(ix, v["properties"], prefix + k + ".")
        else:
            t = v.get("type", "object")
            t = {"integer": "long", "short": "long", "double": "float", "keyword": "text",
                 "date_nanos": "date", "date": "date"}.get(t, t)
            ix.mapping[prefix + k] = {"type": t, "ignore_malformed": bool(v.get("ignore_malformed"))}


def patterns_overlap(a, b):
    """Whether two index patterns can match one name (Elasticsearch's test: either
    matches the other as a name, or their literal starts agree)."""
    if fnmatch.fnmatchcase(a, b) or fnmatch.fnmatchcase(b, a):
        return True
    pa, pb = a.split("*")[0], b.split("*")[0]
    return ("*" in a and "*" in b) and (pa.startswith(pb) or pb.startswith(pa))


def overlapping_template(templates, name, t):
    """(name, patterns) of another composable template of the same priority whose patterns
    overlap t's: Elasticsearch refuses the PUT then."""
    for other, o in templates.items():
        if other == name or o.get("priority", 0) != t.get("priority", 0):
            continue
        for pa in t.get("index_patterns", []):
            for pb in o.get("index_patterns", []):
                if patterns_overlap(pa, pb):
                    return other, ", ".join(o.get("index_patterns", []))
    return None


def bad_request(reason, typ="illegal_argument_exception"):
    return 400, {"error": {"root_cause": [{"type": typ, "reason": reason}], "type": typ,
                           "reason": reason}, "status": 400}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    server_version = "es-emulator"

    def log_message(self, *a):
        pass

    def send_json(self, status, obj, extra=None):
        if not urlsplit(self.path).path.startswith("/_emulator/"):
            # no st.lock: some answers are sent holding it (list.append is atomic)
            self.server.st.answers.append([time.monotonic(), status])
        body = (obj if isinstance(obj, (bytes, str)) else json.dumps(obj))
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        fl = self.server.st.flavor
        if fl["product"] == "Elasticsearch" and vtuple(fl["version"]) >= (7, 14):
            self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        return raw

    def authorized(self):
        st = self.server.st
        h = self.headers.get("Authorization", "")
        if st.api_key or st.bearer:
            return h in ("ApiKey %s" % st.api_key, "Bearer %s" % st.bearer)
        if not st.user:
            return True
        if not h.startswith("Basic "):
            return False
        try:
            u, p = base64.b64decode(h[6:]).decode().split(":", 1)
        except Exception:
            return False
        return u == st.user and p == st.password

    def handle(self):
        """BaseHTTPRequestHandler's loop, with the idle_close_ms fault between requests."""
        self.close_connection = True
        try:
            self.handle_one_request()
            while not self.close_connection and self.wait_next():
                self.handle_one_request()
        finally:
            if getattr(self, "api_seen", 0):
                with self.server.st.lock:
                    self.server.st.stats["open_connections"] -= 1

    def wait_next(self):
        st = self.server.st
        t0 = time.monotonic()
        while True:
            if getattr(self.connection, "pending", lambda: 0)():
                return True
            try:
                r, _, _ = select.select([self.connection], [], [], 0.05)
            except (OSError, ValueError):
                return False
            if r:
                return True
            idle = st.idle_close_ms
            if idle and time.monotonic() - t0 >= idle / 1000.0:
                with st.lock:
                    st.stats["idle_closed"] += 1
                return False

    def handle_any(self):
        st = self.server.st
        if urlsplit(self.path).path.startswith("/_emulator/"):
            return self.control(urlsplit(self.path).path, self.read_body())
        self.api_seen = getattr(self, "api_seen", 0) + 1
        with st.lock:
            if self.api_seen == 1:
                st.stats["connections"] += 1
                st.stats["open_connections"] += 1
            drop = self.api_seen > 1 and st.drop_reused > 0
            if drop:
                st.drop_reused -= 1
                st.stats["dropped_reused"] += 1
        if drop:
            self.read_body()
            self.close_connection = True
            return
        with st.lock:
            st.stats["inflight"] += 1
            st.stats["max_inflight"] = max(st.stats["max_inflight"], st.stats["inflight"])
        try:
            return self.handle_node()
        finally:
            with st.lock:
                st.stats["inflight"] -= 1

    def handle_node(self):
        st = self.server.st
        raw = self.read_body()
        url = urlsplit(self.path)
        path = url.path
        q = parse_qs(url.query)
        with st.lock:
            st.request_lines.append("%s %s" % (self.command, self.path))
        if st.prefix:
            if path != st.prefix and not path.startswith(st.prefix + "/"):
                return self.send_json(404, {"error": {"type": "no_handler", "reason": "%s is served under %s"
                                                      % (path, st.prefix)}, "status": 404})
            path = path[len(st.prefix):] or "/"
        for k, v in st.require:
            if v not in q.get(k, []):
                with st.lock:
                    st.stats["bad_requests"] += 1
                return self.send_json(*bad_request("missing query parameter %s=%s" % (k, v)))
        with st.lock:
            st.stats["requests"] += 1
            st.stats["body_bytes"] += len(raw)
            st.stats["max_body_bytes"] = max(st.stats["max_body_bytes"], len(raw))
            if st.answer == 0:
                st.stall = True  # the requests to answer were answered: hold the rest
                st.answer = None
            elif st.answer is not None:
                st.answer -= 1
            while st.stall:
                st.stats["stalled"] += 1
                st.cv.wait(0.2)
            delay = st.delay_ms
        if delay:
            time.sleep(delay / 1000.0)
        if not self.authorized():
            with st.lock:
                st.stats["status_401"] += 1
            return self.send_json(401, {"error": {"type": "security_exception",
                                                  "reason": "unable to authenticate user"},
                                        "status": 401}, {"WWW-Authenticate": 'Basic realm="security"'})
        with st.lock:
            if st.fail > 0:
                st.fail -= 1
                st.stats["failed_requests"] += 1
                return self.send_json(st.fail_status, {"error": {"type": "unavailable",
                                      "reason": "injected"}, "status": st.fail_status},
                                      {"Retry-After": "1"} if st.fail_status == 429 else None)
            if st.max_body and len(raw) > st.max_body:
                st.stats["status_413"] += 1
                return self.send_json(413, b"")
        if self.headers.get("Content-Encoding", "") == "gzip":
            with st.lock:
                st.stats["gzip_requests"] += 1
            # Elasticsearch inflates request bodies with Netty's HttpContentDecompressor,
            # whose gzip decoder reads the first member and drops what follows it (Netty's
            # JdkZlibDecoder without decompressConcatenated): so does this node.
            try:
                z = zlib.decompressobj(16 + zlib.MAX_WBITS)
                body = z.decompress(raw) + z.flush()
                if not z.eof:
                    raise ValueError("truncated")
            except Exception:
                return self.send_json(*bad_request("request body is not valid gzip"))
            if z.unused_data:
                with st.lock:
                    st.stats["gzip_dropped_bytes"] += len(z.unused_data)
            raw = body
        parts = [unquote(p) for p in path.split("/") if p]
        m = self.command
        bad_media = self.media_error(raw)
        if bad_media:
            with st.lock:
                st.stats["media_type_errors"] += 1
                st.media_refused.append("%s %s (Content-Type: %s)" % (self.command, self.path,
                                                                       self.headers.get("Content-Type")))
            return self.send_json(*bad_media)
        fl = st.flavor
        if not parts:
            v = {"number": fl["version"], "build_type": "deb", "lucene_version": fl["lucene"],
                 "minimum_wire_compatibility_version": "7.10.0",
                 "minimum_index_compatibility_version": "7.0.0"}
            if fl["product"] == "OpenSearch":
                v["distribution"] = "opensearch"
            else:
                v["build_flavor"] = "default"
            return self.send_json(200, {"name": "emulator", "cluster_name": "sluice-test",
                                        "cluster_uuid": "emulator", "version": v,
                                        "tagline": fl["tagline"]})
        if parts[0] == "_template" and len(parts) == 2:
            if m == "PUT":
                try:
                    t = json.loads(raw)
                except ValueError:
                    return self.send_json(*bad_request("invalid template body", "parse_exception"))
                if "data_stream" in t or "template" in t:
                    return self.send_json(*bad_request("unknown key [%s] in the template" %
                                                       ("data_stream" if "data_stream" in t else "template"),
                                                       "x_content_parse_exception"))
                with st.lock:
                    st.legacy_templates[parts[1]] = t
                    st.stats["legacy_templates"] += 1
                return self.send_json(200, {"acknowledged": True})
            with st.lock:
                t = st.legacy_templates.get(parts[1])
            if t is None:
                return self.send_json(404, {})
            return self.send_json(200, {parts[1]: t})
        if parts[0] in ("_index_template", "_data_stream") and not st.composable:
            return self.send_json(*bad_request("Invalid index name [%s], must not start with '_'." % parts[0],
                                               "invalid_index_name_exception"))
        if parts == ["_cluster", "settings"] and m == "PUT":
            try:
                body = json.loads(raw)
            except ValueError:
                return self.send_json(*bad_request("request body is required", "parse_exception"))
            with st.lock:
                for scope in ("persistent", "transient"):
                    kv = flat_settings(body.get(scope) or {})
                    for key, what in CLUSTER_BLOCKS.items():
                        if key in kv:
                            st.cluster_block = what if kv[key] in (True, "true") else None
            return self.send_json(200, {"acknowledged": True})
        if parts[:2] == ["_ingest", "pipeline"] and len(parts) == 3:
            return self.pipeline(parts[2], m, raw)
        if parts[-1] == "_bulk" and m in ("POST", "PUT"):
            return self.bulk(parts[0] if len(parts) == 2 else None, raw, q)
        if parts[0] == "_index_template" and len(parts) == 2:
            if m == "PUT":
                try:
                    t = json.loads(raw)
                except ValueError:
                    return self.send_json(*bad_request("invalid template body", "parse_exception"))
                if "data_stream" in t and not st.data_streams:
                    return self.send_json(*bad_request("[index_template] unknown field [data_stream]",
                                                       "x_content_parse_exception"))
                with st.lock:
                    clash = overlapping_template(st.templates, parts[1], t)
                    if clash:
                        return self.send_json(*bad_request(
                            "index template [%s] has index patterns %s matching patterns from "
                            "existing templates [%s] with patterns (%s) that have the same "
                            "priority [%d], multiple index templates may not match during index "
                            "creation, please use a different priority"
                            % (parts[1], t.get("index_patterns"), clash[0], clash[1],
                               t.get("priority", 0))))
                    st.templates[parts[1]] = t
                    st.stats["composable_templates"] += 1
                return self.send_json(200, {"acknowledged": True})
            with st.lock:
                t = st.templates.get(parts[1])
            if t is None:
                return self.send_json(404, {"error": "not found", "status": 404})
            return self.send_json(200, {"index_templates": [{"name": parts[1], "index_template": t}]})
        if parts[0] == "_data_stream" and len(parts) == 2 and m == "PUT":
            with st.lock:
                if parts[1] in st.indices or parts[1] in st.aliases:
                    return self.send_json(*bad_request("data_stream [%s] already exists" % parts[1],
                                                       "resource_already_exists_exception"))
                t = st.template_for(parts[1])
                if not t or "data_stream" not in t:
                    return self.send_json(*bad_request("no matching index template found for data stream [%s]"
                                                       % parts[1]))
                st.get_index(parts[1])
            return self.send_json(200, {"acknowledged": True})
        if parts == ["_aliases"] and m == "POST":
            return self.update_aliases(raw)
        if (parts[0] == "_alias" or (len(parts) == 2 and parts[1] == "_alias")) and m == "GET":
            with st.lock:
                out = {}
                want = parts[1] if parts[0] == "_alias" and len(parts) == 2 else "*"
                ipat = parts[0] if parts[0] != "_alias" else "*"
                for a, members in st.aliases.items():
                    if not self.match(want, a, aliases=False):
                        continue
                    for i, o in members.items():
                        if fnmatch.fnmatchcase(i, ipat):
                            out.setdefault(i, {"aliases": {}})["aliases"][a] = dict(o)
            if not out and "*" not in want:
                return self.send_json(404, {"error": "alias [%s] missing" % want, "status": 404})
            return self.send_json(200, out)
        if parts[0] == "_data_stream" and len(parts) == 2 and m == "DELETE":
            with st.lock:
                gone = [n for n, ix in st.indices.items() if ix.data_stream and fnmatch.fnmatchcase(n, parts[1])]
                for n in gone:
                    del st.indices[n]
                    for a in list(st.aliases):
                        st.aliases[a].pop(n, None)
                        if not st.aliases[a]:
                            del st.aliases[a]
            if not gone and "*" not in parts[1]:
                return self.send_json(404, {"error": {"type": "index_not_found_exception",
                                                      "reason": "no such index [%s]" % parts[1]}, "status": 404})
            return self.send_json(200, {"acknowledged": True})
        if parts[0] == "_data_stream":
            with st.lock:
                ds = [{"name": n, "timestamp_field": {"name": "@timestamp"}}
                      for n, ix in st.indices.items() if ix.data_stream]
            return self.send_json(200, {"data_streams": ds})
        if parts[0] == "_cat" and len(parts) >= 2 and parts[1] == "indices":
            with st.lock:
                rows = [{"health": "green", "status": "open", "index": n, "docs.count": str(len(ix.docs))}
                        for n, ix in sorted(st.indices.items())]
            if q.get("format", [""])[0] == "json":
                return self.send_json(200, rows)
            txt = "".join("%s %s %s %s\n" % (r["health"], r["status"], r["index"], r["docs.count"]) for r in rows)
            return self.send_json(200, txt)
        if len(parts) == 2 and parts[1] in ("_count", "_delete_by_query"):
            try:
                query = json.loads(raw).get("query") if raw else None
            except (ValueError, AttributeError):
                return self.send_json(*bad_request("invalid query body", "parse_exception"))
            with st.lock:
                hits = [(ix, i) for _, ix, i, d in self.docs_of(parts[0]) if query_match(query, d)]
                if parts[1] == "_delete_by_query":
                    for ix, i in hits:
                        del ix.docs[i]
                        for g in ix.gens:  # gone from its backing index too
                            g["ids"].discard(i)
                    for ix in {id(ix): ix for ix, _ in hits}.values():
                        ix.order = [i for i in ix.order if i in ix.docs]
                    return self.send_json(200, {"took": 1, "deleted": len(hits), "total": len(hits),
                                                "failures": []})
                n = len(hits)
            return self.send_json(200, {"count": n, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}})
        if parts[:2] == ["_search", "scroll"]:
            return self.scroll(raw, m)
        if parts[-1] == "_search" and "scroll" in q:
            return self.scroll_start(parts[0] if len(parts) == 2 else "*", raw, q)
        if parts[-1] == "_search":
            return self.search(parts[0] if len(parts) == 2 else "*", raw, q)
        if parts[-1] == "_field_caps" and m in ("GET", "POST"):
            return self.field_caps(parts[0] if len(parts) == 2 else "*", q)
        if parts[-1] == "_mapping" and m == "GET":
            return self.get_mapping(parts[0] if len(parts) == 2 else "*")
        if len(parts) == 2 and parts[1] == "_rollover" and m == "POST":
            with st.lock:
                name = st.write_target(parts[0])
                ix = st.indices.get(name) if name else None
                if ix is None or not ix.data_stream:
                    return self.send_json(*bad_request("rollover target [%s] is not a data stream or alias" % parts[0]))
                old_name = ix.gens[-1]["name"]
                t = st.template_for(ix.name)
                ix.rollover(t.get("template", {}).get("mappings", {}).get("properties", {}) if t else {})
                return self.send_json(200, {"acknowledged": True, "old_index": old_name,
                                            "new_index": ix.gens[-1]["name"], "rolled_over": True})
        if len(parts) in (1, 2, 3) and "_settings" in parts[:2] and m in ("GET", "PUT"):
            return self.settings(parts, raw, q)
        if len(parts) == 2 and parts[1] == "_mapping" and m == "PUT":
            try:
                body = json.loads(raw)
            except ValueError:
                return self.send_json(*bad_request("invalid mapping", "parse_exception"))
            with st.lock:
                ix = st.get_index(parts[0])
                for k, v in body.get("properties", {}).items():
                    old = ix.mapping.get(k)
                    t = {"keyword": "text", "integer": "long", "double": "float"}.get(v.get("type"), v.get("type"))
                    if old and old["type"] != t:
                        return self.send_json(*bad_request("mapper [%s] cannot be changed from type [%s] to [%s]" % (k, old["type"], t)))
                put_props(ix, body.get("properties", {}))
            return self.send_json(200, {"acknowledged": True})
        if len(parts) == 2 and parts[1] == "_refresh" or parts == ["_refresh"]:
            return self.send_json(200, {"_shards": {"total": 1, "successful": 1, "failed": 0}})
        if len(parts) == 1 and m == "DELETE":
            with st.lock:
                gone = [n for n in st.indices if self.match(parts[0], n)]
                for n in gone:
                    del st.indices[n]
            if not gone:
                return self.send_json(404, {"error": {"type": "index_not_found_exception"}, "status": 404})
            return self.send_json(200, {"acknowledged": True})
        if len(parts) == 1 and m == "PUT":
            body = json.loads(raw or b"{}")
            with st.lock:
                if parts[0] in st.indices:
                    return self.send_json(*bad_request("index [%s] already exists" % parts[0],
                                                       "resource_already_exists_exception"))
                ix = st.get_index(parts[0])
                put_props(ix, body.get("mappings", {}).get("properties", {}))
            return self.send_json(200, {"acknowledged": True, "index": parts[0]})
        return self.send_json(404, {"error": {"type": "no_handler", "reason": "no handler for %s %s" % (m, path)}, "status": 404})

    def media_error(self, raw):
        """Strict content-type checking (Elasticsearch >= 6, OpenSearch): a body needs JSON
        or NDJSON. Elasticsearch 8 also takes its versioned media types (REST API
        compatibility, compatible-with=7 or 8, Accept and Content-Type agreeing);
        OpenSearch and Elasticsearch 7 do not know them. Returns an answer, or None."""
        if not raw or not self.server.st.strict_media:
            return None
        ct = self.headers.get("Content-Type", "")
        base = ct.split(";")[0].strip().lower()
        if base in ("application/json", "application/x-ndjson"):
            return None
        if base in ("application/vnd.elasticsearch+json", "application/vnd.elasticsearch+x-ndjson") \
                and self.server.st.flavor["vnd_media"]:
            cw = [p.split("=", 1)[1].strip() for p in ct.split(";")[1:] if p.strip().startswith("compatible-with=")]
            acc = self.headers.get("Accept", "")
            acw = [p.split("=", 1)[1].strip() for p in acc.split(";")[1:] if p.strip().startswith("compatible-with=")]
            if cw and cw[0] in ("7", "8") and (not acw or acw == cw):
                return None
            reason = ("A compatible version is required on both Content-Type and Accept headers if either "
                      "one has requested a compatible version and the compatible versions must match. "
                      "Accept=%s, Content-Type=%s" % (acc or "null", ct))
            return 400, {"error": {"root_cause": [{"type": "media_type_header_exception", "reason": reason}],
                                   "type": "media_type_header_exception", "reason": "Invalid media-type value on headers [Content-Type, Accept]"},
                         "status": 400}
        return 406, {"error": "Content-Type header [%s] is not supported" % ct, "status": 406}

    def match(self, pat, name, aliases=True):
        """Does index `name` belong to the expression `pat` (comma-separated, wildcards): by
        its own name or, as in Elasticsearch, through an alias the expression names. Each
        index counts once however many ways it matches."""
        st = self.server.st
        for p in pat.split(","):
            if fnmatch.fnmatchcase(name, p):
                return True
            if aliases:
                for a, members in st.aliases.items():
                    if name in members and fnmatch.fnmatchcase(a, p):
                        return True
        return False

    def docs_of(self, pat):
        """(backing index name, Index, _id, source) of every document the expression
        reaches (caller holds the lock): indices, data streams and aliases by `match`, and a
        data stream's backing indices (.ds-...) when named (they are hidden from wildcards
        that do not start with a dot)."""
        st = self.server.st
        out = []
        for name, ix in st.indices.items():
            whole = self.match(pat, name)
            for bname, _, ids in ix.backing():
                if not whole and not (ids is not None and any(
                        p.startswith(".") and fnmatch.fnmatchcase(bname, p) for p in pat.split(","))):
                    continue
                for i, d in ix.docs.items():
                    if ids is None or i in ids:
                        out.append((bname, ix, i, d))
        return out

    def backing_of(self, pat):
        """(backing index name, mapping) of every index the expression reaches."""
        st = self.server.st
        out = []
        for name, ix in sorted(st.indices.items()):
            whole = self.match(pat, name)
            for bname, mp, ids in ix.backing():
                if whole or (ids is not None and any(p.startswith(".") and fnmatch.fnmatchcase(bname, p)
                                                     for p in pat.split(","))):
                    out.append((bname, mp))
        return out

    ES_TYPES = {"text": "keyword", "long": "long", "float": "double", "boolean": "boolean",
                "date": "date", "object": "object"}

    def field_caps(self, pat, q):
        """GET <pattern>/_field_caps?fields=*: each field's type per backing index; a field
        with several types lists the indices of each (as Elasticsearch does)."""
        st = self.server.st
        want = ",".join(q.get("fields", ["*"])).split(",")
        with st.lock:
            while getattr(st, "hold_field_caps", False):
                st.cv.wait(0.2)
            backs = self.backing_of(pat)
        if not backs and "*" not in pat:
            return self.send_json(404, {"error": {"type": "index_not_found_exception",
                                                  "reason": "no such index [%s]" % pat}, "status": 404})
        fields = {}
        for bname, mp in backs:
            for path, m in mp.items():
                if not any(fnmatch.fnmatchcase(path, w) for w in want):
                    continue
                t = self.ES_TYPES.get(m["type"], m["type"])
                fields.setdefault(path, {}).setdefault(t, []).append(bname)
        out = {}
        for path, types in fields.items():
            out[path] = {}
            for t, ixs in types.items():
                e = {"type": t, "metadata_field": False, "searchable": t != "object",
                     "aggregatable": t not in ("object",)}
                if len(types) > 1:
                    e["indices"] = ixs
                out[path][t] = e
        return self.send_json(200, {"indices": [b for b, _ in backs], "fields": out})

    def get_mapping(self, pat):
        st = self.server.st
        with st.lock:
            backs = self.backing_of(pat)
        if not backs and "*" not in pat:
            return self.send_json(404, {"error": {"type": "index_not_found_exception",
                                                  "reason": "no such index [%s]" % pat}, "status": 404})
        out = {}
        for bname, mp in backs:
            props = {}
            for path in sorted(mp):
                cur = props
                segs = path.split(".")
                for sgm in segs[:-1]:
                    cur = cur.setdefault(sgm, {"properties": {}}).setdefault("properties", {})
                m = mp[path]
                if m["type"] == "object":
                    cur.setdefault(segs[-1], {"properties": {}})
                else:
                    cur[segs[-1]] = {"type": self.ES_TYPES.get(m["type"], m["type"])}
            out[bname] = {"mappings": {"properties": props}}
        return self.send_json(200, out)

    def scroll_start(self, pat, raw, q):
        """POST <pattern>/_search?scroll=1m: the hits matching the query, snapshotted, served
        `size` at a time through POST _search/scroll (DELETE _search/scroll ends it)."""
        st = self.server.st
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self.send_json(*bad_request("invalid search body", "parse_exception"))
        size = int(body.get("size", q.get("size", ["10"])[0]))
        with st.lock:
            if getattr(st, "hold_scroll", False):
                st.stats["scrolls_held"] = st.stats.get("scrolls_held", 0) + 1
            while getattr(st, "hold_scroll", False):
                st.cv.wait(0.2)
            hits = [{"_index": b, "_id": i, "_score": None, "_source": d}
                    for b, _, i, d in self.docs_of(pat) if query_match(body.get("query"), d)]
            sid = uuid.uuid4().hex
            if not hasattr(st, "scrolls"):
                st.scrolls = {}
            st.scrolls[sid] = [hits, size]
        return self.scroll_page(sid, len(hits))

    def scroll_page(self, sid, total):
        st = self.server.st
        with st.lock:
            sc = st.scrolls.get(sid)
            if sc is None:
                return self.send_json(404, {"error": {"type": "search_context_missing_exception",
                                                      "reason": "No search context found for id [%s]" % sid}, "status": 404})
            page, sc[0] = sc[0][:sc[1]], sc[0][sc[1]:]
        return self.send_json(200, {"_scroll_id": sid, "took": 1, "timed_out": False,
                                    "hits": {"total": {"value": total, "relation": "eq"}, "hits": page}})

    def scroll(self, raw, m):
        st = self.server.st
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self.send_json(*bad_request("invalid scroll body", "parse_exception"))
        sid = body.get("scroll_id")
        if m == "DELETE":
            with st.lock:
                found = getattr(st, "scrolls", {}).pop(sid, None) is not None
            return self.send_json(200 if found else 404, {"succeeded": True, "num_freed": int(found)})
        with st.lock:
            sc = getattr(st, "scrolls", {}).get(sid)
            left = len(sc[0]) if sc else 0
        return self.scroll_page(sid, left)

    def update_aliases(self, raw):
        """POST _aliases: every action checked first, then all applied at once under the
        lock, so a reader never sees half of a swap (remove + add in one call). add: the index
        (or data stream) must exist and not be named like the alias; a data stream alias
        points to data streams only; is_write_index true takes the flag from the others.
        remove: the alias must be on that index."""
        st = self.server.st
        try:
            acts = json.loads(raw)["actions"]
            assert isinstance(acts, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            return self.send_json(*bad_request("[aliases] failed to parse field [actions]", "x_content_parse_exception"))
        with st.lock:
            new = {a: {i: dict(o) for i, o in m.items()} for a, m in st.aliases.items()}
            for act in acts:
                if not isinstance(act, dict) or len(act) != 1:
                    return self.send_json(*bad_request("an action needs exactly one of add, remove"))
                (op, a), = act.items()
                idx = [a["index"]] if "index" in a else list(a.get("indices", []))
                als = [a["alias"]] if "alias" in a else list(a.get("aliases", []))
                if op not in ("add", "remove") or not idx or not als:
                    return self.send_json(*bad_request("unsupported alias action [%s]" % op))
                for i in idx:
                    if i not in st.indices:
                        return self.send_json(404, {"error": {"type": "index_not_found_exception",
                                              "reason": "no such index [%s]" % i, "index": i}, "status": 404})
                    for al in als:
                        if op == "remove":
                            if i not in new.get(al, {}):
                                return self.send_json(404, {"error": {"type": "aliases_not_found_exception",
                                                      "reason": "aliases [%s] missing" % al}, "status": 404})
                            del new[al][i]
                            if not new[al]:
                                del new[al]
                            continue
                        if al in st.indices:
                            return self.send_json(*bad_request("an index or data stream exists with the same "
                                                               "name as the alias [%s]" % al, "invalid_alias_name_exception"))
                        members = new.setdefault(al, {})
                        kinds = {st.indices[x].data_stream for x in members if x in st.indices}
                        if kinds and kinds != {st.indices[i].data_stream}:
                            return self.send_json(*bad_request("alias [%s] cannot point to both data streams and "
                                                               "indices" % al))
                        o = {}
                        if "is_write_index" in a:
                            o["is_write_index"] = bool(a["is_write_index"])
                            if o["is_write_index"]:
                                for x in members.values():
                                    x["is_write_index"] = False
                        members[i] = o
            st.aliases = new
            st.stats["alias_updates"] += 1
        return self.send_json(200, {"acknowledged": True, "errors": False})

    def settings(self, parts, raw, q):
        """GET [<pattern>/]_settings[/<name>] and PUT [<pattern>/]_settings: the dynamic
        setting index.refresh_interval, whose value must be a time value (with a unit), as
        Elasticsearch checks it; unknown settings are refused (index.* only, like a real node
        refuses a typo)."""
        st = self.server.st
        pat = parts[0] if parts[0] != "_settings" else "*"
        with st.lock:
            names = [n for n in sorted(st.indices) if self.match(pat, n)]
        if not names and "*" not in pat:
            return self.send_json(404, {"error": {"type": "index_not_found_exception",
                                                  "reason": "no such index [%s]" % pat}, "status": 404})
        if self.command == "GET":
            flat = q.get("flat_settings", ["false"])[0] == "true"
            want = parts[2] if len(parts) == 3 else (parts[1] if parts[0] == "_settings" and len(parts) == 2 else None)
            out = {}
            with st.lock:
                for n in names:
                    kv = dict({"provided_name": n, "number_of_shards": "1"}, **st.indices[n].settings)
                    kv = {"index." + k: v for k, v in kv.items()}
                    if want:
                        kv = {k: v for k, v in kv.items() if fnmatch.fnmatchcase(k, want)}
                    if not flat:
                        kv = {"index": {k[6:]: v for k, v in kv.items()}} if kv else {}
                    out[n] = {"settings": kv}
            return self.send_json(200, out)
        try:
            body = flat_settings(json.loads(raw))
        except (ValueError, AttributeError):
            return self.send_json(*bad_request("request body is required", "parse_exception"))
        upd = {}
        for k, v in body.items():
            key = k if k.startswith("index.") else "index." + k
            if key in BLOCKS:
                if v not in (True, False, None, "true", "false"):
                    return self.send_json(*bad_request("Failed to parse value [%s] as only [true] or "
                                                       "[false] are allowed." % v))
                upd[key[6:]] = "true" if v in (True, "true") else None
                continue
            if key != "index.refresh_interval":
                return self.send_json(*bad_request("unknown setting [%s] please check that any required "
                                                   "plugins are installed, or check the breaking changes "
                                                   "documentation for removed settings" % key))
            if v is not None and not time_value_ok(v):
                return self.send_json(*bad_request(
                    "failed to parse setting [index.refresh_interval] with value [%s] as a time value: "
                    "unit is missing or unrecognized" % v))
            upd["refresh_interval"] = v
        with st.lock:
            for n in names:
                ix = st.indices[n]
                for k, v in upd.items():
                    if v is None:
                        ix.settings.pop(k, None)
                    else:
                        ix.settings[k] = v
                    ix.settings_log.append([time.monotonic(), k, v])
                st.stats["settings_updates"] += 1
        return self.send_json(200, {"acknowledged": True})

    def aggregate(self, aggs, docs_by_index):
        """The aggregations the sink asks for: max and min of a field, and terms on _index
        with sub-aggregations (per backing index)."""
        out = {}
        for name, a in (aggs or {}).items():
            if "max" in a or "min" in a:
                kind = "max" if "max" in a else "min"
                vals = [as_ms(field_get(d, a[kind]["field"])) for docs in docs_by_index.values() for d in docs]
                vals = [v for v in vals if v is not None]
                v = (max if kind == "max" else min)(vals) if vals else None
                r = {"value": v}
                if v is not None:
                    r["value_as_string"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(v / 1000.0)) + \
                        ".%03dZ" % (int(v) % 1000)
                out[name] = r
            elif "terms" in a and a["terms"].get("field") == "_index":
                size = int(a["terms"].get("size", 10))
                keys = sorted(docs_by_index, key=lambda n: (-len(docs_by_index[n]), n))
                buckets = []
                for n in keys[:size]:
                    if not docs_by_index[n]:
                        continue
                    b = {"key": n, "doc_count": len(docs_by_index[n])}
                    b.update(self.aggregate(a.get("aggs") or a.get("aggregations"), {n: docs_by_index[n]}))
                    buckets.append(b)
                out[name] = {"doc_count_error_upper_bound": 0,
                             "sum_other_doc_count": sum(len(docs_by_index[n]) for n in keys[size:]),
                             "buckets": buckets}
            else:
                raise ValueError("aggregation %s not emulated" % json.dumps(a))
        return out

    def search(self, pat, raw, q):
        st = self.server.st
        size = int(q.get("size", ["10"])[0])
        aggs = query = None
        if raw:
            try:
                body = json.loads(raw)
                size = int(body.get("size", size))
                aggs = body.get("aggs") or body.get("aggregations")
                query = body.get("query")
            except (ValueError, AttributeError):
                pass
        if aggs:
            with st.lock:
                by = {n: [d for d in ix.docs.values() if query_match(query, d)]
                      for n, ix in st.indices.items() if self.match(pat, n)}
            try:
                res = self.aggregate(aggs, by)
            except (ValueError, KeyError, TypeError) as e:
                return self.send_json(*bad_request(str(e)))
            total = sum(len(d) for d in by.values())
            return self.send_json(200, {"took": 1, "timed_out": False, "hits": {
                "total": {"value": total, "relation": "eq"}, "max_score": None, "hits": []},
                "aggregations": res})
        hits = []
        with st.lock:
            total = 0
            for name, ix in sorted(st.indices.items()):
                if not self.match(pat, name):
                    continue
                total += len(ix.docs)
                for i in ix.order:
                    if len(hits) < size and i in ix.docs:
                        hits.append({"_index": name, "_id": i, "_score": 1.0, "_source": ix.docs[i]})
        return self.send_json(200, {"took": 1, "timed_out": False, "hits": {
            "total": {"value": total, "relation": "eq"}, "max_score": 1.0, "hits": hits}})

    def pipeline(self, pid, m, raw):
        """PUT / GET / DELETE _ingest/pipeline/<id>; its `set` processors are run on the
        documents a bulk request names it for."""
        st = self.server.st
        with st.lock:
            if m == "PUT":
                try:
                    p = json.loads(raw)
                except ValueError:
                    return self.send_json(*bad_request("invalid pipeline body", "parse_exception"))
                st.pipelines[pid] = p
                return self.send_json(200, {"acknowledged": True})
            if pid not in st.pipelines:
                return self.send_json(404, {})
            if m == "DELETE":
                del st.pipelines[pid]
                return self.send_json(200, {"acknowledged": True})
            return self.send_json(200, {pid: st.pipelines[pid]})

    def bulk(self, default_index, raw, q):
        st = self.server.st
        with st.lock:
            st.stats["bulk_requests"] += 1
        if not raw.endswith(b"\n"):
            with st.lock:
                st.stats["bad_requests"] += 1
            return self.send_json(*bad_request("The bulk request must be terminated by a newline [\\n]"))
        lines = raw.split(b"\n")[:-1]
        if st.cluster_block:
            why = {"type": "cluster_block_exception", "reason": "blocked by: [%s];" % st.cluster_block}
            return self.send_json(403, {"error": dict(why, root_cause=[why]), "status": 403})
        if st.count_only:
            n = len(lines) // 2
            with st.lock:
                st.stats["decoded_bytes"] += len(raw)
                st.stats["count_only_docs"] += n
                st.stats["items"] += n
            body = b'{"errors":false,"items":[' + b",".join([b'{"create":{"status":201}}'] * n) + b"]}"
            return self.send_json(200, body)
        items = []
        errors = False
        i = 0
        # Parse every pair first: a malformed line fails the whole request, like ES does.
        pairs = []
        while i < len(lines):
            try:
                action = json.loads(lines[i])
            except ValueError as e:
                with st.lock:
                    st.stats["bad_requests"] += 1
                return self.send_json(*bad_request("Malformed action/metadata line [%d]: %s" % (i + 1, e),
                                                   "x_content_parse_exception"))
            if not isinstance(action, dict) or len(action) != 1:
                return self.send_json(*bad_request("Malformed action/metadata line [%d], expected a "
                                                   "single object key" % (i + 1)))
            op, meta = next(iter(action.items()))
            if op not in ("index", "create", "update", "delete") or not isinstance(meta, dict):
                return self.send_json(*bad_request("Malformed action/metadata line [%d], expected "
                                                   "one of [create, delete, index, update] but found [%s]" % (i + 1, op)))
            if "_type" in meta:
                with st.lock:
                    st.stats["type_seen"] += 1
                if not st.flavor["accepts_type"]:
                    return self.send_json(*bad_request("Action/metadata line [%d] contains an unknown "
                                                       "parameter [_type]" % (i + 1)))
            src = None
            if op != "delete":
                if i + 1 >= len(lines):
                    return self.send_json(*bad_request("Validation Failed: 1: no requests added;"))
                try:
                    src = json.loads(lines[i + 1])
                except ValueError as e:
                    src = e
                i += 2
            else:
                i += 1
            pairs.append((op, meta, src))
        with st.lock:
            for op, meta, src in pairs:
                index = meta.get("_index") or default_index
                doc_id = meta.get("_id")
                st.stats["items"] += 1
                if doc_id is not None:
                    st.attempts[doc_id] = st.attempts.get(doc_id, 0) + 1
                else:
                    st.stats["ids_missing"] += 1
                r = {"_index": index, "_id": doc_id}
                if st.flavor["item_type"]:
                    r["_type"] = "_doc"  # Elasticsearch 7.x and OpenSearch 1.x still say it
                if st.item_429 and st.rng.random() < st.item_429:
                    st.stats["item_429"] += 1
                    r.update(status=429, error={"type": "es_rejected_execution_exception",
                                                "reason": "rejected execution of coordinating operation"})
                    items.append({op: r})
                    errors = True
                    continue
                pid = meta.get("pipeline") or q.get("pipeline", [None])[0]
                if pid == "_none":
                    pid = None
                if not index:
                    r.update(status=400, error={"type": "action_request_validation_exception",
                                                "reason": "Validation Failed: 1: index is missing;"})
                elif pid and op != "delete" and pid not in st.pipelines:
                    st.stats["no_pipeline"] = st.stats.get("no_pipeline", 0) + 1
                    r.update(status=400, error={"type": "illegal_argument_exception",
                                                "reason": "pipeline with id [%s] does not exist" % pid})
                elif isinstance(src, Exception) or (op != "delete" and not isinstance(src, dict)):
                    st.stats["mapping_errors"] += 1
                    r.update(status=400, error={"type": "document_parsing_exception",
                                                "reason": "failed to parse: %s" % src})
                elif (index not in st.indices and index not in st.aliases and
                      index_name_error(index)):
                    r.update(status=400, error={"type": "invalid_index_name_exception",
                                                "reason": index_name_error(index),
                                                "index_uuid": "_na_", "index": index})
                elif st.write_target(index) is None:
                    r.update(status=400, error={"type": "illegal_argument_exception",
                             "reason": "no write index is defined for alias [%s]. The write index may be "
                                       "explicitly disabled using is_write_index=false or the alias points "
                                       "to multiple indices without one being designated as a write index" % index})
                else:
                    index = st.write_target(index)
                    r["_index"] = index
                    ix = st.get_index(index)
                    if doc_id is None:
                        doc_id = uuid.uuid4().hex[:20]
                        r["_id"] = doc_id
                    blocked = block_of(ix, st.flavor)
                    if blocked:
                        st.stats["blocked"] = st.stats.get("blocked", 0) + 1
                        r.update(status=blocked[0], error={"type": "cluster_block_exception",
                                                           "reason": blocked[1]})
                    elif ix.data_stream and op != "create":
                        r.update(status=400, error={"type": "illegal_argument_exception",
                                 "reason": "only write ops with an op_type of create are allowed in data streams"})
                    elif ix.data_stream and "@timestamp" not in src:
                        st.stats["mapping_errors"] += 1
                        r.update(status=400, error={"type": "document_parsing_exception",
                                 "reason": "data stream timestamp field [@timestamp] is missing"})
                    elif op == "create" and doc_id in ix.docs:
                        st.stats["conflicts"] += 1
                        r.update(status=409, error={"type": "version_conflict_engine_exception",
                                 "reason": "[%s]: version conflict, document already exists (current version [1])" % doc_id})
                    elif op == "delete":
                        found = ix.docs.pop(doc_id, None) is not None
                        for g in ix.gens:
                            g["ids"].discard(doc_id)
                        r.update(status=200 if found else 404, result="deleted" if found else "not_found")
                    else:
                        for proc in st.pipelines.get(pid, {}).get("processors", []) if pid else []:
                            if "set" in proc:
                                src[proc["set"]["field"]] = proc["set"]["value"]
                        try:
                            check_and_map(ix, src, doc_id, st.flavor["item_type"])
                        except MappingError as e:
                            st.stats["mapping_errors"] += 1
                            r.update(status=400, error={"type": st.flavor["mapping_error"], "reason": str(e)})
                        else:
                            existed = doc_id in ix.docs
                            ix.docs[doc_id] = src
                            if ix.gens:
                                ix.gens[-1]["ids"].add(doc_id)
                            if not existed:
                                ix.order.append(doc_id)
                            st.stats["created"] += 1
                            if existed:
                                st.stats["overwrites"] += 1  # `index` on an existing _id
                            r.update(status=200 if existed else 201,
                                     result="updated" if existed else "created", _version=1,
                                     _shards={"total": 1, "successful": 1, "failed": 0},
                                     _seq_no=0, _primary_term=1)
                if r.get("status", 200) >= 300:
                    errors = True
                    if r["status"] != 409 and r["status"] != 429:
                        st.stats["other_errors"] += 0
                items.append({op: r})
            reset = st.reset > 0
            if reset:
                st.reset -= 1
                st.stats["resets"] += 1
        resp = {"took": 3, "errors": errors, "items": items}
        if "filter_path" in q:
            resp = filter_path(resp, ",".join(q["filter_path"]).split(","))
        body = json.dumps(resp).encode()
        if reset:
            # Headers and half the body, then the connection goes away.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                import socket
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        return self.send_json(200, body)

    def control(self, path, raw):
        st = self.server.st
        if path == "/_emulator/control":
            c = json.loads(raw or b"{}")
            with st.lock:
                for k in ("item_429", "delay_ms", "reset", "max_body", "password", "count_only", "user",
                          "drop_reused", "idle_close_ms"):
                    if k in c:
                        setattr(st, k, c[k])
                if "fail" in c:
                    st.fail = c["fail"]
                    st.fail_status = c.get("status", 503)
                if "stall" in c:
                    st.stall = c["stall"]
                    st.cv.notify_all()
                if "answer" in c:
                    st.answer = c["answer"]
                for k in ("hold_scroll", "hold_field_caps"):
                    if k in c:
                        setattr(st, k, c[k])
                        st.cv.notify_all()
                if "max_inflight" in c:
                    st.stats["max_inflight"] = c["max_inflight"]
            return self.send_json(200, {"ok": True})
        if path == "/_emulator/settings":
            with st.lock:
                return self.send_json(200, {n: {"settings": dict(ix.settings), "log": list(ix.settings_log)}
                                            for n, ix in sorted(st.indices.items())})
        if path == "/_emulator/stats":
            with st.lock:
                s = dict(st.stats, tls_refused_reasons=dict(st.stats["tls_refused_reasons"]),
                         media_refused=list(st.media_refused))
                s["docs"] = sum(len(ix.docs) for ix in st.indices.values())
                s["indices"] = sorted(st.indices)
            return self.send_json(200, s)
        if path == "/_emulator/requests":
            with st.lock:
                return self.send_json(200, list(st.request_lines))
        if path == "/_emulator/answers":
            with st.lock:
                return self.send_json(200, list(st.answers))
        if path == "/_emulator/attempts":
            with st.lock:
                return self.send_json(200, dict(st.attempts))
        if path == "/_emulator/ids":
            with st.lock:
                return self.send_json(200, [i for _, ix in sorted(st.indices.items())
                                            for i in ix.order if i in ix.docs])
        if path == "/_emulator/docs":
            with st.lock:
                out = []
                for name, ix in sorted(st.indices.items()):
                    for i in ix.order:
                        if i in ix.docs:
                            out.append(json.dumps({"_index": name, "_id": i, "_source": ix.docs[i]}))
            return self.send_json(200, ("\n".join(out) + "\n") if out else "")
        return self.send_json(404, {"error": "unknown control"})

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


class TLSServer(ThreadingHTTPServer):
    """HTTPS with the handshake on the connection's own thread: a slow or refused client
    never holds up the accept loop, and each refusal is counted."""

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.settimeout(30)
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.do_handshake()
        except ssl.SSLError as e:
            st = self.st
            with st.lock:
                st.stats["tls_refused"] += 1
                r = st.stats["tls_refused_reasons"]
                r[e.reason or "unknown"] = r.get(e.reason or "unknown", 0) + 1
            return
        except OSError:
            return
        request.settimeout(None)
        super().finish_request(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user")
    ap.add_argument("--password", default="")
    ap.add_argument("--item-429", dest="item_429", type=float, default=0.0)
    ap.add_argument("--delay-ms", dest="delay_ms", type=int, default=0)
    ap.add_argument("--max-body", dest="max_body", type=int, default=0)
    ap.add_argument("--count-only", dest="count_only", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--api-key", dest="api_key")
    ap.add_argument("--bearer")
    ap.add_argument("--tls-cert", dest="tls_cert")
    ap.add_argument("--tls-key", dest="tls_key")
    ap.add_argument("--builtin-templates", dest="builtin_templates", action="store_true",
                    help="Elasticsearch 8's built-in data stream templates (logs-*-* ...)")
    ap.add_argument("--flavor", choices=sorted(FLAVORS), default="es8",
                    help="which server to behave like (GET /, bulk items, templates, media types)")
    ap.add_argument("--strict-content-type", dest="strict_media", action="store_true",
                    help="refuse bodies without a JSON/NDJSON Content-Type, as the servers do "
                         "(off by default: tests post with urllib's default type)")
    ap.add_argument("--version", help="override the flavor's version number (e.g. 7.7.1)")
    ap.add_argument("--prefix", help="serve the API only under this path (e.g. /insert/elasticsearch)")
    ap.add_argument("--require-param", dest="require_param", action="append",
                    help="k=v: answer 400 to API requests without this query parameter")
    ap.add_argument("--tls-client-ca", dest="tls_client_ca",
                    help="require a client certificate signed by this CA (mutual TLS)")
    a = ap.parse_args()
    srv = (TLSServer if a.tls_cert else ThreadingHTTPServer)(("127.0.0.1", a.port), Handler)
    if a.tls_cert:
        srv.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        srv.ctx.load_cert_chain(a.tls_cert, a.tls_key)
        if a.tls_client_ca:
            srv.ctx.verify_mode = ssl.CERT_REQUIRED
            srv.ctx.load_verify_locations(cafile=a.tls_client_ca)
    srv.daemon_threads = True
    srv.st = State(a)
    print("port %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
