"""k8s_common.py - shared pieces of the kubernetes_logs tests: the kubelet emulator as a
process, a pipeline config, and matching sluice's NDJSON output against the manifest."""
import collections
import json
import os
import subprocess
import sys

from harness import PYTHON, ROOT, WORK, log, track

KUBELET = os.path.join(ROOT, "tests", "emulators", "kubelet.py")


def config(path, port, extra="", sink_extra="", rescan=500):
    return """data_dir: %s/data
shutdown_timeout: 10s
api: { address: "127.0.0.1:%d" }
sources:
  pods: { type: kubernetes_logs, path: "%s", rescan_interval_ms: %d, exclude_self: false%s }
sinks:
  out: { type: file, inputs: [pods], path: "%s/out.ndjson", id_key: _id,
         batch: { max_events: 500, timeout_ms: 50 }%s }
""" % (WORK, port, path, rescan, extra, WORK, sink_extra)


def start_kubelet(*args):
    p = track(subprocess.Popen([PYTHON, KUBELET] + [str(a) for a in args], stdout=subprocess.PIPE,
                               stderr=sys.stderr, text=True))
    first = p.stdout.readline()
    assert first.startswith("kubelet"), first
    return p


def finish_kubelet(p, timeout=300):
    out = p.stdout.read()
    assert p.wait(timeout=timeout) == 0, "kubelet emulator failed"
    log("kubelet:", out.strip())


def manifest(path):
    with open(path) as f:
        return [json.loads(l) for l in f]


def output(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return [json.loads(l) for l in data.split(b"\n") if l.strip()]


def count_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def check_metadata(want, got):
    assert got["kubernetes.namespace"] == want["ns"], (want, got)
    assert got["kubernetes.pod_name"] == want["pod"], (want, got)
    assert got["kubernetes.pod_uid"] == want["uid"], (want, got)
    assert got["kubernetes.container_name"] == want["container"], (want, got)
    assert got["kubernetes.restart_count"] == want["restart"], (want, got)
    assert got["stream"] == want["stream"], (want, got)
    assert isinstance(got["log.offset"], int), got
    assert "/%s_%s_%s/%s/%d.log" % (want["ns"], want["pod"], want["uid"], want["container"], want["restart"]) \
        in got["log.file.path"], (want, got)
    assert not got["timestamp"].startswith("1970"), got


def match(expected, got, exact=True):
    """Every expected message delivered with its metadata; returns the duplicate count."""
    want = {}
    for w in expected:
        assert w["message"] not in want, "emulator wrote a message twice"
        want[w["message"]] = w
    seen = collections.Counter()
    for g in got:
        m = g["message"]
        assert m in want, "unexpected event: %r" % (g,)
        check_metadata(want[m], g)
        seen[m] += 1
    missing = [m for m in want if seen[m] == 0]
    assert not missing, "%d of %d messages lost, e.g. %r" % (len(missing), len(want), missing[:3])
    dups = sum(c - 1 for c in seen.values())
    if exact:
        assert dups == 0, "%d duplicates" % dups
    return dups


def delivered_all(out, want):
    """True once every expected message is in the output (counting lines alone would be
    fooled by duplicates)."""
    if count_lines(out) < len(want):
        return False
    have = {g["message"] for g in output(out)}
    return all(w["message"] in have for w in want)
