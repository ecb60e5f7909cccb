"""elasticsearch sink, the HTTP client's keep-alive pool. Phase 1: many bulk requests share
a few connections. Phase 2: the server closes a reused connection as the request arrives
(as one that timed out idle does, racing the client's reuse): the client reconnects and
sends again, so nothing fails and everything is stored exactly once. Phase 3: the server
closes connections left idle; the client sees that before reusing one and connects anew,
again without a failure."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, append_lines, file_to_es_config, http_json, wait_until

N = 2000  # per phase; batches of 50: 40 bulk requests each
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
path = os.path.join(logs, "a.log")
emu = Emulator("es_emulator.py")
base = "http://127.0.0.1:%d" % emu.port


def stats():
    return http_json(base + "/_emulator/stats")


def ids():
    with urllib.request.urlopen(base + "/_emulator/docs", timeout=10) as r:
        return [json.loads(l)["_source"]["message"] for l in r.read().decode().splitlines() if l.strip()]


def write(phase):
    append_lines(path, ("phase %d event %05d" % (phase, i) for i in range(N)))


s = Sluice(file_to_es_config(logs, base, """    index: ka
    concurrency: 1
    batch: { max_events: 50, timeout_ms: 20 }
    retry: { initial_ms: 20, max_ms: 200 }
""")).start()


def failures():
    """Errors of the sink of any reason, and retries said in the log."""
    return (s.metric("sluice_component_errors_total", component_id="es") or 0) + \
        ("delivery failed" in s.log_text())


def settle(n):
    wait_until(lambda: stats()["docs"] == n, 60, "%d documents stored" % n)
    wait_until(lambda: s.metric("sluice_sink_inflight", component_id="es") == 0, 30,
               "no request in flight")


try:
    # Phase 1: reuse
    write(1)
    settle(N)
    st = stats()
    assert st["bulk_requests"] >= 20, st
    assert 1 <= st["connections"] <= 3, st  # a version check, then the bulk requests
    assert not failures(), s.log_text()[-2000:]

    # Phase 2: a reused connection closed under the request
    conns = st["connections"]
    http_json(base + "/_emulator/control", {"drop_reused": 5})
    write(2)
    settle(2 * N)
    st = stats()
    assert st["dropped_reused"] == 5, st
    # each drop costs one new connection; nothing was refused or lost
    assert conns + 5 <= st["connections"] <= conns + 6, st
    assert not failures(), s.log_text()[-2000:]

    # Phase 3: idle connections closed by the server
    conns = st["connections"]
    http_json(base + "/_emulator/control", {"idle_close_ms": 100})
    wait_until(lambda: stats()["idle_closed"] >= 1 and stats()["open_connections"] == 0, 30,
               "every idle connection closed by the server")
    write(3)
    settle(3 * N)
    st = stats()
    assert st["connections"] > conns, st
    assert st["dropped_reused"] == 5, st
    assert not failures(), s.log_text()[-2000:]

    got = ids()
    assert len(got) == 3 * N and len(set(got)) == 3 * N, (len(got), len(set(got)))
    assert st["created"] == 3 * N, st
finally:
    s.stop()
    emu.stop()
