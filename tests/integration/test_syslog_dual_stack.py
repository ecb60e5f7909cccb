"""syslog source listening on [::] (every IPv6 and IPv4 address), with util-linux logger as
the sender over UDP and TCP from 127.0.0.1 and ::1: an IPv4 peer's source_ip is its IPv4
address (127.0.0.1, as on a 0.0.0.0 socket and as rsyslog's fromhost-ip), not the socket's
v4-mapped spelling ::ffff:127.0.0.1, and an IPv6 peer's stays as it is."""
import os
import subprocess

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

api, p_tcp, p_udp = free_port(), free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  tcp: { type: syslog, mode: tcp, address: "[::]:%d" }
  udp: { type: syslog, mode: udp, address: "[::]:%d" }
sinks:
  out: { type: file, inputs: [tcp, udp], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, p_tcp, p_udp, out)).start()

sent = {}
for host in ("127.0.0.1", "::1"):
    for mode, port in (("-T", p_tcp), ("-d", p_udp)):
        text = "from %s over %s" % (host, "tcp" if mode == "-T" else "udp")
        subprocess.run(["logger", "-n", host, "-P", str(port), mode, "-t", "dual", text],
                       check=True, timeout=60)
        sent[text] = host


def got():
    return {e["message"]: e.get("source_ip") for e in ndjson_file(out)}


wait_until(lambda: len(got()) == len(sent), 30, "the four messages")
assert got() == sent, (got(), sent)
assert s.stop() == 0
log("ok:", got())
