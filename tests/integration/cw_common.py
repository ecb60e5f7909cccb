"""cw_common.py - what the cloudwatch_logs -> elasticsearch tests share: the two emulators
(CloudWatch Logs the source reads, Elasticsearch the sink writes to), what each holds, a
shared-credentials file whose profile `cw` has the key the emulator accepts, the config of
a source `cw` feeding a sink `es`, and how its counters and group statuses are read."""
import json
import os

from harness import WORK, Emulator, free_port, get_ndjson, get_text

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


def aws_env():
    """An environment in which the source finds no AWS key but the credentials file's."""
    env = {k: "" for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env


INDEX = "cwl-{{ cloudwatch.log_group_slug }}"


def _yaml(d, indent):
    """d as block YAML lines: strings and lists in JSON form (valid YAML), dicts nested."""
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out.append("%s%s:" % (" " * indent, k))
            out += _yaml(v, indent + 2)
        else:
            out.append("%s%s: %s" % (" " * indent, k, json.dumps(v)))
    return out


def cw_es_config(cwb, esb, creds, groups, backfill_days, source=None, reconcile=None, sink=None,
                 data="data", port=None):
    """The config of sluice reading the CloudWatch Logs groups `groups` at cwb (profile cw of
    the credentials file creds) into the Elasticsearch at esb, an index a group. `source` and
    `sink` add options to (or override) the defaults below; `reconcile`, when given, is the
    source's reconcile block (against esb and the sink's index unless it says otherwise).
    data is the data directory under WORK; port the API's (a free one when not given)."""
    src = {"type": "cloudwatch_logs", "log_groups": list(groups), "region": "us-east-1",
           "endpoint": cwb, "credentials_file": creds, "profile": "cw",
           "backfill_days": backfill_days, "window_minutes": 60, "poll_interval_secs": 1,
           "overlap_secs": 2, "max_requests_per_sec": 100, "backoff_base_ms": 50,
           "backoff_max_ms": 1000}
    src.update(source or {})
    if reconcile is not None:
        src["reconcile"] = dict({"elasticsearch": esb, "index": INDEX}, **reconcile)
    snk = {"type": "elasticsearch", "inputs": ["cw"], "endpoint": esb, "index": INDEX,
           "batch": {"max_events": 500, "timeout_ms": 50},
           "retry": {"initial_ms": 10, "max_ms": 200}}
    snk.update(sink or {})
    return "\n".join(["data_dir: %s" % json.dumps(os.path.join(WORK, data)),
                      'api: { address: "127.0.0.1:%d" }' % (port or free_port()),
                      "sources:", "  cw:"] + _yaml(src, 4) +
                     ["sinks:", "  es:"] + _yaml(snk, 4)) + "\n"


def counter(s, name, component="cw"):
    """sluice_component_counter_total{component_id=component,name=name} of the sluice s, 0
    before it exists."""
    return s.component_counter(component, name)


def cw_groups(s):
    """The status of each log group of the source cw, by name ({} before it lists them)."""
    return {g["name"]: g for g in s.component("cw")["log_groups"]}
