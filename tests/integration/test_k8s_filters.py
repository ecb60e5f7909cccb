"""kubernetes_logs filters and permissions: include/exclude globs on namespace, pod and
container, exclude_self ($POD_NAME / $POD_NAMESPACE), and a log file sluice may not read
(permission denied: counted, logged, the other files flow). sluice runs as an unprivileged
user when the test runs as root, so file modes apply."""
import os
import subprocess

from harness import SLUICE, Sluice, WORK, free_port, log, wait_until
from k8s_common import count_lines, output

root = os.path.join(WORK, "pods")
T = "2024-05-01T12:00:00Z"
files = {
    ("shop", "web-1", "app"): True,
    ("shop", "web-1", "istio-proxy"): False,  # excluded container
    ("shop", "batch-7", "app"): False,         # excluded pod
    ("kube-system", "dns-1", "dns"): False,    # namespace not included
    ("logging", "sluice-abc", "sluice"): False,  # ourselves
    ("logging", "other-1", "app"): True,
    ("shop", "locked-1", "app"): False,        # unreadable file
}
for (ns, pod, ctr), _ in files.items():
    d = os.path.join(root, "%s_%s_uid-%s" % (ns, pod, pod), ctr)
    os.makedirs(d)
    p = os.path.join(d, "0.log")
    with open(p, "w") as f:
        f.write("%s stdout F %s/%s/%s\n" % (T, ns, pod, ctr))
    os.chmod(p, 0 if pod == "locked-1" else 0o644)
os.chmod(WORK, 0o777)
for dirpath, dirnames, _ in os.walk(root):
    os.chmod(dirpath, 0o755)


class Unprivileged(Sluice):
    def start(self):
        import harness
        self.logf = open(self.log_path, "ab")
        cmd = [SLUICE, "run", "-c", self.config]
        if os.geteuid() == 0:
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + cmd
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=subprocess.STDOUT, env=self.env)
        harness.wait_until(self.ready, 30, "sluice API to answer")
        return self


out = os.path.join(WORK, "out.ndjson")
s = Unprivileged("""data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  pods:
    type: kubernetes_logs
    path: "%s"
    rescan_interval_ms: 300
    include_namespaces: ["shop", "log*"]
    exclude_pods: ["batch-*"]
    exclude_containers: ["istio-*"]
sinks:
  out: { type: file, inputs: [pods], path: "%s", batch: { timeout_ms: 50 } }
""" % (WORK, free_port(), root, out), "k8s", env={"POD_NAME": "sluice-abc", "POD_NAMESPACE": "logging"}).start()
want = sorted("%s/%s/%s" % k for k, v in files.items() if v)
wait_until(lambda: count_lines(out) >= len(want), 30, "the included files")
wait_until(lambda: (s.metric("sluice_component_errors_total", component_id="pods", reason="permission_denied") or 0) >= 1,
           30, "permission_denied counted")
assert "locked-1/app" in s.log_text(), s.log_text()
# a late file of an included pod still arrives (and nothing excluded does)
with open(os.path.join(root, "shop_web-1_uid-web-1", "app", "0.log"), "a") as f:
    f.write("%s stdout F late\n" % T)
wait_until(lambda: count_lines(out) >= len(want) + 1, 30, "the late line")
assert s.stop() == 0
got = sorted(g["message"] for g in output(out))
assert got == sorted(want + ["late"]), got
log("ok: filters, exclude_self and permission denied")
