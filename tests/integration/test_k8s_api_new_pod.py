"""kubernetes_logs: a pod whose log directory appears before the API watch has told of it
(the watch lagging behind a relist or a slow API server while a Deployment scales up). Its
lines went out at once with path metadata alone: no labels, no owner, and an excluded pod's
lines were read. Its files now wait for the pod, at most pod_wait_ms from the directory's
creation; a pod the API never tells of is read after that with path metadata, said once and
counted (pod_unknown). Every line is counted in and out."""
import os

from harness import WORK, Sluice, free_port, log, wait_until
from k8s_api_common import Api, by_message, config, error, pod_dir, wait_messages, write_lines, write_token

root = os.path.join(WORK, "pods")
os.makedirs(root)
write_token("tok-1")
api = Api("--token", "tok-1")
api.pod("add", "shop", "web-1", "u-web", labels={"app": "web"})
web = pod_dir(root, "shop", "web-1", "u-web")
write_lines(web, ["web %d" % i for i in range(10)])

s = Sluice(config(root, free_port(), api.url, extra="    pod_wait_ms: 600s"), "k8s").start()
wait_messages(["web %d" % i for i in range(10)], "the known pod's lines")

# A new pod on disk, not yet in the API: its lines wait for it.
new = pod_dir(root, "shop", "new-1", "u-new")
write_lines(new, ["new %d" % i for i in range(100)])
wait_until(lambda: "pod shop/new-1: not known to the Kubernetes API yet" in s.log_text(), 60,
           "the new pod waiting for the API")
write_lines(web, ["web more %d" % i for i in range(10)])
wait_messages(["web more %d" % i for i in range(10)], "the known pod's later lines")
assert not any(m.startswith("new ") for m in by_message()), "read before the API told of it"

api.pod("add", "shop", "new-1", "u-new", labels={"app": "new"})
got = wait_messages(["new %d" % i for i in range(100)], "the new pod's lines")
bare = [m for m in got if m.startswith("new ") and got[m].get("kubernetes.labels.app") != "new"]
assert not bare, "%d lines of the new pod without its labels, e.g. %r" % (len(bare), got[bare[0]])
assert "pod shop/new-1: the API told of it" in s.log_text()
assert len(got) == 120, len(got)
assert s.stop() == 0, s.log_text()[-2000:]

# A pod the API never tells of: read after pod_wait_ms with path metadata, once said.
s = Sluice(config(root, free_port(), api.url, extra="    pod_wait_ms: 1s"), "k8s-ghost").start()
write_lines(web, ["web again %d" % i for i in range(10)])
wait_messages(["web again %d" % i for i in range(10)], "a line after the first walk")
ghost = pod_dir(root, "shop", "ghost-1", "u-ghost")
write_lines(ghost, ["ghost %d" % i for i in range(50)])
got = wait_messages(["ghost %d" % i for i in range(50)], "the unknown pod's lines")
g = got["ghost 7"]
assert g["kubernetes.pod_name"] == "ghost-1" and "kubernetes.labels.app" not in g, g
text = s.log_text()
assert "pod shop/ghost-1: not known to the Kubernetes API yet" in text, text[-2000:]
assert "pod shop/ghost-1: not known to the Kubernetes API after 1000 ms" in text, text[-2000:]
assert error(s, "pod_unknown") == 1
assert len(got) == 180, len(got)
assert s.stop() == 0, s.log_text()[-2000:]
log("ok: a new pod's lines wait for its metadata; an unknown pod is read after pod_wait_ms")
api.stop()
