#!/usr/bin/python3
"""forward_server.py - a Fluent Forward server for testing forward clients (the forward sink).
It checks what the real servers check, so a client that a real server would refuse is
refused here too:

  --flavor fluent-bit (default): Fluent Bit 5.1's in_forward (plugins/in_forward/fw_prot.c,
      and the recorded bytes in tests/data/fluent-bit-forward). HELO ["HELO", {nonce, auth}]
      with both as 16 raw bytes in a msgpack str. The PING must be an array of 6 whose every
      item is a str ("Invalid <item> type message" and close, no PONG, otherwise); a wrong
      shared-key digest closes without PONG ("shared_key mismatch"); with users, a wrong
      user or password gets ["PONG", false, "username/password mismatch", "", ""] and close.
      PONG ["PONG", true, "", self_hostname, sha512_hex(salt + self_hostname + nonce + key)],
      every item a str. Data: tag a str; `chunk` a str; Message mode time an integer or
      EventTime; entries [time, record] or [[time, metadata], record]; `fluent_signal` a
      positive integer 0..2; gzip CompressedPackedForward.
  --flavor fluentd: Fluentd 1.x's in_forward (lib/fluent/plugin/in_forward.rb). HELO
      ["HELO", {nonce: bin, auth: bin or "", keepalive: true}]; PING items str or bin, any
      failure answered with PONG false and the reason, then close; entries [time, record]
      only (Fluentd calls to_i on the time).

Events are kept in memory. Prints the HTTP control port on its first stdout line.
  GET /events  NDJSON, one {"tag", "time_ns", "record", "metadata"} per event
  GET /stats   {"connections", "handshakes", "refused": {reason: n}, "messages": {mode: n},
                "compressed", "acks", "closed_bad_data"}
"""
import argparse
import hashlib
import json
import os
import socketserver
import ssl
import struct
import sys
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgpack

ARGS = None
LOCK = threading.Lock()
EVENTS = []
STATS = {"connections": 0, "handshakes": 0, "refused": {}, "messages": {}, "compressed": 0,
         "acks": 0, "closed_bad_data": 0}


def note(msg):
    print("forward_server: " + msg, file=sys.stderr, flush=True)


def count(key, sub=None):
    with LOCK:
        if sub is None:
            STATS[key] += 1
        else:
            STATS[key][sub] = STATS[key].get(sub, 0) + 1


def raw(v):
    """The bytes of a str (decoded with surrogateescape) or bin."""
    return v.encode("utf-8", "surrogateescape") if isinstance(v, str) else v


def pack_str_bytes(b):
    """A msgpack str holding arbitrary bytes, as Fluent Bit writes its nonce and salt."""
    n = len(b)
    if n < 32:
        return bytes([0xa0 | n]) + b
    if n < 256:
        return b"\xd9" + bytes([n]) + b
    return b"\xda" + struct.pack(">H", n) + b


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def sha512_hex(*parts):
    h = hashlib.sha512()
    for p in parts:
        h.update(raw(p))
    return h.hexdigest()


