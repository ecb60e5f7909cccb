"""The forward sink -> servers that check what the real ones check (tests/emulators/
forward_server.py): Fluent Bit 5.1's in_forward (every PING item a msgpack str, the salt
too; TLS, shared key, a user, gzip, acks) and Fluentd's in_forward (bin nonce, keepalive,
PONG false on any failure). Every event arrives at both; a wrong password and a wrong key
are refused as those servers refuse them and deliver nothing. The emulator itself refuses a
PING whose salt is bin, as Fluent Bit does ("Invalid shared_key_salt type message"), so a
sink writing one could not pass here."""
import os
import subprocess

from fwdclient import Client
from harness import Emulator, Sluice, WORK, free_port, get_ndjson, http_json, log, wait_until

N = 3000
cert, key = os.path.join(WORK, "cert.pem"), os.path.join(WORK, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
               check=True, capture_output=True)

p_fb, p_fd = free_port(), free_port()
fb = Emulator("forward_server.py", "--port", str(p_fb), "--flavor", "fluent-bit",
              "--shared-key", "emp-log-aggregation-key", "--user", "alice:s3cret",
              "--self-hostname", "fb-server", "--tls-cert", cert, "--tls-key", key)
fd = Emulator("forward_server.py", "--port", str(p_fd), "--flavor", "fluentd",
              "--shared-key", "fd-key", "--user", "bob:hunter2", "--self-hostname", "fd-server")
fb_url, fd_url = "http://127.0.0.1:%d" % fb.port, "http://127.0.0.1:%d" % fd.port

# The emulator is strict where Fluent Bit is: a PING with the salt as bin (what the sink
# used to send) is closed without a PONG; Fluentd's in_forward takes it.
c = Client(p_fb, tls_ca=cert)
try:
    c.handshake("emp-log-aggregation-key", "old-sink", "alice", "s3cret")
    raise AssertionError("a bin salt was answered")
except (ConnectionError, OSError):
    pass
c.close()
assert http_json(fb_url + "/stats")["refused"] == {"Invalid shared_key_salt type message": 1}
c = Client(p_fd, shared_key="fd-key", hostname="old-sink", username="bob", password="hunter2")
assert c.pong[1] is True and c.pong[3] == "fd-server"
c.close()

logs = os.path.join(WORK, "logs")
for d in ("good", "fluentd", "badpw", "badkey"):
    os.makedirs(os.path.join(logs, d))
    with open(os.path.join(logs, d, "app.log"), "w") as f:
        for i in range(N if d in ("good", "fluentd") else 5):
            f.write("%s event %05d\n" % (d, i))

api = free_port()
s = Sluice("""
data_dir: %(w)s/data
shutdown_timeout: 2s
api: { address: "127.0.0.1:%(api)d" }
sources:
  good:    { type: file, include: ["%(logs)s/good/*.log"], read_from: head }
  fluentd: { type: file, include: ["%(logs)s/fluentd/*.log"], read_from: head }
  badpw:   { type: file, include: ["%(logs)s/badpw/*.log"], read_from: head }
  badkey:  { type: file, include: ["%(logs)s/badkey/*.log"], read_from: head }
sinks:
  to_fb:
    type: forward
    inputs: [good]
    servers: ["127.0.0.1:%(fb)d"]
    tag: app.web
    shared_key: emp-log-aggregation-key
    self_hostname: sluice-edge
    username: alice
    password: s3cret
    compression: gzip
    tls: { enabled: true, ca_file: "%(cert)s" }
    batch: { max_events: 200 }
  to_fd:
    type: forward
    inputs: [fluentd]
    servers: ["127.0.0.1:%(fd)d"]
    shared_key: fd-key
    username: bob
    password: hunter2
    compression: gzip
    batch: { max_events: 200 }
  bad_pw:
    type: forward
    inputs: [badpw]
    servers: ["127.0.0.1:%(fb)d"]
    shared_key: emp-log-aggregation-key
    username: alice
    password: wrong
    tls: { enabled: true, ca_file: "%(cert)s" }
    retry: { initial_ms: 50, max_ms: 200 }
  bad_key:
    type: forward
    inputs: [badkey]
    servers: ["127.0.0.1:%(fb)d"]
    shared_key: not-the-key
    username: alice
    password: s3cret
    tls: { enabled: true, ca_file: "%(cert)s" }
    retry: { initial_ms: 50, max_ms: 200 }
""" % {"w": WORK, "api": api, "logs": logs, "fb": p_fb, "fd": p_fd, "cert": cert}).start()


def events(url):
    return get_ndjson(url + "/events")


wait_until(lambda: len(events(fb_url)) >= N, 60, "every event at the Fluent Bit emulator")
wait_until(lambda: len(events(fd_url)) >= N, 60, "every event at the Fluentd emulator")
wait_until(lambda: http_json(fb_url + "/stats")["refused"].get("username/password mismatch", 0) >= 2,
           60, "wrong password refused")
wait_until(lambda: http_json(fb_url + "/stats")["refused"].get("shared_key mismatch", 0) >= 2,
           60, "wrong shared key refused")
# Quiet state: the good sinks have delivered all (acked), the bad ones can never get in.
wait_until(lambda: (s.metric("sluice_component_sent_events_total", component_id="to_fb") or 0) == N and
           (s.metric("sluice_component_sent_events_total", component_id="to_fd") or 0) == N,
           60, "both good sinks report every event sent")
for url, prefix, tag in ((fb_url, "good", "app.web"), (fd_url, "fluentd", None)):
    got = events(url)
    msgs = [e["record"]["message"] for e in got]
    assert sorted(msgs) == ["%s event %05d" % (prefix, i) for i in range(N)], (url, len(msgs))
    if tag:
        assert {e["tag"] for e in got} == {tag}
    assert all(e["time_ns"] > 0 and e["metadata"] == {} for e in got)
st_fb, st_fd = http_json(fb_url + "/stats"), http_json(fd_url + "/stats")
log("fluent-bit emulator", st_fb)
log("fluentd emulator", st_fd)
assert st_fb["compressed"] > 0 and st_fb["acks"] == st_fb["messages"]["packed"], st_fb
assert st_fd["compressed"] > 0 and st_fd["acks"] == st_fd["messages"]["packed"], st_fd
assert set(st_fb["refused"]) == {"Invalid shared_key_salt type message", "username/password mismatch",
                                 "shared_key mismatch"}, st_fb
assert st_fd["refused"] == {} and st_fb["closed_bad_data"] == 0 and st_fd["closed_bad_data"] == 0
assert not [e for e in events(fb_url) if not e["record"]["message"].startswith("good ")]
for bad in ("bad_pw", "bad_key"):
    assert not s.metric("sluice_component_sent_events_total", component_id=bad), bad
    assert (s.metric("sluice_sink_retries_total", component_id=bad) or 0) > 0, bad
assert s.stop() == 0
fb.stop()
fd.stop()
