#!/usr/bin/env bash
# Every command `sluice --help` lists reads its options alike: --help and -h print its usage
# on stdout and exit 0; an unknown option, a missing value, a flag given a value and an
# option given twice are a usage error (exit 2, "usage:" on stderr, nothing on stdout);
# `--opt=value` is `--opt value`; `--` ends the options. `sluice version --bogus` printed
# the version and exited 0, `config from-env --help` exited 2, `top --interval x` polled
# every 100 ms, and no command took `--`.
set -u
fail() { echo "FAIL: $*"; exit 1; }

cat >"$WORK/a.yaml" <<YAML
data_dir: $WORK/data
api: { address: "127.0.0.1:1" }
log: { level: error }
sources:
  in_a: { type: demo, count: 1 }
sinks:
  out_a: { type: blackhole, inputs: [in_a] }
YAML

# run_it ARGS...: sets rc, out, err
run_it() {
  "$SLUICE" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" </dev/null; rc=$?
  out=$(cat "$WORK/out.txt"); err=$(cat "$WORK/err.txt")
}

# usage_error WHAT ARGS...: exit 2, stderr says WHAT and the usage, stdout is empty
usage_error() {
  local what=$1; shift
  run_it "$@"
  [ $rc = 2 ] || fail "sluice $*: exit $rc (want 2), stderr: $err"
  [[ "$err" == *"$what"* ]] || fail "sluice $*: stderr does not say '$what': $err"
  [[ "$err" == *"usage: sluice"* ]] || fail "sluice $*: no usage on stderr: $err"
  [ -z "$out" ] || fail "sluice $*: printed on stdout: $out"
}

# same ARGS1 -- ARGS2: both give the same exit status and output
same() {
  local a=() b=()
  while [ "$1" != "--" ]; do a+=("$1"); shift; done
  shift; b=("$@")
  run_it "${a[@]}"; local rc1=$rc out1=$out err1=$err
  run_it "${b[@]}"
  [ $rc = $rc1 ] && [ "$out" = "$out1" ] && [ "$err" = "$err1" ] ||
    fail "sluice ${a[*]} (exit $rc1: $out1 $err1) and sluice ${b[*]} (exit $rc: $out $err) differ"
}

# Each command: the words that name it, one option taking a value, and a value for it.
# Commands without options have none.
declare -A words opt val
words[run]=run;                 opt[run]=--config;        val[run]=$WORK/a.yaml
words[validate]=validate;       opt[validate]=--config;   val[validate]=$WORK/a.yaml
words[dlq]="dlq list";          opt[dlq]=--sink;          val[dlq]=out_a
words[checkpoints]="checkpoints show"; opt[checkpoints]=--data-dir; val[checkpoints]=$WORK/data
words[components]=components
words[config]="config from-env"
words[top]="top --once";        opt[top]=--api;           val[top]=127.0.0.1:1
words[tap]="tap in_a";          opt[tap]=--api;           val[tap]=127.0.0.1:1
words[reload]=reload;           opt[reload]=--api;        val[reload]=127.0.0.1:1
words[version]=version
# what each needs besides (dlq: the config)
declare -A extra
extra[dlq]="-c $WORK/a.yaml"

cmds=$("$SLUICE" --help | sed -n '/^commands:/,/^$/p' | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
[ -n "$cmds" ] || fail "sluice --help lists no commands"
for c in $cmds; do
  [ -n "${words[$c]+x}" ] || fail "command '$c' is not walked by this test"
  w=${words[$c]}
  first=${w%% *}
  for h in --help -h; do
    # shellcheck disable=SC2086
    run_it $w $h
    [ $rc = 0 ] || fail "sluice $w $h: exit $rc: $err"
    [[ "$out" == "usage: sluice $first"* ]] || fail "sluice $w $h: stdout: $out"
    [ -z "$err" ] || fail "sluice $w $h: stderr: $err"
  done
  # --help after an unknown option is still help
  # shellcheck disable=SC2086
  run_it $w --bogus --help
  [ $rc = 0 ] || fail "sluice $w --bogus --help: exit $rc"
  # shellcheck disable=SC2086
  usage_error "unknown option '--bogus'" $w --bogus
  # shellcheck disable=SC2086
  usage_error "unknown option '-Z'" $w -Z
  # after --, --bogus is no option (the commands without arguments refuse it as one)
  # shellcheck disable=SC2086
  run_it $w -- --bogus
  [[ "$err" != *"unknown option"* ]] || fail "sluice $w -- --bogus: $err"
  [ -z "${opt[$c]+x}" ] && continue
  o=${opt[$c]} v=${val[$c]}
  # shellcheck disable=SC2086
  usage_error "$o needs" $w ${extra[$c]-} "$o"
  # shellcheck disable=SC2086
  usage_error "$o needs" $w ${extra[$c]-} "$o" --bogus
  # shellcheck disable=SC2086
  usage_error "given twice ('$v' and '$v')" $w ${extra[$c]-} "$o" "$v" "$o=$v"
  # shellcheck disable=SC2086
  same $w ${extra[$c]-} "$o" "$v" -- $w ${extra[$c]-} "$o=$v"
done

# the option-less ones: nothing after -- either
usage_error "unexpected argument '--bogus'" version -- --bogus
usage_error "unexpected argument 'x'" validate -c "$WORK/a.yaml" x
usage_error "unexpected argument '-c'" validate -- -c "$WORK/a.yaml"
run_it components -- --bogus
[ $rc = 2 ] && [[ "$err" == *"unknown component type '--bogus'"* ]] ||
  fail "components -- --bogus: exit $rc: $err"
# an empty value ("$DIR" with DIR unset): --data-dir "" was the root, /checkpoints
usage_error "--data-dir needs a DIR, not an empty one" checkpoints show --data-dir ""
# -c and --data-dir together: --data-dir silently won (a reset could hit another directory)
usage_error "-c and --data-dir: give one or the other" checkpoints reset --all -c "$WORK/a.yaml" --data-dir "$WORK/data"
usage_error "--config needs a FILE, not an empty one" run --config=
usage_error "--api needs HOST:PORT, not an empty one" reload --api ""
# a flag given a value, a short option with its value attached
usage_error "--once takes no value" top --once=yes --api 127.0.0.1:1
same validate -c "$WORK/a.yaml" -- validate "-c$WORK/a.yaml"
# numbers are numbers
usage_error "--interval wants a number, got 'fast'" top --once --interval fast
usage_error "--interval wants a number from 100" top --once --interval 10
usage_error "--limit wants a number >= 0, got '-1'" dlq list -c "$WORK/a.yaml" --limit=-1
usage_error "-n wants a number, got 'ten'" tap in_a -n ten
# -- ends the options: the command's words may follow it
run_it dlq -c "$WORK/a.yaml" -- list
[ $rc = 0 ] || fail "dlq -c FILE -- list: exit $rc: $err"
run_it checkpoints --data-dir "$WORK/data" -- show
[ $rc = 0 ] && [[ "$out" == "no checkpoints in $WORK/data/checkpoints" ]] ||
  fail "checkpoints --data-dir DIR -- show: exit $rc: $out $err"
run_it components -- file
[ $rc = 0 ] && [[ "$out" == *include* ]] || fail "components -- file: exit $rc"
run_it version
[ $rc = 0 ] && [[ "$out" == "sluice "[0-9]* ]] || fail "version: exit $rc: $out"
echo "ok: every command reads its options alike"
