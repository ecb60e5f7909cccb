"""data_dir on a full disk (a 1 MiB tmpfs, in a mount namespace of the test's own): the file
source's checkpoint writes fail. That is said once, not at
every try (it was an error line per write, several a second); once there is room the
source says its checkpoint is saved again. A stop while the writes fail says the positions
were not saved (it said "stopped cleanly; every position committed"), and the next start
reads again from the last saved position: nothing lost."""
import ctypes
import errno
import os
import subprocess

from harness import Sluice, WORK, free_port, log, read_ndjson_messages, wait_until

data = os.path.join(WORK, "data")
logs = os.path.join(WORK, "logs")
os.makedirs(data)
os.makedirs(logs)
src = os.path.join(logs, "a.log")


def append(first, n):
    with open(src, "a") as f:
        for i in range(first, first + n):
            f.write("line %04d\n" % i)


# This process and the sluice runs it starts see the tmpfs; nothing outside does.
if ctypes.CDLL(None, use_errno=True).unshare(0x00020000) != 0:  # CLONE_NEWNS
    raise OSError(ctypes.get_errno(), "unshare")
subprocess.run(["sh", "-c", "mount --make-rprivate / && mount -t tmpfs -o size=1m none " + data],
               check=True)


def fill():
    """Fills data_dir to the last byte."""
    path = os.path.join(data, "filler")
    with open(path, "ab", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        try:
            while True:
                f.write(b"\0")
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    return path


conf = """
data_dir: %s
shutdown_timeout: 5s
api: { address: "127.0.0.1:%%d" }
sources:
  in: { type: file, include: ["%s/*.log"], checkpoint_interval_ms: 100ms }
sinks:
  out: { type: blackhole, inputs: [in] }
""" % (data, logs)


def settled(s, n):
    c = s.component("in")
    return c["sent_events"] == n and c["pending_acks"] == 0


def failures(s):
    return s.counter("sluice_component_errors_total", component_id="in", reason="checkpoint_write")


append(0, 100)
s = Sluice(conf % free_port(), name="first").start()
try:
    wait_until(lambda: settled(s, 100), what="the first 100 lines")
    filler = fill()
    append(100, 100)
    wait_until(lambda: settled(s, 200), what="the next 100 lines")
    wait_until(lambda: failures(s) >= 3, what="three failed checkpoint writes")
    assert s.component("in")["state"] == "checkpoint_write_failed", s.component("in")
    text = s.log_text()
    assert text.count("saving checkpoint:") == 1, "said %d times for %d failures:\n%s" % (
        text.count("saving checkpoint:"), failures(s), text[-3000:])
    assert "No space left on device" in text, text[-2000:]
    os.unlink(filler)
    wait_until(lambda: "in: checkpoint saved again" in s.log_text(), what="the save said again")
    wait_until(lambda: s.component("in")["state"] == "ok", what="state ok")
    fill()
    append(200, 100)
    wait_until(lambda: settled(s, 300), what="the last 100 lines")
    n = failures(s)
    wait_until(lambda: failures(s) > n, what="a failed checkpoint write")
finally:
    assert s.stop() == 0
text = s.log_text()
assert "stopped without saving the positions of in (their checkpoint writes failed)" in text, \
    text[-2000:]
assert "every position committed" not in text, text[-2000:]

# With room again, the next start reads from the last saved position: the 100 lines read
# while the disk was full come again (written to a file now), none is lost.
os.unlink(filler)
out = os.path.join(WORK, "out.ndjson")
s = Sluice(conf.replace("type: blackhole", 'type: file, path: "%s"' % out) % free_port(),
           name="second").start()
try:
    wait_until(lambda: len(read_ndjson_messages([out])) >= 100, what="the unsaved lines")
finally:
    assert s.stop() == 0
assert read_ndjson_messages([out]) == ["line %04d" % i for i in range(200, 300)], \
    read_ndjson_messages([out])[:3]
assert "stopped cleanly; every position committed" in s.log_text(), s.log_text()[-2000:]
log("ok: a full disk under the checkpoints said once, its recovery said, the stop truthful")
