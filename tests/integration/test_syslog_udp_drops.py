"""syslog over UDP: datagrams the kernel drops because the socket's receive buffer is full
(sluice busy, here stopped with SIGSTOP) are counted (udp_dropped_datagrams) and said in the
log, so that every datagram sent is either delivered or counted; and receive_buffer_bytes is
the buffer the socket gets (as root, past net.core.rmem_max), or the log says what it got."""
import os
import signal
import socket
import subprocess

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

N = 300
api, p_udp, p_big = free_port(), free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
with open("/proc/sys/net/core/rmem_max") as f:
    rmem_max = int(f.read())
big = 4 * rmem_max  # more than an unprivileged SO_RCVBUF may take
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  udp: { type: syslog, mode: udp, address: "127.0.0.1:%d", receive_buffer_bytes: 4KiB }
  big: { type: syslog, mode: udp, address: "127.0.0.1:%d", receive_buffer_bytes: %d }
sinks:
  out: { type: file, inputs: [udp, big], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, p_udp, p_big, big, out)).start()


def dropped():
    return s.component_counter("udp", "udp_dropped_datagrams")


def sockstat(port):
    """ss's line for the UDP socket on port: Recv-Q and skmem (rb: its receive buffer)."""
    return subprocess.run(["ss", "-uanm", "sport", "=", ":%d" % port], capture_output=True,
                          text=True, check=True).stdout


def queued(port):
    return int(sockstat(port).splitlines()[1].split()[1])


# The buffer asked for is the one the socket has (the kernel doubles it for its overhead).
ss = sockstat(p_big)
rb = int(ss.split("rb")[1].split(",")[0])
assert rb >= big, ss
assert "receive_buffer_bytes" not in s.log_text(), s.log_text()

d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
os.kill(s.proc.pid, signal.SIGSTOP)
for i in range(N):
    d.sendto(b"<13>Dec  7 10:00:00 h app: burst %03d " % i + b"x" * 200, ("127.0.0.1", p_udp))
os.kill(s.proc.pid, signal.SIGCONT)
wait_until(lambda: queued(p_udp) == 0, 30, "what the socket held read")
# Drops are reported with the next datagram the socket queues after them.
d.sendto(b"<13>Dec  7 10:00:00 h app: marker", ("127.0.0.1", p_udp))
wait_until(lambda: any(e["message"] == "marker" for e in ndjson_file(out)), 30, "the marker")
burst = [e for e in ndjson_file(out) if e["message"].startswith("burst")]
assert 0 < len(burst) < N, len(burst)
wait_until(lambda: dropped() == N - len(burst), 30, "the drops counted")
assert "the kernel dropped" in s.log_text(), s.log_text()[-2000:]
assert s.stop() == 0
log("ok:", len(burst), "delivered,", N - len(burst), "dropped and counted; rb", rb)
