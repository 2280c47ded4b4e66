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

cat > "$PF/main.cf" << EOF
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = $MAILLOG
maillog_file_prefixes = $PF
syslog_name = postfix-t42

myhostname = nas.example.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 no local delivery on the NAS
alias_maps =
alias_database =
biff = no
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
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
awk '
  /^#/ || /^[ \t]*$/ { next }
  /^[ \t]/ { if (keep) print; next }
  { keep = !($2 == "inet" || $8 == "pipe"); if (keep) { $5 = "n"; print } }
' /etc/postfix/master.cf > "$PF/master.cf"
echo "$NAS_ADDR:$NAS_PORT inet n - n - - smtpd" >> "$PF/master.cf"
grep -qE '^(qmgr|smtp|cleanup|postlog) ' "$PF/master.cf" || fail "master.cf lost Postfix's services"

PF_MASTER=
pf_stop() {  # stop the private instance; bounded wait for its master to exit
  local i
  [ -n "$PF_MASTER" ] || return 0
  postfix -c "$PF" stop > /dev/null 2>&1 || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$PF_MASTER" 2> /dev/null || { PF_MASTER=; return 0; }
    sleep 0.1
  done
  return 1
}
trap 'pf_stop || true; _cleanup' EXIT

# Postfix's commands log to stderr only when it is a terminal: on failure, run the
# command again under script(1) to show why.
pf_cmd() {
  postfix -c "$PF" "$1" > /dev/null 2>&1 && return 0
  timeout 30 script -qec "postfix -c '$PF' $1" /dev/null < /dev/null || true
  cat "$MAILLOG" 2> /dev/null || true
  fail "postfix -c $PF $1 failed"
}
pf_cmd check
pf_cmd start
for ((i = 0; i < 100; i++)); do
  [ -s "$PF/queue/pid/master.pid" ] && break
  sleep 0.1
done
PF_MASTER=$(tr -d ' \n' < "$PF/queue/pid/master.pid" 2> /dev/null || true)
[[ $PF_MASTER =~ ^[0-9]+$ ]] && kill -0 "$PF_MASTER" || fail "no Postfix master PID in $PF/queue/pid/master.pid"
track_pid "$PF_MASTER"
for ((i = 0; i < 100; i++)); do
  (exec 3<> "/dev/tcp/$NAS_ADDR/$NAS_PORT") 2> /dev/null && break
  sleep 0.1
done
[ "$i" -lt 100 ] || { cat "$MAILLOG"; fail "Postfix does not listen on $NAS_ADDR:$NAS_PORT"; }
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
  for c in $children; do kill -0 "$c" 2> /dev/null && alive="$alive $c"; done
  [ -z "$alive" ] && break
  sleep 0.1
done
[ -z "$alive" ] || fail "Postfix processes$alive still running after stop"
pass "Postfix stopped (master $master and its children gone)"

sub_stop
pass "daemon stopped cleanly"
