# tests/integration/submission/common.sh — helpers shared by the submission scenarios
# (sourced after ../lib.sh).
#
# The dev setup delivers in capture mode: an accepted message leaves the spool within
# milliseconds and lands in OUTBOX as <id>.eml (Signpost's added fields + the message, as
# it would go out) and <id>.envelope ("MAIL FROM:<addr>[ BODY=8BITMIME][ SMTPUTF8]", then
# one "RCPT TO:<addr>" line per recipient). Accepted messages are checked there.
#
#   sub_setup DIR       a dev setup (init_dev) in DIR; sets CFG, CERT, OUTBOX (the capture
#                       directory, DIR/outbox), RECDIR (the TXT records `keys dns` prints,
#                       one <name>.txt file each) and LOG
#   sub_start / sub_stop
#                       serve in the background (tracked) / SIGTERM and expect exit 0
#   queued_id FILE      the ID from the "250 2.0.0 Ok: queued as ID" line in a transcript
#   wait_delivered ID LABEL [SECONDS]
#                       waits (default 10 s) for OUTBOX/ID.eml and OUTBOX/ID.envelope;
#                       fails with the daemon log when they do not appear
#   envelope_rcpts ID   the RCPT TO addresses of OUTBOX/ID.envelope, one a line
#   check_queued ID LABEL [RCPT...]
#                       ID was accepted and delivered to OUTBOX (wait_delivered), its
#                       envelope has a MAIL FROM line and exactly these RCPT TO recipients
#                       (in any order, when given; at least one otherwise); ID.eml is copied
#                       to $WORK/ID.eml, which must carry two DKIM-Signature fields
#                       (ed25519-sha256 and rsa-sha256, d=example.test) that verify with
#                       Signpost and with dkimpy
#   header_fields FILE NAME
#                       every NAME field of FILE's header section, unfolded, one a line
#   body_of FILE        the bytes after the first empty line
PY=/usr/bin/python3
SUB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DKIMPY_VERIFY=$SUB_DIR/../dkim/verify_dkimpy.py

$PY -c 'import dkim, nacl.signing' 2> /dev/null || fail "dkimpy/pynacl do not import under $PY"

sub_setup() {
  local dir=$1
  init_dev "$dir"
  CFG=$dir/signpost.toml
  CERT=$dir/tls/cert.pem
  OUTBOX=$dir/outbox
  LOG=$WORK/serve.log
  RECDIR=$WORK/records
  mkdir -p "$RECDIR"
  "$SIGNPOST" keys dns --config "$CFG" > "$WORK/keys-dns.out" || fail "keys dns failed"
  awk -v dir="$RECDIR" '/^ *name:/{n=$2} /^ *value:/{sub(/^ *value: /, ""); print > (dir "/" n ".txt")}' \
    "$WORK/keys-dns.out"
  [ "$(ls "$RECDIR" | wc -l)" = 2 ] || { cat "$WORK/keys-dns.out"; fail "keys dns did not give two records"; }
}

sub_start() {
  : > "$LOG"
  "$SIGNPOST" serve --config "$CFG" >> "$LOG" 2>&1 &
  SPID=$!
  track_pid "$SPID"
  wait_for_log "$LOG" 'ready'
}

sub_stop() {
  kill -TERM "$SPID"
  wait_exit "$SPID" 10
  [ "$EXIT_CODE" = 0 ] || { cat "$LOG"; fail "serve exited $EXIT_CODE on SIGTERM"; }
}

queued_id() {
  local id
  id=$(tr -d '\r' < "$1" | grep -oE '250 2\.0\.0 Ok: queued as [A-Za-z0-9]+' | awk '{print $NF}' | tail -n1)
  [ -n "$id" ] || { cat "$1"; fail "no '250 2.0.0 Ok: queued as ID' reply in $1"; }
  echo "$id"
}

header_fields() {
  tr -d '\r' < "$1" | awk -v want="$(echo "$2" | tr 'A-Z' 'a-z')" '
    /^$/ { exit }
    /^[ \t]/ { if (cur != "") { sub(/^[ \t]+/, " "); cur = cur $0 }; next }
    { if (cur != "") print cur; cur = "" }
    tolower(substr($0, 1, length(want) + 1)) == want ":" { cur = $0 }
    END { if (cur != "") print cur }'
}

