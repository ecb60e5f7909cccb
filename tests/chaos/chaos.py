#!/usr/bin/python3
"""chaos.py - seeded, randomized fault runs of real sluice pipelines (docs/CHAOS.md).

Each run starts the real sluice binary ($SLUICE) on one scenario, feeds it, injects faults
at times drawn from the seed, then stops the faults, waits for everything to drain and
checks the invariants: every event delivered at least once, duplicates within the bound the
config implies, none at all through the `_id`-deduplicating sink, RSS within the configured
buffers, no crash (unexpected exit, SIGTERM exit code other than 0, sanitizer report), no
stuck pipeline. Scenarios:
  file      file source (`<dir>/*.log`) -> file sink, rotation storms
  k8s       kubernetes_logs (pods tree) -> file sink, rotation storms, restarts, pod churn
  fwd_otlp  forward (client resending unacked chunks) -> disk buffer -> otlp
  fwd_http  forward -> disk buffer -> http
  cw_es     cloudwatch_logs (backfill + live) -> elasticsearch (`_id` dedupe)

  chaos.py --seed 7 --duration 20                 every scenario once, 20 s of faults each
  chaos.py --scenario file --seed 7 --duration 20 replay one run
  chaos.py --soak --minutes 60                    random seeds until the time is up, a table

Every run prints its seed and, when it fails, the command that replays it."""
import argparse
import collections
import glob
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
if not os.environ.get("WORK"):
    os.environ["WORK"] = tempfile.mkdtemp(prefix="sluice-chaos.")
os.environ.setdefault("ROOT", ROOT)
os.environ.setdefault("SLUICE", os.path.join(ROOT, "build", "sluice"))
sys.path[:0] = [HERE, os.path.join(ROOT, "tests", "integration"), os.path.join(ROOT, "tests", "emulators")]

import harness  # noqa: E402
from harness import Emulator, Sluice, free_port, http_json, wait_until  # noqa: E402
from faults import Disk, Proxy, RssSampler, Schedule  # noqa: E402
from workloads import (FileWriter, ForwardClient, HttpSinkLines, NdjsonFile, OtlpRecords,  # noqa: E402
                       PodWriter)

SLUICE = os.environ["SLUICE"]
WORK = os.environ["WORK"]

# The duplicate bound. One crash (SIGKILL, or a SIGTERM whose deadline cut requests short)
# may deliver again what each sink had delivered and its source had not yet committed to
# disk: the sink's `concurrency` requests in flight, plus IN_FLIGHT_SLACK_BATCHES batches for
# a source batch split over several requests (it commits once all of it is delivered) and for
# commits written up to 20 ms late (docs/ARCHITECTURE.md, "What kill -9 costs": P, below one
# batch at the harness's rates). A batch is the larger of the source's and the sink's.
# CHAOS_SLACK_BATCHES overrides it (e.g. to measure a build that persists positions late).
IN_FLIGHT_SLACK_BATCHES = int(os.environ.get("CHAOS_SLACK_BATCHES", "2"))

# The memory bound: RSS may exceed the RSS at readiness by the configured memory buffers,
# the requests in flight (each body built, compressed and answered: 3 x batch.max_bytes per
# request) and the source's own buffers, plus RSS_SLACK_MB for allocator caches and the
# like (more under AddressSanitizer: its quarantine and redzones).
RSS_SLACK_MB = 48
RSS_SLACK_MB_ASAN = 192

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer", "ERROR: ThreadSanitizer")


