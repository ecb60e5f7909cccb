"""elasticsearch sink with `fallback`: while the node refuses every request (wrong
password: 401 opens the circuit), batches go to the fallback sink (a file sink with no
inputs of its own) instead of waiting; once the password matches, new events go to
Elasticsearch again (after the next half-open probe). Every event ends up exactly once in
one of the two places."""
import os

from harness import Emulator, Sluice, WORK, append_lines, file_to_es_config, get_ndjson, http_json, ndjson_file, wait_until

N = int(os.environ.get("ES_N", "1000"))
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
path = os.path.join(logs, "a.log")
spill = os.path.join(WORK, "spill.ndjson")


def write(lo, hi):
    append_lines(path, ("fallback %05d" % i for i in range(lo, hi)))


emu = Emulator("es_emulator.py", "--user", "elastic", "--password", "other")
base = "http://127.0.0.1:%d" % emu.port


def ctl(p, body=None):
    return http_json(base + p, body)


def in_es():
    return [d["_source"]["message"] for d in get_ndjson(base + "/_emulator/docs")]


def in_spill():
    return [o["message"] for o in ndjson_file(spill)]


cfg = file_to_es_config(logs, base, """\
    index: fb
    auth: { user: elastic, password: right }
    batch: { max_events: 100, timeout_ms: 50 }
    retry: { initial_ms: 10, max_ms: 100 }
    circuit_breaker: { failures: 2, open_ms: 300 }
    fallback: spill
  spill:
    type: file
    path: "%s"
""" % spill)
write(0, N)
s = Sluice(cfg).start()
try:
    wait_until(lambda: len(in_spill()) >= N, 60, "events spilled to the fallback while the circuit is open")
    assert s.metric("sluice_circuit_state", component_id="es") != 0
    assert in_es() == []
    # The node takes the password again. Events written while the circuit is still open
    # keep going to the fallback; after open_ms a half-open probe goes to the node, succeeds,
    # and the circuit closes: write in steps until that happened.
    ctl("/_emulator/control", {"password": "right"})
    total = N
    while not in_es():
        assert total < 20 * N, "nothing reached Elasticsearch after the password was fixed"
        write(total, total + 50)
        total += 50
        wait_until(lambda: len(in_es()) + len(in_spill()) >= total, 60, "events up to %d" % total)
    write(total, total + N)
    total += N
    wait_until(lambda: len(in_es()) + len(in_spill()) >= total, 60, "the rest delivered")
    assert s.metric("sluice_circuit_state", component_id="es") == 0
    wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "everything committed")
    es, sp = in_es(), in_spill()
    want = ["fallback %05d" % i for i in range(total)]
    assert len(es) + len(sp) == total, (len(es), len(sp), total)
    assert sorted(es + sp) == want, "lost or duplicated events"
    assert len(es) >= N, "the last %d events should have gone to Elasticsearch (got %d)" % (N, len(es))
    assert s.stop() == 0
finally:
    s.kill9()
    emu.stop()
