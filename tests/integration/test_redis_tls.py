"""redis sink and source over TLS against a real TLS-only redis-server, with certificates
made by `openssl req` here: file -> redis sink (list and stream, the name checked as an IP
and as server_name) -> redis source -> file, every event exactly once. Then the server
requires client certificates: without one, each component logs a clear error and holds
its events; with one (restart after the fix), everything arrives exactly once. AUTH and
SELECT run over the TLS connection (a wrong password: WRONGPASS in the log). A wrong CA and
a wrong server_name fail verification with a clear error and deliver nothing."""
import datetime
import json
import os
import subprocess

from harness import SLUICE, Sluice, WORK, free_port, read_ndjson_messages, wait_until
from redis_server import Redis, make_certs

N = int(os.environ.get("REDIS_TLS_EVENTS", "3000"))
certs = make_certs(os.path.join(WORK, "certs"))
redis = Redis(tls={"certs": certs, "auth_clients": "no"})
addr = "127.0.0.1:%d" % redis.port
CA = certs["ca.pem"]


def lines(path):
    return read_ndjson_messages([path]) if os.path.exists(path) else []


def write_log(d, name, msgs):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "a") as f:
        f.write("".join(json.dumps({"message": m}) + "\n" for m in msgs))


# ---- 1. sink -> TLS redis -> source, list and stream ------------------------------------
logs = os.path.join(WORK, "logs1")
out_l, out_s = os.path.join(WORK, "out-list.ndjson"), os.path.join(WORK, "out-stream.ndjson")
tls_ip = "{ enabled: true, ca_file: %s }" % CA
tls_name = "{ enabled: true, ca_file: %s, server_name: redis.test }" % CA
api = free_port()
s = Sluice("""
data_dir: %(w)s/data1
api: { address: "127.0.0.1:%(api)d" }
sources:
  in: { type: file, include: ["%(logs)s/*.log"] }
  back_list: { type: redis, address: "%(addr)s", key: t-list, block: 200ms, tls: %(tls_ip)s }
  back_stream:
    { type: redis, address: "%(addr)s", key: t-stream, mode: stream, consumer: c1, block: 200ms,
      tls: %(tls_name)s }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  to_list:
    { type: redis, inputs: [p], address: "%(addr)s", key: t-list, tls: %(tls_ip)s,
      batch: { max_events: 300, timeout_ms: 20 } }
  to_stream:
    { type: redis, inputs: [p], address: "%(addr)s", key: t-stream, mode: stream,
      tls: %(tls_name)s, batch: { max_events: 300, timeout_ms: 20 } }
  out_list: { type: file, inputs: [back_list], path: "%(out_l)s" }
  out_stream: { type: file, inputs: [back_stream], path: "%(out_s)s" }
""" % dict(w=WORK, api=api, logs=logs, addr=addr, tls_ip=tls_ip, tls_name=tls_name, out_l=out_l,
           out_s=out_s), name="sluice-tls").start()
