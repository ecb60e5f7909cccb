"""kubernetes_logs through copytruncate rotation (N.log copied to N.log.<time>, then truncated
in place) in the /var/log/containers symlink layout: every line delivered, with the metadata
taken from the link names and their targets; a message whose parts straddle the truncation is
re-read whole from the copy, and lines replayed that way keep their event ids, so after
deduplicating by id every line is there exactly once. K8S_LINES scales the run."""
import collections
import os

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_common import config, delivered_all, finish_kubelet, manifest, match, output, start_kubelet

LINES = int(os.environ.get("K8S_LINES", "3000"))
pods = os.path.join(WORK, "pods")
links = os.path.join(WORK, "containers")
os.makedirs(pods)
man = os.path.join(WORK, "manifest.ndjson")
out = os.path.join(WORK, "out.ndjson")

s = Sluice(config(links, free_port()), "k8s").start()
k = start_kubelet("--root", pods, "--links", links, "--manifest", man, "--pods", 20, "--lines", LINES,
                  "--rate", 1500, "--format", "mixed", "--rotate-bytes", 40000, "--split", 1000,
                  "--long-every", 40, "--long-len", 2500, "--copytruncate", "--seed", 21)
finish_kubelet(k)
want = manifest(man)
wait_until(lambda: delivered_all(out, want), 120, "every event delivered", interval=0.3)
assert s.stop() == 0, s.log_text()[-2000:]
got = output(out)
# match() checks the pods-layout path; here events name the link: check its fields instead
for g in got:
    if g["log.file.path"].startswith(links):  # read through the link (copies are read directly)
        assert len(g["kubernetes.container_id"]) == 64, g
    g["log.file.path"] = "/%s_%s_%s/%s/%d.log" % (g["kubernetes.namespace"], g["kubernetes.pod_name"],
                                                  g["kubernetes.pod_uid"], g["kubernetes.container_name"],
                                                  g["kubernetes.restart_count"])
dups = match(want, got, exact=False)
assert dups <= 20 * 3, dups  # only lines next to a message cut by a truncation
by_id = collections.OrderedDict()
for g in got:
    if g["_id"] in by_id:
        assert by_id[g["_id"]]["message"] == g["message"], (by_id[g["_id"]], g)
    by_id.setdefault(g["_id"], g)
match(want, list(by_id.values()), exact=True)
log("ok:", len(got), "events,", dups, "replayed with their ids, exactly once after dedupe")
