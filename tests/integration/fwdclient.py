"""fwdclient.py - a hand-written Fluent Forward protocol client for tests: every message
mode, chunk/ack, and the client side of the shared-key handshake, written from the
protocol specification with python3-msgpack."""
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
    return msgpack.Unpacker(raw=False, strict_map_key=False)


class Client:
    def __init__(self, port, host="127.0.0.1", shared_key=None, hostname="client.test",
                 username="", password="", tls_ca=None, timeout=30):
        raw = socket.create_connection((host, port), timeout=timeout)
        if tls_ca:
            ctx = ssl.create_default_context(cafile=tls_ca)
            ctx.check_hostname = False
            raw = ctx.wrap_socket(raw, server_hostname="localhost")
        self.sock = raw
        self.up = unpacker()
        self.pong = None
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
        nonce = helo[1]["nonce"]
        auth_salt = helo[1].get("auth", b"")
        if isinstance(nonce, str):
            nonce = nonce.encode("latin-1")
        if isinstance(auth_salt, str):
            auth_salt = auth_salt.encode("latin-1")
        salt = os.urandom(16)
        digest = hashlib.sha512(salt + hostname.encode() + nonce + key.encode()).hexdigest()
        pw = ""
        if username:
            pw = hashlib.sha512(auth_salt + username.encode() + password.encode()).hexdigest()
        self.send(["PING", hostname, salt, digest, username, pw])
        pong = self.read_obj()
        self.pong = pong
        assert pong[0] == "PONG", pong
        if pong[1]:
            want = hashlib.sha512(salt + pong[3].encode() + nonce + key.encode()).hexdigest()
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


def packed_entries(records, t0=1700000000):
    out = b""
    for i, r in enumerate(records):
        out += msgpack.packb([event_time(t0 + i, 123456789), r], use_bin_type=True)
    return out


def gzip_entries(records, t0=1700000000):
    return gzip.compress(packed_entries(records, t0))


def now():
    return int(time.time())
