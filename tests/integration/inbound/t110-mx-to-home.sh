#!/usr/bin/env bash
# t110: Signpost as a domain's MX, forwarding to the home server.
#   swaks -> Postfix (the sending MTA, relayhost = Signpost's MX port, opportunistic TLS,
#   no AUTH) -> Signpost, [[listener]] kind = "mx" -> aiosmtpd "home server" (STARTTLS with
#   a self-signed certificate; Signpost pins its SHA-256 fingerprint)
# The dev setup's outbound delivery stays in capture mode: anything Signpost sends that is
# not for home.example (a bounce, say) would land in its outbox.
# Checked:
#   1. alice@home.example (listed in the config) arrives at the home server over TLS,
#      byte for byte as Postfix sent it after Signpost's Authentication-Results field
#      (unbound serves sender.example's SPF and DMARC records: spf=pass, dkim=none,
#      dmarc=pass) and Received field (naming the client and the recipient); a forged
#      Authentication-Results naming our host is gone; no DKIM-Signature is added;
#      Postfix's log shows status=sent to the MX port over TLS with Signpost's queue id.
#      The first attempt is greylisted (451 4.7.1 at RCPT, greylist_delay = "2s"); Postfix
#      retries (backoff set to seconds) and the retry passes.
#   2. At RCPT time: carol@home.example is refused 550 5.1.1, someone@elsewhere.example
#      550 5.7.1 (no relaying); Postfix logs the 5.1.1 as the answer to RCPT TO; the EHLO
#      reply offers STARTTLS and no AUTH; AUTH is refused. Nothing is queued for either and
#      Signpost generates no bounce (its outbox stays empty).
#   3. The home server goes offline: mail for bob+family@home.example (bob is listed in
#      recipients_file) is accepted and stays queued, deferred; the home server comes back,
#      `queue flush`, and the message arrives; the queue is empty again. While it waits,
#      signpost_inbound_queue_messages{domain="home.example"} is 1 and the oldest age > 0.
# Needs root (a private Postfix instance, as in t42).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../postfix.sh"
source "$(dirname "$0")/../unbound.sh"
source "$(dirname "$0")/common.sh"

[ "$(id -u)" = 0 ] || fail "t110 needs root to run a private Postfix instance"
command -v postfix > /dev/null && [ -x /usr/lib/postfix/sbin/master ] \
  || fail "postfix is not installed (scripts/install-deps.sh)"
command -v swaks > /dev/null || fail "swaks is not installed (scripts/install-deps.sh)"

# --- the home server: aiosmtpd with a self-signed certificate --------------------------
home_setup
home_start

# --- DNS: the sender's SPF and DMARC records ------------------------------------------
sender_dns_start

# --- Signpost: the dev setup plus an MX listener and [[inbound]] home.example ----------
DIR=$WORK/dev
init_dev "$DIR"
CFG=$DIR/signpost.toml
OUTBOX=$DIR/outbox
MX_PORT=$(free_port)
printf '# the family\nbob\n' > "$DIR/home-recipients"
home_mx_config "$CFG" 'recipients_file = "home-recipients"' 'greylist_delay = "2s"'
mx_serve "$CFG"
pass "Signpost listens for home.example on 127.0.0.1:$MX_PORT (kind = mx), home server on $HOME_PORT pinned by fingerprint"

# What to publish for MTA-STS: the policy names this relay ([server] hostname) as the MX.
"$SIGNPOST" mta-sts policy home.example --config "$CFG" > "$WORK/mta-sts.out" 2>&1 || { cat "$WORK/mta-sts.out"; fail "mta-sts policy failed"; }
tr -d '\r' < "$WORK/mta-sts.out" | grep -qx "mode: testing" && tr -d '\r' < "$WORK/mta-sts.out" | grep -qx "mx: localhost" \
  && grep -qE '^_mta-sts\.home\.example\. 3600 IN TXT "v=STSv1; id=[0-9a-f]{20}"$' "$WORK/mta-sts.out" \
  && grep -qF '_smtp._tls.home.example. 3600 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@home.example"' "$WORK/mta-sts.out" \
  || { cat "$WORK/mta-sts.out"; fail "mta-sts policy does not print the policy and records for home.example"; }
rc=0
"$SIGNPOST" mta-sts policy elsewhere.example --config "$CFG" > "$WORK/mta-sts2.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -qF "elsewhere.example is not an [[inbound]] domain" "$WORK/mta-sts2.out" \
  || { cat "$WORK/mta-sts2.out"; fail "mta-sts policy for a foreign domain: want exit 2, got $rc"; }
