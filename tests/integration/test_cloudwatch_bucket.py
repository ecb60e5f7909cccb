"""cloudwatch_logs sources of one account share its request quota: sources `a` and `b` read
different groups with the same credentials and region, each with max_requests_per_sec 4, so
together they may send 4 requests a second, not 8; source `c` has another account's access
key and its own bucket. From the emulator's request log (every FilterLogEvents and
DescribeLogStreams call, in order, with its arrival time and access key id):

- over every sliding interval of the log, a and b together made at most
  rate x interval + capacity + 2 requests. The bound holds on any machine: the bucket hands
  out at most capacity + rate x interval tokens in an interval, and each source has at most
  one request whose token was taken before the interval and that arrives inside it (a
  source takes its next token only after the answer). A slow machine only sends fewer;
- both made progress from the start (each has a fair share of the first half of the log:
  a refused sharer claims the next token);
- c's requests obey the same bound for c alone, and the status API shows a and b in one
  bucket of 2 members and c in its own;
- every event arrived exactly once."""
import os
import time

from harness import Emulator, Sluice, WORK, free_port, get_ndjson, log, ndjson_file, post_json, wait_until

RATE = 4
DAYS = int(os.environ.get("CW_BUCKET_DAYS", "1"))
KEY_A, KEY_C = "AKIDSLUICETEST", "AKIDOTHERACCOUNT"
cw = Emulator("cloudwatch_emulator.py", "--also-key", KEY_C + ":other-secret")
cwb = "http://127.0.0.1:%d" % cw.port
GROUPS = {"a": "/team/a", "b": "/team/b", "c": "/other/c"}
end = int(time.time() * 1000) - 600000  # nothing for the live tail's overlap to re-read
total = 0
for g in GROUPS.values():
    total += post_json(cwb + "/_emulator/generate", {"groups": [g], "streams": 2, "days": DAYS,
                                                     "per_hour": 6, "end_ms": end})["events"]
creds = os.path.join(WORK, "bucket-credentials")
with open(creds, "w") as f:
    f.write("[default]\naws_access_key_id = %s\naws_secret_access_key = sluice-test-secret\n\n"
            "[other]\naws_access_key_id = %s\naws_secret_access_key = other-secret\n" % (KEY_A, KEY_C))
out = os.path.join(WORK, "bucket.ndjson")
port = free_port()
src = """  %s: { type: cloudwatch_logs, log_groups: ["%s"], endpoint: "%s", region: eu-west-1,
        credentials_file: "%s", profile: %s, backfill_days: %d, window_minutes: 240,
        poll_interval_secs: 2, overlap_secs: 5, max_requests_per_sec: %d,
        stream_discover_interval_secs: 30 }
"""
cfg = "data_dir: %s/bucket-data\napi: { address: \"127.0.0.1:%d\" }\nsources:\n" % (WORK, port)
for name, prof in (("a", "default"), ("b", "default"), ("c", "other")):
    cfg += src % (name, GROUPS[name], cwb, creds, prof, DAYS + 1, RATE)
cfg += "sinks:\n  out: { type: file, inputs: [a, b, c], path: \"%s\" }\n" % out
env = {"AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}


def lines():
    return ndjson_file(out)


def check_rate(reqs, members, what):
    """Every sliding interval [t_i, t_j] of reqs holds at most the bound's requests."""
    worst = 0.0
    for i in range(len(reqs)):
        for j in range(i, len(reqs)):
            n = j - i + 1
            bound = RATE * (reqs[j]["t"] - reqs[i]["t"]) + RATE + members
            worst = max(worst, n - (bound - members - RATE))
            assert n <= bound + 1e-6, "%s: %d requests in %.3f s (bound %.2f)" % (
                what, n, reqs[j]["t"] - reqs[i]["t"], bound)
    return worst


s = Sluice(cfg, name="bucket", env=env).start()
try:
    want = {e["id"] for e in get_ndjson(cwb + "/_emulator/events")}
    assert len(want) == total
    wait_until(lambda: len(lines()) >= total, 300, "every event")
    st = {c: s.component(c).get("rate_limit") for c in "abc"}
    log("rate limits: %s" % st)
    assert st["a"] == {"requests_per_sec": RATE, "sharers": 2}, st
    assert st["b"] == {"requests_per_sec": RATE, "sharers": 2}, st
    assert st["c"] == {"requests_per_sec": RATE, "sharers": 1}, st
    text = s.log_text()
    assert "same account and region (a, b)" in text or "same account and region (b, a)" in text, text[-2000:]
    assert "(a, b, c)" not in text and ", c)" not in text

    reqs = get_ndjson(cwb + "/_emulator/requests")
    shared = [e for e in reqs if e.get("key") == KEY_A]
    other = [e for e in reqs if e.get("key") == KEY_C]
    assert shared and other and len(shared) + len(other) == len(reqs)
    # each source also asks its group's retention (DescribeLogGroups, the group as prefix)
    grp = lambda e: e["prefix"] if e["action"] == "DescribeLogGroups" else e["group"]
    assert {grp(e) for e in shared} == {GROUPS["a"], GROUPS["b"]}
    assert {grp(e) for e in other} == {GROUPS["c"]}
    assert sorted(grp(e) for e in reqs if e["action"] == "DescribeLogGroups") == sorted(GROUPS.values())
    span = shared[-1]["t"] - shared[0]["t"]
    log("a+b: %d requests in %.1f s (%.2f/s, limit %d/s); c: %d requests in %.1f s" % (
        len(shared), span, len(shared) / max(span, 1e-3), RATE, len(other), other[-1]["t"] - other[0]["t"]))
    assert span >= 3, "the pair was not busy for a few seconds (%.1f s): raise CW_BUCKET_DAYS" % span
    w = check_rate(shared, 2, "a+b")
    check_rate(other, 1, "c")
    log("largest burst above rate x interval: %.2f requests (capacity %d)" % (w, RATE))
    # both made progress from the start: a fair share each of the first half, counted from
    # the first request of the source that came up last (until then the other one is alone)
    both = max(next(i for i, e in enumerate(shared) if grp(e) == GROUPS[x]) for x in "ab")
    half = shared[both:both + (len(shared) - both) // 2]
    na = len([e for e in half if grp(e) == GROUPS["a"]])
    assert len(half) // 4 <= na <= len(half) - len(half) // 4, (
        na, len(half), both, " ".join("%s%s%.2f" % ("a" if grp(e) == GROUPS["a"] else "b",
                                                    e["action"][0], e["t"] - shared[0]["t"]) for e in shared))
    # every event exactly once (nothing generated lies in the live tail's overlap)
    got = [e["cloudwatch.event_id"] for e in lines()]
    assert len(got) == len(set(got)) == total and set(got) == want, (len(got), len(set(got)), total)
    # backfill progress: every window queued is committed once everything is delivered
    def windows(c, what):  # (a label called name: the harness's helpers take that word)
        want = 'component_id="%s",' % c, 'name="backfill_windows_%s"' % what
        for line in s.get("/metrics")[1].splitlines():
            if line.startswith("sluice_component_counter_total{") and all(w in line for w in want):
                return float(line.rsplit(" ", 1)[1])
        return 0
    for c in "abc":
        wait_until(lambda: windows(c, "queued") > 0 and windows(c, "done") == windows(c, "queued"),
                   120, "backfill windows of %s committed" % c)
    assert s.stop() == 0
finally:
    s.stop()
