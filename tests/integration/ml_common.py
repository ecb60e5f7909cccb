"""ml_common.py - what the multiline tests share: Java stack-trace groups with unique lines,
mapping output events back to the lines they hold, a tailing source's committed positions,
and the checks (no line lost, no group mixed or cut short, first deliveries in order)."""
import glob
import os
import threading

from harness import WORK


class Groups:
    """Groups written per stream (any hashable name), and where each line belongs."""

    def __init__(self, rnd):
        self.rnd = rnd
        self.by = {}       # stream -> list of groups (lists of lines)
        self.where = {}    # line -> (stream, group index, line index)
        self.lock = threading.Lock()

    def new(self, stream, tag):
        """A new group of `stream`: a single log line, or a log line with a Java exception
        (frames, sometimes a Caused by chain and "... N more"). `tag` makes lines unique."""
        with self.lock:
            gs = self.by.setdefault(stream, [])
            g = len(gs)
            rnd = self.rnd
            head = "2024-05-14T10:%02d:%02d.%03dZ %s [%s] c.s.Orders - g=%06d " % (
                g // 3600 % 60, g // 60 % 60, g % 1000, "INFO " if g % 3 else "ERROR", tag, g)
            if g % 3:
                lines = [head + "served"]
            else:
                lines = [head + "request failed", "java.lang.IllegalStateException: order %s-%d has no lines" % (tag, g)]
                for k in range(rnd.randint(0, 6)):
                    lines.append("\tat com.shop.orders.Svc.step_%s_%d_%d(Svc.java:%d)" % (tag, g, k, 10 + k))
                if rnd.random() < 0.5:
                    lines.append("Caused by: java.io.IOException: disk %s-%d" % (tag, g))
                    lines.append("\tat com.shop.store.Disk.write_%s_%d(Disk.java:7)" % (tag, g))
                    lines.append("\t... %d more" % (g * 1000 + sum(map(ord, tag))))
            for i, l in enumerate(lines):
                assert l not in self.where, l
                self.where[l] = (stream, g, i)
            gs.append(lines)
            return lines

    def all_whole(self):
        with self.lock:
            return ["\n".join(g) for gs in self.by.values() for g in gs]

    def classify(self, msgs, tails_ok):
        """(stream, group, first line index) of each event; fails on an event that mixes
        groups, skips a line, or stops before its group's end. An event that starts after its
        group's first line (a tail) fails unless tails_ok: True, or "repeat" (only once the
        whole group was delivered before it: the tail repeats lines, it never carries any
        for the first time)."""
        res = []
        whole = set()
        for m in msgs:
            lines = m.split("\n")
            locs = [self.where.get(l) for l in lines]
            assert all(locs), "an event with a line never written: %r" % m[:200]
            st, g, i0 = locs[0]
            for k, loc in enumerate(locs):
                assert loc == (st, g, i0 + k), "an event mixing groups or out of order: %r" % m[:300]
            assert i0 + len(lines) == len(self.by[st][g]), "a group cut short: %r" % m[:300]
            assert tails_ok or i0 == 0, "the tail of a group as an event of its own: %r" % m[:300]
            assert tails_ok != "repeat" or i0 == 0 or (st, g) in whole, \
                "the tail of a group before the group came whole: %r" % m[:300]
            if i0 == 0:
                whole.add((st, g))
            res.append((st, g, i0))
        return res

    def check(self, msgs, tails_ok):
        """No line lost; each stream's groups first arrive in order. Returns the events'
        (stream, group, first index)."""
        got = self.classify(msgs, tails_ok)
        seen = set()
        for (st, g, i0) in got:
            for i in range(i0, len(self.by[st][g])):
                seen.add((st, g, i))
        lost = [(st, g, i) for st, gs in self.by.items() for g in range(len(gs))
                for i in range(len(gs[g])) if (st, g, i) not in seen]
        assert not lost, "lines lost, first: %r" % lost[:3]
        for st, gs in self.by.items():
            first = []
            for (st2, g, i0) in got:
                if st2 == st and i0 == 0 and g not in first:
                    first.append(g)
            assert first == list(range(len(gs))), "stream %s: groups not first delivered in order" % (st,)
        return got


def positions(source_id, data="data"):
    """dev:ino -> committed offset, from the newer valid copy of the source's checkpoint
    (under WORK/<data>)."""
    best = (-1, {})
    for p in glob.glob(os.path.join(WORK, data, "checkpoints", source_id + ".ckpt*")):
        if not (p.endswith(".ckpt") or p.endswith(".ckpt.live")):
            continue
        try:
            with open(p) as fh:
                lines = fh.read().split("\n")
        except FileNotFoundError:
            continue
        if len(lines) < 3 or not lines[0].startswith("# sluice checkpoint v2 "):
            continue
        gen = int(lines[0].split()[-1])
        pos = {}
        for l in lines[1:-2]:
            k, v, _ = l.split(" ", 2)
            pos[k.split(":a")[0] if k.endswith(":a") else k] = int(v)
        if gen > best[0]:
            best = (gen, pos)
    return best[1]


def committed_to_end(source_id, paths, data="data"):
    pos = positions(source_id, data)
    for p in paths:
        st = os.stat(p)
        if pos.get("%d:%d" % (st.st_dev, st.st_ino)) != st.st_size:
            return False
    return True
