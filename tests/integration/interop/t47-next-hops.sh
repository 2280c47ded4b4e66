#!/usr/bin/env bash
# t47: the next-hop half of the interop matrix (hops.py). Python's smtplib (SMTPUTF8 only
# when it has UTF-8 to send) and Go's net/smtp (SMTPUTF8 and BODY=8BITMIME on every
# message) submit every kind of message to Signpost, which delivers it over TLS to four
# real next hops on loopback:
#   bare.test   [[route]] to a Postfix smarthost that advertises neither SMTPUTF8 nor
#               8BITMIME nor PIPELINING nor CHUNKING (smtpd_discard_ehlo_keywords)
#   all.test    [[route]] to a Postfix smarthost that advertises all of them
#   pfmx.test   MX lookup (unbound) -> Postfix receiving as the MX, 127.0.0.21
#   exim.test   MX lookup (unbound) -> Exim 4 receiving as the MX, 127.0.0.22
# Every message is delivered and verified at the hop by dkimpy, OpenDKIM and Mail::DKIM,
# except the ones that truly need SMTPUTF8 (a raw UTF-8 header, a UTF-8 recipient) at the
# bare hop: those are returned to the sender with a 5.6.7 DSN that says Signpost decided
# (no Remote-MTA), which arrives DKIM-signed at example.test's mailbox (the "all" Postfix).
# Postfix must never log "improper command pipelining" (Signpost pipelines only where
# PIPELINING is offered). The table is README.md's block interop-hops.
# Peers: postfix, Exim (/opt/signpost-peers/exim4), unbound, go (scripts/install-deps.sh).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../submission/common.sh"
source "$(dirname "$0")/../unbound.sh"
source "$(dirname "$0")/../postfix.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
EXIM=${SIGNPOST_EXIM:-/opt/signpost-peers/exim4/usr/sbin/exim4}
[ "$(id -u)" = 0 ] || fail "t47 needs root to run private Postfix and Exim instances"
for c in go opendkim perl swaks postfix; do command -v "$c" > /dev/null || fail "$c is not installed (scripts/install-deps.sh)"; done
[ -x "$EXIM" ] && getent passwd Debian-exim > /dev/null || fail "Exim is not unpacked at $EXIM (scripts/install-deps.sh)"

export GOCACHE=$WORK/gocache GOPATH=$WORK/gopath GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=off
go build -o "$WORK/gosend" "$HERE/gosend.go" || fail "go build gosend"

chmod 711 "$WORK"   # Postfix (postfix) and Exim (Debian-exim) reach their directories below
make_test_ca "$WORK"
BARE_PORT=$(free_port)
ALL_PORT=$(free_port)
MX_PORT=$(free_port)

# --- Postfix: the bare and the full smarthost, and an MX; one instance, three listeners ---
# (inet_interfaces stays 127.0.0.1: Postfix refuses an address lo does not carry there, while
# a master.cf service bound to 127.0.0.21:PORT is fine.)
PF=$WORK/postfix
MAILLOG=$PF/maillog
mkdir -p "$PF/queue" "$PF/data" "$PF/mail"
chmod 755 "$PF" "$PF/queue"
chown postfix: "$PF/data" "$PF/mail"
install -m 644 "$WORK/sink.pem" "$PF/cert.pem"
install -m 640 -g postfix "$WORK/sink.key" "$PF/key.pem"
pf_main_cf t47 hops.example.test
cat >> "$PF/main.cf" << EOF
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_tls_security_level = may
smtpd_tls_cert_file = $PF/cert.pem
smtpd_tls_key_file = $PF/key.pem
smtpd_tls_loglevel = 1
smtputf8_enable = yes
message_size_limit = 20480000
virtual_mailbox_domains = bare.test all.test pfmx.test example.test
virtual_mailbox_base = $PF/mail
virtual_mailbox_maps = static:inbox/
virtual_minimum_uid = 1
virtual_uid_maps = static:$(id -u postfix)
virtual_gid_maps = static:$(id -g postfix)
EOF
pf_master_cf
cat >> "$PF/master.cf" << EOF
127.0.0.1:$BARE_PORT inet n - n - - smtpd
  -o syslog_name=postfix-t47/bare
  -o smtpd_discard_ehlo_keywords=pipelining,8bitmime,smtputf8,chunking
