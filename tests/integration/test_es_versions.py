"""elasticsearch sink, `versioned: true` and `schema_heal`: stable names over versioned
data streams, and repairs that swap the alias while a reader counts.

Phase A (schema_heal dry_run): two groups' events (cw-a, cw-b) go through a json parse to
the sink. Each stable name becomes an alias over sluice-<name>-v1 (a data stream, created
with its template sluice-es-<name>); cw-* counts every event once (the versions' names are
outside that pattern). Group a's week 1 has statusCode as a string ("200"); then its data
stream rolls over (as ILM would) and week 2 has it as a number, more of them: the two
backing indices map statusCode keyword and long, a mapping conflict _field_caps shows.
dry_run says it would fix 1 index and changes nothing.
Phase B (schema_heal on, nothing written meanwhile): a reader thread counts cw-a through
the alias without pause. The heal pass finds the conflict, decides long (most documents),
pins it in the template, rebuilds group a into sluice-cw-a-v2 (strings coerced) and swaps
the alias in one _aliases call: every count the reader saw is exactly N (never a missing
or a doubled event), and it saw the alias on both versions. One info line per action,
the status and /metrics say the same. Group b, without a conflict, is left alone.
Phase C (still on): week 3 of group a brings "-" as statusCode, which the long mapping
refuses (document_parsing_exception): those documents are sent again with the field
renamed to statusCode_str, nothing reaches the DLQ, and the next pass pins the new field.
Phase D: a second conflict (the pin removed from the template by hand, a rollover, string
values) is healed while events are written. The emulator holds the repair's copy (its
scroll) once the repair has turned dual writes on; the events written then are in the
active version and in the standby, exactly those in the standby (the copy has not run).
Released, the copy and the swap complete with a reader counting: every count is the total,
the alias is back on -v1, one type for statusCode.
Phase F: the same again, but sluice is killed (-9) while the copy is held, after events were
written to both versions: the alias has not moved and counts every event; restarted, sluice
learns the name from its alias, finds the conflict again, rebuilds the standby from scratch
and swaps. Every event once, one type, nothing in the DLQ.
Phase E: against Elasticsearch 7.13 (no aliases on data streams) the events are held with
one line, nothing is written."""
import json
import os
import threading

from harness import Emulator, Sluice, WORK, free_port, http_json, log, wait_until

emu = Emulator("es_emulator.py")
base = "http://127.0.0.1:%d" % emu.port
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
N1, N2, NB, N3, N4, N5, N6, N7 = 300, 500, 120, 60, 400, 150, 200, 80


def call(method, p, body=None):
    return http_json(base + p, body, method)


def count(target, query=None):
    return call("POST", "/%s/_count" % target, {"query": query or {"match_all": {}}})["count"]


def write(name, lines):
    with open(os.path.join(logs, name), "a") as f:
        for l in lines:
            f.write(json.dumps(l) + "\n")


def config(heal, interval="300ms", es=None, data="data"):
    port = free_port()
    return """
data_dir: %s/%s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  es:
    type: elasticsearch
    inputs: [p]
    endpoint: "%s"
    index: "cw-{{ group }}"
    versioned: true
    schema_heal: "%s"
    schema_heal_interval: %s
    batch: { max_events: 100, timeout_ms: 20 }
    retry: { initial_ms: 10, max_ms: 200 }
""" % (WORK, data, port, logs, es or base, heal, interval)


def alias_target(name):
    r = call("GET", "/_alias/%s" % name)
    return sorted(r)


# ---- Phase A: versioned names; healing only reports ------------------------------------------
s = Sluice(config("dry_run")).start()
write("a1.log", [{"group": "a", "week": 1, "statusCode": "200", "i": i} for i in range(N1)])
write("b.log", [{"group": "b", "statusCode": 200 + i % 3, "i": i} for i in range(NB)])
wait_until(lambda: count("cw-a") == N1 and count("cw-b") == NB, 60, "week 1 and group b delivered")
assert alias_target("cw-a") == ["sluice-cw-a-v1"] and alias_target("cw-b") == ["sluice-cw-b-v1"]
assert call("GET", "/_alias/cw-a")["sluice-cw-a-v1"]["aliases"]["cw-a"]["is_write_index"] is True
tm = call("GET", "/_index_template/sluice-es-cw-a")["index_templates"][0]["index_template"]
assert tm["index_patterns"] == ["sluice-cw-a-v1", "sluice-cw-a-v2"] and "data_stream" in tm, tm
# readers' pattern: each event once (the versions are not cw-*)
assert count("cw-*") == N1 + NB
ro = call("POST", "/cw-a/_rollover")
assert ro["rolled_over"], ro
write("a2.log", [{"group": "a", "week": 2, "statusCode": 200 + i % 5, "i": i} for i in range(N2)])
N = N1 + N2
wait_until(lambda: count("cw-a") == N, 60, "week 2 delivered")
wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "source committed")
fc = call("GET", "/cw-a/_field_caps?fields=statusCode")["fields"]["statusCode"]
assert sorted(fc) == ["keyword", "long"], fc  # the conflict, as Kibana would see it
wait_until(lambda: "schema_heal: dry_run: would fix 1 index with mapping conflicts" in s.log_text(),
           30, "the dry run's report")
