"""`sluice run > out.ndjson` (and `>>` onto a file that holds lines already) on a disk that fills
(a file-size limit on the process): the stdout sink's write stops part-way through a request.
What a reader of the file sees afterwards is whole lines, each once: the torn end of the failed
write is cut off and the lines written whole before it are not written again, so once space
returns the file holds what it held before and every line of the input exactly once, in order,
and every line parses."""
import json
import os
import resource
import shutil
import subprocess

from harness import SLUICE, WORK, api_get, free_port, log, track, wait_until

N = 20000
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("full %06d %s\n" % (i, "d" * 60))  # about 1.4 MB of output in all
want = ["full %06d %s" % (i, "d" * 60) for i in range(N)]
LIMIT = 300000  # the output stops growing here, in the middle of a request
HEAD = [json.dumps({"message": "written before, line %d" % i}) for i in range(1000)]


def run(mode):
    port = free_port()
    api = "127.0.0.1:%d" % port
    cfg = os.path.join(WORK, "sluice.yaml")
    shutil.rmtree(os.path.join(WORK, "data"), ignore_errors=True)
    with open(cfg, "w") as f:
        f.write("""
data_dir: %s/data
api: { address: "%s" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  out:
    type: stdout
    inputs: [in]
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 0 }
""" % (WORK, api, logs))
    out_path = os.path.join(WORK, "out-%s.ndjson" % mode)
    head = HEAD if mode == "ab" else []
    with open(out_path, "w") as f:
        f.write("".join(h + "\n" for h in head))
    out = open(out_path, mode)  # "wb" as the shell's '>' opens it, "ab" as '>>'
    err = open(os.path.join(WORK, "sluice-%s.log" % mode), "wb")
    p = track(subprocess.Popen(
        [SLUICE, "run", "-c", cfg], stdout=out, stderr=err,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE,
                                              (LIMIT, resource.RLIM_INFINITY))))

    def write_errors():
        try:
            text = api_get(api, "/metrics")[1]
        except OSError:
            return 0
        return sum(float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines()
                   if ln.startswith("sluice_component_errors_total{")
                   and 'component_id="out"' in ln and 'reason="write"' in ln)

    def lines():
        with open(out_path, "rb") as f:
            return f.read().count(b"\n")

    try:
        wait_until(lambda: write_errors() >= 3, 120, "the stdout sink to fail its writes")
        log(mode, ": output stopped at", os.path.getsize(out_path), "bytes")
        resource.prlimit(p.pid, resource.RLIMIT_FSIZE,
                         (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        wait_until(lambda: lines() >= len(head) + N, 120, "every line after space returned")
    finally:
        p.terminate()
        rc = p.wait(timeout=120)
    assert rc == 0, rc
    got = []
    with open(out_path, "rb") as f:
        for raw in f.read().split(b"\n")[:-1]:
            got.append(json.loads(raw)["message"])  # a torn line does not parse
    expect = [json.loads(h)["message"] for h in head] + want
    assert got == expect, "%s: %d lines, %d repeated, first wrong at %s" % (
        mode, len(got), len(got) - len(set(got)),
        next((i for i, (a, b) in enumerate(zip(got, expect)) if a != b), len(got)))
    log("ok (%s): %d lines, each once, through a full disk" % (mode, len(got)))


run("wb")
run("ab")