def jsonable(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(v, dict):
        return {jsonable(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, msgpack.ExtType):
        return None
    return v


class Refused(Exception):
    pass


def time_ns(t, fluent_bit):
    if isinstance(t, msgpack.ExtType) and t.code == 0 and len(t.data) == 8:
        sec, nsec = struct.unpack(">II", t.data)
        return sec * 1000000000 + nsec
    if isinstance(t, bool):
        raise Refused("invalid time")
    if isinstance(t, int):
        return t * 1000000000
    if isinstance(t, float) and fluent_bit:
        return int(t * 1e9)
    raise Refused("invalid time")


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        count("connections")
        self.sock = self.request
        self.sock.settimeout(60)
        self.up = msgpack.Unpacker(raw=False, strict_map_key=False,
                                   unicode_errors="surrogateescape", max_buffer_size=64 << 20)
        self.fb = ARGS.flavor == "fluent-bit"

    def read_obj(self):
        for o in self.up:
            return o
        while True:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.up.feed(data)
            for o in self.up:
                return o

    def handle(self):
        try:
            if ARGS.tls_cert:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)
                self.sock = ctx.wrap_socket(self.request, server_side=True)
            if ARGS.shared_key is not None and not self.handshake():
                return
            while True:
                msg = self.read_obj()
                if msg is None:
                    return
                self.message(msg)
        except Refused as e:
            count("closed_bad_data")
            note("closing: " + str(e))
        except (OSError, ssl.SSLError, ValueError, msgpack.UnpackException) as e:
            note("connection error: %r" % (e,))

    # ---- handshake ------------------------------------------------------------------------

    def refuse(self, reason, pong):
        count("refused", reason)
        note("refused: " + reason)
        if pong:
            self.sock.sendall(pack(["PONG", False, reason, "", ""]))
        return False

    def handshake(self):
        nonce, auth = os.urandom(16), os.urandom(16) if (ARGS.user or self.fb) else b""
        if self.fb:
            helo = (b"\x92" + pack("HELO") + b"\x82" + pack("nonce") + pack_str_bytes(nonce) +
                    pack("auth") + pack_str_bytes(auth))
        else:
            helo = pack(["HELO", {"nonce": nonce, "auth": auth if ARGS.user else "",
                                  "keepalive": True}])
        self.sock.sendall(helo)
        ping = self.read_obj()
        if ping is None:
            return False
        if self.fb:
            if not isinstance(ping, list) or len(ping) != 6:
                return self.refuse("Invalid PING message", False)
            names = ["PING type", "hostname type", "shared_key_salt type", "shared_key_digest type",
                     "username type", "password_digest type"]
            for item, name in zip(ping, names):
                if not isinstance(item, str):
                    return self.refuse("Invalid %s message" % name, False)
            if ping[0] != "PING":
                return self.refuse("Invalid PING message", False)
        else:
            if not isinstance(ping, list) or len(ping) != 6 or raw(ping[0]) != b"PING":
                return self.refuse("invalid ping message", True)
            if not all(isinstance(x, (str, bytes)) for x in ping[1:]):
                return self.refuse("invalid ping message", True)
        _, hostname, salt, digest, username, pw_digest = ping
        if raw(digest) != sha512_hex(salt, hostname, nonce, ARGS.shared_key).encode():
            # Fluent Bit closes without a PONG; Fluentd answers PONG false.
            return self.refuse("shared_key mismatch", not self.fb)
        if ARGS.user:
            ok = False
            for u in ARGS.user:
                name, password = u.split(":", 1)
                if raw(username) == name.encode() and len(raw(pw_digest)) == 128 and \
                        raw(pw_digest) == sha512_hex(auth, name, password).encode():
                    ok = True
            if not ok:
                return self.refuse("username/password mismatch", True)
        host = ARGS.self_hostname
        self.sock.sendall(pack(["PONG", True, "", host, sha512_hex(salt, host, nonce, ARGS.shared_key)]))
        count("handshakes")
        return True

    # ---- data ------------------------------------------------------------------------------

    def entry(self, tag, e):
        if not isinstance(e, list) or len(e) != 2:
            raise Refused("entry is not [time, record]")
        head, record = e
        meta = {}
        if isinstance(head, list):
            if not self.fb:
                raise Refused("entry time is an array (Fluentd: undefined method to_i)")
            if len(head) != 2 or not isinstance(head[1], dict):
                raise Refused("bad [time, metadata]")
            head, meta = head
        if not isinstance(record, dict):
            raise Refused("record is not a map")
        ns = time_ns(head, self.fb)
        if ns < 0:  # Fluent Bit's group markers
            return
        with LOCK:
            EVENTS.append({"tag": tag, "time_ns": ns, "record": jsonable(record),
                           "metadata": jsonable(meta)})

    def message(self, msg):
        if not isinstance(msg, list) or len(msg) < 2:
            raise Refused("not an array of 2+ items")
        tag = msg[0]
        if not isinstance(tag, str) and (self.fb or not isinstance(tag, bytes)):
            raise Refused("invalid tag format")
        tag = jsonable(tag)
        second = msg[1]
        opt_at = 2
        if isinstance(second, list):
            mode = "forward"
            opts = self.options(msg, opt_at)
            for e in second:
                self.entry(tag, e)
        elif isinstance(second, (int, msgpack.ExtType)) and not isinstance(second, bool):
            mode = "message"
            if len(msg) < 3 or not isinstance(msg[2], dict):
                raise Refused("message mode requires a map")
            opt_at = 3
            opts = self.options(msg, opt_at)
            self.entry(tag, [second, msg[2]])
        elif isinstance(second, (str, bytes)):
            mode = "packed"
            opts = self.options(msg, opt_at)
            data = raw(second)
            signal = opts.get("fluent_signal", 0)
            if self.fb and (not isinstance(signal, int) or isinstance(signal, bool) or signal not in (0, 1, 2)):
                raise Refused("invalid value in options fluent_signal")
            if opts.get("compressed") == "gzip" or (self.fb and data[:2] == b"\x1f\x8b"):
                count("compressed")
                data = gunzip_members(data)
            if signal == 0:
                u = msgpack.Unpacker(raw=False, strict_map_key=False, unicode_errors="surrogateescape")
                u.feed(data)
                for e in u:
                    self.entry(tag, e)
        else:
            raise Refused("invalid data format")
        count("messages", mode)
        chunk = opts.get("chunk")
        if chunk is not None:
            self.sock.sendall(pack({"ack": chunk}))
            count("acks")

    def options(self, msg, at):
        if len(msg) <= at or msg[at] is None:
            return {}
        opts = msg[at]
        if not isinstance(opts, dict):
            raise Refused("invalid options field")
        chunk = opts.get("chunk")
        if chunk is not None and not isinstance(chunk, str) and (self.fb or not isinstance(chunk, bytes)):
            raise Refused("chunk is not a str")
        return opts


def gunzip_members(data):
    out = b""
    while data:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += d.decompress(data)
        if not d.eof:
            raise Refused("truncated gzip")
        data = d.unused_data
    return out


class Http(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        with LOCK:
            if self.path == "/events":
                body = "".join(json.dumps(e) + "\n" for e in EVENTS).encode()
            elif self.path == "/stats":
                body = json.dumps(STATS).encode()
            else:
                body = None
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True, help="Forward port (loopback)")
    ap.add_argument("--flavor", choices=["fluent-bit", "fluentd"], default="fluent-bit")
    ap.add_argument("--shared-key")
    ap.add_argument("--user", action="append", help="name:password (repeatable)")
    ap.add_argument("--self-hostname", default="fb-server")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ARGS = ap.parse_args()
    fwd = Server(("127.0.0.1", ARGS.port), Handler)
    http = ThreadingHTTPServer(("127.0.0.1", 0), Http)
    threading.Thread(target=fwd.serve_forever, daemon=True).start()
    print("forward_server http port %d" % http.server_address[1], flush=True)
    http.serve_forever()


if __name__ == "__main__":
    main()
