"""es_common.py - what the elasticsearch sink's adaptive tests share: lines appended to the
one file a file -> elasticsearch pipeline reads, counted, and a value of the sink read once
the pipeline is quiet (every line stored, no request in flight: nothing can change it)."""
from harness import append_lines, wait_until


class Lines:
    """Lines `fmt % n` (n = 0, 1, ...) appended to `path`; `written` counts them. `stats`
    reads the emulator's stats ({"docs": ...}), `sink` the sink's status ({"inflight": ...})."""

    def __init__(self, path, fmt, stats, sink):
        self.path, self.fmt, self.stats, self.sink = path, fmt, stats, sink
        self.written = 0

    def write(self, k):
        append_lines(self.path, (self.fmt % i for i in range(self.written, self.written + k)))
        self.written += k

    def quiet(self, value):
        """value() once every line written is stored and no request is in flight."""
        wait_until(lambda: self.stats()["docs"] == self.written, 90,
                   "%d events stored" % self.written)
        wait_until(lambda: self.sink()["inflight"] == 0, 30, "no request in flight")
        return value()

    def rounds(self, k, value, done, most, what):
        """Rounds of k lines, value() read quiet after each, until done(it): the values read.
        After `most` rounds without, an AssertionError says `what` and the values."""
        got = []
        for _ in range(most):
            self.write(k)
            got.append(self.quiet(value))
            if done(got[-1]):
                return got
        raise AssertionError("%s: %s" % (what, got))