127.0.0.1:$ALL_PORT inet n - n - - smtpd
  -o syslog_name=postfix-t47/all
127.0.0.21:$MX_PORT inet n - n - - smtpd
  -o syslog_name=postfix-t47/mx
EOF
pf_start 127.0.0.21 "$MX_PORT"

ehlo() { timeout 30 swaks --server "$1" --timeout 10 --tls --tls-ca-path "$WORK/ca.pem" --quit-after EHLO 2>&1 | tr -d '\r' > "$2" || true; }
ehlo "127.0.0.1:$BARE_PORT" "$WORK/ehlo-bare.txt"
ehlo "127.0.0.1:$ALL_PORT" "$WORK/ehlo-all.txt"
for kw in PIPELINING 8BITMIME SMTPUTF8 CHUNKING; do
  grep -q "^<~ *250[- ]$kw\$" "$WORK/ehlo-all.txt" || { cat "$WORK/ehlo-all.txt"; fail "the full smarthost does not offer $kw"; }
  grep -q "250[- ]$kw\$" "$WORK/ehlo-bare.txt" && { cat "$WORK/ehlo-bare.txt"; fail "the bare smarthost offers $kw"; }
done
grep -q '^<- *250[- ]STARTTLS$' "$WORK/ehlo-bare.txt" || { cat "$WORK/ehlo-bare.txt"; fail "the bare smarthost offers no STARTTLS"; }
pass "Postfix: bare smarthost on :$BARE_PORT (STARTTLS only), full smarthost on :$ALL_PORT, MX on 127.0.0.21:$MX_PORT"

# --- Exim 4 as the MX of exim.test ------------------------------------------------------
EX=$WORK/exim
mkdir -p "$EX/spool" "$EX/log" "$EX/mail"
install -m 644 "$WORK/sink.pem" "$EX/cert.pem"
install -m 600 "$WORK/sink.key" "$EX/key.pem"
cat > "$EX/exim.conf" << EOF
exim_path = $EXIM
spool_directory = $EX/spool
log_file_path = $EX/log/%slog
primary_hostname = mx.exim.test
daemon_smtp_ports = $MX_PORT
local_interfaces = 127.0.0.22
tls_certificate = $EX/cert.pem
tls_privatekey = $EX/key.pem
tls_advertise_hosts = *
smtputf8_advertise_hosts = *
chunking_advertise_hosts = *
pipelining_advertise_hosts = *
keep_environment =
host_lookup =
rfc1413_hosts =
# Deliver every message at once (Exim queues from the 11th in one connection by default,
# for a queue runner this test does not start); Exim does not verify DKIM here.
smtp_accept_queue_per_connection = 0
dkim_verify_signers =
message_size_limit = 50M
domainlist local_domains = exim.test
acl_smtp_rcpt = check_rcpt

begin acl
check_rcpt:
  accept domains = +local_domains
  deny message = relay not permitted

begin routers
local:
  driver = accept
  domains = +local_domains
  transport = to_maildir

begin transports
to_maildir:
  driver = appendfile
  directory = $EX/mail
  maildir_format
  create_directory
  user = Debian-exim
  return_path_add
EOF
chown -R Debian-exim: "$EX"
chown root: "$EX/exim.conf"   # Exim reads a configuration only when root owns it
"$EXIM" -C "$EX/exim.conf" -bdf -odi > "$EX/out" 2>&1 &
track_pid $!
wait_for_log "$EX/log/mainlog" 'daemon started' 20
ehlo "127.0.0.22:$MX_PORT" "$WORK/ehlo-exim.txt"
for kw in PIPELINING 8BITMIME SMTPUTF8 CHUNKING; do
  grep -q "^<~ *250[- ]$kw\$" "$WORK/ehlo-exim.txt" || { cat "$WORK/ehlo-exim.txt"; fail "Exim does not offer $kw"; }
