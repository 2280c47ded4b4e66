#!/usr/bin/env bash
# Installs what is needed, builds Signpost twice, both with warnings as errors:
#   build/       GCC, optimized as Release is (-O3), with line tables (-g1); the unit tests'
#                own sources at -O1 (SIGNPOST_UNIT_TEST_OPTIONS), the code they test at -O3;
#   build-asan/  Clang, AddressSanitizer + UndefinedBehaviorSanitizer, and every library
#                instrumented for libFuzzer (-DSIGNPOST_FUZZ=ON);
# runs the unit tests in build-asan under the sanitizers, fuzzes each libFuzzer target of
# build-asan for SIGNPOST_FUZZ_SECONDS (default 6) on top of its committed corpus, then runs
# the whole suite (unit, vectors, integration with real peers, the Docker image) in build/.
# The output ends with ctest's summary of the whole suite (or, when fuzzing found something,
# with the fuzz runner's summary).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start ))s so far"; }
./scripts/install-deps.sh

# -O3 as in Release (the Docker image's build), so warnings that only -O3 shows fail here.
echo "== build (GCC -O3 -g1, warnings are errors) ($(elapsed))"
./scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O3 -g1 -DNDEBUG" \
  -DSIGNPOST_UNIT_TEST_OPTIONS="-O1 -g1" -DSIGNPOST_WERROR=ON
# One sanitizer build serves both the unit tests and the fuzz targets.
echo "== build (Clang, ASan + UBSan + libFuzzer instrumentation, warnings are errors) ($(elapsed))"
CC=clang CXX=clang++ ./scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 \
  -DSIGNPOST_SANITIZE=ON -DSIGNPOST_FUZZ=ON -DSIGNPOST_BUILD_BENCH=OFF -DSIGNPOST_WERROR=ON

echo "== unit tests under ASan + UBSan ($(elapsed))"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L unit --output-on-failure -j "$(nproc)"

echo "== fuzz targets (libFuzzer + ASan + UBSan), ${SIGNPOST_FUZZ_SECONDS:-6}s each ($(elapsed))"
tests/fuzz/run.sh build-asan "${SIGNPOST_FUZZ_SECONDS:-6}"

echo "== whole suite ($(elapsed))"
ctest --test-dir build --output-on-failure -j "$(nproc)"
