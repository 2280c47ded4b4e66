#!/usr/bin/env bash
# Installs what is needed, builds Signpost twice (optimized as Release is, -O3, with debug
# information; and with AddressSanitizer + UndefinedBehaviorSanitizer), both with warnings
# as errors, runs the unit tests in the sanitizer build; builds the libFuzzer targets with
# Clang (ASan + UBSan) and runs each for SIGNPOST_FUZZ_SECONDS (default 6) on top of its
# committed corpus; then runs the whole suite (unit, vectors, integration with real peers,
# the Docker image) in the optimized build. The output ends with ctest's summary of the
# whole suite (or, when fuzzing found something, with the fuzz runner's summary).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
./scripts/install-deps.sh

# -O3 as in Release (the Docker image's build), so warnings that only -O3 shows fail here.
echo "== build (-O3 -g, warnings are errors)"
./scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O3 -g -DNDEBUG" \
  -DSIGNPOST_WERROR=ON
echo "== build (ASan + UBSan, warnings are errors)"
./scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DSIGNPOST_SANITIZE=ON -DSIGNPOST_BUILD_BENCH=OFF \
  -DSIGNPOST_WERROR=ON

echo "== unit tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L unit --output-on-failure -j "$(nproc)"

echo "== fuzz targets (Clang, libFuzzer + ASan + UBSan), ${SIGNPOST_FUZZ_SECONDS:-6}s each"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSIGNPOST_SANITIZE=ON \
  -DSIGNPOST_FUZZ=ON -DSIGNPOST_BUILD_BENCH=OFF > /dev/null
cmake --build build-fuzz --target fuzz_all -j "$(nproc)"
tests/fuzz/run.sh build-fuzz "${SIGNPOST_FUZZ_SECONDS:-6}"

echo "== whole suite ($(( $(date +%s) - start ))s so far)"
ctest --test-dir build --output-on-failure -j "$(nproc)"
