#!/usr/bin/env bash
# t45: the client interop matrix (matrix.py): msmtp, curl, swaks, Python's smtplib, Go's
# net/smtp, nodemailer, s-nail and Exim (as a smarthost client) submit every kind of
# message (plain ASCII, a UTF-8 Subject as an encoded word, a raw UTF-8 header, a UTF-8
# recipient, an 8-bit body, a binary attachment, a 5,000-character line, LF line ends,
# 10 MB) over STARTTLS + AUTH PLAIN and implicit TLS + AUTH LOGIN; each delivered message
# is well-formed and verifies with dkimpy, OpenDKIM and Mail::DKIM.
# The table it prints is README.md's "Tested clients" (block interop-clients); the test
# fails when README.md's copy differs, and SIGNPOST_UPDATE_README=1 rewrites it.
# Peers: Exim unpacked into /opt/signpost-peers/exim4 and nodemailer in node/node_modules
# (scripts/install-deps.sh); Exim runs as root with -C, as the Debian-exim user.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../submission/common.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
EXIM=${SIGNPOST_EXIM:-/opt/signpost-peers/exim4/usr/sbin/exim4}
for c in msmtp curl swaks go node s-nail opendkim perl; do
  command -v "$c" > /dev/null || fail "$c is not installed (scripts/install-deps.sh)"
done
[ -x "$EXIM" ] && getent passwd Debian-exim > /dev/null || fail "Exim is not unpacked at $EXIM (scripts/install-deps.sh)"
[ -f "$HERE/node/node_modules/nodemailer/package.json" ] || fail "nodemailer is not installed (scripts/install-deps.sh)"
[ "$(id -u)" = 0 ] || fail "t45 runs Exim, which needs root"

# Go builds offline from the standard library only.
export GOCACHE=$WORK/gocache GOPATH=$WORK/gopath GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=off
go build -o "$WORK/gosend" "$HERE/gosend.go" || fail "go build gosend"

# Exim's spool and log belong to Debian-exim, the user it becomes under -C.
chmod 711 "$WORK"
mkdir -p "$WORK/exim/spool" "$WORK/exim/log"
chown -R Debian-exim: "$WORK/exim"

sub_setup "$WORK/dev"
chmod 755 "$WORK/dev" "$WORK/dev/tls" && chmod 644 "$CERT"   # Exim, as Debian-exim, reads the CA file
sub_start
mkdir -p "$WORK/msgs"
RC=0
$PY "$HERE/matrix.py" --work "$WORK/msgs" --cert "$CERT" --password "$DEV_PASSWORD" --outbox "$OUTBOX" \
  --records "$RECDIR" --port "$SUBMISSION_PORT" --tls-port "$SUBMISSIONS_PORT" --gosend "$WORK/gosend" \
  --nodesend "$HERE/node/nodesend.js" --exim "$EXIM" --exim-dir "$WORK/exim" \
  --verifiers "$SIGNPOST_SOURCE_DIR/tests/integration/dkim" --table "$WORK/table.md" > "$WORK/matrix.out" 2>&1 || RC=$?
cat "$WORK/matrix.out"
[ "$RC" = 0 ] || { tail -n 30 "$LOG"; fail "the client matrix has failing cells (above)"; }
pass "every client delivered every kind of message, verified by three DKIM verifiers"
readme_table interop-clients "$WORK/table.md"
sub_stop