def is_asan(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


ASAN = is_asan(SLUICE)


class ChaosSluice(Sluice):
    def start(self, ready_timeout=120):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([harness.SLUICE, "run", "-c", self.config], stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=self.env)
        harness.track(self.proc)
        wait_until(self.ready, ready_timeout, "sluice API to answer", interval=0.1)
        return self


class Scenario:
    """One run: setup, load, the fault schedule, drain, checks. Subclasses give the pipeline
    (config, workload, sink faults, what went in and what came out)."""

    name = None
    FAULTS = {}
    MEAN_GAP = (3.0, 25.0)  # seconds between faults: short round, soak
    sink_batch = 500
    source_batch = 1024
    concurrency = 1
    memory_buffers = 0       # bytes of memory buffers in the config
    source_buffers = 0       # bytes a source may hold by config
    env = None               # extra environment of the sluice process

    def __init__(self, seed, duration, soak, quiet=False, only=None):
        self.seed, self.duration, self.soak, self.silent = seed, duration, soak, quiet
        self.only = only
        if only:
            self.FAULTS = {k: w for k, w in self.FAULTS.items() if k in only}
        self.tag = "%s-%d" % (self.name, seed)
        self.dir = os.path.join(WORK, self.tag)
        os.makedirs(self.dir, exist_ok=True)
        self.rng = random.Random("%s:%d" % (self.name, seed))    # the fault schedule
        self.wrng = random.Random("%s:%d:w" % (self.name, seed))  # the workload
        self.failures = []
        self.fault_counts = collections.Counter()
        self.kills = self.terms = 0
        self.kill_times = []  # monotonic times of SIGKILLs and SIGTERMs
        self.downs = []       # [stopped, started again] monotonic times of each stop
        self.disks = {}
        self.proxy = None
        self.sl = None
        self.down = True
        self.restart_at = None
        self.rss = RssSampler()
        self.t0 = time.monotonic()
        self.timeline = []
        self.storm = threading.Event()
        self.active = {}  # fault kinds on now
        self.start_refusals = 0
        self.stable_at = None
        self.result = {}

    # --- helpers -----------------------------------------------------------------------
    def say(self, text):
        line = "[%s %7.2fs] %s" % (self.tag, time.monotonic() - self.t0, text)
        self.timeline.append(line)
        if not self.silent:
            print(line, flush=True)

    def fail(self, text):
        self.failures.append(text)
        self.say("FAIL: " + text)

    def disk(self, key, size_mb):
        d = Disk(os.path.join(self.dir, key), size_mb)
        self.disks[key] = d
        # without root a full disk is only a file-size limit: say which this run has
        how = ("tmpfs of %d MiB" % size_mb if d.tmpfs
               else "no tmpfs (needs root): RLIMIT_FSIZE stands in for a full disk")
        self.say("disk %s: %s" % (key, how))
        return d.path

    def emulator_log(self):
        """Emulators' stderr (tracebacks of connections the proxy cut) goes to a file."""
        if not hasattr(self, "_emu_log"):
            self._emu_log = open(os.path.join(self.dir, "emulators.log"), "ab")
        return self._emu_log

    def base_config(self):
        return "data_dir: %s\nshutdown_timeout: 5s\napi: { address: \"127.0.0.1:%d\" }\n" % (
            self.disk("data", 256 if not self.soak else 1024), free_port())

    # --- the sluice process ------------------------------------------------------------
    def start_sluice(self):
        try:
            self.sl.start()
        except AssertionError as e:
            if self.sl.proc.poll() is None:
                self.sl.kill9()
                self.fail("sluice did not become ready within 120 s")
            else:
                full = [k for k, d in self.disks.items() if d.full]
                if full:
                    self.start_refusals += 1
                    self.say("sluice refused to start while %s is full (exit %s); retrying" %
                             (",".join(full), self.sl.proc.returncode))
                else:
                    self.fail("sluice exited while starting: %s" % str(e).splitlines()[0])
            self.restart_at = time.monotonic() + 0.5
            return False
        pid = self.sl.proc.pid
        self.rss.watch(pid)
        for d in self.disks.values():
            if d.full and not d.tmpfs:
                d.fill(pid)
        self.down = False
        self.restart_at = None
        if self.downs and self.downs[-1][1] is None:
            self.downs[-1][1] = time.monotonic()
        return True

    def stop_sluice(self, what):
        self.rss.hwm()
        try:
            rc = self.sl.stop(signal.SIGTERM, timeout=90)
        except AssertionError as e:
            self.fail("%s: %s" % (what, e))
            rc = None
        self.down = True
        if rc not in (0, None):
            self.fail("%s: SIGTERM exit code %s" % (what, rc))
        return rc

    def watch(self):
        """Between faults: a process that exited on its own is a crash (it is restarted so
        the run goes on); a start refused earlier is retried; workload errors surface."""
        if not self.down and self.sl.proc.poll() is not None:
            self.fail("sluice exited by itself with status %s" % self.sl.proc.returncode)
            self.down = True
            self.restart_at = time.monotonic()
        if self.down and self.restart_at is not None and time.monotonic() >= self.restart_at:
            self.start_sluice()
        if self.stable_at is not None and time.monotonic() >= self.stable_at:
            self.output().unstable.clear()
            self.stable_at = None
        for w in self.workers():
            if w.error:
                self.fail("workload error: %s" % w.error)
                w.error = None

    def workers(self):
        return []

    # --- faults --------------------------------------------------------------------------
    def apply(self, kind, on, params):
        if on:
            self.fault_counts[kind] += 1
            self.active[kind] = params
        else:
            self.active.pop(kind, None)
        self.say("%s %s %s" % ("+" if on else "-", kind,
                               json.dumps({k: v for k, v in params.items() if k != "seed"}) if on and len(params) > 1 else ""))
        if kind in ("kill9", "down_restart"):
            if on:
                if not self.down:
                    self.rss.hwm()
                    self.sl.kill9()
                    self.kills += 1
                    self.kill_times.append(time.monotonic())
                    self.downs.append([time.monotonic(), None])
                self.down = True
                self.restart_at = None
            else:
                self.start_sluice()
        elif kind == "sigterm":
            if on:
                if not self.down:
                    self.kill_times.append(time.monotonic())
                    self.downs.append([time.monotonic(), None])
                    self.stop_sluice("SIGTERM during the run")
                    self.terms += 1
                self.restart_at = None
            else:
                self.start_sluice()
        elif kind.startswith("disk_full_"):
            d = self.disks[kind[len("disk_full_"):]]
            if kind == "disk_full_out":
                # the file sink may write part of a request and take it back: guards wait
                self.output().unstable.set()
                self.stable_at = None if on else time.monotonic() + 2.0
            if on:
                if not d.fill(self.sl.proc.pid):
                    self.say("could not fill %s" % d.path)
            else:
                d.free(self.sl.proc.pid)
        elif kind == "rotation_storm":
            (self.storm.set if on else self.storm.clear)()
        elif kind in ("sink_down", "sink_reset", "sink_timeout"):
            self.proxy.set_mode({"sink_down": "down", "sink_reset": "reset",
                                 "sink_timeout": "blackhole"}[kind] if on else "ok")
        else:
            self.fault(kind, on, params)

    def fault(self, kind, on, params):
        raise NotImplementedError(kind)

    # --- the run -----------------------------------------------------------------------
    def run(self):
        self.say("seed %d, %g s of faults%s, sluice %s%s" % (self.seed, self.duration,
                 " (soak)" if self.soak else "", SLUICE, " (ASan)" if ASAN else ""))
        try:
            self._run()
        except Exception:
            self.fail("harness error:\n" + traceback.format_exc())
        finally:
            self.cleanup()
        return self.report()

    def _run(self):
        self.setup()
        self.sl = ChaosSluice(self.config(), name=self.tag, env=self.env)
        self.say("config:\n" + self.config_text)
        if not self.start_sluice():
            wait_until(lambda: self.start_sluice(), 60, "first start", interval=0.5)
        self.start_load()
        sched = Schedule(self.rng, self.duration, self.FAULTS, self.soak,
                         self.MEAN_GAP[1] if self.soak else self.MEAN_GAP[0])
        actions = []
        for i, (t, kind, dur, params) in enumerate(sched.items):
            actions.append((t, 0, i, True))
            actions.append((t + dur, 1, i, False))
        actions.sort()
        self.t0 = time.monotonic()
        for t, _, i, on in actions:
            while time.monotonic() - self.t0 < t:
                self.watch()
                time.sleep(min(0.05, max(0.0, t - (time.monotonic() - self.t0))))
            _, kind, _, params = sched.items[i]
            self.apply(kind, on, params)
        while time.monotonic() - self.t0 < self.duration:
            self.watch()
            time.sleep(0.05)
        # every fault is off now; the pipeline must drain
        self.say("faults over: %s" % dict(self.fault_counts))
        while self.down:
            self.watch()
            if self.down and self.restart_at is None:
                self.restart_at = time.monotonic()
            time.sleep(0.1)
        self.stop_load()
        self.drain()
        if not self.down:
            self.stop_sluice("final SIGTERM")
        self.check()

    def quiet(self):
        """Nothing in flight: no uncommitted batch, no buffered or in-flight event."""
        try:
            comps = self.sl.status()["components"]
        except (OSError, ValueError):
            return False
        for c in comps:
            if c.get("pending_acks", 0) or c.get("buffer", {}).get("events", 0) or c.get("inflight", 0):
                return False
        return True

    def drain(self):
        """Waits for everything to arrive. Gives up early when sluice has been quiet (nothing
        pending anywhere) with no new output for QUIET_GIVE_UP s: what is missing then is
        lost, not late. The long timeout is the stuck-pipeline safety net."""
        timeout = 900 if self.soak else 240
        give_up = 60 if self.soak else 20
        t = time.monotonic()
        last = [None, time.monotonic()]

        def done():
            self.watch()
            if self.all_delivered():
                return True
            n = self.output_size()
            if n != last[0] or self.down or not self.quiet():
                last[:] = [n, time.monotonic()]
            elif time.monotonic() - last[1] > give_up:
                raise StopIteration
            return False
        try:
            wait_until(done, timeout, "every event delivered", interval=0.5)
        except StopIteration:
            self.say("quiet for %d s with events missing: giving up on them" % give_up)
            return
        except AssertionError:
            self.fail("stuck: not everything delivered %d s after the faults stopped; status: %s" %
                      (timeout, self.status_summary()))
            return
        self.say("drained in %.1f s" % (time.monotonic() - t))

        def settled():
            self.watch()
            return self.quiet()
        try:
            wait_until(settled, 120, "acks committed and buffers empty", interval=0.2)
        except AssertionError:
            self.fail("stuck: acks or buffers not settled after everything was delivered; status: %s" %
                      self.status_summary())

    def output_size(self):
        out = self.output()
        out.refresh()
        return out.lines

    def status_summary(self):
        try:
            out = []
            for c in self.sl.status()["components"]:
                out.append("%s state=%s pending_acks=%s buffer=%s inflight=%s circuit=%s" % (
                    c["id"], c.get("state"), c.get("pending_acks"), c.get("buffer", {}).get("events"),
                    c.get("inflight"), c.get("circuit")))
            return "; ".join(out)
        except Exception as e:
            return "(status unavailable: %s)" % e

    def cleanup(self):
        for w in self.workers():
            if hasattr(w, "stop"):
                w.stop.set()
            if hasattr(w, "abort"):
                w.abort.set()
        if self.sl is not None and self.sl.proc is not None and self.sl.proc.poll() is None:
            self.rss.hwm()
            self.sl.kill9()
        self.rss.close()
        if self.proxy:
            self.proxy.close()
        for e in getattr(self, "emulators", []):
            e.stop()
        for d in self.disks.values():
            d.free()
            if self.failures and d.tmpfs:
                import shutil
                shutil.copytree(d.path, d.path + ".saved", dirs_exist_ok=True)  # for the post-mortem
            d.unmount()

    # --- checks ------------------------------------------------------------------------
    def dup_bound(self):
        per_kill = (self.concurrency + IN_FLIGHT_SLACK_BATCHES) * max(self.sink_batch, self.source_batch)
        extra = 0
        if self.proxy:
            extra += self.proxy.cut_busy * self.sink_batch
        return (self.kills + self.terms) * per_kill + extra + self.extra_dups()

    def extra_dups(self):
        return 0

    def rss_bound_kb(self):
        slack = RSS_SLACK_MB_ASAN if ASAN else RSS_SLACK_MB
        req = self.concurrency * 3 * (1 << 20)
        ready = max(self.rss.ready_kb or [0])
        return ready + (self.memory_buffers + req + self.source_buffers) // 1024 + slack * 1024

    def check(self):
        ins = self.events_in()
        out = self.output()
        out.final()
        missing = out.missing(ins)
        want = set(ins)
        unexpected = [m for m in out.counts if m not in want]
        dups = out.duplicates()
        bound = self.dup_bound()
        kills = self.kills + self.terms
        if len(want) != len(ins):
            self.fail("harness: the workload wrote a message twice")
        if missing:
            self.fail("lost %d of %d events: %s" % (len(missing), len(ins), self.explain_loss(missing)))
        if unexpected:
            self.fail("%d events delivered that were never written, e.g. %r" % (len(unexpected), unexpected[:3]))
        if out.bad:
            self.fail("%d output lines that do not parse, e.g. %r" % (len(out.bad), out.bad[:3]))
        if out.id_conflicts:
            self.fail("one event id on different messages: %r" % (out.id_conflicts[:3],))
        if self.zero_dups and dups:
            self.fail("%d duplicates through a sink that deduplicates by _id" % dups)
        elif dups > bound:
            self.fail("%d duplicates, bound %d (%d kills/SIGTERMs)" % (dups, bound, kills))
        self.extra_checks()
        peak = self.rss.peak_kb
        if peak > self.rss_bound_kb():
            self.fail("peak RSS %.1f MiB above the bound %.1f MiB" % (peak / 1024, self.rss_bound_kb() / 1024))
        text = self.sl.log_text() if self.sl else ""
        for mark in SANITIZER_MARKS:
            if mark in text:
                i = text.index(mark)
                self.fail("sanitizer report in the log:\n" + text[max(0, i - 200):i + 3000])
                break
        dlq = glob.glob(os.path.join(self.dir, "data", "dlq", "*.ndjson"))
        if any(os.path.getsize(p) for p in dlq):
            self.fail("events in the dead-letter queue: %s" % dlq)
        self.result.update(events_in=len(ins), delivered=out.lines, lost=len(missing),
                           duplicates=dups, dup_bound=bound)

    def extra_checks(self):
        pass

    zero_dups = False

    def explain_loss(self, missing):
        return "e.g. %r" % missing[:5]

    def report(self):
        kills = self.kills + self.terms
        r = dict(scenario=self.name, seed=self.seed, duration=self.duration, soak=self.soak,
                 faults=dict(self.fault_counts), events_in=0, delivered=0, lost=0, duplicates=0,
                 dup_bound=0, peak_rss_mb=round(self.rss.peak_kb / 1024, 1),
                 rss_bound_mb=round(self.rss_bound_kb() / 1024, 1), failures=self.failures,
                 start_refusals=self.start_refusals)
        r.update(self.result)
        r["dups_per_kill"] = round(r["duplicates"] / kills, 1) if kills else 0
        asan = "ASAN_OPTIONS=%s " % os.environ["ASAN_OPTIONS"] if os.environ.get("ASAN_OPTIONS") else ""
        r["replay"] = "%sSLUICE=%s /usr/bin/python3 %s --scenario %s --seed %d --duration %g%s" % (
            asan, SLUICE, os.path.relpath(os.path.abspath(__file__), ROOT), self.name, self.seed,
            self.duration, " --soak" if self.soak else "") + (
            " --faults %s" % ",".join(self.only) if self.only else "")
        r["ok"] = not self.failures
        r["log"] = self.sl.log_path if self.sl else ""
        return r


class FileScenario(Scenario):
    name = "file"
    FAULTS = {"kill9": 4, "down_restart": 1, "sigterm": 2, "disk_full_data": 1.5,
              "disk_full_out": 1.5, "rotation_storm": 2}
    memory_buffers = 4 << 20
    source_buffers = 2 * (256 << 10) + (1 << 20)  # read budget per file, one batch

    def setup(self):
        self.logs = os.path.join(self.dir, "logs")
        os.makedirs(self.logs)
        outdir = self.disk("out", 512 if not self.soak else 2048)
        self.out = NdjsonFile(os.path.join(outdir, "out.ndjson"), id_key="_id")
        self.rate = 3000 if not self.soak else 1200

    def config(self):
        self.config_text = self.base_config() + """sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  out:
    type: file
    inputs: [in]
    path: "%s"
    id_key: _id
    batch: { max_events: %d, timeout_ms: 100 }
    buffer: { type: memory, max_bytes: 4MiB }
    retry: { initial_ms: 50, max_ms: 1000 }
    circuit_breaker: { failures: 5, open_ms: 2000 }
""" % (self.logs, self.out.path, self.sink_batch)
        return self.config_text

    def start_load(self):
        self.writer = FileWriter(self.logs, self.wrng, self.rate, self.out, self.storm)
        self.writer.start()

    def workers(self):
        return [w for w in (getattr(self, "writer", None),) if w]

    def stop_load(self):
        self.writer.stop.set()
        self.writer.join()
        self.say("writer: %d lines, rotations %s, %d rotated files deleted once delivered" % (
            self.writer.n, dict((k, v) for k, v in self.writer.rotations.items() if not k.endswith("_gen")),
            self.writer.deleted))

    def all_delivered(self):
        return not self.out.missing(self.writer.lines())

    def events_in(self):
        return self.writer.lines()

    def output(self):
        return self.out

    def explain_loss(self, missing):
        index = {l: i for i, l in enumerate(self.writer.lines())}
        by_gen = collections.OrderedDict()
        for m in sorted(missing, key=lambda l: index[l]):
            by_gen.setdefault(self.writer.generation(index[m]), []).append(m)
        parts = []
        for g, ls in by_gen.items():
            name, kind, when = self.writer.where.get(g, ("(still the live file)", "-", None))
            at = " at %.2fs" % (when - self.t0) if when else ""
            during = [d for d in self.downs if when and d[0] <= when <= (d[1] or when)]
            after = [k for k in self.kill_times if when and k >= when]
            if during:
                at += " (while sluice was down, stopped at %.2fs)" % (during[0][0] - self.t0)
            elif after:
                at += " (%.2f s before a kill/SIGTERM)" % (after[0] - when)
            parts.append("%d lines of %s, rotated by %s%s as %s: %s .. %s" % (
                len(ls), g, kind, at, name, ls[0][:24], ls[-1][:24]))
        return "; ".join(parts)


class K8sScenario(FileScenario):
    name = "k8s"
    FAULTS = {"kill9": 4, "down_restart": 1, "sigterm": 2, "disk_full_data": 1.5,
              "disk_full_out": 1.5, "rotation_storm": 2}

    def setup(self):
        self.pods = os.path.join(self.dir, "pods")
        os.makedirs(self.pods)
        outdir = self.disk("out", 512 if not self.soak else 2048)
        self.out = NdjsonFile(os.path.join(outdir, "out.ndjson"), id_key="_id")
        self.rate = 1500 if not self.soak else 600
        self.source_buffers = 16 * (256 << 10) + (1 << 20)

    def config(self):
        self.config_text = self.base_config() + """sources:
  pods: { type: kubernetes_logs, path: "%s", exclude_self: false }
sinks:
  out:
    type: file
    inputs: [pods]
    path: "%s"
    id_key: _id
    batch: { max_events: %d, timeout_ms: 100 }
    buffer: { type: memory, max_bytes: 4MiB }
    retry: { initial_ms: 50, max_ms: 1000 }
    circuit_breaker: { failures: 5, open_ms: 2000 }
""" % (self.pods, self.out.path, self.sink_batch)
        return self.config_text

    def start_load(self):
        self.writer = PodWriter(self.pods, self.seed, self.wrng, self.rate, self.out, self.storm)
        self.writer.start()

    def stop_load(self):
        self.writer.stop.set()
        self.writer.join()
        k = self.writer.k
        self.say("kubelet: %d messages, %d rotations, %d restarts, %d pods, %d deleted" % (
            k.events, k.rotations, k.restarts, len(k.pods), self.writer.deleted_pods))

    def all_delivered(self):
        return not self.out.missing(self.writer.messages())

    def events_in(self):
        return self.writer.messages()

    def explain_loss(self, missing):
        return "; ".join("%r in %s" % (m[:60], self.writer.file_of(m)) for m in missing[:5])


class ForwardScenario(Scenario):
    """forward -> disk buffer -> otlp or http, the sink behind the fault proxy."""
    FAULTS = {"kill9": 3, "down_restart": 1, "sigterm": 2, "sink_500": 1, "sink_429": 1,
              "sink_down": 1.5, "sink_reset": 1, "sink_timeout": 1, "sink_slow": 1.5,
              "disk_full_data": 1.5}
    concurrency = 2
    source_batch = 0  # the forward source commits at the disk buffer write: its side is the client's resends
    sink_kind = None

    def setup(self):
        if self.sink_kind == "otlp":
            self.emu = Emulator("otlp_receiver.py", stderr=self.emulator_log())
            self.out = OtlpRecords("http://127.0.0.1:%d" % self.emu.port)
        else:
            self.emu = Emulator("http_sink_server.py", stderr=self.emulator_log())
            self.out = HttpSinkLines("http://127.0.0.1:%d" % self.emu.port)
        self.emulators = [self.emu]
        self.proxy = Proxy(self.emu.port)
        self.fport = free_port()
        self.rate = 2000 if not self.soak else 500
        self.source_buffers = 2 * (1 << 20)

    def config(self):
        if self.sink_kind == "otlp":
            sink = 'type: otlp\n    endpoint: "http://127.0.0.1:%d"' % self.proxy.port
        else:
            sink = 'type: http\n    uri: "http://127.0.0.1:%d/ingest"' % self.proxy.port
        self.config_text = self.base_config() + """sources:
  fwd: { type: forward, address: "127.0.0.1:%d", max_message_bytes: 1MiB }
sinks:
  out:
    %s
    inputs: [fwd]
    timeout_ms: 10000
    concurrency: %d
    batch: { max_events: %d, timeout_ms: 100 }
    buffer: { type: disk, max_size: 128MiB }
    retry: { initial_ms: 50, max_ms: 1000 }
    circuit_breaker: { failures: 5, open_ms: 2000 }
""" % (self.fport, sink, self.concurrency, self.sink_batch)
        return self.config_text

    def ctl(self, body):
        path = "/control"
        http_json("http://127.0.0.1:%d%s" % (self.emu.port, path), body)

    def fault(self, kind, on, params):
        if kind == "sink_500":
            # an OTLP client must not retry a 500 (the spec's retryable codes are 429 and
            # 502-504): a collector that is down answers 503 through its proxy
            st = 503 if self.sink_kind == "otlp" else 500
            self.ctl({"fail": 10 ** 9 if on else 0, "status": st})
        elif kind == "sink_429":
            self.ctl({"fail": 10 ** 9 if on else 0, "status": 429, "retry_after": 1})
        elif kind == "sink_slow":
            self.ctl({"delay_ms": params["delay_ms"] if on else 0})
        else:
            raise NotImplementedError(kind)

    def start_load(self):
        self.client = ForwardClient(self.fport, self.wrng, self.rate)
        self.client.start()

    def workers(self):
        return [w for w in (getattr(self, "client", None),) if w]

    def stop_load(self):
        self.client.finish.set()

    def all_delivered(self):
        if not self.client.done():
            return False
        return not self.out.missing(self.client.messages())

    def drain(self):
        super().drain()
        self.client.abort.set()
        self.client.join(timeout=10)
        c = self.client
        self.say("client: %d events, %d resent in %d chunks, %d reconnects, %d ack timeouts" % (
            len(c.generated), c.resent_events, c.resent_chunks, c.reconnects, c.ack_timeouts))

    def extra_dups(self):
        return self.client.resent_events

    def events_in(self):
        return self.client.messages()

    def output(self):
        return self.out


class FwdOtlp(ForwardScenario):
    name = "fwd_otlp"
    sink_kind = "otlp"


class FwdHttp(ForwardScenario):
    name = "fwd_http"
    sink_kind = "http"


class CloudwatchScenario(Scenario):
    """cloudwatch_logs (a day of history backfilled, a live writer with ingestion delays)
    -> elasticsearch behind the fault proxy. The `_id` is the CloudWatch event id, so the
    destination must end up with every event exactly once."""
    name = "cw_es"
    FAULTS = {"kill9": 3, "down_restart": 1, "sigterm": 2, "sink_500": 1, "sink_429": 1,
              "sink_down": 1, "sink_reset": 1, "sink_timeout": 1, "sink_stall": 1, "sink_slow": 1,
              "es_item_429": 1, "es_half_body": 1, "cw_throttle": 1.5, "cw_5xx": 1,
              "disk_full_data": 1}
    zero_dups = True
    concurrency = 2
    memory_buffers = 8 << 20
    GROUPS = ["/aws/lambda/orders", "/ecs/web"]

    def setup(self):
        self.cw = Emulator("cloudwatch_emulator.py", "--page-size", "300", stderr=self.emulator_log())
        self.es = Emulator("es_emulator.py", "--seed", str(self.seed), stderr=self.emulator_log())
        self.emulators = [self.cw, self.es]
        self.cwb = "http://127.0.0.1:%d" % self.cw.port
        self.esb = "http://127.0.0.1:%d" % self.es.port
        self.proxy = Proxy(self.es.port)
        per_hour = 40 if not self.soak else 200
        gen = http_json(self.cwb + "/_emulator/generate", {
            "groups": self.GROUPS, "streams": 4, "days": 1, "per_hour": per_hour,
            "end_ms": int(time.time() * 1000) - 60000, "seed": self.seed})
        self.history = gen["events"]
        self.live_ids = []
        self.creds = os.path.join(self.dir, "credentials")
        with open(self.creds, "w") as f:
            f.write("[cw]\naws_access_key_id = AKIDSLUICETEST\naws_secret_access_key = sluice-test-secret\n")
        self.source_batch = 500

    def config(self):
        self.config_text = self.base_config() + """sources:
  cw:
    type: cloudwatch_logs
    log_groups: %s
    region: us-east-1
    endpoint: "%s"
    credentials_file: "%s"
    profile: cw
    backfill_days: 2
    window_minutes: 120
    poll_interval_secs: 1
    overlap_secs: 5
    max_requests_per_sec: 50
    page_limit: %d
    http_timeout_secs: 5
    backoff_base_ms: 50
    backoff_max_ms: 1000
sinks:
  es:
    type: elasticsearch
    inputs: [cw]
    endpoint: "http://127.0.0.1:%d"
    index: "cwl-{{ cloudwatch.log_group_slug }}"
    timeout_ms: 5000
    concurrency: %d
    batch: { max_events: %d, timeout_ms: 100 }
    retry: { initial_ms: 50, max_ms: 1000 }
    circuit_breaker: { failures: 5, open_ms: 2000 }
""" % (json.dumps(self.GROUPS), self.cwb, self.creds, self.source_batch, self.proxy.port,
            self.concurrency, self.sink_batch)
        env = {k: "" for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")}
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        self.env = env
        return self.config_text

    def fault(self, kind, on, params):
        es = lambda body: http_json(self.esb + "/_emulator/control", body)  # noqa: E731
        cw = lambda body: http_json(self.cwb + "/_emulator/control", body)  # noqa: E731
        if kind == "sink_500":
            es({"fail": 10 ** 9 if on else 0, "status": 500})
        elif kind == "sink_429":
            es({"fail": 10 ** 9 if on else 0, "status": 429})
        elif kind == "sink_stall":
            es({"stall": on})
        elif kind == "sink_slow":
            es({"delay_ms": params["delay_ms"] if on else 0})
        elif kind == "es_item_429":
            es({"item_429": params["fraction"] if on else 0})
        elif kind == "es_half_body":
            es({"reset": 10 ** 9 if on else 0})
        elif kind == "cw_throttle":
            cw({"throttle": 10 ** 9 if on else 0})
        elif kind == "cw_5xx":
            cw({"fail5xx": 10 ** 9 if on else 0})
        else:
            raise NotImplementedError(kind)

    def start_load(self):
        self.stop_writer = threading.Event()
        self.writer_error = None
        rng = self.wrng

        def writer():
            i = 0
            try:
                while not self.stop_writer.is_set():
                    t = int(time.time() * 1000)
                    r = http_json(self.cwb + "/_emulator/put", {
                        "group": self.GROUPS[i % len(self.GROUPS)], "stream": "stream-%03d" % (i % 4),
                        "events": [{"timestamp": t, "message": "live %d %d" % (self.seed, i)}],
                        "ingest_delay_ms": rng.choice([0, 0, 300, 1500])})
                    self.live_ids.extend(r["ids"])
                    i += 1
                    self.stop_writer.wait(0.05)
            except Exception as e:
                self.writer_error = repr(e)
        self.wt = threading.Thread(target=writer, daemon=True)
        self.wt.start()

    def stop_load(self):
        self.stop_writer.set()
        self.wt.join()
        if self.writer_error:
            self.fail("live writer: " + self.writer_error)
        self.say("cloudwatch: %d history events, %d live" % (self.history, len(self.live_ids)))

    def cw_ids(self):
        return [json.loads(l)["id"] for l in harness.get_text(self.cwb + "/_emulator/events").splitlines() if l.strip()]

    def es_stats(self):
        return http_json(self.esb + "/_emulator/stats")

    def output_size(self):
        return self.es_stats()["docs"]

    def all_delivered(self):
        want = self.history + len(self.live_ids)
        ids = self.cw_ids()
        if len(ids) < want:
            return False  # late events not visible yet
        return self.es_stats()["docs"] >= len(ids) and not self.missing_ids(ids)

    def missing_ids(self, ids):
        have = {json.loads(l)["_id"] for l in harness.get_text(self.esb + "/_emulator/docs").splitlines() if l.strip()}
        return [i for i in ids if i not in have]

    def check(self):
        ids = self.cw_ids()
        docs = [json.loads(l) for l in harness.get_text(self.esb + "/_emulator/docs").splitlines() if l.strip()]
        have = collections.Counter(d["_id"] for d in docs)
        want = set(ids)
        missing = [i for i in ids if i not in have]
        extra = [i for i in have if i not in want]
        by_content = collections.Counter((d["_source"].get("cloudwatch", {}).get("log_group"),
                                          d["_source"].get("cloudwatch", {}).get("log_stream"),
                                          d["_source"].get("message")) for d in docs)
        dups = sum(c - 1 for c in have.values()) + sum(c - 1 for c in by_content.values())
        if missing:
            self.fail("lost %d of %d events, e.g. %s" % (len(missing), len(ids), missing[:3]))
        if extra:
            self.fail("%d documents whose _id is no CloudWatch event, e.g. %s" % (len(extra), extra[:3]))
        if dups:
            self.fail("%d duplicate documents (same content twice) through the _id-deduplicating sink" % dups)
        peak = self.rss.peak_kb
        if peak > self.rss_bound_kb():
            self.fail("peak RSS %.1f MiB above the bound %.1f MiB" % (peak / 1024, self.rss_bound_kb() / 1024))
        text = self.sl.log_text()
        for mark in SANITIZER_MARKS:
            if mark in text:
                i = text.index(mark)
                self.fail("sanitizer report in the log:\n" + text[max(0, i - 200):i + 3000])
                break
        attempts = self.es_stats()
        resent = attempts.get("conflicts", 0)
        self.say("elasticsearch: %d docs, %d resends folded by _id (409)" % (len(docs), resent))
        self.result.update(events_in=len(ids), delivered=len(docs) + resent, lost=len(missing),
                           duplicates=dups, dup_bound=0, resends_folded=resent)


SCENARIOS = {c.name: c for c in (FileScenario, K8sScenario, FwdOtlp, FwdHttp, CloudwatchScenario)}


def table(results):
    cols = ["scenario", "seed", "secs", "faults", "in", "delivered", "lost", "dups/bound", "dups/kill",
            "RSS MiB", "result"]
    rows = []
    for r in results:
        f = " ".join("%s:%d" % kv for kv in sorted(r["faults"].items()))
        rows.append([r["scenario"], str(r["seed"]), "%g" % r["duration"], f, str(r["events_in"]),
                     str(r["delivered"]), str(r["lost"]), "%d/%d" % (r["duplicates"], r["dup_bound"]), str(r["dups_per_kill"]),
                     "%.1f/%.0f" % (r["peak_rss_mb"], r["rss_bound_mb"]), "ok" if r["ok"] else "FAIL"])
    w = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c) for i, c in enumerate(cols)]
    out = ["  ".join(c.ljust(w[i]) for i, c in enumerate(cols))]
    for row in rows:
        out.append("  ".join(v.ljust(w[i]) for i, v in enumerate(row)))
    return "\n".join(out)


