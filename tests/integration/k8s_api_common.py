"""k8s_api_common.py - shared pieces of the kubernetes_logs API metadata tests: the API server
emulator, pods in it and on disk, a pipeline config with the API options, counters."""
import json
import os

from harness import Emulator, WORK, http_json, wait_until

T = "2024-05-01T12:00:00Z"
NODE = "node-a"
TOKEN_FILE = os.path.join(WORK, "token")


def write_token(tok):
    """Replaces the token file the way kubelet rotates a projected token (a new file moved
    into place)."""
    tmp = TOKEN_FILE + ".tmp"
    with open(tmp, "w") as f:
        f.write(tok + "\n")
    os.replace(tmp, TOKEN_FILE)


class Api:
    """The emulator; tls=(cert, key) serves HTTPS (the control calls then skip verification)."""

    def __init__(self, *args, tls=None):
        a = [str(x) for x in args] + (["--tls", tls[0], tls[1]] if tls else [])
        self.emu = Emulator("k8s_api_emulator.py", *a)
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.emu.port)
        self.ctx = None
        if tls:
            import ssl
            self.ctx = ssl.create_default_context()
            self.ctx.check_hostname = False
            self.ctx.verify_mode = ssl.CERT_NONE

    def ctl(self, what, body=None):
        if self.ctx is None:
            return http_json(self.url + "/_ctl/" + what, body)
        import urllib.request
        req = urllib.request.Request(self.url + "/_ctl/" + what, method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10, context=self.ctx) as r:
            return json.loads(r.read().decode() or "null")

    def pod(self, op, ns, name, uid, node=NODE, labels=None, annotations=None, owner=None,
            containers=None, init_containers=None, statuses=None):
        """containers, init_containers: {name: image} for the pod's spec; statuses: {name:
        (restartCount, containerID, the last instance's containerID or None)} for its status."""
        md = {"name": name, "namespace": ns, "uid": uid, "labels": labels or {},
              "annotations": annotations or {}}
        if owner:
            md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner[0], "name": owner[1],
                                      "uid": "o-" + uid, "controller": True}]
        spec = {"nodeName": node}
        for key, cs in (("containers", containers), ("initContainers", init_containers)):
            if cs:
                spec[key] = [{"name": n, "image": i, "imagePullPolicy": "IfNotPresent"}
                             for n, i in cs.items()]
        pod = {"metadata": md, "spec": spec}
        if statuses:
            pod["status"] = {"containerStatuses": [
                dict({"name": n, "restartCount": rc, "containerID": cid, "ready": True},
                     **({"lastState": {"terminated": {"containerID": last, "exitCode": 1}}}
                        if last else {}))
                for n, (rc, cid, last) in statuses.items()]}
        return self.ctl("pod", {"op": op, "pod": pod})

    def namespace(self, op, name, labels=None):
        return self.ctl("namespace", {"op": op, "namespace": {"metadata": {"name": name, "labels": labels or {}}}})

    def stats(self):
        return self.ctl("stats")

    def stop(self):
        self.emu.stop()


def pod_dir(root, ns, pod, uid, ctr="app"):
    d = os.path.join(root, "%s_%s_%s" % (ns, pod, uid), ctr)
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, "0.log")


def write_lines(path, msgs, stream="stdout"):
    with open(path, "a") as f:
        for m in msgs:
            f.write("%s %s F %s\n" % (T, stream, m))


def config(root, api_port, api_url, extra="", rescan=300):
    """extra: more option lines of the source, indented by four spaces."""
    return """data_dir: %s/data
shutdown_timeout: 10s
api: { address: "127.0.0.1:%d" }
sources:
  pods:
    type: kubernetes_logs
    path: "%s"
    rescan_interval_ms: %d
    exclude_self: false
    api_url: "%s"
    token_file: "%s"
    node_name: "%s"
    api_timeout_ms: 2000
    api_backoff_max_ms: 500
%s
sinks:
  out: { type: file, inputs: [pods], path: "%s/out.ndjson", batch: { max_events: 500, timeout_ms: 50 } }
""" % (WORK, api_port, root, rescan, api_url, TOKEN_FILE, NODE, extra, WORK)


def counter(s, name):
    """A component counter of the source (0 before its series exists)."""
    want = ('component_id="pods"', 'name="%s"' % name)
    for line in s.get("/metrics")[1].splitlines():
        if line.startswith("sluice_component_counter_total{") and all(w in line for w in want):
            return float(line.rsplit(" ", 1)[1])
    return 0


def error(s, reason):
    return s.counter("sluice_component_errors_total", component_id="pods", reason=reason)


def output(path=None):
    path = path or os.path.join(WORK, "out.ndjson")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    # Complete lines only: the file sink may be writing the last one as it is read.
    data = data[: data.rfind(b"\n") + 1]
    return [json.loads(l) for l in data.split(b"\n") if l.strip()]


def by_message(path=None):
    out = {}
    for g in output(path):
        assert g["message"] not in out, "duplicate %r" % g["message"]
        out[g["message"]] = g
    return out


def wait_messages(msgs, what="the lines"):
    wait_until(lambda: all(m in by_message() for m in msgs), 60, what)
    return by_message()
