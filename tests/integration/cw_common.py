"""cw_common.py - what the cloudwatch_logs -> elasticsearch tests share: the two emulators
(CloudWatch Logs the source reads, Elasticsearch the sink writes to), what each holds, and
a shared-credentials file whose profile `cw` has the key the emulator accepts."""
import json
import os

from harness import WORK, Emulator, get_ndjson, get_text

CW_PROFILE = "[cw]\naws_access_key_id = AKIDSLUICETEST\naws_secret_access_key = sluice-test-secret\n"


def start_emulators(*cw_args):
    """Starts the CloudWatch Logs emulator (with the options cw_args) and the Elasticsearch
    emulator; returns (cw, es, cw_base_url, es_base_url)."""
    cw = Emulator("cloudwatch_emulator.py", *cw_args)
    es = Emulator("es_emulator.py")
    return cw, es, "http://127.0.0.1:%d" % cw.port, "http://127.0.0.1:%d" % es.port


def es_docs(esb):
    """The documents the Elasticsearch emulator at esb stores."""
    return get_ndjson(esb + "/_emulator/docs")


def es_count(esb):
    return json.loads(get_text(esb + "/_emulator/stats"))["docs"]


def cw_events(cwb):
    """The events the CloudWatch Logs emulator at cwb holds."""
    return get_ndjson(cwb + "/_emulator/events")


def write_credentials(others=""):
    """Writes WORK/credentials: the profiles `others` (file text), then the profile cw.
    Returns its path."""
    path = os.path.join(WORK, "credentials")
    with open(path, "w") as f:
        f.write(others + CW_PROFILE)
    return path
