"""kubernetes_logs with the Kubernetes API on a control-plane node: a static pod (etcd,
kube-apiserver from /etc/kubernetes/manifests) logs under the uid kubelet gave it, the hash
of its manifest, while the API knows its mirror pod under another uid, with that hash in the
annotation kubernetes.io/config.mirror. Its lines get the mirror pod's labels, read from the
pod directories and through the /var/log/containers links alike; a pod of the same name and
namespace with another uid does not lend its metadata. Every line is counted in and out."""
import os

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_api_common import (Api, NODE, by_message, config, counter, pod_dir, wait_messages,
                            write_lines, write_token)

HASH = "9f2c4e1a7b3d5f60c8e2a4b6d8f0a1c3"
root = os.path.join(WORK, "pods")
links = os.path.join(WORK, "containers")
os.makedirs(root)
os.makedirs(links)
write_token("tok-1")
api = Api("--token", "tok-1")
api.pod("add", "kube-system", "etcd-" + NODE, "6d1f0b52-3c4e-4b8a-9a7e-2f1d3c5b7a90",
        labels={"component": "etcd", "tier": "control-plane"},
        annotations={"kubernetes.io/config.mirror": HASH, "kubernetes.io/config.hash": HASH,
                     "kubernetes.io/config.source": "file"},
        owner=("Node", NODE))
etcd = pod_dir(root, "kube-system", "etcd-" + NODE, HASH, "etcd")
# a pod directory left by an earlier static pod of the same name (another manifest)
old = pod_dir(root, "kube-system", "etcd-" + NODE, "0123456789abcdef0123456789abcdef", "etcd")

# The links run resumes the etcd file where the pods run left it (same inode, same data_dir).
for name, path in (("pods", root), ("links", links)):
    s = Sluice(config(path, free_port(), api.url), "k8s-" + name).start()
    wait_until(lambda: counter(s, "k8s_api_pod_lists") >= 1, 60, "the pod list")
    if name == "links":
        os.symlink(etcd, os.path.join(links, "etcd-%s_kube-system_etcd-%s.log" % (NODE, "c" * 64)))
    write_lines(etcd, ["%s etcd %d" % (name, i) for i in range(20)])
    write_lines(old, ["%s old %d" % (name, i) for i in range(5)])
    want = ["%s etcd %d" % (name, i) for i in range(20)]
    if name == "pods":
        want += ["%s old %d" % (name, i) for i in range(5)]
    got = wait_messages(want)
    e = got["%s etcd 7" % name]
    assert e["kubernetes.labels.component"] == "etcd", e
    assert e["kubernetes.labels.tier"] == "control-plane", e
    assert e["kubernetes.owner.kind"] == "Node" and e["kubernetes.host"] == NODE, e
    assert e["kubernetes.pod_uid"] == HASH, e
    if name == "pods":
        o = got["pods old 2"]
        assert not any(k.startswith("kubernetes.labels.") for k in o), o
    assert s.stop() == 0, s.log_text()[-2000:]
    os.rename(os.path.join(WORK, "out.ndjson"), os.path.join(WORK, "out-%s.ndjson" % name))
assert len(by_message(os.path.join(WORK, "out-pods.ndjson"))) == 25
assert len(by_message(os.path.join(WORK, "out-links.ndjson"))) == 20
log("ok: a static pod's lines carry its mirror pod's metadata")
api.stop()
