"""elasticsearch sink against a node that requires a client certificate (mutual TLS). A
private CA signs the node's and a client's certificate; another CA signs a stranger's.
`good` (tls.cert_file/key_file of the right client) delivers every event exactly.
`swap` starts with the stranger's certificate and `nocert` with none: each logs one
TLS FAILED line, opens its circuit and holds its events. The stranger's files are then
replaced by the right ones on disk and `swap` delivers everything; `nocert` gets its
certificate by a config change and a restart and delivers everything too. Nothing is
lost and nothing is stored twice. Also: a missing tls.cert_file is refused at start.
The sink's requests beside the bulk path carry the same certificate: `tuned` (refresh
tuning) sets its index's refresh_interval, and `vers` (versioned: true, schema_heal
dry_run) sets up its template, data stream and alias, delivers every event through the
alias and runs its heal passes, with no handshake refused."""
import json
import os
import re
import shutil
import ssl
import subprocess
import urllib.request

from harness import SLUICE, Emulator, Sluice, WORK, free_port, log, wait_until

N = int(os.environ.get("ES_N", "1200"))
pki = os.path.join(WORK, "pki")
os.makedirs(pki)


def sh(*args):
    subprocess.run(args, check=True, cwd=pki, capture_output=True)


def ca(name):
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
       "/CN=" + name, "-keyout", name + ".key", "-out", name + ".pem")


def signed(name, by, ext=None):
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name,
       "-keyout", name + ".key", "-out", name + ".csr")
    cmd = ["openssl", "x509", "-req", "-in", name + ".csr", "-CA", by + ".pem", "-CAkey", by + ".key",
           "-CAcreateserial", "-days", "2", "-out", name + ".pem"]
    if ext:
        with open(os.path.join(pki, name + ".cnf"), "w") as f:
            f.write(ext)
        cmd += ["-extfile", name + ".cnf"]
    sh(*cmd)


ca("ca")
ca("other-ca")
signed("node", "ca", "subjectAltName=IP:127.0.0.1\n")
signed("client", "ca", "extendedKeyUsage=clientAuth\n")
signed("stranger", "other-ca", "extendedKeyUsage=clientAuth\n")
P = lambda n: os.path.join(pki, n)
# `swap` reads its certificate from these paths; they start as the stranger's
shutil.copy(P("stranger.pem"), P("live.pem"))
shutil.copy(P("stranger.key"), P("live.key"))

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("mtls event %05d\n" % i)
want = {"mtls event %05d" % i for i in range(N)}

emu = Emulator("es_emulator.py", "--tls-cert", P("node.pem"), "--tls-key", P("node.key"),
               "--tls-client-ca", P("ca.pem"))
ctx = ssl.create_default_context(cafile=P("ca.pem"))
ctx.load_cert_chain(P("client.pem"), P("client.key"))


def get(path):
    with urllib.request.urlopen("https://127.0.0.1:%d%s" % (emu.port, path), context=ctx, timeout=10) as r:
        return r.read().decode()


def stats():
    return json.loads(get("/_emulator/stats"))


def stored(index):
    docs = [json.loads(l) for l in get("/_emulator/docs").splitlines() if l.strip()]
    return [d["_source"]["message"] for d in docs if d["_index"] == index]


def per_index():
    rows = json.loads(get("/_cat/indices?format=json"))
    return {r["index"]: int(r["docs.count"]) for r in rows}


def config(nocert_tls):
    return """
data_dir: %s/data
shutdown_timeout: 2s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  good:
    type: elasticsearch
    inputs: [in]
    endpoint: "https://127.0.0.1:%d"
    index: good
    tls: { ca_file: "%s", cert_file: "%s", key_file: "%s" }
    batch: { max_events: 300, timeout_ms: 50 }
  swap:
    type: elasticsearch
    inputs: [in]
    endpoint: "https://127.0.0.1:%d"
    index: swap
    tls: { ca_file: "%s", cert_file: "%s", key_file: "%s" }
    batch: { max_events: 300, timeout_ms: 50 }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 3, open_ms: 300 }
  nocert:
    type: elasticsearch
    inputs: [in]
    endpoint: "https://127.0.0.1:%d"
    index: nocert
    tls: %s
    batch: { max_events: 300, timeout_ms: 50 }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 3, open_ms: 300 }
""" % (WORK, port, logs, emu.port, P("ca.pem"), P("client.pem"), P("client.key"),
       emu.port, P("ca.pem"), P("live.pem"), P("live.key"), emu.port, nocert_tls)


