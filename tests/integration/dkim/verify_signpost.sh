#!/usr/bin/env bash
# verify_signpost.sh -- verify every DKIM-Signature of one or more messages with Signpost's
# own verifier (`signpost dkim verify --record-dir`), keys from a directory of TXT records.
#
#   bash verify_signpost.sh [-H] RECORDS_DIR MESSAGE...
#
# The binary is $SIGNPOST_BIN (ctest sets it). RECORDS_DIR holds files named
# <selector>._domainkey.<domain>.txt with the TXT record text; Signpost reads them itself
# (--record-dir), so no DNS is involved.
#
# `signpost dkim verify` prints one line per signature, in header order:
#   pass d=D s=S a=A
#   fail|permerror|temperror d=D s=S a=A reason=NAME (detail)
# or "none: ..." when there is no signature, "error: ..." when the header section does not
# parse. This script turns that into the format the other verify_* scripts share (one line
# per DKIM-Signature field, prefixed "MESSAGE: " with -H or when there are several):
#   pass d=D s=S a=A
#   fail d=D s=S a=A (STATUS reason=NAME (detail))
# so run_corpus.sh can read all four verifiers alike; the reason name (signer/verify.hpp,
# FailReason) stays in the line for the self-test to check.
#
# Exit status: 0 only if every message had at least one signature and all passed (Signpost
# exited 0); 1 otherwise; 2 on bad usage or when the binary cannot be run (never a skip).
# Signpost exiting with anything but 0 or 1 on a message (a crash, a usage error) is that
# message's failure, reported with the status.
set -uo pipefail

usage() { echo "usage: verify_signpost.sh [-H] RECORDS_DIR MESSAGE..." >&2; exit 2; }

with_name=0
while [[ $# -gt 0 && $1 == -* ]]; do
  case $1 in
    -H|--with-filename) with_name=1; shift ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[[ $# -ge 2 ]] || usage
records=$1; shift
[[ -d $records ]] || { echo "verify_signpost: $records: not a directory" >&2; exit 2; }
[[ $# -gt 1 ]] && with_name=1

signpost=${SIGNPOST_BIN:-}
if [[ -z $signpost || ! -x $signpost ]]; then
  echo "verify_signpost: SIGNPOST_BIN must name the built signpost binary (got '${signpost}')" >&2
  exit 2
fi
# The binary must at least start: a missing library is "cannot run", not 336 failures.
if ! "$signpost" dkim verify --help >/dev/null 2>&1; then
  echo "verify_signpost: '$signpost dkim verify --help' fails; the binary cannot run" >&2
  exit 2
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/verify-signpost.XXXXXX") || exit 2
trap 'rm -rf -- "$tmp"' EXIT

all_ok=1
for msg in "$@"; do
  prefix=""
  [[ $with_name -eq 1 ]] && prefix="$msg: "
  if [[ ! -r $msg ]]; then
    echo "${prefix}fail d=? s=? a=? (cannot read the message)"
    all_ok=0; continue
  fi
  "$signpost" dkim verify --record-dir "$records" <"$msg" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [[ $rc -eq 0 ]] || all_ok=0
  passed=0 failed=0
  while IFS= read -r line; do
    if [[ $line =~ ^pass\ (d=[^ ]*\ s=[^ ]*\ a=[^ ]*)$ ]]; then
      echo "${prefix}pass ${BASH_REMATCH[1]}"
      passed=$((passed + 1))
    elif [[ $line =~ ^(fail|permerror|temperror)\ (d=[^ ]*\ s=[^ ]*\ a=[^ ]*)\ (.*)$ ]]; then
      echo "${prefix}fail ${BASH_REMATCH[2]} (${BASH_REMATCH[1]} ${BASH_REMATCH[3]})"
      failed=$((failed + 1))
    elif [[ $line == none:* ]]; then
      echo "${prefix}fail d=? s=? a=? (no DKIM-Signature header field: signpost said '$line')"
      failed=$((failed + 1))
    elif [[ $line == error:* ]]; then
      echo "${prefix}fail d=? s=? a=? (signpost cannot parse the header section: $line)"
      failed=$((failed + 1))
    else
      echo "${prefix}fail d=? s=? a=? (unexpected output from signpost: $line)"
      failed=$((failed + 1))
    fi
  done <"$tmp/out"
  # exit 0 exactly when there were results and all passed (cli_dkim.hpp); anything else,
  # a crash included, is reported as one more failure line for this message
  if [[ $rc -ne 0 && $rc -ne 1 ]] || [[ $((passed + failed)) -eq 0 ]] \
     || [[ $rc -eq 0 && $failed -ne 0 ]] || [[ $rc -eq 1 && $failed -eq 0 ]]; then
    echo "${prefix}fail d=? s=? a=? (signpost exit $rc after $passed pass and $failed other lines: $(head -c 300 "$tmp/err" | tr '\n' ' '))"
    all_ok=0
  fi
done
[[ $all_ok -eq 1 ]]
