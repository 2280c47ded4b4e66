#!/usr/bin/env bash
# t40: swaks as the submission client. Every accepted message must get
# "250 2.0.0 Ok: queued as ID" and be delivered (the dev setup captures to outbox/ID.eml and
# outbox/ID.envelope) to its recipients with two DKIM-Signature fields (ed25519-sha256 and rsa-sha256, d=example.test) that
# verify with Signpost and with dkimpy.
#   a. STARTTLS + AUTH PLAIN            b. STARTTLS + AUTH LOGIN
#   c. implicit TLS + AUTH PLAIN        d. PIPELINING with three recipients
#   f. an 8-bit UTF-8 body with BODY=8BITMIME (the body arrives byte for byte; the delivered
#      envelope's MAIL FROM carries BODY=8BITMIME)
#   g. no Date and no Message-ID: Signpost adds both, and signs them
#   h. Received names the client (EHLO name and [127.0.0.1]); after a restart with
#      `[server] received_client = false` it names neither
# (e. BDAT: Debian's swaks 20201014 has no BDAT/CHUNKING option; t41 drives BDAT with raw
# commands over TLS.)
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

command -v swaks > /dev/null || fail "swaks is not installed (scripts/install-deps.sh)"

sub_setup "$WORK/dev"
sub_start

# sw NAME ARGS...: swaks with the common options, transcript in $WORK/NAME.txt; the queue
# ID of the accepted message in $ID.
sw() {
  local name=$1 rc=0
  shift
  timeout 30 swaks --from dev@example.test --ehlo client.test \
    --tls-verify --tls-ca-path "$CERT" --auth-user dev --auth-password "$DEV_PASSWORD" \
    --timeout 10 "$@" > "$WORK/$name.txt" 2>&1 || rc=$?
  [ "$rc" = 0 ] || { cat "$WORK/$name.txt"; echo "--- daemon log:"; cat "$LOG"; fail "$name: swaks exited $rc"; }
  ID=$(queued_id "$WORK/$name.txt")
}
starttls=(--server "127.0.0.1:$SUBMISSION_PORT" --tls)
implicit=(--server "127.0.0.1:$SUBMISSIONS_PORT" --tls-on-connect)

# a. STARTTLS + AUTH PLAIN
sw a-plain "${starttls[@]}" --auth PLAIN --to alice@example.org
grep -q '^ -> STARTTLS' "$WORK/a-plain.txt" || fail "a: STARTTLS was not used"
grep -q '^ ~> AUTH PLAIN ' "$WORK/a-plain.txt" || fail "a: AUTH PLAIN was not sent inside TLS"
check_queued "$ID" "a. STARTTLS + AUTH PLAIN" alice@example.org

# b. STARTTLS + AUTH LOGIN
sw b-login "${starttls[@]}" --auth LOGIN --to bob@example.org
grep -q '^ ~> AUTH LOGIN' "$WORK/b-login.txt" || fail "b: AUTH LOGIN was not sent inside TLS"
grep -q '^<~  235 ' "$WORK/b-login.txt" || fail "b: AUTH LOGIN did not succeed"
check_queued "$ID" "b. STARTTLS + AUTH LOGIN" bob@example.org

# c. implicit TLS + AUTH PLAIN
sw c-implicit "${implicit[@]}" --auth PLAIN --to carol@example.org
grep -q '^ -> STARTTLS' "$WORK/c-implicit.txt" && fail "c: STARTTLS on the implicit TLS port"
grep -q '^<~  220 ' "$WORK/c-implicit.txt" || fail "c: the greeting did not come over TLS"
check_queued "$ID" "c. implicit TLS + AUTH PLAIN" carol@example.org
header_fields "$WORK/$ID.eml" Received | head -n1 | grep -q 'with ESMTPSA id ' \
  || fail "c: Received does not say ESMTPSA"

# d. PIPELINING: MAIL, three RCPTs and DATA go out before the first reply to MAIL is read
sw d-pipeline "${starttls[@]}" --auth PLAIN --pipeline --to r1@example.org,r2@example.net,r3@example.com
grep -q '^<~  250-PIPELINING' "$WORK/d-pipeline.txt" || fail "d: PIPELINING not offered after STARTTLS"
grep -qi 'does not support PIPELINING' "$WORK/d-pipeline.txt" && fail "d: swaks did not pipeline"
awk '/^ ~> MAIL FROM/{m=NR} /^ ~> RCPT TO/{r++; lr=NR} /^ ~> DATA/{d=NR} /^<~  250 2\.1\.0/{a=NR}
     END{exit !(r == 3 && m < lr && lr < d && d < a)}' "$WORK/d-pipeline.txt" \
  || { cat "$WORK/d-pipeline.txt"; fail "d: MAIL/RCPT/RCPT/RCPT/DATA were not sent as one group"; }
[ "$(grep -c '^<~  250 2\.1\.5' "$WORK/d-pipeline.txt")" = 3 ] || fail "d: not three recipients accepted"
check_queued "$ID" "d. PIPELINING, three recipients" r1@example.org r2@example.net r3@example.com

# f. 8-bit UTF-8 body with BODY=8BITMIME. Debian's swaks cannot add MAIL parameters; its
# MAIL command is "MAIL FROM:<$from>", so the sender "dev@example.test> BODY=8BITMIME AUTH=<"
# puts BODY=8BITMIME and a harmless AUTH=<> (RFC 4954 §5) on the wire. The From field is
# set explicitly.
printf 'Grüße aus Köln — “quotes”, ½ € ✓\n日本語のテキスト\nÅngström\n' > "$WORK/body8.txt"
sw f-8bit "${starttls[@]}" --auth PLAIN --to dave@example.org \
  --from 'dev@example.test> BODY=8BITMIME AUTH=<' --header 'From: Dev <dev@example.test>' \
  --header 'Subject: 8bit body' --add-header 'MIME-Version: 1.0' \
  --add-header 'Content-Type: text/plain; charset=utf-8' --add-header 'Content-Transfer-Encoding: 8bit' \
  --body "@$WORK/body8.txt"
