#!/usr/bin/env bash
# An option given twice is refused (exit 2, naming it) instead of the last one winning:
# `run -c a.yaml -c b.yaml`, as Vector takes several files, ran b alone; `dlq purge --sink a
# --sink b` purged b; `reload --api X --api Y` reloaded Y. An option without its value and a
# count that is not a number are refused too.
set -u
fail() { echo "FAIL: $*"; exit 1; }

for name in a b; do
  cat >"$WORK/$name.yaml" <<YAML
data_dir: $WORK/data-$name
api: { enabled: false }
sources:
  in_$name: { type: demo, count: 1 }
sinks:
  out_$name: { type: blackhole, inputs: [in_$name] }
YAML
done

# expect_refused WHAT ARGS...: exit 2 and a line on stderr naming WHAT
expect_refused() {
  local what=$1; shift
  "$SLUICE" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"; local rc=$?
  [ $rc = 2 ] || fail "sluice $*: exit $rc, stdout: $(cat "$WORK/out.txt")"
  grep -qF -- "$what" "$WORK/err.txt" ||
    fail "sluice $*: stderr does not say '$what': $(cat "$WORK/err.txt")"
}

"$SLUICE" validate -c "$WORK/a.yaml" >/dev/null || fail "a.yaml does not validate"
expect_refused "-c given twice ('$WORK/a.yaml' and '$WORK/b.yaml')" \
  validate -c "$WORK/a.yaml" -c "$WORK/b.yaml"
expect_refused "-c given twice" validate --config="$WORK/a.yaml" --config "$WORK/b.yaml"
expect_refused "-c given twice" run -c "$WORK/a.yaml" -c "$WORK/b.yaml"
[ -e "$WORK/data-b" ] && fail "run with two -c ran the second file"
expect_refused "-c needs a FILE" run -c
expect_refused "-c needs a FILE" validate -c
expect_refused "-c given twice" reload -c "$WORK/a.yaml" -c "$WORK/b.yaml"
expect_refused "-c given twice" top --once -c "$WORK/a.yaml" -c "$WORK/b.yaml"
expect_refused "-c given twice" tap in_a -c "$WORK/a.yaml" -c "$WORK/b.yaml"
expect_refused "--api given twice ('127.0.0.1:1' and '127.0.0.1:2')" \
  reload --api 127.0.0.1:1 --api=127.0.0.1:2
expect_refused "--api given twice" top --once --api 127.0.0.1:1 --api 127.0.0.1:2
expect_refused "--api given twice" tap in_a --api 127.0.0.1:1 --api 127.0.0.1:2
expect_refused "--api needs HOST:PORT" top --once --api
expect_refused "-n wants a number, got 'ten'" tap in_a -n ten --api 127.0.0.1:1
expect_refused "--rate wants a number, got '5x'" tap in_a --rate 5x --api 127.0.0.1:1
expect_refused "--sink given twice" dlq purge -c "$WORK/a.yaml" --sink out_a --sink out_b
expect_refused "-c given twice" dlq list -c "$WORK/a.yaml" -c "$WORK/b.yaml"
expect_refused "--limit given twice" dlq list -c "$WORK/a.yaml" --limit 1 --limit 2
expect_refused "--source given twice" \
  checkpoints reset -c "$WORK/a.yaml" --source in_a --source=in_b
expect_refused "--data-dir given twice" checkpoints show --data-dir "$WORK/x" --data-dir "$WORK/y"
expect_refused "-c given twice" checkpoints show -c "$WORK/a.yaml" -c "$WORK/b.yaml"

# once each still works
"$SLUICE" run -c "$WORK/a.yaml" >/dev/null 2>&1 || fail "run -c a.yaml (a demo of one event) failed"
"$SLUICE" checkpoints show -c "$WORK/a.yaml" --source in_a >/dev/null || fail "checkpoints show"
"$SLUICE" dlq list -c "$WORK/a.yaml" --sink out_a --limit 1 >/dev/null || fail "dlq list"
echo "ok: repeated options refused"
