"""otlp sink pointed at a gRPC port (an OTLP collector's 4317, where OTLP/HTTP is 4318):
a real gRPC server (grpcio, the C core) answers the HTTP/1.1 request with its HTTP/2
SETTINGS frame and closes. The retry reason said 'connection closed inside the response
head'; it says the server answered in HTTP/2 and which port OTLP/HTTP is on. The events
wait (retried, none dead-lettered), as for any transport failure."""
import os
from concurrent import futures

import grpc

from harness import Sluice, WORK, append_lines, free_port, log, wait_until

srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
gport = srv.add_insecure_port("127.0.0.1:0")
srv.start()

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
s = Sluice("""data_dir: %s/data
shutdown_timeout: 1s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"], read_from: head }
sinks:
  out:
    type: otlp
    inputs: [in]
    endpoint: "http://127.0.0.1:%d"
    batch: { timeout_ms: 20 }
    retry: { initial_ms: 10, max_ms: 200 }
    circuit_breaker: { failures: 0 }
""" % (WORK, free_port(), logs, gport)).start()
try:
    append_lines(os.path.join(logs, "a.log"), ["line %d" % i for i in range(5)])
    wait_until(lambda: "OTLP/gRPC is served on 4317" in s.log_text(), 60, "the gRPC hint")
    text = s.log_text()
    assert "answered in HTTP/2" in text, text
    assert "inside the response head" not in text, text
    c = s.component("out")
    assert c["dlq_events"] == 0 and c["sent_events"] == 0, c
    wait_until(lambda: s.component("out")["retries"] >= 2, 60, "retries")
finally:
    assert s.stop() == 0
    srv.stop(0)
log("ok")
