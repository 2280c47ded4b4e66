#!/usr/bin/env bash
# t81-dnssec-world — self-test of tests/integration/dnssec.sh: NSD on 127.0.0.1 serving the
# signed test root `test.` and children in every mode, checked through a throwaway validating
# unbound (module-config "validator iterator", trust-anchor-file $DNSSEC_ANCHOR, forwarding
# "." to NSD with the relay's options: do-not-query-localhost no, local-zone "test."
# transparent; no caching, so every answer is fresh):
#   1. an A record in test. and in a signed zone is secure (AD); a TLSA record in a signed
#      zone is served and secure; a CNAME from one signed zone to another validates secure
#      (both records, AD); a missing name in a signed zone is a secure NXDOMAIN.
#   2. an A record in an unsigned zone is answered without AD (insecure).
#   3. a bogus zone and an expired zone answer SERVFAIL (EDE 6 DNSSEC Bogus, EDE 7
#      Signature Expired) although NSD serves the records (seen with +cd).
#   4. dnssec_reload: a record added after start is served and secure (SIGHUP reload on the
#      same port); a zone declared after start is served and secure (restart, same port).
# Needs no program argument (lib.sh still wants SIGNPOST_BIN, which ctest sets).
set -euo pipefail

source "${SIGNPOST_SOURCE_DIR:?}/tests/integration/lib.sh"
source "$SIGNPOST_SOURCE_DIR/tests/integration/dnssec.sh"
command -v unbound > /dev/null || fail "unbound not found (scripts/install-deps.sh installs it)"
TLSA_DATA=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

dnssec_zone dane.test signed
dnssec_zone other.test signed
dnssec_zone plain.test unsigned
dnssec_zone broken.test bogus
dnssec_zone stale.test expired
dnssec_rr test "www.test. 300 IN A 127.0.0.30"
dnssec_rr dane.test "dane.test. 300 IN MX 10 mx.dane.test."
dnssec_rr dane.test "mx.dane.test. 300 IN A 127.0.0.31"
dnssec_rr dane.test "mx.dane.test. 300 IN AAAA ::1"
dnssec_rr dane.test "dane.test. 300 IN TXT \"v=spf1 -all\""
dnssec_rr dane.test "_25._tcp.mx.dane.test. 300 IN TLSA 3 1 1 $TLSA_DATA"
dnssec_rr dane.test "alias.dane.test. 300 IN CNAME target.other.test."
dnssec_rr other.test "target.other.test. 300 IN A 127.0.0.32"
dnssec_rr plain.test "mx.plain.test. 300 IN A 127.0.0.33"
dnssec_rr broken.test "mx.broken.test. 300 IN A 127.0.0.34"
dnssec_rr stale.test "mx.stale.test. 300 IN A 127.0.0.35"
dnssec_start
grep -qE '^test\. 3600 IN DS [0-9]+ 13 2 [0-9a-f]{64}$' "$DNSSEC_ANCHOR" \
  || { cat "$DNSSEC_ANCHOR"; fail "the trust anchor is not a DS line for test."; }
pass "NSD serves the signed test world on 127.0.0.1@$DNSSEC_PORT (pid $DNSSEC_PID)"

# The validating resolver.
VDIR=$WORK/validator
mkdir -p "$VDIR"
start_validator() {
  local i
  VPORT=$(free_port)
  cat > "$VDIR/unbound.conf" << EOF
server:
  interface: 127.0.0.1@$VPORT
  port: $VPORT
  do-ip6: no
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  username: ""
  chroot: ""
  directory: "$VDIR"
  pidfile: "$VDIR/unbound.pid"
  logfile: ""
  use-syslog: no
  verbosity: 1
  val-log-level: 2
  ede: yes
  cache-max-ttl: 0
  cache-max-negative-ttl: 0
  aggressive-nsec: no
  do-not-query-localhost: no
  module-config: "validator iterator"
  trust-anchor-file: "$DNSSEC_ANCHOR"
  local-zone: "test." transparent
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@$DNSSEC_PORT
remote-control:
  control-enable: no
EOF
  unbound-checkconf "$VDIR/unbound.conf" > "$VDIR/checkconf.out" 2>&1 \
    || { cat "$VDIR/checkconf.out"; fail "unbound-checkconf rejects the validator config"; }
  : > "$VDIR/unbound.log"
  unbound -d -c "$VDIR/unbound.conf" >> "$VDIR/unbound.log" 2>&1 &
  VPID=$!
  track_pid "$VPID"
  for ((i = 0; i < 100; i++)); do
    pid_running "$VPID" || break
    dig @127.0.0.1 -p "$VPORT" +time=1 +tries=1 SOA test. > "$VDIR/probe" 2>&1 || true
    grep -q 'status: NOERROR' "$VDIR/probe" && return 0
    sleep 0.1
  done
  pid_running "$VPID" && { cat "$VDIR/unbound.log"; fail "the validator runs on port $VPORT but does not answer"; }
  wait "$VPID" 2> /dev/null || true
  grep -qi 'address already in use' "$VDIR/unbound.log" && return 1
  cat "$VDIR/unbound.log"
  fail "the validator did not start"
}
for attempt in 1 2 3 4 5; do
  start_validator && break
  [ "$attempt" = 5 ] && fail "the validator could not bind a port in 5 attempts"
done
pass "validating unbound on 127.0.0.1@$VPORT trusts test. through $DNSSEC_ANCHOR"