body_of() {
  $PY -c 'import sys; m = open(sys.argv[1], "rb").read(); sys.stdout.buffer.write(m.split(b"\r\n\r\n", 1)[1])' "$1"
}

wait_delivered() {
  local id=$1 label=$2 limit=${3:-10} i
  for ((i = 0; i < limit * 10; i++)); do
    # capture writes <id>.envelope before <id>.eml, each by an atomic rename
    [ -f "$OUTBOX/$id.eml" ] && [ -f "$OUTBOX/$id.envelope" ] && return 0
    sleep 0.1
  done
  echo "--- $LOG:"; cat "$LOG" 2> /dev/null || true
  echo "--- $OUTBOX:"; ls -la "$OUTBOX" 2> /dev/null || true
  fail "$label: $id.eml/$id.envelope did not appear in $OUTBOX within ${limit}s"
}

envelope_rcpts() {
  sed -n 's/^RCPT TO:<\(.*\)>$/\1/p' "$OUTBOX/$1.envelope"
}

check_queued() {
  local id=$1 label=$2 rc
  shift 2
  wait_delivered "$id" "$label"
  grep -qE '^MAIL FROM:<[^>]*>( .*)?$' "$OUTBOX/$id.envelope" \
    || { cat "$OUTBOX/$id.envelope"; fail "$label: $id.envelope has no MAIL FROM line"; }
  envelope_rcpts "$id" > "$WORK/$id.rcpts"
  [ "$(grep -cvE '^(MAIL FROM|RCPT TO):<[^>]*>' "$OUTBOX/$id.envelope")" = 0 ] \
    || { cat "$OUTBOX/$id.envelope"; fail "$label: $id.envelope has unexpected lines"; }
  if [ "$#" -gt 0 ]; then
    [ "$(sort < "$WORK/$id.rcpts")" = "$(printf '%s\n' "$@" | sort)" ] \
      || { cat "$OUTBOX/$id.envelope"; fail "$label: $id was delivered to $(tr '\n' ' ' < "$WORK/$id.rcpts"), want $*"; }
  else
    [ -s "$WORK/$id.rcpts" ] || { cat "$OUTBOX/$id.envelope"; fail "$label: $id.envelope has no RCPT TO line"; }
  fi
  local eml=$WORK/$id.eml
  cp "$OUTBOX/$id.eml" "$eml" || fail "$label: cannot copy $OUTBOX/$id.eml"
  header_fields "$eml" DKIM-Signature | tr -d ' \t' > "$WORK/$id.sigs"
  [ "$(wc -l < "$WORK/$id.sigs")" = 2 ] || { cat "$eml"; fail "$label: want two DKIM-Signature fields"; }
  grep -q 'a=ed25519-sha256;' "$WORK/$id.sigs" && grep -q 'a=rsa-sha256;' "$WORK/$id.sigs" \
    || { cat "$WORK/$id.sigs"; fail "$label: want one ed25519-sha256 and one rsa-sha256 signature"; }
  [ "$(grep -c 'd=example\.test;' "$WORK/$id.sigs")" = 2 ] || fail "$label: a signature is not d=example.test"
  rc=0
  "$SIGNPOST" dkim verify --record-dir "$RECDIR" < "$eml" > "$WORK/$id.sp-verify" 2>&1 || rc=$?
  [ "$rc" = 0 ] && [ "$(grep -c '^pass ' "$WORK/$id.sp-verify")" = 2 ] \
    || { cat "$WORK/$id.sp-verify"; fail "$label: signpost dkim verify exit $rc"; }
  rc=0
  $PY "$DKIMPY_VERIFY" "$RECDIR" "$eml" > "$WORK/$id.py-verify" 2>&1 || rc=$?
  [ "$rc" = 0 ] && [ "$(grep -c '^pass ' "$WORK/$id.py-verify")" = 2 ] \
    || { cat "$WORK/$id.py-verify"; fail "$label: dkimpy verify exit $rc"; }
  pass "$label: queued as $id, delivered to the outbox, dual-signed d=example.test, verifies with signpost and dkimpy"
}
