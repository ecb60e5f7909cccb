"""redis_server.py - a real redis-server on a free loopback port for the redis tests (no
persistence, plain or TLS-only), test certificates made with `openssl req`, and a tiny RESP
client so the tests need no Python Redis library."""
import os
import socket
import ssl
import subprocess

from harness import WORK, _started, free_port, wait_until


def make_certs(d):
    """A CA, a server certificate for redis.test and 127.0.0.1, a client certificate, and
    a second CA that signed neither. Returns {name: path}."""
    os.makedirs(d, exist_ok=True)
    p = {n: os.path.join(d, n) for n in ("ca.pem", "ca.key", "other-ca.pem", "other-ca.key",
                                         "server.pem", "server.key", "client.pem", "client.key")}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    for ca in ("ca", "other-ca"):
        run("req", "-x509", *ec, "-keyout", p[ca + ".key"], "-out", p[ca + ".pem"], "-days", "2",
            "-subj", "/CN=sluice test %s" % ca)
    for who, san in (("server", "DNS:redis.test,IP:127.0.0.1"), ("client", "DNS:sluice-client")):
        csr = os.path.join(d, who + ".csr")
        ext = os.path.join(d, who + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\n" % san)
        run("req", *ec, "-keyout", p[who + ".key"], "-out", csr, "-subj", "/CN=" + who)
        run("x509", "-req", "-in", csr, "-CA", p["ca.pem"], "-CAkey", p["ca.key"],
            "-CAcreateserial", "-out", p[who + ".pem"], "-days", "2", "-extfile", ext)
    return p


class Redis:
    """tls: None for plain TCP, or {"certs": make_certs(...), "auth_clients": "no"|"yes"}
    for a TLS-only server (the test client always presents the client certificate)."""

    def __init__(self, port=None, tls=None, name="redis"):
        self.port = port or free_port()
        self.tls = tls
        self.name = name  # its directory under WORK: one each when several run
        self.password = None  # set before start(): --requirepass, and AUTH in cmd()
        self.start()

    def start(self):
        self.dir = os.path.join(WORK, self.name)
        os.makedirs(self.dir, exist_ok=True)
        if self.tls:
            c = self.tls["certs"]
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", c["server.pem"],
                      "--tls-key-file", c["server.key"], "--tls-ca-cert-file", c["ca.pem"],
                      "--tls-auth-clients", self.tls.get("auth_clients", "no")]
        else:
            listen = ["--port", str(self.port)]
        self.proc = subprocess.Popen(
            ["redis-server"] + listen + ["--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir] +
            (["--requirepass", self.password] if self.password else []), stdout=subprocess.DEVNULL)
        _started.append(self.proc)  # killed at exit if the test fails first
        wait_until(self.up, 30, "redis-server to answer")

    def up(self):
        try:
            return self.cmd("PING") == "PONG"
        except OSError:
            return False

    def cmd(self, *args, db=0):
        """One command over RESP (after AUTH and SELECT db when needed); returns the decoded
        reply."""
        cmds = ([("AUTH", self.password)] if self.password else []) + \
            ([("SELECT", db)] if db else []) + [args]
        with self._connect() as s:
            out = b""
            for c in cmds:
                out += b"*%d\r\n" % len(c)
                for a in c:
                    a = a if isinstance(a, bytes) else str(a).encode()
                    out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            f = s.makefile("rb")
            for _ in cmds[:-1]:
                self._read(f)
            return self._read(f)

    def _connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        if not self.tls:
            return s
        c = self.tls["certs"]
        ctx = ssl.create_default_context(cafile=c["ca.pem"])
        ctx.check_hostname = False
        ctx.load_cert_chain(c["client.pem"], c["client.key"])
        return ctx.wrap_socket(s)

    def _read(self, f):
        line = f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise AssertionError("redis error: %s" % rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = f.read(n + 2)[:-2]
            return data.decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read(f) for _ in range(n)]
        raise AssertionError("bad RESP %r" % line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        wait_until(lambda: not self.up(), 30, "redis-server to stop answering")
