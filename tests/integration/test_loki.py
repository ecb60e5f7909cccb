"""loki sink end to end against the Loki push-API emulator (ordered per stream, multi-tenant,
bearer auth): protobuf+snappy and JSON at once, each to its own tenant. Checks labels,
structured metadata, lines and times entry by entry (a first chunk written newest first
arrives sorted); 429 and 500 answers retried with nothing lost and nothing twice; entries
out of order and too old dead-lettered with Loki's reason; the label set cap (overflow
stream, warning, counter); TLS with a private CA and basic auth; a concurrency other than 1
refused; the emulator's own refusals (tenant, Content-Type, framed snappy, labels, wire
types). Then a pipeline with a disk
buffer is SIGKILLed twice mid-stream against a Loki 3 (unordered writes) emulator: every
event stored exactly once in the end (resends dropped by Loki as duplicates, counted)."""
import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request

from harness import SLUICE, Emulator, Sluice, WORK, free_port, log, wait_until

emu = Emulator("loki_emulator.py", "--multi-tenant", "--bearer", "t0ken")
base = "http://127.0.0.1:%d" % emu.port

# a Loki behind TLS (a private CA) with basic auth
pki = os.path.join(WORK, "pki")
os.makedirs(pki)


def sh(*args):
    subprocess.run(args, check=True, cwd=pki, capture_output=True)


sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
   "-keyout", "ca.key", "-out", "ca.pem")
sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
   "-keyout", "node.key", "-out", "node.csr")
with open(os.path.join(pki, "ext.cnf"), "w") as f:
    f.write("subjectAltName=IP:127.0.0.1\n")
