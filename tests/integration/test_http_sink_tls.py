"""http sink over TLS to a receiver with a private CA that requires a client certificate
(sluice's own http source: tls.cert_file, ca_file, client_auth: required). `good` trusts
the CA with tls.ca_file and presents its certificate with tls.cert_file / key_file: every
event arrives once. `nocert` trusts the CA but has no certificate, and `sysca` has the
certificate but only the system's CAs: their handshakes fail, counted as connection errors,
and their events wait in their buffers (nothing delivered, nothing dead-lettered). The http
sink had no tls: option at all, so a config like `good` was refused."""
import os
import subprocess

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

pki = os.path.join(WORK, "pki")
os.makedirs(pki)


def sh(*args):
    subprocess.run(args, check=True, cwd=pki, capture_output=True)


def signed(name, ext):
    sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name,
       "-keyout", name + ".key", "-out", name + ".csr")
    with open(os.path.join(pki, name + ".cnf"), "w") as f:
        f.write(ext)
    sh("openssl", "x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
       "-CAcreateserial", "-days", "2", "-out", name + ".pem", "-extfile", name + ".cnf")


sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
   "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.pem")
signed("server", "subjectAltName=IP:127.0.0.1\n")
signed("client", "extendedKeyUsage=clientAuth\n")
P = lambda n: os.path.join(pki, n)

N = 200
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("tls event %04d\n" % i)

api, port = free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
base = "https://127.0.0.1:%d" % port
s = Sluice("""
data_dir: %(w)s/data
api: { address: "127.0.0.1:%(api)d" }
shutdown_timeout: 2s
sources:
  in: { type: file, include: ["%(w)s/logs/*.log"] }
  recv:
    type: http
    address: "127.0.0.1:%(port)d"
    tls: { cert_file: "%(server)s", key_file: "%(serverkey)s", ca_file: "%(ca)s",
           client_auth: required }
sinks:
  good:
    type: http
    inputs: [in]
    uri: "%(base)s/good"
    tls: { ca_file: "%(ca)s", cert_file: "%(client)s", key_file: "%(clientkey)s" }
    batch: { max_events: 50, timeout_ms: 20 }
  nocert:
    type: http
    inputs: [in]
    uri: "%(base)s/nocert"
    tls: { ca_file: "%(ca)s" }
    retry: { initial_ms: 50, max_ms: 200 }
  sysca:
    type: http
    inputs: [in]
    uri: "%(base)s/sysca"
    tls: { cert_file: "%(client)s", key_file: "%(clientkey)s" }
    retry: { initial_ms: 50, max_ms: 200 }
  out: { type: file, inputs: [recv], path: "%(out)s", batch: { timeout_ms: 20 } }
""" % {"w": WORK, "api": api, "port": port, "base": base, "out": out, "ca": P("ca.pem"),
       "server": P("server.pem"), "serverkey": P("server.key"), "client": P("client.pem"),
       "clientkey": P("client.key")}).start()

wait_until(lambda: len(ndjson_file(out)) >= N, 30, "every event through the good sink")
for sink in ("nocert", "sysca"):
    wait_until(lambda: (s.metric("sluice_component_errors_total", component_id=sink,
                                 reason="connection") or 0) >= 2, 30, sink + "'s handshakes")
got = ndjson_file(out)
assert sorted(e["message"] for e in got) == ["tls event %04d" % i for i in range(N)], got[:3]
assert {e.get("tag") for e in got} == {"good"}, {e.get("tag") for e in got}
for sink in ("nocert", "sysca"):
    assert not s.metric("sluice_component_sent_events_total", component_id=sink), sink
    assert not ndjson_file(os.path.join(WORK, "data", "dlq", sink + ".ndjson")), sink
with open(s.log_path) as f:
    text = f.read()
log([line for line in text.splitlines() if "nocert" in line or "sysca" in line][:2])
s.stop()
log("ok: %d events over mutual TLS" % N)
