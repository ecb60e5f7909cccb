"""s3 sink with credentials from EKS Pod Identity: the container credentials endpoint
(AWS_CONTAINER_CREDENTIALS_FULL_URI) wants the token that the kubelet writes to the file
named by AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, which wins over a
AWS_CONTAINER_AUTHORIZATION_TOKEN also set, as in the AWS SDKs. The file was not read:
the endpoint refused the request, no credentials were found and nothing was written. The
credentials (a session token with them) come from the CloudWatch emulator's container
endpoint; the S3 emulator checks every signature made with them."""
import json
import os

from harness import Emulator, Sluice, WORK, free_port, log, wait_until
from s3_common import S3Emu

KEY, SECRET = "AKIDPODIDENTITY", "pod-identity-secret"
creds = Emulator("cloudwatch_emulator.py", "--access-key", KEY, "--secret", SECRET,
                 "--token", "SESSION-1", "--ecs-auth", "pod-token-abc")
emu = S3Emu("--access-key", KEY, "--secret-key", SECRET)

tokfile = os.path.join(WORK, "eks-pod-identity-token")
with open(tokfile, "w") as f:
    f.write("pod-token-abc\n")  # as the kubelet writes it: one line
home = os.path.join(WORK, "home")
os.makedirs(home)
env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
env.update({"HOME": home, "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(WORK, "none"),
            "AWS_CONTAINER_CREDENTIALS_FULL_URI":
                "http://127.0.0.1:%d/ecs-credentials" % creds.port,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "stale-token",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokfile})

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
N = 200
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write(json.dumps({"message": "pod event %04d" % i}) + "\n")

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
    key_prefix: "pod/"
    batch: { max_events: 100, timeout_ms: 100 }
    retry: { initial_ms: 20, max_ms: 200 }
""" % {"w": WORK, "api": api, "ep": emu.base}, env=env).start()

wait_until(lambda: emu.count("pod/") == N, 60, "every event stored with Pod Identity credentials")
assert sorted(emu.messages("pod/")) == ["pod event %04d" % i for i in range(N)]
assert s.stop() == 0
emu.stop()
creds.stop()
log("ok")
