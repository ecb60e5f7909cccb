"""Forward chunk acks mean durable acceptance: with a memory buffer the ack waits for the
sink to deliver (it is blocked, so no ack until it is unblocked); with a disk buffer the
ack comes once the batch is written, and survives kill -9: after a restart with the sink
unblocked, the acked events are delivered from the buffer."""
import os
import select

from fwdclient import Client, packed_entries
from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

blocker = os.path.join(WORK, "blocked")  # a regular file where the output directory should be
out = os.path.join(blocker, "out.ndjson")


def cfg(api, port, buffer):
    return """
data_dir: %s/data
shutdown_timeout: 2s
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d" }
sinks:
  out: { type: file, inputs: [fwd], path: "%s", buffer: %s,
         batch: { timeout_ms: 20 }, retry: { initial_ms: 20, max_ms: 100 }, circuit_breaker: { failures: 0 } }
""" % (WORK, api, port, out, buffer)


def delivered():
    return [o["message"] for o in ndjson_file(out)]


def pending(c):
    """Bytes the server sent and we have not read (non-blocking look)."""
    return bool(select.select([c.sock], [], [], 0)[0])


# 1. Memory buffer: no ack while the sink cannot deliver.
open(blocker, "w").close()
api, port = free_port(), free_port()
s = Sluice(cfg(api, port, "{ type: memory }"), name="mem").start()
c = Client(port)
c.send(["acks.mem", packed_entries([{"message": "m%d" % i} for i in range(50)]), {"chunk": "m1"}])
wait_until(lambda: (s.metric("sluice_sink_retries_total", component_id="out") or 0) >= 3, 60, "sink retries")
assert not pending(c), "acked before the sink delivered"
os.unlink(blocker)
c.wait_ack("m1")
assert sorted(delivered()) == sorted("m%d" % i for i in range(50))
c.close()
assert s.stop() == 0
log("memory buffer: ack after delivery")

# 2. Disk buffer: acked once written, although the sink is blocked; survives kill -9.
os.unlink(out)
os.rmdir(blocker)
open(blocker, "w").close()
api, port = free_port(), free_port()
s = Sluice(cfg(api, port, "{ type: disk, fsync: always }"), name="disk").start()
c = Client(port)
c.send(["acks.disk", packed_entries([{"message": "d%d" % i} for i in range(50)]), {"chunk": "d1"}])
c.wait_ack("d1")
assert (s.metric("sluice_component_sent_events_total", component_id="out") or 0) == 0
c.close()
s.kill9()
os.unlink(blocker)
s = Sluice(cfg(api, port, "{ type: disk, fsync: always }"), name="disk2").start()
wait_until(lambda: len(delivered()) == 50, 60, "acked events replayed from the disk buffer")
assert sorted(delivered()) == sorted("d%d" % i for i in range(50))
assert s.stop() == 0
log("disk buffer: ack on write, delivered after kill -9")
