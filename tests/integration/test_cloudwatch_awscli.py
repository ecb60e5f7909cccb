"""The CloudWatch Logs emulator cross-checked with awscli: the real client's requests are
signed and accepted, paginated results come back whole, a wrong secret gets the real
InvalidSignatureException shape, and injected throttling reaches the client as ThrottlingException."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import Emulator, log  # noqa: E402

AWS = shutil.which("aws")
assert AWS, "awscli not installed (scripts/setup.sh installs it)"
emu = Emulator("cloudwatch_emulator.py", "--page-size", "7")
url = "http://127.0.0.1:%d" % emu.port
env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDSLUICETEST", AWS_SECRET_ACCESS_KEY="sluice-test-secret",
           AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="", AWS_MAX_ATTEMPTS="1",
           AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")


def aws(*args, secret=None, check=True):
    e = dict(env)
    if secret:
        e["AWS_SECRET_ACCESS_KEY"] = secret
    p = subprocess.run([AWS, "logs"] + list(args) + ["--endpoint-url", url, "--output", "json"],
                       env=e, capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("aws %s failed: %s" % (args, p.stderr))
    return p


try:
    aws("create-log-group", "--log-group-name", "/aws/lambda/x")
    aws("create-log-stream", "--log-group-name", "/aws/lambda/x", "--log-stream-name", "s1")
    evs = ["timestamp=%d,message=m%d" % (1000 + i, i) for i in range(25)]
    aws("put-log-events", "--log-group-name", "/aws/lambda/x", "--log-stream-name", "s1", "--log-events", *evs)
    # the client follows nextToken across 4 pages of 7
    out = json.loads(aws("filter-log-events", "--log-group-name", "/aws/lambda/x").stdout)
    assert [e["message"] for e in out["events"]] == ["m%d" % i for i in range(25)], out
    assert len({e["eventId"] for e in out["events"]}) == 25
    out = json.loads(aws("get-log-events", "--log-group-name", "/aws/lambda/x", "--log-stream-name", "s1",
                         "--start-from-head", "--limit", "5").stdout)
    assert [e["message"] for e in out["events"]] == ["m0", "m1", "m2", "m3", "m4"], out
    assert out["nextForwardToken"].startswith("f/")
    out = json.loads(aws("describe-log-streams", "--log-group-name", "/aws/lambda/x").stdout)
    assert out["logStreams"][0]["lastEventTimestamp"] == 1024, out
    p = aws("describe-log-groups", secret="wrong-secret", check=False)
    assert p.returncode != 0 and "InvalidSignatureException" in p.stderr, p.stderr
    p = aws("describe-log-streams", "--log-group-name", "/nope", check=False)
    assert p.returncode != 0 and "ResourceNotFoundException" in p.stderr, p.stderr
    import urllib.request
    urllib.request.urlopen(urllib.request.Request(url + "/_emulator/control", data=b'{"throttle": 1}')).read()
    p = aws("describe-log-groups", check=False)
    assert p.returncode != 0 and "ThrottlingException" in p.stderr, p.stderr
    log("awscli cross-check ok")
finally:
    emu.stop()
