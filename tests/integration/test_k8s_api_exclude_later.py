"""kubernetes_logs: a pod annotated sluice.io/exclude while sluice reads it, then let go again
(`kubectl annotate pod ... sluice.io/exclude=true`, later `sluice.io/exclude-`). Its file stays
tracked through the rescans in between, its lines read, skipped (counted) and committed, so
once the annotation is gone reading resumes where the pod is: nothing written while it was
excluded is delivered, and nothing delivered before is read again. Before, a rescan let the
file go; its lines were no longer read, those of the excluded time were delivered when the
annotation went, and a minute later (the position forgotten) the whole file again. Every line
is counted in and out."""
import os

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_api_common import (Api, by_message, config, counter, pod_dir, wait_messages,
                            write_lines, write_token)

root = os.path.join(WORK, "pods")
os.makedirs(root)
write_token("tok-1")
api = Api("--token", "tok-1")
api.pod("add", "shop", "web-1", "u-web", labels={"app": "web"})
api.pod("add", "shop", "marker-1", "u-marker")
web = pod_dir(root, "shop", "web-1", "u-web")
# rotate_wait_ms 0: a file the scan no longer offers is let go as soon as it is read
s = Sluice(config(root, free_port(), api.url, extra="    rotate_wait_ms: 0"), "k8s").start()
wait_until(lambda: counter(s, "k8s_api_pod_lists") >= 1, 60, "the pod list")
write_lines(web, ["a %d" % i for i in range(10)])
wait_messages(["a %d" % i for i in range(10)])

before = counter(s, "k8s_api_watch_events")
api.pod("modify", "shop", "web-1", "u-web", labels={"app": "web"},
        annotations={"sluice.io/exclude": "true"})
wait_until(lambda: counter(s, "k8s_api_watch_events") > before, 60, "the annotation")
# A new pod's line delivered: a scan ran after the annotation was known, and a read after it.
write_lines(pod_dir(root, "shop", "marker-1", "u-marker"), ["marker"])
wait_messages(["marker"])
write_lines(web, ["excluded %d" % i for i in range(10)])
wait_until(lambda: counter(s, "excluded_lines") >= 10, 60, "the excluded lines read and skipped")

before = counter(s, "k8s_api_watch_events")
api.pod("modify", "shop", "web-1", "u-web", labels={"app": "web"}, annotations={})
wait_until(lambda: counter(s, "k8s_api_watch_events") > before, 60, "the annotation removed")
write_lines(web, ["b %d" % i for i in range(10)])
got = wait_messages(["b %d" % i for i in range(10)])
assert not any(m.startswith("excluded") for m in got), "lines of the excluded time delivered"
assert len(got) == 21, sorted(got)  # by_message fails on a duplicate
assert counter(s, "excluded_lines") == 10
assert s.counter("sluice_component_received_events_total", component_id="pods") == 31
assert s.stop() == 0, s.log_text()[-2000:]
log("ok: an excluded pod's file stays tracked; the annotation's removal resumes it in place")
api.stop()
