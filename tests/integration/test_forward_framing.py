"""forward source, framed reads of large messages (they wait in the kernel until complete):
messages above the framing threshold sent in small pieces, split just before the option
map, stalled half way for longer than the stall fallback, interleaved with small messages
in one write, from several connections at once; a peer that closes mid-message; a size
claim beyond max_message_bytes. Every event of every complete message is delivered once."""
import os
import socket
import threading
import time

import msgpack

from fwdclient import Client, packed_entries
from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

api, port = free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d", max_message_bytes: 1MiB }
sinks:
  out: { type: file, inputs: [fwd], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, port, out)).start()


def outputs():
    return ndjson_file(out)


def big(prefix, n=600, chunk=None):
    """A PackedForward message of about n * 170 bytes (above the 32 KiB threshold)."""
    recs = [{"message": "%s-%d" % (prefix, i), "pad": "p" * 120} for i in range(n)]
    opt = {"size": n}
    if chunk:
        opt["chunk"] = chunk
    return msgpack.packb(["frame." + prefix, packed_entries(recs), opt], use_bin_type=True), n


expected = 0

# 1. Pieces of 7 KB with pauses: the source waits for the rest in the kernel.
c = Client(port)
for k in range(3):
    m, n = big("pieces%d" % k, chunk="p%d" % k)
    for i in range(0, len(m), 7000):
        c.send_raw(m[i:i + 7000])
        time.sleep(0.01)
    c.wait_ack("p%d" % k)
    expected += n

# 2. Split just before the option map, and inside it.
m, n = big("split", chunk="split")
opt = msgpack.packb({"size": n, "chunk": "split"})
body = m[:len(m) - len(opt)]
assert m.endswith(opt)
c.send_raw(body)
time.sleep(0.2)
c.send_raw(opt[:1])
time.sleep(0.2)
c.send_raw(opt[1:])
c.wait_ack("split")
expected += n

# 3. Stalled half way for longer than the stall fallback (1 s without growth).
m, n = big("stall", chunk="stall")
c.send_raw(m[:len(m) // 2])
time.sleep(2.5)
c.send_raw(m[len(m) // 2:])
c.wait_ack("stall")
expected += n

# 4. Small and large messages in one write.
blob = b""
for k in range(4):
    blob += msgpack.packb(["frame.small", 1700000000, {"message": "small%d" % k}], use_bin_type=True)
    mb, nb = big("mixed%d" % k)
    blob += mb
    expected += 1 + nb
blob += msgpack.packb(["frame.small", 1700000000, {"message": "last"}, {"chunk": "mixed"}], use_bin_type=True)
expected += 1
c.send_raw(blob)
c.wait_ack("mixed")
c.close()
log("pieces, split options, stall, mixed: ok")

# 5. Several connections at once, 20 large messages each.
def sender(idx, errs):
    try:
        cc = Client(port)
        for k in range(20):
            mm, _ = big("conn%d-%d" % (idx, k), n=300, chunk="c%d-%d" % (idx, k))
            cc.send_raw(mm)
            cc.wait_ack("c%d-%d" % (idx, k))
        cc.close()
    except Exception as e:  # noqa: BLE001
        errs.append(e)


errs = []
ts = [threading.Thread(target=sender, args=(i, errs)) for i in range(6)]
for t in ts:
    t.start()
for t in ts:
    t.join()
assert not errs, errs
expected += 6 * 20 * 300

# 6. A peer that closes in the middle of a large message: nothing of it is delivered.
m, n = big("cut")
r = socket.create_connection(("127.0.0.1", port))
r.sendall(m[:len(m) - 5000])
time.sleep(0.3)
r.close()

# 7. A size claim beyond max_message_bytes closes the connection before the bytes come.
r = socket.create_connection(("127.0.0.1", port), timeout=20)
r.sendall(b"\x93\xa1t\xc6\x00\x20\x00\x00" + b"x" * 1000)  # bin32 of 2 MiB > 1 MiB
try:
    assert r.recv(10) == b""
except ConnectionResetError:
    pass
r.close()
wait_until(lambda: (s.metric("sluice_component_errors_total", component_id="fwd", reason="message_too_large") or 0) >= 1,
           20, "the oversized claim counted")

# The daemon still serves.
c = Client(port)
m, n = big("after", chunk="after")
c.send_raw(m)
c.wait_ack("after")
c.close()
expected += n

wait_until(lambda: len(outputs()) == expected, 60, "every event of every complete message")
msgs = [e["message"] for e in outputs()]
assert len(set(msgs)) == len(msgs) == expected
assert not any(x.startswith("cut-") for x in msgs)
log("delivered", expected)
assert s.stop() == 0
