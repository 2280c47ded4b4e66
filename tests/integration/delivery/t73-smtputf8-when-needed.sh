#!/usr/bin/env bash
# t73: SMTPUTF8 is asked of the next hop only for mail that needs it. The smarthost is the
# aiosmtpd sink started without SMTPUTF8 (--no-smtputf8). Python's smtplib submits, with
# "MAIL FROM:<...> SMTPUTF8 BODY=8BITMIME" on every message, as Go's net/smtp does:
#   1. a pure-ASCII message: delivered (MAIL FROM without SMTPUTF8), its Received field
#      says UTF8SMTPSA (RFC 6531 §3.7.4), both signatures verify with dkimpy;
#   2. a message with a raw UTF-8 Subject (RFC 6532): accepted (250), then not delivered
#      but returned to its sender with a DSN of status 5.6.7 that says Signpost decided
#      (Diagnostic-Code: X-Signpost, no Remote-MTA), in the RFC 6533 form
#      (message/global-delivery-status, the original header returned intact), and
#      DKIM-signed, since the relay's host name is under a signing domain
#      (hostname relay.example.test, example.test with sign_subdomains); dkimpy verifies it;
#   3. without the SMTPUTF8 parameter, the same 8-bit header is legacy 8-bit mail and is
#      delivered as it came.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../submission/common.sh"

make_test_ca "$WORK"
SINK_PORT=$(free_port)
start_sink "$SINK_PORT" "$WORK" --store "$WORK/store" --no-smtputf8
sub_setup "$WORK/dev"
use_smarthost "$CFG" "$SINK_PORT" "$WORK/ca.pem"
sed -i 's/^hostname = "localhost"$/hostname = "relay.example.test"/; s/^name = "example.test"$/name = "example.test"\nsign_subdomains = true/' "$CFG"
grep -q '^sign_subdomains = true' "$CFG" || fail "could not edit $CFG"
sub_start

RC=0
timeout 60 $PY - "$SUBMISSION_PORT" "$CERT" "$DEV_PASSWORD" > "$WORK/client.log" 2>&1 << 'PY' || RC=$?
import smtplib, ssl, sys
port, cert, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def send(label, subject, options):
    s = smtplib.SMTP("127.0.0.1", port, timeout=20)
    s.starttls(context=ssl.create_default_context(cafile=cert))
    s.login("dev", password)
    msg = ("From: alice@example.test\r\nTo: bob@example.org\r\nSubject: " + subject +
           "\r\nMessage-ID: <" + label + "@t73.example.test>\r\n\r\nbody of " + label + "\r\n").encode("utf-8")
    refused = s.sendmail("alice@example.test", ["bob@example.org"], msg, mail_options=options)
    print(label, "accepted", refused)
    s.quit()
send("ascii", "plain ASCII", ["SMTPUTF8", "BODY=8BITMIME"])
send("utf8", "gr\u00fc\u00dfe aus K\u00f6ln", ["SMTPUTF8", "BODY=8BITMIME"])
send("legacy", "gr\u00fc\u00dfe aus K\u00f6ln", ["BODY=8BITMIME"])
PY
[ "$RC" = 0 ] || { cat "$WORK/client.log" "$LOG"; fail "submission failed ($RC)"; }
[ "$(grep -c ' accepted {}' "$WORK/client.log")" = 3 ] || { cat "$WORK/client.log"; fail "want 3 messages accepted"; }

# stored LABEL: the sink's file whose own Message-ID (not one quoted in a DSN) is <LABEL@t73.example.test>
stored() {
  local f
  for f in "$WORK"/store/*.eml; do
    [ -e "$f" ] || continue
    header_fields "$f" Message-ID | grep -qi "<$1@t73.example.test>" && { echo "$f"; return 0; }
  done
  return 0
}
dsn_for_utf8() {
  local f
  for f in "$WORK"/store/*.eml; do
    if [ -e "$f" ] && grep -q '^Status: 5\.6\.7' "$f"; then echo "$f"; return 0; fi
  done
}
for ((i = 0; i < 150; i++)); do
  [ -n "$(stored ascii)" ] && [ -n "$(stored legacy)" ] && [ -n "$(dsn_for_utf8)" ] && break
  sleep 0.1
done

f=$(stored ascii)
[ -n "$f" ] || { cat "$LOG" "$WORK/sink.log"; fail "1: the ASCII message sent with SMTPUTF8 did not reach the smarthost"; }
received=$(header_fields "$f" Received)
[[ ${received%%$'\n'*} == *" with UTF8SMTPSA id "* ]] || { head -n 12 "$f"; fail "1: Received does not say UTF8SMTPSA"; }
$PY "$DKIMPY_VERIFY" "$RECDIR" "$f" > "$WORK/verify.txt" 2>&1 || { cat "$WORK/verify.txt"; fail "1: dkimpy does not verify"; }
pass "1: ASCII mail with the SMTPUTF8 flag goes through a hop without SMTPUTF8, Received says UTF8SMTPSA, signatures verify"

[ -z "$(stored utf8)" ] || fail "2: the message that needs SMTPUTF8 was delivered to a hop without it"
d=$(dsn_for_utf8)
[ -n "$d" ] || { cat "$LOG"; ls "$WORK/store"; fail "2: no DSN with Status 5.6.7"; }
grep -q '^To: <\?alice@example.test>\?' "$d" || { head -n 20 "$d"; fail "2: the DSN is not for the sender"; }
grep -qi 'needs SMTPUTF8' "$d" || { cat "$d"; fail "2: the DSN does not say why"; }
grep -q '^Diagnostic-Code: X-Signpost; 5\.6\.7' "$d" || { cat "$d"; fail "2: the diagnostic is not marked as Signpost's own"; }
grep -q '^Remote-MTA:' "$d" && { cat "$d"; fail "2: the DSN names a Remote-MTA for Signpost's own decision"; }
grep -q 'Signpost did not deliver it:' "$d" || { cat "$d"; fail "2: the text does not say Signpost decided"; }
grep -q '^Content-Type: message/global-delivery-status' "$d" || { cat "$d"; fail "2: not the RFC 6533 form"; }
grep -q $'^Subject: gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln' "$d" || { cat "$d"; fail "2: the original header is not returned intact"; }
grep -q '^From: "Mail Delivery System" <MAILER-DAEMON@relay.example.test>' "$d" || { head -n 20 "$d"; fail "2: DSN From"; }
$PY "$DKIMPY_VERIFY" "$RECDIR" "$d" > "$WORK/verify-dsn.txt" 2>&1 || { cat "$WORK/verify-dsn.txt"; head -n 30 "$d"; fail "2: the DSN's signatures do not verify"; }
[ "$(grep -c '^pass d=example.test' "$WORK/verify-dsn.txt")" = 2 ] || { cat "$WORK/verify-dsn.txt"; fail "2: want 2 signatures on the DSN"; }
pass "2: a UTF-8 header with SMTPUTF8 is returned with a 5.6.7 DSN (Signpost's decision, RFC 6533 form, header intact, DKIM-signed), not sent"

f=$(stored legacy)
[ -n "$f" ] || { cat "$LOG"; fail "3: the legacy 8-bit message was not delivered"; }
grep -q $'^Subject: gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln' "$f" || { head -n 12 "$f"; fail "3: the 8-bit Subject did not arrive as sent"; }
pass "3: without SMTPUTF8 the 8-bit header is delivered as it came"
sub_stop
