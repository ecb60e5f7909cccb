"""The logfowd2 drop-in: `sluice run` with CFG_PATH (no -c) pointing at logfowd2's config.json
tails the pod log tree at log_path (read_existing_on_startup: true reads what is there) into
the Elasticsearch emulator with `<index_name>-YYYY.MM.DD` indices from each line's time;
metrics on the configured port and path; logging level and format (structured: JSON lines);
one info line per option sluice does not need, a warning for an unknown key; positions under
state_file_path's directory. A restart with `-c config.json` goes on where it stopped. `sluice
config convert` prints YAML that validates, and `sluice validate -c config.json` accepts it."""
import json
import os
import subprocess
import urllib.request

from harness import SLUICE, WORK, Emulator, _started, free_port, log, wait_until

es = Emulator("es_emulator.py")
mport = free_port()
pods = os.path.join(WORK, "pods")
logdir = os.path.join(pods, "shop_web-7d9f_0c1d2e3f-aaaa-bbbb-cccc-000000000001", "app")
os.makedirs(logdir)
state = os.path.join(WORK, "state")
os.makedirs(state)
cfg = {
    "log_path": pods,
    "is_debug": False,
    "state_file_path": os.path.join(state, "logfowd2_state.json"),
    "read_existing_on_startup": True,
    "read_chunk_size": 100,
    "max_line_size": 65536,
    "max_concurrent_file_readers": 4,
    "channels": {"watcher_buffer_size": 300, "es_buffer_size": 30, "backpressure_threshold": 0.7,
                 "backpressure_min_delay_ms": 5, "backpressure_max_delay_ms": 60,
                 "notify_buffer_warning_threshold": 1000, "notify_buffer_max_size": 10000,
                 "notify_drop_on_overflow": True, "notify_filesystem_buffer_warning_threshold": 1000,
                 "notify_filesystem_buffer_size": 1024},
    "metrics": {"enabled": True, "port": mport, "path": "/prom"},
    "logging": {"level": "info", "format": "structured"},
    "es": {"host": "http://127.0.0.1", "port": es.port, "index_name": "logfowd", "flush_interval": 200,
           "bulk_size": 50, "workers": 2},
    "sender_threads": 2,
}
cfg_path = os.path.join(WORK, "config.json")
with open(cfg_path, "w") as f:
    json.dump(cfg, f, indent=2)


def cri(day, i):
    return "2024-01-%02dT10:30:45.%09dZ stdout F line %d of day %d\n" % (day, i, i, day)


N = 120
with open(os.path.join(logdir, "0.log"), "w") as f:
    f.write("".join(cri(15, i) for i in range(N)) + "".join(cri(16, i) for i in range(N)))


def docs():
    with urllib.request.urlopen("http://127.0.0.1:%d/_emulator/docs" % es.port, timeout=30) as r:
        return [json.loads(l) for l in r.read().decode().splitlines() if l.strip()]


