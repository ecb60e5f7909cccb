"""mem_common.py - what the limits.memory tests share: the resident set read from
/proc/<pid>/status, the limit set from a measured footprint, and a sampler that keeps the
peak resident set of a run."""
import threading
import time

from harness import SLUICE

MiB = 1 << 20

# ASan keeps freed memory (quarantine_size_mb=16 in run.sh) and adds shadow pages, neither
# of which the limit can see freed: a test adds this to what its sampler may see beyond it.
with open(SLUICE, "rb") as _f:
    ASAN_ALLOWANCE = 16 * MiB if b"__asan_init" in _f.read() else 0


def vmrss(pid):
    """The resident set of process pid in bytes (0 when its status has none)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def limit_over(base, room):
    """The limit a test sets: the measured footprint plus room, rounded up to a MiB."""
    return (base + room + MiB - 1) // MiB * MiB


class PeakSampler:
    """Samples the resident set of pid every 5 ms on its own thread from creation until
    stop() (or until the process is gone); `peak` is the largest sample."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._done.is_set():
            try:
                self.peak = max(self.peak, vmrss(self.pid))
            except OSError:
                return
            time.sleep(0.005)

    def stop(self):
        self._done.set()
        self._thread.join()
        return self.peak


def assert_peak_under(peak, limit, allowance):
    assert peak <= limit + allowance, "peak RSS %.1f MiB over the limit %.1f MiB + %.1f" % (
        peak / MiB, limit / MiB, allowance / MiB)
