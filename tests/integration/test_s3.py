"""s3 sink end to end against the S3 emulator (SigV4 checked on every request): gzip, zstd
and plain objects keyed by event time and a field, with SSE-KMS and storage class headers, and
the bucket addressed in the path or in the host name;
every event in exactly one object, each object's key prefix matching its events; a 503
SlowDown storm retried with nothing lost or twice; multipart uploads for large objects
(parts >= 5 MiB, an UploadPart failure aborts the upload and the object is written again, no
upload left open); a wrong secret refused with SignatureDoesNotMatch (nothing stored, the
events not acknowledged) and a missing bucket dead-lettered with S3's code."""
import json
import os
import time

from harness import Sluice, WORK, free_port, log, wait_until
from s3_common import S3Emu, aws_env

emu = S3Emu()
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
T0 = (int(time.time()) // 3600 - 5) * 3600  # five whole hours ago
N = 3000


def write(path, lo, hi, mode="w"):
    with open(path, mode) as f:
        for i in range(lo, hi):
            # two hours of events, three apps
            f.write(json.dumps({"message": "event %05d" % i, "app": "app%d" % (i % 3),
                                "timestamp": (T0 + i * 7200 // N) * 10 ** 9}) + "\n")


write(os.path.join(logs, "a.log"), 0, N)
api = free_port()
cfg = """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/a.log"] }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  gz:
    type: s3
    inputs: [p]
    bucket: logs
    endpoint: "%s"
    path_style: true
    key_prefix: "gz/%%Y/%%m/%%d/%%H/{{ app }}/"
    sse: "aws:kms"
    sse_kms_key_id: "alias/logs"
    storage_class: STANDARD_IA
    id_key: _id
    batch: { max_events: 400, timeout_ms: 100 }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 0 }
  plain:
    type: s3
    inputs: [p]
    bucket: logs
    endpoint: "%s"
    path_style: true
    key_prefix: "plain/"
    compression: none
    batch: { max_events: 1000, timeout_ms: 100 }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 0 }
  vhost:
    type: s3
    inputs: [p]
    bucket: logs
    endpoint: "http://localhost:%d"
    key_prefix: "vhost/"
    compression: zstd
    batch: { max_events: 1000, timeout_ms: 100 }
""" % (WORK, api, logs, emu.base, emu.base, emu.emu.port)
s = Sluice(cfg, env=aws_env()).start()
wait_until(lambda: emu.count("gz/") >= N and emu.count("plain/") >= N and
           emu.count("vhost/") >= N, 60, "every event in S3")
wait_until(lambda: s.component("in")["pending_acks"] == 0, 60, "source commits everything")
want = ["event %05d" % i for i in range(N)]
for prefix in ("gz/", "plain/", "vhost/"):  # vhost: the bucket in the host name, zstd
    got = emu.messages(prefix)
    assert sorted(got) == want, (prefix, len(got), len(set(got)))
hours = set()
for o in emu.objects("gz/"):
    assert o["key"].endswith(".ndjson.gz"), o
    assert o["meta"]["x-amz-server-side-encryption"] == "aws:kms", o
    assert o["meta"]["x-amz-server-side-encryption-aws-kms-key-id"] == "alias/logs", o
    assert o["meta"]["x-amz-storage-class"] == "STANDARD_IA", o
    assert o["meta"]["content-encoding"] == "gzip", o
    for l in emu.lines(o["key"]):
        ts = int(l["message"].split()[1]) * 7200 // N + T0
        want_prefix = "gz/%s/app%d/" % (time.strftime("%Y/%m/%d/%H", time.gmtime(ts)),
                                        int(l["message"].split()[1]) % 3)
        assert o["key"].startswith(want_prefix), (o["key"], l)
        assert len(l["_id"]) == 32, l
        hours.add(want_prefix)
assert len(hours) >= 6, hours  # 2-3 hours x 3 apps
for o in emu.objects("vhost/"):
    assert o["key"].endswith(".ndjson.zst") and o["meta"]["content-encoding"] == "zstd", o
for o in emu.objects("plain/"):
    assert o["key"].endswith(".ndjson") and "content-encoding" not in o["meta"], o
    assert "x-amz-server-side-encryption" not in o["meta"], o
assert emu.stats()["sig_fail"] == 0, emu.stats()
log("%d events in gzip, zstd and plain objects, keys by hour and app" % N)

# ---- 503 SlowDown storm -----------------------------------------------------------------
emu.control(fail=25, status=503, code="SlowDown")
write(os.path.join(logs, "a.log"), N, 2 * N, "a")
want = ["event %05d" % i for i in range(2 * N)]
wait_until(lambda: emu.stats()["fail_left"] == 0, 60, "the storm to pass")
wait_until(lambda: emu.count("gz/") >= 2 * N and emu.count("plain/") >= 2 * N and
           emu.count("vhost/") >= 2 * N, 60, "every event after the storm")
wait_until(lambda: s.component("in")["pending_acks"] == 0, 60, "source commits everything")
for prefix in ("gz/", "plain/", "vhost/"):
    got = emu.messages(prefix)
    assert sorted(got) == want, (prefix, len(got), len(set(got)))
st = emu.stats()
assert st["injected"] == 25 and st["answers"].get("PutObject 503", 0) == 25, st
assert sum(s.counter("sluice_component_errors_total", component_id=c, reason="slowdown")
           for c in ("gz", "plain", "vhost")) == 25
assert s.stop() == 0
log("503 SlowDown x25 retried: every event once")

# ---- multipart ----------------------------------------------------------------------------
M = 14000
big = os.path.join(logs, "big.log")
pad = "x" * 1000
with open(big, "w") as f:
    for i in range(M):
        f.write(json.dumps({"message": "big %05d" % i, "pad": pad,
                            "timestamp": (T0 + 60) * 10 ** 9}) + "\n")
emu.control(fail=1, status=500, code="InternalError", ops=["UploadPart"])
mcfg = """
data_dir: %s/mdata
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s"], read_from: head }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  mp:
    type: s3
    inputs: [p]
    bucket: logs
    endpoint: "%s"
    path_style: true
    key_prefix: "mp/"
    compression: none
    part_size: 5MiB
    batch: { max_events: 100000, max_bytes: 64MiB, timeout_ms: 3000 }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 0 }
""" % (WORK, free_port(), big, emu.base)
s = Sluice(mcfg, env=aws_env()).start()
wait_until(lambda: emu.count("mp/") >= M, 120, "every big event in S3")
wait_until(lambda: s.component("in")["pending_acks"] == 0, 60, "source commits everything")
assert s.stop() == 0
got = emu.messages("mp/")
assert sorted(got) == ["big %05d" % i for i in range(M)], (len(got), len(set(got)))
mp = [o for o in emu.objects("mp/") if o["parts"] >= 2]
assert mp, emu.objects("mp/")
st = emu.stats()
assert st["injected"] == 26 and st["aborted"] >= 1 and st["uploads_open"] == 0, st
assert st["answers"].get("CompleteMultipartUpload 200", 0) >= 1, st
assert all(o["size"] > 0 for o in emu.objects("mp/"))
log("multipart: %d objects of %s parts; a failed part aborted and written again" %
    (len(mp), [o["parts"] for o in mp]))

# ---- a wrong secret and a missing bucket -------------------------------------------------
creds = os.path.join(WORK, "creds")
with open(creds, "w") as f:
    f.write("[wrong]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = not-the-secret\n")
benv = aws_env()
del benv["AWS_ACCESS_KEY_ID"], benv["AWS_SECRET_ACCESS_KEY"]
sig0 = emu.stats()["sig_fail"]
bcfg = """
data_dir: %s/bdata
shutdown_timeout: 1s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/a.log"], read_from: head }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  wrongkey:
    type: s3
    inputs: [p]
    bucket: logs
    endpoint: "%s"
    path_style: true
    key_prefix: "wrong/"
    credentials_file: "%s"
    profile: wrong
    batch: { max_events: 1000, timeout_ms: 100 }
    retry: { initial_ms: 50, max_ms: 200 }
    circuit_breaker: { failures: 0 }
  nobucket:
    type: s3
    inputs: [p]
    bucket: no-such-bucket
    endpoint: "%s"
    path_style: true
    credentials_file: "%s"
    profile: right
    batch: { max_events: 1000, timeout_ms: 100 }
""" % (WORK, free_port(), logs, emu.base, creds, emu.base, creds)
with open(creds, "a") as f:
    f.write("[right]\naws_access_key_id = AKIDEXAMPLE\n"
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n")
s = Sluice(bcfg, env=benv).start()
dlq = os.path.join(WORK, "bdata", "dlq", "nobucket.ndjson")


def dlq_lines():
    if not os.path.exists(dlq):
        return []
    with open(dlq, "rb") as f:
        data = f.read()
    # the DLQ may be read while a line is being appended: whole lines only
    return [json.loads(l) for l in data[:data.rfind(b"\n") + 1].split(b"\n") if l.strip()]


wait_until(lambda: len(dlq_lines()) >= 2 * N, 120, "missing bucket dead-lettered")
wait_until(lambda: emu.stats()["sig_fail"] >= sig0 + 3, 60, "wrong secret refused")
wait_until(lambda: "SignatureDoesNotMatch" in s.log_text(), 30, "the refusal logged")
d = dlq_lines()
assert len(d) == 2 * N and all("NoSuchBucket" in json.dumps(x) for x in d[:5]), d[:2]
assert emu.objects("wrong/") == [] and emu.objects("no-such") == []
assert s.component("in")["pending_acks"] > 0  # nothing the wrong key sent is acknowledged
s.stop()
log("wrong secret refused (SignatureDoesNotMatch, nothing stored); NoSuchBucket dead-lettered")
emu.stop()
print("ok")
