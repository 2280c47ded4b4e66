#!/usr/bin/env bash
# t72: `[delivery] mode = "smarthost"` through a real Postfix smarthost that demands
# STARTTLS and SASL AUTH, on loopback:
#   swaks -> Signpost (submission) -> Postfix (127.0.0.1:PF_PORT, encrypt + AUTH) -> aiosmtpd sink
# Postfix is a private instance (own main.cf/master.cf, queue, data dir and maillog under
# $WORK, `postfix -c DIR start`); its submission-like smtpd service requires TLS
# (smtpd_tls_security_level=encrypt, certificate for "localhost" from a test CA) and relays
# only for authenticated clients (permit_sasl_authenticated,reject). SASL is Cyrus with an
# auxprop sasldb made by saslpasswd2 (user signpost, realm smarthost.test, so the login
# name is signpost@smarthost.test). Postfix relays onward to relayhost [127.0.0.1]:SINK_PORT,
# the aiosmtpd sink (STARTTLS) that stores what arrives.
# Checked:
#   1. With the right credentials the message reaches the sink carrying Signpost's two
#      DKIM signatures (they still verify with Signpost and dkimpy after the Postfix hop);
#      Postfix's log shows the TLS session from Signpost, the SASL login by
#      signpost@smarthost.test and status=sent to the sink; Signpost's queue is empty.
#   2. With a wrong password (Signpost restarted) the message is deferred: `queue list
#      --json` shows it with a last_error carrying 535 / authentication, Postfix's log shows
#      the failed AUTH, nothing reaches the sink. After the file is fixed, Signpost
#      restarted and `queue flush` run, the message is delivered.
# Postfix is stopped in the EXIT trap (postfix -c DIR stop, then its master by PID).
# Needs root (Postfix's daemons run as the postfix user from a root-started master).
source "${SIGNPOST_SOURCE_DIR:?}/tests/integration/lib.sh"
source "${SIGNPOST_SOURCE_DIR:?}/tests/integration/postfix.sh"
PY=/usr/bin/python3   # Debian's python3 has aiosmtpd and dkimpy; the one on PATH may not
DKIMPY_VERIFY=$SIGNPOST_SOURCE_DIR/tests/integration/dkim/verify_dkimpy.py

[ "$(id -u)" = 0 ] || fail "t72 needs root to run a private Postfix instance"
command -v postfix > /dev/null && [ -x /usr/lib/postfix/sbin/master ] \
  || fail "postfix is not installed (scripts/install-deps.sh)"
command -v saslpasswd2 > /dev/null || fail "saslpasswd2 is not installed (sasl2-bin, scripts/install-deps.sh)"
command -v swaks > /dev/null || fail "swaks is not installed (scripts/install-deps.sh)"
getent passwd postfix > /dev/null && getent group postdrop > /dev/null || fail "no postfix user or postdrop group"
$PY -c 'import aiosmtpd, dkim, nacl.signing' 2> /dev/null || fail "aiosmtpd/dkimpy/pynacl do not import under $PY"
postconf -a 2> /dev/null | grep -qx cyrus || fail "this Postfix has no Cyrus SASL server support"

# --- Signpost: dev setup, smarthost mode through Postfix ------------------------------
init_dev "$WORK/dev"
CFG=$WORK/dev/signpost.toml
make_test_ca "$WORK"
PF_PORT=$(free_port)
SINK_PORT=$(free_port)
[ "$PF_PORT" != "$SINK_PORT" ] || SINK_PORT=$(free_port)
SASL_USER=signpost
SASL_REALM=smarthost.test
SASL_LOGIN=$SASL_USER@$SASL_REALM
SASL_PASS='t72-Pa55:word'   # a ':' in the password: the file is split at the first ':'
CREDS=$WORK/smarthost-credentials

