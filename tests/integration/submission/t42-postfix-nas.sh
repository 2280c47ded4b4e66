#!/usr/bin/env bash
# t42: Postfix as a NAS or appliance would run it, relaying everything through Signpost:
# relayhost = [127.0.0.1]:SUBMISSION_PORT with STARTTLS required (encrypt, the dev
# certificate as CA) and SASL (user dev). A private Postfix instance (its own main.cf,
# master.cf, queue and log under $WORK, `postfix -c DIR start`) listens on 127.0.0.42 for
# mail from swaks without authentication (mynetworks = 127.0.0.0/8). inet_interfaces is
# 127.0.0.1: Postfix refuses an inet_interfaces address that is not configured on an
# interface ("no local interface found for 127.0.0.42"; lo carries only 127.0.0.1/8), while
# a master.cf service bound to 127.0.0.42:PORT is fine.
#   swaks -> Postfix -> Signpost
# Checked: Postfix's log says status=sent relay=127.0.0.1[127.0.0.1]:PORT over TLS with
# "250 2.0.0 Ok: queued as ID"; that ID is in Signpost's queue with the envelope Postfix
# sent; the delivered message keeps Postfix's Received, gets Signpost's naming
# nas.example.test [127.0.0.1], and carries two DKIM signatures (ed25519-sha256,
# rsa-sha256, d=example.test) that verify with Signpost and dkimpy. Postfix is stopped at
# the end (and on any failure), by its master PID.
# Needs root (Postfix's daemons run as the postfix user from a root-started master).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../postfix.sh"
source "$(dirname "$0")/common.sh"

[ "$(id -u)" = 0 ] || fail "t42 needs root to run a private Postfix instance"
command -v postfix > /dev/null && [ -x /usr/lib/postfix/sbin/master ] \
  || fail "postfix is not installed (scripts/install-deps.sh)"
command -v swaks > /dev/null || fail "swaks is not installed (scripts/install-deps.sh)"
getent passwd postfix > /dev/null && getent group postdrop > /dev/null || fail "no postfix user or postdrop group"

sub_setup "$WORK/dev"
sub_start

# --- the NAS: a private Postfix instance ---------------------------------------------
PF=$WORK/postfix
NAS_ADDR=127.0.0.42
NAS_PORT=$(free_port)
mkdir -p "$PF/queue" "$PF/data"
chmod 711 "$WORK"          # Postfix's daemons (user postfix) must reach $PF and the CA file
chmod 755 "$PF" "$PF/queue"
chown postfix: "$PF/data"
install -m 644 "$CERT" "$PF/ca.pem"
runuser -u postfix -- test -r "$PF/ca.pem" \
  || fail "the postfix user cannot reach $PF (is a parent of TMPDIR=${TMPDIR:-/tmp} closed to others?)"
MAILLOG=$PF/maillog
[[ $DEV_PASSWORD =~ ^[A-Za-z0-9._~+/=-]+$ ]] || fail "the dev password does not fit static:USER:PASSWORD"

pf_main_cf t42 nas.example.test
cat >> "$PF/main.cf" << EOF
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions =
smtpd_banner = \$myhostname ESMTP NAS

relayhost = [127.0.0.1]:$SUBMISSION_PORT
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = static:dev:$DEV_PASSWORD
smtp_sasl_security_options = noanonymous
smtp_tls_security_level = encrypt
smtp_tls_CAfile = $PF/ca.pem
smtp_tls_loglevel = 1
delay_warning_time = 0
EOF

# master.cf: Debian's service lines, without its port-25 smtpd and the pipe(8) transports,
# with chroot off (no copies of the CA and resolver files in the queue), plus the
# injection listener.
pf_master_cf
echo "$NAS_ADDR:$NAS_PORT inet n - n - - smtpd" >> "$PF/master.cf"

pf_start "$NAS_ADDR" "$NAS_PORT"
pass "private Postfix (master $PF_MASTER) listens on $NAS_ADDR:$NAS_PORT, relayhost [127.0.0.1]:$SUBMISSION_PORT"

# --- swaks -> Postfix (no TLS, no AUTH: a device on the LAN) -------------------------
rc=0
timeout 30 swaks --server "$NAS_ADDR:$NAS_PORT" --ehlo scanner.lan --timeout 10 \
  --from dev@example.test --to admin@example.org,ops@example.net \
  --header 'Subject: [NAS] backup finished' --body 'Backup job "nightly" finished: 0 errors.' \
  > "$WORK/inject.txt" 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat "$WORK/inject.txt"; fail "swaks -> Postfix exited $rc"; }
