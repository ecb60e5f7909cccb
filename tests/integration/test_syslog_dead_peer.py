"""A syslog sender whose host vanished without closing its connection (a power cut, a reboot,
a NAT that forgot the flow) must not hold a connection slot for ever: syslog senders never
read, so nothing else would notice, and once such connections fill max_connections every new
sender is refused. The TCP keepalive (option keepalive) finds them: the vanished host answers
the probe with a reset (as a rebooted one does) and the slot is free again.

The sender's socket is put into TCP repair mode before it is closed, so it disappears
without a FIN or a reset, as with a host that lost power; max_connections: 1 makes the next
sender wait on that slot. It logs with logger, whose messages must all arrive."""
import os
import socket
import subprocess

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

TCP_REPAIR = 19

api, port = free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: syslog, mode: tcp, address: "127.0.0.1:%d", max_connections: 1, keepalive: 1s }
sinks:
  out: { type: file, inputs: [in], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, port, out)).start()
try:
    ghost = socket.create_connection(("127.0.0.1", port))
    ghost.sendall(b"<13>1 - ghost app - - - before the power cut\n")
    wait_until(lambda: len(ndjson_file(out)) == 1, 30, "the first sender's message")
    assert s.component("in")["connections"] == 1
    ghost.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
    ghost.close()  # gone without a FIN: sluice still holds the connection

    def sent():
        r = subprocess.run(["logger", "--tcp", "-n", "127.0.0.1", "-P", str(port), "--rfc5424",
                            "-t", "next", "after the power cut"], capture_output=True)
        return r.returncode == 0 and any(e.get("appname") == "next" for e in ndjson_file(out))

    # the slot comes free once a probe meets the vanished host's reset; then logger's line
    # gets through (a refused connection makes logger fail, and it is tried again)
    wait_until(sent, 60, "a new sender to get the vanished sender's slot", interval=0.5)
    wait_until(lambda: s.component("in")["connections"] == 0, 30, "logger's connection closed")
finally:
    s.stop()
got = ndjson_file(out)
assert [e["message"] for e in got if e.get("appname") == "app"] == ["before the power cut"], got
log("ok: the vanished sender's connection was closed by keepalive; %d events" % len(got))
