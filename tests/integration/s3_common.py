"""s3_common.py - what the s3 sink tests share: the emulator's key, control and object
reading (gzip objects decoded, lines parsed)."""
import gzip
import json
import os
import subprocess
import urllib.parse
import urllib.request

from harness import WORK, Emulator

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def aws_env(secret=SECRET_KEY, key=ACCESS_KEY):
    """An environment with the test key and no other way to find credentials."""
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("AWS_"):
            del env[k]
    home = os.path.join(WORK, "home")
    os.makedirs(home, exist_ok=True)
    env.update({"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "HOME": home,
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
    return env


class S3Emu:
    def __init__(self, *extra):
        self.emu = Emulator("s3_emulator.py", "--bucket", "logs", *extra)
        self.base = "http://127.0.0.1:%d" % self.emu.port

    def control(self, **kw):
        req = urllib.request.Request(self.base + "/_emu/control", data=json.dumps(kw).encode(),
                                     method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def stats(self):
        return json.loads(urllib.request.urlopen(self.base + "/_emu/stats", timeout=10).read())

    def objects(self, prefix=""):
        objs = json.loads(urllib.request.urlopen(self.base + "/_emu/objects", timeout=60).read())
        return [o for o in objs if o["key"].startswith(prefix)]

    def body(self, key, bucket="logs"):
        q = urllib.parse.urlencode({"bucket": bucket, "key": key})
        return urllib.request.urlopen(self.base + "/_emu/object?" + q, timeout=60).read()

    def lines(self, key):
        """The parsed NDJSON lines of an object (gzip or zstd decoded when its key says so;
        zstd by the zstd command)."""
        b = self.body(key)
        if key.endswith(".gz"):
            b = gzip.decompress(b)
        elif key.endswith(".zst"):
            b = subprocess.run(["zstd", "-dc"], input=b, capture_output=True, check=True).stdout
        assert b == b"" or b.endswith(b"\n"), key
        return [json.loads(l) for l in b.split(b"\n") if l]

    def messages(self, prefix):
        out = []
        for o in self.objects(prefix):
            out += [l["message"] for l in self.lines(o["key"])]
        return out

    def count(self, prefix):
        return len(self.messages(prefix))

    def stop(self):
        self.emu.stop()
