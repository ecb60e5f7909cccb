#!/usr/bin/env bash
# ab.sh - two or more sluice binaries on one benchmark, alternated run by run, so that each
# pair shares the host's minute: on this noisy machine a figure is only worth its comparison
# with the one beside it (BENCHMARKS, Method).
#
#   BINS="/tmp/sluice-before build/sluice" PAIRS=8 bash bench/ab.sh es_k8s.sh
#   BINS="a b" PAIRS=6 bash bench/ab.sh otlp.sh      # the script's own variables pass through:
#   OTLP_DEFAULTS=1 RECEIVER_ALONE=0 BENCH_MODES=protobuf BINS="a b" bash bench/ab.sh otlp.sh
#
# Runs bench/SCRIPT PAIRS times for each binary of BINS in turn (SLUICE=binary), takes the
# events/cpu_s column of each run's last row (found by the header's name, so any script with
# that column works: es_k8s.sh, otlp.sh, run.sh with one pipeline, ...), prints each run as
# it ends, then per binary the median and range, and for each binary after the first in how
# many rounds it came out ahead of the first. Network benchmarks need their own namespace:
# run it under unshare -n as the scripts say. A failed run ends it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
script="${1:?usage: BINS=\"A B\" [PAIRS=N] bash bench/ab.sh SCRIPT}"
[ -f "$here/$script" ] || { echo "ab: no bench/$script" >&2; exit 2; }
read -r -a bins <<<"${BINS:?BINS: the sluice binaries to compare}"
[ "${#bins[@]}" -ge 2 ] || { echo "ab: BINS needs two binaries or more" >&2; exit 2; }
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "ab: $b is not executable" >&2; exit 2; }; done
pairs="${PAIRS:-6}"
out="$(mktemp /tmp/sluice-ab.XXXXXX)"
trap 'rm -f "$out"' EXIT

# figure OUTPUT: the events/cpu_s of the last row under the last header that names it (a
# row has the header's number of fields: the thread lines of ES_THREADS do not).
figure() {
  awk '{ for (i = 1; i <= NF; i++) if ($i == "events/cpu_s") { col = i; hnf = NF; next } }
       col && NF == hnf && $col ~ /^[0-9.]+$/ { v = $col }
       END { if (v == "") exit 1; print v }' <<<"$1"
}

for round in $(seq 1 "$pairs"); do
  for i in "${!bins[@]}"; do
    if ! res="$(SLUICE="${bins[$i]}" bash "$here/$script" 2>&1)"; then
      echo "$res" | tail -20 >&2
      echo "ab: run $round of ${bins[$i]} failed" >&2
      exit 1
    fi
    v="$(figure "$res")" || { echo "$res" | tail -20 >&2; echo "ab: no events/cpu_s" >&2; exit 1; }
    printf '%s %d %d %s\n' "$(date +%T)" "$round" "$i" "$v" | tee -a "$out" |
      awk -v b="${bins[$i]}" '{ printf "%s round %d  %-40s %12.0f\n", $1, $2, b, $4 }'
  done
done

echo
for i in "${!bins[@]}"; do
  awk -v i="$i" '$3 == i { print $4 }' "$out" | sort -g |
    awk -v b="${bins[$i]}" '{ v[++n] = $1 }
      END {
        m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        printf "%-40s median %10.0f  range %.0f-%.0f  (%d runs)\n", b, m, v[1], v[n], n
      }'
done
for i in "${!bins[@]}"; do
  [ "$i" -eq 0 ] && continue
  awk -v i="$i" -v b="${bins[$i]}" -v a="${bins[0]}" '
    $3 == 0 { base[$2] = $4 } $3 == i { mine[$2] = $4 }
    END {
      for (r in mine) if (r in base) { n++; if (mine[r] > base[r]) w++ }
      printf "%s ahead of %s in %d of %d rounds\n", b, a, w, n
    }' "$out"
done
