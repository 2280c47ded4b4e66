#!/usr/bin/env bash
# t70-smarthost-aiosmtpd — SmarthostDeliverer (through the smarthost_deliver driver)
# against aiosmtpd (tests/integration/lib/smtp_sink.py) on 127.0.0.1 with STARTTLS and a
# test CA made here:
#   1. STARTTLS + AUTH PLAIN (the sink refuses MAIL before both): a 300 KB message with
#      dot-leading lines arrives byte-exact as prepend + the first `size` octets (the file
#      has a trailer after `size`); 550 for one recipient is permanent for it, 451 for
#      another temporary, the rest delivered; the certificate is checked against
#      "localhost" and, in a second run, against the IP SAN 127.0.0.1.
#   2. A wrong password: 535 kept, temporary for every recipient, nothing stored.
#   3. A certificate from a CA we do not trust: temporary 4.7.5, nothing stored.
# Usage: t70-smarthost-aiosmtpd.sh PATH/TO/smarthost_deliver
set -euo pipefail

DRIVER=${1:?usage: t70-smarthost-aiosmtpd.sh PATH/TO/smarthost_deliver}
source "${SIGNPOST_SOURCE_DIR:?}/tests/integration/lib.sh"
PY=/usr/bin/python3   # STYLE.md: Debian's python3 has aiosmtpd; the one on PATH may not
SINK_PY="$SIGNPOST_SOURCE_DIR/tests/integration/lib/smtp_sink.py"
[ -x "$DRIVER" ] || fail "driver not executable: $DRIVER"
"$PY" -c 'import aiosmtpd' 2>/dev/null || fail "python3-aiosmtpd is not installed (scripts/install-deps.sh)"

# --- a test CA and the sink's certificate (localhost, 127.0.0.1); a second, untrusted CA
cd "$WORK"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=t70 test CA" -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout sink.key -out sink.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
openssl x509 -req -in sink.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext \
  -out sink.pem 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=t70 other CA" -keyout other.key -out other-ca.pem 2>/dev/null

printf 'bob:pa55:word\n' > creds && chmod 600 creds
printf 'bob:wrong\n' > bad-creds && chmod 600 bad-creds

# --- the message: 300 KB with dot-leading lines, a trailer after `size`
"$PY" - msg.eml <<'PYEOF'
import sys
lines = [b"From: alice@example.test", b"To: bob@example.org", b"Subject: t70",
         b"Message-ID: <t70-1@example.test>", b""]
for i in range(6000):
    lines.append(b"." * (i % 3) + b"line %d of the t70 message, some padding to make it longer" % i)
lines.append(b".")
lines.append(b"last line")
open(sys.argv[1], "wb").write(b"\r\n".join(lines) + b"\r\n")
PYEOF
SIZE=$(stat -c %s msg.eml)
printf 'TRAILER-NEVER-SENT\r\n.\r\nQUIT\r\n' >> msg.eml
printf 'DKIM-Signature: v=1; a=ed25519-sha256; d=example.test; s=t70;\r\n\tb=abc\r\nReceived: by t70\r\n' > prepend.txt
{ cat prepend.txt; head -c "$SIZE" msg.eml; } > expected.eml
[ "$SIZE" -gt 300000 ] || fail "the test message is only $SIZE octets"

# start_sink NAME ARGS...: a sink in $WORK/NAME (store, log); sets SINK_PORT.
start_sink() {
  local name=$1
  shift
  mkdir -p "$name"
  SINK_PORT=$(free_port)
  "$PY" "$SINK_PY" --port "$SINK_PORT" --store "$name/store" --log "$name/sink.log" "$@" > "$name/sink.out" 2>&1 &
  track_pid $!
  wait_for_log "$name/sink.out" "^READY $SINK_PORT\$" 20
}

# deliver OUT ARGS...: runs the driver, result lines in OUT.
deliver() {
  local out=$1
  shift
  "$DRIVER" --port "$SINK_PORT" --from alice@example.test --message msg.eml --size "$SIZE" --prepend prepend.txt \
    --timeout-ms 10000 "$@" > "$out" 2> "$out.log" || { cat "$out.log"; fail "driver failed: $*"; }
}

