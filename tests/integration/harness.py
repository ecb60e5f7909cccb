"""harness.py - helpers for integration tests: start the real sluice binary, talk to its
API, start emulators, count and digest NDJSON output. Standard library only.

Rules the tests keep, so that they pass on a loaded machine: wait on a state (wait_until on
a metric, a count, a file's content), never on a sleep; read a file sluice is still writing
by complete lines (ndjson_file), since a read can land between two of its writes."""
import atexit
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

SLUICE = os.environ.get("SLUICE", "build/sluice")
WORK = os.environ.get("WORK") or os.path.abspath("tmp-it")
ROOT = os.environ.get("ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
PYTHON = "/usr/bin/python3"
os.makedirs(WORK, exist_ok=True)
_started = []


@atexit.register
def _stop_leftovers():
    """A failed test must not leave its processes behind: kill what it started, by pid."""
    for p in _started:
        if p.poll() is None:
            p.kill()
            p.wait()


def track(proc):
    """Registers a process the test started itself (an emulator run with Popen), so that a
    failed test does not leave it behind either. Returns proc."""
    _started.append(proc)
    return proc


def log(*a):
    print(*a, flush=True)


_ports_given = set()


def free_port():
    """A loopback port nothing listens on now, never one this test was given before: the
    kernel may hand the same ephemeral port to two binds in a row once the first socket
    is closed, and two listeners of one test (the API and a source) must differ."""
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _ports_given:
            _ports_given.add(port)
            return port


def wait_until(pred, timeout=60.0, what="condition", interval=0.05):
    """Polls pred() until true; fails the test after `timeout` seconds (a safety net,
    never an assertion about speed)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


def api_get(api, path):
    """GET path of the sluice API at api (host:port): (status, body), an error status too."""
    try:
        with urllib.request.urlopen("http://%s%s" % (api, path), timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def component_counter(api, cid, name):
    """sluice_component_counter_total{component_id=cid,name=name} of the sluice API at api;
    0 before it exists. For a sluice the test runs itself (`sluice run` from the
    environment); else Sluice.component_counter."""
    want = ('component_id="%s"' % cid, 'name="%s"' % name)
    for line in api_get(api, "/metrics")[1].splitlines():
        if line.startswith("sluice_component_counter_total{") and all(w in line for w in want):
            return float(line.rsplit(" ", 1)[1])
    return 0


class Sluice:
    """One sluice process with a config written to WORK."""

    def __init__(self, config_text, name="sluice", env=None):
        self.name = name
        self.config = os.path.join(WORK, name + ".yaml")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.proc = None
        self.env = dict(os.environ, **(env or {}))
        self.log_path = os.path.join(WORK, name + ".log")
        self.api = None
        for line in config_text.splitlines():
            if "address:" in line and "api" in line:
                self.api = line.split('address:')[1].strip().strip('{} "\'')

    def start(self, preexec_fn=None):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([SLUICE, "run", "-c", self.config], stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=self.env, preexec_fn=preexec_fn)
        _started.append(self.proc)
        if self.api:
            wait_until(self.ready, 30, "sluice API to answer")
        return self

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("sluice exited early (%s):\n%s" % (self.proc.returncode, self.log_text()[-3000:]))
        try:
            return self.get("/readyz")[0] == 200
        except OSError:
            return False

    def get(self, path):
        return api_get(self.api, path)

    def status(self):
        return json.loads(self.get("/api/v1/status")[1])

    def component(self, cid):
        for c in self.status()["components"]:
            if c["id"] == cid:
                return c
        raise KeyError(cid)

    def metric(self, name, **labels):
        """Sum of a Prometheus series matching the labels."""
        total = 0.0
        found = False
        for line in self.get("/metrics")[1].splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            if all('%s="%s"' % (k, v) in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
                found = True
        return total if found else None

    def counter(self, name, **labels):
        """A counter's value; 0 before its series exists (e.g. no error of that reason yet)."""
        return self.metric(name, **labels) or 0

    def component_counter(self, cid, name):
        """sluice_component_counter_total{component_id=cid,name=name}; 0 before it exists.
        (Its label `name` cannot be passed to counter.)"""
        return component_counter(self.api, cid, name)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("sluice did not stop within %ss after %s" % (timeout, sig))
        return self.proc.returncode

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def wait_exit(self, timeout=120):
        return self.proc.wait(timeout=timeout)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


class Emulator:
    """A Python emulator from tests/emulators that prints its port on its first line."""

    def __init__(self, script, *args, stderr=None):
        self.proc = subprocess.Popen([PYTHON, os.path.join(ROOT, "tests", "emulators", script)] + list(args),
                                     stdout=subprocess.PIPE, stderr=stderr or sys.stderr, text=True)
        _started.append(self.proc)
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("emulator %s did not start" % script)
        self.port = int(line.split()[-1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class MutePeer:
    """A loopback server that accepts, reads everything and never answers: a peer that holds
    requests until the client's own timeout. `received` counts the bytes read."""

    def __init__(self):
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import threading
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(c)
            threading.Thread(target=self._drain, args=(c,), daemon=True).start()

    def _drain(self, c):
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                self.received += len(d)
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


def ndjson_file(path):
    """The objects of the NDJSON file at path, complete lines only: sluice may be in the
    middle of writing the last one. [] before the file exists."""
    res = []
    try:
        with open(path, "rb") as f:
            for line in f:
                if line.endswith(b"\n") and line.strip():
                    res.append(json.loads(line))
    except FileNotFoundError:
        pass
    return res


def read_ndjson_messages(paths):
    """Returns the list of `message` values in the NDJSON files, in file order (complete
    lines only, as ndjson_file)."""
    return [o["message"] for p in paths for o in ndjson_file(p)]


def digest(lines):
    h = hashlib.sha256()
    for l in lines:
        h.update(l.encode() if isinstance(l, str) else l)
        h.update(b"\n")
    return h.hexdigest()


def read_run_to_last(cfg, stderr_path, last):
    """Starts `sluice run -c cfg` with its standard output read line by line (text lines
    "line N"), until line `last` came; stops it (exit 0 asserted) and returns the numbers in
    the order written."""
    import threading
    p = track(subprocess.Popen([SLUICE, "run", "-c", cfg], stdout=subprocess.PIPE,
                               stderr=open(stderr_path, "wb")))
    seen = []

    def read_all():
        for line in p.stdout:
            seen.append(int(line.split()[1]))

    threading.Thread(target=read_all, daemon=True).start()
    wait_until(lambda: seen and seen[-1] == last, 120, "the run to write line %d" % last)
    p.terminate()
    assert p.wait(timeout=120) == 0
    return list(seen)


def snappy_block(data):
    """data as one raw snappy block, compressed by libsnappy itself (what Vector's http sink
    sends with `compression: snappy`)."""
    import ctypes
    lib = ctypes.CDLL("libsnappy.so.1")
    lib.snappy_max_compressed_length.restype = ctypes.c_size_t
    lib.snappy_max_compressed_length.argtypes = [ctypes.c_size_t]
    out = ctypes.create_string_buffer(lib.snappy_max_compressed_length(len(data)))
    n = ctypes.c_size_t(len(out))
    assert lib.snappy_compress(data, ctypes.c_size_t(len(data)), out, ctypes.byref(n)) == 0
    return out.raw[:n.value]


def snappy_framed(data, chunk=65536, stored=False):
    """data in snappy's framing format: the stream identifier, then a chunk of at most
    `chunk` bytes at a time, compressed (or stored), each with its masked CRC-32C."""
    def crc32c(b):
        crc = 0xFFFFFFFF
        for x in b:
            crc ^= x
            for _ in range(8):
                crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
        crc ^= 0xFFFFFFFF
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    out = bytearray(b"\xff\x06\x00\x00sNaPpY")
    for i in range(0, len(data), chunk):
        part = data[i:i + chunk]
        body = crc32c(part).to_bytes(4, "little") + (part if stored else snappy_block(part))
        out += bytes([1 if stored else 0]) + len(body).to_bytes(3, "little") + body
    return bytes(out)


def post_json(url, obj, timeout=30):
    """POSTs obj as JSON and returns the decoded JSON answer."""
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def http_json(url, body=None, method=None, headers=None, timeout=10):
    """Sends body as JSON (POST when there is one, else GET, unless method says) and returns
    the decoded JSON answer, None when it is empty. Emulators' control and query calls."""
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 method=method or ("POST" if body is not None else "GET"), headers=h)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read().decode() or "null")


def append_lines(path, lines):
    """Appends each string of lines plus a newline to the file at path."""
    with open(path, "a") as f:
        f.write("".join(l + "\n" for l in lines))


def get_text(url, timeout=60):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def get_ndjson(url, timeout=60):
    """The JSON lines an emulator serves at url (its stored documents or events)."""
    return [json.loads(l) for l in get_text(url, timeout).splitlines() if l.strip()]


def file_to_es_config(logs, endpoint, sink):
    """The pipeline most elasticsearch sink tests run: the file source `in` reading
    logs/*.log into the elasticsearch sink `es` at endpoint, the API on a free port.
    sink: the sink's further settings (YAML indented four spaces), then any further
    top-level sections. Returns the config text."""
    return """data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  es:
    type: elasticsearch
    inputs: [in]
    endpoint: "%s"
""" % (WORK, free_port(), logs, endpoint) + sink
