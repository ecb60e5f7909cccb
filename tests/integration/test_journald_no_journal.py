"""journald source on the system journal (no directory:) where there is none, as in a container
without the host's journal mounted: the start says so and counts it (no_journal_files), where
it used to read nothing and say nothing. Then with a journal at /var/log/journal/<machine-id>
(written by systemd-journal-remote, as the host's would be mounted there): its entry is read
and nothing is said. Each run is in a mount namespace whose /var/log and /run/log are empty
tmpfs, so the machine's own journal, if any, is out of sight."""
import ctypes
import os
import subprocess

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

REMOTE = "/lib/systemd/systemd-journal-remote"

with open("/etc/machine-id") as f:
    MID = f.read().strip()
journal = os.path.join(WORK, "system.journal")
subprocess.run([REMOTE, "--output=" + journal, "-"], check=True, capture_output=True,
               timeout=60, input=b"__REALTIME_TIMESTAMP=1700000000000001\n__MONOTONIC_TIMESTAMP=1\n"
               b"_BOOT_ID=0123456789abcdef0123456789abcdef\n_MACHINE_ID=" + MID.encode() +
               b"\nMESSAGE=from the host journal\nPRIORITY=6\n\n")


def hidden_journal(with_file):
    """A preexec_fn: a private mount namespace with empty /var/log and /run/log, the
    journal file put under /var/log/journal/<machine-id> when with_file."""
    def setup():
        script = "mount --make-rprivate / && mount -t tmpfs none /var/log && " \
                 "if [ -d /run/log ]; then mount -t tmpfs none /run/log; fi"
        if with_file:
            script += " && mkdir -p /var/log/journal/%s && cp %s /var/log/journal/%s/" % (
                MID, journal, MID)
        if ctypes.CDLL(None, use_errno=True).unshare(0x00020000) != 0:  # CLONE_NEWNS
            raise OSError(ctypes.get_errno(), "unshare")
        subprocess.run(["sh", "-c", script], check=True)
    return setup


def run(name, with_file):
    out = os.path.join(WORK, name + ".ndjson")
    s = Sluice("""data_dir: %s/data-%s
api: { address: "127.0.0.1:%d" }
sources:
  j: { type: journald }
sinks:
  o: { type: file, inputs: [j], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, name, free_port(), out), name=name).start(preexec_fn=hidden_journal(with_file))
    return s, out


s, out = run("none", False)
wait_until(lambda: s.counter("sluice_component_errors_total", component_id="j",
                             reason="no_journal_files") == 1, 30, "no_journal_files counted")
assert "no journal files in /run/log/journal or /var/log/journal" in s.log_text(), s.log_text()
assert s.stop() == 0
assert ndjson_file(out) == []
log("no journal: said and counted")

s, out = run("mounted", True)
wait_until(lambda: len(ndjson_file(out)) == 1, 30, "the mounted journal's entry")
assert ndjson_file(out)[0]["message"] == "from the host journal"
assert s.counter("sluice_component_errors_total", component_id="j", reason="no_journal_files") == 0
assert "no journal files" not in s.log_text()
assert s.stop() == 0
log("mounted journal: read, nothing said")
