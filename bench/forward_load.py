"""forward_load.py - load generator for the forward and http sources: several connections
(one process each) send pre-encoded PackedForward messages of N events, or NDJSON POST
bodies of N lines, as fast as the server takes them. Prints the number of events sent.

  python3 bench/forward_load.py forward PORT --connections 8 --messages 500 --events 1000
  python3 bench/forward_load.py http PORT --connections 4 --messages 200 --events 1000
  python3 bench/forward_load.py forward PORT --log-json    # records as Fluent Bit tails them
  python3 bench/forward_load.py forward PORT --log-json --utf8   # ... of text in other scripts
"""
import argparse
import http.client
import json
import multiprocessing
import random
import socket
import struct
import sys
import time

import msgpack

import gen_utf8_lines  # bench/, beside this script


def records(n, seed):
    rnd = random.Random(seed)
    levels = ["info", "info", "info", "warn", "error", "debug"]
    svcs = ["api", "checkout", "auth", "search", "billing"]
    out = []
    for i in range(n):
        out.append({
            "message": "request %d handled path=/v1/items/%d status=%d duration_ms=%d user=%08x" % (
                i, rnd.randrange(100000), rnd.choice([200, 200, 201, 404, 500]),
                rnd.randrange(1, 900), rnd.getrandbits(32)),
            "level": rnd.choice(levels),
            "service": rnd.choice(svcs),
            "request_id": "%032x" % rnd.getrandbits(128),
        })
    return out


def log_json_records(n, seed, utf8=False):
    # What Fluent Bit forwards from a container log: the application's JSON line as one
    # `log` string, plus the stream.
    rnd = random.Random(seed)
    levels = ["info"] * 12 + ["debug"] * 4 + ["warn"] * 3 + ["error"]
    out = []
    for i in range(n):
        msg = gen_utf8_lines.message(rnd) if utf8 else "job %d processed in %d ms" % (i, rnd.randint(1, 900))
        app = {"timestamp": "2026-11-21T10:30:45.%03dZ" % (i % 1000), "level": rnd.choice(levels),
               "msg": msg,
               "trace_id": "%032x" % rnd.getrandbits(128), "span_id": "%016x" % rnd.getrandbits(64),
               "job_id": "job-%d-%d" % (seed, i), "machine_id": "m-%d" % (i % 7),
               "worker_id": "w-%d" % (i % 31), "duration_ms": rnd.randint(1, 900),
               "ok": rnd.random() < 0.9}
        out.append({"log": json.dumps(app, separators=(",", ":"), ensure_ascii=False),
                    "stream": "stdout"})
    return out


def packed_message(n, seed, ack, log_json=False, utf8=False):
    t = int(time.time())
    recs = log_json_records(n, seed, utf8) if log_json else records(n, seed)
    entries = b"".join(msgpack.packb([msgpack.ExtType(0, struct.pack(">II", t, i)), r], use_bin_type=True)
                       for i, r in enumerate(recs))
    opt = {"size": n}
    return entries, opt


def forward_worker(port, messages, events, seed, ack, q, log_json=False, utf8=False):
    entries, opt = packed_message(events, seed, ack, log_json, utf8)
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    up = msgpack.Unpacker(raw=False)
    if not ack:
        msg = msgpack.packb(["bench.fwd", entries, opt], use_bin_type=True)
        batch = msg * 16
        sent = 0
        while sent + 16 <= messages:
            s.sendall(batch)
            sent += 16
        for _ in range(messages - sent):
            s.sendall(msg)
    else:
        # Window of 8 unacked chunks, as an agent with require_ack would keep.
        outstanding = []
        for m in range(messages):
            chunk = "c%d-%d" % (seed, m)
            s.sendall(msgpack.packb(["bench.fwd", entries, dict(opt, chunk=chunk)], use_bin_type=True))
            outstanding.append(chunk)
            while len(outstanding) >= 8 or (m == messages - 1 and outstanding):
                data = s.recv(65536)
                if not data:
                    raise SystemExit("connection closed")
                up.feed(data)
                for o in up:
                    outstanding.remove(o["ack"])
    s.close()
    q.put(messages * events)


def http_worker(port, messages, events, seed, ack, q, log_json=False, utf8=False):
    body = "".join(json.dumps(r) + "\n" for r in records(events, seed)).encode()
    c = http.client.HTTPConnection("127.0.0.1", port)
    sent = 0
    while sent < messages:
        c.request("POST", "/bench.http", body, {"Content-Type": "application/x-ndjson"})
        r = c.getresponse()
        r.read()
        if r.status == 429:
            time.sleep(float(r.getheader("Retry-After", "1")) / 10)
            continue
        if r.status != 200:
            raise SystemExit("http %d" % r.status)
        sent += 1
    c.close()
    q.put(messages * events)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["forward", "http"])
    ap.add_argument("port", type=int)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--messages", type=int, default=500, help="per connection")
    ap.add_argument("--events", type=int, default=1000, help="per message")
    ap.add_argument("--ack", action="store_true")
    ap.add_argument("--log-json", action="store_true",
                    help="forward: records {log: <JSON line>, stream} as Fluent Bit sends them")
    ap.add_argument("--utf8", action="store_true",
                    help="with --log-json: msg in other scripts (Chinese, Cyrillic, Japanese)")
    a = ap.parse_args()
    q = multiprocessing.Queue()
    fn = forward_worker if a.mode == "forward" else http_worker
    ps = [multiprocessing.Process(target=fn, args=(a.port, a.messages, a.events, i, a.ack, q,
                                                   a.log_json, a.utf8))
          for i in range(a.connections)]
    for p in ps:
        p.start()
    total = sum(q.get() for _ in ps)
    for p in ps:
        p.join()
        if p.exitcode:
            sys.exit("worker failed")
    print(total)


if __name__ == "__main__":
    main()
