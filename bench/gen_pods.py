"""gen_pods.py - a kubelet-style tree for the kubernetes_logs benchmark:
<out>/<ns>_<pod>_<uid>/<container>/0.log in CRI format, mixed JSON and plain bodies of
80-1000 bytes (about 10% split into P/F parts). Every file starts with its own line, so no
two files share a fingerprint. Prints "lines=N bytes=B files=F"."""
import argparse
import json
import os
import random

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
ap.add_argument("--pods", type=int, default=100)
ap.add_argument("--containers", type=int, default=1, help="containers per pod")
ap.add_argument("--mb", type=float, default=500, help="total size")
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()
rnd = random.Random(a.seed)
ts = "2026-11-21T05:00:00.123456789Z"

# One block of lines reused by every file (after the file's own first line): generation
# stays fast and the bytes read are the same as distinct content.
block, block_events = [], 0
size = 0
while size < 256 << 10:
    n = rnd.randint(80, 1000)
    if rnd.random() < 0.5:
        body = json.dumps({"level": rnd.choice(["info", "warn", "error"]), "msg": "request done",
                           "path": "/api/v1/items/%d" % rnd.randint(1, 99999), "pad": ""})
        body = body[:-3] + "x" * max(0, n - len(body)) + '"}'
    else:
        body = "GET /api/v1/items/%d 200 %dms " % (rnd.randint(1, 99999), rnd.randint(1, 900))
        body += "y" * max(0, n - len(body))
    stream = "stderr" if rnd.random() < 0.1 else "stdout"
    if rnd.random() < 0.1 and len(body) > 200:
        cut = len(body) // 2
        block.append("%s %s P %s\n" % (ts, stream, body[:cut]))
        block.append("%s %s F %s\n" % (ts, stream, body[cut:]))
    else:
        block.append("%s %s F %s\n" % (ts, stream, body))
    block_events += 1
    size += len(block[-1])
block = "".join(block).encode()

files = a.pods * a.containers
per_file = int(a.mb * 1e6 / files)
reps = max(1, per_file // len(block))
events = nbytes = 0
for p in range(a.pods):
    d = os.path.join(a.out, "ns%d_pod-%d_%08d-0000-4000-8000-000000000000" % (p % 10, p, p))
    for c in range(a.containers):
        cd = os.path.join(d, "c%d" % c)
        os.makedirs(cd, exist_ok=True)
        with open(os.path.join(cd, "0.log"), "wb") as f:
            first = ("%s stdout F first line of pod %d container %d\n" % (ts, p, c)).encode()
            f.write(first)
            for _ in range(reps):
                f.write(block)
        events += 1 + reps * block_events
        nbytes += len(first) + reps * len(block)
print("lines=%d bytes=%d files=%d" % (events, nbytes, files))
