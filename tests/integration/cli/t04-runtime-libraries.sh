#!/usr/bin/env bash
# t04: every shared library the signpost binary needs comes from a package that the
# Docker image's runtime stage installs (scripts/install-runtime.sh).
source "$(dirname "$0")/../lib.sh"
"$SIGNPOST_SOURCE_DIR/scripts/install-runtime.sh" --check "$SIGNPOST" || fail "runtime package list is incomplete"
pass "runtime libraries covered"
