#!/usr/bin/env bash
# t111: the MX listener's sender checks, in the Authentication-Results field the home
# server gets, against DNS served by a private unbound and an independent evaluation.
#   unbound (zone "example."): good.example publishes SPF (127.0.0.1), a DKIM key and
#   DMARC p=reject; strict.example publishes SPF -all and DMARC p=reject; mta.good.example
#   has SPF for the HELO identity.
#   Signpost: MX listener, [[inbound]] home.example (dmarc = "record", the default) and
#   vault.example (dmarc = "enforce"), both forwarded to one aiosmtpd home server (pinned).
#   A sending MTA is played by Python's smtplib (EHLO mta.good.example, STARTTLS).
# Checked, field by field:
#   1. signed by good.example (dkimpy): spf=pass, dkim=pass header.d=good.example
#      header.s=sel header.b=<first 8 of b=>, dmarc=pass (p=reject dis=none).
#   2. the same with its body changed after signing: dkim=fail (body hash mismatch),
#      dmarc=pass all the same (SPF aligned).
#   3. From news.good.example, signed d=good.example, MAIL FROM at a domain without SPF:
#      spf=none, dkim=pass, dmarc=pass (relaxed alignment through the organizational
#      domain, whose record applies).
#   4. From strict.example, unsigned, MAIL FROM strict.example: spf=fail, dmarc=fail
#      (p=reject dis=reject): delivered with that verdict for home.example (record), refused
#      550 5.7.1 at the end of DATA for vault.example (enforce), which gets nothing.
#   5. the null reverse-path: spf for the HELO name (smtp.helo=mta.good.example).
#   6. A second MX listener with dnsbl = ["bl.example"], where unbound lists 127.0.0.1
#      (1.0.0.127.bl.example A 127.0.0.2): 554 5.7.1 before the greeting.
#   For every delivered message, pyspf (python3-spf) and dkimpy, over the same unbound,
#   give the same SPF and DKIM results as Signpost's field.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../unbound.sh"
source "$(dirname "$0")/common.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
TOOL="$PY $HERE/inbound_mail.py"
"$PY" -c 'import aiosmtpd, dkim, spf, dns.resolver' 2> /dev/null \
  || fail "python3-aiosmtpd, python3-dkim, python3-spf and python3-dnspython are needed (scripts/install-deps.sh)"

# --- DNS ----------------------------------------------------------------------------------
openssl genrsa -traditional -out "$WORK/dkim.key" 2048 2> /dev/null || fail "openssl genrsa"
PUB=$(openssl rsa -in "$WORK/dkim.key" -pubout -outform DER 2> /dev/null | base64 -w0)
unbound_start example
unbound_add_txt good.example "v=spf1 ip4:127.0.0.1 -all"
unbound_add_txt sel._domainkey.good.example "v=DKIM1; k=rsa; p=$PUB"
unbound_add_txt _dmarc.good.example "v=DMARC1; p=reject"
unbound_add_txt mta.good.example "v=spf1 ip4:127.0.0.1 -all"
unbound_add_txt strict.example "v=spf1 -all"
unbound_add_txt _dmarc.strict.example "v=DMARC1; p=reject"
unbound_add_rr "1.0.0.127.bl.example. 300 IN A 127.0.0.2"
unbound_restart
pass "unbound serves good.example, strict.example and mta.good.example on 127.0.0.1@$UNBOUND_PORT"

# --- the home server ------------------------------------------------------------------------
home_setup
home_start

# --- Signpost ---------------------------------------------------------------------------------
DIR=$WORK/dev
init_dev "$DIR"
CFG=$DIR/signpost.toml
MX_PORT=$(free_port)
BL_PORT=$(free_port)
cat >> "$CFG" << CONFIG_END

[[listener]]
address = "127.0.0.1:$MX_PORT"
kind = "mx"

[[listener]]
address = "127.0.0.1:$BL_PORT"
kind = "mx"
dnsbl = ["bl.example"]

[[inbound]]
domain = "home.example"
recipients = ["alice"]
deliver_to = "127.0.0.1:$HOME_PORT"
deliver_fingerprint = "$FP"
greylist = false

[[inbound]]
domain = "vault.example"
recipients = ["bob"]
deliver_to = "127.0.0.1:$HOME_PORT"
deliver_fingerprint = "$FP"
dmarc = "enforce"
greylist = false

