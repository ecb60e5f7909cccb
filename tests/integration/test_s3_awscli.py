"""The S3 emulator cross-checked with the real AWS CLI (botocore's own SigV4 and XML): put,
head, get (ranged, for a multipart object), ListObjectsV2 with and without a delimiter,
multipart by the CLI and by s3api calls (EntityTooSmall for a small non-last part, a wrong
ETag refused, abort), server-side encryption and storage class kept, 503 SlowDown retried
by the CLI, eventual listing, and refusals of a wrong secret (SignatureDoesNotMatch) and an
unknown key id (InvalidAccessKeyId). Then objects written by sluice's s3 sink are listed and
downloaded by the CLI and decode to every event: the emulator speaks what the real client
speaks, and so does the sink."""
import gzip
import json
import os
import subprocess

from harness import Sluice, WORK, free_port, log, wait_until
from s3_common import S3Emu, aws_env

emu = S3Emu()
EP = ["--endpoint-url", emu.base]


def aws(*a, env=None, ok=True):
    r = subprocess.run(["aws"] + EP + list(a), capture_output=True, text=True, timeout=120,
                       env=env or aws_env())
    if ok:
        assert r.returncode == 0, (a, r.returncode, r.stdout, r.stderr)
    return r


def api(*a):
    return json.loads(aws("s3api", *a).stdout or "{}")


d = os.path.join(WORK, "files")
os.makedirs(d)
small = os.path.join(d, "small.txt")
with open(small, "w") as f:
    f.write("hello s3\n")
big = os.path.join(d, "big.bin")
with open(big, "wb") as f:
    f.write(os.urandom(13 * 1024 * 1024))

aws("s3", "cp", "--no-progress", small, "s3://logs/cli/small.txt", "--sse", "aws:kms",
    "--sse-kms-key-id", "k1", "--storage-class", "STANDARD_IA")
aws("s3", "cp", "--no-progress", big, "s3://logs/cli/big.bin")
h = api("head-object", "--bucket", "logs", "--key", "cli/big.bin")
assert h["ContentLength"] == 13 * 1024 * 1024 and h["ETag"].endswith('-2"'), h  # 8 MiB + 5 MiB
h = api("head-object", "--bucket", "logs", "--key", "cli/small.txt")
assert h["ServerSideEncryption"] == "aws:kms" and h["SSEKMSKeyId"] == "k1", h
assert h["StorageClass"] == "STANDARD_IA", h
back = os.path.join(d, "big.back")
aws("s3", "cp", "--no-progress", "s3://logs/cli/big.bin", back)
with open(big, "rb") as a, open(back, "rb") as b:
    assert a.read() == b.read()
ls = aws("s3", "ls", "s3://logs/").stdout
assert "PRE cli/" in ls, ls
ls = aws("s3", "ls", "--recursive", "s3://logs/cli/").stdout
assert "cli/small.txt" in ls and "cli/big.bin" in ls, ls
page = api("list-objects-v2", "--bucket", "logs", "--max-keys", "1", "--prefix", "cli/")
assert page["IsTruncated"] and len(page["Contents"]) == 1, page
log("cp, head, ranged get, ls, SSE and storage class through the CLI")

# multipart by hand: a small non-last part, a wrong ETag, abort
up = api("create-multipart-upload", "--bucket", "logs", "--key", "cli/mp")["UploadId"]
e1 = api("upload-part", "--bucket", "logs", "--key", "cli/mp", "--upload-id", up,
         "--part-number", "1", "--body", small)["ETag"]
e2 = api("upload-part", "--bucket", "logs", "--key", "cli/mp", "--upload-id", up,
         "--part-number", "2", "--body", small)["ETag"]
