"""elasticsearch sink: `auth.api_key` written as id:key, the form Elasticsearch's create API
key answer gives (`id` and `api_key`) and Beats and Logstash take. It went out as
`Authorization: ApiKey id:key`, which Elasticsearch answers 401: the circuit opened with
AUTHENTICATION FAILED and nothing was delivered. The sink sends its base64 now, as for the
`encoded` value; the setup requests (GET /, the template) carry it too."""
import base64
import os

from harness import (Emulator, Sluice, WORK, append_lines, file_to_es_config, http_json, log,
                     wait_until)

N = 50
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
append_lines(os.path.join(logs, "a.log"), ("line %d" % i for i in range(N)))

KEY_ID, KEY = "VuaCfGcBCdbkQm-e5aOx", "ui2lp2axTNmsyakw9tvNnw"
encoded = base64.b64encode(("%s:%s" % (KEY_ID, KEY)).encode()).decode()
emu = Emulator("es_emulator.py", "--api-key", encoded)
base = "http://127.0.0.1:%d" % emu.port


def stats():
    return http_json(base + "/_emulator/stats", headers={"Authorization": "ApiKey " + encoded})


s = Sluice(file_to_es_config(logs, base, """\
    index: keyed
    manage_templates: true
    auth: { api_key: "%s:%s" }
    batch: { max_events: 20, timeout_ms: 50 }
    retry: { initial_ms: 10, max_ms: 100 }
    circuit_breaker: { failures: 5, open_ms: 200 }
""" % (KEY_ID, KEY))).start()
try:
    wait_until(lambda: stats()["docs"] == N or stats()["status_401"] > 0, 60,
               "documents indexed (or refused for the key)")
    assert stats()["status_401"] == 0, "the node refused the key: %s" % stats()
    assert stats()["composable_templates"] == 1, stats()
    wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "source committed")
finally:
    assert s.stop() == 0
assert "AUTHENTICATION FAILED" not in s.log_text()
log("ok: an id:key API key is sent as its base64")
emu.stop()
