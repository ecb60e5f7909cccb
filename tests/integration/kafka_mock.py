"""kafka_mock.py - the Kafka cluster of the kafka tests: tests/emulators/kafka_mock (librdkafka's
mock cluster, built next to sluice) driven over its stdin, and kcat, the independent client
that reads back what sluice produced (and produces what sluice reads); the config of a kafka
source consuming into a file sink, and what that file holds."""
import json
import os
import subprocess

from harness import SLUICE, WORK, free_port, ndjson_file, track

MOCK = os.environ.get("KAFKA_MOCK") or os.path.join(os.path.dirname(os.path.abspath(SLUICE)), "kafka_mock")


class KafkaMock:
    def __init__(self, brokers=3):
        if not os.path.exists(MOCK):
            raise AssertionError("%s missing: build it with `make BUILD=... all`" % MOCK)
        self.err = open(os.path.join(WORK, "kafka_mock.err"), "ab")
        self.proc = track(subprocess.Popen([MOCK, str(brokers)], stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=self.err, text=True))
        self.bootstrap = self.proc.stdout.readline().strip()
        if not self.bootstrap:
            raise AssertionError("kafka_mock did not start")

    def cmd(self, line):
        """Runs one command (see the emulator's header); fails the test on an error answer.
        Returns what followed "ok"."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        ans = self.proc.stdout.readline().strip()
        assert ans == "ok" or ans.startswith("ok "), "kafka_mock %r: %r" % (line, ans)
        return ans[3:]

    def committed(self, group, topic, partitions):
        """The group's committed offset per partition (-1: none), as a client reads them."""
        return [int(x) for x in self.cmd("committed %s %s %d" % (group, topic, partitions)).split()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def kcat(bootstrap, *args, input=None, timeout=120):
    r = subprocess.run(["kcat", "-b", bootstrap, "-q"] + list(args), input=input,
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("kcat %s: %s" % (" ".join(args), r.stderr[-2000:]))
    return r


def consume(bootstrap, *topics, debug=False):
    """Every message of the topics, from the beginning to their end, as dicts: topic,
    partition, offset, key, payload, headers (a dict; the last value of a repeated name).
    With debug, also the set of compression codecs the fetched batches carried."""
    out, codecs = [], set()
    for t in topics:  # kcat's simple consumer reads one topic per run
        args = ["-C", "-e", "-J", "-o", "beginning", "-t", t]
        if debug:
            args += ["-d", "fetch"]
        r = kcat(bootstrap, *args)
        for line in r.stdout.splitlines():
            if not line.strip():
                continue
            m = json.loads(line)
            h = m.get("headers") or []
            if isinstance(h, list):
                h = dict(zip(h[0::2], h[1::2]))
            m["headers"] = h
            out.append(m)
        for line in r.stderr.splitlines():
            if "fetch queue" in line and "msgsets" in line:
                codecs.add(line.rstrip(")").rsplit(",", 1)[1].strip())
    return (out, codecs) if debug else out


def consumer_config(bootstrap, group, topics, path, batch, librdkafka="", file_opts=""):
    """The config of a kafka source `in` (group `group`, the topics list `topics`, raw
    decoding, a short session) consuming into a file sink `out` at path, both batching
    `batch` events. librdkafka: more `name: "value"` pairs for the consumer; file_opts: more
    lines of the sink's options (indented by four)."""
    return """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in:
    type: kafka
    brokers: ["%s"]
    group_id: %s
    topics: %s
    decoding: raw
    batch_max_events: %d
    librdkafka: { session.timeout.ms: "6000", heartbeat.interval.ms: "500"%s }
sinks:
  out:
    type: file
    inputs: [in]
    path: %s
%s    batch: { max_events: %d, timeout_ms: 20 }
""" % (WORK, free_port(), bootstrap, group, json.dumps(topics), batch,
       ", " + librdkafka if librdkafka else "", path, file_opts, batch)


def file_lines(path):
    """The events of the NDJSON file at path (harness.ndjson_file)."""
    return ndjson_file(path)
