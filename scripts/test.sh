#!/usr/bin/env bash
# Installs what is needed, builds Signpost twice (plain, and with AddressSanitizer +
# UndefinedBehaviorSanitizer), runs the unit tests in the sanitizer build and then the
# whole suite (unit, vectors, integration with real peers) in the plain build. The output
# ends with ctest's summary of the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
./scripts/install-deps.sh

echo "== build (RelWithDebInfo)"
./scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "== build (ASan + UBSan)"
./scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DSIGNPOST_SANITIZE=ON -DSIGNPOST_BUILD_BENCH=OFF

echo "== unit tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L unit --output-on-failure -j "$(nproc)"

echo "== whole suite ($(( $(date +%s) - start ))s so far)"
ctest --test-dir build --output-on-failure -j "$(nproc)"
