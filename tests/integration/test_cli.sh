#!/usr/bin/env bash
# The command line: --help everywhere, version, usage errors, `checkpoints show|reset`,
# SIGHUP reopening a JSON log file, SIGTERM draining with exit status 0.
set -u
fail() { echo "FAIL: $*"; exit 1; }
for c in "" run validate dlq checkpoints components; do
  "$SLUICE" $c --help >"$WORK/help.txt" 2>&1 || fail "'$c --help' exited non-zero"
  grep -qi usage "$WORK/help.txt" || fail "'$c --help' prints no usage"
done
"$SLUICE" version | grep -Eq '^sluice [0-9]+\.[0-9]+\.[0-9]+' || fail version
"$SLUICE" nonsense >/dev/null 2>&1; [ $? = 2 ] || fail "unknown command must exit 2"
"$SLUICE" validate >/dev/null 2>&1; [ $? = 2 ] || fail "validate without -c must exit 2"
"$SLUICE" validate -c "$WORK/missing.yaml" >"$WORK/err.txt" 2>&1 && fail "missing config validated"
grep -q "missing.yaml" "$WORK/err.txt" || fail "missing config error does not name the file"
"$SLUICE" components file | grep -q include || fail "components file lists no options"

mkdir -p "$WORK/logs"
seq 1 1000 | sed 's/^/line /' >"$WORK/logs/a.log"
cat >"$WORK/c.yaml" <<YAML
data_dir: $WORK/data
shutdown_timeout: 10s
api: { enabled: false }
log: { level: info, format: json, file: "$WORK/sluice.log" }
sources:
  in: { type: file, include: ["$WORK/logs/*.log"] }
sinks:
  out: { type: file, inputs: [in], path: "$WORK/out.ndjson" }
YAML
"$SLUICE" run -c "$WORK/c.yaml" & pid=$!
for _ in $(seq 1 1200); do [ "$(wc -l <"$WORK/out.ndjson" 2>/dev/null || echo 0)" = 1000 ] && break; sleep 0.1; done
[ "$(wc -l <"$WORK/out.ndjson")" = 1000 ] || { kill -9 $pid; fail "not delivered"; }
mv "$WORK/sluice.log" "$WORK/sluice.log.1"
kill -HUP $pid
# wait for the line itself: another thread may write to the new file first
for _ in $(seq 1 600); do grep -q SIGHUP "$WORK/sluice.log" 2>/dev/null && break; sleep 0.1; done
grep -q SIGHUP "$WORK/sluice.log" || { kill -9 $pid; fail "log not reopened on SIGHUP"; }
# a busy checkpoint cannot be reset while the daemon holds it
out=$("$SLUICE" checkpoints reset -c "$WORK/c.yaml" --all 2>&1); rc=$?
[ $rc = 1 ] && [[ "$out" == *"a running sluice holds its lock"* ]] ||
  { kill -9 $pid; fail "reset --all while running: exit $rc: $out"; }
# a second sluice on the same data_dir refuses to start (exit 1, naming the first's pid);
# the first runs on
out=$("$SLUICE" run -c "$WORK/c.yaml" 2>&1); rc=$?
[ $rc = 1 ] || { kill -9 $pid; fail "a second sluice on the same data_dir: exit $rc"; }
[[ "$out" == *"data_dir $WORK/data is in use by another sluice process (pid $pid)"* ]] ||
  { kill -9 $pid; fail "a second sluice on the same data_dir said: $out"; }
kill -0 $pid || fail "the first sluice stopped"
kill -TERM $pid; wait $pid; rc=$?
[ $rc = 0 ] || fail "SIGTERM exit status $rc"
/usr/bin/python3 -c '
import json,sys
for f in sys.argv[1:]:
    for l in open(f):
        d=json.loads(l); assert {"time","level","component","message"} <= set(d), d
' "$WORK/sluice.log" "$WORK/sluice.log.1" || fail "self log is not JSON lines"
"$SLUICE" checkpoints show -c "$WORK/c.yaml" | grep -q "a.log" || fail "checkpoints show"
"$SLUICE" checkpoints show -c "$WORK/c.yaml" | grep -q "8893" || fail "checkpoint offset is not the end of the file"
# a source the config does not name and with no positions (a typo) is refused, naming the
# ones it has
out=$("$SLUICE" checkpoints reset -c "$WORK/c.yaml" --source inn 2>&1); rc=$?
[ $rc = 2 ] || fail "reset of an unknown source: exit $rc"
[[ "$out" == *"has no source 'inn' and "*" has no positions of it (sources: in)"* ]] ||
  fail "reset of an unknown source said: $out"
"$SLUICE" checkpoints show -c "$WORK/c.yaml" | grep -q "a.log" || fail "a refused reset removed the entry"
# a reset that names no source is refused (it forgot every source's positions)
out=$("$SLUICE" checkpoints reset -c "$WORK/c.yaml" 2>&1); rc=$?
[ $rc = 2 ] && [[ "$out" == *"--source ID or --all"* ]] || fail "reset of no source: exit $rc: $out"
"$SLUICE" checkpoints show -c "$WORK/c.yaml" | grep -q "a.log" || fail "reset of no source reset"
"$SLUICE" checkpoints reset -c "$WORK/c.yaml" --source in || fail "checkpoints reset"
"$SLUICE" checkpoints show -c "$WORK/c.yaml" | grep -q "a.log" && fail "reset kept the entry"
# after a reset, the file is read again from its head
"$SLUICE" run -c "$WORK/c.yaml" & pid=$!
for _ in $(seq 1 1200); do [ "$(wc -l <"$WORK/out.ndjson")" = 2000 ] && break; sleep 0.1; done
kill -TERM $pid; wait $pid
[ "$(wc -l <"$WORK/out.ndjson")" = 2000 ] || fail "reset did not re-read the file"

# reload with no sluice at the address: 2 (a refused file is 1), as its help says
"$SLUICE" reload --api 127.0.0.1:1 2>"$WORK/reload.err"; rc=$?
[ $rc = 2 ] || fail "reload without a daemon exited $rc"
grep -q "cannot connect" "$WORK/reload.err" || fail "reload without a daemon: $(cat "$WORK/reload.err")"
"$SLUICE" reload --help | grep -q "2 no running sluice answered" || fail "reload help: exit statuses"
echo ok
