"""kubelet.py - writes container logs the way kubelet and the container runtime do on a node:
<root>/<namespace>_<pod>_<uid>/<container>/<restart>.log in CRI or Docker json-file format,
long messages split into partial lines (P ... F, interleaved with the other stream), rotation
by rename + new file + gzip of older rotated files, container restarts (a new N.log), pod
deletion, and optionally /var/log/containers-style symlinks. Standard library only.

Run as a program it writes until done, printing "kubelet 0" first (the emulator protocol's
port line) and "done <events>" last; every logical message is recorded in --manifest as one
JSON line {ns, pod, uid, container, restart, stream, message} for the test to match. With
--pause-at it stops itself (SIGSTOP) at those message counts until the test continues it, so
a test can act at known points of the run whatever the machine's speed.

Used as a module (the chaos harness), `Kubelet(track=True)` also keeps, per file path, the
messages written to it (`contents`), and `may_remove(path)` (when given) is asked before a
rotated file is compressed away or a pod's files are removed: a harness that only lets go of
files whose lines were delivered tells real losses from what deleting unread data loses."""
import argparse
import gzip
import json
import os
import random
import shutil
import signal
import time


def rfc3339(t):
    sec = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + ".%09dZ" % int((t - sec) * 1e9)


class Container:
    def __init__(self, kub, pod, name, fmt):
        self.kub, self.pod, self.name, self.fmt = kub, pod, name, fmt
        self.restart = 0
        self.dir = os.path.join(pod.dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.rotations = 0
        self.cid = "%064x" % kub.rnd.getrandbits(256)
        self.open()

    def path(self):
        return os.path.join(self.dir, "%d.log" % self.restart)

    def open(self):
        self.f = open(self.path(), "ab", buffering=0)
        self.size = self.f.seek(0, os.SEEK_END)
        if self.kub.links:
            link = os.path.join(self.kub.links, "%s_%s_%s-%s.log" % (self.pod.name, self.pod.ns, self.name, self.cid))
            tmp = link + ".tmp"
            os.symlink(os.path.abspath(self.path()), tmp)
            os.rename(tmp, link)

    def encode(self, stream, text, final):
        now = rfc3339(time.time())
        if self.fmt == "docker":
            return (json.dumps({"log": text + ("\n" if final else ""), "stream": stream, "time": now}) + "\n").encode()
        return ("%s %s %s %s\n" % (now, stream, "F" if final else "P", text)).encode()

    def write_raw(self, data):
        self.f.write(data)
        self.size += len(data)

    def log(self, stream, message):
        """One logical message; long ones split into parts, interleaved with the other stream."""
        k = self.kub
        k.record(self, stream, message)
        split = k.split
        if len(message) <= split:
            self.write_raw(self.encode(stream, message, True))
        else:
            parts = [message[i:i + split] for i in range(0, len(message), split)]
            for i, p in enumerate(parts):
                self.write_raw(self.encode(stream, p, i == len(parts) - 1))
                if i == 0 and k.rnd.random() < 0.5:
                    other = "stderr" if stream == "stdout" else "stdout"
                    m = k.message(self, short=True)
                    k.record(self, other, m)
                    self.write_raw(self.encode(other, m, True))
        if self.size >= k.rotate_bytes:
            self.rotate()

    def rotate(self):
        """kubelet: rename N.log to N.log.<time>, the runtime reopens N.log; older rotated files
        are gzipped (to .gz.tmp, renamed .gz, original removed); at most max_files kept.
        With copytruncate (logrotate-style tools), N.log is copied, then truncated in place."""
        k = self.kub
        self.rotations += 1
        ts = time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + ".%03d" % self.rotations
        rotated = self.path() + "." + ts
        if k.copytruncate:
            shutil.copyfile(self.path(), rotated)
            self.f.truncate(0)
            self.size = 0
            k.moved(self.path(), rotated)
            k.rotations += 1
            self.compress_old(rotated)
            return
        os.rename(self.path(), rotated)
        k.moved(self.path(), rotated)
        # the runtime may still write a line through its old fd before it reopens
        if k.rnd.random() < 0.5:
            m = k.message(self, short=True)
            k.record(self, "stdout", m, path=rotated)
            self.f.write(self.encode("stdout", m, True))
        self.f.close()
        self.open()
        k.rotations += 1
        self.compress_old(rotated)

    def compress_old(self, rotated):
        k = self.kub
        olds = sorted(p for p in os.listdir(self.dir)
                      if p.startswith("%d.log." % self.restart) and not p.endswith(".gz") and p != os.path.basename(rotated))
        for p in olds:
            src = os.path.join(self.dir, p)
            if k.may_remove and not k.may_remove(src):
                continue  # kept uncompressed until the harness says its lines arrived
            with open(src, "rb") as fi, gzip.open(src + ".gz.tmp", "wb") as fo:
                shutil.copyfileobj(fi, fo)
            os.rename(src + ".gz.tmp", src + ".gz")
            os.unlink(src)
            k.contents.pop(src, None)
        gz = sorted(p for p in os.listdir(self.dir) if p.endswith(".gz"))
        for p in gz[:max(0, len(gz) - k.max_files)]:
            os.unlink(os.path.join(self.dir, p))

    def restart_container(self):
        self.f.close()
        if self.kub.links:
            for p in os.listdir(self.kub.links):
                if p.endswith("-%s.log" % self.cid):
                    os.unlink(os.path.join(self.kub.links, p))
        self.restart += 1
        self.cid = "%064x" % self.kub.rnd.getrandbits(256)
        self.kub.restarts += 1
        self.open()


class Pod:
    def __init__(self, kub, i):
        self.ns = "ns%d" % (i % 5)
        self.name = "app-%d-%s" % (i, "%05x" % kub.rnd.getrandbits(20))
        self.uid = "%08x-0000-4000-8000-%012x" % (i, kub.rnd.getrandbits(48))
        self.dir = os.path.join(kub.root, "%s_%s_%s" % (self.ns, self.name, self.uid))
        fmt = kub.fmt if kub.fmt != "mixed" else ("docker" if i % 4 == 3 else "cri")
        self.containers = [Container(kub, self, "c%d" % j, fmt) for j in range(kub.containers)]
        self.deleted = False

    def delete(self):
        for c in self.containers:
            if not c.f.closed:
                c.f.close()
            if c.kub.links:
                for p in os.listdir(c.kub.links):
                    if p.endswith("-%s.log" % c.cid):
                        os.unlink(os.path.join(c.kub.links, p))
        shutil.rmtree(self.dir)
        self.deleted = True


class Kubelet:
    def __init__(self, root, seed=1, fmt="cri", containers=1, rotate_bytes=1 << 20, split=16384,
                 long_every=50, long_len=3000, max_files=3, links=None, manifest=None, copytruncate=False,
                 track=False, may_remove=None):
        self.root, self.fmt, self.containers = root, fmt, containers
        self.rnd = random.Random(seed)
        self.rotate_bytes, self.split, self.long_every, self.long_len = rotate_bytes, split, long_every, long_len
        self.max_files = max_files
        self.copytruncate = copytruncate
        self.links = links
        self.track, self.may_remove = track, may_remove
        self.contents = {}  # with track: file path -> messages written to it, in order
        if links:
            os.makedirs(links, exist_ok=True)
        os.makedirs(root, exist_ok=True)
        self.manifest = open(manifest, "a") if manifest else None
        self.pods = []
        self.seq = 0
        self.events = self.rotations = self.restarts = 0

    def add_pod(self):
        p = Pod(self, len(self.pods))
        self.pods.append(p)
        return p

    def message(self, c, short=False):
        self.seq += 1
        tag = "%s/%s/%s r%d #%d" % (c.pod.ns, c.pod.name, c.name, c.restart, self.seq)
        if not short and self.long_every and self.seq % self.long_every == 0:
            return tag + " long " + "L" * self.long_len
        if self.seq % 2:
            return json.dumps({"level": "info", "msg": tag, "pad": "p" * self.rnd.randint(20, 300)})
        return tag + " GET /api/v1/items 200 " + "x" * self.rnd.randint(20, 300)

    def record(self, c, stream, message, path=None):
        self.events += 1
        if self.track:
            self.contents.setdefault(path or c.path(), []).append(message)
        if self.manifest:
            self.manifest.write(json.dumps({"ns": c.pod.ns, "pod": c.pod.name, "uid": c.pod.uid, "container": c.name,
                                            "restart": c.restart, "stream": stream, "message": message}) + "\n")

    def moved(self, src, dst):
        """A rotation: dst now holds what src held (copied or renamed); src starts empty."""
        if self.track:
            self.contents[dst] = self.contents.pop(src, [])

    def write_one(self, pod=None):
        live = [p for p in self.pods if not p.deleted]
        p = pod or self.rnd.choice(live)
        c = self.rnd.choice(p.containers)
        stream = "stderr" if self.rnd.random() < 0.2 else "stdout"
        c.log(stream, self.message(c))

    def close(self):
        for p in self.pods:
            for c in p.containers:
                if not c.f.closed:
                    c.f.close()
        if self.manifest:
            self.manifest.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--links", help="also maintain /var/log/containers-style symlinks here")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--pods", type=int, default=10)
    ap.add_argument("--containers", type=int, default=1)
    ap.add_argument("--lines", type=int, default=1000, help="messages in total")
    ap.add_argument("--rate", type=float, default=0, help="messages per second in total (0 = as fast as possible)")
    ap.add_argument("--format", default="cri", choices=["cri", "docker", "mixed"])
    ap.add_argument("--rotate-bytes", type=int, default=1 << 20)
    ap.add_argument("--split", type=int, default=16384)
    ap.add_argument("--long-every", type=int, default=50)
    ap.add_argument("--long-len", type=int, default=3000)
    ap.add_argument("--copytruncate", action="store_true", help="rotate by copy + truncate")
    ap.add_argument("--restarts", type=int, default=0, help="container restarts during the run")
    ap.add_argument("--delete-pods", type=int, default=0, help="pods deleted during the run")
    ap.add_argument("--new-pods", type=int, default=0, help="pods created during the run")
    ap.add_argument("--delete-delay", type=float, default=1.0,
                    help="seconds between a pod's last line and the removal of its directory")
    ap.add_argument("--pause-at", default="",
                    help="message counts (comma-separated) at which the emulator stops itself "
                         "(SIGSTOP) until continued (SIGCONT): tests act at known points of the run")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    pause_at = {int(x) for x in a.pause_at.split(",") if x}
    k = Kubelet(a.root, a.seed, a.format, a.containers, a.rotate_bytes, a.split, a.long_every, a.long_len,
                links=a.links, manifest=a.manifest, copytruncate=a.copytruncate)
    for _ in range(a.pods):
        k.add_pod()
    print("kubelet 0", flush=True)
    rnd = k.rnd
    # the moments (message counts) at which lifecycle actions happen
    actions = sorted([(rnd.randrange(a.lines // 10, a.lines), "restart") for _ in range(a.restarts)] +
                     [(rnd.randrange(a.lines // 4, a.lines), "new") for _ in range(a.new_pods)] +
                     [(rnd.randrange(a.lines // 2, a.lines), "delete") for _ in range(a.delete_pods)])
    start = time.monotonic()
    doomed = []  # (when, pod): kubelet removes a terminated pod's logs some time later

    def reap(final=False):
        while doomed and (final or doomed[0][0] <= time.monotonic()):
            when, p = doomed.pop(0)
            time.sleep(max(0.0, when - time.monotonic()))
            p.delete()

    for i in range(a.lines):
        if i in pause_at:
            stopped = time.monotonic()
            os.kill(os.getpid(), signal.SIGSTOP)
            start += time.monotonic() - stopped  # the pace resumes, no catch-up burst
        reap()
        while actions and actions[0][0] <= i:
            _, what = actions.pop(0)
            live = [p for p in k.pods if not p.deleted]
            if what == "restart":
                rnd.choice(rnd.choice(live).containers).restart_container()
            elif what == "new":
                k.add_pod()
            elif what == "delete" and len(live) > 1:
                p = rnd.choice(live)
                for _ in range(3):
                    k.write_one(p)
                p.deleted = True  # no more lines; its files go after the delay
                doomed.append((time.monotonic() + a.delete_delay, p))
        k.write_one()
        if a.rate:
            ahead = (i + 1) / a.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
    reap(final=True)
    k.close()
    print("done %d rotations=%d restarts=%d" % (k.events, k.rotations, k.restarts), flush=True)


if __name__ == "__main__":
    main()