st = s.component("es")
assert st["versions"]["names"] == 2 and st["versions"]["swaps"] == 0, st["versions"]
assert st["versions"]["would_fix"] == 1 and st["versions"]["schema_heal"] == "dry_run", st["versions"]
assert alias_target("cw-a") == ["sluice-cw-a-v1"] and sorted(
    call("GET", "/cw-a/_field_caps?fields=statusCode")["fields"]["statusCode"]) == ["keyword", "long"]
assert s.stop() == 0

# ---- Phase B: healing swaps the alias while a reader counts -------------------------------
seen, targets, stop = [], set(), threading.Event()


def reader():
    while not stop.is_set():
        seen.append(count("cw-a"))
        targets.update(alias_target("cw-a"))


th = threading.Thread(target=reader, daemon=True)
th.start()
wait_until(lambda: len(seen) >= 5, 30, "reader running")
s = Sluice(config("on")).start()
wait_until(lambda: alias_target("cw-a") == ["sluice-cw-a-v2"], 60, "alias swapped to -v2")
wait_until(lambda: "schema_heal: fixed 1 index with mapping conflicts" in s.log_text(), 30,
           "the pass's summary line")
n_after = len(seen)
wait_until(lambda: len(seen) >= n_after + 5, 30, "reads after the swap")
stop.set()
th.join(30)
bad = [c for c in seen if c != N]
assert not bad, "reader saw %s (expected %d every time), %d reads" % (sorted(set(bad)), N, len(seen))
assert targets == {"sluice-cw-a-v1", "sluice-cw-a-v2"}, targets
log("reader: %d counts through the alias, all %d, across the swap" % (len(seen), N))
fc = call("GET", "/cw-a/_field_caps?fields=statusCode*")["fields"]
assert list(fc["statusCode"]) == ["long"], fc
tm = call("GET", "/_index_template/sluice-es-cw-a")["index_templates"][0]["index_template"]
assert tm["template"]["mappings"]["properties"]["statusCode"] == {"type": "long"}, tm
assert alias_target("cw-b") == ["sluice-cw-b-v1"]  # no conflict: untouched
assert count("cw-*") == N + NB
v = s.component("es")["versions"]
assert v["swaps"] == 1 and v["indices_fixed"] == 1 and v["conflicts"] >= 1, v
assert v["documents_coerced"] == N1 and v["documents_copied"] == N, v
assert s.component_counter("es", "alias_swaps") == 1
assert s.component_counter("es", "schema_heal_indices_fixed") == 1
lt = s.log_text()
assert "statusCode: long (keyword in 1 (%d documents), long in 1 (%d documents))" % (N1, N2) in lt, lt[-3000:]
assert "sluice-cw-a-v2 (%d documents, %d coerced, 0 renamed)" % (N, N1) in lt, lt[-3000:]
# no source re-reads these events (a file): the repair is a copy, and says so
assert "schema_heal: repair cw-a: copied everything from sluice-cw-a-v1 (no source re-reads " \
    "its events)" in lt, lt[-3000:]

# ---- Phase C: refused documents renamed; a heal while events are written -------------------
write("a3.log", [{"group": "a", "week": 3, "statusCode": "-" if i % 2 else 204, "i": i}
                 for i in range(N3)])
N += N3
wait_until(lambda: count("cw-a") == N, 60, "week 3 delivered")
assert count("cw-a", {"exists": {"field": "statusCode_str"}}) == N3 // 2
# the node holds the documents before the sink has read its answer and counted them
wait_until(lambda: s.component_counter("es", "schema_heal_documents_renamed") >= N3 // 2, 60,
           "renamed documents counted")
assert s.component_counter("es", "schema_heal_documents_renamed") == N3 // 2
wait_until(lambda: "schema_heal: renamed statusCode to statusCode_str in" in s.log_text(), 60,
           "the rename logged")
# the next pass pins both names in the template
wait_until(lambda: call("GET", "/_index_template/sluice-es-cw-a")["index_templates"][0]
           ["index_template"]["template"]["mappings"]["properties"].get("statusCode_str")
           == {"type": "keyword"}, 30, "renamed field pinned")

# ---- Phase D: a conflict healed while events are written ---------------------------------------
tm = call("GET", "/_index_template/sluice-es-cw-a")["index_templates"][0]["index_template"]
props = dict(tm["template"]["mappings"]["properties"])
props.pop("statusCode")  # an operator's edit: the new backing index maps statusCode by its data
tm["template"]["mappings"]["properties"] = props
call("PUT", "/_index_template/sluice-es-cw-a", tm)
call("POST", "/cw-a/_rollover")
# the heal pass waits (its _field_caps held) until week 4 is in; the copy will be held
call("POST", "/_emulator/control", {"hold_field_caps": True, "hold_scroll": True})
before = s.component("es")["versions"]["swaps"]
write("a4.log", [{"group": "a", "week": 4, "statusCode": "ok-%d" % i, "i": i} for i in range(N4)])
N += N4
wait_until(lambda: count("cw-a") == N, 60, "week 4 delivered")
wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "source committed")
call("POST", "/_emulator/control", {"hold_field_caps": False})
wait_until(lambda: call("GET", "/_emulator/stats").get("scrolls_held", 0) >= 1, 60,
           "the repair's copy (dual writes on)")
