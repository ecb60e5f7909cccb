"""deploy/systemd/sluice.service: `systemd-analyze verify` finds nothing to say about it (and
does about a broken copy), `systemd-analyze security --offline` rates it OK, and it keeps its
promises (Type=notify with a watchdog, a dynamic user with its state directory, a read-only
system, a stop timeout above sluice's drain). Then the protocol it relies on, end to end:
sluice run with $NOTIFY_SOCKET and $WATCHDOG_USEC as systemd sets them sends, from its own
pid, STATUS=starting, READY=1 only when /readyz answers 200 and its listener takes
connections, WATCHDOG=1 pings, and STOPPING=1 on SIGTERM before exiting 0."""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess

from harness import ROOT, SLUICE, WORK, Sluice, free_port

UNIT = os.path.join(ROOT, "deploy", "systemd", "sluice.service")
assert shutil.which("systemd-analyze"), "systemd-analyze is not installed"

# ---- the unit file -------------------------------------------------------------------------
text = open(UNIT).read()
keys = {}
for line in text.splitlines():
    if line and not line.startswith(("#", "[")):
        k, v = line.split("=", 1)
        keys.setdefault(k, []).append(v)
want = {"Type": "notify", "NotifyAccess": "main", "DynamicUser": "yes", "StateDirectory": "sluice",
        "ProtectSystem": "strict", "NoNewPrivileges": "yes", "ReadOnlyPaths": "/var/log",
        "PrivateTmp": "yes", "CapabilityBoundingSet": ""}
for k, v in want.items():
    assert keys.get(k) == [v], (k, keys.get(k))
assert "/var/log/sluice" in keys["ReadWritePaths"][0], keys["ReadWritePaths"]
wd = int(re.fullmatch(r"(\d+)s", keys["WatchdogSec"][0]).group(1))
stop = int(re.fullmatch(r"(\d+)s", keys["TimeoutStopSec"][0]).group(1))
assert stop > 30, "TimeoutStopSec must exceed shutdown_timeout (30 s by default)"
assert wd >= 10, wd
assert keys["ExecStart"][0].endswith("run -c /etc/sluice/sluice.yaml"), keys["ExecStart"]

# verify needs the executables to exist: point the copy at the binary under test
os.makedirs(os.path.join(WORK, "unit"))
copy = os.path.join(WORK, "unit", "sluice.service")
with open(copy, "w") as f:
    f.write(text.replace("/usr/local/bin/sluice", SLUICE))


def verify(path):
    r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True,
                       timeout=120, cwd=os.path.dirname(path))
    return r.returncode, (r.stdout + r.stderr).strip()


rc, out = verify(copy)
assert rc == 0 and out == "", f"systemd-analyze verify: rc {rc}:\n{out}"
# it would say so: a misspelt value is reported (and ignored by systemd, hence the output check)
bad = os.path.join(WORK, "unit", "bad.service")
with open(bad, "w") as f:
    f.write(open(copy).read().replace("ProtectSystem=strict", "ProtectSystem=stric"))
rc, out = verify(bad)
assert "protect system value" in out, out

r = subprocess.run(["systemd-analyze", "security", "--offline=true", copy], capture_output=True,
                   text=True, timeout=120, cwd=os.path.dirname(copy))
m = re.search(r"Overall exposure level for sluice.service: ([0-9.]+) (\w+)", r.stdout)
assert m, r.stdout + r.stderr
print("exposure", m.group(1), m.group(2))
assert float(m.group(1)) <= 2.0, r.stdout  # "OK"; a unit without sandboxing rates 9.6
print("unit ok")

# ---- the notification protocol, end to end -------------------------------------------------
mgr_path = os.path.join(WORK, "notify.sock")
mgr = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
mgr.bind(mgr_path)
mgr.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)  # the sender's pid, as systemd checks
mgr.settimeout(60)  # a safety net: a missing message fails here


def recv():
    data, anc, _, _ = mgr.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = None
    for level, typ, val in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            pid = struct.unpack("3i", val[:12])[0]
    return data.decode(), pid


port, fport = free_port(), free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d" }
  gen: { type: demo, rate: 100 }
sinks:
  out: { type: blackhole, inputs: [fwd, gen] }
""" % (WORK, port, fport), env={"NOTIFY_SOCKET": mgr_path, "WATCHDOG_USEC": "200000"})
api = s.api
s.api = None  # start() returns at once: readiness is what the notifications must tell
s.start()
s.api = api
msgs = []
while True:
    msg, pid = recv()
    assert pid == s.proc.pid, (pid, s.proc.pid)  # NotifyAccess=main
    msgs.append(msg)
    if msg.startswith("READY=1"):
        # told ready: /readyz says so and the listener takes a client (it never goes back
        # to unready before a stop, so asking after the message is asking at it)
        assert s.get("/readyz")[0] == 200, "READY=1 before /readyz"
        socket.create_connection(("127.0.0.1", fport), timeout=10).close()
        break
assert msgs[0].startswith("STATUS=starting: "), msgs
assert msgs[-1] == "READY=1\nSTATUS=ready: %s, API 127.0.0.1:%d" % (s.config, port), msgs
assert all(m == "WATCHDOG=1" for m in msgs[1:-1]), msgs
pings = 0
while pings < 3:
    msg, pid = recv()
    assert msg == "WATCHDOG=1" and pid == s.proc.pid, (msg, pid)
    pings += 1
s.proc.send_signal(signal.SIGTERM)
while True:
    msg, pid = recv()
    if msg != "WATCHDOG=1":
        break
assert msg == "STOPPING=1\nSTATUS=stopping: draining in-flight batches", msg
assert s.wait_exit() == 0, s.log_text()
mgr.setblocking(False)
try:
    while True:  # after STOPPING=1, at most the last pings
        msg = mgr.recv(4096).decode()
        assert msg == "WATCHDOG=1", msg
except BlockingIOError:
    pass
mgr.close()
print("notify ok")
