"""s3 sink with credentials from web identity (IRSA on EKS): AWS_WEB_IDENTITY_TOKEN_FILE
and AWS_ROLE_ARN are exchanged with STS AssumeRoleWithWebIdentity (sts_emulator.py, at
AWS_ENDPOINT_URL_STS) for temporary credentials, which the S3 emulator checks (key derived
from the STS seed, session token required, expiry enforced). Before, sluice skipped web
identity and took the next provider of the chain: here a shared credentials file whose key
S3 also accepts, so objects were written as the wrong identity while STS refused the pod.

  1. The token file holds a token STS refuses: the STS error (code and message) is logged,
     nothing is written, nothing is dead-lettered.
  2. The kubelet writes a valid token: the waiting events are stored with STS credentials.
  3. The token rotates (STS now refuses the old one) and the short-lived credentials go
     stale: while the file still holds the old token the refresh fails, which is logged,
     and the credentials held keep signing; then the refresh reads the new token and the
     events are signed with new keys.
Then the AWS CLI (botocore's own web identity provider) takes credentials from the same
emulators and lists sluice's objects, and reports STS's refusal of a wrong token: the
emulators speak what the real client speaks."""
import json
import os
import re
import subprocess

from harness import Emulator, Sluice, WORK, free_port, log, wait_until
from s3_common import ACCESS_KEY, SECRET_KEY, S3Emu

SEED = "web-identity-test-seed"
ROLE = "arn:aws:iam::111122223333:role/sluice-archiver"
# 303 s: stale (five minutes before expiry) three seconds after they are issued
sts = Emulator("sts_emulator.py", "--sts-seed", SEED, "--token", "jwt-one", "--lifetime", "303")
sts_base = "http://127.0.0.1:%d" % sts.port
emu = S3Emu("--sts-seed", SEED)


def sts_stats():
    import urllib.request
    return json.loads(urllib.request.urlopen(sts_base + "/_emu/stats", timeout=10).read())


def sts_control(**kw):
    import urllib.request
    req = urllib.request.Request(sts_base + "/_emu/control", data=json.dumps(kw).encode(),
                                 method="POST")
    urllib.request.urlopen(req, timeout=10).read()


tokfile = os.path.join(WORK, "eks.amazonaws.com", "serviceaccount", "token")
os.makedirs(os.path.dirname(tokfile))


def write_token(tok):
    """As the kubelet does: the new content replaces the file at once."""
    tmp = tokfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(tok)
    os.replace(tmp, tokfile)


write_token("jwt-refused")
home = os.path.join(WORK, "home")
os.makedirs(home)
shared = os.path.join(WORK, "credentials")
with open(shared, "w") as f:  # a key S3 accepts: web identity must win over it
    f.write("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
            % (ACCESS_KEY, SECRET_KEY))
env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
env.update({"HOME": home, "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_SHARED_CREDENTIALS_FILE": shared,
            "AWS_WEB_IDENTITY_TOKEN_FILE": tokfile, "AWS_ROLE_ARN": ROLE,
            "AWS_ENDPOINT_URL_STS": sts_base})

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
sent = []


def append(n):
    with open(os.path.join(logs, "a.log"), "a") as f:
        for _ in range(n):
            m = "irsa event %04d" % len(sent)
            sent.append(m)
            f.write(json.dumps({"message": m}) + "\n")


append(100)
api = free_port()
s = Sluice("""
data_dir: %(w)s/data
api: { address: "127.0.0.1:%(api)d" }
sources:
  in: { type: file, include: ["%(w)s/logs/a.log"] }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  arch:
    type: s3
    inputs: [p]
    bucket: logs
    endpoint: "%(ep)s"
    path_style: true
    key_prefix: "irsa/"
    batch: { max_events: 100, timeout_ms: 100 }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 0 }
""" % {"w": WORK, "api": api, "ep": emu.base}, env=env).start()
dlq = os.path.join(WORK, "data", "dlq", "arch.ndjson")


