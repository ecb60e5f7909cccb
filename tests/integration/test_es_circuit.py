"""elasticsearch sink circuit breaker. 401: the circuit opens on the first refusal with one
loud log line, stays open while the credentials are wrong and closes once they match.
503 on every request: the circuit opens after `failures` attempts and closes when the node
recovers. Nothing is lost either way."""
import os

from harness import Emulator, Sluice, WORK, append_lines, file_to_es_config, http_json, log, wait_until

N = int(os.environ.get("ES_N", "1000"))
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
path = os.path.join(logs, "a.log")


def write(lo, hi):
    append_lines(path, ("circuit %05d" % i for i in range(lo, hi)))


emu = Emulator("es_emulator.py", "--user", "elastic", "--password", "other")
base = "http://127.0.0.1:%d" % emu.port


def ctl(p, body=None):
    return http_json(base + p, body)


cfg = file_to_es_config(logs, base, """\
    index: circuit
    auth: { user: elastic, password: right }
    batch: { max_events: 200, timeout_ms: 50 }
    retry: { initial_ms: 10, max_ms: 100 }
    circuit_breaker: { failures: 3, open_ms: 400 }
""")
write(0, N)
s = Sluice(cfg).start()
try:
    state = lambda: s.metric("sluice_circuit_state", component_id="es")
    tripped = lambda: state() in (1.0, 2.0)  # open, or half-open while a probe is out
    wait_until(tripped, 30, "circuit open after a 401")
    assert ctl("/_emulator/stats")["status_401"] >= 1
    # While open, only half-open probes reach the node, each open_ms (0.4 s) after the
    # refusal before it reached the sink: wait for three and check the spacing the node saw.
    refusals = lambda: [t for t, st in ctl("/_emulator/answers") if st == 401]
    wait_until(lambda: len(refusals()) >= 4, 30, "three half-open probes")
    t = refusals()
    gaps = [b - a for a, b in zip(t, t[1:])]
    assert min(gaps) >= 0.4 - 0.002, gaps  # (2 ms for rounding between the two clocks' readers)
    assert s.log_text().count("AUTHENTICATION FAILED") == 1, s.log_text()
    ctl("/_emulator/control", {"password": "right"})
    wait_until(lambda: ctl("/_emulator/stats")["docs"] == N, 30, "delivery after credentials fixed")
    wait_until(lambda: state() == 0, 30, "circuit closed")

    # Whole-request 503s: opens after 3 failures, closes after recovery.
    ctl("/_emulator/control", {"fail": 1000000, "status": 503})
    write(N, 2 * N)
    wait_until(tripped, 30, "circuit open after 503s")
    ctl("/_emulator/control", {"fail": 0})
    wait_until(lambda: ctl("/_emulator/stats")["docs"] == 2 * N, 30, "delivery after recovery")
    wait_until(lambda: state() == 0, 30, "circuit closed again")
    wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "source commits everything")
finally:
    assert s.stop() == 0
st = ctl("/_emulator/stats")
assert st["docs"] == 2 * N and st["created"] == 2 * N, st
log("ok: circuit opened on 401 and on 503s, closed after recovery; %d events delivered" % (2 * N))
emu.stop()
