#!/usr/bin/python3
"""kill9_dups.py - duplicates per `kill -9`: runs real pipelines with default settings (as a
user writes them), SIGKILLs sluice several times at random moments while input flows, lets
a last run deliver everything, and prints events, loss and duplicates per kill.

  SLUICE=build/sluice /usr/bin/python3 bench/kill9_dups.py [file k8s forward]

Scenarios:
  file     file -> file: a writer appends ~100k lines/s to app.log and renames it to
           app.log.<n> every 50k lines (include app.log*), 300k lines, 6 kills 0.1-0.9 s apart
  k8s      kubernetes_logs -> file: the kubelet emulator writes 120k CRI/Docker lines over
           20 pods with rotation, 5 kills
  forward  forward -> disk buffer -> otlp: a client with require_ack (8 chunks of 100 events
           in flight, unacked chunks resent after a reconnect), 10k events/s, 60k events, 6 kills
Environment: KILL9_SEED (default 1), KILL9_WORK (default: a new temporary directory)."""
import collections
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
os.environ.setdefault("WORK", os.environ.get("KILL9_WORK") or tempfile.mkdtemp(prefix="sluice-kill9-"))
os.environ.setdefault("SLUICE", os.path.join(REPO, "build", "sluice"))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import msgpack  # noqa: E402

from fwdclient import event_time  # noqa: E402
from harness import PYTHON, Emulator, Sluice, WORK, free_port, http_json, wait_until  # noqa: E402

SEED = int(os.environ.get("KILL9_SEED", "1"))


def report(name, events, kills, got):
    counts = collections.Counter(got)
    lost = len(set(events) - set(counts))
    dups = sum(c - 1 for c in counts.values() if c > 1)
    print("%-8s events %7d  kills %d  lost %5d  duplicates %7d  per kill %8.0f" %
          (name, len(events), kills, lost, dups, dups / kills), flush=True)
    return lost, dups


def read_messages(paths):
    out = []
    for p in paths:
        try:
            with open(p, "rb") as f:
                out += [json.loads(l)["message"] for l in f if l.strip()]
        except FileNotFoundError:
            pass
    return out


def kill_loop(s, kills, rnd, busy):
    """Kills s at random moments while busy() holds; returns the kills done."""
    done = 0
    while done < kills and busy():
        time.sleep(rnd.uniform(0.1, 0.9))
        s.kill9()
        done += 1
        s.start()
    return done