[dns]
forwarders = ["127.0.0.1@$UNBOUND_PORT"]
timeout = "3s"
CONFIG_END
LOG=$WORK/serve.log
: > "$LOG"
"$SIGNPOST" serve --config "$CFG" >> "$LOG" 2>&1 &
SPID=$!
track_pid "$SPID"
wait_for_log "$LOG" 'ready'

# message NAME FROM SUBJECT: writes $WORK/NAME.eml
message() {
  printf 'From: %s\r\nTo: alice@home.example\r\nSubject: %s\r\nDate: Sun, 06 Dec 2026 12:00:00 +0000\r\nMessage-ID: <%s@t111>\r\n\r\nHello from t111 (%s).\r\n' \
    "$2" "$3" "$1" "$1" > "$WORK/$1.eml"
}
# signed NAME DOMAIN: DKIM-signs $WORK/NAME.eml in place (dkimpy, s=sel)
signed() {
  $TOOL sign "$WORK/dkim.key" "$2" sel < "$WORK/$1.eml" > "$WORK/$1.signed" || fail "dkimpy could not sign $1"
  mv "$WORK/$1.signed" "$WORK/$1.eml"
}
# send NAME MAIL_FROM RCPT: prints the final reply
send() { $TOOL send "$MX_PORT" mta.good.example "$2" "$3" "$WORK/$1.eml"; }
# received NAME: the home server's copy of message NAME (by its Message-ID), waited for
received() {
  local i f
  for ((i = 0; i < 150; i++)); do
    f=$(grep -l "^Message-ID: <$1@t111>" "$HOME_DIR"/store/*.eml 2> /dev/null | head -n1 || true)
    [ -n "$f" ] && { echo "$f"; return 0; }
    sleep 0.1
  done
  cat "$LOG"; fail "$1 did not reach the home server"
}
# results FILE: Signpost's Authentication-Results field of FILE, unfolded, one line
results() {
  tr -d '\r' < "$1" | awk 'NR == 1 && !/^Authentication-Results: localhost;/ { exit 1 }
    NR > 1 && !/^[ \t]/ { exit } { sub(/^[ \t]+/, " "); printf "%s", $0 } END { print "" }'
}
# check NAME IP MAIL_FROM EXPECTED: the field equals EXPECTED, and pyspf/dkimpy agree on
# the message without our two fields
check() {
  local name=$1 mail_from=$2 want=$3 f got
  f=$(received "$name")
  got=$(results "$f") || { head -c 600 "$f"; fail "$name: no Authentication-Results field first"; }
  [ "$got" = "$want" ] || { echo "got:  $got"; echo "want: $want"; fail "$name: Authentication-Results differ"; }
  # our two fields (Authentication-Results, Received), each with its folded lines
  "$PY" -c 'import sys
lines = open(sys.argv[1], "rb").read().split(b"\r\n")
i, fields = 0, 0
while fields < 2:
    i += 1
    while lines[i][:1] in (b" ", b"\t"):
        i += 1
    fields += 1
sys.stdout.buffer.write(b"\r\n".join(lines[i:]))' "$f" > "$WORK/$name.original" || fail "$name: cannot strip our fields"
  cmp -s "$WORK/$name.original" "$WORK/$name.eml" || { diff <(cat -A "$WORK/$name.original") <(cat -A "$WORK/$name.eml") | head; fail "$name: the message changed on the way"; }
  $TOOL reference "$UNBOUND_PORT" "$WORK/$name.original" 127.0.0.1 "$mail_from" mta.good.example > "$WORK/$name.ref" \
    || fail "$name: the reference evaluation failed"
  grep -qF "spf=$(head -n1 "$WORK/$name.ref" | cut -d= -f2) " <<< "$got" \
    || { cat "$WORK/$name.ref"; fail "$name: pyspf disagrees on SPF"; }
  while read -r res dom; do
    grep -qE "dkim=${res#dkim=}( \([^)]*\))? header\.${dom}" <<< "$got" \
      || { cat "$WORK/$name.ref"; fail "$name: dkimpy disagrees: $res $dom"; }
  done < <(grep '^dkim=' "$WORK/$name.ref")
  pass "$name: $got (pyspf and dkimpy agree)"
}

# --- 1. signed by good.example ----------------------------------------------------------------
message good "Alerts <alerts@good.example>" "good"
signed good good.example
B=$(tr -d '\r\n\t ' < "$WORK/good.eml" | grep -oE 'b=[A-Za-z0-9+/]{8}' | grep -v '^bh' | head -n1 | cut -c3-)
reply=$(send good bounce@good.example alice@home.example)
[[ $reply == 250\ * ]] || fail "good: $reply"
check good bounce@good.example "Authentication-Results: localhost; spf=pass smtp.mailfrom=bounce@good.example; dkim=pass header.d=good.example header.s=sel header.b=$B; dmarc=pass (p=reject dis=none) header.from=good.example"

# --- 2. body changed after signing ------------------------------------------------------------
message tampered "Alerts <alerts@good.example>" "tampered"
signed tampered good.example
sed -i 's/Hello from t111/Hello from someone else/' "$WORK/tampered.eml"
BT=$(tr -d '\r\n\t ' < "$WORK/tampered.eml" | grep -oE ';b=[A-Za-z0-9+/]{8}' | head -n1 | cut -c4-)
reply=$(send tampered bounce@good.example alice@home.example)
[[ $reply == 250\ * ]] || fail "tampered: $reply"
check tampered bounce@good.example "Authentication-Results: localhost; spf=pass smtp.mailfrom=bounce@good.example; dkim=fail (body hash mismatch) header.d=good.example header.s=sel header.b=$BT; dmarc=pass (p=reject dis=none) header.from=good.example"

# --- 3. a subdomain's From, signed by the parent ------------------------------------------------
message news "News <news@news.good.example>" "news"
signed news good.example
BN=$(tr -d '\r\n\t ' < "$WORK/news.eml" | grep -oE ';b=[A-Za-z0-9+/]{8}' | head -n1 | cut -c4-)
reply=$(send news list@lists.other.example alice@home.example)
[[ $reply == 250\ * ]] || fail "news: $reply"
check news list@lists.other.example "Authentication-Results: localhost; spf=none smtp.mailfrom=list@lists.other.example; dkim=pass header.d=good.example header.s=sel header.b=$BN; dmarc=pass (p=reject dis=none) header.from=news.good.example"

# --- 4. a forged strict.example From: recorded for home.example, refused for vault.example -------
message forged "CEO <ceo@strict.example>" "forged"
reply=$(send forged ceo@strict.example alice@home.example)
[[ $reply == 250\ * ]] || fail "forged -> home.example: $reply"
check forged ceo@strict.example "Authentication-Results: localhost; spf=fail smtp.mailfrom=ceo@strict.example; dkim=none; dmarc=fail (p=reject dis=reject; no aligned SPF or DKIM pass) header.from=strict.example"
message forged2 "CEO <ceo@strict.example>" "forged again"
reply=$(send forged2 ceo@strict.example bob@vault.example)
[[ $reply == "550 5.7.1 Message refused: the DMARC policy of strict.example (p=reject) and no aligned SPF or DKIM pass" ]] \
  || fail "forged -> vault.example (enforce): want 550 5.7.1, got: $reply"
sleep 0.5
if grep -l "^Message-ID: <forged2@t111>" "$HOME_DIR"/store/*.eml > /dev/null 2>&1; then fail "the refused message reached the home server"; fi
grep -qF "message refused: DMARC policy of strict.example (p=reject)" "$LOG" || { cat "$LOG"; fail "no log line for the DMARC refusal"; }
pass "forged strict.example From to vault.example (dmarc = enforce): 550 5.7.1 at the end of DATA, nothing forwarded"

# --- 5. the null reverse-path: SPF for the HELO name --------------------------------------------
message bounce "Mail Delivery System <MAILER-DAEMON@mta.good.example>" "bounce"
reply=$(send bounce "" alice@home.example)
[[ $reply == 250\ * ]] || fail "bounce: $reply"
check bounce "" "Authentication-Results: localhost; spf=pass smtp.helo=mta.good.example; dkim=none; dmarc=pass (p=reject dis=none) header.from=mta.good.example"

# --- 6. a client listed by a DNSBL ------------------------------------------------------------
"$PY" - "$BL_PORT" << 'PYEOF' || fail "the DNSBL-listed client was not refused"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
want = b"554 5.7.1 Service unavailable; client [127.0.0.1] is listed by bl.example\r\n"
if data != want:
    sys.exit("got %r, want %r" % (data, want))
PYEOF
grep -qF "refused [127.0.0.1]: listed by bl.example" "$LOG" || fail "no log line for the DNSBL refusal"
pass "a client listed by bl.example: 554 5.7.1 before the greeting, then disconnected"

kill -TERM "$SPID"
wait_exit "$SPID" 15
[ "$EXIT_CODE" = 0 ] || { cat "$LOG"; fail "serve exited $EXIT_CODE on SIGTERM"; }
pass "stopped cleanly"
