"""syslog source `timezone`: util-linux logger in a zone five and a half hours east of UTC
(Asia/Kolkata, no daylight saving) sends RFC 3164 messages, whose times are its local wall
clock with no zone, as rsyslog's traditional forwarding format does. Three sources read
them: `timezone: local` with sluice in the same zone and `timezone: "+05:30"` give the
instant the message was sent; the default (UTC) reads the wall clock as UTC, 5.5 hours late.
RFC 5424 times carry their offset and are the same under every setting. The bounds are the
clock read before and after each send (logger's times have whole seconds)."""
import calendar
import os
import subprocess
import time

from harness import Sluice, WORK, free_port, ndjson_file, wait_until

ZONE = "Asia/Kolkata"
api, p_local, p_fixed, p_utc = free_port(), free_port(), free_port(), free_port()
outs = {n: os.path.join(WORK, n + ".ndjson") for n in ("local", "fixed", "utc")}
s = Sluice("""
data_dir: %(w)s/data
api: { address: "127.0.0.1:%(api)d" }
sources:
  local: { type: syslog, mode: tcp, address: "127.0.0.1:%(pl)d", timezone: local }
  fixed: { type: syslog, mode: tcp, address: "127.0.0.1:%(pf)d", timezone: "+05:30" }
  utc: { type: syslog, mode: tcp, address: "127.0.0.1:%(pu)d" }
sinks:
  l: { type: file, inputs: [local], path: "%(w)s/local.ndjson" }
  f: { type: file, inputs: [fixed], path: "%(w)s/fixed.ndjson" }
  u: { type: file, inputs: [utc], path: "%(w)s/utc.ndjson" }
""" % {"w": WORK, "api": api, "pl": p_local, "pf": p_fixed, "pu": p_utc},
           env={"TZ": ZONE}).start()

zone_env = dict(os.environ, TZ=ZONE)
sent = []
for fmt in ("--rfc3164", "--rfc5424"):
    t0 = int(time.time())
    for port in (p_local, p_fixed, p_utc):
        subprocess.run(["logger", "-n", "127.0.0.1", "-P", str(port), "-T", fmt, "-t", "app",
                        "msg " + fmt], check=True, timeout=60, env=zone_env)
    sent.append((fmt, t0, int(time.time()) + 1))


def events(name):
    return ndjson_file(outs[name])


wait_until(lambda: all(len(events(n)) == 2 for n in outs), 30, "every message")


def epoch(e):
    # "2026-12-07T20:21:53.000000000Z"
    return calendar.timegm(time.strptime(e["timestamp"][:19], "%Y-%m-%dT%H:%M:%S"))


for name in outs:
    got = {e["message"]: epoch(e) for e in events(name)}
    for fmt, lo, hi in sent:
        t = got["msg " + fmt]
        if name == "utc" and fmt == "--rfc3164":
            lo, hi = lo + 19800, hi + 19800  # the wall clock of +05:30 read as UTC
        assert lo <= t <= hi, (name, fmt, t, lo, hi, events(name))
assert s.stop() == 0, s.log_text()[-2000:]
print("ok")