pf_id=$(queued_id "$WORK/inject.txt")
pass "Postfix accepted the message from swaks as $pf_id"

# --- Postfix -> Signpost: wait (bounded) for delivery ----------------------------------
for ((i = 0; i < 300; i++)); do
  grep -qE "$pf_id: .*status=(sent|deferred|bounced)" "$MAILLOG" 2> /dev/null && break
  sleep 0.1
done
grep -E "$pf_id: .*status=sent" "$MAILLOG" > "$WORK/sent.lines" \
  || { cat "$MAILLOG"; echo "--- signpost:"; cat "$LOG"; fail "Postfix did not relay $pf_id to Signpost"; }
[ "$(wc -l < "$WORK/sent.lines")" = 2 ] || { cat "$MAILLOG"; fail "want status=sent for both recipients"; }
grep -vqF "relay=127.0.0.1[127.0.0.1]:$SUBMISSION_PORT," "$WORK/sent.lines" \
  && { cat "$WORK/sent.lines"; fail "Postfix relayed somewhere other than 127.0.0.1[127.0.0.1]:$SUBMISSION_PORT"; }
sp_id=$(grep -oE 'status=sent \(250 2\.0\.0 Ok: queued as [A-Za-z0-9]+\)' "$WORK/sent.lines" | awk '{print $NF}' | tr -d ')' | sort -u)
[ "$(echo "$sp_id" | wc -w)" = 1 ] || { cat "$WORK/sent.lines"; fail "want one Signpost queue ID in Postfix's log"; }
grep -qE "TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:$SUBMISSION_PORT: TLSv1\.[23]" "$MAILLOG" \
  || { cat "$MAILLOG"; fail "Postfix's log shows no TLS connection to Signpost"; }
grep -qE "Trusted TLS connection established to 127\.0\.0\.1" "$MAILLOG" \
  || { grep 'TLS connection' "$MAILLOG"; fail "Postfix does not trust Signpost's certificate with smtp_tls_CAfile"; }
pass "Postfix log: status=sent relay=127.0.0.1[127.0.0.1]:$SUBMISSION_PORT over trusted TLS, Signpost queued $sp_id"

# --- Signpost's side -------------------------------------------------------------------
wait_delivered "$sp_id" "Postfix relay"
check_queued "$sp_id" "Postfix relay" admin@example.org ops@example.net
grep -q "AUTH ok: user=dev from \[127.0.0.1\]" "$LOG" || { cat "$LOG"; fail "Signpost's log shows no AUTH by dev"; }
grep -q "queued $sp_id: from=<dev@example.test> rcpts=2 user=dev signed d=example.test" "$LOG" \
  || { cat "$LOG"; fail "Signpost's log does not show $sp_id queued and signed"; }
header_fields "$WORK/$sp_id.eml" Received > "$WORK/received"
[ "$(wc -l < "$WORK/received")" = 2 ] || { cat "$WORK/received"; fail "want two Received fields (Signpost's, Postfix's)"; }
head -n1 "$WORK/received" | grep -qF "Received: from nas.example.test ([127.0.0.1]) by localhost (Signpost) with ESMTPSA id $sp_id" \
  || { cat "$WORK/received"; fail "Signpost's Received does not name nas.example.test [127.0.0.1]"; }
sed -n 2p "$WORK/received" | grep -qE "Received: from scanner.lan .* by nas.example.test \(Postfix\) with ESMTP id $pf_id" \
  || { cat "$WORK/received"; fail "Postfix's Received is not kept"; }
header_fields "$WORK/$sp_id.eml" Subject | grep -qF 'Subject: [NAS] backup finished' || fail "the Subject changed"
pass "the message Postfix relayed is queued by Signpost, signed and verified"

# --- stop Postfix ------------------------------------------------------------------------
master=$PF_MASTER
children=$(pgrep -P "$master" || true)
pf_stop || fail "Postfix master $master still running 10 s after postfix stop"
for ((i = 0; i < 50; i++)); do
  alive=
  for c in $children; do pid_running "$c" && alive="$alive $c"; done
  [ -z "$alive" ] && break
  sleep 0.1
done
[ -z "$alive" ] || fail "Postfix processes$alive still running after stop"
pass "Postfix stopped (master $master and its children gone)"

sub_stop
pass "daemon stopped cleanly"