parts = {"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]}
r = aws("s3api", "complete-multipart-upload", "--bucket", "logs", "--key", "cli/mp", "--upload-id",
        up, "--multipart-upload", json.dumps(parts), ok=False)
assert r.returncode != 0 and "EntityTooSmall" in r.stderr, r.stderr
bad = {"Parts": [{"PartNumber": 1, "ETag": '"0123"'}]}
r = aws("s3api", "complete-multipart-upload", "--bucket", "logs", "--key", "cli/mp", "--upload-id",
        up, "--multipart-upload", json.dumps(bad), ok=False)
assert r.returncode != 0 and "InvalidPart" in r.stderr, r.stderr
one = {"Parts": [{"PartNumber": 2, "ETag": e2}]}  # a last part alone may be small
api("complete-multipart-upload", "--bucket", "logs", "--key", "cli/mp", "--upload-id", up,
    "--multipart-upload", json.dumps(one))
up = api("create-multipart-upload", "--bucket", "logs", "--key", "cli/mp2")["UploadId"]
assert len(api("list-multipart-uploads", "--bucket", "logs").get("Uploads", [])) == 1
aws("s3api", "abort-multipart-upload", "--bucket", "logs", "--key", "cli/mp2", "--upload-id", up)
r = aws("s3api", "abort-multipart-upload", "--bucket", "logs", "--key", "cli/mp2", "--upload-id",
        up, ok=False)
assert r.returncode != 0 and "NoSuchUpload" in r.stderr, r.stderr
assert emu.stats()["uploads_open"] == 0
log("multipart by s3api: EntityTooSmall, InvalidPart, complete, abort")

# refusals: the signature is checked
r = aws("s3", "ls", "s3://logs/", env=aws_env(secret="wrong"), ok=False)
assert r.returncode != 0 and "SignatureDoesNotMatch" in r.stderr, r.stderr
r = aws("s3", "ls", "s3://logs/", env=aws_env(key="AKIDOTHER"), ok=False)
assert r.returncode != 0 and "InvalidAccessKeyId" in r.stderr, r.stderr
r = aws("s3", "ls", "s3://nobucket/", ok=False)
assert r.returncode != 0 and "NoSuchBucket" in r.stderr, r.stderr
st = emu.stats()
assert st["sig_fail"] == 2, st

# 503 SlowDown: the CLI retries it
emu.control(fail=2, status=503, code="SlowDown", ops=["PutObject"])
aws("s3", "cp", "--no-progress", small, "s3://logs/cli/slow.txt")
assert emu.stats()["answers"]["PutObject 503"] == 2
# eventual listing: a new object shows in the third listing
emu.control(list_delay=2)
aws("s3", "cp", "--no-progress", small, "s3://logs/cli/late.txt")
seen = [("late.txt" in aws("s3", "ls", "s3://logs/cli/").stdout) for _ in range(3)]
assert seen == [False, False, True], seen
emu.control(list_delay=0)
log("wrong secret / key id / bucket refused; SlowDown retried; eventual listing")

# ---- objects written by sluice, read by the CLI ------------------------------------------
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
N = 2000
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write(json.dumps({"message": "cli %05d" % i, "app": "a%d" % (i % 2)}) + "\n")
cfg = """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/a.log"] }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  s3:
    type: s3
    inputs: [p]
    bucket: logs
    endpoint: "%s"
    path_style: true
    key_prefix: "sluice/{{ app }}/"
    sse: AES256
    batch: { max_events: 300, timeout_ms: 100 }
""" % (WORK, free_port(), logs, emu.base)
s = Sluice(cfg, env=aws_env()).start()
wait_until(lambda: emu.count("sluice/") >= N, 60, "every event in S3")
assert s.stop() == 0
keys = [l.split()[-1] for l in aws("s3", "ls", "--recursive", "s3://logs/sluice/").stdout.splitlines()]
assert keys and all(k.endswith(".ndjson.gz") for k in keys), keys
got = []
for k in keys:
    out = os.path.join(d, "obj.gz")
    aws("s3", "cp", "--no-progress", "s3://logs/" + k, out)
    h = api("head-object", "--bucket", "logs", "--key", k)
    assert h["ServerSideEncryption"] == "AES256" and h["ContentEncoding"] == "gzip", h
    with open(out, "rb") as f:
        for line in gzip.decompress(f.read()).decode().splitlines():
            e = json.loads(line)
            assert k.startswith("sluice/%s/" % e["app"]), (k, e)
            got.append(e["message"])
assert sorted(got) == ["cli %05d" % i for i in range(N)], len(got)
log("%d objects written by sluice listed and read by the CLI: %d events" % (len(keys), N))
emu.stop()
print("ok")
