"""kubernetes_logs with pod and container directories that are symlinks (some runtimes and
CI setups link /var/log/pods/<ns>_<pod>_<uid> elsewhere): they are followed, as Fluent Bit's
and Vector's globs follow them, with the metadata of the link's name. A file reached by two
links is read once (one identity: device and inode); a link back up the tree does not loop
(the walk has a fixed depth); a link that cannot be followed is logged once and counted.
A pod linked in after the start and lines appended through a link are read too."""
import os

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_common import output

root = os.path.join(WORK, "pods")
away = os.path.join(WORK, "elsewhere")
T = "2024-05-01T12:00:00.5Z"


def write(path, *msgs):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        for m in msgs:
            f.write("%s stdout F %s\n" % (T, m))


write(os.path.join(root, "ns_real_uid-r", "app", "0.log"), "real-1")
write(os.path.join(away, "side", "0.log"), "side-1")  # a container directory linked in
os.symlink(os.path.join(away, "side"), os.path.join(root, "ns_real_uid-r", "side"))
write(os.path.join(away, "ns_linked_uid-l", "app", "0.log"), "linked-1", "linked-2")
os.symlink(os.path.join(away, "ns_linked_uid-l"), os.path.join(root, "ns_linked_uid-l"))
# the same directory under a second name: its file is one identity, read once
os.symlink(os.path.join(away, "ns_linked_uid-l"), os.path.join(root, "ns_twin_uid-t"))
os.symlink(root, os.path.join(root, "ns_loop_uid-x"))  # back up the tree
gone = os.path.join(root, "ns_gone_uid-g")
os.symlink(os.path.join(away, "nowhere"), gone)  # dangling

out = os.path.join(WORK, "out.ndjson")
s = Sluice("""data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  pods: { type: kubernetes_logs, path: "%s", rescan_interval_ms: 300, exclude_self: false }
sinks:
  out: { type: file, inputs: [pods], path: "%s", batch: { timeout_ms: 50 } }
""" % (WORK, free_port(), root, out), "k8s").start()


def by_message():
    got = {}
    for g in output(out):
        got.setdefault(g["message"], []).append(g)
    return got


first = ["real-1", "side-1", "linked-1", "linked-2"]
wait_until(lambda: all(m in by_message() for m in first), 30, "lines of linked directories")
wait_until(lambda: (s.metric("sluice_component_errors_total", component_id="pods",
                             reason="bad_symlink") or 0) >= 1, 10, "dangling link counted")

# later: lines appended through a link, and a pod linked in after the start (a new scan)
write(os.path.join(away, "ns_linked_uid-l", "app", "0.log"), "linked-3")
write(os.path.join(away, "ns_late_uid-z", "web", "0.log"), "late-1")
os.symlink(os.path.join(away, "ns_late_uid-z"), os.path.join(root, "ns_late_uid-z"))
wait_until(lambda: "linked-3" in by_message() and "late-1" in by_message(), 30,
           "appended and late lines")

got = by_message()
for m, evs in got.items():
    assert len(evs) == 1, ("read twice", m, evs)
assert sorted(got) == sorted(first + ["linked-3", "late-1"]), sorted(got)
pod = lambda m: got[m][0]["kubernetes.pod_name"]
assert pod("real-1") == "real" and pod("side-1") == "real", got
assert got["side-1"][0]["kubernetes.container_name"] == "side", got["side-1"]
# the linked file is named by one of its links, the same for all its lines
assert pod("linked-1") in ("linked", "twin"), got["linked-1"]
assert pod("linked-1") == pod("linked-2") == pod("linked-3"), got
assert got["late-1"][0]["kubernetes.pod_uid"] == "uid-z", got["late-1"]
assert got["late-1"][0]["log.file.path"] == os.path.join(root, "ns_late_uid-z", "web", "0.log")
text = s.log_text()
assert text.count("skipping %s" % gone) == 1, [l for l in text.splitlines() if "skipping" in l]
s.stop()
log("ok: linked pod and container directories read once each, the dangling link logged once")
