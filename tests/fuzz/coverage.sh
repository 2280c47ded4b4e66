#!/usr/bin/env bash
# How much of the code each fuzz target's committed corpus reaches (line and function
# coverage from llvm-cov, Clang's source-based coverage), counted over the files the target's
# "// Covers:" comment names.
#   tests/fuzz/coverage.sh [BUILD_DIR]          (default build-fuzz-cov)
# Builds the fuzz targets with Clang, coverage instrumentation and libFuzzer (no
# sanitizers), replays every corpus input once (-runs=0) and prints a Markdown table, the
# one in tests/fuzz/README.md. Needs clang and libclang-rt-14-dev (scripts/install-deps.sh)
# and llvm-14 for llvm-cov and llvm-profdata (apt-get install llvm-14; not needed by CI).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-fuzz-cov}
profdata=$(command -v llvm-profdata-14 || command -v llvm-profdata)
cov=$(command -v llvm-cov-14 || command -v llvm-cov)

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSIGNPOST_FUZZ=ON \
  -DSIGNPOST_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS="-fprofile-instr-generate -fcoverage-mapping" \
  -DCMAKE_EXE_LINKER_FLAGS="-fprofile-instr-generate" > /dev/null
cmake --build "$build" --target fuzz_all -j "$(nproc)" > /dev/null
mkdir -p "$build/coverage"

echo "| target | corpus (files, bytes) | covers | lines | functions |"
echo "|---|---|---|---|---|"
while read -r name bin corpus _dict; do
  [ -n "$name" ] || continue
  src=$(ls tests/fuzz/*/"$name".cpp)
  covers=$(sed -n 's|^// Covers: *||p' "$src" | head -n 1)
  [ -n "$covers" ] || { echo "coverage: $src has no // Covers: line" >&2; exit 1; }
  files=$(find "$corpus" -type f | wc -l)
  bytes=$(find "$corpus" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
  raw=$build/coverage/$name.profraw
  LLVM_PROFILE_FILE=$raw "$bin" -runs=0 "$corpus" > "$build/coverage/$name.log" 2>&1
  "$profdata" merge -sparse -o "$build/coverage/$name.profdata" "$raw"
  paths=()
  for f in $covers; do paths+=("$PWD/$f"); done
  total=$("$cov" report "$bin" -instr-profile="$build/coverage/$name.profdata" "${paths[@]}" | awk '$1 == "TOTAL"')
  # TOTAL regions missed cover functions missed executed lines missed cover [branches ...]
  lines=$(awk '{ print $10 " of " $8 }' <<< "$total")
  funcs=$(awk '{ print $7 " of " $5 }' <<< "$total")
  echo "| \`$name\` | $files, $bytes | ${covers// /, } | $lines | $funcs |"
done < "$build/fuzz-targets.txt"
