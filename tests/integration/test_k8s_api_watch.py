"""kubernetes_logs and the Kubernetes API watch: a pod added after the list enriches its
lines, a deleted pod's last lines still get its metadata, bookmarks move the resourceVersion, 410 Gone (an ERROR event in the stream, and an
HTTP 410 on resuming) makes sluice list again, the token file's rotation is picked up
without a 401, and a 401 (a token the server no longer takes) recovers once the file has
a good token. Every line is counted in and out."""
import os

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_api_common import (Api, by_message, config, counter, error, pod_dir, wait_messages,
                            write_lines, write_token)

root = os.path.join(WORK, "pods")
os.makedirs(root)
write_token("tok-1")
api = Api("--token", "tok-1", "--bookmark-ms", "200")
api.namespace("add", "shop", {"team": "payments"})
s = Sluice(config(root, free_port(), api.url), "k8s").start()
wait_until(lambda: counter(s, "k8s_api_pod_lists") >= 1 and counter(s, "k8s_api_namespace_lists") >= 1,
           60, "the first lists")
written = 0


def pod_lines(name, uid, tag, labels):
    """A pod known through the watch, then lines of it, enriched."""
    global written
    before = counter(s, "k8s_api_watch_events")
    api.pod("add", "shop", name, uid, labels=labels)
    wait_until(lambda: counter(s, "k8s_api_watch_events") >= before + 1, 60, "the ADDED event of " + name)
    msgs = ["%s %d" % (tag, i) for i in range(30)]
    write_lines(pod_dir(root, "shop", name, uid), msgs)
    written += len(msgs)
    got = wait_messages(msgs, "the lines of " + name)
    for m in msgs:
        for k, v in labels.items():
            assert got[m]["kubernetes.labels." + k] == v, got[m]
        assert got[m]["kubernetes.namespace_labels.team"] == "payments", got[m]


pod_lines("late-1", "u-late", "late", {"app": "late"})

# A deleted pod keeps its metadata for deleted_pod_grace_ms: its last lines, read after the
# DELETED event, are still enriched.
before = counter(s, "k8s_api_watch_events")
api.pod("add", "shop", "gone-1", "u-gone1", labels={"app": "gone"})
api.pod("delete", "shop", "gone-1", "u-gone1", labels={"app": "gone"})
wait_until(lambda: counter(s, "k8s_api_watch_events") >= before + 2, 60, "the ADDED and DELETED events")
write_lines(pod_dir(root, "shop", "gone-1", "u-gone1"), ["last words %d" % i for i in range(5)])
written += 5
got = wait_messages(["last words %d" % i for i in range(5)], "a deleted pod's last lines")
assert all(got["last words %d" % i]["kubernetes.labels.app"] == "gone" for i in range(5)), got
b = counter(s, "k8s_api_bookmarks")
wait_until(lambda: counter(s, "k8s_api_bookmarks") >= b + 2, 60, "bookmarks")

# 410 as an ERROR event in the stream: list again, then watch from the new list.
lists = counter(s, "k8s_api_pod_lists")
api.ctl("gone", {"mode": "event"})
wait_until(lambda: counter(s, "k8s_api_relists_gone") >= 1 and counter(s, "k8s_api_pod_lists") >= lists + 1,
           60, "a relist after the ERROR 410")
pod_lines("after-gone", "u-ag", "ag", {"app": "ag"})

# 410 as the HTTP status of a resumed watch.
lists = counter(s, "k8s_api_pod_lists")
gone = counter(s, "k8s_api_relists_gone")
api.ctl("gone", {"mode": "http"})
wait_until(lambda: counter(s, "k8s_api_relists_gone") >= gone + 1 and counter(s, "k8s_api_pod_lists") >= lists + 1,
           60, "a relist after the HTTP 410")
assert api.stats()["gone_sent"] >= 2
pod_lines("after-http-gone", "u-ahg", "ahg", {"app": "ahg"})

# Token rotation: the file changes, the next request carries the new token (no 401).
write_token("tok-2")
api.ctl("tokens", {"tokens": ["tok-1", "tok-2"]})
lists = counter(s, "k8s_api_pod_lists")
api.ctl("gone", {"mode": "event"})  # ends the open watches: the next requests are new
wait_until(lambda: counter(s, "k8s_api_pod_lists") >= lists + 1, 60, "a list after the rotation")
wait_until(lambda: "tok-2" in api.stats()["tokens_seen"], 60, "the rotated token used")
assert counter(s, "k8s_api_token_reloads") >= 1
assert api.stats()["unauthorized"] == 0, api.stats()
pod_lines("after-rotation", "u-ar", "ar", {"app": "ar"})

# The server stops taking the token in the file: 401s, until the file has one it takes.
api.ctl("tokens", {"tokens": ["tok-3"]})
lists = counter(s, "k8s_api_pod_lists")
api.ctl("gone", {"mode": "event"})
wait_until(lambda: api.stats()["unauthorized"] >= 2, 60, "401 answers")
wait_until(lambda: error(s, "k8s_api_status") >= 1, 60, "the 401s counted")
write_lines(pod_dir(root, "shop", "late-1", "u-late"), ["during 401 %d" % i for i in range(10)])
written += 10
wait_messages(["during 401 %d" % i for i in range(10)], "lines while the API refuses the token")
write_token("tok-3")
wait_until(lambda: counter(s, "k8s_api_pod_lists") >= lists + 1, 60, "a list with the new token")
pod_lines("after-401", "u-a401", "a401", {"app": "a401"})

wait_until(lambda: s.counter("sluice_component_received_events_total", component_id="pods") >= written,
           60, "every line read")
assert s.counter("sluice_component_received_events_total", component_id="pods") == written
assert s.stop() == 0
got = by_message()
assert len(got) == written, (len(got), written)
log("ok: watch adds, bookmarks, 410 event and HTTP 410 relists, token rotation and 401 (%d lines)" % written)
api.stop()