assert count("cw-a") == N and alias_target("cw-a") == ["sluice-cw-a-v2"]
assert count("sluice-cw-a-v1") == 0  # the fresh standby: nothing copied yet
write("a5.log", [{"group": "a", "week": 5, "statusCode": 300 + i, "i": i} for i in range(N5)])
N += N5
wait_until(lambda: count("cw-a") == N, 60, "week 5 delivered to the active version")
wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "source committed")
# written during the repair: in the active version and, first, in the standby
assert count("sluice-cw-a-v1") == N5, count("sluice-cw-a-v1")
assert count("sluice-cw-a-v1", {"range": {"week": {"gte": 5}}}) == N5
seen2, stop2 = [], threading.Event()


def reader2():
    while not stop2.is_set():
        seen2.append(count("cw-a"))


th2 = threading.Thread(target=reader2, daemon=True)
th2.start()
wait_until(lambda: len(seen2) >= 5, 30, "second reader running")
call("POST", "/_emulator/control", {"hold_scroll": False})
wait_until(lambda: s.component("es")["versions"]["swaps"] == before + 1, 90, "second swap")
n2 = len(seen2)
wait_until(lambda: len(seen2) >= n2 + 5, 30, "reads after the second swap")
stop2.set()
th2.join(30)
assert set(seen2) == {N}, sorted(set(seen2))
assert alias_target("cw-a") == ["sluice-cw-a-v1"]
assert count("cw-a") == N and count("cw-*") == N + NB
fc = call("GET", "/cw-a/_field_caps?fields=statusCode")["fields"]["statusCode"]
assert list(fc) == ["long"], fc

# ---- Phase F: kill -9 in the middle of a repair ------------------------------------------------
tm = call("GET", "/_index_template/sluice-es-cw-a")["index_templates"][0]["index_template"]
props = dict(tm["template"]["mappings"]["properties"])
props.pop("statusCode")
tm["template"]["mappings"]["properties"] = props
call("PUT", "/_index_template/sluice-es-cw-a", tm)
call("POST", "/cw-a/_rollover")
held = call("GET", "/_emulator/stats").get("scrolls_held", 0)
call("POST", "/_emulator/control", {"hold_field_caps": True, "hold_scroll": True})
write("a6.log", [{"group": "a", "week": 6, "statusCode": "x%d" % i, "i": i} for i in range(N6)])
N += N6
wait_until(lambda: count("cw-a") == N, 60, "week 6 delivered")
wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "source committed")
call("POST", "/_emulator/control", {"hold_field_caps": False})
wait_until(lambda: call("GET", "/_emulator/stats").get("scrolls_held", 0) > held, 60,
           "the third repair's copy")
write("a7.log", [{"group": "a", "week": 7, "statusCode": i, "i": i} for i in range(N7)])
N += N7
wait_until(lambda: count("cw-a") == N, 60, "week 7 delivered (and dual written)")
assert count("sluice-cw-a-v2") == N7
s.kill9()
call("POST", "/_emulator/control", {"hold_scroll": False})
assert alias_target("cw-a") == ["sluice-cw-a-v1"] and count("cw-a") == N  # untouched
s = Sluice(config("on")).start()
wait_until(lambda: alias_target("cw-a") == ["sluice-cw-a-v2"], 90, "the repair redone after the kill")
wait_until(lambda: s.component("es")["versions"]["swaps"] == 1, 30, "the swap counted")
assert count("cw-a") == N and count("cw-*") == N + NB
fc = call("GET", "/cw-a/_field_caps?fields=statusCode")["fields"]["statusCode"]
assert list(fc) == ["long"], fc
assert s.counter("sluice_dlq_events_total", component_id="es") == 0
dlq = os.path.join(WORK, "data", "dlq", "es.ndjson")
assert not os.path.exists(dlq) or open(dlq).read() == ""
assert s.stop() == 0
# ---- Phase E: a node without aliases on data streams (Elasticsearch 7.13) ---------------------
old = Emulator("es_emulator.py", "--flavor", "es7", "--version", "7.13.4")
s = Sluice("shutdown_timeout: 1s\n" + config("on", es="http://127.0.0.1:%d" % old.port, data="data-old"),
           name="old").start()
wait_until(lambda: "versioned needs aliases on data streams, Elasticsearch >= 7.14" in s.log_text(),
           30, "the refusal")
st = http_json("http://127.0.0.1:%d/_emulator/stats" % old.port)
assert st["created"] == 0 and st["alias_updates"] == 0, st
s.stop()
old.stop()
log("ok: versioned names, a dry run, a swap under a reader (%d reads), renamed refusals, a "
    "heal with dual writes (%d reads); %d events once through the alias" % (len(seen), len(seen2), N))
emu.stop()
