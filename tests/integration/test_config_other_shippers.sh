#!/usr/bin/env bash
# Configuration files of Fluent Bit, Fluentd and Vector, written as those projects' docs
# show, given to -c: the file is named for what it is, at the line that tells, instead of
# the YAML reader's "did not find expected <document start>" or "expected a map at the top
# level"; run exits 1 having started nothing. A Vector YAML file (sluice's shape) fails at
# its first plugin name, said with sluice's type.
set -u
fail() { echo "FAIL: $*"; exit 1; }

cat >"$WORK/fluent-bit.conf" <<'EOF'
[SERVICE]
    Flush        1
    Log_Level    info
    Parsers_File parsers.conf

[INPUT]
    Name              tail
    Path              /var/log/containers/*.log
    multiline.parser  docker, cri
    Tag               kube.*

[OUTPUT]
    Name  es
    Match *
    Host  127.0.0.1
    Port  9200
EOF
cat >"$WORK/fluent-bit.yaml" <<'EOF'
service:
  flush: 1
  log_level: info

pipeline:
  inputs:
    - name: tail
      path: /var/log/containers/*.log
      tag: kube.*
  outputs:
    - name: stdout
      match: '*'
EOF
cat >"$WORK/fluentd.conf" <<'EOF'
# fluentd.conf
<source>
  @type forward
  port 24224
  bind 0.0.0.0
</source>

<match app.**>
  @type stdout
</match>
EOF
cat >"$WORK/vector.toml" <<EOF
data_dir = "$WORK/vector"

[sources.app]
type = "file"
include = ["/var/log/app/*.log"]

[sinks.out]
type = "console"
inputs = ["app"]
encoding.codec = "json"
EOF
cat >"$WORK/vector.yaml" <<EOF
data_dir: $WORK/vector
sources:
  app:
    type: file
    include: ["/var/log/app/*.log"]
sinks:
  out:
    type: console
    inputs: [app]
EOF

# check FILE LINE WHAT: validate and run refuse FILE at LINE, naming WHAT
check() {
  local file=$WORK/$1 line=$2 what=$3
  out=$("$SLUICE" validate -c "$file" 2>&1); rc=$?
  [ $rc = 1 ] || fail "validate $1: exit $rc: $out"
  [[ "$out" == *"$file:$line:1: this is $what; sluice reads its own YAML"* ]] ||
    fail "validate $1 said: $out"
  [[ "$out" == *"docs/migration/other-shippers.md"* ]] || fail "validate $1 names no page: $out"
  out=$("$SLUICE" run -c "$file" 2>&1); rc=$?
  [ $rc = 1 ] || fail "run $1: exit $rc: $out"
  [[ "$out" == *"this is $what"* ]] || fail "run $1 said: $out"
}
check fluent-bit.conf 1 "a Fluent Bit configuration (classic format)"
check fluent-bit.yaml 5 "a Fluent Bit configuration (YAML format)"
check fluentd.conf 2 "a Fluentd configuration"
check vector.toml 1 "a Vector configuration (TOML)"
[ -e "$WORK/vector" ] && fail "a refused file created its data_dir"

out=$("$SLUICE" validate -c "$WORK/vector.yaml" 2>&1); rc=$?
[ $rc = 1 ] || fail "validate vector.yaml: exit $rc: $out"
want="vector.yaml:8:11: sinks.out: unknown sink type 'console' (Vector's console is sluice's stdout"
[[ "$out" == *"$want; valid: "* ]] ||
  fail "vector.yaml: $out"
sed -i 's/type: console/type: stdout/; s/type: file/type: tail/' "$WORK/vector.yaml"
out=$("$SLUICE" validate -c "$WORK/vector.yaml" 2>&1)
[[ "$out" == *"unknown source type 'tail' (Fluent Bit's tail is sluice's file; valid: "* ]] ||
  fail "tail: $out"
sed -i 's/type: tail/type: file/' "$WORK/vector.yaml"
"$SLUICE" validate -c "$WORK/vector.yaml" >/dev/null || fail "vector.yaml with sluice's types"
echo "ok: other shippers' files refused by name"