use_smarthost "$CFG" "$PF_PORT" "$WORK/ca.pem"
$PY - "$CFG" "$CREDS" << 'PY'
import sys
path, creds = sys.argv[1:]
text = open(path).read()
anchor = 'smarthost_tls = "starttls"\n'
assert text.count(anchor) == 1, "use_smarthost did not write one smarthost_tls line"
text = text.replace(anchor, anchor + 'smarthost_credentials_file = "%s"\n' % creds)
open(path, "w").write(text)
PY
grep -q '^mode = "smarthost"' "$CFG" || fail "the config is not in smarthost mode"

write_creds() { (umask 077; printf '%s\n' "$1" > "$CREDS"); chmod 600 "$CREDS"; }
write_creds "$SASL_LOGIN:$SASL_PASS"
[ "$(stat -c %a "$CREDS")" = 600 ] || fail "credentials file mode is $(stat -c %a "$CREDS")"

RECDIR=$WORK/records
mkdir -p "$RECDIR"
"$SIGNPOST" keys dns --config "$CFG" > "$WORK/keys-dns.out" || fail "keys dns failed"
awk -v dir="$RECDIR" '/^ *name:/{n=$2} /^ *value:/{sub(/^ *value: /, ""); print > (dir "/" n ".txt")}' \
  "$WORK/keys-dns.out"
[ "$(ls "$RECDIR" | wc -l)" = 2 ] || { cat "$WORK/keys-dns.out"; fail "keys dns did not give two records"; }

# --- the final sink: aiosmtpd with STARTTLS, storing every message --------------------
STORE=$WORK/store
start_sink "$SINK_PORT" "$WORK" --store "$STORE"
stored() { find "$STORE" -name '*.eml' 2> /dev/null | wc -l; }

# --- the smarthost: a private Postfix instance ----------------------------------------
PF=$WORK/postfix
mkdir -p "$PF/queue" "$PF/data" "$PF/sasl"
chmod 711 "$WORK"          # Postfix's daemons (user postfix) must reach $PF
chmod 755 "$PF" "$PF/queue" "$PF/sasl"
chown postfix: "$PF/data"
install -m 644 "$WORK/ca.pem" "$PF/ca.pem"
install -m 644 "$WORK/sink.pem" "$PF/cert.pem"
install -m 640 -g postfix "$WORK/sink.key" "$PF/key.pem"
MAILLOG=$PF/maillog
SASLDB=$PF/sasl/sasldb2

printf '%s' "$SASL_PASS" | saslpasswd2 -c -p -f "$SASLDB" -u "$SASL_REALM" "$SASL_USER" \
  || fail "saslpasswd2 could not create $SASLDB"
chown root:postfix "$SASLDB"
chmod 640 "$SASLDB"
sasldblistusers2 -f "$SASLDB" > "$WORK/sasldb.list" 2>&1 || true
grep -q "^$SASL_LOGIN:" "$WORK/sasldb.list" \
  || { sasldblistusers2 -f "$SASLDB" || true; fail "$SASL_LOGIN is not in $SASLDB"; }
cat > "$PF/sasl/smtpd.conf" << EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $SASLDB
mech_list: PLAIN LOGIN
EOF
chmod 644 "$PF/sasl/smtpd.conf"
runuser -u postfix -- test -r "$SASLDB" -a -r "$PF/ca.pem" \
  || fail "the postfix user cannot read $SASLDB (is a parent of TMPDIR=${TMPDIR:-/tmp} closed to others?)"

pf_main_cf t72 smarthost.example.test
cat >> "$PF/main.cf" << EOF
mynetworks = 127.0.0.1/32
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions =
smtpd_banner = \$myhostname ESMTP smarthost

smtpd_tls_cert_file = $PF/cert.pem
smtpd_tls_key_file = $PF/key.pem
smtpd_tls_loglevel = 1
smtpd_tls_auth_only = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $PF/sasl
smtpd_sasl_security_options = noanonymous
smtpd_sasl_local_domain =