# result OUT ADDRESS: the RESULT line for ADDRESS.
result() { grep "^RESULT $2 " "$1" || { cat "$1" "$1.log"; fail "no result for $2"; }; }

stored() { find "$1/store" -name '*.eml' | wc -l; }

# --- 1. STARTTLS + AUTH PLAIN, byte-exact, per-recipient outcomes ---------------------------
start_sink ok --tls-cert sink.pem --tls-key sink.key --auth bob:pa55:word \
  --reject-rcpt nobody@example.org --tempfail-rcpt later@example.org
deliver r1.txt --host localhost --ca ca.pem --credentials creds \
  --rcpt bob@example.org --rcpt nobody@example.org --rcpt carol@example.org --rcpt later@example.org
result r1.txt bob@example.org | grep -qE '^RESULT \S+ delivered 250 2\.0\.0 tls=TLSv1\.[23] ' || fail "bob: $(result r1.txt bob@example.org)"
result r1.txt carol@example.org | grep -q ' delivered 250 ' || fail "carol: $(result r1.txt carol@example.org)"
result r1.txt nobody@example.org | grep -q ' permanent 550 5\.1\.1 ' || fail "nobody: $(result r1.txt nobody@example.org)"
result r1.txt later@example.org | grep -q ' temporary 451 4\.7\.1 ' || fail "later: $(result r1.txt later@example.org)"
result r1.txt bob@example.org | grep -q 'remote=localhost\[127\.0\.0\.1\]:' || fail "remote host: $(result r1.txt bob@example.org)"
[ "$(stored ok)" = 1 ] || fail "expected one stored message, found $(stored ok)"
cmp expected.eml ok/store/00000001.eml || fail "the stored message differs from prepend + the first $SIZE octets"
grep -q "TRAILER-NEVER-SENT" ok/store/00000001.eml && fail "bytes past size were sent"
grep -qE '^MSG <t70-1@example\.test> bob@example\.org,carol@example\.org tls=TLSv1\.[23] auth=bob sp=-$' ok/sink.log \
  || { cat ok/sink.log; fail "sink log line"; }
pass "STARTTLS + AUTH PLAIN: byte-exact message, 550 permanent, 451 temporary, others delivered"

deliver r1b.txt --host 127.0.0.1 --ca ca.pem --credentials creds --rcpt dave@example.org
result r1b.txt dave@example.org | grep -q ' delivered 250 ' || fail "IP literal host: $(cat r1b.txt)"
[ "$(stored ok)" = 2 ] || fail "expected two stored messages"
pass "the certificate's IP SAN matches a smarthost given as 127.0.0.1"

# --- 2. wrong password: 535 kept, temporary, nothing stored ---------------------------------
deliver r2.txt --host localhost --ca ca.pem --credentials bad-creds --rcpt bob@example.org --rcpt carol@example.org
for a in bob@example.org carol@example.org; do
  result r2.txt $a | grep -qE ' temporary 535 ' || fail "wrong password, $a: $(result r2.txt $a)"
done
[ "$(stored ok)" = 2 ] || fail "a message was stored after a failed AUTH"
pass "AUTH refused (535): temporary for every recipient, the reply kept"

# --- 3. untrusted CA: temporary 4.7.5, nothing delivered ------------------------------------
deliver r3.txt --host localhost --ca other-ca.pem --credentials creds --rcpt bob@example.org
result r3.txt bob@example.org | grep -qE ' temporary 0 4\.7\.5 .*not verified' || fail "untrusted: $(cat r3.txt)"
[ "$(stored ok)" = 2 ] || fail "a message was stored over an unverified connection"
[ "$(grep -c '^MSG ' ok/sink.log)" = 2 ] || fail "the sink logged an unexpected message"
pass "certificate from an untrusted CA: temporary 4.7.5, nothing delivered"

pass "t70-smarthost-aiosmtpd"
