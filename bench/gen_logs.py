#!/usr/bin/python3
"""gen_logs.py - deterministic synthetic log generator for sluice benchmarks.

Writes N MB of realistic lines (80-1000 bytes each): JSON application logs,
nginx-style access lines, and plain text with stack-trace-like continuation
lines. The same --seed always gives the same bytes.

  gen_logs.py --mb 100 --out /path/app.log [--files 4]
  gen_logs.py --mb 100 --cri /path/pods [--pods 8]

Prints one summary line on stdout: "lines=N events=N bytes=N files=N".
In CRI mode, long lines are sometimes split into P (partial) + F records, so
`events` (logical lines after merging) is less than `lines` (records).
"""
import argparse
import json
import os
import random
import sys

MIN_LEN, MAX_LEN = 80, 1000

SERVICES = ["checkout", "payments", "inventory", "search", "auth", "gateway", "mailer", "ledger"]
LEVELS = ["INFO"] * 12 + ["DEBUG"] * 4 + ["WARN"] * 3 + ["ERROR"]
PATHS = ["/api/v1/orders", "/api/v1/orders/{id}", "/api/v1/cart", "/static/app.{h}.js",
         "/healthz", "/api/v2/search?q={w}&page={n}", "/login", "/api/v1/users/{id}/prefs",
         "/images/p/{id}.webp", "/api/v1/payments/{id}/capture"]
METHODS = ["GET"] * 8 + ["POST"] * 3 + ["PUT", "DELETE"]
STATUSES = [200] * 20 + [201, 204, 301, 304, 400, 401, 403, 404, 404, 429, 500, 502, 503]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
          "curl/8.5.0", "kube-probe/1.29", "python-requests/2.31.0", "Go-http-client/1.1"]
WORDS = ("order payment user cart item stock cache retry timeout upstream request response "
         "session token invoice refund shipment warehouse query index shard replica lease "
         "commit batch queue worker schedule deadline latency budget quota").split()
JAVA_PKGS = ["io.acme.shop.checkout", "io.acme.shop.payments.gateway", "org.springframework.web.servlet",
             "com.zaxxer.hikari.pool", "io.netty.channel.nio", "java.util.concurrent"]
EXCEPTIONS = ["java.lang.IllegalStateException", "java.net.SocketTimeoutException",
              "org.postgresql.util.PSQLException", "java.lang.NullPointerException",
              "io.acme.shop.payments.DeclinedException"]
PODS = ["checkout-7d9f8b6c5-x2kqp", "payments-5c4b7f9d8-9lmzt", "search-6f7c9d5b4-qwe12",
        "gateway-84c7b9f6d-abc34", "mailer-5b8d7c6f9-zz9yy", "ledger-79c5d8b7f-k8s01",
        "inventory-6d5c4b3a2-pp7qq", "auth-7b6a5c4d3-rr2ss"]
NAMESPACES = ["shop", "payments", "platform", "default"]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.t = 1_700_000_000.0  # fixed epoch start: deterministic timestamps
        self.pending = []         # continuation lines of a stack trace

    def ts(self):
        self.t += self.r.random() * 0.002
        return self.t

    def iso(self, t):
        s = int(t)
        frac = int((t - s) * 1_000_000)
        return "%s.%06dZ" % (_utc(s), frac)

    def words(self, lo, hi):
        r = self.r
        return " ".join(r.choice(WORDS) for _ in range(r.randint(lo, hi)))

    def json_line(self):
        r = self.r
        doc = {
            "ts": self.iso(self.ts()),
            "level": r.choice(LEVELS).lower(),
            "service": r.choice(SERVICES),
            "trace_id": "%032x" % r.getrandbits(128),
            "span_id": "%016x" % r.getrandbits(64),
            "msg": self.words(4, 40),
            "user_id": r.randint(1, 5_000_000),
            "duration_ms": round(r.expovariate(1 / 35.0), 3),
        }
        if r.random() < 0.3:
            doc["http"] = {"method": r.choice(METHODS), "status": r.choice(STATUSES),
                           "path": self.path()}
        if r.random() < 0.2:
            doc["tags"] = [r.choice(WORDS) for _ in range(r.randint(1, 6))]
        if r.random() < 0.05:
            doc["payload"] = self.words(30, 120)
        return json.dumps(doc, separators=(",", ":"))

    def path(self):
        r = self.r
        return r.choice(PATHS).format(id=r.randint(1, 10**7), h="%08x" % r.getrandbits(32),
                                      w=r.choice(WORDS), n=r.randint(1, 40))

    def nginx_line(self):
        r = self.r
        ip = "%d.%d.%d.%d" % (r.randint(1, 223), r.randint(0, 255), r.randint(0, 255),
                              r.randint(1, 254))
        t = self.ts()
        return '%s - - [%s +0000] "%s %s HTTP/1.1" %d %d "%s" "%s" rt=%.3f uct="%.3f" uht="%.3f" urt="%.3f"' % (
            ip, _clf(t), r.choice(METHODS), self.path(), r.choice(STATUSES),
            r.randint(0, 250_000), r.choice(["-", "https://shop.example.com/", "https://www.example.org/search"]),
            r.choice(AGENTS), r.random(), r.random() / 10, r.random() / 5, r.random())

    def text_line(self):
        r = self.r
        t = self.iso(self.ts())
        lvl = r.choice(LEVELS)
        thread = "%s-%d" % (r.choice(["http-nio-8080-exec", "pool-3-thread", "kafka-consumer"]),
                            r.randint(1, 64))
        logger = r.choice(JAVA_PKGS) + "." + r.choice(["OrderService", "PaymentClient",
                                                      "HikariPool", "DispatcherServlet"])
        line = "%s %-5s [%s] %s - %s" % (t, lvl, thread, logger, self.words(5, 30))
        if lvl == "ERROR" or r.random() < 0.02:
            exc = r.choice(EXCEPTIONS)
            line += " exception=" + exc
            self.pending.append("%s: %s (request id %032x)" % (exc, self.words(3, 12),
                                                                r.getrandbits(128)))
            for _ in range(r.randint(3, 15)):
                pkg = r.choice(JAVA_PKGS)
                cls = r.choice(["OrderService", "PaymentClient", "RetryTemplate", "ProxyHandler"])
                self.pending.append("\tat %s.%s.%s(%s.java:%d) ~[app-1.4.%d.jar:1.4.%d]" % (
                    pkg, cls, r.choice(["process", "invoke", "doFilter", "call", "run"]),
                    cls, r.randint(10, 2000), r.randint(0, 9), r.randint(0, 9)))
        return line

    def line(self):
        if self.pending:
            s = self.pending.pop(0)
        else:
            x = self.r.random()
            if x < 0.5:
                s = self.json_line()
            elif x < 0.8:
                s = self.nginx_line()
            else:
                s = self.text_line()
        if len(s) < MIN_LEN:
            s += " pad=" + "x" * (MIN_LEN - len(s) - 5)
        if len(s) > MAX_LEN:
            s = s[:MAX_LEN]
        return s


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _civil(s):
    import time
    return time.gmtime(s)


