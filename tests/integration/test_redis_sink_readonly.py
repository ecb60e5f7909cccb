"""redis sink through a failover that moves its address: two real redis-servers, the sink
connected through a proxy that stands for a managed service's primary endpoint (a name that
moves to the new primary; connections made before keep going to the old one). The replica
is promoted, the old primary becomes its replica and answers READONLY, and the endpoint
moves. The sink drops the connection that answers READONLY and connects again, so it
reaches the new primary: every event arrives there, none is dead-lettered. Before, it kept
the connection to the old primary and retried READONLY without end."""
import json
import os
import socket
import threading

from harness import Sluice, WORK, free_port, log, wait_until
from redis_server import Redis

a, b = Redis(name="redis-a"), Redis(name="redis-b")
target = [a.port]  # where the endpoint leads new connections


def pipe(src, dst):
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            dst.sendall(d)
    except OSError:
        pass
    for c in (src, dst):
        try:
            c.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


endpoint = socket.socket()
endpoint.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
endpoint.bind(("127.0.0.1", 0))
endpoint.listen(16)
connections = [0]


def serve():
    while True:
        try:
            c, _ = endpoint.accept()
        except OSError:
            return
        connections[0] += 1
        up = socket.create_connection(("127.0.0.1", target[0]), timeout=10)
        up.settimeout(None)
        threading.Thread(target=pipe, args=(c, up), daemon=True).start()
        threading.Thread(target=pipe, args=(up, c), daemon=True).start()


threading.Thread(target=serve, daemon=True).start()

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
path = os.path.join(logs, "a.log")
total = 0


def write(n):
    global total
    with open(path, "a") as f:
        for i in range(total, total + n):
            f.write("m%d\n" % i)
    total += n


def synced(replica):
    info = replica.cmd("INFO", "replication")
    return "master_link_status:up" in info


s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  out:
    type: redis
    inputs: [in]
    address: 127.0.0.1:%d
    key: k
    batch: { max_events: 20, timeout_ms: 20 }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 0 }
""" % (WORK, free_port(), logs, endpoint.getsockname()[1])).start()

write(50)
wait_until(lambda: a.cmd("LLEN", "k") == 50, 60, "the first events on the primary")
b.cmd("REPLICAOF", "127.0.0.1", a.port)
wait_until(lambda: synced(b) and b.cmd("LLEN", "k") == 50, 60, "the replica in sync")

# The failover: the replica is promoted, the old primary follows it, the endpoint moves.
b.cmd("REPLICAOF", "NO", "ONE")
a.cmd("REPLICAOF", "127.0.0.1", b.port)
wait_until(lambda: synced(a), 60, "the old primary following the new one")
target[0] = b.port
before = connections[0]

write(50)
wait_until(lambda: b.cmd("LLEN", "k") == 100, 60, "the events after the failover")
items = b.cmd("LRANGE", "k", 0, -1)
got = sorted(int(json.loads(x)["message"][1:]) for x in items)
assert got == list(range(100)), got
assert connections[0] > before
assert "READONLY" in s.log_text(), s.log_text()[-2000:]
assert s.counter("sluice_dlq_events_total", component_id="out") == 0
assert s.stop() == 0, s.log_text()[-2000:]
endpoint.close()
a.stop()
b.stop()
log("ok")