def dead_lettered():
    return os.path.getsize(dlq) if os.path.exists(dlq) else 0


# 1. refused: said in the log, nothing written (not as the shared file's identity either)
wait_until(lambda: "InvalidIdentityToken" in s.log_text(), 60, "the STS refusal logged")
assert "InvalidIdentityToken: The web identity token" in s.log_text(), s.log_text()[-2000:]
st = sts_stats()
assert st["refused"] >= 1 and st["issued"] == 0, st
r = st["requests"][0]
assert r["token"] == "jwt-refused" and r["role"] == ROLE and r["method"] == "POST", r
assert re.match(r"^[\w+=,.@-]{2,64}$", r["session"]), r
assert emu.count("irsa/") == 0 and emu.stats()["sts_keys"] == {}
assert dead_lettered() == 0

# 2. a valid token: the events waiting are stored with the credentials STS issued
write_token("jwt-one\n")
wait_until(lambda: emu.count("irsa/") == 100, 60, "events stored with web identity credentials")
first = [q["akid"] for q in sts_stats()["requests"] if q["code"] == ""]
assert first and set(emu.stats()["sts_keys"]) <= set(first), (first, emu.stats())

# 3. rotation: STS refuses the old token from now on; once the credentials are stale the
# refresh must read the new one (an event at a time until it did)
sts_control(tokens=["jwt-two"])
# until the kubelet writes the new token the refresh fails: said, and the credentials
# still held (valid for five more minutes) keep signing


def refresh_failed():
    append(1)  # an event at a time until the credentials are stale and a refresh is tried
    return "refreshing the credentials failed" in s.log_text()


wait_until(refresh_failed, 60, "the failed refresh said")
wait_until(lambda: emu.count("irsa/") == len(sent), 60, "events stored with the credentials held")
assert "InvalidIdentityToken" in s.log_text().split("refreshing the credentials failed")[1]
write_token("jwt-two\n")


def refreshed():
    append(1)
    ok = [q for q in sts_stats()["requests"] if q["code"] == "" and q["token"] == "jwt-two"]
    return ok and ok[-1]["akid"] in emu.stats()["sts_keys"]


wait_until(refreshed, 60, "credentials refreshed with the rotated token")
wait_until(lambda: emu.count("irsa/") == len(sent), 60, "every event stored")
assert sorted(emu.messages("irsa/")) == sorted(sent)
assert len(emu.stats()["sts_keys"]) >= 2, emu.stats()
assert dead_lettered() == 0
assert s.stop() == 0


def aws_cli(token, name):
    """The CLI with web identity only, in a fresh home (it caches assumed credentials)."""
    cli_home = os.path.join(WORK, "cli-" + name)
    os.makedirs(cli_home)
    tok = os.path.join(cli_home, "token")
    with open(tok, "w") as f:
        f.write(token)
    cenv = {k: v for k, v in env.items() if k != "AWS_SHARED_CREDENTIALS_FILE"}
    cenv.update({"HOME": cli_home, "AWS_WEB_IDENTITY_TOKEN_FILE": tok,
                 "AWS_DEFAULT_REGION": "us-east-1"})
    return subprocess.run(["aws", "--endpoint-url", emu.base, "s3", "ls", "s3://logs/irsa/"],
                          capture_output=True, text=True, timeout=120, env=cenv)


r = aws_cli("jwt-two", "ok")
assert r.returncode == 0, (r.stdout, r.stderr)
assert len(r.stdout.splitlines()) == len(emu.objects("irsa/")), r.stdout
assert any(q["session"].startswith("botocore") and q["code"] == ""
           for q in sts_stats()["requests"])
r = aws_cli("jwt-refused", "refused")
assert r.returncode != 0 and "InvalidIdentityToken" in r.stderr, (r.stdout, r.stderr)
emu.stop()
sts.stop()
log("ok")