relayhost = [127.0.0.1]:$SINK_PORT
smtp_tls_security_level = encrypt
smtp_tls_CAfile = $PF/ca.pem
smtp_tls_loglevel = 1
delay_warning_time = 0
EOF

# master.cf: Debian's service lines, without its port-25 smtpd and the pipe(8) transports,
# with chroot off everywhere, plus the submission-like listener Signpost relays through.
pf_master_cf
cat >> "$PF/master.cf" << EOF
127.0.0.1:$PF_PORT inet n - n - - smtpd
  -o syslog_name=postfix-t72/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
EOF

pf_start "127.0.0.1" "$PF_PORT"

# Postfix itself demands TLS before AUTH and AUTH before relaying (swaks, no Signpost).
timeout 30 swaks --server "127.0.0.1:$PF_PORT" --timeout 10 --quit-after EHLO > "$WORK/pf-ehlo.txt" 2>&1 || true
grep -q '250-STARTTLS' "$WORK/pf-ehlo.txt" && ! grep -q '250[- ]AUTH' "$WORK/pf-ehlo.txt" \
  || { cat "$WORK/pf-ehlo.txt"; fail "Postfix should offer STARTTLS and no AUTH before TLS"; }
timeout 30 swaks --server "127.0.0.1:$PF_PORT" --timeout 10 --tls --tls-ca-path "$PF/ca.pem" --tls-verify \
  --from probe@example.test --to rcpt@example.org > "$WORK/pf-noauth.txt" 2>&1 || true
grep -qE '<~?\* +55[0-9] .*(Relay access denied|Recipient address rejected)' "$WORK/pf-noauth.txt" \
  || { cat "$WORK/pf-noauth.txt"; cat "$MAILLOG"; fail "Postfix relays without AUTH (or TLS failed)"; }
grep -qE '250[- ]AUTH .*PLAIN' "$WORK/pf-noauth.txt" || { cat "$WORK/pf-noauth.txt"; fail "Postfix offers no AUTH PLAIN inside TLS"; }
pass "Postfix (master $PF_MASTER) on 127.0.0.1:$PF_PORT: STARTTLS required, AUTH PLAIN/LOGIN inside TLS, no relay without AUTH"

