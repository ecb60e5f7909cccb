"""A reload with a bad file changes nothing: a syntax error, an unknown sink type, an
unknown input, a changed data_dir, a changed sink buffer, a listen address no source
could bind, a new source on the port of another, a port another program listens on (TCP
or UDP) and a TLS certificate that cannot be loaded are each refused (SIGHUP and POST
/api/v1/reload and `sluice reload` answer why, with file:line:col), counted as failed in
the metrics and the status, and the old pipeline keeps running untouched (nothing
restarted, events still flow to the old sink). Then a good file reloads."""
import json
import os
import re
import socket
import subprocess
import urllib.error
import urllib.request

from harness import SLUICE, Sluice, WORK, free_port, log, wait_until
from reload_common import Sender, ndjson_messages, post_reload, reloads, sighup_reload, write

out = os.path.join(WORK, "out", "out.ndjson")
api, port = free_port(), free_port()

GOOD = """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d" }
sinks:
  out: { type: file, inputs: [fwd], path: "%s", batch: { max_events: 100 } }
""" % (WORK, api, port, out)

s = Sluice(GOOD).start()
busy = socket.socket()  # another program's listener: the new address cannot be bound
busy.bind(("127.0.0.1", 0))
busy.listen(1)
busy_port = busy.getsockname()[1]
busy_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the same for a datagram source
busy_udp.bind(("127.0.0.1", 0))
busy_udp_port = busy_udp.getsockname()[1]
BAD = [
    ("syntax", GOOD.replace("sinks:", "sinks: [unclosed"), r"sluice\.yaml:\d+:\d+: "),
    ("unknown type", GOOD.replace("type: file", "type: nope"),
     r"sluice\.yaml:7:\d+: sinks\.out: unknown sink type 'nope'"),
    ("unknown input", GOOD.replace("inputs: [fwd]", "inputs: [fwdx]"),
     r"sluice\.yaml:7:\d+: sinks\.out: unknown input 'fwdx'"),
    ("data_dir", GOOD.replace("/data", "/data2"),
     r"sluice\.yaml:2:1: 'data_dir' cannot change while sluice runs"),
    ("buffer", GOOD.replace("batch: { max_events: 100 }", "buffer: { max_bytes: 1MiB }"),
     r"sluice\.yaml:7:\d+: sinks\.out\.buffer cannot change while sluice runs"),
    ("address", GOOD.replace("127.0.0.1:%d\" }" % port, "127.0.0.1:99999\" }"),
     r"sluice\.yaml:5:\d+: sources\.fwd\.address: address \"127\.0\.0\.1:99999\": port must be"),
    ("port taken", GOOD.replace("sinks:", "  h: { type: http, address: \"0.0.0.0:%d\" }\nsinks:" % port),
     r"sluice\.yaml:6:\d+: sources\.h: \"0\.0\.0\.0:\d+\" takes port \d+, as sources\.fwd does"),
    ("address in use", GOOD.replace("127.0.0.1:%d\" }" % port, "127.0.0.1:%d\" }" % busy_port),
     r"sluice\.yaml:5:\d+: sources\.fwd\.address: address \"127\.0\.0\.1:%d\": port already "
     r"in use" % busy_port),
    ("tls file", GOOD.replace("127.0.0.1:%d\" }" % port, "127.0.0.1:%d\", tls: { cert_file: "
                              "\"%s/none.pem\", key_file: \"%s/none.key\" } }" % (port, WORK, WORK)),
     r"sluice\.yaml:5:\d+: sources\.fwd\.tls\.cert_file: \".*/none\.pem\": No such file"),
    ("udp address in use", GOOD.replace("sinks:", "  sl: { type: syslog, mode: udp, address: "
                                        "\"127.0.0.1:%d\" }\nsinks:" % busy_udp_port),
     r"sluice\.yaml:6:\d+: sources\.sl\.address: address \"127\.0\.0\.1:%d\": port already "
     r"in use" % busy_udp_port),
]

