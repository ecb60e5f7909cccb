"""forward source, UDP heartbeats as Fluentd's in_forward answers them: a datagram to the
forward port is answered with one NUL byte from that same port (what out_forward with
heartbeat_type udp waits for); a flood is rate-limited and counted while Forward data on
the TCP side keeps flowing and every event is delivered; `heartbeat: false` turns it off."""
import os
import socket
import time

from fwdclient import Client, packed_entries
from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

api, port, port_off = free_port(), free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d" }
  off: { type: forward, address: "127.0.0.1:%d", heartbeat: false }
sinks:
  out: { type: file, inputs: [fwd, off], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, port, port_off, out)).start()


def outputs():
    return ndjson_file(out)


u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
u.settimeout(10)

# out_forward sends a one-byte datagram ("\0") and takes any answer from host:port as alive.
for payload in (b"\0", b"", b"x" * 500):
    u.sendto(payload, ("127.0.0.1", port))
    data, src = u.recvfrom(100)
    assert data == b"\0", data
    assert src == ("127.0.0.1", port), src
log("heartbeat answered from the forward port")

# A flood: at most 256 answers a second, the rest dropped and counted; TCP keeps serving.
# The kernel queues only a few hundred datagrams for a socket, so a sluice that is not
# scheduled during a burst sees fewer than were sent: bursts go on (at least 4) until sluice
# has seen more than its budget in one second and counted a drop.
c = Client(port)
expected = 0
bursts = 0
t0 = time.monotonic()


def dropped():
    return s.metric("sluice_component_errors_total", component_id="fwd", reason="heartbeat_rate") or 0


def burst():
    global bursts, expected
    for _ in range(500):
        u.sendto(b"\0", ("127.0.0.1", port))
    c.send(["hb.data", packed_entries([{"message": "d%d-%d" % (bursts, i)} for i in range(50)]),
            {"chunk": "b%d" % bursts}])
    c.wait_ack("b%d" % bursts)
    expected += 50
    bursts += 1
    return bursts >= 4 and dropped() > 0


wait_until(burst, 120, "dropped heartbeats counted", interval=0)
answers = 0
last = t0
u.settimeout(0.5)
try:
    while True:
        u.recvfrom(10)
        answers += 1
        last = time.monotonic()
except socket.timeout:
    pass
# An upper bound only (a slower run allows more): every answer was sent between t0 and its
# arrival, and each second of that span has a budget of 256.
assert answers > 0
elapsed = last - t0
assert answers <= 256 * (int(elapsed) + 2), (answers, elapsed)
log("flood of %d: %d answers in %.2fs" % (500 * bursts, answers, elapsed))
u.settimeout(10)
time.sleep(1.1)  # a new second: answers again
u.sendto(b"\0", ("127.0.0.1", port))
assert u.recvfrom(10)[0] == b"\0"
c.close()

# heartbeat: false leaves the UDP port alone (we can bind it ourselves); TCP still works.
v = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
v.bind(("127.0.0.1", port_off))
v.close()
c = Client(port_off)
c.send(["hb.off", packed_entries([{"message": "off%d" % i} for i in range(5)]), {"chunk": "o"}])
c.wait_ack("o")
c.close()
expected += 5

wait_until(lambda: len(outputs()) == expected, 30, "every event delivered")
hb = [l for l in s.get("/metrics")[1].splitlines()
      if l.startswith("sluice_component_counter_total{") and 'component_id="fwd"' in l and 'name="heartbeats"' in l]
assert hb and float(hb[0].rsplit(" ", 1)[1]) >= 4, hb
assert s.stop() == 0
