#!/usr/bin/env bash
# stdin -> stdout (text and json), and a bounded demo source -> file that ends by itself
# once every event is delivered.
set -u
cat >"$WORK/stdin.yaml" <<YAML
data_dir: $WORK/data
api: { enabled: false }
sources:
  in: { type: stdin }
sinks:
  out: { type: stdout, inputs: [in], encoding: text }
YAML
got=$(seq 1 5000 | "$SLUICE" run -c "$WORK/stdin.yaml" 2>"$WORK/err.log")
[ "$(echo "$got" | wc -l)" = 5000 ] || { echo "stdin text: got $(echo "$got" | wc -l) lines"; cat "$WORK/err.log"; exit 1; }
[ "$(echo "$got" | sort -n | md5sum)" = "$(seq 1 5000 | md5sum)" ] || { echo "stdin content differs"; exit 1; }
sed -i 's/encoding: text/encoding: json/' "$WORK/stdin.yaml"
printf 'a "quoted" line\n\ttab\n' | "$SLUICE" run -c "$WORK/stdin.yaml" 2>/dev/null | /usr/bin/python3 -c '
import json,sys
msgs=[json.loads(l)["message"] for l in sys.stdin]
assert msgs==["a \"quoted\" line","\ttab"], msgs'
cat >"$WORK/demo.yaml" <<YAML
data_dir: $WORK/data2
api: { enabled: false }
sources:
  gen: { type: demo, count: 20000, rate: 0, format: json }
sinks:
  out: { type: file, inputs: [gen], path: "$WORK/demo.ndjson" }
YAML
timeout 120 "$SLUICE" run -c "$WORK/demo.yaml" 2>"$WORK/demo.log" || { echo "demo run failed"; cat "$WORK/demo.log"; exit 1; }
n=$(wc -l <"$WORK/demo.ndjson")
[ "$n" = 20000 ] || { echo "demo: $n lines"; exit 1; }
echo "ok"
