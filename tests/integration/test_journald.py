"""journald source against journal files written by systemd-journal-remote from Journal Export
Format, with systemd's own reader (journalctl --directory -o json) as the reference for what the
files hold. Checks, in order:

 1. every entry delivered as journalctl shows it (message bytes, binary MESSAGE, fields, time
    from _SOURCE_REALTIME_TIMESTAMP else the entry's, severity from PRIORITY); `units` (with
    .service added), `matches` (a list OR'ed, fields AND'ed) and keep_trusted_fields: false
    deliver exactly what journalctl gives for the same matches;
 2. read_from: tail delivers only entries written after the start, all of them when the
    journal (or what the filters match of it) was empty at the start; a clean restart resumes
    after the checkpointed cursor (no duplicates), with entries appended to a journal file
    and in a new file of the directory;
 3. a checkpointed cursor that is no longer in the journal (files vacuumed): warned, counted
    (cursor_not_found), read from the head;
 4. a corrupt journal file in the directory: warned and counted, the others (in a
    <machine-id> subdirectory) read;
 5. kill -9 while a writer appends entries: after a restart every entry is delivered, nothing
    at or before the checkpointed cursor again, duplicates only from the entries delivered
    past it before the kill;
 6. backpressure: while the sink fails, the bounded buffer fills, the source stops reading
    (well short of the journal) and commits no cursor; once the sink recovers every entry
    arrives exactly once and the cursor reaches the last entry."""
import json
import os
import struct
import subprocess
import threading

from harness import (Emulator, Sluice, WORK, free_port, get_ndjson, http_json, log, ndjson_file,
                     wait_until)

REMOTE = "/lib/systemd/systemd-journal-remote"
BOOT = "0123456789abcdef0123456789abcdef"
_clock = [1700000000000000]


def entry(message, **fields):
    """One entry of Journal Export Format; message may be bytes (written as a binary field)."""
    _clock[0] += 1000
    out = b"__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n" % (
        _clock[0], _clock[0] - 1700000000000000 + 1000, BOOT.encode())
    items = [("MESSAGE", message)] + list(fields.items())
    for k, v in items:
        v = v if isinstance(v, bytes) else str(v).encode()
        if b"\n" in v or any(c < 32 and c != 9 for c in v) or k == "MESSAGE" and isinstance(message, bytes):
            out += k.encode() + b"\n" + struct.pack("<Q", len(v)) + v + b"\n"
        else:
            out += k.encode() + b"=" + v + b"\n"
    return out + b"\n"