# --- Signpost --------------------------------------------------------------------------
SP_PID=
start_signpost() {
  : > "$WORK/serve.log"
  "$SIGNPOST" serve --config "$CFG" > "$WORK/serve.log" 2>&1 &
  SP_PID=$!
  track_pid $SP_PID
  wait_for_log "$WORK/serve.log" 'ready$' 10
}
stop_signpost() {
  kill -TERM "$SP_PID"
  wait_exit "$SP_PID" 20
  [ "$EXIT_CODE" = 0 ] || { cat "$WORK/serve.log"; fail "signpost exited $EXIT_CODE on SIGTERM"; }
}
submit() {  # submit SUBJECT -> prints the queue id
  timeout 30 swaks --server "127.0.0.1:$SUBMISSION_PORT" --timeout 10 --tls --auth PLAIN --auth-user dev \
    --auth-password "$DEV_PASSWORD" --from dev@example.test --to rcpt@example.org \
    --header "Subject: $1" --body "t72 body: $1" 2>&1 \
    | sed -n 's/.*250 2.0.0 Ok: queued as \([0-9A-Z]*\).*/\1/p'
}
q() { timeout 30 "$SIGNPOST" queue "$@" --config "$CFG"; }
json_count() { q list --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
# stored_with SUBJECT: the sink's file carrying that Subject line (empty if none)
stored_with() { grep -lx "Subject: $1"$'\r' "$STORE"/*.eml 2> /dev/null | head -n1 || true; }
wait_stored() {  # wait_stored SUBJECT SECONDS -> sets GOT
  local i
  GOT=
  for ((i = 0; i < $2 * 10; i++)); do
    GOT=$(stored_with "$1")
    [ -n "$GOT" ] && return 0
    sleep 0.1
  done
  echo "--- signpost:"; cat "$WORK/serve.log"; echo "--- postfix:"; cat "$MAILLOG"; q list || true
  fail "'$1' did not reach the sink within $2 s"
}
# check_signed FILE LABEL: Signpost's two DKIM signatures are there and verify
check_signed() {
  local f=$1 label=$2 rc=0
  [ "$(grep -c '^DKIM-Signature:' "$f")" = 2 ] || { cat "$f"; fail "$label: want two DKIM-Signature fields"; }
  grep -A3 '^DKIM-Signature:' "$f" | grep -q 'd=example\.test;' || fail "$label: no d=example.test signature"
  "$SIGNPOST" dkim verify --record-dir "$RECDIR" < "$f" > "$WORK/sp-verify" 2>&1 || rc=$?
  [ "$rc" = 0 ] && [ "$(grep -c '^pass ' "$WORK/sp-verify")" = 2 ] \
    || { cat "$WORK/sp-verify"; fail "$label: signpost dkim verify exit $rc"; }
  rc=0
  $PY "$DKIMPY_VERIFY" "$RECDIR" "$f" > "$WORK/py-verify" 2>&1 || rc=$?
  [ "$rc" = 0 ] && [ "$(grep -c '^pass ' "$WORK/py-verify")" = 2 ] \
    || { cat "$WORK/py-verify"; fail "$label: dkimpy verify exit $rc"; }
}

# --- 1. right credentials: delivered through Postfix to the sink ------------------------
# pf_log_since MARK: Postfix's log after line MARK (the swaks probes above are not Signpost)
pf_log_since() { tail -n "+$(($1 + 1))" "$MAILLOG"; }
mark=$(wc -l < "$MAILLOG")
start_signpost
A=$(submit "t72 message A")
[ -n "$A" ] || fail "message A was not queued by Signpost"
wait_stored "t72 message A" 30
check_signed "$GOT" "message A"
grep -qE "by smarthost\.example\.test \(Postfix\) with ESMTPSA" "$GOT" \
  || { cat "$GOT"; fail "message A: Postfix's Received does not say ESMTPSA (TLS + AUTH)"; }
for ((i = 0; i < 100; i++)); do [ "$(json_count)" = 0 ] && break; sleep 0.1; done
[ "$(json_count)" = 0 ] || { q list; fail "A is still in Signpost's queue after delivery"; }
wait_for_log "$MAILLOG" "to=<rcpt@example\.org>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$SINK_PORT, .*status=sent" 10
pf_log_since "$mark" > "$WORK/maillog.A"
grep -qE "postfix-t72/submission/smtpd\[[0-9]+\]: [A-Z0-9]+: client=localhost\[127\.0\.0\.1\], sasl_method=(PLAIN|LOGIN), sasl_username=$SASL_LOGIN\$" "$WORK/maillog.A" \
  || { cat "$WORK/maillog.A"; fail "Postfix's log shows no SASL login by $SASL_LOGIN"; }
grep -qE "postfix-t72/submission/smtpd\[[0-9]+\]: (Anonymous|Untrusted|Trusted) TLS connection established from localhost\[127\.0\.0\.1\]: TLSv1\.[23]" "$WORK/maillog.A" \
  || { cat "$WORK/maillog.A"; fail "Postfix's log shows no TLS session from Signpost"; }
grep -qE "postfix-t72/smtp\[[0-9]+\]: [A-Z0-9]+: to=<rcpt@example\.org>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$SINK_PORT, .*status=sent" "$WORK/maillog.A" \
  || { cat "$WORK/maillog.A"; fail "Postfix's log shows no status=sent to the sink"; }
grep -qE "Trusted TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:$SINK_PORT: TLSv1\.[23]" "$WORK/maillog.A" \
  || { cat "$WORK/maillog.A"; fail "Postfix did not use trusted TLS to the sink"; }
grep -q "sasl_username=$SASL_LOGIN" "$WORK/maillog.A" && ! grep -q "authentication failed" "$WORK/maillog.A" \
  || { cat "$WORK/maillog.A"; fail "unexpected failed AUTH in Postfix's log"; }
pass "A ($A): Signpost -> Postfix (TLS, AUTH as $SASL_LOGIN) -> sink, dual DKIM signature intact and verifying"

# --- 2. wrong password: deferred with 535, nothing delivered; fixed + flush: delivered ---
stop_signpost
write_creds "$SASL_LOGIN:not-the-password"
before=$(stored)
mark=$(wc -l < "$MAILLOG")
start_signpost
B=$(submit "t72 message B")
[ -n "$B" ] || fail "message B was not queued by Signpost"
for ((i = 0; i < 300; i++)); do
  q list --json | $PY -c '
import json, sys
want = sys.argv[1]
sys.exit(0 if any(m["id"] == want and m["state"] == "deferred" for m in json.load(sys.stdin)) else 1)' "$B" && break
  sleep 0.1
done
q list --json > "$WORK/deferred.json"
$PY - "$WORK/deferred.json" "$B" > "$WORK/last_error" << 'PY' || { cat "$WORK/deferred.json"; echo; cat "$WORK/serve.log"; fail "B is not deferred with a 535 authentication error"; }
import json, sys
ms = json.load(open(sys.argv[1]))
m = [m for m in ms if m["id"] == sys.argv[2]]
assert len(m) == 1, ms
m = m[0]
assert m["state"] == "deferred", m
err = m["last_error"] or ""
assert "535" in err and "authentication" in err.lower(), err
r = m["recipients"]
assert len(r) == 1 and r[0]["address"] == "rcpt@example.org" and r[0]["attempts"] >= 1, r
print("last_error:", err)
PY

grep -qE "postfix-t72/submission/smtpd\[[0-9]+\]: warning: localhost\[127\.0\.0\.1\]: SASL (PLAIN|LOGIN) authentication failed" "$MAILLOG" \
  || { cat "$MAILLOG"; fail "Postfix's log shows no failed AUTH"; }
sleep 1   # give a wrongly accepted message time to show up at the sink
[ "$(stored)" = "$before" ] && [ -z "$(stored_with "t72 message B")" ] || fail "B reached the sink with a wrong password"
pf_log_since "$mark" > "$WORK/maillog.B"
grep -q "status=sent" "$WORK/maillog.B" && { cat "$MAILLOG"; fail "Postfix relayed something during the wrong-password phase"; }
pass "B ($B) deferred with a wrong password, $(cat "$WORK/last_error")"

stop_signpost
write_creds "$SASL_LOGIN:$SASL_PASS"
start_signpost
q flush > /dev/null 2>&1 || true   # B may already have gone out if it was due at start
wait_stored "t72 message B" 30
check_signed "$GOT" "message B"
for ((i = 0; i < 100; i++)); do [ "$(json_count)" = 0 ] && break; sleep 0.1; done
[ "$(json_count)" = 0 ] || { q list; fail "B is still in Signpost's queue"; }
[ "$(grep -cE "client=localhost\[127\.0\.0\.1\], sasl_method=(PLAIN|LOGIN), sasl_username=$SASL_LOGIN\$" "$MAILLOG")" = 2 ] \
  || { cat "$MAILLOG"; fail "want two SASL logins by $SASL_LOGIN in Postfix's log"; }
[ "$(stored)" = 2 ] || { ls -la "$STORE"; fail "want exactly two messages at the sink"; }
pass "B ($B) delivered after fixing the credentials, restart and queue flush"

stop_signpost
master=$PF_MASTER
pf_stop || fail "Postfix master $master still running 10 s after postfix stop"
pass "Postfix stopped"
