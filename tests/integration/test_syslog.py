"""syslog source with real senders: util-linux logger over UDP and TCP (RFC 5424 and RFC 3164,
octet counting and LF frames), rsyslogd forwarding (omfwd over TCP octet-counted and LF-framed,
UDP, and TLS) what `logger -u` writes to its socket, TLS from a Python client, frames ending in
NUL instead of LF, bad input (oversize frames and datagrams cut to max_message_bytes, no PRI,
broken RFC 5424, a frame cut by a close, connections beyond max_connections) counted while good
frames keep flowing, and a kill -9 of sluice in the middle of a TCP stream from rsyslog into a
disk buffer.

What the kill part holds sluice to: syslog over TCP has no application-level ack, so "accepted"
means written to every downstream buffer (the source's accepted_events counter). Every line
accepted before the kill is delivered (the disk buffer is replayed); lines rsyslog had handed to
the kernel that sluice had not accepted yet can be lost (rsyslog only resends the message whose
send failed), and must form one contiguous run after the accepted ones; every line rsyslog sends
after it reconnects is delivered."""
import json
import os
import urllib.request
import re
import signal
import socket
import ssl
import subprocess
import threading

from harness import (Emulator, Sluice, WORK, free_port, http_json, log, track, ndjson_file,
                     wait_until)

