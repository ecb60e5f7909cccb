"""reload_common.py - what the reload tests share: a forward client that sends a counted
stream with chunk acks over one connection, and helpers to rewrite the config and reload."""
import json
import os
import signal
import threading
import urllib.error
import urllib.request

from fwdclient import Client, packed_entries
from harness import ndjson_file, wait_until


class Sender(threading.Thread):
    """Sends `total` events ("e<n>") in chunks of `chunk`, keeping up to `window` chunks
    unacknowledged, all over ONE TCP connection (a reconnect would fail the test: the
    socket is never reopened). `sent` counts events whose chunk was acknowledged."""

    def __init__(self, port, total, chunk=50, window=4, tag="reload.test"):
        super().__init__(daemon=True)
        self.client = Client(port, timeout=120)
        self.total, self.chunk, self.window, self.tag = total, chunk, window, tag
        self.acked = 0
        self.error = None
        self.gate = threading.Event()  # cleared: pause after the current chunk
        self.gate.set()

    def run(self):
        try:
            unacked = []
            n = 0
            k = 0
            while n < self.total or unacked:
                if n < self.total and len(unacked) < self.window:
                    self.gate.wait()
                    m = min(self.chunk, self.total - n)
                    cid = "c%d" % k
                    self.client.send([self.tag, packed_entries(
                        [{"message": "e%d" % (n + i)} for i in range(m)]), {"chunk": cid}])
                    unacked.append((cid, m))
                    n += m
                    k += 1
                    continue
                cid, m = unacked.pop(0)
                self.client.wait_ack(cid)
                self.acked += m
        except Exception as e:  # reported by the test's main thread
            self.error = e


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def reloads(s, result):
    return s.counter("sluice_config_reloads_total", result=result)


def sighup_reload(s, result="ok"):
    """SIGHUP, then waits for the reload counter of `result` to move."""
    before = reloads(s, result)
    s.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: reloads(s, result) > before, 120, "reload (%s) after SIGHUP" % result)


def post_reload(s):
    """POST /api/v1/reload: (status, decoded JSON answer)."""
    req = urllib.request.Request("http://%s/api/v1/reload" % s.api, data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def ndjson_messages(path):
    """The messages of the NDJSON file sluice writes at path, complete lines only."""
    return [o["message"] for o in ndjson_file(path)]