# vdig NAME TYPE [DIG OPTIONS...]: asks the validator; the answer in $WORK/dig.out.
vdig() {
  local name=$1 type=$2
  shift 2
  dig @127.0.0.1 -p "$VPORT" +dnssec +nosplit +time=3 +tries=2 "$@" "$type" "$name" > "$WORK/dig.out" 2>&1 \
    || { cat "$WORK/dig.out"; fail "dig $type $name: no answer from the validator"; }
}
has() { grep -qE "$1" "$WORK/dig.out"; }
ad_flag() { has '^;; flags:[^;]* ad[ ;]'; }
status_is() { has "status: $1,"; }
# answer_has NAME TYPE DATA: the answer section holds NAME TYPE DATA.
answer_has() {
  awk '/^;; ANSWER SECTION:/ { a = 1; next } /^$/ { a = 0 } a' "$WORK/dig.out" \
    | awk -v n="$1" -v t="$2" -v d="$3" 'tolower($1) == n && $4 == t { $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); if ($0 == d) f = 1 } END { exit !f }'
}

# expect_secure NAME TYPE DATA
expect_secure() {
  vdig "$1" "$2"
  status_is NOERROR && answer_has "$1" "$2" "$3" && ad_flag \
    || { cat "$WORK/dig.out"; fail "$2 $1: not a secure answer '$3'"; }
}

# 1. secure
expect_secure www.test. A 127.0.0.30
pass "an A record in test. itself is secure"
expect_secure mx.dane.test. A 127.0.0.31
pass "an A record in a signed zone is secure"
for rr in "dane.test. MX 10 mx.dane.test." "mx.dane.test. AAAA ::1" 'dane.test. TXT "v=spf1 -all"'; do
  read -r n t d <<< "$rr"
  expect_secure "$n" "$t" "$d"
done
pass "MX, AAAA and TXT records in a signed zone are secure"
expect_secure _25._tcp.mx.dane.test. TLSA "3 1 1 ${TLSA_DATA^^}"
pass "a TLSA record in a signed zone is served and secure"
vdig alias.dane.test. A
status_is NOERROR && answer_has alias.dane.test. CNAME target.other.test. \
  && answer_has target.other.test. A 127.0.0.32 && ad_flag \
  || { cat "$WORK/dig.out"; fail "a CNAME from dane.test. to other.test. is not a secure answer"; }
pass "a CNAME from a signed zone to a name in another signed zone validates secure"
vdig missing.dane.test. A
status_is NXDOMAIN && ad_flag || { cat "$WORK/dig.out"; fail "a missing name in a signed zone is not a secure NXDOMAIN"; }
pass "a missing name in a signed zone is a secure NXDOMAIN (NSEC)"

# 2. insecure
vdig mx.plain.test. A
status_is NOERROR && answer_has mx.plain.test. A 127.0.0.33 && ! ad_flag \
  || { cat "$WORK/dig.out"; fail "the unsigned zone's A record is not an insecure answer"; }
pass "an A record in an unsigned zone is answered, not secure (insecure delegation)"

# 3. bogus and expired
# expect_bogus NAME ADDRESS EDE: SERVFAIL with EDE from the validator; with +cd the record.
expect_bogus() {
  vdig "$1" A
  status_is SERVFAIL && ! answer_has "$1" A "$2" && has "EDE: $3" \
    || { cat "$WORK/dig.out"; fail "A $1: not SERVFAIL with EDE $3"; }
  vdig "$1" A +cd
  status_is NOERROR && answer_has "$1" A "$2" \
    || { cat "$WORK/dig.out"; fail "A $1 with checking disabled: not served"; }
}
expect_bogus mx.broken.test. 127.0.0.34 '6 \(DNSSEC Bogus\)'
pass "an A record in a bogus zone fails validation (SERVFAIL, EDE 6 DNSSEC Bogus)"
expect_bogus mx.stale.test. 127.0.0.35 '7 \(Signature Expired\)'
pass "an A record in an expired zone fails validation (SERVFAIL, EDE 7 Signature Expired)"

# 4. reload
dig @127.0.0.1 -p "$DNSSEC_PORT" +norec +time=2 +tries=2 A late.dane.test. > "$WORK/dig.out" 2>&1 || true
status_is NXDOMAIN || { cat "$WORK/dig.out"; fail "late.dane.test. exists before it is added"; }
port_before=$DNSSEC_PORT
dnssec_rr dane.test "late.dane.test. 300 IN A 127.0.0.36"
dnssec_reload
[ "$DNSSEC_PORT" = "$port_before" ] || fail "dnssec_reload moved NSD from port $port_before to $DNSSEC_PORT"
expect_secure late.dane.test. A 127.0.0.36
expect_secure mx.dane.test. A 127.0.0.31
pass "dnssec_reload serves a record added after start, secure (NSD reloaded on SIGHUP)"
dnssec_zone late.test signed
dnssec_rr late.test "mx.late.test. 300 IN A 127.0.0.37"
dnssec_reload
[ "$DNSSEC_PORT" = "$port_before" ] || fail "dnssec_reload moved NSD from port $port_before to $DNSSEC_PORT"
expect_secure mx.late.test. A 127.0.0.37
expect_secure late.dane.test. A 127.0.0.36
expect_bogus mx.broken.test. 127.0.0.34 '6 \(DNSSEC Bogus\)'
pass "dnssec_reload serves a zone declared after start, secure (NSD restarted on the same port)"