def scenario_file(rnd):
    d = os.path.join(WORK, "file")
    logs = os.path.join(d, "logs")
    os.makedirs(logs)
    path = os.path.join(logs, "app.log")
    total, per_rot = 300000, 50000
    lines = ["line %07d %s" % (i, "x" * 60) for i in range(total)]
    cfg = """data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/app.log*"] }
sinks:
  out: { type: file, inputs: [in], path: "%s/out.ndjson" }
""" % (d, free_port(), logs, d)
    s = Sluice(cfg, name="file").start()
    state = {"done": False}

    def writer():
        f = open(path, "a")
        t0 = time.monotonic()
        for i in range(0, total, 1000):
            f.write("".join(l + "\n" for l in lines[i:i + 1000]))
            f.flush()
            if (i + 1000) % per_rot == 0 and i + 1000 < total:
                f.close()
                os.rename(path, "%s.%d" % (path, (i + 1000) // per_rot))
                f = open(path, "a")
            ahead = (i + 1000) / 100000.0 - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
        f.close()
        state["done"] = True

    t = threading.Thread(target=writer)
    t.start()
    kills = kill_loop(s, 6, rnd, lambda: True)
    t.join()
    out = os.path.join(d, "out.ndjson")
    wait_until(lambda: len(set(read_messages([out]))) >= total, 600, "file: every line", 0.5)
    s.stop()
    return report("file", lines, kills, read_messages([out]))


def scenario_k8s(rnd):
    d = os.path.join(WORK, "k8s")
    root = os.path.join(d, "pods")
    os.makedirs(root)
    man = os.path.join(d, "manifest.ndjson")
    cfg = """data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  pods: { type: kubernetes_logs, path: "%s", exclude_self: false }
sinks:
  out: { type: file, inputs: [pods], path: "%s/out.ndjson" }
""" % (d, free_port(), root, d)
    s = Sluice(cfg, name="k8s").start()
    k = subprocess.Popen([PYTHON, os.path.join(REPO, "tests", "emulators", "kubelet.py"), "--root", root,
                          "--manifest", man, "--pods", "20", "--lines", "120000", "--rate", "40000",
                          "--format", "mixed", "--rotate-bytes", "2000000", "--seed", str(SEED)],
                         stdout=subprocess.DEVNULL)
    kills = kill_loop(s, 5, rnd, lambda: k.poll() is None)
    assert k.wait() == 0
    with open(man) as f:
        want = [json.loads(l)["message"] for l in f]
    out = os.path.join(d, "out.ndjson")
    wait_until(lambda: len(set(read_messages([out]))) >= len(set(want)), 600, "k8s: every line", 0.5)
    s.stop()
    return report("k8s", want, kills, read_messages([out]))


class FwdSender:
    """Sends every chunk with require_ack, `window` chunks in flight; after a broken
    connection reconnects and resends every chunk not acked yet, in order."""

    def __init__(self, port, chunks, window=8, per_sec=100):
        self.port, self.chunks, self.window, self.per_sec = port, chunks, window, per_sec
        self.t0 = time.monotonic()
        self.acked = set()
        self.done = False

    def run(self):
        while len(self.acked) < len(self.chunks):
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            except OSError:
                time.sleep(0.02)
                continue
            try:
                self.session(sock)
            except (OSError, ValueError):
                pass
            finally:
                sock.close()
        self.done = True

    def session(self, sock):
        up = msgpack.Unpacker(raw=False)
        todo = [c for c in range(len(self.chunks)) if c not in self.acked]
        inflight = collections.deque()
        while todo or inflight:
            while todo and len(inflight) < self.window:
                c = todo.pop(0)
                ahead = c / self.per_sec - (time.monotonic() - self.t0)
                if ahead > 0:
                    time.sleep(ahead)
                sock.sendall(self.chunks[c])
                inflight.append(c)
            data = sock.recv(65536)
            if not data:
                raise ValueError("closed")
            up.feed(data)
            for o in up:
                cid = int(o["ack"][1:])
                self.acked.add(cid)
                if cid in inflight:
                    inflight.remove(cid)


def scenario_forward(rnd):
    d = os.path.join(WORK, "forward")
    os.makedirs(d)
    total, per = 60000, 100
    events = ["fwd event %06d" % i for i in range(total)]
    chunks = []
    for c in range(total // per):
        entries = b"".join(msgpack.packb([event_time(1700000000 + i, 0), {"message": events[i]}],
                                         use_bin_type=True) for i in range(c * per, (c + 1) * per))
        chunks.append(msgpack.packb(["bench.kill", entries, {"chunk": "c%d" % c, "size": per}],
                                    use_bin_type=True))
    quiet, sys.stderr = sys.stderr, open(os.devnull, "w")  # peers killed mid-answer: noise
    emu = Emulator("otlp_receiver.py")
    sys.stderr = quiet
    port = free_port()
    cfg = """data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d" }
sinks:
  out: { type: otlp, inputs: [fwd], endpoint: "http://127.0.0.1:%d/v1/logs", buffer: { type: disk } }
""" % (d, free_port(), port, emu.port)
    s = Sluice(cfg, name="forward").start()
    sender = FwdSender(port, chunks)
    t = threading.Thread(target=sender.run)
    t.start()
    kills = kill_loop(s, 6, rnd, lambda: not sender.done)
    t.join()
    base = "http://127.0.0.1:%d" % emu.port

    def received():
        out = []
        for req in http_json(base + "/records", timeout=120):
            for rl in req["body"]["resourceLogs"]:
                for sl in rl["scopeLogs"]:
                    out += [r["body"]["stringValue"] for r in sl["logRecords"]]
        return out

    wait_until(lambda: http_json(base + "/stats")["records"] >= total and
               len(set(received())) >= total, 600, "forward: every event", 1.0)
    s.stop()
    got = received()
    emu.stop()
    return report("forward", events, kills, got)


def main():
    which = sys.argv[1:] or ["file", "k8s", "forward"]
    rnd = random.Random(SEED)
    print("sluice %s, work %s, seed %d" % (os.environ["SLUICE"], WORK, SEED), flush=True)
    lost = 0
    for name in which:
        lost += {"file": scenario_file, "k8s": scenario_k8s, "forward": scenario_forward}[name](rnd)[0]
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
