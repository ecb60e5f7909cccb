"""cloudwatch_logs sharded over replicas (shard: {index, count}) into elasticsearch. 9 groups
found by prefix, 2 days of history, new events arriving throughout.

1. Three replicas, shard index from ${HOSTNAME} (sluice-puller-0..2), count 3, each with its
   own data dir and its own access key (so the emulator's request log says who read what):
   each owns exactly the groups rendezvous hashing gives it (recomputed here from the
   documented hash), says so in its status, /metrics and one log line, and every group's
   requests come from its owner alone. The history reaches the destination.
2. Re-shard to 2 as a rolling change would: one day of a group shard 2 owns is deleted from
   the destination first (what an owner that stopped mid-backfill leaves behind); replicas
   0 and 1 are stopped and started again with count 2 on the same data dirs while the old
   replica 2 still runs (two owners for its groups for a while), then replica 2 is
   stopped. The groups that moved are taken over from the destination (started_from
   "destination"), the others keep their checkpoints; the new owner's one-time check finds
   the deleted day and reads it again (less what its tail already re-read: the day ends
   with an event inside the overlap before the new owner's cursor).
3. Back to 3 on the same data dirs: replicas 0 and 1 go on from their checkpoints; replica
   2's checkpoints of its groups are older than what the destination holds (the others read
   them meanwhile), so it takes them over from the destination, checks included: a day of
   another moved group, deleted after its count-2 owner checked it, is found and read again.
At the end every event the emulator holds is in the destination exactly once by id, and
every doc is an event of the emulator; ids sent more than once were only the re-reads."""
import json
import os
import threading
import time

from harness import Sluice, WORK, free_port, log, wait_until, get_ndjson, get_text, post_json
from cw_common import counter, start_emulators, cw_events, es_count, es_docs

GROUPS = ["/aws/lambda/svc-%d" % i for i in range(9)]
DAYS = 2
DAY = 86400 * 1000
KEYS = [("AKIDSHARD%d" % k, "shard-secret-%d" % k) for k in range(8)]  # 3 + 2 + 3 replicas

M64 = (1 << 64) - 1


def fnv1a(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001b3) & M64
    return h


def mix(x):
    x ^= x >> 31
    x = (x * 0x7fb5d329728ea185) & M64
    x ^= x >> 27
    x = (x * 0x81dadef4bc2dd44d) & M64
    return x ^ (x >> 33)


def owner(group, count):
    """The documented assignment: the shard with the largest weight (the lower on a tie)."""
    h = fnv1a(group)
    ws = [mix(h ^ mix((0x9e3779b97f4a7c15 * (i + 1)) & M64)) for i in range(count)]
    return ws.index(max(ws))


own3 = {i: sorted(g for g in GROUPS if owner(g, 3) == i) for i in range(3)}
own2 = {i: sorted(g for g in GROUPS if owner(g, 2) == i) for i in range(2)}
assert all(own3.values()) and all(own2.values()), (own3, own2)
for g in GROUPS:  # rendezvous: 3 -> 2 moves only shard 2's groups
    assert owner(g, 3) == 2 or owner(g, 2) == owner(g, 3), g
moved = own3[2]
victim = moved[0]  # a group shard 2 reads whose day goes missing before the handover

cw, es, cwb, esb = start_emulators("--page-size", "200",
                                   *sum((["--also-key", "%s:%s" % k] for k in KEYS), []))


def readers(keys):
    """{group: set of access keys} of the FilterLogEvents calls made with `keys`."""
    res = {}
    for r in get_ndjson(cwb + "/_emulator/requests"):
        if r.get("action") == "FilterLogEvents" and r.get("key") in keys:
            res.setdefault(r["group"], set()).add(r["key"])
    return res


now_ms = int(time.time() * 1000)
gen = post_json(cwb + "/_emulator/generate", {"groups": GROUPS, "streams": 3, "days": DAYS,
                                              "per_hour": 4, "end_ms": now_ms - 60000})
log("history:", gen)
# yesterday (the day deleted below) ends with an event inside the new owner's overlap
day = (now_ms - DAY) // DAY * DAY
post_json(cwb + "/_emulator/put", {"group": victim, "stream": "stream-000",
                                   "events": [{"timestamp": day + DAY - 1000, "message": "yesterday's last second"}]})
HISTORY = gen["events"] + 1
history = {e["id"] for e in cw_events(cwb)}  # before the live writer starts
assert len(history) == HISTORY

stop = threading.Event()
sent = [0]


def writer():
    i = 0
    while not stop.is_set():
        post_json(cwb + "/_emulator/put", {"group": GROUPS[i % len(GROUPS)], "stream": "stream-%03d" % (i % 3),
                                           "events": [{"timestamp": int(time.time() * 1000),
                                                       "message": "live %d" % i}]})
        i += 1
        sent[0] = i
        time.sleep(0.02)


