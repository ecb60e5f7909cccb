"""fwdclient.py - a hand-written Fluent Forward protocol client for tests: every message
mode, chunk/ack, and the client side of the shared-key handshake, written from the
protocol specification with python3-msgpack; with fluent_bit=True the PING is written as
Fluent Bit 5.1's out_forward writes it (checked against its recorded bytes)."""
import gzip
import hashlib
import os
import socket
import ssl
import struct
import time

import msgpack


def event_time(sec, nsec):
    return msgpack.ExtType(0, struct.pack(">II", sec, nsec))


def unpacker():
    # A str holding raw bytes (Fluent Bit's HELO nonce) decodes with surrogates; raw() undoes it.
    return msgpack.Unpacker(raw=False, strict_map_key=False, unicode_errors="surrogateescape")


def raw(v):
    """The bytes of a decoded str or bin."""
    return v.encode("utf-8", "surrogateescape") if isinstance(v, str) else v


def pack_str_bytes(b):
    """A msgpack str holding arbitrary bytes, as Fluent Bit writes its PING salt."""
    n = len(b)
    if n < 32:
        return bytes([0xa0 | n]) + b
    if n < 256:
        return b"\xd9" + bytes([n]) + b
    return b"\xda" + struct.pack(">H", n) + b


class Client:
    def __init__(self, port, host="127.0.0.1", shared_key=None, hostname="client.test",
                 username="", password="", tls_ca=None, timeout=30, fluent_bit=False, salt=None):
        raw = socket.create_connection((host, port), timeout=timeout)
        if tls_ca:
            ctx = ssl.create_default_context(cafile=tls_ca)
            ctx.check_hostname = False
            raw = ctx.wrap_socket(raw, server_hostname="localhost")
        self.sock = raw
        self.up = unpacker()
        self.pong = None
        # fluent_bit: the PING as Fluent Bit's out_forward writes it (salt as a str of raw
        # bytes, password digest whenever the HELO has an auth salt); else salt as bin.
        self.fluent_bit = fluent_bit
        self.salt = salt
        if shared_key is not None:
            self.handshake(shared_key, hostname, username, password)

    def read_obj(self):
        for o in self.up:
            return o
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by server")
            self.up.feed(data)
            for o in self.up:
                return o

    def handshake(self, key, hostname, username, password):
        helo = self.read_obj()
        assert helo[0] == "HELO", helo
        nonce = raw(helo[1]["nonce"])
        auth_salt = raw(helo[1].get("auth", b""))
        salt = self.salt or os.urandom(16)
        digest = hashlib.sha512(salt + hostname.encode() + nonce + key.encode()).hexdigest()
        pw = ""
        if username:
            pw = hashlib.sha512(auth_salt + username.encode() + password.encode()).hexdigest()
        if self.fluent_bit:
            self.send_raw(fluent_bit_ping(hostname, salt, nonce, auth_salt, key, username, password))
        else:
            self.send(["PING", hostname, salt, digest, username, pw])
        pong = self.read_obj()
        self.pong = pong
        assert pong[0] == "PONG", pong
        if pong[1]:
            want = hashlib.sha512(salt + raw(pong[3]) + nonce + key.encode()).hexdigest()
            assert pong[4] == want, "server digest mismatch"
        return pong[1]

    def send(self, obj):
        self.sock.sendall(msgpack.packb(obj, use_bin_type=True))

    def send_raw(self, data):
        self.sock.sendall(data)

    def wait_ack(self, chunk):
        r = self.read_obj()
        assert r == {"ack": chunk}, r
        return r

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def fluent_bit_ping(hostname, salt, nonce, auth, key, username, password):
    """The PING bytes Fluent Bit's out_forward writes (plugins/out_forward/forward.c): six
    str items, the salt's raw bytes in a str, and the password digest whenever the HELO
    carried an auth salt (username and password may be empty)."""
    digest = hashlib.sha512(salt + hostname.encode() + nonce + key.encode()).hexdigest()
    user, pw = "", ""
    if auth:
        user = username
        pw = hashlib.sha512(auth + username.encode() + password.encode()).hexdigest()
    return (b"\x96" + msgpack.packb("PING") + msgpack.packb(hostname) + pack_str_bytes(salt) +
            msgpack.packb(digest) + msgpack.packb(user) + msgpack.packb(pw))


def packed_entries(records, t0=1700000000):
    # joined once: adding to a bytes object copies it whole each time (quadratic)
    return b"".join(msgpack.packb([event_time(t0 + i, 123456789), r], use_bin_type=True)
                    for i, r in enumerate(records))


def gzip_entries(records, t0=1700000000):
    return gzip.compress(packed_entries(records, t0))


def now():
    return int(time.time())