done
pass "Exim $("$EXIM" -C "$EX/exim.conf" -bV 2> /dev/null | sed -n 's/^Exim version \([^ ]*\).*/\1/p') is the MX on 127.0.0.22:$MX_PORT"

# --- DNS: the MX records ------------------------------------------------------------------
unbound_start test
unbound_add_rr "pfmx.test. 300 IN MX 10 mx.pfmx.test."
unbound_add_rr "mx.pfmx.test. 300 IN A 127.0.0.21"
unbound_add_rr "exim.test. 300 IN MX 10 mx.exim.test."
unbound_add_rr "mx.exim.test. 300 IN A 127.0.0.22"
unbound_restart

# --- Signpost: MX delivery, routes to the smarthosts --------------------------------------
sub_setup "$WORK/dev"
sed -i 's/^hostname = "localhost"$/hostname = "relay.example.test"/; s/^name = "example.test"$/name = "example.test"\nsign_subdomains = true/' "$CFG"
grep -q '^sign_subdomains = true' "$CFG" || fail "could not edit $CFG"
$PY - "$CFG" << EOF
import re, sys
path = sys.argv[1]
text = open(path).read()
text = re.sub(r'\[delivery\][^\[]*', '[delivery]\nmode = "mx"\nmx_port = $MX_PORT\nextra_ca_file = "$WORK/ca.pem"\n\n', text, count=1)
text = re.sub(r'\[queue\][^\[]*', '[queue]\ndir = "spool"\nretry = ["1h"]\n\n', text, count=1)
text += '\n[dns]\nforwarders = ["127.0.0.1@$UNBOUND_PORT"]\ntimeout = "3s"\n'
for domain, port in (("bare.test", $BARE_PORT), ("all.test", $ALL_PORT), ("example.test", $ALL_PORT)):
    text += '\n[[route]]\ndomain = "%s"\nhost = "127.0.0.1:%d"\ntls = "verify"\n' % (domain, port)
open(path, "w").write(text)
EOF
"$SIGNPOST" check-config --config "$CFG" > /dev/null 2> "$WORK/check.err" || { cat "$WORK/check.err"; fail "config refused"; }
sub_start

RC=0
$PY "$HERE/hops.py" --work "$WORK/msgs" --cert "$CERT" --password "$DEV_PASSWORD" --port "$SUBMISSION_PORT" \
  --records "$RECDIR" --gosend "$WORK/gosend" --verifiers "$SIGNPOST_SOURCE_DIR/tests/integration/dkim" \
  --postfix-mail "$PF/mail/inbox" --exim-mail "$EX/mail" --table "$WORK/table.md" > "$WORK/hops.out" 2>&1 || RC=$?
cat "$WORK/hops.out"
if [ "$RC" != 0 ]; then
  echo "--- signpost:"; tail -n 40 "$LOG"; echo "--- postfix:"; tail -n 40 "$MAILLOG"; echo "--- exim:"; tail -n 20 "$EX/log/mainlog"
  fail "the next-hop matrix has failing cells (above)"
fi
if grep -q 'improper command pipelining' "$MAILLOG"; then
  grep 'improper command pipelining' "$MAILLOG"
  fail "Signpost pipelined commands to a Postfix that does not offer PIPELINING"
fi
grep -q 'postfix-t47/bare/smtpd.*TLS connection established from' "$MAILLOG" \
  || fail "no TLS connection from Signpost at the bare smarthost"
pass "every message went through every next hop over TLS, or was returned only where SMTPUTF8 was needed and missing"
readme_table interop-hops "$WORK/table.md"
sub_stop
