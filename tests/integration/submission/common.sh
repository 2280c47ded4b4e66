# tests/integration/submission/common.sh — helpers shared by the submission scenarios
# (sourced after ../lib.sh).
#
#   sub_setup DIR       a dev setup (init_dev) in DIR; sets CFG, CERT, RECDIR (the TXT
#                       records `keys dns` prints, one <name>.txt file each) and LOG
#   sub_start / sub_stop
#                       serve in the background (tracked) / SIGTERM and expect exit 0
#   queued_id FILE      the ID from the "250 2.0.0 Ok: queued as ID" line in a transcript
#   check_queued ID LABEL [RCPT...]
#                       ID is in `queue list --json` (with exactly these recipients, in any
#                       order, when given); `queue cat` writes $WORK/ID.eml, which must carry two
#                       DKIM-Signature fields (ed25519-sha256 and rsa-sha256, d=example.test)
#                       that verify with Signpost and with dkimpy
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

check_queued() {
  local id=$1 label=$2 rc
  shift 2
  "$SIGNPOST" queue list --config "$CFG" --json > "$WORK/list.json" || fail "$label: queue list failed"
  $PY - "$WORK/list.json" "$id" "$@" << 'PY' || fail "$label: $id is not in queue list as expected"
import json, sys
entries = {e["id"]: e for e in json.load(open(sys.argv[1]))}
want_id, want_rcpt = sys.argv[2], sys.argv[3:]
if want_id not in entries:
    sys.exit("queue list has %s, not %s" % (sorted(entries), want_id))
if want_rcpt and sorted(entries[want_id]["rcpt"]) != sorted(want_rcpt):
    sys.exit("recipients %s, want %s" % (entries[want_id]["rcpt"], want_rcpt))
PY
  [ -f "$(dirname "$CFG")/spool/queue/$id.msg" ] && [ -f "$(dirname "$CFG")/spool/queue/$id.env" ] \
    || fail "$label: $id.msg/$id.env are not in spool/queue"
  local eml=$WORK/$id.eml
  "$SIGNPOST" queue cat --config "$CFG" "$id" > "$eml" || fail "$label: queue cat $id failed"
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
  pass "$label: queued as $id, dual-signed d=example.test, verifies with signpost and dkimpy"
}