grep -q '^ ~> MAIL FROM:<dev@example.test> BODY=8BITMIME AUTH=<>$' "$WORK/f-8bit.txt" \
  || fail "f: MAIL FROM did not carry BODY=8BITMIME"
grep -q '^<~  250-8BITMIME' "$WORK/f-8bit.txt" || fail "f: 8BITMIME not offered"
check_queued "$ID" "f. 8-bit UTF-8 body, BODY=8BITMIME" dave@example.org
body_of "$WORK/$ID.eml" | tr -d '\r' > "$WORK/f.body"
grep -qF "$(head -n1 "$WORK/body8.txt")" "$WORK/f.body" && grep -qF '日本語のテキスト' "$WORK/f.body" \
  && grep -qF 'Ångström' "$WORK/f.body" || { od -c "$WORK/f.body" | head; fail "f: the 8-bit body was not delivered byte for byte"; }
grep -qE '^MAIL FROM:<dev@example\.test>( [^ ]+)* BODY=8BITMIME( |$)' "$OUTBOX/$ID.envelope" \
  || { cat "$OUTBOX/$ID.envelope"; fail "f: the delivered envelope's MAIL FROM does not carry BODY=8BITMIME"; }
pass "f. the UTF-8 body is delivered byte for byte and the envelope keeps 8BITMIME"

# g. no Date, no Message-ID: Signpost adds both (RFC 6409 §8.1, §8.3) and they are signed
printf 'From: dev@example.test\nTo: erin@example.org\nSubject: no date, no message-id\n\nbare message\n' \
  > "$WORK/bare.eml"
sw g-bare "${starttls[@]}" --auth PLAIN --to erin@example.org --data "@$WORK/bare.eml"
grep -qi '^ ~> \(Date\|Message-Id\):' "$WORK/g-bare.txt" && fail "g: swaks sent a Date or Message-ID field"
check_queued "$ID" "g. message without Date and Message-ID" erin@example.org
[ "$(header_fields "$WORK/$ID.eml" Date | wc -l)" = 1 ] || fail "g: want exactly one Date field"
[ "$(header_fields "$WORK/$ID.eml" Message-ID | wc -l)" = 1 ] || fail "g: want exactly one Message-ID field"
msgid=$(header_fields "$WORK/$ID.eml" Message-ID)
[[ $msgid =~ ^Message-ID:\ \<[^@\ ]+@[^@\ ]+\>$ ]] || fail "g: Message-ID '$msgid' is not <left@right>"
$PY - "$(header_fields "$WORK/$ID.eml" Date)" << 'PY' || fail "g: the added Date is not a current RFC 5322 date"
import sys, time, email.utils
value = sys.argv[1].split(":", 1)[1].strip()
t = email.utils.parsedate_to_datetime(value).timestamp()
sys.exit(0 if abs(t - time.time()) < 300 else "date %s is not now" % value)
PY
grep -q 'h=[^;]*date:' "$WORK/$ID.sigs" && grep -q 'h=[^;]*message-id:' "$WORK/$ID.sigs" \
  || fail "g: the added Date/Message-ID are not in h="
pass "g. Date and $msgid added, signed, and verified"

# h. Received names the client by default ...
sw h-received "${starttls[@]}" --auth PLAIN --to frank@example.org
check_queued "$ID" "h. Received with the client"
rcvd=$(header_fields "$WORK/$ID.eml" Received)
[ "$(echo "$rcvd" | wc -l)" = 1 ] || { echo "$rcvd"; fail "h: want one Received field"; }
[[ $rcvd == "Received: from client.test ([127.0.0.1]) by "*" with ESMTPSA id $ID "*";"* ]] \
  || fail "h: Received '$rcvd' does not name client.test [127.0.0.1] and the queue ID"
pass "h. Received: $rcvd"

# ... and neither its name nor its address with received_client = false
sub_stop
sed -i 's|^\[server\]$|[server]\nreceived_client = false|' "$CFG"
grep -q '^received_client = false$' "$CFG" || fail "h: could not set received_client"
"$SIGNPOST" check-config --config "$CFG" > /dev/null || fail "h: config with received_client = false does not load"
sub_start
sw h-anon "${starttls[@]}" --auth PLAIN --to grace@example.org
check_queued "$ID" "h. Received without the client" grace@example.org
rcvd=$(header_fields "$WORK/$ID.eml" Received)
[ "$(echo "$rcvd" | wc -l)" = 1 ] || { echo "$rcvd"; fail "h: want one Received field"; }
[[ $rcvd == "Received: by "*" with ESMTPSA id $ID;"* ]] || fail "h: Received '$rcvd' is not 'by ... id $ID'"
tr -d '\r' < "$WORK/$ID.eml" | sed '/^$/q' > "$WORK/h-anon.header"
grep -qF '127.0.0.1' "$WORK/h-anon.header" && { cat "$WORK/h-anon.header"; fail "h: the header still has 127.0.0.1"; }
grep -qF 'client.test' "$WORK/h-anon.header" && fail "h: the header still names client.test"
pass "h. with received_client = false: $rcvd"

# Every message above was delivered to the outbox, and the daemon stops cleanly.
[ "$(ls "$OUTBOX" | grep -c '\.eml$')" = 8 ] || { ls -la "$OUTBOX"; fail "want 8 messages in the outbox"; }
sub_stop
pass "daemon stopped cleanly"