pass "signpost mta-sts policy home.example prints the policy (mx: localhost, testing) and its records; another domain exits 2"

# --- the sending MTA: a private Postfix instance ---------------------------------------
PF=$WORK/postfix
PF_ADDR=127.0.0.43
PF_PORT=$(free_port)
mkdir -p "$PF/queue" "$PF/data"
chmod 711 "$WORK"
chmod 755 "$PF" "$PF/queue"
chown postfix: "$PF/data"
MAILLOG=$PF/maillog
pf_main_cf t110 mta.sender.example
cat >> "$PF/main.cf" << MAINCF_END
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions =
relayhost = [127.0.0.1]:$MX_PORT
smtp_tls_security_level = may
smtp_tls_loglevel = 1
delay_warning_time = 0
# a greylisted message is tried again within seconds (Postfix's defaults: minutes)
minimal_backoff_time = 2s
maximal_backoff_time = 3s
queue_run_delay = 1s
MAINCF_END
pf_master_cf
echo "$PF_ADDR:$PF_PORT inet n - n - - smtpd" >> "$PF/master.cf"
pf_start "$PF_ADDR" "$PF_PORT"
pass "private Postfix (master $PF_MASTER) on $PF_ADDR:$PF_PORT relays to the MX port"

# pf_send TO SUBJECT [SWAKS ARGS...]: swaks -> Postfix; prints Postfix's queue id
pf_send() {
  local out=$WORK/inject.$RANDOM rc=0 to=$1 subject=$2
  shift 2
  timeout 30 swaks --server "$PF_ADDR:$PF_PORT" --ehlo client.sender.example --timeout 10 \
    --from "news@sender.example" --to "$to" --header "Subject: $subject" --body "Hello from t110: $subject" "$@" \
    > "$out" 2>&1 || rc=$?
  [ "$rc" = 0 ] || { cat "$out"; fail "swaks -> Postfix exited $rc"; }
  tr -d '\r' < "$out" | grep -oE '250 2\.0\.0 Ok: queued as [A-Za-z0-9]+' | awk '{print $NF}' | tail -n1
}
# pf_status ID: waits (25 s) for Postfix's final status line of ID; prints it
pf_status() {
  local i
  for ((i = 0; i < 250; i++)); do
    grep -E "$1: .*status=(sent|bounced)" "$MAILLOG" 2> /dev/null && return 0
    sleep 0.1
  done
  cat "$MAILLOG"; echo "--- signpost:"; cat "$LOG"
  fail "Postfix has no final status for $1"
}
# home_file SP_ID: waits (15 s) for the home server's stored copy of Signpost's SP_ID
home_file() {
  local i f
  for ((i = 0; i < 150; i++)); do
    f=$(grep -l "(Signpost) with ESMTPS id $1" "$HOME_DIR"/store/*.eml 2> /dev/null | head -n1 || true)
    [ -n "$f" ] && { echo "$f"; return 0; }
    sleep 0.1
  done
  cat "$LOG"; fail "$1 did not reach the home server"
}

# --- 1. alice@home.example: Postfix -> Signpost MX -> home ------------------------------
pf_id=$(pf_send alice@home.example "for alice" --add-header "Authentication-Results: localhost; dkim=pass header.d=bank.example")
line=$(pf_status "$pf_id")
grep -qF "relay=127.0.0.1[127.0.0.1]:$MX_PORT," <<< "$line" && grep -qF "status=sent" <<< "$line" \
  || { echo "$line"; fail "Postfix did not deliver $pf_id to the MX port"; }
sp_id=$(grep -oE 'Ok: queued as [0-9A-Z]+' <<< "$line" | awk '{print $NF}')
[ -n "$sp_id" ] || { echo "$line"; fail "no Signpost queue id in Postfix's log"; }
# greylisted first (RFC 6647): 451 4.7.1 at RCPT, then Postfix's retry passes
grep -qE "$pf_id: .*status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 451 4\.7\.1 <alice@home\.example>: Greylisted: .*\(in reply to RCPT TO command\)" "$MAILLOG" \
  || { cat "$MAILLOG"; fail "the first attempt of $pf_id was not greylisted at RCPT"; }
grep -qE "TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:$MX_PORT: TLSv1\.[23]" "$MAILLOG" \
  || { cat "$MAILLOG"; fail "Postfix did not use STARTTLS with the MX listener"; }
grep -qF "sender checks: spf=pass (sender.example) dkim=none dmarc=pass (from sender.example, policy none)" "$LOG" \
  || { cat "$LOG"; fail "Signpost's log does not show the sender checks"; }
grep -qF "removed 1 Authentication-Results field(s) claiming to be ours (localhost)" "$LOG" \
  || { cat "$LOG"; fail "Signpost's log does not show the forged Authentication-Results field removed"; }
grep -qF "queued $sp_id: from=<news@sender.example> rcpts=1 inbound from [127.0.0.1]" "$LOG" \
  || { cat "$LOG"; fail "Signpost's log does not show $sp_id queued as inbound mail"; }
f=$(home_file "$sp_id")
grep -qE "^MSG .* alice@home\.example tls=TLSv1\.[23] auth=- sp=$sp_id" "$HOME_DIR/sink.log" \
  || { cat "$HOME_DIR/sink.log"; fail "the home server's log does not show $sp_id for alice over TLS"; }
"$PY" - "$f" "$sp_id" << 'PYEOF' || fail "the message at the home server is not Postfix's message after one Received field"
import re, sys
data = open(sys.argv[1], "rb").read()
sp = sys.argv[2].encode()
ar = (b"Authentication-Results: localhost;\r\n\tspf=pass smtp.mailfrom=news@sender.example;\r\n\tdkim=none;\r\n"
      b"\tdmarc=pass (p=none dis=none) header.from=sender.example\r\n")
if not data.startswith(ar):
    sys.exit("no Authentication-Results field first: %r" % data[:400])
data = data[len(ar):]
if b"bank.example" in data:
    sys.exit("the forged Authentication-Results field is still there")
m = re.match(rb"Received: from mta\.sender\.example \(\[127\.0\.0\.1\]\)\r\n\tby localhost \(Signpost\) with ESMTPS id "
             + sp + rb"\r\n\t\(TLSv1\.[23] [A-Z0-9_]+\)\r\n\tfor <alice@home\.example>;\r\n\t[^\r\n]+\r\n", data)
if not m:
    sys.exit("no Signpost Received field first: %r" % data[:400])
rest = data[m.end():]
head = rest.split(b"\r\n\r\n", 1)[0]
if not rest.startswith(b"Received: from client.sender.example"):
    sys.exit("Postfix's Received field does not follow: %r" % rest[:200])
if re.search(rb"(?im)^dkim-signature:", head):
    sys.exit("a DKIM-Signature was added to inbound mail")
if b"Hello from t110: for alice" not in rest.split(b"\r\n\r\n", 1)[1]:
    sys.exit("the body changed")
PYEOF
pass "alice@home.example: greylisted once, then Postfix -> MX ($sp_id, STARTTLS) -> home server over TLS, unsigned, Authentication-Results (spf=pass dmarc=pass) and Received added, the forged one removed"

# --- 2. refused at RCPT time, no bounce ---------------------------------------------------
rc=0
timeout 30 swaks --server "127.0.0.1:$MX_PORT" --ehlo probe.sender.example --timeout 10 --quit-after RCPT \
  --from x@sender.example --to carol@home.example > "$WORK/carol.txt" 2>&1 || rc=$?
tr -d '\r' < "$WORK/carol.txt" | grep -qE '^<\*\* +550 5\.1\.1 <carol@home\.example>: Recipient address rejected' \
  || { cat "$WORK/carol.txt"; fail "carol@home.example was not refused 550 5.1.1 at RCPT"; }
tr -d '\r' < "$WORK/carol.txt" | grep -qE '^<- +250[- ]STARTTLS' || { cat "$WORK/carol.txt"; fail "STARTTLS not offered on the MX port"; }
if tr -d '\r' < "$WORK/carol.txt" | grep -qE '^<- +250[- ]AUTH'; then cat "$WORK/carol.txt"; fail "AUTH offered on the MX port"; fi
rc=0
timeout 30 swaks --server "127.0.0.1:$MX_PORT" --ehlo probe.sender.example --timeout 10 --quit-after RCPT --tls \
  --from x@sender.example --to someone@elsewhere.example > "$WORK/relay.txt" 2>&1 || rc=$?
tr -d '\r' < "$WORK/relay.txt" | grep -qE '^<[*~]\* +550 5\.7\.1 <someone@elsewhere\.example>: Relay access denied' \
  || { cat "$WORK/relay.txt"; fail "relaying to elsewhere.example was not refused 550 5.7.1"; }
if tr -d '\r' < "$WORK/relay.txt" | grep -qE '^<[-~] +250[- ]AUTH'; then cat "$WORK/relay.txt"; fail "AUTH offered on the MX port inside TLS"; fi
"$PY" - "$MX_PORT" << 'PYEOF' || fail "AUTH was not refused 502 on the MX port"
import smtplib, ssl, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("probe.sender.example")
s.starttls(context=ssl._create_unverified_context())
s.ehlo("probe.sender.example")
code, text = s.docmd("AUTH", "PLAIN AGRldgBzZWNyZXQ=")
if (code, text) != (502, b"5.5.1 AUTH not available on this port"):
    sys.exit("AUTH answered %d %r" % (code, text))
s.quit()
PYEOF
pf_id=$(pf_send carol@home.example "for carol")
line=$(pf_status "$pf_id")
grep -qE "status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.1\.1 <carol@home\.example>: Recipient address rejected.*\(in reply to RCPT TO command\)" <<< "$line" \
  || { echo "$line"; fail "Postfix did not see carol refused at RCPT"; }
"$SIGNPOST" queue list --config "$CFG" > "$WORK/list.txt" 2>&1 || { cat "$WORK/list.txt"; fail "queue list failed"; }
if grep -qE '[0-9A-Z]{20}' "$WORK/list.txt"; then cat "$WORK/list.txt"; fail "something was queued for a refused recipient"; fi
[ -z "$(ls -A "$OUTBOX" 2> /dev/null)" ] || { ls -la "$OUTBOX"; fail "Signpost generated outbound mail (a bounce?)"; }
pass "carol@home.example 550 5.1.1 and elsewhere.example 550 5.7.1 at RCPT (swaks and Postfix), no AUTH offered, nothing queued, no bounce"

# --- 3. the home server offline, then back ------------------------------------------------
kill -TERM "$HOME_PID"
wait_exit "$HOME_PID" 10
pf_id=$(pf_send bob+family@home.example "while the NAS sleeps")
line=$(pf_status "$pf_id")
sp_id=$(grep -oE 'Ok: queued as [0-9A-Z]+' <<< "$line" | awk '{print $NF}')
[ -n "$sp_id" ] || { echo "$line"; fail "Signpost did not accept bob+family@home.example"; }
out=
for ((i = 0; i < 100; i++)); do
  out=$("$SIGNPOST" queue show "$sp_id" --config "$CFG" 2> /dev/null || true)
  grep -q "attempt(s), last" <<< "$out" && break
  sleep 0.1
done
grep -q "attempt(s), last" <<< "$out" || { echo "$out"; cat "$LOG"; fail "$sp_id was not tried while the home server was offline"; }
grep -qF "bob+family@home.example" <<< "$out" || { echo "$out"; fail "queue show does not name the recipient"; }
pass "home server offline: $sp_id accepted for bob+family@home.example and deferred"
# The backlog gauges (refreshed every 10 s) show the message waiting for home.example.
for ((i = 0; i < 130; i++)); do
  curl -s "http://127.0.0.1:$METRICS_PORT/metrics" > "$WORK/metrics-offline.txt" || true
  grep -qx 'signpost_inbound_queue_messages{domain="home.example"} 1' "$WORK/metrics-offline.txt" && break
  sleep 0.1
done
grep -qx 'signpost_inbound_queue_messages{domain="home.example"} 1' "$WORK/metrics-offline.txt" \
  && grep -qE '^signpost_inbound_queue_oldest_age_seconds\{domain="home.example"\} [0-9.e+]+$' "$WORK/metrics-offline.txt" \
  && ! grep -qx 'signpost_inbound_queue_oldest_age_seconds{domain="home.example"} 0' "$WORK/metrics-offline.txt" \
  || { grep signpost_inbound_queue "$WORK/metrics-offline.txt"; fail "the backlog gauges do not show the waiting message"; }
pass "signpost_inbound_queue_messages{domain=\"home.example\"} is 1 while the home server is offline, with its age"
home_start
"$SIGNPOST" queue flush "$sp_id" --config "$CFG" > "$WORK/flush.txt" 2>&1 || { cat "$WORK/flush.txt"; fail "queue flush failed"; }
f=$(home_file "$sp_id")
grep -qF "Hello from t110: while the NAS sleeps" "$f" || fail "the queued message's body did not arrive"
for ((i = 0; i < 50; i++)); do
  "$SIGNPOST" queue list --config "$CFG" > "$WORK/list.txt" 2>&1 || true
  grep -qF "$sp_id" "$WORK/list.txt" || break
  sleep 0.1
done
if grep -qF "$sp_id" "$WORK/list.txt"; then cat "$WORK/list.txt"; fail "$sp_id is still queued after delivery"; fi
pass "home server back: $sp_id delivered after queue flush, the queue is empty"

pf_stop || fail "Postfix did not stop"
kill -TERM "$SPID"
wait_exit "$SPID" 15
[ "$EXIT_CODE" = 0 ] || { cat "$LOG"; fail "serve exited $EXIT_CODE on SIGTERM"; }
pass "stopped cleanly"
