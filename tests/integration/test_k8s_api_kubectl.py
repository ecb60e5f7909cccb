"""The Kubernetes API emulator checked against the real client: kubectl, pointed at it with
a kubeconfig and the bearer token, lists pods (all namespaces, one namespace, by
fieldSelector=spec.nodeName) and namespaces, and a `kubectl get pods --watch
--output-watch-events -o json` sees ADDED, MODIFIED and DELETED as the emulator streams them.
A wrong token is refused (401). Served over HTTPS with a test CA (kubectl sends a bearer token
over TLS only), which sluice then lists from too, trusting that CA (ca_file). What sluice is
tested against is what kubectl accepts."""
import json
import os
import queue
import subprocess
import threading

from harness import Sluice, WORK, free_port, log, track, wait_until
from k8s_api_common import Api, config, counter, write_token
from redis_server import make_certs

certs = make_certs(os.path.join(WORK, "certs"))
api = Api("--token", "tok-k", "--bookmark-ms", "200", tls=(certs["server.pem"], certs["server.key"]))
api.namespace("add", "shop", {"team": "payments"})
api.namespace("add", "batch", {})
api.pod("add", "shop", "web-1", "u-web", labels={"app": "web"}, owner=("ReplicaSet", "web-7d9f8c6b5d"))
api.pod("add", "shop", "db-0", "u-db", node="node-b", labels={"app": "db"})
api.pod("add", "batch", "job-1", "u-job", labels={"app": "job"})


def kubeconfig(token):
    path = os.path.join(WORK, "kubeconfig-" + token)
    with open(path, "w") as f:
        f.write("""apiVersion: v1
kind: Config
clusters: [{name: emu, cluster: {server: "%s", certificate-authority: "%s"}}]
users: [{name: u, user: {token: "%s"}}]
contexts: [{name: c, context: {cluster: emu, user: u, namespace: shop}}]
current-context: c
""" % (api.url, certs["ca.pem"], token))
    return path


KC = kubeconfig("tok-k")
BASE = ["kubectl", "--kubeconfig", KC, "--cache-dir", os.path.join(WORK, "kcache"), "--request-timeout=30s"]


def kubectl(*a, kc=None):
    cmd = list(BASE) + list(a)
    if kc:
        cmd[2] = kc
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def names(out):
    return sorted(i["metadata"]["name"] for i in json.loads(out)["items"])


r = kubectl("get", "pods", "-A", "-o", "json")
assert r.returncode == 0, r.stderr
assert names(r.stdout) == ["db-0", "job-1", "web-1"], r.stdout
web = [i for i in json.loads(r.stdout)["items"] if i["metadata"]["name"] == "web-1"][0]
assert web["metadata"]["labels"] == {"app": "web"} and web["spec"]["nodeName"] == "node-a", web
assert web["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet", web
r = kubectl("get", "pods", "-o", "json")  # the context's namespace: shop
assert r.returncode == 0 and names(r.stdout) == ["db-0", "web-1"], (r.stdout, r.stderr)
r = kubectl("get", "pods", "-A", "--field-selector", "spec.nodeName=node-a", "-o", "json")
assert r.returncode == 0 and names(r.stdout) == ["job-1", "web-1"], (r.stdout, r.stderr)
r = kubectl("get", "namespaces", "-o", "json")
assert r.returncode == 0 and names(r.stdout) == ["batch", "shop"], (r.stdout, r.stderr)
rv = web["metadata"]["resourceVersion"]
assert rv.isdigit(), web

r = kubectl("get", "pods", "-A", "-o", "json", kc=kubeconfig("wrong"))
assert r.returncode != 0 and ("Unauthorized" in r.stderr or "logged in" in r.stderr), r.stderr
assert api.stats()["unauthorized"] >= 1

# The watch: kubectl lists, then watches from the list's resourceVersion.
p = track(subprocess.Popen(BASE + ["get", "pods", "-A", "--watch", "--output-watch-events", "-o", "json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
q = queue.Queue()
threading.Thread(target=lambda: [q.put(c) for c in iter(lambda: p.stdout.read(1), "")], daemon=True).start()
events = []
buf = ""
dec = json.JSONDecoder()


def seen(typ, name):
    global buf
    while not q.empty():
        buf += q.get()
    while True:
        s = buf.lstrip()
        if not s:
            break
        try:
            obj, end = dec.raw_decode(s)
        except ValueError:
            break
        events.append((obj["type"], obj["object"]["metadata"]["name"], obj["object"]))
        buf = s[end:]
    return any(t == typ and n == name for t, n, _ in events)


wait_until(lambda: seen("ADDED", "web-1") and seen("ADDED", "job-1"), 60, "kubectl's initial pods")
wait_until(lambda: api.stats()["open_watches"] >= 1, 60, "kubectl watching")
api.pod("add", "shop", "new-1", "u-new", labels={"app": "new"})
wait_until(lambda: seen("ADDED", "new-1"), 60, "the ADDED event in kubectl")
api.pod("modify", "shop", "new-1", "u-new", labels={"app": "new", "v": "2"})
wait_until(lambda: seen("MODIFIED", "new-1"), 60, "the MODIFIED event in kubectl")
api.pod("delete", "shop", "new-1", "u-new")
wait_until(lambda: seen("DELETED", "new-1"), 60, "the DELETED event in kubectl")
mod = [o for t, n, o in events if t == "MODIFIED" and n == "new-1"][0]
assert mod["metadata"]["labels"] == {"app": "new", "v": "2"}, mod
assert int(mod["metadata"]["resourceVersion"]) > int(rv), mod
p.terminate()
p.wait(timeout=30)
assert api.stats()["watches"]["pods"] >= 1

# sluice over the same HTTPS, trusting the test CA: this node's pods listed and watched.
root = os.path.join(WORK, "pods")
os.makedirs(root)
write_token("tok-k")
s = Sluice(config(root, free_port(), api.url, extra="    ca_file: \"%s\"" % certs["ca.pem"]), "k8s").start()
wait_until(lambda: counter(s, "k8s_api_pod_lists") >= 1 and counter(s, "k8s_api_namespace_lists") >= 1,
           60, "sluice's lists over HTTPS")
wait_until(lambda: api.stats()["open_watches"] >= 2, 60, "sluice's watches over HTTPS")
st = s.component("pods")["kubernetes_api"]
assert st["pods"] == 2 and st["namespaces"] == 2, st  # web-1 and job-1 are on node-a
assert s.stop() == 0
log("ok: kubectl lists and watches the emulator (%d watch events)" % len(events))
api.stop()