port = free_port()

# A certificate file that does not exist is a configuration error, said at start (exit 1,
# at the option); validate leaves the files to the machine that runs it.
bad = os.path.join(WORK, "missing.yaml")
with open(bad, "w") as f:
    f.write(config('{ ca_file: "%s", cert_file: "%s", key_file: "%s" }'
                   % (P("ca.pem"), P("nope.pem"), P("client.key"))))
r = subprocess.run([SLUICE, "run", "-c", bad], capture_output=True, text=True, timeout=120)
out = r.stdout + r.stderr
assert r.returncode == 1 and re.search(r"sinks\.\w+\.tls\.cert_file: \".*nope\.pem\": No such file",
                                       out), (r.returncode, out)
r = subprocess.run([SLUICE, "validate", "-c", bad], capture_output=True, text=True, timeout=120)
assert r.returncode == 0, (r.returncode, r.stdout + r.stderr)

s = Sluice(config('{ ca_file: "%s" }' % P("ca.pem"))).start()
try:
    wait_until(lambda: per_index().get("good") == N, 30, "delivery with the right client certificate")
    assert sorted(stored("good")) == sorted(want)
    # the other two are refused at the handshake: one loud line each, circuit open, held
    tls_lines = lambda cid: [l for l in s.log_text().splitlines() if "TLS FAILED" in l and cid in l]
    wait_until(lambda: tls_lines("swap") and tls_lines("nocert"), 30, "TLS FAILED log lines")
    # Several attempts each, as the node counts its refused handshakes (the stranger's
    # certificate is not trusted; nocert sends none); retry and open_ms are short.
    refused = lambda why: stats()["tls_refused_reasons"].get(why, 0)
    wait_until(lambda: refused("CERTIFICATE_VERIFY_FAILED") >= 3 and
               refused("PEER_DID_NOT_RETURN_A_CERTIFICATE") >= 3, 60, "3 refused handshakes each")
    # The sink counts each one as a TLS error, or as a connection error when the server's
    # close overtakes its alert (libcurl then reports only the failed write).
    failed = lambda cid: sum(s.counter("sluice_component_errors_total", component_id=cid, reason=r)
                             for r in ("tls", "connection"))
    wait_until(lambda: failed("swap") >= 3 and failed("nocert") >= 3, 30, "3 failed attempts each")
    for cid in ("swap", "nocert"):
        wait_until(lambda: s.metric("sluice_circuit_state", component_id=cid) in (1.0, 2.0), 30,
                   cid + " circuit open")
    assert s.metric("sluice_component_sent_events_total", component_id="swap") == 0
    assert s.metric("sluice_dlq_events_total", component_id="swap") in (0, None)
    assert "swap" not in per_index() and "nocert" not in per_index(), per_index()
    line = tls_lines("swap")[0]
    # the client's detail: usually the server's alert ("TLS: tlsv1 alert unknown ca"), or
    # the write it broke
    assert "TLS: " in line and "tls.cert_file" in line, line
    assert len(tls_lines("swap")) == 1 and len(tls_lines("nocert")) == 1, s.log_text()[-3000:]

    # the right certificate replaces the stranger's on disk (atomically): swap resumes
    for ext in ("pem", "key"):
        shutil.copy(P("client." + ext), P("live.new." + ext))
        os.rename(P("live.new." + ext), P("live." + ext))
    wait_until(lambda: per_index().get("swap") == N, 30, "swap delivery after the fix")
    assert sorted(stored("swap")) == sorted(want)
    wait_until(lambda: s.metric("sluice_circuit_state", component_id="swap") == 0, 30, "swap circuit closed")
    # (counted just after the circuit closes: wait for it rather than read it)
    wait_until(lambda: s.metric("sluice_component_sent_events_total", component_id="swap") == N, 30,
               "swap's sent count")
    assert "nocert" not in per_index()
