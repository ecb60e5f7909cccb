"""workloads.py - what the chaos scenarios feed sluice and how they read what came out:
a rotating log writer, a Fluent Forward client that resends unacknowledged chunks, and
incremental readers of NDJSON output files and of the sink emulators. Standard library
plus python3-msgpack."""
import collections
import json
import os
import select
import shutil
import socket
import threading
import time
import urllib.request

import msgpack

from fwdclient import packed_entries


class Delivered:
    """What reached the destination so far: a count per message, the event id seen with each
    message (when the sink writes one), and anything that did not parse. `refresh()` pulls
    what is new; it is called from the driver and from the writers (their guards), hence
    the lock. While `unstable` is set (the output's disk is full, and a moment after), what
    was read may still be taken back by the sink (the file sink truncates a write that failed
    part-way), so `has_all` answers no and the guards wait."""

    def __init__(self):
        self.lock = threading.Lock()
        self.unstable = threading.Event()
        self.reset()

    def reset(self):
        self.counts = collections.Counter()
        self.ids = {}              # event id -> message
        self.id_conflicts = []     # (id, first message, other message)
        self.bad = []              # output lines that are not a JSON object with a message
        self.lines = 0

    def add(self, msg, eid=None):
        self.counts[msg] += 1
        self.lines += 1
        if eid is not None:
            first = self.ids.setdefault(eid, msg)
            if first != msg and len(self.id_conflicts) < 20:
                self.id_conflicts.append((eid, first, msg))

    def has_all(self, msgs):
        if self.unstable.is_set():
            return False
        self.refresh()
        with self.lock:
            return all(m in self.counts for m in msgs)

    def missing(self, msgs):
        self.refresh()
        with self.lock:
            return [m for m in msgs if m not in self.counts]

    def duplicates(self):
        with self.lock:
            return sum(c - 1 for c in self.counts.values() if c > 1)

    def final(self):
        """Everything read again from the start, for the checks."""
        self.refresh()


class NdjsonFile(Delivered):
    """The file sink's NDJSON output, read from the end of the last complete line taken (the
    sink may be half way through one). The file sink cuts a write that failed part-way back
    to where it started, and writes those lines again later: when the last line taken is no
    longer where it was, everything is read again from the start."""

    def __init__(self, path, id_key=None):
        super().__init__()
        self.path, self.id_key = path, id_key
        self.off = 0
        self.last = b""   # the last complete line taken, ending at self.off
        self.rescans = 0

    def reset(self):
        super().reset()
        self.off = 0
        self.last = b""

    def refresh(self):
        with self.lock:
            try:
                f = open(self.path, "rb")
            except FileNotFoundError:
                return
            with f:
                if self.last:
                    f.seek(self.off - len(self.last))
                    if f.read(len(self.last)) != self.last:
                        self.reset()
                        self.rescans += 1
                f.seek(self.off)
                data = f.read()
            end = data.rfind(b"\n")
            if end < 0:
                return
            for l in data[:end].split(b"\n"):
                self.take(l)
            self.off += end + 1
            start = data.rfind(b"\n", 0, end) + 1
            self.last = data[start:end + 1]

    def take(self, l):
        if not l.strip():
            return
        try:
            o = json.loads(l)
            msg = o["message"]
        except (ValueError, KeyError, TypeError):
            if len(self.bad) < 20:
                self.bad.append(l[:300])
            return
        self.add(msg, o.get(self.id_key) if self.id_key else None)

    def final(self):
        with self.lock:
            self.reset()
        self.refresh()