failed = 0
for i, (what, text, want) in enumerate(BAD):
    write(s.config, text)
    if i % 2 == 0:
        sighup_reload(s, "failed")
        err = s.status()["reload"]["last_error"]
    else:
        code, body = post_reload(s)
        assert code == 400 and body["reloaded"] is False, (code, body)
        err = body["error"]
    failed += 1
    log(what, "->", err)
    assert re.search(want, err), "%s: %r does not match %r" % (what, err, want)
    st = s.status()["reload"]
    assert st["last_result"] == "failed" and st["reloads_failed"] == failed and st["reloads_ok"] == 0, st
    assert reloads(s, "failed") == failed and reloads(s, "ok") == 0
    # still running the old configuration: events reach the old sink
    snd = Sender(port, 100, chunk=50, window=2, tag="t%d" % i)
    snd.start()
    snd.join(300)
    assert not snd.error and snd.acked == 100, snd.error
    wait_until(lambda: len(ndjson_messages(out)) >= 100 * (i + 1), 60, "events after a refused reload")

text = s.log_text()
assert "stopped for a restart" not in text and "stopped for the reload" not in text, text[-3000:]
assert text.count("reload failed, still running the previous configuration") == len(BAD)
assert [c["id"] for c in s.status()["components"]] == ["fwd", "out"]

write(s.config, GOOD.replace("max_events: 100", "max_events: 200"))
code, body = post_reload(s)
assert code == 200 and body["changed"] == ["out"], (code, body)
st = s.status()["reload"]
assert st["last_result"] == "ok" and st["last_error"] is None and st["reloads_ok"] == 1, st
assert reloads(s, "ok") == 1 and s.metric("sluice_config_last_reload_successful") == 1
assert len(ndjson_messages(out)) == 100 * len(BAD)

# GET is not a reload.
try:
    urllib.request.urlopen("http://%s/api/v1/reload" % s.api, timeout=30)
    raise AssertionError("GET /api/v1/reload answered 2xx")
except urllib.error.HTTPError as e:
    assert e.code == 405 and e.headers["Allow"] == "POST", (e.code, e.headers)

# `sluice reload` posts the same request: 0 and the answer on stdout when applied, 1 and
# the reason on stderr when refused.
write(s.config, GOOD.replace("max_events: 100", "max_events: 300"))
r = subprocess.run([SLUICE, "reload", "--api", s.api], capture_output=True, text=True, timeout=300)
assert r.returncode == 0 and json.loads(r.stdout)["changed"] == ["out"], (r.returncode, r.stdout, r.stderr)
write(s.config, GOOD.replace("type: file", "type: nope"))
r = subprocess.run([SLUICE, "reload", "--api", s.api], capture_output=True, text=True, timeout=300)
assert r.returncode == 1 and "unknown sink type 'nope'" in r.stderr, (r.returncode, r.stdout, r.stderr)
assert reloads(s, "ok") == 2 and reloads(s, "failed") == len(BAD) + 1
# With -c the file is read here first (for the API address): one that does not load is
# refused the same way, exit 1 and the reason, and the running sluice is not asked.
r = subprocess.run([SLUICE, "reload", "-c", s.config], capture_output=True, text=True, timeout=300)
assert r.returncode == 1 and "unknown sink type 'nope'" in r.stderr, (r.returncode, r.stdout, r.stderr)
assert reloads(s, "failed") == len(BAD) + 1
# -c with another file than the one the daemon runs: a reload would read the daemon's own
# (it answered reloaded:true, nothing changed): refused, exit 1, naming both; not asked.
other = os.path.join(WORK, "other.yaml")
write(other, GOOD.replace("max_events: 100", "max_events: 400"))
write(s.config, GOOD.replace("max_events: 100", "max_events: 300"))
r = subprocess.run([SLUICE, "reload", "-c", other], capture_output=True, text=True, timeout=300)
assert r.returncode == 1 and "runs %s, not %s" % (os.path.realpath(s.config), other) in r.stderr, \
    (r.returncode, r.stdout, r.stderr)
assert reloads(s, "ok") == 2 and reloads(s, "failed") == len(BAD) + 1
assert s.status()["config"] == os.path.realpath(s.config), s.status()["config"]
r = subprocess.run([SLUICE, "reload", "-c", s.config], capture_output=True, text=True, timeout=300)
assert r.returncode == 0 and json.loads(r.stdout)["changed"] == [], (r.returncode, r.stdout, r.stderr)
assert s.stop() == 0
log("ok: %d refused reloads changed nothing, then one applied" % len(BAD))
