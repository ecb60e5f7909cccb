"""s3 sink: the bucket goes in the path when no host name can carry it, as the AWS SDKs
decide. An S3-compatible store at an IP address (MinIO, Ceph, the emulator at
http://127.0.0.1:PORT) without path_style: true had every request sent to
<bucket>.127.0.0.1, a name that does not resolve, retried forever; now the objects are
written. The same store by name (localhost) keeps the bucket in the host name."""
import json
import os

from harness import Sluice, WORK, free_port, log, wait_until
from s3_common import S3Emu, aws_env

emu = S3Emu()
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
N = 300
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write(json.dumps({"message": "event %04d" % i}) + "\n")

api = free_port()
s = Sluice("""
data_dir: %(w)s/data
api: { address: "127.0.0.1:%(api)d" }
sources:
  in: { type: file, include: ["%(w)s/logs/a.log"] }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  byip:
    type: s3
    inputs: [p]
    bucket: logs
    endpoint: "http://127.0.0.1:%(port)d"
    key_prefix: "ip/"
    batch: { max_events: 100, timeout_ms: 100 }
    retry: { initial_ms: 20, max_ms: 200 }
  byname:
    type: s3
    inputs: [p]
    bucket: logs
    endpoint: "http://localhost:%(port)d"
    key_prefix: "name/"
    batch: { max_events: 100, timeout_ms: 100 }
    retry: { initial_ms: 20, max_ms: 200 }
""" % {"w": WORK, "api": api, "port": emu.emu.port}, env=aws_env()).start()

want = sorted("event %04d" % i for i in range(N))
for prefix in ("ip/", "name/"):
    wait_until(lambda: emu.count(prefix) == N, 60, "every event under " + prefix)
    assert sorted(emu.messages(prefix)) == want
for o in emu.objects():
    assert o["bucket"] == "logs", o
st = emu.stats()
log(st)
assert s.stop() == 0
emu.stop()
log("ok")
