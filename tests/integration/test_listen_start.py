"""A network source that cannot listen stops the start, as an API listener does: `sluice run`
with a forward, http, otlp or syslog source (TCP or UDP) on a port another process holds
exits 1 and says which source and why, whatever the other sources could do (a file source here), instead of
running on with clients refused. A reload that adds such a source is refused (400, the
port is bound once before anything changes) and leaves the running pipeline alone: the
daemon stays up and its file source still delivers. An address the source could never
bind is refused before that, by `validate` and by the reload (test_config_errors.sh has
the messages)."""
import os
import re
import socket
import subprocess

from harness import SLUICE, Sluice, WORK, free_port, log, ndjson_file, track, wait_until
from reload_common import post_reload, reloads, write

held = socket.socket()
held.bind(("127.0.0.1", 0))
held.listen()
busy = held.getsockname()[1]
# A datagram socket of another program, bound with SO_REUSEADDR as syslog daemons bind
# theirs: a UDP source must not bind beside it (both with SO_REUSEADDR, Linux lets them
# share the port and the datagrams go to one or the other).
held_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
held_udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
held_udp.bind(("127.0.0.1", 0))
busy_udp = held_udp.getsockname()[1]

logs = os.path.join(WORK, "logs")
os.makedirs(logs, exist_ok=True)
out = os.path.join(WORK, "out.ndjson")

SOURCES = {
    "forward": '{ type: forward, address: "127.0.0.1:%d", heartbeat: false }' % busy,
    "http": '{ type: http, address: "127.0.0.1:%d" }' % busy,
    "otlp": '{ type: otlp, address: "127.0.0.1:%d" }' % busy,
    "syslog": '{ type: syslog, address: "127.0.0.1:%d", mode: tcp }' % busy,
    "syslog-udp": '{ type: syslog, address: "127.0.0.1:%d", mode: udp }' % busy_udp,
}

for kind, src in SOURCES.items():
    cfg = """
data_dir: %s/data-%s
api: { address: "127.0.0.1:%d" }
sources:
  files: { type: file, include: ["%s/*.log"] }
  net: %s
sinks:
  out: { type: file, inputs: [files, net], path: "%s" }
""" % (WORK, kind, free_port(), logs, src, out)
    s = Sluice(cfg, name="start-" + kind)
    s.logf = open(s.log_path, "ab")
    s.proc = track(subprocess.Popen([SLUICE, "run", "-c", s.config], stdout=s.logf,
                                    stderr=subprocess.STDOUT))
    rc = s.wait_exit(60)
    text = s.log_text()
    log(kind, "exit", rc)
    assert rc == 1, "%s: exit %s, want 1:\n%s" % (kind, rc, text[-2000:])
    assert "port already in use" in text, text[-2000:]
    assert re.search(r"cannot start: source net ended before it listened", text), text[-2000:]

# With the log in a file, whoever started sluice still reads on stderr why it exited 1.
logfile = os.path.join(WORK, "to-file.log")
cfg = os.path.join(WORK, "to-file.yaml")
with open(cfg, "w") as f:
    f.write("""
data_dir: %s/data-to-file
api: { address: "127.0.0.1:%d" }
log: { file: "%s" }
sources:
  net: %s
sinks:
  out: { type: file, inputs: [net], path: "%s" }
""" % (WORK, free_port(), logfile, SOURCES["forward"], out))
p = track(subprocess.Popen([SLUICE, "run", "-c", cfg], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE))
_, err = p.communicate(timeout=60)
log("log in a file: exit", p.returncode, "stderr", err)
assert p.returncode == 1
assert ("sluice: cannot start: a network source could not listen (see %s)" % logfile) in err.decode()
assert "port already in use" in open(logfile).read()

# A reload that adds a forward source on the busy port is refused: the daemon stays up, and
# so does what it ran before.
api = free_port()
BASE = """
data_dir: %s/data-reload
api: { address: "127.0.0.1:%d" }
sources:
  files: { type: file, include: ["%s/*.log"] }
%s
sinks:
  out: { type: file, inputs: [%s], path: "%s" }
"""
s = Sluice(BASE % (WORK, api, logs, "", "files", out), name="reload").start()
with open(os.path.join(logs, "a.log"), "w") as f:
    f.write("".join("line %d\n" % i for i in range(100)))
wait_until(lambda: len(ndjson_file(out)) >= 100, 60, "the first 100 lines delivered")
write(s.config, BASE % (WORK, api, logs, "  net: " + SOURCES["forward"], "files, net", out))
before = reloads(s, "failed")
code, body = post_reload(s)
log("reload with a busy port ->", code, body)
assert code == 400 and reloads(s, "failed") == before + 1, (code, body)
assert re.search(r"reload\.yaml:\d+:\d+: sources\.net\.address: address \"127\.0\.0\.1:%d\": "
                 r"port already in use" % busy, body["error"]), body
assert [c["id"] for c in s.status()["components"]] == ["files", "out"]
assert s.proc.poll() is None, "the daemon stopped after a reload:\n" + s.log_text()[-2000:]
with open(os.path.join(logs, "a.log"), "a") as f:
    f.write("".join("line %d\n" % i for i in range(100, 200)))
wait_until(lambda: len(ndjson_file(out)) >= 200, 60, "the next 100 lines delivered")
got = sorted(int(o["message"].split()[1]) for o in ndjson_file(out))
assert got == list(range(200)), got[:5]
assert s.stop() == 0
held.close()
held_udp.close()
log("ok")