def http(path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (mport, path), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


def run(args, env, name):
    logf = open(os.path.join(WORK, name), "wb")
    p = subprocess.Popen([SLUICE, "run"] + args, env=env, stdout=logf, stderr=subprocess.STDOUT, cwd=WORK)
    _started.append(p)

    def ready():
        assert p.poll() is None, open(os.path.join(WORK, name)).read()[-3000:]
        return http("/readyz")[0] == 200
    wait_until(ready, 60, "sluice to be ready on the metrics port")
    return p


def stop(p, name):
    p.terminate()
    rc = p.wait(timeout=60)
    text = open(os.path.join(WORK, name)).read()
    assert rc == 0, (rc, text[-3000:])
    return text


clean = {k: v for k, v in os.environ.items()
         if k not in ("LOG_GROUPS", "FLUENTD_SHARED_KEY", "DASH0_LOGS_ENDPOINT", "CFG_PATH")}
try:
    conv = subprocess.run([SLUICE, "config", "convert", cfg_path], env=clean, capture_output=True, text=True,
                          timeout=30)
    assert conv.returncode == 0, conv.stderr
    assert "type: kubernetes_logs" in conv.stdout and '"logfowd-%Y.%m.%d"' in conv.stdout, conv.stdout
    assert conv.stderr.count("info: ") == 11 and conv.stderr.count("warn: ") == 1, conv.stderr
    with open(os.path.join(WORK, "converted.yaml"), "w") as f:
        f.write(conv.stdout)
    for c in (os.path.join(WORK, "converted.yaml"), cfg_path):
        v = subprocess.run([SLUICE, "validate", "-c", c], env=clean, capture_output=True, text=True, timeout=30)
        assert v.returncode == 0, v.stdout + v.stderr

    p = run([], dict(clean, CFG_PATH=cfg_path), "run1.log")
    wait_until(lambda: len(docs()) >= 2 * N, 120, "every line indexed")
    code, body = http("/prom")
    assert code == 200 and 'sluice_component_sent_events_total{component_id="elasticsearch"' in body, body[:1000]
    assert http("/metrics")[0] == 404
    text = stop(p, "run1.log")
    # structured: every line JSON once the log is configured (a component may log while the
    # pipeline is built, before that, in the default format)
    raw = [l for l in text.splitlines() if l.strip()]
    first = next(i for i, l in enumerate(raw) if l.startswith("{"))
    lines = [json.loads(l) for l in raw[first:]]
    notes = [l for l in lines if "is not needed" in json.dumps(l)]
    assert len(notes) == 11, notes
    assert len([l for l in lines if "unknown key" in json.dumps(l) and "sender_threads" in json.dumps(l)]) == 1
    d = docs()
    assert len(d) == 2 * N, len(d)
    by_index = {}
    for x in d:
        by_index.setdefault(x["_index"], []).append(x["_source"]["message"])
    assert sorted(by_index) == ["logfowd-2024.01.15", "logfowd-2024.01.16"], sorted(by_index)
    for day in (15, 16):
        assert sorted(by_index["logfowd-2024.01.%d" % day]) == sorted("line %d of day %d" % (i, day)
                                                                     for i in range(N))
    assert os.path.isdir(os.path.join(state, "checkpoints")), os.listdir(state)
    # checkpoints and dlq read config.json as run does (they read it as YAML: no data_dir,
    # so /var/lib/sluice, and no sinks)
    show = subprocess.run([SLUICE, "checkpoints", "show", "-c", cfg_path], env=clean,
                          capture_output=True, text=True, timeout=30)
    assert show.returncode == 0, show.stdout + show.stderr
    assert "source pods (%s/checkpoints/pods.ckpt" % state in show.stdout, show.stdout
    assert "0.log" in show.stdout, show.stdout
    dlq = subprocess.run([SLUICE, "dlq", "list", "-c", cfg_path, "--sink", "elasticsearch"],
                         env=clean, capture_output=True, text=True, timeout=30)
    assert dlq.returncode == 0 and dlq.stdout == "elasticsearch: 0 record(s)\n", \
        dlq.stdout + dlq.stderr

    # Restarted with -c: the lines written meanwhile, nothing again.
    with open(os.path.join(logdir, "0.log"), "a") as f:
        f.write("".join(cri(17, i) for i in range(N)))
    p = run(["-c", cfg_path], clean, "run2.log")
    wait_until(lambda: len(docs()) >= 3 * N, 120, "the new lines indexed")
    stop(p, "run2.log")
    d = docs()
    assert len(d) == 3 * N, len(d)
    stats = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/_emulator/attempts" % es.port,
                                              timeout=30).read())
    assert sum(stats.values()) == 3 * N, "lines sent again after the restart"
    assert {x["_index"] for x in d} == {"logfowd-2024.01.%d" % day for day in (15, 16, 17)}
    log("logfowd drop-in: %d docs" % len(d))
finally:
    es.stop()
print("ok")
