"""faults.py - the fault injectors of the chaos harness: a TCP proxy in front of a sink that
refuses, resets or swallows connections on demand, a small tmpfs that fills up on demand, a
memory sampler for the sluice process, and the seeded fault schedule. Standard library only.

Every injector has an `on` and an `off` and counts what it did; `off` always brings the
pipeline back to a state where everything can drain (the invariants are checked only then)."""
import os
import select
import socket
import struct
import subprocess
import threading
import time


def _rst(sock):
    """Closes with a TCP reset (SO_LINGER 0), as a crashing server does."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Proxy:
    """A TCP proxy on a port of its own in front of `target_port`. Modes:
      ok         bytes pass both ways
      down       the port is closed (connection refused) and open connections are reset
      reset      connections are accepted, what the client sends is read, then reset
      blackhole  connections are accepted and read, never answered (the client times out);
                 they are reset when the mode ends
    Switching to a fault mode resets the open connections (a keep-alive connection would
    otherwise carry on as before). A request cut while the sink already had it may be stored
    and sent again: `cut_busy` counts the cut connections that had carried a request; HTTP/1.1
    without pipelining has at most one request in flight on a connection, so each is at most
    one request the sink may see twice."""

    def __init__(self, target_port):
        self.target = target_port
        self.mode = "ok"
        self.lock = threading.Lock()
        self.conns = {}          # client socket -> [upstream socket or None, busy flag]
        self.cut_busy = 0
        self.cut = 0
        self.closed = False
        self.lsock = None
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.lsock = self._listen()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    def _listen(self):
        end = time.monotonic() + 30
        while True:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", self.port))
                s.listen(256)
                return s
            except OSError:
                s.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)  # an outgoing connection may hold the port for a moment

    def set_mode(self, mode):
        with self.lock:
            old, self.mode = self.mode, mode
        if mode != "ok" or old == "blackhole":
            self.cut_all()

    def cut_all(self):
        with self.lock:
            conns = list(self.conns.items())
            self.conns.clear()
        for c, (up, busy) in conns:
            self.cut += 1
            if busy:
                self.cut_busy += 1
            _rst(c)
            if up is not None:
                _rst(up)

    def close(self):
        self.closed = True
        self.thread.join(timeout=5)
        self.cut_all()
        if self.lsock is not None:
            self.lsock.close()

    def _accept_loop(self):
        while not self.closed:
            if self.mode == "down":
                if self.lsock is not None:
                    self.lsock.close()
                    self.lsock = None
                    self.cut_all()
                time.sleep(0.05)
                continue
            if self.lsock is None:
                self.lsock = self._listen()
            r, _, _ = select.select([self.lsock], [], [], 0.1)
            if not r:
                continue
            try:
                c, _ = self.lsock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        mode = self.mode
        if mode in ("reset", "down"):
            c.settimeout(1.0)
            try:
                c.recv(65536)
            except OSError:
                pass
            _rst(c)
            return
        with self.lock:
            self.conns[c] = [None, False]
        if mode == "blackhole":
            try:
                while c in self.conns:
                    r, _, _ = select.select([c], [], [], 0.2)
                    if r and not c.recv(65536):
                        break
            except (OSError, ValueError):
                pass
            self._forget(c)
            return
        try:
            up = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            up.settimeout(None)
        except OSError:
            self._forget(c)
            _rst(c)
            return
        with self.lock:
            if c not in self.conns:
                _rst(up)
                return
            self.conns[c][0] = up
        self._pump(c, up)

    def _forget(self, c):
        with self.lock:
            ent = self.conns.pop(c, None)
        if ent is not None:
            try:
                c.close()
            except OSError:
                pass
            if ent[0] is not None:
                try:
                    ent[0].close()
                except OSError:
                    pass

    def _pump(self, c, up):
        try:
            while True:
                with self.lock:
                    ent = self.conns.get(c)
                if ent is None:
                    return  # cut
                r, _, _ = select.select([c, up], [], [], 0.2)
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        self._forget(c)
                        return
                    other = up if s is c else c
                    other.sendall(data)
                    if s is c:
                        with self.lock:
                            if c in self.conns:
                                self.conns[c][1] = True  # has carried a request
        except (OSError, ValueError):
            self._forget(c)


class Disk:
    """A tmpfs mounted at `path` (needs root), or, without root, a file-size limit on the
    sluice process as a stand-in. `fill()` leaves almost no room: the mount is remounted at
    what it holds now (the size limit: at the size of the largest file now), so the next write
    that needs a new page fails with ENOSPC (EFBIG); `free()` gives the room back."""

    SLACK = 0

    def __init__(self, path, size_mb):
        self.path = path
        self.size_mb = size_mb
        os.makedirs(path, exist_ok=True)
        self.tmpfs = os.geteuid() == 0 and subprocess.call(
            ["mount", "-t", "tmpfs", "-o", "size=%dm" % size_mb, "tmpfs", path],
            stderr=subprocess.DEVNULL) == 0
        self.full = False
        self.pid = None

    def kind(self):
        return "tmpfs" if self.tmpfs else "fsize"

    def used(self):
        st = os.statvfs(self.path)
        return (st.f_blocks - st.f_bfree) * st.f_frsize

    def fill(self, pid):
        self.pid = pid
        if self.tmpfs:
            for _ in range(20):
                size = self.used() + self.SLACK
                if subprocess.call(["mount", "-o", "remount,size=%d" % size, self.path],
                                   stderr=subprocess.DEVNULL) == 0:
                    self.full = True
                    return True
            return False
        import resource
        biggest = 0
        for d, _, files in os.walk(self.path):
            for f in files:
                try:
                    biggest = max(biggest, os.path.getsize(os.path.join(d, f)))
                except OSError:
                    pass
        try:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (biggest + self.SLACK, resource.RLIM_INFINITY))
        except (OSError, ProcessLookupError):
            return False
        self.full = True
        return True

    def free(self, pid=None):
        if not self.full:
            return
        if self.tmpfs:
            subprocess.check_call(["mount", "-o", "remount,size=%dm" % self.size_mb, self.path])
        else:
            import resource
            try:
                resource.prlimit(pid or self.pid, resource.RLIMIT_FSIZE,
                                 (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            except (OSError, ProcessLookupError):
                pass
        self.full = False

    def unmount(self):
        if self.tmpfs:
            if subprocess.call(["umount", self.path], stderr=subprocess.DEVNULL) != 0:
                subprocess.call(["umount", "-l", self.path], stderr=subprocess.DEVNULL)
            self.tmpfs = False


class RssSampler:
    """Samples VmRSS of the current sluice process every `interval` s and keeps the peak,
    with VmHWM read whenever the driver is about to stop a process (`hwm(pid)`)."""

    def __init__(self, interval=0.1):
        self.pid = None
        self.peak_kb = 0
        self.ready_kb = []
        self.interval = interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def read(pid, key):
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def watch(self, pid):
        self.pid = pid
        self.ready_kb.append(self.read(pid, "VmRSS"))

    def hwm(self):
        if self.pid:
            self.peak_kb = max(self.peak_kb, self.read(self.pid, "VmHWM"))

    def _run(self):
        while not self.stop.is_set():
            if self.pid:
                self.peak_kb = max(self.peak_kb, self.read(self.pid, "VmRSS"))
            self.stop.wait(self.interval)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=2)


class Schedule:
    """The faults of one run, drawn from the seed before it starts: a list of
    (start s, kind, duration s, params) sorted by start. `kinds` maps a kind to its weight;
    outage-like kinds last `short` (a range in s) in the short round and up to `long` in a
    soak. At most one fault of each class (sink, disk, process, rotation) at a time."""

    CLASS = {"kill9": "proc", "sigterm": "proc", "down_restart": "proc",
             "sink_500": "sink", "sink_429": "sink", "sink_down": "sink", "sink_reset": "sink",
             "sink_timeout": "sink", "sink_slow": "sink", "sink_stall": "sink",
             "es_item_429": "sink", "es_half_body": "sink",
             "cw_throttle": "source", "cw_5xx": "source",
             "disk_full_data": "disk_data", "disk_full_out": "disk_out",
             "rotation_storm": "rotation"}

    def __init__(self, rng, duration, kinds, soak, mean_gap):
        self.items = []
        busy_until = {}
        t = rng.uniform(0.5, mean_gap)
        while t < duration:
            kind = rng.choices(list(kinds), weights=list(kinds.values()))[0]
            cls = self.CLASS[kind]
            if busy_until.get(cls, 0) <= t:
                if kind in ("kill9", "sigterm"):
                    dur = rng.uniform(0.0, 2.0) if not soak else rng.choice([rng.uniform(0, 2), rng.uniform(2, 30)])
                elif kind == "down_restart":
                    dur = rng.uniform(2.0, 6.0) if not soak else rng.uniform(5, 120)
                else:
                    dur = rng.uniform(0.5, 4.0) if not soak else min(rng.expovariate(1 / 20.0) + 1, 180.0)
                dur = min(dur, max(0.5, duration - t))
                params = {"seed": rng.randrange(1 << 30)}
                if kind == "sink_slow":
                    params["delay_ms"] = rng.choice([50, 200, 800, 1500])
                if kind == "es_item_429":
                    params["fraction"] = rng.choice([0.05, 0.3, 0.9])
                self.items.append((t, kind, dur, params))
                busy_until[cls] = t + dur + 0.2
            t += rng.expovariate(1.0 / mean_gap)

    def counts(self):
        out = {}
        for _, k, _, _ in self.items:
            out[k] = out.get(k, 0) + 1
        return out