cert, key = os.path.join(WORK, "cert.pem"), os.path.join(WORK, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                "-days", "1", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
api, p_tcp, p_udp, p_tls = free_port(), free_port(), free_port(), free_port()
out, outu = os.path.join(WORK, "out.ndjson"), os.path.join(WORK, "outu.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  tcp: { type: syslog, mode: tcp, address: "127.0.0.1:%d", max_message_bytes: 2KiB, max_connections: 4 }
  udp: { type: syslog, mode: udp, address: "127.0.0.1:%d", max_message_bytes: 2KiB,
         receive_buffer_bytes: 4MiB }
  tls: { type: syslog, mode: tls, address: "127.0.0.1:%d", tls: { cert_file: "%s", key_file: "%s" } }
sinks:
  out:  { type: file, inputs: [tcp, tls], path: "%s", batch: { timeout_ms: 20 } }
  outu: { type: file, inputs: [udp], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, p_tcp, p_udp, p_tls, cert, key, out, outu)).start()


def events(path):
    return ndjson_file(path)  # complete lines: sluice may be writing the last


def errors(src, reason):
    return s.counter("sluice_component_errors_total", component_id=src, reason=reason)


def by_message(path, text):
    return [e for e in events(path) if e["message"].strip() == text]


def logger(*args):
    subprocess.run(["logger"] + list(args), check=True, timeout=60)


# 1. util-linux logger: UDP and TCP, RFC 5424 (octet counting) and RFC 3164 (LF frames).
logger("-n", "127.0.0.1", "-P", str(p_udp), "-d", "--rfc5424", "-i", "-t", "app5", "-p", "daemon.warning",
       "--msgid", "MID", "--sd-id", "meta@32473", "--sd-param", 'a="x\\]y\\"z"', "udp 5424")
logger("-n", "127.0.0.1", "-P", str(p_udp), "-d", "--rfc3164", "-t", "app3", "-p", "local3.err", "udp 3164")
logger("-n", "127.0.0.1", "-P", str(p_tcp), "-T", "--octet-count", "--rfc5424", "-t", "app5",
       "-p", "auth.crit", "tcp 5424 octet")
logger("-n", "127.0.0.1", "-P", str(p_tcp), "-T", "--rfc3164", "-t", "app3", "-p", "mail.info", "tcp 3164 lf")
wait_until(lambda: len(events(outu)) == 2 and len(events(out)) == 2, 30, "logger's four messages")
e = by_message(outu, "udp 5424")[0]
assert (e["severity"], e["facility"], e["syslog.severity"], e["syslog.facility"], e["syslog.version"]) == \
    ("warning", "daemon", 4, 3, 1), e
assert e["appname"] == "app5" and e["msgid"] == "MID" and e["procid"].isdigit(), e
assert e["meta@32473.a"] == 'x]y"z' and e["timeQuality.tzKnown"] == "1", e
assert e["source_ip"] == "127.0.0.1" and e["hostname"], e
e = by_message(outu, "udp 3164")[0]
assert (e["severity"], e["facility"], e["appname"]) == ("err", "local3", "app3") and "syslog.version" not in e, e
e = by_message(out, "tcp 5424 octet")[0]
assert (e["severity"], e["facility"], e["syslog.version"], e["appname"]) == ("crit", "auth", 1, "app5"), e
e = by_message(out, "tcp 3164 lf")[0]
assert (e["severity"], e["facility"], e["appname"]) == ("info", "mail", "app3"), e
log("logger: udp and tcp, 5424 and 3164 ok")

# 2. rsyslogd as a real relay: logger -u writes to its socket; it forwards each line over
# TCP octet-counted (RFC 5424 template), TCP LF-framed (traditional format), UDP, and TLS
# (the ossl driver, verifying sluice's certificate and name) octet-counted.
rsdir = os.path.join(WORK, "rsyslog")
os.makedirs(rsdir)
sock = os.path.join(rsdir, "in.sock")
with open(os.path.join(rsdir, "rsyslog.conf"), "w") as f:
    f.write("""
global(workDirectory="%s" DefaultNetstreamDriverCAFile="%s")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="%s" RateLimit.Interval="0" ruleset="fwd")
ruleset(name="fwd") {
  action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp" TCP_Framing="octet-counted"
         template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1" action.resumeInterval="1")
  action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp"
         action.resumeRetryCount="-1" action.resumeInterval="1")
  action(type="omfwd" target="127.0.0.1" port="%d" protocol="udp")
  action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp" TCP_Framing="octet-counted"
         StreamDriver="ossl" StreamDriverMode="1" StreamDriverAuthMode="x509/name"
         StreamDriverPermittedPeers="localhost" template="RSYSLOG_SyslogProtocol23Format"
         action.resumeRetryCount="-1" action.resumeInterval="1")
}
""" % (rsdir, cert, sock, p_tcp, p_tcp, p_udp, p_tls))
rs = track(subprocess.Popen(["rsyslogd", "-n", "-f", os.path.join(rsdir, "rsyslog.conf"),
                             "-i", os.path.join(rsdir, "rsyslogd.pid")],
                            stdout=open(os.path.join(WORK, "rsyslogd.log"), "ab"), stderr=subprocess.STDOUT))
wait_until(lambda: os.path.exists(sock), 30, "rsyslogd's socket")
R = 200
subprocess.run(["logger", "-u", sock, "-t", "rsapp", "-p", "local1.notice"],
               input="".join("relay %04d\n" % i for i in range(R)), text=True, check=True, timeout=60)


def relayed(path):
    got = {}
    for ev in events(path):
        m = re.match(r"\s*relay (\d{4})$", ev["message"])
        if m:
            got.setdefault(int(m.group(1)), []).append(ev)
    return got


wait_until(lambda: sum(len(v) for v in relayed(out).values()) == 3 * R and len(relayed(outu)) == R,
           60, "rsyslog's relayed lines (tcp octet-counted, tcp LF, tls, udp)")
for i, evs in relayed(out).items():
    assert sorted(ev.get("syslog.version", 0) for ev in evs) == [0, 1, 1], (i, evs)
    for ev in evs:
        assert (ev["appname"], ev["facility"], ev["severity"]) == ("rsapp", "local1", "notice"), ev
assert sorted(relayed(outu)) == list(range(R))
rs.send_signal(signal.SIGTERM)
rs.wait(timeout=60)
log("rsyslog relay ok:", R, "lines x 4 paths")

# 3. TLS: octet-counted and LF frames from a Python client.
ctx = ssl.create_default_context(cafile=cert)
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", p_tls), timeout=60), server_hostname="localhost")
m1 = b"<14>1 2026-12-04T10:00:00Z tlshost tlsapp 7 - [x@1 k=\"v\"] over tls octet"
t.sendall(b"%d %s<14>Dec  4 10:00:01 tlshost tlsapp: over tls lf\n" % (len(m1), m1))
t.close()
wait_until(lambda: by_message(out, "over tls octet") and by_message(out, "over tls lf"), 30, "TLS messages")
e = by_message(out, "over tls octet")[0]
assert e["hostname"] == "tlshost" and e["x@1.k"] == "v" and e["timestamp"].startswith("2026-12-04T10:00:00"), e
log("tls ok")

# 3b. Frames that end in NUL instead of LF (some senders do, RFC 6587 3.4.2), mixed with LF and
# octet-counted ones on one connection: each is a message of its own, none holds the NUL.
nul = ["nul one", "nul two", "nul three", "nul four", "nul five"]
c = socket.create_connection(("127.0.0.1", p_tcp), timeout=60)
c.sendall(b"<13>nul one\x00<13>nul two\r\x00<13>nul three\n\x0012 <13>nul four<13>nul five\x00")
c.close()
wait_until(lambda: all(by_message(out, m) for m in nul), 30, "the NUL-terminated frames")
assert all(len(by_message(out, m)) == 1 for m in nul)
assert not [ev for ev in events(out) if "\x00" in ev["message"] or "nul" in ev["message"] and
            ev["message"].strip() not in nul], [ev for ev in events(out) if "nul" in ev["message"]]
log("nul-terminated frames ok")

# 4. Bad input: counted, never a crash; the good frames around it are delivered.
before = len(events(out))
c = socket.create_connection(("127.0.0.1", p_tcp), timeout=60)
c.sendall(b"<13>" + b"L" * 3000 + b"\n" + b"<13>after long lf\n")          # oversize LF frame
c.sendall(b"5000 <13>" + b"O" * 4996 + b"<13>after long octet\n")         # oversize octet frame
c.sendall(b"no pri at all\n")                                              # no PRI: kept, counted
c.sendall(b"<13>1 2026-99-99T00:00:00Z h a - - - broken 5424\n")          # read as RFC 3164
c.sendall(b"<13>\x01\xff binary \xfe\n")                                   # bytes as they came
c.sendall(b"40 <13>cut short")                                             # cut by the close
c.close()
d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
d.sendto(b"<13>" + b"U" * 3000, ("127.0.0.1", p_udp))                     # oversize datagram
d.sendto(b"<13>after big datagram", ("127.0.0.1", p_udp))
d.close()
wait_until(lambda: errors("tcp", "truncated_frame") == 1 and by_message(outu, "after big datagram"), 30,
           "the bad input handled")
wait_until(lambda: len(events(out)) == before + 7, 30, "the good, kept and cut frames")
assert errors("tcp", "message_too_large") == 2 and errors("udp", "message_too_large") == 1
# an oversize message is cut to max_message_bytes, as rsyslog cuts it, and marked
cut = sorted((e for e in events(out) if e.get("log.truncated")), key=lambda e: e["message"])
assert [e["message"] for e in cut] == ["L" * 2044, "O" * 2044], [e["message"][:20] for e in cut]
cutu = [e for e in events(outu) if e.get("log.truncated")]
assert [e["message"] for e in cutu] == ["U" * 2044], [e["message"][:20] for e in cutu]
# logger's own oversize line (octet-counted RFC 5424): its header fields are kept
logger("-n", "127.0.0.1", "-P", str(p_tcp), "--tcp", "--octet-count", "--rfc5424",
       "--size", "10000", "-t", "bigapp", "W" * 3000)


def bigapp():
    return [e for e in events(out) if e.get("appname") == "bigapp"]


wait_until(bigapp, 30, "logger's cut line")
e = bigapp()[0]
assert e["log.truncated"] is True and e["message"] and set(e["message"]) == {"W"}, e
assert errors("tcp", "message_too_large") == 3
assert errors("tcp", "no_pri") == 1 and errors("tcp", "rfc5424_invalid") == 1
assert by_message(out, "after long lf") and by_message(out, "after long octet") and by_message(out, "no pri at all")
e = [ev for ev in events(out) if "broken 5424" in ev["message"]][0]
assert e["severity"] == "notice" and "syslog.version" not in e, e
assert not [ev for ev in events(out) if "cut short" in ev["message"] or
            "LLLL" in ev["message"] and not ev.get("log.truncated")]
# max_connections: 4 open, the 5th is refused and counted, the 4 still deliver.
wait_until(lambda: s.component("tcp")["connections"] == 0, 30, "earlier connections closed")
conns = [socket.create_connection(("127.0.0.1", p_tcp), timeout=60) for _ in range(4)]
for i, c in enumerate(conns):
    c.sendall(b"<13>held %d\n" % i)
wait_until(lambda: all(by_message(out, "held %d" % i) for i in range(4)), 30, "the four connections")
assert s.component("tcp")["connections"] == 4 and s.component("tcp")["mode"] == "tcp"
extra = socket.create_connection(("127.0.0.1", p_tcp), timeout=60)
wait_until(lambda: errors("tcp", "max_connections") == 1, 30, "the fifth connection refused")
try:
    assert extra.recv(1) == b"", "a connection beyond max_connections stayed open"
except ConnectionResetError:
    pass
extra.close()
for i, c in enumerate(conns):
    c.sendall(b"<13>still %d\n" % i)
    c.close()
wait_until(lambda: all(by_message(out, "still %d" % i) for i in range(4)), 30, "the four still deliver")
assert s.proc.poll() is None
assert s.stop() == 0
log("bad input ok")

# 5. kill -9 in the middle of a TCP stream from rsyslog into a disk buffer.
emu = Emulator("http_sink_server.py", "--fail", "100000000")
p_k = free_port()
cfg = """
data_dir: %s/data-k
api: { address: "127.0.0.1:%d" }
sources:
  k: { type: syslog, mode: tcp, address: "127.0.0.1:%d" }
sinks:
  http:
    type: http
    inputs: [k]
    uri: "http://127.0.0.1:%d/ingest"
    buffer: { type: disk }
    batch: { max_events: 500, timeout_ms: 20 }
    retry: { initial_ms: 20, max_ms: 200 }
""" % (WORK, free_port(), p_k, emu.port)
k = Sluice(cfg, name="sluice-k").start()
sock2 = os.path.join(rsdir, "k.sock")
with open(os.path.join(rsdir, "k.conf"), "w") as f:
    f.write("""
global(workDirectory="%s")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="%s" RateLimit.Interval="0" ruleset="fwd")
ruleset(name="fwd") {
  action(type="omfwd" target="127.0.0.1" port="%d" protocol="tcp" TCP_Framing="octet-counted"
         template="RSYSLOG_SyslogProtocol23Format" action.resumeRetryCount="-1" action.resumeInterval="1")
}
""" % (rsdir, sock2, p_k))
rs = track(subprocess.Popen(["rsyslogd", "-n", "-f", os.path.join(rsdir, "k.conf"),
                             "-i", os.path.join(rsdir, "k.pid")],
                            stdout=open(os.path.join(WORK, "rsyslogd-k.log"), "ab"), stderr=subprocess.STDOUT))
wait_until(lambda: os.path.exists(sock2), 30, "rsyslogd's socket")

def http_json_lines():
    body = urllib.request.urlopen("http://127.0.0.1:%d/lines" % emu.port, timeout=60).read().decode()
    return [json.loads(l) for l in body.splitlines() if l.strip()]


killed = threading.Event()
written = [0]
AFTER = 5000  # lines written after the kill


def writer():
    """Writes lines through logger -u, 100 a call, until AFTER lines past the kill."""
    after = None
    while after is None or written[0] < after:
        n = written[0]
        subprocess.run(["logger", "-u", sock2, "-t", "k9"], input="".join("kill9 %06d\n" % i for i in range(n, n + 100)),
                       text=True, check=True, timeout=60)
        written[0] = n + 100
        if after is None and killed.is_set():
            after = written[0] + AFTER


def accepted():
    """The source's accepted_events counter (lines in the disk buffer), 0 before it exists."""
    for line in k.get("/metrics")[1].splitlines():
        if line.startswith("sluice_component_counter_total{") and 'component_id="k"' in line \
                and 'name="accepted_events"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0


w = threading.Thread(target=writer, daemon=True)
w.start()
wait_until(lambda: accepted() >= 3000, 120, "3000 lines accepted before the kill")
K = int(accepted())  # a lower bound of what was accepted when the kill lands
k.kill9()
killed.set()
log("killed with at least", K, "lines accepted,", written[0], "written to rsyslog")
# The sink refused everything so far: what was accepted is in the disk buffer alone.
assert not http_json_lines()
http_json("http://127.0.0.1:%d/control" % emu.port, {"fail": 0})
k = Sluice(cfg, name="sluice-k").start()
w.join(timeout=300)
assert not w.is_alive()
N = written[0]


def delivered():
    got = {}
    for l in http_json_lines():
        m = re.match(r"\s*kill9 (\d{6})$", l["message"])
        if m:
            i = int(m.group(1))
            got[i] = got.get(i, 0) + 1
    return got


wait_until(lambda: N - 1 in delivered(), 300, "the last line after the restart")
# Quiet: everything sent is accepted and delivered, and counts stop moving.
last = [None]


def settled():
    cur = (len(http_json_lines()), accepted())
    same = cur == last[0]
    last[0] = cur
    return same and k.counter("sluice_component_sent_events_total", component_id="http") >= accepted()


wait_until(settled, 120, "the output to settle", interval=1.0)
got = delivered()
missing = sorted(set(range(N)) - set(got))
dups = sum(v - 1 for v in got.values())
log("written", N, "delivered", len(got), "missing", len(missing), "duplicates", dups)
assert all(i in got for i in range(K)), "a line accepted before the kill was lost"
assert not set(got) - set(range(N))
if missing:
    a, b = missing[0], missing[-1]
    assert a >= K and missing == list(range(a, b + 1)), \
        "lost lines must be one run of what was in flight at the kill: %s" % missing[:20]
    assert b + 1 < N
rs.send_signal(signal.SIGTERM)
rs.wait(timeout=60)
assert k.stop() == 0
emu.stop()
log("kill -9 ok")
