"""kubernetes_logs with Docker json-file logs whose lines carry `attrs` (dockerd's --log-opt
labels, env and tag): each key becomes a field attrs.<key>, as Fluent Bit's docker parser and
Vector keep the object; a message joined from partial entries carries them too; a file
without attrs gets none; attrs that change in a file apply from the line that changed them."""
import json
import os

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_common import output

root = os.path.join(WORK, "pods")
T = "2024-05-01T12:00:00.5Z"
A = {"tag": "web", "com.example.team": "pay\"ments", "ENV": "prod"}


def line(msg, attrs=None, stream="stdout"):
    d = {"log": msg, "stream": stream}
    if attrs is not None:
        d["attrs"] = attrs
    d["time"] = T
    return json.dumps(d) + "\n"


def write(rel, *lines):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "a") as f:
        f.write("".join(lines))


write("ns_a_uid-a/app/0.log", line("one\n", A), line("part-", A), line("joined\n", A),
      line("two\n", A, "stderr"), line("three\n", {"tag": "web2"}))
write("ns_b_uid-b/app/0.log", line("plain\n"))

out = os.path.join(WORK, "out.ndjson")
s = Sluice("""data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  pods: { type: kubernetes_logs, path: "%s", rescan_interval_ms: 300, exclude_self: false }
sinks:
  out: { type: file, inputs: [pods], path: "%s", batch: { timeout_ms: 50 } }
""" % (WORK, free_port(), root, out), "k8s").start()
want = ["one", "part-joined", "two", "three", "plain"]
wait_until(lambda: len(output(out)) >= len(want), 30, "every message")
got = {g["message"]: g for g in output(out)}
assert sorted(got) == sorted(want), sorted(got)
attrs = lambda m: {k[6:]: v for k, v in got[m].items() if k.startswith("attrs.")}
for m in ("one", "part-joined", "two"):
    assert attrs(m) == A, (m, got[m])
assert got["two"]["stream"] == "stderr", got["two"]
assert attrs("three") == {"tag": "web2"}, got["three"]
assert attrs("plain") == {}, got["plain"]
assert got["one"]["kubernetes.pod_name"] == "a", got["one"]
s.stop()
log("ok: docker attrs as attrs.<key> fields, joined messages included")
