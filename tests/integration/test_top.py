"""`sluice top` in a detached tmux session against a running sluice: the component ids and
a nonzero rate appear on the screen (capture-pane), a resize redraws at the new width, `q`
quits and restores the terminal. Without a terminal it prints one frame and exits; an API
that is not there is an error exit naming the address. The line under the title tells the
last reload: none, a failed one with its time and error, then a good one."""
import os
import re
import subprocess
import urllib.error
import urllib.request

from harness import SLUICE, Sluice, WORK, free_port, wait_until

port = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  gen: { type: demo, rate: 2000 }
transforms:
  tag: { type: add_fields, inputs: [gen], fields: { env: test } }
sinks:
  null: { type: blackhole, inputs: [tag] }
""" % (WORK, port)).start()
sock = os.path.join(WORK, "tmux.sock")
tmux = ["tmux", "-S", sock]


def pane():
    return subprocess.run(tmux + ["capture-pane", "-p", "-t", "top"], capture_output=True,
                          text=True).stdout


def alive():
    return subprocess.run(tmux + ["has-session", "-t", "top"], capture_output=True).returncode == 0


def row_rate(text, cid):
    for l in text.splitlines():
        f = l.split()
        if len(f) > 3 and f[0] == cid:
            try:
                return float(f[3].rstrip("kMG"))
            except ValueError:
                return None
    return None


try:
    # One frame without a terminal (-c gives the API address).
    out = subprocess.run([SLUICE, "top", "-c", s.config, "--interval", "200"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for cid in ("gen", "tag", "null"):
        assert re.search(r"^%s\s" % cid, out.stdout, re.M), out.stdout
    assert "\033" not in out.stdout
    assert out.stdout.splitlines()[1] == "reload: none since start", out.stdout

    def reload_and_frame(text):
        with open(s.config, "w") as f:
            f.write(text)
        try:
            urllib.request.urlopen(urllib.request.Request(
                "http://127.0.0.1:%d/api/v1/reload" % port, data=b"", method="POST"), timeout=60)
        except urllib.error.HTTPError:
            pass  # a refused reload: the status tells
        r = subprocess.run([SLUICE, "top", "--once", "--interval", "100", "--api",
                            "127.0.0.1:%d" % port], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return s.status()["reload"], r.stdout.splitlines()[1]
    good = open(s.config).read()
    rl, got = reload_and_frame(good.replace("type: blackhole", "type: no_such_sink"))
    assert rl["last_result"] == "failed" and "no_such_sink" in rl["last_error"], rl
    assert got == "reload: last %s failed: %s (0 ok, 1 failed)" % (rl["last_time"], rl["last_error"]), got
    rl, got = reload_and_frame(good)
    assert got == "reload: last %s ok (1 ok, 1 failed)" % rl["last_time"], (got, rl)
    bad = subprocess.run([SLUICE, "top", "--once", "--api", "127.0.0.1:%d" % free_port()],
                         capture_output=True, text=True, timeout=60)
    # an API that does not answer: an error on stderr, nothing a script would read as a frame
    assert bad.returncode == 1 and bad.stdout == "" and "cannot connect" in bad.stderr, bad

    # Live, in a terminal; the shell around it writes its exit status to rc_path.
    rc_path = os.path.join(WORK, "top.rc")
    subprocess.run(tmux + ["-f", "/dev/null", "new-session", "-d", "-s", "top", "-x", "150", "-y", "30",
                           "%s top --api 127.0.0.1:%d --interval 300 2>%s; echo $? >%s"
                           % (SLUICE, port, os.path.join(WORK, "top.err"), rc_path)], check=True)
    wait_until(lambda: all(row_rate(pane(), c) for c in ("gen", "tag", "null")), 60,
               "the ids and nonzero rates on the screen")
    assert "q quits" in pane()
    subprocess.run(tmux + ["resize-window", "-t", "top", "-x", "60", "-y", "20"], check=True)
    wait_until(lambda: all(len(l) <= 60 for l in pane().splitlines()) and "null" in pane(), 60,
               "a redraw at the new width")
    subprocess.run(tmux + ["send-keys", "-t", "top", "q"], check=True)

    def exit_status():
        try:
            with open(rc_path) as f:
                v = f.read()
            return v if v.endswith("\n") else None
        except OSError:
            return None
    st = wait_until(exit_status, 60, "top to exit on q")
    assert st == "0\n", (st, open(os.path.join(WORK, "top.err")).read())
finally:
    subprocess.run(tmux + ["kill-server"], capture_output=True)
    assert s.stop() == 0
