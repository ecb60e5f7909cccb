"""otlp source reached by a client of another protocol on its port:
  - an HTTP/2 client (a gRPC exporter, the default of several OpenTelemetry SDKs, or HTTP/2
    with prior knowledge) is answered 505 in HTTP/1.1 and the log says which exporter
    protocol to set; the preface was read as a request for path *, and the log blamed the
    path (404). A real gRPC client (grpcio) fails at once, saying it reached an HTTP/1.x
    server, and does not reconnect in a loop;
  - a TLS client (an https:// endpoint for a listener without TLS) is closed at once with a
    log line naming the fix; it waited out request_timeout (here 10 minutes) for a head.
Both are counted as errors; an OTLP/HTTP export on the same port is still served."""
import http.client
import json
import os
import socket
import ssl

import grpc

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def read_all(sock):
    out = b""
    while True:
        b = sock.recv(4096)
        if not b:
            return out
        out += b


def start(name):
    """A sluice of its own for each client: the source logs one warning a second at most."""
    api, port = free_port(), free_port()
    out = os.path.join(WORK, name + ".ndjson")
    s = Sluice("""
data_dir: %s/data-%s
api: { address: "127.0.0.1:%d" }
sources:
  otel: { type: otlp, address: "127.0.0.1:%d", request_timeout: 10m }
sinks:
  out: { type: file, inputs: [otel], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, name, api, port, out), name=name).start()
    return s, port, out


def export_served(s, port, out):
    h = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    h.request("POST", "/v1/logs", body=json.dumps({"resourceLogs": [{"scopeLogs": [
        {"logRecords": [{"body": {"stringValue": "after"}}]}]}]}),
        headers={"Content-Type": "application/json"})
    r = h.getresponse()
    assert r.status == 200, (r.status, r.read())
    h.close()
    wait_until(lambda: [e["message"] for e in ndjson_file(out)] == ["after"], 60, "the export")


s, port, out = start("h2")
try:
    # HTTP/2 with prior knowledge: the client preface and an empty SETTINGS frame
    c = socket.create_connection(("127.0.0.1", port), timeout=120)
    c.sendall(PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    got = read_all(c)
    c.close()
    log("HTTP/2 client got", got[:60])
    assert got.startswith(b"HTTP/1.1 505 "), got
    wait_until(lambda: "only HTTP/1.1" in s.log_text(), 60, "the HTTP/2 warning")
    assert "http/protobuf" in s.log_text()
    assert "not found" not in s.log_text(), s.log_text()
    assert s.counter("sluice_component_errors_total", component_id="otel", reason="http2") == 1

    # a gRPC exporter's call, by a real gRPC client
    ch = grpc.insecure_channel("127.0.0.1:%d" % port)
    export = ch.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                            request_serializer=lambda b: b, response_deserializer=lambda b: b)
    try:
        export(b"", timeout=60)
        raise AssertionError("a gRPC call succeeded")
    except grpc.RpcError as e:
        log("gRPC client:", e.code(), e.details())
        assert e.code() != grpc.StatusCode.DEADLINE_EXCEEDED, e.details()
        assert "http1.x" in e.details(), e.details()
    ch.close()
    n = s.counter("sluice_component_errors_total", component_id="otel", reason="http2")
    assert 2 <= n < 10, ("gRPC connections", n)
    export_served(s, port, out)
finally:
    assert s.stop() == 0

s, port, out = start("tls")
try:
    # TLS to the plain listener: the handshake fails as soon as the ClientHello is read
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    raw = socket.create_connection(("127.0.0.1", port), timeout=120)
    try:
        ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        raise AssertionError("a TLS handshake with a plain listener succeeded")
    except socket.timeout:
        raise AssertionError("the listener kept a TLS client waiting")
    except (ssl.SSLError, OSError) as e:
        log("TLS client:", repr(e))
    raw.close()
    wait_until(lambda: s.counter("sluice_component_errors_total", component_id="otel",
                                 reason="tls_on_plain") == 1, 60, "the TLS client counted")
    wait_until(lambda: "this listener has no TLS" in s.log_text(), 60, "the TLS warning")
    export_served(s, port, out)
finally:
    assert s.stop() == 0
log("ok")