def write_journal(path, entries):
    """Appends entries to the journal file at path (created when missing)."""
    r = subprocess.run([REMOTE, "--output=" + path, "-"], input=b"".join(entries),
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr


def journalctl(directory, *matches):
    r = subprocess.run(["journalctl", "--directory=" + directory, "-o", "json", "--all", "--no-pager"]
                       + list(matches), capture_output=True, timeout=120)
    assert r.returncode in (0, 1), r.stderr  # 1: no entries
    return [json.loads(l) for l in r.stdout.decode().splitlines() if l.strip()]


def as_text(v):
    """A journalctl JSON value as the file sink writes it (bytes as UTF-8, bad bytes U+FFFD)."""
    if isinstance(v, list):
        return bytes(v).decode("utf-8", "replace")
    return v


def events(path):
    """The NDJSON events of a file sink, complete lines only: while sluice runs, its last
    line may be half written, and after kill -9 it may be cut."""
    return ndjson_file(path)


def iso(usec):
    import datetime
    t = datetime.datetime.fromtimestamp(int(usec) // 1000000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % (int(usec) % 1000000 * 1000)


def same(ev, je, keep_trusted=True):
    """An event equals journalctl's entry: message, time, severity, every field."""
    assert ev["message"] == as_text(je["MESSAGE"]), (ev, je)
    assert ev["timestamp"] == iso(je.get("_SOURCE_REALTIME_TIMESTAMP", je["__REALTIME_TIMESTAMP"])), (ev, je)
    sev = {"0": "emerg", "1": "alert", "2": "crit", "3": "err", "4": "warning", "5": "notice",
           "6": "info", "7": "debug"}
    assert ev.get("severity") == sev.get(je.get("PRIORITY")), (ev, je)
    want = {k: as_text(v) for k, v in je.items()
            if not k.startswith("__") and k != "MESSAGE" and (keep_trusted or not k.startswith("_"))}
    got = {k: v for k, v in ev.items() if k not in ("message", "timestamp", "severity")}
    assert got == want, (got, want)


def config(name, sources, api, data=None):
    text = "data_dir: %s/%s-data\napi: { address: \"127.0.0.1:%d\" }\nsources:\n" % (WORK, data or name, api)
    for sid, opts in sources.items():
        text += "  %s: { type: journald, %s }\n" % (sid, opts)
    text += "sinks:\n"
    for sid in sources:
        text += "  o_%s: { type: file, inputs: [%s], path: \"%s/%s-%s.ndjson\", batch: { timeout_ms: 20 } }\n" % (
            sid, sid, WORK, name, sid)
    return Sluice(text, name=name)


def out(name, sid):
    return os.path.join(WORK, "%s-%s.ndjson" % (name, sid))


def errors(s, sid, reason):
    return s.counter("sluice_component_errors_total", component_id=sid, reason=reason)


def committed(s, sid):
    return s.component(sid).get("cursor_seq", 0)


# ---- 1. Fields, binary MESSAGE, filters --------------------------------------------------
d1 = os.path.join(WORK, "j1")
os.makedirs(d1)
es = []
for i in range(30):
    unit = ["a.service", "b.service", "c.timer"][i % 3]
    es.append(entry("m%d unit %s" % (i, unit), _SYSTEMD_UNIT=unit, PRIORITY=i % 8,
                    SYSLOG_IDENTIFIER="app%d" % (i % 3), _PID=100 + i, _HOSTNAME="h1"))
es.append(entry(b"bin\x00ary\nline two\t\x01 caf\xc3\xa9", _SYSTEMD_UNIT="a.service", PRIORITY=6))
es.append(entry(b"bad byte \xff here", _SYSTEMD_UNIT="b.service", PRIORITY=3))
es.append(entry("with source time", _SYSTEMD_UNIT="b.service", _SOURCE_REALTIME_TIMESTAMP=1600000000123456))
es.append(entry("no priority", CUSTOM_FIELD="x=y=z", BINFIELD=b"a\nb"))
# What `journalctl -u a.service` shows beside the unit's own lines: systemd's (PID 1) about
# it, its core dump, a root daemon's naming it; not another process's UNIT= field.
es.append(entry("a.service: Main process exited, code=exited, status=1/FAILURE", _PID=1, _UID=0,
                UNIT="a.service", SYSLOG_IDENTIFIER="systemd", PRIORITY=5))
es.append(entry("Process 4242 (a) dumped core.", _PID=77, _UID=0, COREDUMP_UNIT="a.service",
                MESSAGE_ID="fc2e22bc6ee647b6b90729ab34a250b1", PRIORITY=2))
es.append(entry("timer c.timer changed", _PID=88, _UID=0, OBJECT_SYSTEMD_UNIT="c.timer"))
es.append(entry("not about it", _PID=99, _UID=1000, UNIT="a.service"))
write_journal(os.path.join(d1, "one.journal"), es[:20])
write_journal(os.path.join(d1, "two.journal"), es[20:])
ref = journalctl(d1)
assert len(ref) == len(es), len(ref)
assert isinstance(ref[30]["MESSAGE"], list), ref[30]  # journalctl holds it as binary

api = free_port()
s = config("f", {
    "all": "directory: \"%s\"" % d1,
    "units": "directory: \"%s\", units: [a, \"c.timer\"]" % d1,
    "both": "directory: \"%s\", units: [a], matches: { PRIORITY: [\"5\"] }" % d1,
    "matches": "directory: \"%s\", matches: { _SYSTEMD_UNIT: b.service, PRIORITY: [\"3\", \"4\"] }" % d1,
    "untrusted": "directory: \"%s\", keep_trusted_fields: false" % d1,
}, api).start()
ref_units = journalctl(d1, "-u", "a.service", "-u", "c.timer")
assert sum("FAILURE" in str(e["MESSAGE"]) or "dumped core" in str(e["MESSAGE"]) or
           "changed" in str(e["MESSAGE"]) for e in ref_units) == 3, ref_units[-4:]
ref_matches = journalctl(d1, "_SYSTEMD_UNIT=b.service", "PRIORITY=3", "PRIORITY=4")
ref_both = journalctl(d1, "-u", "a.service", "PRIORITY=5")  # the unit's, AND the match
assert any("FAILURE" in str(e["MESSAGE"]) for e in ref_both) and len(ref_both) >= 2, ref_both
assert 0 < len(ref_matches) < len(ref_units) < len(ref), (len(ref_matches), len(ref_units))
for sid, want in (("all", ref), ("units", ref_units), ("both", ref_both), ("matches", ref_matches),
                  ("untrusted", ref)):
    wait_until(lambda: len(events(out("f", sid))) >= len(want), 60, "%s: %d events" % (sid, len(want)))
    wait_until(lambda: s.component(sid).get("cursor") == want[-1]["__CURSOR"], 60, sid + " cursor committed")
for sid, want in (("all", ref), ("units", ref_units), ("both", ref_both), ("matches", ref_matches),
                  ("untrusted", ref)):
    got = events(out("f", sid))
    assert len(got) == len(want), (sid, len(got), len(want))
    for ev, je in zip(got, want):
        same(ev, je, keep_trusted=(sid != "untrusted"))
    assert s.component(sid)["journal_files"] == 2
assert events(out("f", "all"))[30]["message"] == "bin\x00ary\nline two\t\x01 caf\u00e9"
assert events(out("f", "all"))[31]["message"] == "bad byte \ufffd here"
assert s.counter("sluice_component_received_events_total", component_id="all") == len(ref)
assert s.stop() == 0
log("1. fields and filters: %d entries, units %d, matches %d" % (len(ref), len(ref_units), len(ref_matches)))

# ---- 2. read_from: tail, appends, a new file, clean restarts -------------------------------
d2 = os.path.join(WORK, "j2")
os.makedirs(d2)
write_journal(os.path.join(d2, "a.journal"), [entry("old %d" % i) for i in range(5)])
api = free_port()
s = config("t", {"j": "directory: \"%s\", read_from: tail" % d2}, api).start()
old_last = journalctl(d2)[-1]["__CURSOR"]
wait_until(lambda: s.component("j").get("cursor") == old_last, 60, "tail position checkpointed")
write_journal(os.path.join(d2, "a.journal"), [entry("new %d" % i) for i in range(3)])
wait_until(lambda: len(events(out("t", "j"))) >= 3, 60, "3 new entries")
wait_until(lambda: s.component("j").get("cursor") == journalctl(d2)[-1]["__CURSOR"], 60, "committed")
assert s.stop() == 0
assert [e["message"] for e in events(out("t", "j"))] == ["new 0", "new 1", "new 2"]
# while stopped: 2 more in the same file, 2 in a new file; a restart resumes after the cursor
write_journal(os.path.join(d2, "a.journal"), [entry("later %d" % i) for i in range(2)])
write_journal(os.path.join(d2, "b.journal"), [entry("other %d" % i) for i in range(2)])
s.start()
wait_until(lambda: len(events(out("t", "j"))) >= 7, 60, "4 entries written while stopped")
# and one more file while running (sd-journal watches the directory)
write_journal(os.path.join(d2, "c.journal"), [entry("running %d" % i) for i in range(2)])
wait_until(lambda: len(events(out("t", "j"))) >= 9, 60, "a new file while running")
wait_until(lambda: s.component("j").get("cursor") == journalctl(d2)[-1]["__CURSOR"], 60, "committed")
assert s.stop() == 0
got = [e["message"] for e in events(out("t", "j"))]
want = [as_text(je["MESSAGE"]) for je in journalctl(d2)][5:]
assert got == want, (got, want)
s.start()  # nothing new but a marker: a restart delivers nothing again before it
write_journal(os.path.join(d2, "c.journal"), [entry("marker")])
want.append("marker")
wait_until(lambda: len(events(out("t", "j"))) >= len(want), 60, "the marker")
wait_until(lambda: s.component("j").get("cursor") == journalctl(d2)[-1]["__CURSOR"], 60, "committed")
assert errors(s, "j", "cursor_not_found") == 0
assert s.stop() == 0
assert [e["message"] for e in events(out("t", "j"))] == want
assert "not in the journal" not in s.log_text()
log("2. read_from tail and restarts: %d entries, no duplicates" % len(want))

# read_from: tail with nothing to stand on at the start: every entry that comes is new. A
# directory without a file yet (systemd-journal-remote has received nothing), then a file of
# 3 entries; and units matching no entry yet in a journal of others, then 3 of the unit's
# appended. Every one of them is delivered, not only the last.
d2e = os.path.join(WORK, "j2e")
os.makedirs(d2e)
d2u = os.path.join(WORK, "j2u")
os.makedirs(d2u)
write_journal(os.path.join(d2u, "a.journal"), [entry("other %d" % i, _SYSTEMD_UNIT="other.service")
                                               for i in range(3)])
se = config("te", {"e": "directory: \"%s\", read_from: tail" % d2e,
                  "u": "directory: \"%s\", read_from: tail, units: [app]" % d2u}, free_port()).start()
# each source writes its first checkpoint once it stands where it reads from
wait_until(lambda: all(os.path.exists(os.path.join(WORK, "te-data", "checkpoints", sid + ".ckpt"))
                       for sid in ("e", "u")), 60, "both sources positioned")
assert "no journal files in %s yet" % d2e in se.log_text()
write_journal(os.path.join(d2e, "a.journal"), [entry("first %d" % i) for i in range(3)])
write_journal(os.path.join(d2u, "a.journal"), [entry("app %d" % i, _SYSTEMD_UNIT="app.service")
                                               for i in range(3)])
wait_until(lambda: len(events(out("te", "e"))) >= 3 and len(events(out("te", "u"))) >= 3, 60,
           "every entry written after the start")
assert se.stop() == 0
assert [e["message"] for e in events(out("te", "e"))] == ["first %d" % i for i in range(3)]
assert [e["message"] for e in events(out("te", "u"))] == ["app %d" % i for i in range(3)]
log("2. read_from tail with nothing to stand on at the start: every later entry")

# ---- 3. the cursor's entries vacuumed away ---------------------------------------------------
for f in os.listdir(d2):
    os.unlink(os.path.join(d2, f))
write_journal(os.path.join(d2, "d.journal"), [entry("after vacuum %d" % i) for i in range(4)])
s.start()
wait_until(lambda: len(events(out("t", "j"))) >= len(want) + 4, 60, "entries after the vacuum")
wait_until(lambda: s.component("j").get("cursor") == journalctl(d2)[-1]["__CURSOR"], 60, "committed")
assert errors(s, "j", "cursor_not_found") == 1
assert "not in the journal" in s.log_text()
assert s.stop() == 0
got = [e["message"] for e in events(out("t", "j"))]
assert got == want + ["after vacuum %d" % i for i in range(4)], got
log("3. vacuumed cursor: warned, counted, read from the head")

# ---- 4. a corrupt file among good ones ----------------------------------------------------------
d4 = os.path.join(WORK, "j4")
os.makedirs(d4)
os.makedirs(os.path.join(d4, BOOT))  # a <machine-id> subdirectory, as in /var/log/journal
write_journal(os.path.join(d4, BOOT, "good.journal"), [entry("good %d" % i) for i in range(3)])
with open(os.path.join(d4, "bad.journal"), "wb") as f:
    f.write(b"LPKSHHRH" + os.urandom(4096))
api = free_port()
s = config("c", {"j": "directory: \"%s\"" % d4}, api).start()
wait_until(lambda: len(events(out("c", "j"))) >= 3, 60, "the good file's entries")
wait_until(lambda: errors(s, "j", "corrupt_journal_file") == 1, 60, "the bad file counted")
st = s.component("j")
assert (st["journal_files"], st["bad_journal_files"]) == (1, 1), st
assert s.stop() == 0
assert [e["message"] for e in events(out("c", "j"))] == ["good %d" % i for i in range(3)]
log("4. corrupt file: counted, the good one read")

# ---- 5. kill -9 while entries are appended ----------------------------------------------------
d5 = os.path.join(WORK, "j5")
os.makedirs(d5)
N_FILES, PER = 12, 400
api = free_port()
s = config("k", {"j": "directory: \"%s\", batch_max_events: 50" % d5}, api).start()
werr = []


def writer():
    try:
        k = 0
        for fi in range(N_FILES):
            name = "live.journal" if fi % 2 == 0 else "f%d.journal" % fi
            write_journal(os.path.join(d5, name), [entry("k%06d" % (k + i)) for i in range(PER)])
            k += PER
    except Exception as e:  # reported by the main thread
        werr.append(e)


w = threading.Thread(target=writer)
w.start()
wait_until(lambda: len(events(out("k", "j"))) >= 1500 or not w.is_alive(), 120, "some entries delivered")
writing = w.is_alive()
s.kill9()
before = [e["message"] for e in events(out("k", "j"))]


def ckpt_cursor():
    best = (-1, None)
    ck = os.path.join(WORK, "k-data", "checkpoints")
    for f in ("j.ckpt", "j.ckpt.live"):
        try:
            lines = open(os.path.join(ck, f)).read().splitlines()
        except OSError:
            continue
        gen = int(lines[0].split()[-1])
        cur = [l.split(" ", 2)[2] for l in lines if l.startswith("cursor ")]
        if cur and gen > best[0]:
            best = (gen, cur[0])
    return best[1]


cur = ckpt_cursor()
s = config("k2", {"j": "directory: \"%s\", batch_max_events: 50" % d5}, api, data="k").start()
w.join()
assert not werr, werr
ref = journalctl(d5)
assert len(ref) == N_FILES * PER
wait_until(lambda: s.component("j").get("cursor") == ref[-1]["__CURSOR"], 180, "every entry committed")
assert s.stop() == 0
after = before + [e["message"] for e in events(out("k2", "j"))]
msgs = [je["MESSAGE"] for je in ref]
assert set(after) == set(msgs), "lost: %s" % sorted(set(msgs) - set(after))[:10]
order = {m: i for i, m in enumerate(msgs)}
c_idx = -1
if cur:
    at = [i for i, je in enumerate(ref) if je["__CURSOR"] == cur]
    assert at, cur
    c_idx = at[0]
dups = len(after) - len(set(after))
redelivered = after[len(before):]
first_again = [m for m in redelivered if m in set(before)]
# nothing at or before the committed cursor came again; only entries delivered past it
assert all(order[m] > c_idx for m in first_again), (c_idx, first_again[:5])
assert dups == len(first_again) <= len(before) - (c_idx + 1), (dups, len(before), c_idx)
log("5. kill -9 (writer %s): %d entries, %d delivered before the kill, cursor at #%d, %d duplicates" % (
    "still writing" if writing else "done", len(ref), len(before), c_idx, dups))

# ---- 6. backpressure ----------------------------------------------------------------------------
d6 = os.path.join(WORK, "j6")
os.makedirs(d6)
N = 20000
write_journal(os.path.join(d6, "bp.journal"), [entry("bp%06d %s" % (i, "q" * 120), _SYSTEMD_UNIT="bp.service")
                                               for i in range(N)])
emu = Emulator("http_sink_server.py", "--fail", "100000000", "--fail-status", "503")
api = free_port()
s = Sluice("""
data_dir: %s/bp-data
api: { address: "127.0.0.1:%d" }
sources:
  j: { type: journald, directory: "%s", batch_max_events: 500 }
sinks:
  out:
    type: http
    inputs: [j]
    uri: "http://127.0.0.1:%d/ingest"
    buffer: { type: memory, max_bytes: 256KiB }
    batch: { max_events: 1000, timeout_ms: 50 }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 0 }
""" % (WORK, api, d6, emu.port), name="bp").start()
wait_until(lambda: s.component("out")["retries"] > 0, 60, "the first failed request")
wait_until(lambda: s.component("out")["buffer"]["blocked_pushes"] > 0, 60, "the source blocked")
read = s.counter("sluice_component_received_events_total", component_id="j")
assert read < N // 2, "the source read on while the sink was down: %d of %d" % (read, N)
assert s.component("j")["cursor"] is None, s.component("j")
http_json("http://127.0.0.1:%d/control" % emu.port, {"fail": 0})
ref = journalctl(d6)
wait_until(lambda: s.component("j").get("cursor") == ref[-1]["__CURSOR"], 180, "every entry committed")
st = http_json("http://127.0.0.1:%d/stats" % emu.port)
assert st["lines"] == N, st
assert len({e["message"] for e in get_ndjson("http://127.0.0.1:%d/lines" % emu.port)}) == N
assert s.stop() == 0
emu.stop()
log("6. backpressure: the source paused at %d of %d entries; all %d delivered once" % (read, N, st["lines"]))
log("ok")
