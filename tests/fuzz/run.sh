#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz/ and runs each for
# SECONDS (default 600), starting from the committed corpus. New interesting
# inputs go to a scratch directory; pass --merge to fold them into the corpus.
#   tests/fuzz/run.sh 15          a short run (./dev test does this)
#   tests/fuzz/run.sh 600 --merge the long local run, corpus updated
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seconds=${1:-600}
merge=${2:-}
build=$root/build-fuzz
command -v clang >/dev/null || { echo "clang is required (Debian: clang)" >&2; exit 1; }
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DVG_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=$(sed -n 's/^set(VG_FUZZ_TARGETS \(.*\))$/\1/p' "$root/tests/CMakeLists.txt")
for t in $targets; do cmake --build "$build" --target "fuzz_$t" >/dev/null; done
export LSAN_OPTIONS=suppressions=$root/tests/fuzz/lsan.supp
fails=0 passes=0
for t in $targets; do
  corpus=$root/tests/fuzz/corpus/$t
  scratch=$(mktemp -d)
  echo "fuzz_$t: ${seconds}s from $(find "$corpus" -type f | wc -l) corpus inputs"
  if "$build/bin/fuzz_$t" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$scratch/" \
    "$scratch" "$corpus" >"$scratch.log" 2>&1; then
    passes=$((passes + 1))
    grep -E 'stat::number_of_executed_units|cov:' "$scratch.log" | tail -2
  else
    fails=$((fails + 1))
    echo "FAIL fuzz_$t; crash input and log kept in $scratch"
    tail -40 "$scratch.log"
    continue
  fi
  if [[ $merge == --merge ]]; then
    "$build/bin/fuzz_$t" -merge=1 "$corpus" "$scratch" >/dev/null 2>&1
  fi
  rm -rf "$scratch" "$scratch.log"
done
echo "$passes passed, $fails failed"
((fails == 0))
