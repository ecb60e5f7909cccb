"""The Fluentd aggregator drop-in: `sluice run` without -c and with the seed's variables set
(FLUENTD_SHARED_KEY, DASH0_*, SERVICE_NAME, NODE_ENV, TLS_*, REDIS_*) listens on the seed's
fixed ports. Forward with the shared key on 24224 and with TLS on 24225 (the PING as Fluent
Bit's out_forward writes it), HTTP on 8888; everything reaches the OTLP receiver with the
Bearer and Dash0-Dataset headers and the resource; /api/plugins.json answers on 24220 and
/metrics on 9880. Receiver down: events spill to Redis (with its password) and come back
from it once the receiver is up, none lost. Then, with only DASH0_LOGS_ENDPOINT set (no key),
fluent-logger sends to 24224 and `config from-env` prints a configuration that validates.
The test needs the seed's ports free: run it inside its own network namespace."""
import json
import os
import shutil
import socket
import subprocess
import urllib.request

from fluent import sender

from fwdclient import Client, packed_entries
from harness import SLUICE, WORK, Emulator, _started, log, wait_until
from redis_server import Redis

PORTS = (24224, 24225, 8888, 24220, 9880)
for port in PORTS:
    probe = socket.socket()
    # SO_REUSEADDR as sluice binds: a closed connection in TIME_WAIT (a previous run's) does
    # not hold the port, a listener does.
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(("0.0.0.0", port))
        probe.listen(1)
    except OSError as e:
        raise AssertionError("port %d is taken on this machine (%s): the drop-in's fixed ports "
                             "cannot be tested here (run it inside `unshare -n`)" % (port, e))
    finally:
        probe.close()
assert shutil.which("redis-server"), "redis-server missing (make setup)"