sh("openssl", "x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
   "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "node.pem")
ca, cert, key = (os.path.join(pki, n) for n in ("ca.pem", "node.pem", "node.key"))
emut = Emulator("loki_emulator.py", "--tls-cert", cert, "--tls-key", key, "--basic", "loki:s3cret")
baset = "https://127.0.0.1:%d" % emut.port
tctx = ssl.create_default_context(cafile=ca)


def control(**kw):
    req = urllib.request.Request(base + "/control", data=json.dumps(kw).encode(), method="POST")
    urllib.request.urlopen(req, timeout=10).read()


def stats(b=None):
    b = b or base
    ctx = tctx if b.startswith("https") else None
    return json.loads(urllib.request.urlopen(b + "/stats", timeout=10, context=ctx).read())


def entries(b=None):
    b = b or base
    ctx = tctx if b.startswith("https") else None
    with urllib.request.urlopen(b + "/entries", timeout=60, context=ctx) as r:
        return [json.loads(l) for l in r.read().decode().splitlines() if l.strip()]


def tenant_entries(t):
    return [e for e in entries() if e["tenant"] == t]


logs = os.path.join(WORK, "logs")
os.makedirs(logs)
T0 = (time.time_ns() // 10 ** 9 - 3600) * 10 ** 9  # an hour ago: not too old for Loki
serial = [0]


def line(app, level, user=None, trace=None, msg=None, ts=None):
    serial[0] += 1
    d = {"message": msg or "event %d" % serial[0], "app": app, "level": level,
         "timestamp": ts if ts is not None else T0 + serial[0] * 1000000}
    if user:
        d["user"] = user
    if trace:
        d["trace_id"] = trace
    return json.dumps(d)


# a first chunk, newest first: each request must carry a stream's entries sorted by time
first = []
for i in range(20):
    first.append(line("api", "info", user="u%d" % i, trace="tr%d" % i, ts=T0 + (100 - i) * 1000000))
serial[0] = 200
body = [line("api" if i % 2 else "web", "error" if i % 5 == 0 else "info", user="u%d" % (i % 7),
             trace="t%d" % i if i % 3 else None) for i in range(80)]
body.append(line('we"ird\\app', "info", msg="escaped label"))
with open(os.path.join(logs, "a.log"), "w") as f:
    f.write("\n".join(first + body) + "\n")
clogs = os.path.join(WORK, "clogs")  # its own directory: each source tails only its file
os.makedirs(clogs)
with open(os.path.join(clogs, "c.log"), "w") as f:  # cardinality: 10 users, a cap of 3
    for i in range(10):
        f.write(json.dumps({"message": "card %d" % i, "user": "user%d" % i,
                            "timestamp": T0 + i * 1000}) + "\n")

api = free_port()
sink = """
    type: loki
    endpoint: "%s"
    labels: { app: "{{ app }}", env: prod, level: "{{level}}" }
    structured_metadata: { user: "{{ user }}", trace_id: "{{trace_id}}" }
    auth: { bearer: t0ken }
    batch: { max_events: 1000, timeout_ms: 50 }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 0 }
"""
cfg = """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/a.log"] }
  cin: { type: file, include: ["%s/c.log"] }
transforms:
  p: { type: parse, inputs: [in], format: json }
  cp: { type: parse, inputs: [cin], format: json }
sinks:
  pb:%s    inputs: [p]
    tenant_id: team-pb
  js:%s    inputs: [p]
    tenant_id: team-js
    encoding: json
  card:
    type: loki
    inputs: [cp]
    endpoint: "%s/loki/api/v1/push"
    tenant_id: card
    labels: { job: cards, user: "{{ user }}" }
    max_label_sets: 3
    auth: { bearer: t0ken }
  tls:
    type: loki
    inputs: [cp]
    endpoint: "%s"
    labels: { job: tls }
    auth: { user: loki, password: s3cret }
    tls: { ca_file: "%s" }
""" % (WORK, api, logs, clogs, sink % base, sink % base, base, baset, ca)

# an ordered sink refuses concurrency > 1 before starting anything
bad = cfg.replace("    tenant_id: team-pb\n", "    tenant_id: team-pb\n    concurrency: 2\n")
with open(os.path.join(WORK, "bad.yaml"), "w") as f:
    f.write(bad)
for cmd in ("validate", "run"):
    r = subprocess.run([SLUICE, cmd, "-c", os.path.join(WORK, "bad.yaml")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "sinks.pb.concurrency: a loki sink sends one request at a time" \
        in r.stdout + r.stderr, (cmd, r.returncode, r.stdout, r.stderr)

s = Sluice(cfg).start()
N = len(first) + len(body)
wait_until(lambda: stats()["entries"] >= 2 * N + 10, 60, "every entry in both tenants")
st = stats()
assert st["out_of_order"] == 0 and st["bad"] == 0 and st["unauthorized"] == 0, st
assert st["bad_content_type"] == 0 and st["dups"] == 0, st

src = {json.loads(l)["message"]: json.loads(l) for l in first + body}
for tenant, enc in (("team-pb", "protobuf"), ("team-js", "json")):
    got = tenant_entries(tenant)
    assert len(got) == N, (tenant, len(got))
    assert sorted(e["line"] for e in got) == sorted(src), tenant
    for e in got:
        d = src[e["line"]]
        assert e["encoding"] == enc, e
        want = {"app": d["app"], "env": "prod", "level": d["level"]}
        assert e["labels"] == want, (e, want)
        md = {k: d[k] for k in ("user", "trace_id") if k in d}
        assert e["metadata"] == md, (e, md)
        assert abs(e["ts"] - d["timestamp"]) < 1000, (e, d)  # parse reads epoch ns as a double
    # the first chunk (one request) came sorted, oldest first
    firsts = [e["ts"] for e in got if e["line"] in {json.loads(l)["message"] for l in first}]
    assert firsts == sorted(firsts), firsts
log("protobuf and json: %d entries each, labels, metadata and times right" % N)

# cardinality: 3 label sets admitted, the 7 others in one overflow stream, all delivered
card = tenant_entries("card")
assert len(card) == 10, card
streams = {}
for e in card:
    streams.setdefault(e["labels"]["user"], []).append(e["line"])
assert len(streams) == 4 and len(streams["__overflow__"]) == 7, streams
assert all(e["labels"]["job"] == "cards" for e in card)


def overflow_count():
    for l in s.get("/metrics")[1].splitlines():
        if l.startswith("sluice_component_counter_total{") and 'component_id="card"' in l \
                and 'name="loki_label_overflow"' in l:
            return float(l.rsplit(" ", 1)[1])
    return 0


wait_until(lambda: overflow_count() == 7, 30, "overflow counter")
assert "max_label_sets (3) reached" in s.log_text(), s.log_text()[-2000:]
log("cardinality: streams", sorted(streams))

# TLS with a private CA and basic auth
wait_until(lambda: stats(baset)["entries"] == 10, 30, "entries over TLS")
te = entries(baset)
assert sorted(e["line"] for e in te) == sorted("card %d" % i for i in range(10)), te
assert all(e["labels"] == {"job": "tls"} and e["tenant"] == "" for e in te), te
assert stats(baset)["unauthorized"] == 0, stats(baset)

# 429 (with Retry-After) then 500: retried, nothing lost, nothing twice
before = stats()["entries"]
control(fail=3, status=429, retry_after=0)
more = [line("api", "info", user="r%d" % i) for i in range(30)]
with open(os.path.join(logs, "a.log"), "a") as f:
    f.write("\n".join(more) + "\n")
wait_until(lambda: stats()["entries"] == before + 60, 60, "entries after 429s")
control(fail=2, status=500)
more2 = [line("web", "info", user="s%d" % i) for i in range(30)]
with open(os.path.join(logs, "a.log"), "a") as f:
    f.write("\n".join(more2) + "\n")
wait_until(lambda: stats()["entries"] == before + 120, 60, "entries after 500s")
st = stats()
assert st["injected"] == 5 and st["dups"] == 0 and st["out_of_order"] == 0, st
for tenant in ("team-pb", "team-js"):
    lines_ = [e["line"] for e in tenant_entries(tenant)]
    assert len(lines_) == len(set(lines_)) == N + 60, (tenant, len(lines_))
rl = s.counter("sluice_component_errors_total", component_id="pb", reason="rate_limited") + \
    s.counter("sluice_component_errors_total", component_id="js", reason="rate_limited")
assert rl == 3, rl

# entries older than their stream's newest (ordered Loki) and older than a week: 400,
# dead-lettered with Loki's reason, the rest of the pipeline unaffected
before = stats()["entries"]
stale = [line("api", "info", msg="stale %d" % i, ts=T0 + i) for i in range(4)]
ancient = [line("web", "info", msg="ancient %d" % i, ts=T0 - 30 * 86400 * 10 ** 9) for i in range(2)]
with open(os.path.join(logs, "a.log"), "a") as f:
    f.write("\n".join(stale + ancient) + "\n")
for sid in ("pb", "js"):
    dlq = os.path.join(WORK, "data", "dlq", sid + ".ndjson")

    def dead(p=dlq):
        if not os.path.exists(p):
            return []
        return [json.loads(l) for l in open(p) if l.strip()]
    wait_until(lambda: len(dead()) == 6, 60, "%s: 6 events dead-lettered" % sid)
    recs = {r["event"]["message"]: r["reason"] for r in dead()}
    for i in range(4):
        assert "entry out of order" in recs["stale %d" % i], recs
    for i in range(2):
        assert "too old" in recs["ancient %d" % i], recs
    assert s.counter("sluice_component_errors_total", component_id=sid, reason="out_of_order") >= 1
    assert s.counter("sluice_component_errors_total", component_id=sid, reason="too_old") >= 1
assert stats()["entries"] == before, stats()
assert s.stop() == 0


# the emulator refuses what Loki refuses (so the checks above could fail)
def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def snappy_literal(b):  # a valid raw snappy block made of literals only
    out = varint(len(b))
    for i in range(0, len(b), 60):
        c = b[i:i + 60]
        out += bytes([(len(c) - 1) << 2]) + c
    return out


def pb(field, payload):
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def push(body, ctype="application/x-protobuf", tenant="t", b=None):
    h = {"Content-Type": ctype, "Authorization": "Bearer t0ken"}
    if tenant:
        h["X-Scope-OrgID"] = tenant
    req = urllib.request.Request((b or base) + "/loki/api/v1/push", data=body, headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


entry = pb(1, varint(1 << 3) + varint(int(time.time()))) + pb(2, b"x")
good = pb(1, pb(1, b'{app="neg"}') + pb(2, entry))
assert push(snappy_literal(good))[0] == 204
assert push(snappy_literal(good), tenant=None) == (401, "no org id\n")
assert push(snappy_literal(good), ctype="text/plain")[0] == 415
assert push(good)[0] == 400  # not snappy
assert push(b"\xff\x06\x00\x00sNaPpY" + snappy_literal(good))[0] == 400  # framed format
code, text = push(snappy_literal(pb(1, pb(1, b"{}") + pb(2, entry))))
assert code == 400 and "at least one label" in text, (code, text)
assert push(snappy_literal(pb(1, pb(1, b'{1a="x"}') + pb(2, entry))))[0] == 400
assert push(snappy_literal(pb(1, pb(1, b'{a="x",a="y"}') + pb(2, entry))))[0] == 400
assert push(snappy_literal(pb(1, varint(1 << 3) + varint(5))))[0] == 400  # wire type
assert push(snappy_literal(pb(1, pb(1, b'{a="x"}') + pb(2, pb(2, b"no time")))))[0] == 400
assert push(b'{"streams":[{"stream":{},"values":[["1","x"]]}]}', ctype="application/json")[0] == 400
assert stats()["bad"] == 8 and stats()["bad_content_type"] == 1, stats()
req = urllib.request.Request(baset + "/loki/api/v1/push", data=snappy_literal(good), method="POST",
                             headers={"Content-Type": "application/x-protobuf"})
try:
    urllib.request.urlopen(req, timeout=10, context=tctx)
    raise AssertionError("no basic auth accepted")
except urllib.error.HTTPError as e:
    assert e.code == 401
log("429/500 retried without loss or duplicate; out of order and too old dead-lettered")

# ---- kill -9 with a disk buffer, Loki 3 (unordered writes) --------------------------------
emu3 = Emulator("loki_emulator.py", "--unordered")
base3 = "http://127.0.0.1:%d" % emu3.port
req = urllib.request.Request(base3 + "/control", data=json.dumps({"delay_ms": 15}).encode(),
                             method="POST")
urllib.request.urlopen(req, timeout=10).read()
K = 4000
klogs = os.path.join(WORK, "klogs")
os.makedirs(klogs)
with open(os.path.join(klogs, "k.log"), "w") as f:
    for i in range(K):
        f.write(json.dumps({"message": "kill9 %05d" % i, "app": "k%d" % (i % 3),
                            "timestamp": T0 + i * 1000}) + "\n")
kport = free_port()
kcfg = """
data_dir: %s/kdata
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"], read_budget_bytes: 4KiB, batch_max_events: 50 }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  loki:
    type: loki
    inputs: [p]
    endpoint: "%s"
    labels: { app: "{{ app }}" }
    buffer: { type: disk, max_size: 64MiB }
    batch: { max_events: 50, timeout_ms: 20 }
    retry: { initial_ms: 20, max_ms: 200 }
""" % (WORK, kport, klogs, base3)
for rnd in (1, 2):
    k = Sluice(kcfg, name="kill%d" % rnd).start()
    target = K * rnd // 3
    wait_until(lambda: stats(base3)["entries"] >= target, 120, "round %d progress" % rnd,
               interval=0.01)
    k.kill9()
    at = stats(base3)["entries"]
    log("round %d: killed with %d entries stored" % (rnd, at))
    assert at < K, at
k = Sluice(kcfg, name="kill3").start()
wait_until(lambda: stats(base3)["entries"] == K, 120, "every event after the kills")
wait_until(lambda: k.component("in")["pending_acks"] == 0, 60, "source commits everything")
assert k.stop() == 0
st = stats(base3)
got = [e["line"] for e in entries(base3)]
assert len(got) == K and sorted(got) == ["kill9 %05d" % i for i in range(K)], len(got)
assert st["refused"] == 0 and st["bad"] == 0, st
assert not os.path.exists(os.path.join(WORK, "kdata", "dlq", "loki.ndjson")) or \
    os.path.getsize(os.path.join(WORK, "kdata", "dlq", "loki.ndjson")) == 0
# what was sent again after the kills, per kill at most (ARCHITECTURE.md, "What kill -9
# costs", file -> disk buffer): 15 committed-not-written source batches of 50, one turn's
# read (4 KiB of ~70-byte lines), and the disk buffer's replay (one request of 50 + a record)
bound = 2 * (15 * 50 + 4096 // 60 + 50 + 50)
assert st["dups"] <= bound, (st, bound)
log("kill -9 x2: %d events stored once each, %d resends dropped as duplicates" % (K, st["dups"]))
emu3.stop()
emut.stop()
emu.stop()
print("ok")
