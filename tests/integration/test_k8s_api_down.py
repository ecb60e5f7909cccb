"""kubernetes_logs when the Kubernetes API is down, failing or slow: events flow once
api_wait_ms has passed, with path metadata alone, and are enriched once the API answers;
failed (500), hung (timeout) and slow lists are retried with backoff while lines keep
flowing. Every line is counted in and out."""
import os

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_api_common import (Api, by_message, config, counter, error, pod_dir, wait_messages,
                            write_lines, write_token)

root = os.path.join(WORK, "pods")
os.makedirs(root)
write_token("tok-1")
port = free_port()  # nothing listens here yet: the API is down
s = Sluice(config(root, free_port(), "http://127.0.0.1:%d" % port, extra="    api_wait_ms: 500"),
           "k8s").start()
web = pod_dir(root, "shop", "web-1", "u-web")
write_lines(web, ["down %d" % i for i in range(50)])
got = wait_messages(["down %d" % i for i in range(50)], "lines while the API is down")
assert all(g["kubernetes.pod_name"] == "web-1" and "kubernetes.labels.app" not in g for g in got.values())
wait_until(lambda: error(s, "k8s_api_unreachable") >= 2, 60, "failed connections retried")

# The API comes up, but its first answers fail (500), then one hangs past api_timeout_ms,
# then lists are slow: lines keep flowing all along.
api = Api("--port", port, "--token", "tok-1", "--bookmark-ms", "200")
api.ctl("fail", {"count": 3, "status": 500})
api.ctl("fail", {"count": 1, "hang": True})
api.ctl("slow", {"ms": 1500})
api.namespace("add", "shop", {"team": "payments"})
api.pod("add", "shop", "web-1", "u-web", labels={"app": "web"})
write_lines(web, ["while failing %d" % i for i in range(50)])
wait_messages(["while failing %d" % i for i in range(50)], "lines while the API fails")
wait_until(lambda: api.stats()["failed"] >= 4, 60, "the injected failures answered")
wait_until(lambda: counter(s, "k8s_api_pod_lists") >= 1 and counter(s, "k8s_api_namespace_lists") >= 1,
           60, "the lists after the failures")
assert error(s, "k8s_api_status") >= 1, "500s not counted"

write_lines(web, ["up %d" % i for i in range(50)])
got = wait_messages(["up %d" % i for i in range(50)], "lines once the API is up")
for i in range(50):
    g = got["up %d" % i]
    assert g["kubernetes.labels.app"] == "web" and g["kubernetes.namespace_labels.team"] == "payments", g

wait_until(lambda: s.counter("sluice_component_received_events_total", component_id="pods") >= 150,
           60, "every line read")
assert s.counter("sluice_component_received_events_total", component_id="pods") == 150
assert s.stop() == 0
got = by_message()
assert len(got) == 150, len(got)
log("ok: API down, failing, hung and slow: every line delivered, enriched once it answers")
api.stop()
