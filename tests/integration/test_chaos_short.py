"""The short chaos round: every scenario of tests/chaos/chaos.py once, with a fixed seed and
a few seconds of faults each (SIGKILL, SIGTERM, sink errors and outages, a full disk,
rotation storms), then the invariants: nothing lost, duplicates within the bound, none
through the _id-deduplicating sink, RSS bounded, no crash, nothing stuck. The soak is
`CHAOS_MINUTES=60 make chaos`; a failing run prints the command that replays it."""
import os
import subprocess
import sys

from harness import PYTHON, ROOT, WORK, log

SEED = os.environ.get("CHAOS_SEED", "20261204")
SECONDS = os.environ.get("CHAOS_SECONDS", "24")
SCENARIOS = os.environ.get("CHAOS_SCENARIOS", "all")
cmd = [PYTHON, os.path.join(ROOT, "tests", "chaos", "chaos.py"), "--seed", SEED, "--duration", SECONDS,
       "--scenario", SCENARIOS, "--quiet"]
env = dict(os.environ, WORK=os.path.join(WORK, "chaos"))
log("running:", " ".join(cmd))
rc = subprocess.call(cmd, env=env, stdout=sys.stdout, stderr=subprocess.STDOUT)
assert rc == 0, "chaos round failed (seed %s): see the replay commands above" % SEED
