"""deploy/kubernetes renders, with `kubectl kustomize`, into what each overlay promises:
the node agent (DaemonSet), the aggregator (Deployment, Service on 24224/24225/8888,
PodDisruptionBudget, HPA on CPU), the CloudWatch puller (StatefulSet of one replica with a
volumeClaimTemplate), and the two tiers with Kafka: the node agent with a kafka sink
(acks=all, idempotent, disk buffer) and a Deployment of aggregators reading its topic in one
consumer group into Elasticsearch with the stable _id. For every workload: /healthz and /readyz probes on the port the config's
API listens on, requests and limits, mounts that resolve (config, state at data_dir, logs
read-only), a hardened security context, and a ConfigMap that `sluice validate` accepts."""
import os
import re
import shutil
import subprocess
import sys

import yaml

ROOT = os.environ["ROOT"]
SLUICE = os.environ["SLUICE"]
WORK = os.environ["WORK"]
KDIR = os.path.join(ROOT, "deploy", "kubernetes")

if not shutil.which("kubectl"):
    sys.exit("FAIL: kubectl is not installed (kubectl kustomize renders the manifests)")


def render(d):
    r = subprocess.run(["kubectl", "kustomize", d], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"kubectl kustomize {d}: {r.stderr}"
    return [o for o in yaml.safe_load_all(r.stdout) if o]


def one(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"want one {kind} {name or ''}, have {len(found)}"
    return found[0]


def seconds(v):
    m = re.fullmatch(r"(\d+)(ms|s|m)?", str(v))
    assert m, v
    n = int(m.group(1))
    return {"ms": n / 1000, "s": n, "m": n * 60, None: n / 1000}[m.group(2)]


def check_config(objs, pod, overlay):
    """The ConfigMap mounted at /etc/sluice holds a sluice.yaml that validates; returns it."""
    c = pod["containers"][0]
    assert c["args"] == ["run", "-c", "/etc/sluice/sluice.yaml"], c["args"]
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    mnt = [m for m in c["volumeMounts"] if m["mountPath"] == "/etc/sluice"]
    assert len(mnt) == 1 and mnt[0].get("readOnly") is True, mnt
    cm_name = vols[mnt[0]["name"]]["configMap"]["name"]
    cm = one(objs, "ConfigMap", cm_name)  # the generator's hashed name was substituted
    text = cm["data"]["sluice.yaml"]
    path = os.path.join(WORK, f"{overlay}.yaml")
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([SLUICE, "validate", "-c", path], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"{overlay}: sluice validate: {r.stdout}{r.stderr}"
    # validate is not a rubber stamp: the same file with a misspelt option is refused
    bad = os.path.join(WORK, f"{overlay}-bad.yaml")
    with open(bad, "w") as f:
        f.write(text.replace("shutdown_timeout:", "shutdown_timout:"))
    r = subprocess.run([SLUICE, "validate", "-c", bad], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0, f"{overlay}: a misspelt option passed validate"
    return yaml.safe_load(text)


def check_pod(objs, pod, cfg, overlay, claims=()):
    """Probes, resources, mounts and security context of the pod's one container."""
    assert len(pod["containers"]) == 1, overlay
    c = pod["containers"][0]
    assert re.fullmatch(r"sluice:\d+\.\d+\.\d+", c["image"]), c["image"]  # pinned, never latest
    ports = {p["name"]: p for p in c["ports"]}
    api_port = int(cfg["api"]["address"].rsplit(":", 1)[1])
    assert cfg["api"]["address"].startswith("0.0.0.0:"), "the kubelet probes the pod IP"
    assert ports["api"]["containerPort"] == api_port, (ports, api_port)
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        g = c[probe]["httpGet"]
        assert g["path"] == path and g["port"] in ("api", api_port), (overlay, probe, g)
    res = c["resources"]
    for k in ("requests", "limits"):
        assert set(res[k]) >= {"cpu", "memory"}, (overlay, res)
    # stopping drains for shutdown_timeout; the kubelet must not kill before
    assert pod["terminationGracePeriodSeconds"] > seconds(cfg.get("shutdown_timeout", "30s")), overlay
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True, overlay
    assert sc["allowPrivilegeEscalation"] is False, overlay
    assert sc["capabilities"]["drop"] == ["ALL"], overlay
    assert "privileged" not in sc or sc["privileged"] is False, overlay
    psc = pod.get("securityContext", {})
    assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", overlay
    assert not pod.get("hostNetwork") and not pod.get("hostPID"), overlay
    # every mount has its volume; the state mount is data_dir and is writable
    vols = {v["name"] for v in pod.get("volumes", [])} | set(claims)
    for m in c["volumeMounts"]:
        assert m["name"] in vols, (overlay, m)
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    state = mounts[cfg["data_dir"]]
    assert not state.get("readOnly"), overlay
    # the API token is mounted only where a ServiceAccount with a binding asks for it
    sa = pod.get("serviceAccountName")
    if sa:
        one(objs, "ServiceAccount", sa)
    return c, mounts, sc


def source_ports(cfg, typ):
    return sorted(int(s["address"].rsplit(":", 1)[1]) for s in cfg["sources"].values()
                  if s["type"] == typ)


# ---- node agent ----------------------------------------------------------------------------
na = render(os.path.join(KDIR, "overlays", "node-agent"))
assert render(KDIR) == na, "kubectl apply -k deploy/kubernetes is the node agent"
assert {o["kind"] for o in na} >= {"Namespace", "ServiceAccount", "ConfigMap", "DaemonSet"}, na
ds = one(na, "DaemonSet", "sluice")
assert all(o["metadata"].get("namespace", "logging") == "logging" for o in na)
pod = ds["spec"]["template"]["spec"]
cfg = check_config(na, pod, "node-agent")
c, mounts, sc = check_pod(na, pod, cfg, "node-agent")
src = [s for s in cfg["sources"].values() if s["type"] == "kubernetes_logs"]
assert len(src) == 1, cfg
logs = mounts[src[0].get("path", "/var/log/pods")]
assert logs["readOnly"] is True, logs
hp = {v["name"]: v for v in pod["volumes"]}[logs["name"]]["hostPath"]
assert hp["path"] == "/var/log/pods", hp
# uid 0 with no capability but DAC_READ_SEARCH (reads root:root 0640 logs), nothing else
assert sc.get("runAsUser") == 0 and set(sc["capabilities"].get("add", [])) <= {"DAC_READ_SEARCH"}, sc
for e in ("POD_NAME", "POD_NAMESPACE", "NODE_NAME"):  # exclude_self, this node's pods
    assert any(v["name"] == e and "fieldRef" in v.get("valueFrom", {}) for v in c["env"]), e
# API metadata: the token is mounted, and the role may read pods and namespaces
assert pod.get("automountServiceAccountToken") is True, pod
role = one(na, "ClusterRole", "sluice")
assert any({"pods", "namespaces"} <= set(r["resources"]) and set(r["verbs"]) == {"get", "list", "watch"}
           for r in role["rules"]), role
one(na, "ClusterRoleBinding", "sluice")
for o in na:  # RBAC, when present, binds the agent's ServiceAccount and can change nothing
    if o["kind"] == "ClusterRoleBinding":
        assert {"kind": "ServiceAccount", "name": pod["serviceAccountName"],
                "namespace": "logging"} in o["subjects"], o
    if o["kind"] == "ClusterRole":
        for rule in o["rules"]:
            assert set(rule["verbs"]) <= {"get", "list", "watch"}, rule
print("node agent ok")

# ---- aggregator ----------------------------------------------------------------------------
ag = render(os.path.join(KDIR, "overlays", "aggregator"))
assert sorted(o["kind"] for o in ag) == sorted(
    ["Namespace", "ConfigMap", "Service", "Deployment", "PodDisruptionBudget",
     "HorizontalPodAutoscaler"]), [o["kind"] for o in ag]
dep = one(ag, "Deployment", "sluice-aggregator")
pod = dep["spec"]["template"]["spec"]
cfg = check_config(ag, pod, "aggregator")
c, mounts, sc = check_pod(ag, pod, cfg, "aggregator")
assert sc["runAsNonRoot"] is True and "add" not in sc["capabilities"], sc
assert pod["securityContext"]["runAsUser"] != 0, pod["securityContext"]
assert pod.get("automountServiceAccountToken") is False
labels = dep["spec"]["template"]["metadata"]["labels"]
sel = dep["spec"]["selector"]["matchLabels"]
assert all(labels.get(k) == v for k, v in sel.items()), (sel, labels)
# the Service's ports reach the ports the config listens on
svc = one(ag, "Service", "sluice-aggregator")
assert svc["spec"]["selector"] == sel, svc
cports = {p["name"]: p for p in c["ports"]}
tcp = sorted(p["port"] for p in svc["spec"]["ports"] if p["protocol"] == "TCP")
assert tcp == [8888, 24224, 24225], tcp
listen = sorted(source_ports(cfg, "forward") + source_ports(cfg, "http"))
assert listen == tcp, (listen, tcp)
for p in svc["spec"]["ports"]:
    cp = cports[p["targetPort"]]
    assert cp["containerPort"] == p["port"] and cp["protocol"] == p["protocol"], (p, cp)
# TLS on 24225: the certificate files are in the Secret's mount
tls = [s for s in cfg["sources"].values() if s.get("tls")]
assert len(tls) == 1 and tls[0]["address"].endswith(":24225"), tls
tls_dir = os.path.dirname(tls[0]["tls"]["cert_file"])
assert mounts[tls_dir]["readOnly"] is True, mounts
vol = {v["name"]: v for v in pod["volumes"]}[mounts[tls_dir]["name"]]
assert vol["secret"]["secretName"], vol
# memory buffers only: nothing durable lives in a replica the HPA may remove
assert all(s.get("buffer", {}).get("type", "memory") == "memory" for s in cfg["sinks"].values())
pdb = one(ag, "PodDisruptionBudget")
assert pdb["spec"]["selector"]["matchLabels"] == sel, pdb
assert pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable") == 1, pdb
hpa = one(ag, "HorizontalPodAutoscaler")
ref = hpa["spec"]["scaleTargetRef"]
assert ref["kind"] == "Deployment" and ref["name"] == "sluice-aggregator", ref
assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"], hpa
assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
assert pdb["spec"].get("maxUnavailable", 1) < hpa["spec"]["minReplicas"]  # a drain never empties it
print("aggregator ok")

# ---- CloudWatch puller ---------------------------------------------------------------------
cw = render(os.path.join(KDIR, "overlays", "cloudwatch"))
assert sorted(o["kind"] for o in cw) == sorted(
    ["Namespace", "ConfigMap", "Service", "StatefulSet"]), [o["kind"] for o in cw]
sts = one(cw, "StatefulSet", "sluice-cloudwatch")
assert sts["spec"]["replicas"] == 1, sts["spec"]
hs = one(cw, "Service", sts["spec"]["serviceName"])
assert hs["spec"]["clusterIP"] == "None", hs
pod = sts["spec"]["template"]["spec"]
cfg = check_config(cw, pod, "cloudwatch")
assert [s["type"] for s in cfg["sources"].values()] == ["cloudwatch_logs"], cfg
claims = [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]]
c, mounts, sc = check_pod(cw, pod, cfg, "cloudwatch", claims)
assert sc["runAsNonRoot"] is True and "add" not in sc["capabilities"], sc
assert pod["securityContext"]["runAsUser"] != 0 and pod["securityContext"]["fsGroup"], pod
# the checkpoints live on the claimed volume, not in the pod
assert mounts[cfg["data_dir"]]["name"] in claims, mounts
vct = sts["spec"]["volumeClaimTemplates"][0]["spec"]
assert vct["accessModes"] == ["ReadWriteOnce"] and vct["resources"]["requests"]["storage"], vct
# shard-ready: the pod's name gives its shard index, SHARD_COUNT equals the replicas, and a
# group that moves is asked of the index the sink writes
env = {e["name"]: e for e in c.get("env", [])}
assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name", env
assert int(env["SHARD_COUNT"]["value"]) == sts["spec"]["replicas"], env
src = cfg["sources"]["cloudwatch"]
assert src["shard"] == {"index": "${POD_NAME:-sluice-cloudwatch-0}", "count": "${SHARD_COUNT:-1}"}, src
assert src["reconcile"]["index"].startswith(cfg["sinks"]["es"]["index"].split("%")[0]), src
text = one(cw, "ConfigMap", [v for v in pod["volumes"] if v["name"] == "config"][0]["configMap"]["name"])["data"]["sluice.yaml"]
path = os.path.join(WORK, "cloudwatch-shard.yaml")
with open(path, "w") as f:
    f.write(text)
for ordinal, ok in ((2, True), (3, False)):  # three replicas: sluice-cloudwatch-0..2
    r = subprocess.run([SLUICE, "validate", "-c", path], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, POD_NAME="sluice-cloudwatch-%d" % ordinal, SHARD_COUNT="3"))
    assert (r.returncode == 0) == ok, (ordinal, r.stdout, r.stderr)
    assert ok or "must be below shard.count" in r.stderr, r.stderr
print("cloudwatch puller ok")

# ---- two tiers with Kafka (docs/SCALING.md) -------------------------------------------------
ka = render(os.path.join(KDIR, "overlays", "kafka-agent"))
assert sorted(o["kind"] for o in ka) == sorted(o["kind"] for o in na), [o["kind"] for o in ka]
ds = one(ka, "DaemonSet", "sluice")
pod = ds["spec"]["template"]["spec"]
acfg = check_config(ka, pod, "kafka-agent")
c, mounts, sc = check_pod(ka, pod, acfg, "kafka-agent")
# the node agent's pod (mounts, RBAC, security context), with the brokers added
na_pod = one(na, "DaemonSet", "sluice")["spec"]["template"]["spec"]
assert c["securityContext"] == na_pod["containers"][0]["securityContext"], sc
assert c["volumeMounts"] == na_pod["containers"][0]["volumeMounts"]
assert pod["serviceAccountName"] == na_pod["serviceAccountName"]
env = {v["name"]: v.get("value") for v in c["env"]}
assert env.get("KAFKA_BROKERS") and {"POD_NAME", "POD_NAMESPACE", "NODE_NAME"} <= set(env), env
assert [s["type"] for s in acfg["sources"].values()] == ["kubernetes_logs"], acfg
ksinks = [s for s in acfg["sinks"].values() if s["type"] == "kafka"]
assert len(ksinks) == 1 and len(acfg["sinks"]) == 1, acfg["sinks"]
ks = ksinks[0]
assert "${KAFKA_BROKERS" in ks["brokers"], ks
assert ks.get("acks", "all") == "all" and ks.get("idempotent", True) is True, ks  # delivered = replicated
assert "key" not in ks, "the default key keeps a stream in one partition"
assert ks.get("buffer", {}).get("type") == "disk", ks  # a Kafka outage costs disk, not logs
assert mounts[acfg["data_dir"]]["name"] in {v["name"] for v in pod["volumes"] if "hostPath" in v}
print("kafka agent ok")

kg = render(os.path.join(KDIR, "overlays", "kafka-aggregator"))
assert sorted(o["kind"] for o in kg) == sorted(
    ["Namespace", "ConfigMap", "Deployment", "PodDisruptionBudget"]), [o["kind"] for o in kg]
assert all(o["metadata"].get("namespace", "logging") == "logging" for o in kg)
dep = one(kg, "Deployment", "sluice-kafka-aggregator")
pod = dep["spec"]["template"]["spec"]
gcfg = check_config(kg, pod, "kafka-aggregator")
c, mounts, sc = check_pod(kg, pod, gcfg, "kafka-aggregator")
assert sc["runAsNonRoot"] is True and "add" not in sc["capabilities"], sc
assert pod["securityContext"]["runAsUser"] != 0, pod["securityContext"]
assert pod.get("automountServiceAccountToken") is False
sel = dep["spec"]["selector"]["matchLabels"]
assert all(dep["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in sel.items())
assert [p["name"] for p in c["ports"]] == ["api"], c["ports"]  # nothing connects to it
env = {v["name"]: v.get("value") for v in c["env"]}
assert env.get("KAFKA_BROKERS") and env.get("ES_ENDPOINT"), env
srcs = list(gcfg["sources"].values())
assert [s["type"] for s in srcs] == ["kafka"], srcs
src = srcs[0]
assert "${KAFKA_BROKERS" in src["brokers"] and src["group_id"], src
assert ks["topic"] in src["topics"], (ks["topic"], src["topics"])  # reads what the agents write
assert src.get("decoding", "json") == "json" and ks.get("encoding", "json") == "json"
assert "librdkafka" not in src or not set(src["librdkafka"]) & {"enable.auto.commit", "group.id"}, src
assert seconds(src.get("revoke_timeout", "10s")) < pod["terminationGracePeriodSeconds"], src
es_sinks = [s for s in gcfg["sinks"].values() if s["type"] == "elasticsearch"]
assert len(es_sinks) == 1 and es_sinks[0].get("id", "stable") == "stable", gcfg["sinks"]  # _id = sluice-id
assert all(s.get("buffer", {}).get("type", "memory") == "memory" for s in gcfg["sinks"].values())
assert dep["spec"]["replicas"] >= 2, dep["spec"]
assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 1, dep["spec"]["strategy"]
pdb = one(kg, "PodDisruptionBudget")
assert pdb["spec"]["selector"]["matchLabels"] == sel and pdb["spec"].get("maxUnavailable") == 1, pdb
print("kafka aggregator ok")
print("deploy kubernetes ok")
