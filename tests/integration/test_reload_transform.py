"""Reload changes transforms while the pipeline runs; their sources are not restarted.

1. add_fields under load: a forward client's counted stream over one connection while the
   added field's value changes from "one" to "two". Every event arrives once with one of
   the two values, all "one" before all "two" (one source, one sink worker: output order is
   routing order), and the connection is never dropped.
2. multiline holding an open group (timeout_ms far away): the reload flushes the group
   through the old graph, whole, before the new transform takes over; the next groups go
   through the new one."""
import os

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until
from reload_common import Sender, post_reload, write

N = int(os.environ.get("IT_EVENTS", "40000"))
out = os.path.join(WORK, "out", "out.ndjson")
api, port = free_port(), free_port()


def cfg(stage):
    return """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d" }
transforms:
  tag: { type: add_fields, inputs: [fwd], fields: { stage: "%s" } }
sinks:
  out: { type: file, inputs: [tag], path: "%s", batch: { max_events: 100, timeout_ms: 20 } }
""" % (WORK, api, port, stage, out)


def records(path):
    return ndjson_file(path)  # complete lines: sluice may be writing the last


s = Sluice(cfg("one")).start()
snd = Sender(port, N, chunk=50, window=4)
snd.start()
wait_until(lambda: snd.error or snd.acked >= N // 3, 300, "a third acknowledged")
write(s.config, cfg("two"))
code, body = post_reload(s)
assert code == 200 and body["changed"] == ["tag"], (code, body)
snd.join(600)
assert not snd.error and snd.acked == N, snd.error
wait_until(lambda: len(records(out)) >= N, 120, "every event out")
recs = records(out)
assert sorted(r["message"] for r in recs) == sorted("e%d" % i for i in range(N))
stages = [r["stage"] for r in recs]
k = stages.index("two")
assert 0 < k and all(x == "one" for x in stages[:k]) and all(x == "two" for x in stages[k:]), \
    "stages not one run of 'one' then 'two'"
assert "source stopped for the reload" not in s.log_text()
assert s.stop() == 0
log("add_fields: %d events, %d before the change" % (N, k))

# ---- 2. multiline keeps an open group across the reload ------------------------------------
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
out2 = os.path.join(WORK, "out2", "out.ndjson")
api2 = free_port()


def cfg2(max_lines):
    return """
data_dir: %s/data2
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"], read_from: head }
transforms:
  ml: { type: multiline, inputs: [in], mode: custom, start_pattern: "^START", timeout_ms: 600000,
        max_lines: %d }
sinks:
  out: { type: file, inputs: [ml], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api2, logs, max_lines, out2)


def messages2():
    return [r["message"] for r in records(out2)]


app = os.path.join(logs, "app.log")
with open(app, "w") as f:
    f.write("START 1\n a\nSTART 2\n b\n c\n")
s2 = Sluice(cfg2(100), name="ml").start()
wait_until(lambda: messages2() == ["START 1\n a"], 60, "group 1 out (group 2 stays open)")
wait_until(lambda: s2.component("in")["pending_acks"] > 0, 60, "group 2 holds its batch's ack")
write(s2.config, cfg2(50))
code, body = post_reload(s2)
assert code == 200 and body["changed"] == ["ml"], (code, body)
wait_until(lambda: len(messages2()) >= 2, 60, "the open group flushed by the reload")
assert messages2() == ["START 1\n a", "START 2\n b\n c"], messages2()
with open(app, "a") as f:
    f.write("START 3\n d\nSTART 4\n")
wait_until(lambda: len(messages2()) >= 3, 60, "group 3 through the new transform")
assert messages2() == ["START 1\n a", "START 2\n b\n c", "START 3\n d"], messages2()
assert "source stopped for the reload" not in s2.log_text()
assert s2.stop() == 0
log("ok: transforms changed without restarting their sources; open group flushed whole")
