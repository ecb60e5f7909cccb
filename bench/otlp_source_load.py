#!/usr/bin/python3
"""otlp_source_load.py - load for the otlp source benchmark: CONNS processes, each on one
keep-alive connection, POST the same ExportLogsServiceRequest (RECORDS log records with a
resource, a scope, five attributes and trace context, ~300 bytes each as an SDK sends them)
REQUESTS times to /v1/logs, protobuf or JSON, and check every answer is 200. Prints the
number of records sent."""
import argparse
import http.client
import json
import multiprocessing
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "emulators"))
import otlp_pb  # noqa: E402


def kv(k, v):
    return {"key": k, "value": v}


def request(n):
    recs = [{"timeUnixNano": str(1700000000000000000 + i), "observedTimeUnixNano": str(1700000000000000000 + i),
             "severityNumber": 9, "severityText": "INFO",
             "body": {"stringValue": "GET /api/v1/orders/%d 200 %d ms user=%d" % (i, i % 97, i % 1000)},
             "attributes": [kv("http.method", {"stringValue": "GET"}), kv("http.status_code", {"intValue": "200"}),
                            kv("http.route", {"stringValue": "/api/v1/orders/{id}"}),
                            kv("duration_ms", {"doubleValue": 12.5}), kv("cache.hit", {"boolValue": i % 2 == 0})],
             "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "flags": 1}
            for i in range(n)]
    return {"resourceLogs": [{"resource": {"attributes": [kv("service.name", {"stringValue": "orders"}),
                                                          kv("host.name", {"stringValue": "node-7"})]},
                              "scopeLogs": [{"scope": {"name": "io.example.http", "version": "2.1.0"},
                                             "logRecords": recs}]}]}


def worker(args):
    port, body, ctype, requests = args
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for _ in range(requests):
        c.request("POST", "/v1/logs", body=body, headers={"Content-Type": ctype})
        r = c.getresponse()
        r.read()
        if r.status != 200:
            raise SystemExit("answer %d" % r.status)
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=2)
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--records", type=int, default=500)
    ap.add_argument("--encoding", choices=["protobuf", "json"], default="protobuf")
    a = ap.parse_args()
    req = request(a.records)
    if a.encoding == "json":
        body, ctype = json.dumps(req).encode(), "application/json"
    else:
        body, ctype = otlp_pb.encode_request(req), "application/x-protobuf"
    with multiprocessing.Pool(a.conns) as p:
        p.map(worker, [(a.port, body, ctype, a.requests)] * a.conns)
    print(a.conns * a.requests * a.records)


if __name__ == "__main__":
    main()
