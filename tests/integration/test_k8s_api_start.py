"""kubernetes_logs started on a node whose files already hold lines, with an API server slow
to list (as one is while a DaemonSet rolls out on every node at once): the backlog read at the
start carries its pod's labels, and the files of a pod annotated sluice.io/exclude, which no
position knows, are not read from their start. With an API that does not answer, the wait
is bounded by api_wait_ms and the lines go out with path metadata; a namespace list RBAC
refuses is not waited for. Every line is counted in and out."""
import os

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_api_common import Api, by_message, config, counter, pod_dir, write_lines, write_token

N = 3000
root = os.path.join(WORK, "pods")
os.makedirs(root)
write_token("tok-1")
api = Api("--token", "tok-1")
api.namespace("add", "shop", {"team": "payments"})
api.pod("add", "shop", "web-1", "u-web", labels={"app": "web"})
api.pod("add", "shop", "noisy-1", "u-noisy", annotations={"sluice.io/exclude": "true"})
api.ctl("slow", {"ms": 1500})
web = pod_dir(root, "shop", "web-1", "u-web")
noisy = pod_dir(root, "shop", "noisy-1", "u-noisy")
write_lines(web, ["web %d" % i for i in range(N)])
write_lines(noisy, ["noisy %d" % i for i in range(N)])

s = Sluice(config(root, free_port(), api.url), "k8s").start()
wait_until(lambda: s.counter("sluice_component_received_events_total", component_id="pods") >= N,
           60, "the backlog read")
wait_until(lambda: len(by_message()) >= N, 60, "the backlog delivered")
got = by_message()
assert len(got) == N, len(got)
bare = [m for m, g in got.items() if g.get("kubernetes.labels.app") != "web"]
assert not bare, "%d of %d backlog lines without the pod's labels, e.g. %r" % (
    len(bare), N, got[bare[0]])
assert all(g["kubernetes.namespace_labels.team"] == "payments" for g in got.values())
assert not any(m.startswith("noisy") for m in got), "the excluded pod's file was read"
assert s.counter("sluice_component_received_events_total", component_id="pods") == N
assert s.stop() == 0, s.log_text()[-2000:]

# An API that is down: reading starts after api_wait_ms, with path metadata alone (the
# excluded pod is not known then, so its file is read too).
api.stop()
write_lines(web, ["later %d" % i for i in range(10)])
s = Sluice(config(root, free_port(), api.url, extra="    api_wait_ms: 1000"), "k8s-down").start()
wait_until(lambda: len(by_message()) >= 2 * N + 10, 60, "the lines written while it was down")
assert "has not answered the first lists within 1000 ms" in s.log_text(), s.log_text()[-2000:]
got = by_message()
assert len(got) == 2 * N + 10, len(got)
later = got["later 3"]
assert later["kubernetes.pod_name"] == "web-1" and "kubernetes.labels.app" not in later, later
assert counter(s, "k8s_api_pod_lists") == 0
assert s.stop() == 0, s.log_text()[-2000:]

# RBAC without namespaces (a 403 on every namespace list): the pods' list is enough, and the
# start does not wait out api_wait_ms for an answer that will not change.
api = Api("--token", "tok-1")
api.pod("add", "shop", "web-1", "u-web", labels={"app": "web"})
api.ctl("forbid", {"resources": ["namespaces"]})
write_lines(web, ["forbidden %d" % i for i in range(10)])
s = Sluice(config(root, free_port(), api.url, extra="    api_wait_ms: 600s"), "k8s-rbac").start()
wait_until(lambda: len(by_message()) >= 2 * N + 20, 60, "the lines written while it was down")
got = by_message()
assert len(got) == 2 * N + 20, len(got)
f = got["forbidden 3"]
assert f["kubernetes.labels.app"] == "web" and "kubernetes.namespace_labels.team" not in f, f
assert "has not answered" not in s.log_text()
assert s.stop() == 0, s.log_text()[-2000:]
log("ok: the backlog at a start enriched, the excluded pod unread, the wait bounded")
api.stop()
