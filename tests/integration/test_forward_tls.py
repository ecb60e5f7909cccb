"""TLS on the forward and http sources (certificates made with `openssl req` here): a
Forward client with a client certificate delivers, one without is refused when
client_auth is required (counted, other connections unaffected); curl over HTTPS.
The handshake timeout is far beyond any scheduling delay: the refused client must be counted
as a failed TLS handshake, never as a slow one."""
import json
import os
import socket
import ssl
import subprocess

from fwdclient import Client, packed_entries
from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

cert, key = os.path.join(WORK, "cert.pem"), os.path.join(WORK, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
api, pf, ph = free_port(), free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  fwd:  { type: forward, address: "127.0.0.1:%d", handshake_timeout: 120s,
          tls: { cert_file: "%s", key_file: "%s", ca_file: "%s", client_auth: required } }
  web:  { type: http, address: "127.0.0.1:%d", tls: { cert_file: "%s", key_file: "%s" } }
sinks:
  out: { type: file, inputs: [fwd, web], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, pf, cert, key, cert, ph, cert, key, out)).start()


def outputs():
    return ndjson_file(out)


# Without a client certificate: the handshake fails and nothing is accepted.
ctx = ssl.create_default_context(cafile=cert)
try:
    raw = socket.create_connection(("127.0.0.1", pf), timeout=60)
    t = ctx.wrap_socket(raw, server_hostname="localhost")
    t.sendall(b"\x93\xa1t\x01\x81\xa1m\xa1x")
    assert t.recv(10) == b"", "accepted a client without a certificate"
except socket.timeout:
    raise AssertionError("the server neither refused nor closed a client without a certificate")
except (ssl.SSLError, ConnectionError, OSError) as e:
    log("refused as expected:", e)


def fwd_errors(reason):
    return s.metric("sluice_component_errors_total", component_id="fwd", reason=reason) or 0


wait_until(lambda: fwd_errors("tls_handshake") + fwd_errors("handshake_timeout") >= 1, 60,
           "the refused client counted")
assert (fwd_errors("tls_handshake"), fwd_errors("handshake_timeout")) == (1, 0), \
    (fwd_errors("tls_handshake"), fwd_errors("handshake_timeout"))

# With one: delivered and acked.
ctx2 = ssl.create_default_context(cafile=cert)
ctx2.load_cert_chain(cert, key)
raw = socket.create_connection(("127.0.0.1", pf), timeout=20)
c = Client.__new__(Client)
import msgpack  # noqa: E402
c.sock = ctx2.wrap_socket(raw, server_hostname="localhost")
c.up = msgpack.Unpacker(raw=False)
c.send(["tls.app", packed_entries([{"message": "t%d" % i} for i in range(100)]), {"chunk": "x1"}])
c.wait_ack("x1")
c.close()

# HTTPS with curl.
r = subprocess.run(["curl", "-sS", "--cacert", cert, "-H", "Content-Type: application/x-ndjson",
                    "--data-binary", '{"message":"h1"}\n{"message":"h2"}\n',
                    "https://localhost:%d/tls.web" % ph, "--resolve", "localhost:%d:127.0.0.1" % ph],
                   capture_output=True, timeout=30)
assert json.loads(r.stdout) == {"accepted": 2}, (r.stdout, r.stderr)
# Two requests on one kept-alive TLS connection (the second waits while the first commits).
r = subprocess.run(["curl", "-sS", "--cacert", cert, "-H", "Content-Type: application/x-ndjson",
                    "--data-binary", '{"message":"k1"}\n{"message":"k2"}\n',
                    "https://localhost:%d/tls.web" % ph, "https://localhost:%d/tls.web" % ph,
                    "--resolve", "localhost:%d:127.0.0.1" % ph], capture_output=True, timeout=30)
assert r.stdout.count(b'{"accepted":2}') == 2, (r.stdout, r.stderr)
assert b"Re-using existing connection" in subprocess.run(
    ["curl", "-sSv", "-o", "/dev/null", "--cacert", cert, "-H", "Content-Type: text/plain", "--data-binary", "v",
     "https://localhost:%d/tls.web" % ph, "https://localhost:%d/tls.web" % ph,
     "--resolve", "localhost:%d:127.0.0.1" % ph], capture_output=True, timeout=30).stderr

wait_until(lambda: len(outputs()) == 108, 30, "TLS events")
assert {e["tag"] for e in outputs()} == {"tls.app", "tls.web"}
assert s.stop() == 0