def run_one(cls, seed, duration, soak, quiet=False, only=None):
    sc = cls(seed, duration, soak, quiet=quiet, only=only)
    r = sc.run()
    if r["ok"]:
        print("[%s] ok: %d in, %d delivered, %d duplicates (bound %d), peak RSS %.1f MiB" % (
            sc.tag, r["events_in"], r["delivered"], r["duplicates"], r["dup_bound"], r["peak_rss_mb"]), flush=True)
        import shutil
        shutil.rmtree(sc.dir, ignore_errors=True)
    else:
        if quiet:
            print("\n".join(sc.timeline[-60:]))
        print("[%s] FAILED (seed %d):\n  %s\n  sluice log: %s\n  replay: %s" % (
            sc.tag, seed, "\n  ".join(r["failures"]), r["log"], r["replay"]), flush=True)
    return r


def main():
    ap = argparse.ArgumentParser(description="seeded chaos runs of sluice pipelines")
    ap.add_argument("--scenario", default="all", help="comma-separated: %s, or all" % ",".join(SCENARIOS))
    ap.add_argument("--seed", type=int, help="seed of the runs (default: random)")
    ap.add_argument("--duration", type=float, default=20, help="seconds of faults per run")
    ap.add_argument("--soak", action="store_true", help="long outages (up to minutes), lower rates")
    ap.add_argument("--minutes", type=float, default=0,
                    help="keep running random seeds and scenarios until this many minutes are used (soak)")
    ap.add_argument("--quiet", action="store_true", help="print the timeline of failed runs only")
    ap.add_argument("--faults", help="comma-separated fault kinds: inject only these (where a scenario has them)")
    a = ap.parse_args()
    names = list(SCENARIOS) if a.scenario == "all" else a.scenario.split(",")
    for n in names:
        if n not in SCENARIOS:
            ap.error("unknown scenario %s" % n)
    only = a.faults.split(",") if a.faults else None
    if only and not all(k in Schedule.CLASS for k in only):
        ap.error("unknown fault kind in %s (kinds: %s)" % (a.faults, ",".join(Schedule.CLASS)))
    if not os.access(SLUICE, os.X_OK):
        ap.error("no sluice binary at %s (set SLUICE)" % SLUICE)

    def on_term(signum, frame):
        raise SystemExit("chaos: stopped by signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    results = []
    print("chaos: work directory %s" % WORK, flush=True)
    if a.minutes:
        end = time.monotonic() + a.minutes * 60
        seeds = random.Random(a.seed if a.seed is not None else int.from_bytes(os.urandom(4), "big"))
        i = 0
        while True:
            left = end - time.monotonic()
            if left < (180 if a.soak else a.duration + 60):
                break
            dur = min(seeds.uniform(120, 480), left - 120) if a.soak else a.duration
            seed = seeds.randrange(1, 1 << 31)
            name = names[i % len(names)]
            i += 1
            results.append(run_one(SCENARIOS[name], seed, round(dur), a.soak, a.quiet, only))
            print(table(results), flush=True)
    else:
        seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1, 1 << 31)
        for n in names:
            results.append(run_one(SCENARIOS[n], seed, a.duration, a.soak, a.quiet, only))
    print("\n" + table(results), flush=True)
    failed = [r for r in results if not r["ok"]]
    for r in failed:
        print("FAILED %s seed %d: %s\n  replay: %s" % (r["scenario"], r["seed"], r["failures"][0].splitlines()[0],
                                                       r["replay"]))
    print("chaos: %d of %d runs passed" % (len(results) - len(failed), len(results)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