KEY = "sluice:dash0:failover"
cert, pkey = os.path.join(WORK, "cert.pem"), os.path.join(WORK, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", pkey, "-out", cert,
                "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
redis = Redis()
redis.stop()
redis.password = "redis-pw"
redis.start()
emu = Emulator("otlp_receiver.py", "--require-header", "Authorization: Bearer auth_test_key",
               "--require-header", "Dash0-Dataset: staging")
base = "http://127.0.0.1:%d" % emu.port


def control(**kw):
    req = urllib.request.Request(base + "/control", data=json.dumps(kw).encode(), method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def get_json(url):
    return json.loads(urllib.request.urlopen(url, timeout=30).read())


def requests():
    return get_json(base + "/records")


def bodies():
    out = []
    for req in requests():
        for rl in req["body"]["resourceLogs"]:
            for sl in rl["scopeLogs"]:
                out.extend(r["body"]["stringValue"] for r in sl["logRecords"])
    return out


def http(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


def start(env, name):
    logf = open(os.path.join(WORK, name + ".log"), "wb")
    p = subprocess.Popen([SLUICE, "run"], env=env, stdout=logf, stderr=subprocess.STDOUT, cwd=WORK)
    _started.append(p)

    def ready():
        assert p.poll() is None, open(os.path.join(WORK, name + ".log")).read()[-3000:]
        return http("http://127.0.0.1:24220/readyz")[0] == 200
    wait_until(ready, 60, "the drop-in to be ready")
    return p


def stop(p, name):
    p.terminate()
    rc = p.wait(timeout=60)
    assert rc == 0, (rc, open(os.path.join(WORK, name + ".log")).read()[-3000:])


clean = {k: v for k, v in os.environ.items()
         if k not in ("LOG_GROUPS", "CFG_PATH", "FLUENTD_SHARED_KEY", "DASH0_LOGS_ENDPOINT")}
env = dict(clean, FLUENTD_SHARED_KEY="emp-log-aggregation-key", DASH0_API_KEY="auth_test_key",
           DASH0_DATASET="staging", DASH0_LOGS_ENDPOINT=base + "/v1/logs", SERVICE_NAME="emp-job-queue",
           NODE_ENV="production", HOSTNAME="fluentd-central", TLS_CERT_PATH=cert, TLS_KEY_PATH=pkey,
           REDIS_HOST="127.0.0.1", REDIS_PORT=str(redis.port), REDIS_PASSWORD="redis-pw",
           SLUICE_DATA_DIR=os.path.join(WORK, "data"))
try:
    out = subprocess.run([SLUICE, "config", "from-env"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    with open(os.path.join(WORK, "from-env.yaml"), "w") as f:
        f.write(out.stdout)
    v = subprocess.run([SLUICE, "validate", "-c", os.path.join(WORK, "from-env.yaml")], env=env,
                       capture_output=True, text=True, timeout=30)
    assert v.returncode == 0, v.stdout + v.stderr

    p = start(env, "sluice")
    # Forward with the shared key, plain and TLS, the PING as Fluent Bit writes it.
    recs = lambda pre, n: [{"message": "%s %d" % (pre, i), "level": "info", "trace_id": "abc123def456",
                            "job_id": "job-%d" % i} for i in range(n)]
    c = Client(24224, shared_key="emp-log-aggregation-key", hostname="fb-1", fluent_bit=True)
    assert c.pong[1], c.pong
    c.send(["worker.comfyui", packed_entries(recs("plain", 50)), {"chunk": "p1"}])
    c.wait_ack("p1")
    c.close()
    c = Client(24225, shared_key="emp-log-aggregation-key", hostname="fb-2", fluent_bit=True, tls_ca=cert)
    c.send(["worker.comfyui", packed_entries(recs("tls", 50)), {"chunk": "t1"}])
    c.wait_ack("t1")
    c.close()
    # A wrong key is refused.
    try:
        bad = Client(24224, shared_key="wrong", hostname="fb-3", fluent_bit=True)
        assert not bad.pong[1], bad.pong
        bad.close()
    except (ConnectionError, AssertionError, OSError):
        pass
    # HTTP on 8888, as the seed's curl.
    req = urllib.request.Request("http://127.0.0.1:8888/test", method="POST",
                                 data=b'{"message": "test log", "level": "info"}',
                                 headers={"Content-Type": "application/json"})
    assert urllib.request.urlopen(req, timeout=30).status in (200, 201, 204)
    want = {"plain %d" % i for i in range(50)} | {"tls %d" % i for i in range(50)} | {"test log"}
    wait_until(lambda: set(bodies()) >= want, 60, "forward, TLS and HTTP events at the receiver")
    for r in requests():
        assert r["headers"].get("Authorization") == "Bearer auth_test_key", r["headers"]
        assert r["headers"].get("Dash0-Dataset") == "staging", r["headers"]
        for rl in r["body"]["resourceLogs"]:
            attrs = {a["key"]: a["value"].get("stringValue") for a in rl["resource"]["attributes"]}
            assert attrs.get("service.name") == "emp-job-queue", attrs
            assert attrs.get("deployment.environment") == "production", attrs
    assert os.path.isdir(os.path.join(WORK, "data", "buffers", "dash0")), "no disk buffer"

    # The monitor_agent document on 24220, Prometheus on 9880.
    code, body = http("http://127.0.0.1:24220/api/plugins.json")
    assert code == 200, code
    plugins = {x["plugin_id"]: x for x in json.loads(body)["plugins"]}
    assert plugins["forward"]["plugin_category"] == "input" and plugins["forward"]["type"] == "forward"
    assert plugins["forward_tls"]["plugin_category"] == "input"
    assert plugins["http"]["type"] == "http"
    d0 = plugins["dash0"]
    assert d0["plugin_category"] == "output" and d0["output_plugin"] is True and d0["type"] == "otlp"
    for k in ("buffer_queue_length", "buffer_total_queued_size", "retry_count"):
        assert isinstance(d0[k], int), (k, d0)
    assert plugins["redis_failover"]["type"] == "redis"
    code, body = http("http://127.0.0.1:9880/metrics")
    assert code == 200, code
    assert 'sluice_component_sent_events_total{component_id="dash0"' in body, body[:2000]

    # Dash0 down: the next events spill to Redis, then come back from it.
    control(fail=10 ** 9, status=503)
    spill = ["spill %d" % i for i in range(300)]
    c = Client(24224, shared_key="emp-log-aggregation-key", hostname="fb-1", fluent_bit=True)
    for j in range(3):
        c.send(["worker.comfyui", packed_entries([{"message": m} for m in spill[j * 100:(j + 1) * 100]]),
                {"chunk": "s%d" % j}])
        c.wait_ack("s%d" % j)
    c.close()

    def in_redis():
        assert p.poll() is None
        items = redis.cmd("LRANGE", KEY, 0, -1) + redis.cmd("LRANGE", KEY + ":processing", 0, -1)
        return {json.loads(x)["message"] for x in items}
    wait_until(lambda: in_redis() >= set(spill), 120, "the spill in redis while dash0 is down")
    assert not set(spill) & set(bodies())
    control(fail=0)
    wait_until(lambda: set(bodies()) >= want | set(spill), 180, "the spill delivered from redis")
    wait_until(lambda: redis.cmd("LLEN", KEY) == 0 and redis.cmd("LLEN", KEY + ":processing") == 0,
               60, "redis emptied")
    got = bodies()
    assert set(got) == want | set(spill), sorted(set(got) ^ (want | set(spill)))[:10]
    stop(p, "sluice")
    log("keyed drop-in: %d records at the receiver (%d distinct)" % (len(got), len(set(got))))

    # Without the key and TLS: fluent-logger (plain Forward) to 24224; no failover.
    control(reset=True)
    env2 = dict(clean, DASH0_LOGS_ENDPOINT=base + "/v1/logs", DASH0_API_KEY="auth_test_key",
                DASH0_DATASET="staging", SLUICE_DATA_DIR=os.path.join(WORK, "data2"))
    y = subprocess.run([SLUICE, "config", "from-env"], env=env2, capture_output=True, text=True, timeout=30)
    assert y.returncode == 0 and "forward_tls" not in y.stdout.split("# no TLS")[0] and "redis" not in y.stdout
    p = start(env2, "sluice2")
    fl = sender.FluentSender("app", host="127.0.0.1", port=24224)
    for i in range(20):
        assert fl.emit("web", {"message": "fl %d" % i, "level": "warn"}), fl.last_error
    fl.close()
    wait_until(lambda: set(bodies()) >= {"fl %d" % i for i in range(20)}, 60, "fluent-logger events")
    assert sorted(bodies()) == sorted("fl %d" % i for i in range(20))
    stop(p, "sluice2")
finally:
    emu.stop()
    redis.stop()
print("ok")
