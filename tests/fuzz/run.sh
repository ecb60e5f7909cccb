#!/usr/bin/env bash
# Builds every libFuzzer target (tests/fuzz/fuzz_*.c) against the library and runs each for
# FUZZ_SECONDS (default 30); ONLY=<substring> picks targets, FUZZ_BUILD_ONLY=1 only builds them
# (tests/fuzz/campaign.sh runs long sessions). Corpora live in build-fuzz/corpus/<target>.
# FUZZ_RUNS=N is the repeatable smoke run of `make test`: N inputs with a fixed seed from the
# seed corpus alone, so the same commit mutates the same inputs every time and a red run
# can be replayed; open-ended search belongs to `make fuzz` and campaign.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${FUZZ_SECONDS:-30}"
out=build-fuzz
mkdir -p "$out/obj" "$out/corpus"
pkgs="$(sed -n '/^PKGS *:=/{:a;/\\$/{N;ba};s/^PKGS *:= *//;s/\\\n/ /g;p}' Makefile)"  # the build's libraries
make -s BUILD="$out" "$out/gen/status_page.h"  # generated sources (the status page) first
cflags="-std=c17 -D_GNU_SOURCE -g -O1 -Isrc -I$out/gen -fsanitize=fuzzer-no-link,address,undefined $(pkg-config --cflags $pkgs)"
objs=()
for src in $(find src -name '*.c' ! -path src/main.c | sort); do
  obj="$out/obj/${src//\//_}.o"
  # rebuilt when its source or any header changed (a header can change a struct's layout)
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] ||
     [ -n "$(find src "$out/gen" -name '*.h' -newer "$obj" -print -quit)" ]; then
    clang $cflags -c "$src" -o "$obj"
  fi
  objs+=("$obj")
done
for t in tests/fuzz/fuzz_*.c; do
  name=$(basename "$t" .c)
  [[ -z "${ONLY:-}" || "$name" == *"$ONLY"* ]] || continue
  clang $cflags -fsanitize=fuzzer "$t" "${objs[@]}" -o "$out/$name" $(pkg-config --libs $pkgs) -lm -pthread
  mkdir -p "$out/corpus/$name"
  [ -z "${FUZZ_BUILD_ONLY:-}" ] || continue
  seeds="tests/fuzz/seeds/$name"; [ -d "$seeds" ] || seeds=""
  if [ -n "${FUZZ_RUNS:-}" ]; then
    smoke="$out/smoke/$name"; rm -rf "$smoke"; mkdir -p "$smoke"
    echo "fuzz: $name, ${FUZZ_RUNS} inputs from seed 1"
    "$out/$name" -artifact_prefix="$out/" -runs="$FUZZ_RUNS" -seed=1 -rss_limit_mb=2048 "$smoke" $seeds 2>&1 | tail -3
  else
    echo "fuzz: $name for ${secs}s"
    "$out/$name" -artifact_prefix="$out/" -max_total_time="$secs" -rss_limit_mb=2048 "$out/corpus/$name" $seeds 2>&1 | tail -3
  fi
done
