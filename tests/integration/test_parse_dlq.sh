#!/usr/bin/env bash
# parse with on_error: dlq: the lines it cannot read are dead-lettered with the reason, the
# others delivered; `dlq replay` keeps a transform's records and says that it is a transform
# (it said the id was no sink in the configuration), and `dlq purge --sink` removes them.
set -u
fail() { echo "FAIL: $*"; exit 1; }
cat >"$WORK/c.yaml" <<YAML
data_dir: $WORK/data
api: { enabled: false }
sources:
  in: { type: stdin }
transforms:
  p: { type: parse, inputs: [in], format: json, on_error: dlq }
sinks:
  out: { type: file, inputs: [p], path: "$WORK/out.ndjson" }
YAML
printf '%s\n' '{"a":1}' 'not json' '{"a":2}' | "$SLUICE" run -c "$WORK/c.yaml" 2>"$WORK/run.log" \
  || fail "run exited non-zero: $(cat "$WORK/run.log")"
[ "$(wc -l <"$WORK/out.ndjson")" = 2 ] || fail "out: $(cat "$WORK/out.ndjson")"
"$SLUICE" dlq list -c "$WORK/c.yaml" --sink p >"$WORK/list.txt" || fail "dlq list"
grep -q "p: 1 record(s)" "$WORK/list.txt" || fail "list: $(cat "$WORK/list.txt")"
grep -q "reason=not a JSON object  message=not json" "$WORK/list.txt" ||
  fail "list: $(cat "$WORK/list.txt")"
"$SLUICE" dlq replay -c "$WORK/c.yaml" >"$WORK/replay.out" 2>"$WORK/replay.err"
[ $? = 1 ] || fail "replay of a transform's records must exit 1 (they stay)"
grep -q "'p' is a transform: its 1 record(s) are events it could not process" \
  "$WORK/replay.err" || fail "replay said: $(cat "$WORK/replay.err")"
grep -q "no sink" "$WORK/replay.err" && fail "replay said: $(cat "$WORK/replay.err")"
grep -q "replayed 0, remaining 1" "$WORK/replay.out" || fail "replay: $(cat "$WORK/replay.out")"
[ "$(wc -l <"$WORK/data/dlq/p.ndjson")" = 1 ] || fail "the record did not stay"
"$SLUICE" dlq purge -c "$WORK/c.yaml" --sink p >/dev/null || fail "purge"
[ -e "$WORK/data/dlq/p.ndjson" ] && fail "purge left the file"
echo "ok   parse dlq: list, replay refused as a transform's, purge"
