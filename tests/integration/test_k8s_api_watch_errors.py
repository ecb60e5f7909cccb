"""kubernetes_logs against an API server whose watches end with an ERROR event other than 410
Gone (an etcd timeout, 500; a watch cache behind the client's resourceVersion, 504 "Too large
resource version"): each is logged and counted, and the watch is asked again after the
backoff, not at once (it came back as fast as the server could answer, from every node, and
said nothing). Once the server answers again, changes reach the events. Every line is
counted in and out."""
import os

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_api_common import (Api, by_message, config, counter, error, pod_dir, wait_messages,
                            write_lines, write_token)

root = os.path.join(WORK, "pods")
os.makedirs(root)
write_token("tok-1")
api = Api("--token", "tok-1")
api.pod("add", "shop", "web-1", "u-web", labels={"app": "web"})
web = pod_dir(root, "shop", "web-1", "u-web")
s = Sluice(config(root, free_port(), api.url, extra="    namespace_labels: false"), "k8s").start()
wait_until(lambda: api.stats()["open_watches"] >= 1, 60, "the pod watch")
write_lines(web, ["before %d" % i for i in range(10)])
wait_messages(["before %d" % i for i in range(10)])

# The open watch ends with 410 (relist); the next four watches end with an ERROR each.
errors = [500, 504, 500, 504]
for code in errors:
    api.ctl("watch_error", {"count": 1, "code": code})
first = api.stats()["watches"]["pods"]
api.ctl("gone", {"mode": "event"})
wait_until(lambda: counter(s, "k8s_api_relists_gone") >= 1, 60, "the relist after 410")
wait_until(lambda: error(s, "k8s_api_watch_error") >= len(errors), 60, "the ERROR events")
wait_until(lambda: api.stats()["open_watches"] >= 1, 60, "a watch that works again")
assert error(s, "k8s_api_watch_error") == len(errors)
at = api.stats()["watch_at"]["pods"][first:]
assert len(at) == len(errors) + 1, at  # four that failed and the one open now
# The backoff starts at 250 ms: each watch after a failed one waited for it.
gaps = [b - a for a, b in zip(at, at[1:])]
assert all(g >= 0.2 for g in gaps), "watched again without a backoff: %r" % gaps
text = s.log_text()
assert "the watch ended with an ERROR event (code 500): etcdserver: request timed out" in text, text[-2000:]

# Changes reach the events again.
before = counter(s, "k8s_api_watch_events")
api.pod("modify", "shop", "web-1", "u-web", labels={"app": "web", "version": "v2"})
wait_until(lambda: counter(s, "k8s_api_watch_events") > before, 60, "the MODIFIED event")
write_lines(web, ["after %d" % i for i in range(10)])
got = wait_messages(["after %d" % i for i in range(10)])
assert got["after 4"]["kubernetes.labels.version"] == "v2", got["after 4"]
assert got["before 4"]["kubernetes.labels.app"] == "web", got["before 4"]
assert len(by_message()) == 20
assert s.counter("sluice_component_received_events_total", component_id="pods") == 20
assert s.stop() == 0, s.log_text()[-2000:]
log("ok: watch ERROR events logged, counted and retried after the backoff")
api.stop()
