"""kubernetes_logs with bad input: binary garbage, a CRI line with a broken timestamp, a Docker
line that is not JSON, partial lines beyond max_line_bytes, a partial line that never ends, a
log file replaced by a directory, a dangling symlink in /var/log/containers mode. Each is a
counted error; every good line still flows, nothing is dropped and sluice keeps running.
Also checks the symlink mode's metadata (uid and restart count from the link's target)."""
import os
import shutil

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_common import output

root = os.path.join(WORK, "pods")
links = os.path.join(WORK, "containers")
hidden = os.path.join(WORK, "hidden")
a_dir = os.path.join(root, "ns_a-pod_uid-a", "app")
b_dir = os.path.join(root, "ns_b-pod_uid-b", "side")
c_dir = os.path.join(hidden, "other_c-pod_uid-c", "web")
for d in (a_dir, b_dir, c_dir, links):
    os.makedirs(d)
os.makedirs(os.path.join(a_dir, "1.log"))  # a log file that is a directory
T = "2024-05-01T12:00:00.5Z"
with open(os.path.join(a_dir, "0.log"), "wb") as f:
    f.write((T + " stdout F good-1\n").encode())
    f.write(b"\x00\x01\xff\xfe binary \x80 garbage\n")
    f.write(b"2024-05-01T25:61:00Z stdout F broken-time\n")
    f.write((T + " stdout F good-2\n").encode())
    for i in range(6):  # 6 x 300 bytes of one message > max_line_bytes (1 KiB)
        f.write((T + " stderr P " + chr(65 + i) * 300 + "\n").encode())
    f.write((T + " stderr F end-of-long\n").encode())
    f.write((T + " stdout F good-3\n").encode())
    f.write((T + " stdout P " + "Z" * 1200 + "\n").encode())  # one part beyond the bound
    f.write((T + " stdout F tail-of-big\n").encode())
    f.write((T + " stderr P never-ends\n").encode())
    f.write((T + " stdout F good-4\n").encode())
with open(os.path.join(b_dir, "0.log"), "wb") as f:
    f.write(b'{"log":"dgood-1\\n","stream":"stdout","time":"2024-05-01T12:00:00Z"}\n')
    f.write(b'{"log":"not json at all\n')
    f.write(b'{"log":"dgood-2\\n","stream":"stderr","time":"2024-05-01T12:00:01Z"}\n')
with open(os.path.join(c_dir, "3.log"), "wb") as f:
    f.write((T + " stdout F linked-1\n").encode())
os.symlink(os.path.join(c_dir, "3.log"), os.path.join(links, "c-pod_other_web-%s.log" % ("ab" * 32)))
os.symlink(os.path.join(hidden, "nowhere.log"), os.path.join(links, "d-pod_other_web-%s.log" % ("cd" * 32)))

port = free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  pods: { type: kubernetes_logs, path: "%s", max_line_bytes: 1KiB, rescan_interval_ms: 300, exclude_self: false }
  links: { type: kubernetes_logs, path: "%s", rescan_interval_ms: 300, exclude_self: false }
sinks:
  out: { type: file, inputs: [pods, links], path: "%s", batch: { timeout_ms: 50 } }
""" % (WORK, port, root, links, out), "k8s").start()


def messages():
    return [g["message"] for g in output(out)]


good = ["good-1", "good-2", "good-3", "good-4", "dgood-1", "dgood-2", "linked-1", "end-of-long"]
wait_until(lambda: all(any(m.endswith(g) for m in messages()) for g in good), 30, "good lines")


def err(reason, cid="pods"):
    return s.metric("sluice_component_errors_total", component_id=cid, reason=reason) or 0


for reason in ("cri_parse", "cri_timestamp", "json_parse", "line_too_long", "not_a_file"):
    wait_until(lambda: err(reason) >= 1, 10, "error %s counted" % reason)
wait_until(lambda: err("bad_symlink", "links") >= 1, 10, "dangling symlink counted")

got = output(out)
by_msg = {g["message"]: g for g in got}
# bad lines are delivered as they are, without a stream, stamped with the read time
assert any("binary" in m for m in by_msg), by_msg.keys()
assert "2024-05-01T25:61:00Z stdout F broken-time" in by_msg
assert '{"log":"not json at all' in by_msg
# the over-long joined message: what fits went out truncated, the rest joined to its F
trunc = [g for g in got if g.get("log.truncated")]
trunc = [g for g in trunc if g["stream"] == "stderr"]
assert trunc, trunc
rest = [m for m in by_msg if m.endswith("end-of-long")][0]
assert sum(len(g["message"]) for g in trunc) + len(rest) == 6 * 300 + len("end-of-long")
assert rest.startswith("D" * 300) and by_msg[rest]["log.offset"] > trunc[0]["log.offset"]
assert by_msg["Z" * 1200].get("log.truncated") and by_msg["tail-of-big"]["stream"] == "stdout"
assert by_msg["good-4"]["timestamp"] == "2024-05-01T12:00:00.500000000Z"
# symlink mode: names from the link, uid and restart from its target
l1 = by_msg["linked-1"]
assert (l1["kubernetes.pod_name"], l1["kubernetes.namespace"], l1["kubernetes.container_name"]) == \
    ("c-pod", "other", "web"), l1
assert l1["kubernetes.pod_uid"] == "uid-c" and l1["kubernetes.restart_count"] == 3, l1
assert l1["kubernetes.container_id"] == "ab" * 32, l1
assert "never-ends" not in by_msg

# The pod goes away: its unfinished partial line is delivered when the file is released.
shutil.rmtree(os.path.join(root, "ns_a-pod_uid-a"))
wait_until(lambda: "never-ends" in messages(), 30, "the unterminated partial")
assert err("partial_unterminated") >= 1
assert s.ready()
assert s.stop() == 0
n = len(output(out))
log("ok:", n, "events; every bad input counted")
