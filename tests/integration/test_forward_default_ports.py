"""The forward source's default listeners are the seed's: 24224 plain and 24225 with TLS,
when no address is given. fluent-logger sends to the plain one, a TLS Forward client to
the other; both arrive. The test needs those two ports free on this machine."""
import os
import socket
import ssl
import subprocess

import msgpack
from fluent import sender

from fwdclient import Client, packed_entries
from harness import Sluice, WORK, free_port, ndjson_file, wait_until

for port in (24224, 24225):
    probe = socket.socket()
    # SO_REUSEADDR as sluice binds: a closed connection in TIME_WAIT (a previous run's) does
    # not hold the port, a listener does.
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("0.0.0.0", port))
        probe.listen(1)
    except OSError as e:
        raise AssertionError("port %d is taken on this machine (%s): the default listeners "
                             "cannot be tested" % (port, e))
    finally:
        probe.close()

cert, key = os.path.join(WORK, "cert.pem"), os.path.join(WORK, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
api = free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  plain: { type: forward }
  tls:   { type: forward, tls: { cert_file: "%s", key_file: "%s" } }
sinks:
  out: { type: file, inputs: [plain, tls], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, cert, key, out)).start()


def outputs():
    return ndjson_file(out)


try:
    fl = sender.FluentSender("app.plain", host="127.0.0.1", port=24224)
    for i in range(50):
        assert fl.emit("line", {"message": "p%d" % i}), fl.last_error
    fl.close()

    ctx = ssl.create_default_context(cafile=cert)
    c = Client.__new__(Client)
    c.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", 24225), timeout=20),
                             server_hostname="localhost")
    c.up = msgpack.Unpacker(raw=False)
    c.send(["app.tls", packed_entries([{"message": "t%d" % i} for i in range(50)]), {"chunk": "d1"}])
    c.wait_ack("d1")
    c.close()

    wait_until(lambda: len(outputs()) >= 100, 30, "events on both default ports")
    got = outputs()
    assert len(got) == 100, len(got)
    assert sorted(e["message"] for e in got if e["tag"] == "app.plain.line") == sorted("p%d" % i for i in range(50))
    assert sorted(e["message"] for e in got if e["tag"] == "app.tls") == sorted("t%d" % i for i in range(50))
    assert s.stop() == 0
finally:
    s.kill9()