def _get(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


class HttpSinkLines(Delivered):
    """Lines stored by tests/emulators/http_sink_server.py (GET /lines?since=N)."""

    def __init__(self, base):
        super().__init__()
        self.base = base
        self.n = 0

    def refresh(self):
        data = _get("%s/lines?since=%d" % (self.base, self.n))
        with self.lock:
            for l in data.split(b"\n"):
                if not l.strip():
                    continue
                self.n += 1
                try:
                    self.add(json.loads(l)["message"])
                except (ValueError, KeyError, TypeError):
                    if len(self.bad) < 20:
                        self.bad.append(l[:300])


class OtlpRecords(Delivered):
    """Log records stored by tests/emulators/otlp_receiver.py (GET /records?since=N); the
    message is the record's string body."""

    def __init__(self, base):
        super().__init__()
        self.base = base
        self.n = 0

    def refresh(self):
        reqs = json.loads(_get("%s/records?since=%d" % (self.base, self.n)))
        with self.lock:
            self.n += len(reqs)
            for req in reqs:
                for rl in req["body"].get("resourceLogs", []):
                    for sl in rl.get("scopeLogs", []):
                        for r in sl.get("logRecords", []):
                            body = r.get("body", {}).get("stringValue")
                            if body is None:
                                if len(self.bad) < 20:
                                    self.bad.append(json.dumps(r)[:300])
                                continue
                            self.add(body)


class FileWriter(threading.Thread):
    """Appends numbered lines to <dir>/app.log and <dir>/web.log (`rate` lines a second in
    all) and rotates them as logrotate and applications do, chosen by the seeded `rng`:
      rename       app.log -> app.log.N (out of the `*.log` pattern), a new app.log
      rename_in    app.log -> app.N.log (still in the pattern: followed by identity, not
                   read again), a new app.log
      copytruncate app.log copied to app.log.N, then truncated in place
      recreate     app.log unlinked, a new app.log (its inode may be reused)
    copytruncate and recreate throw away whatever of the file was not read yet, which no
    tailer can get back, so they are done only once the output holds every line of the file
    (else the rotation is a rename). A file is rotated at all only once the output holds its
    first line: a file created and renamed out of the pattern before sluice ever saw it (or
    while it was down) is invisible to any tailer. Rotated files are deleted once the output
    holds all of their lines. `storm` (an Event) makes rotations come every few hundred lines."""

    STREAMS = ("app", "web")

    def __init__(self, logdir, rng, rate, delivered, storm):
        super().__init__(daemon=True)
        self.dir, self.rng, self.rate, self.out, self.storm = logdir, rng, rate, delivered, storm
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.written = []          # every line, in writing order
        self.where = {}            # generation -> (file name at rotation, kind, monotonic time)
        self.gen_of = []           # per line: its generation key
        self.rotations = collections.Counter()
        self.deleted = 0
        self.rotated = {}          # rotated path -> its lines
        self.cur = {}
        self.n = 0
        self.error = None
        for s in self.STREAMS:
            self._open(s)

    def path(self, s):
        return os.path.join(self.dir, s + ".log")

    def _open(self, s, mode="a"):
        g = "%s#%d" % (s, self.rotations[s + "_gen"])
        self.rotations[s + "_gen"] += 1
        self.cur[s] = {"f": open(self.path(s), mode), "lines": [], "gen": g,
                       "limit": self._limit()}

    def _limit(self):
        if self.storm.is_set():
            return self.rng.randint(20, 400)
        return self.rng.randint(1500, 9000)

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported by the driver as a harness failure
            self.error = repr(e)

    def _run(self):
        start = time.monotonic()
        while not self.stop.is_set():
            s = self.rng.choice(self.STREAMS)
            c = self.cur[s]
            k = self.rng.randint(5, 120)
            buf = []
            for _ in range(k):
                line = "%s %09d %s" % (s, self.n, "x" * self.rng.randint(8, 160))
                self.n += 1
                buf.append(line)
            c["f"].write("".join(l + "\n" for l in buf))
            c["f"].flush()
            with self.lock:
                self.written.extend(buf)
                self.gen_of.extend([c["gen"]] * len(buf))
            c["lines"].extend(buf)
            if len(c["lines"]) >= c["limit"] or (self.storm.is_set() and len(c["lines"]) > 400):
                self._rotate(s)
            self._delete_delivered()
            ahead = self.n / self.rate - (time.monotonic() - start)
            if ahead > 0:
                self.stop.wait(ahead)
        for c in self.cur.values():
            c["f"].close()

    def _rotate(self, s):
        c = self.cur[s]
        if not self.out.has_all(c["lines"][:1]):
            return  # sluice has not seen this file yet: keep writing to it
        kind = self.rng.choices(["rename", "rename_in", "copytruncate", "recreate"], [5, 2, 2, 2])[0]
        if kind in ("copytruncate", "recreate") and not self.out.has_all(c["lines"]):
            kind = "rename"
        n = self.rotations[s] = self.rotations[s] + 1
        rotated = "%s.%d" % (self.path(s), n)
        if kind == "rename_in":
            rotated = os.path.join(self.dir, "%s.%d.log" % (s, n))
        c["f"].close()
        if kind in ("rename", "rename_in"):
            os.rename(self.path(s), rotated)
            self.rotated[rotated] = c["lines"]
            self._open(s)
        elif kind == "copytruncate":
            shutil.copyfile(self.path(s), rotated)
            self.rotated[rotated] = c["lines"]
            open(self.path(s), "r+").truncate(0)
            self._open(s)
        else:
            os.unlink(self.path(s))
            self._open(s)
        self.where[c["gen"]] = (os.path.basename(rotated) if kind != "recreate" else "(unlinked)",
                                kind, time.monotonic())
        self.rotations[kind] += 1

    def _delete_delivered(self):
        if not self.rotated or self.rng.random() > 0.2:
            return
        for p in list(self.rotated):
            if self.out.has_all(self.rotated[p]):
                os.unlink(p)
                del self.rotated[p]
                self.deleted += 1

    def lines(self):
        with self.lock:
            return list(self.written)

    def generation(self, i):
        with self.lock:
            return self.gen_of[i]


class ForwardClient(threading.Thread):
    """A Fluent Forward client as Fluent Bit's out_forward with acks: PackedForward chunks
    with a chunk id (`size` set), at most `window` chunks unacknowledged; when the connection
    breaks or an ack does not come within `ack_timeout`, it reconnects and sends every
    unacknowledged chunk again with the same id. What it sends is thus delivered at least
    once; chunks sent again are counted (`resent_events`), each may be a duplicate."""

    def __init__(self, port, rng, rate, window=8, ack_timeout=15.0, tag="chaos.fwd"):
        super().__init__(daemon=True)
        self.port, self.rng, self.rate, self.window = port, rng, rate, window
        self.ack_timeout, self.tag = ack_timeout, tag
        self.pending = collections.OrderedDict()  # chunk id -> [message bytes, events, sent at]
        self.generated = []
        self.finish = threading.Event()   # stop producing, keep going until all is acked
        self.abort = threading.Event()
        self.lock = threading.Lock()
        self.resent_events = self.resent_chunks = self.reconnects = self.ack_timeouts = 0
        self.acked_events = 0
        self.error = None

    def done(self):
        with self.lock:
            return self.finish.is_set() and not self.pending

    def run(self):
        try:
            self._run()
        except Exception as e:
            self.error = repr(e)

    def _close(self, sock):
        try:
            sock.close()
        except OSError:
            pass

    def _run(self):
        sock = None
        unpacker = None
        seq = 0
        start = time.monotonic()
        backoff = 0.05
        while not self.abort.is_set():
            if self.done():
                break
            if sock is None:
                try:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                    sock.settimeout(self.ack_timeout)
                    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
                    backoff = 0.05
                    with self.lock:
                        again = list(self.pending.items())
                    for cid, ent in again:
                        sock.sendall(ent[0])
                        ent[2] = time.monotonic()
                        self.resent_chunks += 1
                        self.resent_events += ent[1]
                except OSError:
                    if sock is not None:
                        self._close(sock)
                    sock = None
                    self.abort.wait(backoff)
                    backoff = min(backoff * 2, 1.0)
                    continue
            now = time.monotonic()
            due = start + seq / self.rate
            try:
                if not self.finish.is_set() and len(self.pending) < self.window and now >= due:
                    n = self.rng.randint(1, 200)
                    msgs = ["fwd %09d %s" % (seq + i, "z" * self.rng.randint(8, 120)) for i in range(n)]
                    seq += n
                    cid = "%032x" % self.rng.getrandbits(128)
                    data = msgpack.packb([self.tag, packed_entries([{"message": m} for m in msgs]),
                                          {"chunk": cid, "size": n}], use_bin_type=True)
                    with self.lock:
                        self.generated.extend(msgs)
                        self.pending[cid] = [data, n, now]
                    sock.sendall(data)
                    if due < now - 1.0:
                        start = now - seq / self.rate  # no burst after a stall
                wait = 0.05 if self.pending else 0.01
                r, _, _ = select.select([sock], [], [], wait)
                if r:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionError("closed by sluice")
                    unpacker.feed(data)
                    for o in unpacker:
                        if isinstance(o, dict) and "ack" in o:
                            with self.lock:
                                ent = self.pending.pop(o["ack"], None)
                            if ent:
                                self.acked_events += ent[1]
                with self.lock:
                    oldest = next(iter(self.pending.values()), None)
                if oldest and time.monotonic() - oldest[2] > self.ack_timeout:
                    self.ack_timeouts += 1
                    raise TimeoutError("no ack")
            except (OSError, ConnectionError, TimeoutError, ValueError):
                self._close(sock)
                sock = None
                self.reconnects += 1
        if sock is not None:
            self._close(sock)

    def messages(self):
        with self.lock:
            return list(self.generated)


class PodWriter(threading.Thread):
    """tests/emulators/kubelet.py in-process: pods writing CRI and Docker json-file logs at
    `rate` messages a second with long messages split into partial lines, rotation by rename
    (older files compressed away) or by copytruncate (chosen per rotation), container
    restarts, new pods and pod deletion. A file leaves (compressed, or its pod directory
    removed) only once the output holds all of its messages (`may_remove`), since a file
    deleted before it was read is legitimately lost. `storm` makes files rotate every few KiB."""

    def __init__(self, root, seed, rng, rate, delivered, storm):
        super().__init__(daemon=True)
        from kubelet import Kubelet

        outer = self

        class Recording(Kubelet):
            def record(self, c, stream, message, path=None):
                super().record(c, stream, message, path)
                with outer.lock:
                    outer.written.append(message)

        self.lock = threading.Lock()
        self.written = []
        self.rng, self.rate, self.out, self.storm = rng, rate, delivered, storm
        self.k = Recording(root, seed=seed, fmt="mixed", containers=2, rotate_bytes=64 << 10,
                           split=1000, long_every=40, long_len=2500, max_files=2, track=True,
                           may_remove=self.may_remove)
        for _ in range(4):
            self.k.add_pod()
        self.doomed = []
        self.next_reap = 0.0
        self.stop = threading.Event()
        self.error = None
        self.deleted_pods = 0

    def may_remove(self, path):
        return self.out.has_all(self.k.contents.get(path, []))

    def run(self):
        try:
            self._run()
        except Exception as e:
            self.error = repr(e)

    def _run(self):
        k, rng = self.k, self.rng
        start = time.monotonic()
        n = 0
        while not self.stop.is_set():
            k.rotate_bytes = (4 << 10) if self.storm.is_set() else (64 << 10)
            k.copytruncate = rng.random() < 0.3
            k.write_one()
            n += 1
            r = rng.random()
            live = [p for p in k.pods if not p.deleted]
            if r < 0.002:
                rng.choice(rng.choice(live).containers).restart_container()
            elif r < 0.003 and len(live) < 8:
                k.add_pod()
            elif r < 0.004 and len(live) > 2:
                p = rng.choice(live)
                p.deleted = True  # writes no more; its directory goes once delivered
                self.doomed.append(p)
            self._reap()
            ahead = n / self.rate - (time.monotonic() - start)
            if ahead > 0:
                self.stop.wait(ahead)
        k.close()

    def _reap(self):
        if time.monotonic() < self.next_reap:
            return
        self.next_reap = time.monotonic() + 0.5
        for p in list(self.doomed):
            files = [path for path in list(self.k.contents) if path.startswith(p.dir + os.sep)]
            if all(self.may_remove(f) for f in files):
                p.deleted = False  # Pod.delete closes and removes; it marks it again
                p.delete()
                self.doomed.remove(p)
                self.deleted_pods += 1

    def messages(self):
        with self.lock:
            return list(self.written)

    def file_of(self, message):
        for path, msgs in list(self.k.contents.items()):
            if message in msgs:
                return path
        return "(compressed or removed)"