def _utc(s):
    g = _civil(s)
    return "%04d-%02d-%02dT%02d:%02d:%02d" % (g.tm_year, g.tm_mon, g.tm_mday, g.tm_hour, g.tm_min, g.tm_sec)


def _clf(t):
    g = _civil(int(t))
    return "%02d/%s/%04d:%02d:%02d:%02d" % (g.tm_mday, _MONTHS[g.tm_mon - 1], g.tm_year, g.tm_hour, g.tm_min, g.tm_sec)


def write_plain(gen, total, paths):
    outs = [open(p, "w", encoding="ascii", buffering=1 << 20) for p in paths]
    lines = written = 0
    chunk = []
    chunk_bytes = 0
    i = 0
    while written < total:
        s = gen.line() + "\n"
        chunk.append(s)
        chunk_bytes += len(s)
        written += len(s)
        lines += 1
        if chunk_bytes >= 1 << 20 or written >= total:
            outs[i % len(outs)].write("".join(chunk))
            i += 1
            chunk = []
            chunk_bytes = 0
    for f in outs:
        f.close()
    return lines, lines, written


def write_cri(gen, total, root, pods):
    files = []
    for k in range(pods):
        ns = NAMESPACES[k % len(NAMESPACES)]
        pod = "%s-%d" % (PODS[k % len(PODS)], k)
        uid = "%08x-0000-4000-8000-%012x" % (k, k)
        d = os.path.join(root, "%s_%s_%s" % (ns, pod, uid), "app")
        os.makedirs(d, exist_ok=True)
        files.append(open(os.path.join(d, "0.log"), "w", encoding="ascii", buffering=1 << 20))
    records = events = written = 0
    r = gen.r
    while written < total:
        s = gen.line()
        f = files[r.randrange(pods)]
        stream = "stderr" if s.startswith("\tat ") or " ERROR " in s else "stdout"
        stamp = gen.iso(gen.t).replace("Z", "000Z")
        parts = [s]
        if len(s) > 400 and r.random() < 0.3:  # kubelet splits long lines into partials
            cut = r.randint(100, len(s) - 100)
            parts = [s[:cut], s[cut:]]
        for j, p in enumerate(parts):
            tag = "F" if j == len(parts) - 1 else "P"
            rec = "%s %s %s %s\n" % (stamp, stream, tag, p)
            f.write(rec)
            written += len(rec)
            records += 1
        events += 1
    for f in files:
        f.close()
    return records, events, written


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, required=True, help="megabytes (10^6 bytes) to write")
    ap.add_argument("--seed", type=int, default=1)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--out", help="plain log file (with --files N: out.0.log ... out.N-1.log)")
    g.add_argument("--cri", help="directory for CRI-format pod logs (<ns>_<pod>_<uid>/app/0.log)")
    ap.add_argument("--files", type=int, default=1)
    ap.add_argument("--pods", type=int, default=8)
    a = ap.parse_args()
    total = int(a.mb * 1_000_000)
    gen = Gen(a.seed)
    if a.out:
        if a.files <= 1:
            paths = [a.out]
        else:
            base = a.out[:-4] if a.out.endswith(".log") else a.out
            paths = ["%s.%d.log" % (base, i) for i in range(a.files)]
        d = os.path.dirname(os.path.abspath(a.out))
        os.makedirs(d, exist_ok=True)
        lines, events, written = write_plain(gen, total, paths)
        nfiles = len(paths)
    else:
        lines, events, written = write_cri(gen, total, a.cri, max(1, a.pods))
        nfiles = max(1, a.pods)
    print("lines=%d events=%d bytes=%d files=%d" % (lines, events, written, nfiles))
    return 0


if __name__ == "__main__":
    sys.exit(main())