CFG = """
data_dir: %(data)s
api: { address: "127.0.0.1:%(port)d" }
sources:
  cw:
    type: cloudwatch_logs
    log_group_prefix: /aws/lambda/svc-
    discover_interval_secs: 5
    shard: { index: "${HOSTNAME}", count: %(count)d }
    region: us-east-1
    endpoint: "%(cw)s"
    backfill_days: %(days)d
    window_minutes: 1440
    poll_interval_secs: 1
    overlap_secs: 5
    max_requests_per_sec: 40
    page_limit: 500
    backoff_base_ms: 50
    backoff_max_ms: 1000
    reconcile:
      elasticsearch: "%(es)s"
      index: "cwl-{{ cloudwatch.log_group_slug }}"
sinks:
  es:
    type: elasticsearch
    inputs: [cw]
    endpoint: "%(es)s"
    index: "cwl-{{ cloudwatch.log_group_slug }}"
    batch: { max_events: 500, timeout_ms: 50 }
    retry: { initial_ms: 10, max_ms: 200 }
"""


def replica(index, count, key, name):
    env = {"HOSTNAME": "sluice-puller-%d" % index, "AWS_ACCESS_KEY_ID": key[0],
           "AWS_SECRET_ACCESS_KEY": key[1], "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
           "AWS_EC2_METADATA_DISABLED": "true"}
    cfg = CFG % {"data": os.path.join(WORK, "data-%d" % index), "port": free_port(), "count": count,
                 "cw": cwb, "days": DAYS + 1, "es": esb}
    return Sluice(cfg, name=name, env=env).start()


def newest(group):
    """The newest @timestamp (ms) the destination holds of a group, 0 when none."""
    q = {"size": 0, "query": {"bool": {"filter": [{"term": {"cloudwatch.log_group": group}}]}},
         "aggs": {"newest": {"max": {"field": "@timestamp"}}}}
    return post_json(esb + "/cwl-*/_search", q)["aggregations"]["newest"]["value"] or 0


def delete_day(group):
    """Deletes yesterday (one window) of a group from the destination; returns how many."""
    q = {"query": {"bool": {"filter": [{"term": {"cloudwatch.log_group": group}},
                                       {"range": {"@timestamp": {"gte": day, "lt": day + DAY,
                                                                 "format": "epoch_millis"}}}]}}}
    n = post_json(esb + "/cwl-%s/_delete_by_query" % group.strip("/").replace("/", "-"), q)["deleted"]
    assert n > 0
    return n


def owned(s):
    c = s.component("cw")
    return c["shard"], {g["name"]: g for g in c["log_groups"]}


def check_shard(s, index, count, want):
    """Waits until the replica owns exactly `want` and every group was started."""
    def ok():
        sh, gs = owned(s)
        return (sh == {"index": index, "count": count, "owned_groups": len(want), "groups_seen": len(GROUPS)}
                and sorted(gs) == want and all(g["started_from"] != "pending" for g in gs.values()))
    wait_until(ok, 60, "shard %d/%d owning %s" % (index, count, want))
    line = "shard %d/%d owns %d of %d groups" % (index, count, len(want), len(GROUPS))
    wait_until(lambda: line in s.log_text(), 30, "the log line '%s'" % line)
    wait_until(lambda: s.metric("sluice_cloudwatch_owned_groups", component_id="cw",
                                shard="%d/%d" % (index, count)) == len(want), 30, "owned groups metric")
    assert s.metric("sluice_cloudwatch_groups_seen", component_id="cw",
                    shard="%d/%d" % (index, count)) == len(GROUPS)


