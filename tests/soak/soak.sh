#!/usr/bin/env bash
# tests/soak/soak.sh — fault-injection soak of Signpost (wrapper of soak.py).
#
#   tests/soak/soak.sh [--minutes N] [--seed S] [--report FILE]
#
# Runs Signpost for N minutes (default 30) under a mixed submission load while faults are
# injected at seeded random times (SIGKILL and restart, a full spool, misbehaving next hops,
# DNS SERVFAIL and timeouts, clock steps, good and bad SIGHUP reloads), then stops the
# faults, lets the queue drain (bounded) and reports: acknowledged, delivered, bounced,
# lost (must be 0), duplicates, resource use, the longest wait beyond the retry schedule.
# The report is printed, and written as Markdown to FILE with --report. Exit 0 when every
# check passes, 1 otherwise. soak.py's header says what is checked and how.
#
# This script does the setup that needs the shell: a dev setup (lib.sh's init_dev, its
# listeners on free ports), a test CA and next-hop certificates (lib.sh's make_test_ca,
# plus one certificate for the test MX names and one for a wrong name), all dated from a
# day ago so that a clock stepped back still finds them valid, and a 64 MB tmpfs for the
# spool (mount -t tmpfs: needs root). It unmounts the tmpfs and removes the work directory
# at exit (SIGNPOST_KEEP_WORK=1 keeps the directory, with the logs).
# Environment: SIGNPOST_BIN (default build/bin/signpost of this checkout), SIGNPOST_SOURCE_DIR.
# Needs: root, /usr/bin/python3 with Debian's python3-dnspython, openssl, libfaketime
# (Debian package faketime, installed by scripts/install-deps.sh).
# Takes the minutes given, plus the drain (seconds; at most 180 s, more after a forward
# clock step) and about 30 s of setup and teardown.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
export SIGNPOST_SOURCE_DIR=${SIGNPOST_SOURCE_DIR:-$(cd "$HERE/../.." && pwd)}
export SIGNPOST_BIN=${SIGNPOST_BIN:-$SIGNPOST_SOURCE_DIR/build/bin/signpost}
export PYTHONDONTWRITEBYTECODE=1  # soak.py imports report.py: no __pycache__ in the source tree

MINUTES=30
SEED=""
REPORT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --report) REPORT=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e 's/^# \{0,1\}//' -e '/^set -euo/d'; exit 0 ;;
    *) echo "usage: soak.sh [--minutes N] [--seed S] [--report FILE]" >&2; exit 2 ;;
  esac
done
[[ "$MINUTES" =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "soak.sh: --minutes wants a number" >&2; exit 2; }
SEED=${SEED:-$((RANDOM * 32768 + RANDOM))}
[ -z "$REPORT" ] || REPORT=$(realpath -m "$REPORT")

source "$SIGNPOST_SOURCE_DIR/tests/integration/lib.sh"

[ "$(id -u)" = 0 ] || fail "the soak mounts a tmpfs for the spool (mount -t tmpfs): run it as root"
[ -x "$SIGNPOST" ] || fail "no signpost binary at $SIGNPOST (build it, or set SIGNPOST_BIN)"
# libfaketimeMT, not libfaketime: with FAKETIME_NO_CACHE=1 the plain library is not
# thread-safe, and a few realtime reads of a multi-threaded process get the true time in
# the middle of a step (8 threads x 200,000 clock_gettime calls under "-90": 800 to 7,000
# unfaked reads with libfaketime.so.1, none with libfaketimeMT.so.1; both from Debian's
# faketime package).
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2> /dev/null | head -1 || true)
[ -n "$FAKETIME_LIB" ] || fail "libfaketimeMT.so.1 not found: apt-get install faketime (scripts/install-deps.sh installs it)"
/usr/bin/python3 -c 'import dns.message' 2> /dev/null || fail "/usr/bin/python3 cannot import dnspython (python3-dnspython)"

# Cleanup, in order: the processes soak.py started (it lists their ids in $WORK/pids;
# it stops them itself unless it dies), the tmpfs, then lib.sh's cleanup (the work dir).
SPOOLFS=$WORK/spoolfs
MOUNTED=0
_soak_cleanup() {
  local pid
  if [ -f "$WORK/pids" ]; then
    while read -r pid; do
      if [ -n "$pid" ] && pid_running "$pid"; then kill -9 "$pid" 2> /dev/null || true; fi
    done < "$WORK/pids"
  fi
  if [ "$MOUNTED" = 1 ]; then
    umount "$SPOOLFS" 2> /dev/null || { sleep 1; umount "$SPOOLFS" 2> /dev/null; } || umount -l "$SPOOLFS" 2> /dev/null \
      || echo "warning: cannot unmount $SPOOLFS" >&2
  fi
  _cleanup
}
trap _soak_cleanup EXIT

echo "soak: $MINUTES minute(s), seed $SEED, work dir $WORK, binary $SIGNPOST"

init_dev "$WORK/dev"

# Certificates dated from a day ago (libfaketime), valid three days.
PKI=$WORK/pki
mkdir -p "$PKI"
LD_PRELOAD=$FAKETIME_LIB FAKETIME=-1d make_test_ca "$PKI"
mx_cert() {  # mx_cert NAME SAN: NAME.pem/NAME.key signed by the test CA
  LD_PRELOAD=$FAKETIME_LIB FAKETIME=-1d openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" \
    -keyout "$PKI/$1.key" -out "$PKI/$1.csr" 2> /dev/null || fail "openssl: $1 key"
  printf 'subjectAltName=%s\n' "$2" > "$PKI/$1.ext"
  LD_PRELOAD=$FAKETIME_LIB FAKETIME=-1d openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.pem" -CAkey "$PKI/ca.key" \
    -CAcreateserial -days 3 -extfile "$PKI/$1.ext" -out "$PKI/$1.pem" 2> /dev/null || fail "openssl: $1 certificate"
}
mx_cert peers "DNS:mx1.ok.test,DNS:mx2.ok.test,DNS:mx.flaky.test,DNS:mx.verify.test,DNS:localhost"
mx_cert wrong "DNS:wrong.invalid"
openssl verify -CAfile "$PKI/ca.pem" -verify_hostname mx.verify.test "$PKI/peers.pem" > /dev/null \
  || fail "the peers' certificate does not verify for mx.verify.test"

mkdir -p "$SPOOLFS"
mount -t tmpfs -o size=64m,mode=0755 tmpfs "$SPOOLFS" || fail "mount -t tmpfs -o size=64m tmpfs $SPOOLFS failed"
MOUNTED=1

rc=0
/usr/bin/python3 "$HERE/soak.py" --work "$WORK" --dev "$WORK/dev" --pki "$PKI" --spool-mount "$SPOOLFS" \
  --signpost "$SIGNPOST" --faketime-lib "$FAKETIME_LIB" --minutes "$MINUTES" --seed "$SEED" \
  ${REPORT:+--report "$REPORT"} || rc=$?
if [ "$rc" != 0 ] && [ "${SIGNPOST_KEEP_WORK:-0}" != 1 ]; then
  echo "soak: failed; rerun with SIGNPOST_KEEP_WORK=1 (and --seed $SEED) to keep the logs"
fi
exit "$rc"