msgs = ["tls event %d" % i for i in range(N)]
write_log(logs, "a.log", msgs[:N // 2])
write_log(logs, "a.log", msgs[N // 2:])
wait_until(lambda: len(lines(out_l)) >= N and len(lines(out_s)) >= N, 120,
           "every event through TLS redis and back")


def drained():
    return (redis.cmd("LLEN", "t-list") == 0 and redis.cmd("LLEN", "t-list:processing") == 0
            and redis.cmd("XLEN", "t-stream") == 0 and redis.cmd("XPENDING", "t-stream", "sluice")[0] == 0)


wait_until(drained, 60, "redis emptied by the sources' acks")
assert s.stop() == 0, s.log_text()[-3000:]
for path in (out_l, out_s):
    got = lines(path)
    assert len(got) == N and set(got) == set(msgs), (path, len(got), len(set(got)))
assert "TLS" not in s.log_text(), s.log_text()[-2000:]
print("1: %d events each way over TLS (list, stream), exactly once" % N)

# ---- 2. mutual TLS: no client certificate -> clear error, events held; fixed -> delivered
redis.stop()
redis.tls["auth_clients"] = "yes"
redis.start()
K = 500
redis.cmd("RPUSH", "m-src", *["queued %d" % i for i in range(K)])
logs2 = os.path.join(WORK, "logs2")
out_m = os.path.join(WORK, "out-m.ndjson")
msgs2 = ["mtls event %d" % i for i in range(N)]
write_log(logs2, "b.log", msgs2)
api2 = free_port()


def mtls_config(tls):
    return """
data_dir: %(w)s/data2
shutdown_timeout: 2s
api: { address: "127.0.0.1:%(api)d" }
sources:
  in: { type: file, include: ["%(logs)s/*.log"] }
  m_back: { type: redis, address: "%(addr)s", key: m-src, block: 200ms, tls: %(tls)s }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  m_sink:
    { type: redis, inputs: [p], address: "%(addr)s", key: m-dst, tls: %(tls)s, timeout: 2s,
      batch: { max_events: 300, timeout_ms: 20 }, retry: { initial_ms: 50, max_ms: 300 } }
  m_out: { type: file, inputs: [m_back], path: "%(out)s" }
""" % dict(w=WORK, api=api2, logs=logs2, addr=addr, tls=tls, out=out_m)


s2 = Sluice(mtls_config(tls_ip), name="sluice-mtls").start()


def errors(cid):
    return s2.metric("sluice_component_errors_total", component_id=cid, reason="connect") or 0


wait_until(lambda: errors("m_sink") >= 3 and errors("m_back") >= 3, 60,
           "connect errors without a client certificate")
text = s2.log_text()
conn_lines = [l for l in text.splitlines() if "m_sink: redis" in l or "m_back: redis" in l]
bad = [l for l in conn_lines if "certificate required" in l]
# Every connection error says why (also when the server's alert races the first write).
assert bad and len(bad) == len(conn_lines), text[-2000:]
assert all(addr in l for l in bad), bad


def logged_at(line):
    """A log line's time (its first field, UTC with milliseconds) in seconds."""
    return datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


# Rate-limited, not one line per retry: a component's lines are 5 s apart at least (a
# bound on the spacing, whatever the machine's speed; 0.1 s for the clocks' rounding).
for cid in ("m_sink", "m_back"):
    t = [logged_at(l) for l in bad if (cid + ": redis") in l]
    assert t and all(b - a >= 4.9 for a, b in zip(t, t[1:])), (cid, t)
assert redis.cmd("LLEN", "m-dst") == 0 and redis.cmd("LLEN", "m-src") == K
assert not lines(out_m)
assert s2.stop() == 0, s2.log_text()[-3000:]
print("2: without a client certificate: %r" % bad[0][-160:])
# The fix: the client certificate. Nothing was acknowledged, so everything comes again.
tls_cert = "{ enabled: true, ca_file: %s, cert_file: %s, key_file: %s }" % (
    CA, certs["client.pem"], certs["client.key"])
with open(s2.config, "w") as f:
    f.write(mtls_config(tls_cert))
s2.start()
wait_until(lambda: redis.cmd("LLEN", "m-dst") >= N and len(lines(out_m)) >= K, 120,
           "held events delivered once the certificate is there")
wait_until(lambda: redis.cmd("LLEN", "m-src:processing") == 0, 60, "m-src acknowledged")
assert s2.stop() == 0, s2.log_text()[-3000:]
dst = [json.loads(v)["message"] for v in redis.cmd("LRANGE", "m-dst", 0, -1)]
assert len(dst) == N and set(dst) == set(msgs2), (len(dst), len(set(dst)))
got = lines(out_m)
assert sorted(got) == sorted("queued %d" % i for i in range(K)), (len(got), got[:3])
assert redis.cmd("LLEN", "m-src") == 0
print("2: with the certificate: %d + %d events, exactly once" % (N, K))

# ---- 2b. AUTH and SELECT over the same TLS connection; a wrong password is a clear error
redis.stop()
redis.password = "s3cret"
redis.start()
redis.cmd("RPUSH", "a-src", *["db3 item %d" % i for i in range(K)], db=3)
logs4 = os.path.join(WORK, "logs4")
out_a = os.path.join(WORK, "out-a.ndjson")
write_log(logs4, "d.log", ["auth event %d" % i for i in range(K)])
api4 = free_port()
s4 = Sluice("""
data_dir: %(w)s/data4
api: { address: "127.0.0.1:%(api)d" }
shutdown_timeout: 2s
sources:
  in: { type: file, include: ["%(logs)s/*.log"] }
  a_back: { type: redis, address: "%(addr)s", password: s3cret, db: 3, key: a-src, block: 200ms,
            tls: %(tls)s }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  a_sink: { type: redis, inputs: [p], address: "%(addr)s", password: s3cret, db: 3, key: a-dst,
            tls: %(tls)s }
  a_wrong: { type: redis, inputs: [p], address: "%(addr)s", password: nope, key: a-wrong,
             retry: { initial_ms: 50, max_ms: 300 }, tls: %(tls)s }
  a_out: { type: file, inputs: [a_back], path: "%(out)s" }
""" % dict(w=WORK, api=api4, logs=logs4, addr=addr, tls=tls_cert, out=out_a), name="sluice-auth").start()
wait_until(lambda: redis.cmd("LLEN", "a-dst", db=3) >= K and len(lines(out_a)) >= K, 60,
           "AUTH + SELECT over TLS")
wait_until(lambda: "WRONGPASS" in s4.log_text(), 60, "the wrong password's error")
assert s4.stop() == 0, s4.log_text()[-3000:]
assert redis.cmd("LLEN", "a-dst") == 0 and redis.cmd("EXISTS", "a-wrong") == 0
dst = [json.loads(v)["message"] for v in redis.cmd("LRANGE", "a-dst", 0, -1, db=3)]
assert sorted(dst) == sorted("auth event %d" % i for i in range(K)), len(dst)
assert sorted(lines(out_a)) == sorted("db3 item %d" % i for i in range(K))
assert redis.cmd("LLEN", "a-src", db=3) == 0
wrong = [l for l in s4.log_text().splitlines() if "a_wrong: redis" in l][0]
print("2b: AUTH + SELECT 3 over TLS: %d + %d events exactly once; %r" % (K, K, wrong[-120:]))

# ---- 3. wrong CA, wrong name: verification errors, nothing delivered --------------------
logs3 = os.path.join(WORK, "logs3")
write_log(logs3, "c.log", ["never %d" % i for i in range(10)])
api3 = free_port()
s3 = Sluice("""
data_dir: %(w)s/data3
api: { address: "127.0.0.1:%(api)d" }
sources:
  in: { type: file, include: ["%(logs)s/*.log"] }
sinks:
  bad_ca:
    { type: redis, inputs: [in], address: "%(addr)s", key: x-ca, retry: { initial_ms: 50, max_ms: 300 },
      tls: { enabled: true, ca_file: %(other)s, cert_file: %(cert)s, key_file: %(key)s } }
  bad_name:
    { type: redis, inputs: [in], address: "%(addr)s", key: x-name, retry: { initial_ms: 50, max_ms: 300 },
      tls: { enabled: true, ca_file: %(ca)s, server_name: wrong.test, cert_file: %(cert)s,
             key_file: %(key)s } }
""" % dict(w=WORK, api=api3, logs=logs3, addr=addr, other=certs["other-ca.pem"], ca=CA,
           cert=certs["client.pem"], key=certs["client.key"]), name="sluice-badca").start()
wait_until(lambda: all((s3.metric("sluice_component_errors_total", component_id=c, reason="connect")
                        or 0) >= 2 for c in ("bad_ca", "bad_name")), 60, "verification failures")
text = s3.log_text()
ca_lines = [l for l in text.splitlines() if "bad_ca" in l and "certificate verify failed" in l]
name_lines = [l for l in text.splitlines() if "bad_name" in l and "certificate verify failed" in l]
assert ca_lines and "hostname" not in ca_lines[0], text[-2000:]
assert name_lines and "hostname mismatch" in name_lines[0], text[-2000:]
assert redis.cmd("EXISTS", "x-ca") == 0 and redis.cmd("EXISTS", "x-name") == 0
s3.kill9()
print("3: %r / %r" % (ca_lines[0][-100:], name_lines[0][-80:]))

# ---- 4. tls options without enabled: a configuration error, not a silent plain connection
cfg = os.path.join(WORK, "bad.yaml")
with open(cfg, "w") as f:
    f.write("""
sources:
  in: { type: stdin }
sinks:
  r: { type: redis, inputs: [in], key: k, tls: { ca_file: %s } }
""" % CA)
v = subprocess.run([SLUICE, "validate", "-c", cfg], capture_output=True, text=True)
assert v.returncode != 0 and "enabled" in v.stdout + v.stderr, (v.returncode, v.stdout, v.stderr)
redis.stop()
print("ok")
