"""kafka source: retention deletes messages the group has not read. The source reads 100
messages of a 1-partition topic and commits them; while it is stopped kcat produces ~7 MB, more
than the mock cluster keeps per partition (about 5 MB: it deletes the oldest batches, as
retention would), so the log start moves past the committed offset. On restart the fetch at the
committed offset is out of range and librdkafka resets to the earliest offset the broker still
has. Checked: the source says so (a warning naming the partition, the offsets and how many
messages it skipped), counts the skipped messages in
sluice_component_counter_total{name="kafka_skipped_messages"} and the reset in
sluice_component_errors_total{reason="offset_reset"}, and every message is accounted for:
read before, skipped (exactly the gap between the committed offset and the log start), or read
after."""
import json
import os

from harness import Sluice, WORK, log, wait_until
from kafka_mock import KafkaMock, consumer_config, file_lines, kcat

kafka = KafkaMock(3)
kafka.cmd("topic ret 1")
out = os.path.join(WORK, "out")
os.makedirs(out)
outfile = os.path.join(out, "out.ndjson")
BIG = 70  # messages of 100 kB: ~7 MB


def produce(lo, hi, size=0):
    pad = "x" * size
    data = "".join(json.dumps({"n": i, "pad": pad}) + "\n" for i in range(lo, hi))
    kcat(kafka.bootstrap, "-P", "-t", "ret", "-p", "0", input=data)


def watermarks():
    lo, hi = kafka.cmd("watermarks ret 1").split(":")
    return int(lo), int(hi)


def skipped():
    """sluice_component_counter_total{component_id="in", name="kafka_skipped_messages"}."""
    return int(s.component_counter("in", "kafka_skipped_messages"))


def lines():
    return file_lines(outfile)


s = Sluice(consumer_config(kafka.bootstrap, "readers", ["ret"], outfile, 50))

# 1. read and commit the first 100
produce(0, 100)
s.start()
wait_until(lambda: len(lines()) == 100, 120, "the first 100 messages")
wait_until(lambda: kafka.committed("readers", "ret", 1) == [100], 60, "offset 100 committed")
assert s.stop() == 0, s.log_text()[-2000:]
assert "offset reset" not in s.log_text()

# 2. while stopped, retention deletes past the committed offset
produce(100, 100 + BIG, size=100000)
start, end = watermarks()
log("log start %d, end %d" % (start, end))
assert end == 100 + BIG, end
assert 100 < start < end, (start, end)  # the mock deleted unread messages, and kept some

# 3. the restarted source reads what is left and says what it skipped
s.start()
wait_until(lambda: len(lines()) == 100 + end - start, 120, "the messages the broker kept")
wait_until(lambda: skipped() == start - 100, 60,
           "%d skipped messages counted" % (start - 100))
wait_until(lambda: kafka.committed("readers", "ret", 1) == [end], 60, "the end committed")
assert s.counter("sluice_component_errors_total", component_id="in", reason="offset_reset") == 1
text = s.log_text()
want = "ret/0: offset 100 is no longer on the broker (deleted by retention?), reading on at %d: " \
       "%d message(s) skipped" % (start, start - 100)
assert want in text, text[-3000:]
assert s.stop() == 0, text[-2000:]

got = sorted(json.loads(e["message"])["n"] for e in lines())
assert got == list(range(100)) + list(range(start, end)), got[:5] + got[-5:]
kafka.stop()
print("ok")
