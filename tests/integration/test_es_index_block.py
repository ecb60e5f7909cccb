"""elasticsearch sink: an index with a write block (index.blocks.write, set by an operator,
a shrink or a migration; read_only and the cluster's read-only blocks answer the same way)
fails every bulk item with 403 cluster_block_exception "index [x] blocked by:
[FORBIDDEN/8/index write (api)]". That is the cluster's state, not the documents': they are
retried until the block is lifted and then indexed, none dead-lettered (they all went to the
DLQ as rejected). A cluster-wide block (cluster.blocks.read_only) refuses the whole _bulk
request with 403 cluster_block_exception: the documents wait behind the open circuit with
one CLUSTER BLOCKED line (the 403 was taken for refused credentials: AUTHENTICATION FAILED,
"fix auth")."""
import os

from harness import (Emulator, Sluice, WORK, append_lines, file_to_es_config, http_json, log,
                     wait_until)

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
path = os.path.join(logs, "a.log")
append_lines(path, ("before %d" % i for i in range(20)))

emu = Emulator("es_emulator.py")
base = "http://127.0.0.1:%d" % emu.port


def stats():
    return http_json(base + "/_emulator/stats")


cfg = file_to_es_config(logs, base, """\
    index: blocked
    batch: { max_events: 50, timeout_ms: 50 }
    retry: { initial_ms: 10, max_ms: 100 }
    circuit_breaker: { failures: 5, open_ms: 200 }
""")
s = Sluice(cfg).start()
try:
    wait_until(lambda: stats()["docs"] == 20, 60, "the first lines indexed")
    http_json(base + "/blocked/_settings", {"index": {"blocks": {"write": True}}}, "PUT")
    append_lines(path, ("during %d" % i for i in range(30)))
    wait_until(lambda: stats().get("blocked", 0) >= 60 or
               s.metric("sluice_dlq_events_total", component_id="es") > 0, 60,
               "bulk items refused by the block, twice (or dead-lettered)")
    dead = s.metric("sluice_dlq_events_total", component_id="es")
    assert dead == 0, "%d blocked documents dead-lettered" % dead
    assert stats()["docs"] == 20
    blocked = s.metric("sluice_component_errors_total", component_id="es", reason="item_blocked")
    assert blocked >= 60, blocked
    http_json(base + "/blocked/_settings", {"index.blocks.write": None}, "PUT")
    wait_until(lambda: stats()["docs"] == 50, 60, "every line indexed once the block is lifted")
    wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "source committed")
    assert s.metric("sluice_dlq_events_total", component_id="es") == 0

    http_json(base + "/_cluster/settings", {"persistent": {"cluster.blocks.read_only": True}},
              "PUT")
    append_lines(path, ("read-only %d" % i for i in range(25)))
    said = lambda: [w for w in ("CLUSTER BLOCKED", "AUTHENTICATION FAILED") if w in s.log_text()]
    wait_until(said, 60, "the refused requests said")
    assert said() == ["CLUSTER BLOCKED"], said()
    assert "FORBIDDEN/6/cluster read-only" in s.log_text()
    assert s.metric("sluice_component_errors_total", component_id="es", reason="http_blocked") >= 1
    assert stats()["docs"] == 50
    http_json(base + "/_cluster/settings", {"persistent": {"cluster": {"blocks": {"read_only": None}}}},
              "PUT")
    wait_until(lambda: stats()["docs"] == 75, 60, "every line indexed once the cluster takes writes")
    wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "source committed")
    assert s.metric("sluice_dlq_events_total", component_id="es") == 0
finally:
    assert s.stop() == 0
dlq = os.path.join(WORK, "data", "dlq", "es.ndjson")
assert not os.path.exists(dlq) or open(dlq).read() == "", open(dlq).read()[:2000]
assert s.log_text().count("CLUSTER BLOCKED") == 1
log("ok: index and cluster write blocks held the documents until lifted, none dead-lettered")
emu.stop()