finally:
    s.stop()

# nocert gets its certificate by a config change; the events it held are read again
s = Sluice(config('{ ca_file: "%s", cert_file: "%s", key_file: "%s" }'
                  % (P("ca.pem"), P("client.pem"), P("client.key")))).start()
try:
    wait_until(lambda: per_index().get("nocert") == N, 30, "nocert delivery after the restart")
    assert sorted(stored("nocert")) == sorted(want)
    assert per_index() == {"good": N, "swap": N, "nocert": N}, per_index()
    st = stats()
    assert st["created"] == 3 * N, st  # nothing stored twice (replays end in 409s)
finally:
    s.stop()

# Refresh tuning and versioned data streams (their own requests, es_conn.c) against the
# same node: each request must carry the client certificate, or the handshake is refused.
refused0 = stats()["tls_refused_reasons"]
tls_all = '{ ca_file: "%s", cert_file: "%s", key_file: "%s" }' % (P("ca.pem"), P("client.pem"),
                                                                   P("client.key"))
s = Sluice("""
data_dir: %s/data-admin
shutdown_timeout: 2s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  tuned:
    type: elasticsearch
    inputs: [in]
    endpoint: "https://127.0.0.1:%d"
    index: "tuned-%%Y.%%m.%%d"
    tls: %s
    batch: { max_events: 300, timeout_ms: 50 }
    refresh_tuning: { every: 1s, cold_age_days: 7, hot_interval: 2s, cold_interval: 30s }
  vers:
    type: elasticsearch
    inputs: [in]
    endpoint: "https://127.0.0.1:%d"
    index: vers
    tls: %s
    batch: { max_events: 300, timeout_ms: 50 }
    versioned: true
    schema_heal: dry_run
    schema_heal_interval: 300ms
""" % (WORK, free_port(), logs, emu.port, tls_all, emu.port, tls_all), name="admin").start()
try:
    tuned = lambda: [i for i in per_index() if i.startswith("tuned-")]
    wait_until(lambda: tuned() and sum(per_index()[i] for i in tuned()) == N, 30, "tuned delivery")
    # events of today: the tuner's pass makes each index hot (GET _stats, _settings; PUT)
    wait_until(lambda: all(json.loads(get("/_emulator/settings"))[i]["settings"].get("refresh_interval")
                           == "2s" for i in tuned()), 30, "refresh_interval set by the tuner")
    tuning = lambda: s.component("tuned").get("refresh_tuning") or {}
    wait_until(lambda: tuning().get("passes", 0) >= 2, 30, "two tuning passes")
    assert tuning()["last_error"] is None and tuning()["hot_indices"] == len(tuned()), tuning()
    # versioned: template, data stream and alias set up, every event through the alias
    count = lambda t: json.loads(get("/%s/_count" % t))["count"]
    wait_until(lambda: "sluice-vers-v1" in per_index() and count("vers") == N, 30,
               "vers delivery through its alias")
    assert sorted(json.loads(get("/_alias/vers"))) == ["sluice-vers-v1"]
    assert sorted(stored("sluice-vers-v1")) == sorted(want)
    vs = lambda: s.component("vers")["versions"]
    wait_until(lambda: vs()["passes"] >= 2, 30, "two heal passes")
    assert vs()["names"] == 1 and vs()["last_error"] is None, vs()
    assert "TLS FAILED" not in s.log_text(), s.log_text()[-3000:]
finally:
    s.stop()
assert stats()["tls_refused_reasons"] == refused0, (refused0, stats()["tls_refused_reasons"])
log("ok: mutual TLS - right client certificate delivers; stranger's or none: one TLS FAILED line,"
    " circuit open, held; fixed on disk or by config: all %d events, no duplicates; refresh"
    " tuning and a versioned sink carry the certificate too" % N)
emu.stop()
