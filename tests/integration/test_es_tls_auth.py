"""elasticsearch sink over TLS with API-key and bearer auth: a private CA signs the node's
certificate; the sink that trusts it (tls.ca_file) delivers with an API key, one with
verify: false delivers with a bearer token, and one trusting only the system store
refuses the node (certificate error, nothing sent)."""
import json
import os
import ssl
import subprocess
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, wait_until

N = int(os.environ.get("ES_N", "1500"))
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

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("tls event %05d\n" % i)

e1 = Emulator("es_emulator.py", "--tls-cert", cert, "--tls-key", key, "--api-key", "aWQ6a2V5")
e2 = Emulator("es_emulator.py", "--tls-cert", cert, "--tls-key", key, "--bearer", "tok3n")
ctx = ssl.create_default_context(cafile=ca)


def stats(e):
    with urllib.request.urlopen("https://127.0.0.1:%d/_emulator/stats" % e.port, context=ctx, timeout=10) as r:
        return json.loads(r.read())


port = free_port()
cfg = """
data_dir: %s/data
shutdown_timeout: 2s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  trusted:
    type: elasticsearch
    inputs: [in]
    endpoint: "https://127.0.0.1:%d"
    index: trusted
    auth: { api_key: aWQ6a2V5 }
    tls: { ca_file: "%s" }
    batch: { max_events: 500, timeout_ms: 50 }
  insecure:
    type: elasticsearch
    inputs: [in]
    endpoint: "https://127.0.0.1:%d"
    index: insecure
    auth: { bearer: tok3n }
    tls: { verify: false }
    batch: { max_events: 500, timeout_ms: 50 }
  untrusted:
    type: elasticsearch
    inputs: [in]
    endpoint: "https://127.0.0.1:%d"
    index: untrusted
    auth: { api_key: aWQ6a2V5 }
    batch: { max_events: 500, timeout_ms: 50 }
    retry: { initial_ms: 50, max_ms: 200 }
""" % (WORK, port, logs, e1.port, ca, e2.port, e1.port)
s = Sluice(cfg).start()
try:
    wait_until(lambda: stats(e2)["docs"] == N, 30, "bearer + verify:false delivery")
    wait_until(lambda: s.metric("sluice_component_errors_total", component_id="untrusted", reason="tls"),
               30, "certificate refused by the untrusted sink")
    # the trusted sink shares the source with the stuck one; its docs still all arrive
    wait_until(lambda: stats(e1)["docs"] == N, 30, "api key + ca_file delivery")
    st1 = stats(e1)
    assert st1["indices"] == ["trusted"], st1  # nothing from the untrusted sink got through
    assert st1["status_401"] == 0 and stats(e2)["status_401"] == 0
    tls = [l for l in s.log_text().splitlines() if "TLS FAILED" in l and "untrusted" in l]
    assert len(tls) == 1 and "certificate" in tls[0].lower(), s.log_text()[-2000:]
    assert s.metric("sluice_component_sent_events_total", component_id="untrusted") == 0
finally:
    s.stop()
log("ok: TLS with a private CA and API key, verify:false with bearer, untrusted CA refused")
e1.stop()
e2.stop()
