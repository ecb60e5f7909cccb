"""cloudwatch_logs credentials from the ECS container endpoint (with its authorization token)
and from EC2 IMDSv2 (session token first), both temporary credentials with a session token
that the emulator requires; then a wrong static secret: nothing read, errors counted, no
crash. Every event of the group arrives each time. Then refresh before expiry: a second
emulator hands out a new session token on every ECS / IMDSv2 fetch, each with an Expiration
301 s away, and refuses a token 6 s after it was issued (ExpiredTokenException). sluice
treats credentials as stale 5 minutes before their Expiration, so it must fetch new ones
about every second and never send an expired token; a client that waited for the refusal
would show ExpiredTokenException here. Env vars and the shared credentials file + profile
are covered by test_cloudwatch.c and by the other cloudwatch tests' configurations."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, ndjson_file, wait_until

cw = Emulator("cloudwatch_emulator.py", "--token", "SESSION-TOKEN-1", "--ecs-auth", "ecs-secret")
cwb = "http://127.0.0.1:%d" % cw.port
# Tokens expire 301 s after issue, so a client refreshing 5 minutes early refreshes 1 s in; the
# API refuses a token 60 s after issue: only a client that never refreshes (or keeps using the
# old token) is refused, while one whose IMDS calls time out now and then on a loaded machine
# still has a minute of retries.
rot = Emulator("cloudwatch_emulator.py", "--creds-ttl", "301", "--creds-valid", "60")
rotb = "http://127.0.0.1:%d" % rot.port


def post(path, obj):
    req = urllib.request.Request(cwb + path, data=json.dumps(obj).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def stats(base=cwb):
    with urllib.request.urlopen(base + "/_emulator/stats", timeout=10) as r:
        return json.loads(r.read())


n = post("/_emulator/generate", {"groups": ["/creds/test"], "streams": 2, "days": 1, "per_hour": 3})["events"]
base_env = {k: "" for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")}
base_env["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(WORK, "none")
base_env["AWS_EC2_METADATA_DISABLED"] = "true"


def run(name, env, base=cwb):
    port = free_port()
    out = os.path.join(WORK, name + ".ndjson")
    cfg = """
data_dir: %s/%s
api: { address: "127.0.0.1:%d" }
sources:
  cw: { type: cloudwatch_logs, log_groups: ["/creds/test"], endpoint: "%s", backfill_days: 2,
        window_minutes: 720, poll_interval_secs: 1, backoff_base_ms: 20, backoff_max_ms: 200 }
sinks:
  out: { type: file, inputs: [cw], path: "%s" }
""" % (WORK, name, port, base, out)
    s = Sluice(cfg, name=name, env=dict(base_env, **env)).start()
    return s, out


def ids(p):
    """Distinct event ids: the file sink keeps the live tail's overlap re-reads (an
    elasticsearch sink folds them by _id)."""
    return {e["cloudwatch.event_id"] for e in lines(p)}


def lines(p):
    return ndjson_file(p)


try:
    s, out = run("ecs", {"AWS_CONTAINER_CREDENTIALS_FULL_URI": cwb + "/ecs-credentials",
                         "AWS_CONTAINER_AUTHORIZATION_TOKEN": "ecs-secret"})
    wait_until(lambda: len(ids(out)) == n, 60, "events with ECS credentials")
    assert "credentials from ecs" in s.log_text()
    # the live tail re-reads its overlap every poll but sends no event twice: only the first
    # poll's overlap with the backfill's last window may repeat
    r0 = stats()["requests"]
    wait_until(lambda: stats()["requests"] >= r0 + 5, 60, "five more polls")
    assert len(lines(out)) <= n + 10, (len(lines(out)), n)
    assert s.stop() == 0
    s, out = run("imds", {"AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": cwb})
    wait_until(lambda: len(ids(out)) == n, 60, "events with IMDSv2 credentials")
    assert "credentials from imds" in s.log_text()
    assert s.stop() == 0
    st = stats()
    assert st["ecs_calls"] >= 1 and st["imds_calls"] >= 1 and st["imds_tokens"] >= 1, st
    # wrong secret: rejected signatures are errors, not crashes, and nothing is emitted
    s, out = run("bad", {"AWS_ACCESS_KEY_ID": "AKIDSLUICETEST", "AWS_SECRET_ACCESS_KEY": "wrong",
                         "AWS_SESSION_TOKEN": "SESSION-TOKEN-1"})
    wait_until(lambda: (s.metric("sluice_component_errors_total", component_id="cw", reason="auth") or 0) >= 2,
               60, "auth errors counted")
    assert lines(out) == []
    assert s.stop() == 0
    log("credentials ok:", {k: st[k] for k in ("ecs_calls", "imds_calls", "imds_tokens")})
    # refresh before expiry, from both temporary-credential providers
    req = urllib.request.Request(rotb + "/_emulator/generate", method="POST",
                                 data=json.dumps({"groups": ["/creds/test"], "streams": 2, "days": 1,
                                                  "per_hour": 3}).encode())
    assert json.loads(urllib.request.urlopen(req, timeout=30).read())["events"] == n
    for name, env, key in (("ecs-rotate", {"AWS_CONTAINER_CREDENTIALS_FULL_URI": rotb + "/ecs-credentials"},
                            "ecs_calls"),
                           ("imds-rotate", {"AWS_EC2_METADATA_DISABLED": "",
                                            "AWS_EC2_METADATA_SERVICE_ENDPOINT": rotb}, "imds_calls")):
        before = stats(rotb).get(key, 0)
        s, out = run(name, env, rotb)
        wait_until(lambda: len(ids(out)) == n, 60, "events with rotating credentials (%s)" % name)
        # four fetches: three refreshes while polling goes on, each long before the
        # old token would have been refused had it been kept
        wait_until(lambda: stats(rotb).get(key, 0) >= before + 4, 60, "refreshes (%s)" % name)
        r0 = stats(rotb)["requests"]
        wait_until(lambda: stats(rotb)["requests"] >= r0 + 3, 60, "requests with refreshed tokens")
        assert (s.metric("sluice_component_errors_total", component_id="cw", reason="auth") or 0) == 0
        assert s.stop() == 0
        st = stats(rotb)
        assert st.get("expired_token", 0) == 0, "an expired token was sent (%s): %s" % (name, st)
        log("%s: %d fetches, %d tokens used, none expired" % (name, st[key] - before, len(st["tokens_used"])))
finally:
    cw.stop()
    rot.stop()
