"""The Elasticsearch emulator's aliases, as the versioned data streams behind a stable name
will use them (issue: `{prefix}-{group}` over `-v1`, `-v2` the standby, swapped in one
_aliases call): a data stream template; -v1 created by a write, -v2 by PUT _data_stream;
the alias with -v1 as its write index takes bulk writes into -v1; a "repair" copies -v1's
documents into -v2; then the alias is swapped v1 <-> v2 (remove + add in one call) 30 times
while a reader counts through the alias without pause: every count is exactly N (never a
missing or a doubled event), and a wildcard over both versions counts each once per
version. Refusals as Elasticsearch answers them: an action on a missing index (and nothing
of that call applied), an alias named like an index, a bulk write to an alias without a
write index (a per-item 400)."""
import json
import threading
import urllib.error
import urllib.request

from harness import Emulator, log

es = Emulator("es_emulator.py")
esb = "http://127.0.0.1:%d" % es.port
N = 50


def call(method, path, body=None, ndjson=False):
    data = None
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    req = urllib.request.Request(esb + path, data=data, method=method, headers={
        "Content-Type": "application/x-ndjson" if ndjson else "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def bulk(target, docs):
    body = "".join(json.dumps({"create": {"_index": target, "_id": d["id"]}}) + "\n" +
                   json.dumps({"@timestamp": d["ts"], "message": d["m"]}) + "\n" for d in docs)
    return call("POST", "/_bulk", body, ndjson=True)


def count(target):
    st, r = call("POST", "/%s/_count" % target, {"query": {"match_all": {}}})
    assert st == 200, (st, r)
    return r["count"]


assert call("PUT", "/_index_template/cw", {"index_patterns": ["cw-*"], "data_stream": {},
                                            "priority": 200})[0] == 200
docs = [{"id": "e%03d" % i, "ts": 1700000000000 + i, "m": "event %d" % i} for i in range(N)]
# -v1 comes into being with the first write; -v2 is created empty, as a standby
st, r = bulk("cw-g-v1", docs[:1])
assert st == 200 and not r["errors"], r
assert call("PUT", "/_data_stream/cw-g-v2")[0] == 200
assert call("PUT", "/_data_stream/cw-g-v2")[0] == 400  # exists
assert call("PUT", "/_data_stream/nomatch-x")[0] == 400  # no data stream template
assert call("POST", "/_aliases", {"actions": [{"add": {"index": "cw-g-v1", "alias": "cw-g",
                                                       "is_write_index": True}}]})[0] == 200
# writes through the alias land in -v1 (the item names the concrete data stream)
st, r = bulk("cw-g", docs[1:])
assert st == 200 and not r["errors"] and {next(iter(i.values()))["_index"] for i in r["items"]} == {"cw-g-v1"}, r
assert count("cw-g") == count("cw-g-v1") == N and count("cw-g-v2") == 0
st, r = call("GET", "/_alias/cw-g")
assert st == 200 and r == {"cw-g-v1": {"aliases": {"cw-g": {"is_write_index": True}}}}, r

# refusals; a refused call changes nothing
st, r = call("POST", "/_aliases", {"actions": [{"remove": {"index": "cw-g-v1", "alias": "cw-g"}},
                                               {"add": {"index": "cw-g-v9", "alias": "cw-g"}}]})
assert st == 404 and r["error"]["type"] == "index_not_found_exception", (st, r)
assert call("GET", "/_alias/cw-g")[1] == {"cw-g-v1": {"aliases": {"cw-g": {"is_write_index": True}}}}
st, r = call("POST", "/_aliases", {"actions": [{"add": {"index": "cw-g-v2", "alias": "cw-g-v1"}}]})
assert st == 400 and r["error"]["type"] == "invalid_alias_name_exception", (st, r)
assert call("POST", "/_aliases", {"actions": [{"add": {"index": "cw-g-v2", "alias": "cw-both"}},
                                              {"add": {"index": "cw-g-v1", "alias": "cw-both"}}]})[0] == 200
st, r = bulk("cw-both", docs[:1])
assert st == 200 and r["errors"] and r["items"][0]["create"]["status"] == 400, r
assert "no write index is defined for alias [cw-both]" in r["items"][0]["create"]["error"]["reason"], r
assert call("POST", "/_aliases", {"actions": [{"remove": {"index": "cw-g-v2", "alias": "cw-both"}},
                                              {"remove": {"index": "cw-g-v1", "alias": "cw-both"}}]})[0] == 200

# the repair: the range is written into the standby
st, r = bulk("cw-g-v2", docs)
assert st == 200 and not r["errors"], r
assert count("cw-g-v2") == N
assert count("cw-*") == 2 * N  # the wildcard reaches both versions (and the alias): each index once

# swaps while a reader counts through the alias: never anything but N
seen = []
stop = threading.Event()


def reader():
    while not stop.is_set():
        seen.append(count("cw-g"))


t = threading.Thread(target=reader)
t.start()
try:
    cur, other = "cw-g-v1", "cw-g-v2"
    for k in range(30):
        st, r = call("POST", "/_aliases", {"actions": [
            {"remove": {"index": cur, "alias": "cw-g"}},
            {"add": {"index": other, "alias": "cw-g", "is_write_index": True}}]})
        assert st == 200, (k, st, r)
        cur, other = other, cur
        n = len(seen)
        while len(seen) == n and t.is_alive():  # at least one read between swaps
            stop.wait(0.001)
finally:
    stop.set()
    t.join()
log("%d counts during 30 swaps" % len(seen))
assert len(seen) >= 30 and set(seen) == {N}, sorted(set(seen))
st, r = call("GET", "/_alias/cw-g")
assert r == {cur: {"aliases": {"cw-g": {"is_write_index": True}}}}, r
