#!/usr/bin/env bash
# t45: the client interop matrix (matrix.py): msmtp, curl, swaks, Python's smtplib, s-nail and Go's
# net/smtp submit every kind of message (plain ASCII, a UTF-8 Subject as an encoded word,
# a raw UTF-8 header, an 8-bit body, a binary attachment, a 5,000-character line, LF line
# ends, 10 MB) over STARTTLS + AUTH PLAIN and implicit TLS + AUTH LOGIN; each delivered
# message is well-formed and verifies with dkimpy, OpenDKIM and Mail::DKIM. The table it
# prints is README.md's "Tested clients" (SIGNPOST_INTEROP_TABLE=FILE keeps a copy).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../submission/common.sh"
for c in msmtp curl swaks go s-nail opendkim perl; do
  command -v "$c" > /dev/null || fail "$c is not installed (scripts/install-deps.sh)"
done

# Go builds offline from the standard library only.
export GOCACHE=$WORK/gocache GOPATH=$WORK/gopath GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=off
go build -o "$WORK/gosend" "$(dirname "$0")/gosend.go" || fail "go build gosend"

sub_setup "$WORK/dev"
sub_start
mkdir -p "$WORK/msgs"
RC=0
$PY "$(dirname "$0")/matrix.py" --work "$WORK/msgs" --cert "$CERT" --password "$DEV_PASSWORD" --outbox "$OUTBOX" \
  --records "$RECDIR" --port "$SUBMISSION_PORT" --tls-port "$SUBMISSIONS_PORT" --gosend "$WORK/gosend" \
  --verifiers "$SIGNPOST_SOURCE_DIR/tests/integration/dkim" --table "$WORK/table.md" > "$WORK/matrix.out" 2>&1 || RC=$?
cat "$WORK/matrix.out"
[ -z "${SIGNPOST_INTEROP_TABLE:-}" ] || cp "$WORK/table.md" "$SIGNPOST_INTEROP_TABLE"
[ "$RC" = 0 ] || { tail -n 30 "$LOG"; fail "the client matrix has failing cells (above)"; }
pass "every client delivered every kind of message, verified by three DKIM verifiers"
sub_stop
