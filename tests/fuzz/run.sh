#!/usr/bin/env bash
# Runs every libFuzzer target of a Clang build for a bounded time each, on top of its
# committed corpus (and its dictionary, when it has one).
#   tests/fuzz/run.sh BUILD_DIR [SECONDS_PER_TARGET]     (default 10)
# BUILD_DIR is a Clang build (CXX=clang++, SIGNPOST_SANITIZE=ON) where `fuzz_all` was
# built; its fuzz-targets.txt lists the targets. New inputs go to a scratch corpus under
# BUILD_DIR/fuzz-work/<target>, never into the committed one. A crash, a sanitizer report,
# a timeout (-timeout=10 s per input) or an out-of-memory (-rss_limit_mb=2048) fails the
# run; the input that did it is copied to BUILD_DIR/fuzz-crashes/<target>/ and printed as
# base64, so it can be added to the corpus as a regression input (tests/fuzz/README.md).
# Ends with a line "N passed, N failed".
set -euo pipefail
build=${1:?usage: tests/fuzz/run.sh BUILD_DIR [SECONDS_PER_TARGET]}
seconds=${2:-10}
list=$build/fuzz-targets.txt
[ -f "$list" ] || { echo "fuzz: $list not found (configure the build with clang++)" >&2; exit 2; }

passed=0 failed=0
while read -r name bin corpus dict; do
  [ -n "$name" ] || continue
  if ! grep -q LLVMFuzzerRunDriver "$bin"; then
    echo "fuzz: $bin is not a libFuzzer binary (a GCC build replays only)" >&2
    exit 2
  fi
  work=$build/fuzz-work/$name
  crashes=$build/fuzz-crashes/$name
  rm -rf "$work" "$crashes"
  mkdir -p "$work" "$crashes"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$crashes/")
  [ "$dict" = - ] || args+=(-dict="$dict")
  log=$build/fuzz-work/$name.log
  rc=0
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" "${args[@]}" "$work" "$corpus" > "$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | awk '{print $2}')
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
    printf 'fuzz: %-24s ok   %8s runs in %ss, cov %s\n' "$name" "${runs:-?}" "$seconds" "${cov:-?}"
  else
    failed=$((failed + 1))
    printf 'fuzz: %-24s FAIL (exit %s)\n' "$name" "$rc"
    tail -n 60 "$log"
    for f in "$crashes"/*; do
      [ -f "$f" ] || continue
      echo "fuzz: input $f (base64):"
      base64 -w 76 "$f" | head -n 200
    done
  fi
done < "$list"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
