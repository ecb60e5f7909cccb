#!/usr/bin/env bash
# Builds every libFuzzer target (tests/fuzz/fuzz_*.c) against the library and runs each for
# FUZZ_SECONDS (default 30); ONLY=<substring> picks targets, FUZZ_BUILD_ONLY=1 only builds them
# (tests/fuzz/campaign.sh runs long sessions). Corpora live in build-fuzz/corpus/<target>.
# FUZZ_RUNS=N is the bounded smoke run of `make test`: N inputs from the seed corpus alone,
# with a fixed seed. The inputs mutated still differ from run to run (the fuzzer learns from
# the comparisons the code makes, addresses among them), so a failing input is printed in
# base64 for replay: `base64 -d > crash; build-fuzz/<target> crash`. Open-ended search
# belongs to `make fuzz` and campaign.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${FUZZ_SECONDS:-30}"
out=build-fuzz
mkdir -p "$out/obj" "$out/corpus"
pkgs="$(sed -n '/^PKGS *:=/{:a;/\\$/{N;ba};s/^PKGS *:= *//;s/\\\n/ /g;p}' Makefile)"  # the build's libraries
make -s BUILD="$out" "$out/gen/status_page.h"  # generated sources (the status page) first
cflags="-std=c17 -D_GNU_SOURCE -g -O1 -Isrc -I$out/gen -fsanitize=fuzzer-no-link,address,undefined $(pkg-config --cflags $pkgs)"
# Objects and targets are built on every core; the runs then go one at a time.
objs=() stale=()
for src in $(find src -name '*.c' ! -path src/main.c | sort); do
  obj="$out/obj/${src//\//_}.o"
  # rebuilt when its source or any header changed (a header can change a struct's layout)
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] ||
     [ -n "$(find src "$out/gen" -name '*.h' -newer "$obj" -print -quit)" ]; then
    stale+=("$src")
  fi
  objs+=("$obj")
done
names=()
for t in tests/fuzz/fuzz_*.c; do
  name=$(basename "$t" .c)
  [[ -z "${ONLY:-}" || "$name" == *"$ONLY"* ]] && names+=("$name")
done
export out cflags OBJS="${objs[*]}" LIBS="$(pkg-config --libs $pkgs) -lm -pthread"
compile_one() { clang $cflags -c "$1" -o "$out/obj/${1//\//_}.o"; }
link_one() { clang $cflags -fsanitize=fuzzer "tests/fuzz/$1.c" $OBJS -o "$out/$1" $LIBS; }
export -f compile_one link_one
cores=$(nproc 2>/dev/null || echo 2)
on_every_core() { # function, items...: one call per item, as many at a time as cores
  local fn=$1; shift
  [ $# -eq 0 ] || printf '%s\0' "$@" | xargs -0 -n1 -P "$cores" bash -c "$fn"' "$1"' _
}
on_every_core compile_one ${stale[@]+"${stale[@]}"}
on_every_core link_one ${names[@]+"${names[@]}"}
# A target whose every input costs milliseconds runs a share of FUZZ_RUNS in the smoke run:
# fuzz_segment opens a disk buffer twice per input (its thread and a dozen files each).
declare -A smoke_share=([fuzz_segment]=5)
for name in ${names[@]+"${names[@]}"}; do
  mkdir -p "$out/corpus/$name"
  [ -z "${FUZZ_BUILD_ONLY:-}" ] || continue
  seeds="tests/fuzz/seeds/$name"; [ -d "$seeds" ] || seeds=""
  if [ -n "${FUZZ_RUNS:-}" ]; then
    smoke="$out/smoke/$name"; rm -rf "$smoke" "$smoke"-*; mkdir -p "$smoke"
    runs=$((FUZZ_RUNS / ${smoke_share[$name]:-1}))
    echo "fuzz: $name, $runs inputs from seed 1"
    log="$out/smoke/$name.log"
    if ! "$out/$name" -artifact_prefix="$out/smoke/$name-" -runs="$runs" -seed=1 \
        -rss_limit_mb=2048 "$smoke" $seeds >"$log" 2>&1; then
      grep -v '^#[0-9]' "$log" | tail -40
      for a in "$out/smoke/$name"-*; do
        [ -f "$a" ] || continue
        echo "fuzz: $name failed on $a ($(stat -c %s "$a") bytes), in base64:"
        head -c 65536 "$a" | base64 -w 0; echo  # the first 64 KiB of a larger one
      done
      exit 1
    fi
    tail -3 "$log"
  else
    echo "fuzz: $name for ${secs}s"
    "$out/$name" -artifact_prefix="$out/" -max_total_time="$secs" -rss_limit_mb=2048 "$out/corpus/$name" $seeds 2>&1 | tail -3
  fi
done