wt = threading.Thread(target=writer, daemon=True)
wt.start()
try:
    # 1. three replicas
    r3 = [replica(i, 3, KEYS[i], "puller3-%d" % i) for i in range(3)]
    for i, s in enumerate(r3):
        check_shard(s, i, 3, own3[i])
        assert all(g["started_from"] == "new" for g in owned(s)[1].values()), owned(s)[1]
    # the whole history in the destination (live events have later timestamps), and every
    # replica's backfill committed: nothing of yesterday is still on its way
    wait_until(lambda: history <= {d["_id"] for d in es_docs(esb)}, 180, "history delivered")
    for i, s in enumerate(r3):
        wait_until(lambda: s.component("cw")["backfill"]["windows_total"] > 0
                   and s.component("cw")["backfill"]["remaining_windows"] == 0, 120,
                   "replica %d backfill committed" % i)
    by = readers({k[0] for k in KEYS[:3]})
    assert sorted(by) == GROUPS, sorted(by)
    for g, keys in by.items():
        assert keys == {KEYS[owner(g, 3)][0]}, (g, keys)
    log("3 shards:", {i: len(v) for i, v in own3.items()}, "each group read by its owner alone")

    # 2. the victim's yesterday goes missing; replicas 0 and 1 come back with count 2
    deleted = delete_day(victim)
    for s in r3[:2]:
        assert s.stop() == 0, s.log_text()[-2000:]
    r2 = [replica(i, 2, KEYS[3 + i], "puller2-%d" % i) for i in range(2)]
    for i, s in enumerate(r2):
        check_shard(s, i, 2, own2[i])
        for name, g in owned(s)[1].items():
            assert g["started_from"] == ("destination" if name in moved else "checkpoint"), (name, g)
    assert r3[2].stop() == 0, r3[2].log_text()[-2000:]  # the old owner of the moved groups
    stopped2 = int(time.time() * 1000)
    takers = [s for i, s in enumerate(r2) if victim in own2[i]]
    # the new owner's tail starts at the start of today's window minus the 5 s overlap, so
    # it may bring back the deleted day's last seconds before the check counts the day
    tail = len([e for e in cw_events(cwb) if e["group"] == victim and day + DAY - 5000 <= e["timestamp"] < day + DAY])
    wait_until(lambda: deleted - tail <= counter(takers[0], "reconcile_events_missing") <= deleted, 120,
               "the deleted day found by the new owner's check")
    for s in r2:
        assert counter(s, "groups_taken_over") == len([g for g in moved if g in owned(s)[1]])
    wait_until(lambda: sorted(readers({k[0] for k in KEYS[3:5]})) == GROUPS, 60, "every group read by 2 shards")
    for g, keys in readers({k[0] for k in KEYS[3:5]}).items():
        assert keys == {KEYS[3 + owner(g, 2)][0]}, (g, keys)
    found = [l for l in takers[0].log_text().splitlines() if "reading the window again" in l]
    assert len(found) == 1 and victim in found[0] and " %d.." % day in found[0], found

    # 3. back to 3 on the same data dirs: replicas 0 and 1 kept their groups throughout;
    # replica 2's checkpoints of its groups are older than what the others delivered since
    # (waited for here), so it takes them over from the destination
    wait_until(lambda: all(newest(g) > stopped2 for g in moved), 60, "the moved groups read on by 2 shards")
    # another moved group's yesterday goes missing once its count-2 owner has checked it
    victim2 = moved[1]
    owner2 = r2[owner(victim2, 2)]
    wait_until(lambda: "reconcile %s %d.." % (victim2, day) in owner2.log_text(), 60,
               "the count-2 owner's check of %s" % victim2)
    deleted2 = delete_day(victim2)
    for s in r2:
        assert s.stop() == 0, s.log_text()[-2000:]
    r3b = [replica(i, 3, KEYS[5 + i], "puller3b-%d" % i) for i in range(3)]
    for i, s in enumerate(r3b):
        check_shard(s, i, 3, own3[i])
        want_from = "destination" if i == 2 else "checkpoint"
        assert all(g["started_from"] == want_from for g in owned(s)[1].values()), owned(s)[1]
    assert "read by another replica since its checkpoint" in r3b[2].log_text()
    tail2 = len([e for e in cw_events(cwb) if e["group"] == victim2 and day + DAY - 5000 <= e["timestamp"] < day + DAY])
    wait_until(lambda: deleted2 - tail2 <= counter(r3b[2], "reconcile_events_missing") <= deleted2, 120,
               "the second deleted day found by replica 2's check")
    wait_until(lambda: sorted(readers({k[0] for k in KEYS[5:]})) == GROUPS, 60, "every group read by 3 shards")
    stop.set()
    wt.join()
    want = {e["id"] for e in cw_events(cwb)}
    assert len(want) == HISTORY + sent[0]
    wait_until(lambda: es_count(esb) >= len(want), 120, "every event delivered (%d)" % len(want))
    for s in r3b:
        wait_until(lambda: s.component("cw")["pending_acks"] == 0, 60, "commits")
    docs = es_docs(esb)
    ids = [d["_id"] for d in docs]
    assert len(ids) == len(set(ids)) == len(want), (len(ids), len(set(ids)), len(want))
    assert set(ids) == want, (sorted(want - set(ids))[:3], sorted(set(ids) - want)[:3])
    for d in docs:
        assert d["_index"] == "cwl-" + d["_source"]["cloudwatch"]["log_group"].strip("/").replace("/", "-")
    for g, keys in readers({k[0] for k in KEYS[5:]}).items():
        assert keys == {KEYS[5 + owner(g, 3)][0]}, (g, keys)
    attempts = json.loads(get_text(esb + "/_emulator/attempts"))
    resent = {i: n for i, n in attempts.items() if n > 1}
    assert set(attempts) == want, "a doc id the emulator never held was sent"
    log("3 -> 2 -> 3 shards: %d events exactly once by id; %d ids sent more than once (re-reads: the "
        "handover windows, the deleted day %d events, two owners for a while, old cursors)" % (
            len(want), len(resent), deleted))
    for s in r3b:
        assert s.stop() == 0, s.log_text()[-2000:]
finally:
    stop.set()
    cw.stop()
    es.stop()
print("ok")
