#!/usr/bin/env bash
# t82-resolver-dnssec — relay/dns's resolver (through the dns_query driver) with DNSSEC
# validation against the signed test world of dnssec.sh (NSD on 127.0.0.1, trust anchor for
# test.). Each answer's security status, as delivery uses it:
#   signed zone: A, MX, TLSA secure; a missing name NXDOMAIN, secure (signed denial);
#   a CNAME across two signed zones: secure, with the target as `cname=`;
#   unsigned zone (delegation without DS): insecure, records usable;
#   bogus signatures and expired signatures: servfail, security bogus, why names DNSSEC;
#   without a trust anchor: the same signed data is indeterminate.
# Usage: t82-resolver-dnssec.sh PATH/TO/dns_query
set -euo pipefail

DRIVER=${1:?usage: t82-resolver-dnssec.sh PATH/TO/dns_query}
source "${SIGNPOST_SOURCE_DIR:?}/tests/integration/lib.sh"
source "$SIGNPOST_SOURCE_DIR/tests/integration/dnssec.sh"
[ -x "$DRIVER" ] || fail "driver not executable: $DRIVER"
TLSA=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

dnssec_zone sig.test signed
dnssec_zone other.test signed
dnssec_zone plain.test unsigned
dnssec_zone broken.test bogus
dnssec_zone stale.test expired
dnssec_rr sig.test "sig.test. 300 IN MX 10 mx.sig.test."
dnssec_rr sig.test "mx.sig.test. 300 IN A 127.0.0.41"
dnssec_rr sig.test "_25._tcp.mx.sig.test. 300 IN TLSA 3 1 1 $TLSA"
dnssec_rr sig.test "alias.sig.test. 300 IN CNAME mx.other.test."
dnssec_rr other.test "mx.other.test. 300 IN A 127.0.0.42"
dnssec_rr plain.test "mx.plain.test. 300 IN A 127.0.0.43"
dnssec_rr plain.test "_25._tcp.mx.plain.test. 300 IN TLSA 3 1 1 $TLSA"
dnssec_rr broken.test "mx.broken.test. 300 IN A 127.0.0.44"
dnssec_rr stale.test "mx.stale.test. 300 IN A 127.0.0.45"
dnssec_start

# query ARGS...: the driver's lines without the ms= field.
query() {
  timeout 30 "$DRIVER" --forwarder "127.0.0.1@$DNSSEC_PORT" --timeout 5 "$@" > "$WORK/query.out" 2> "$WORK/query.err" \
    || { cat "$WORK/query.out" "$WORK/query.err"; fail "dns_query $* failed or hung"; }
  sed -E 's/ ms=[0-9]+//' "$WORK/query.out"
}
expect() {
  diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") > "$WORK/diff" \
    || { cat "$WORK/diff"; fail "$1: answers differ from what is expected (< expected, > got)"; }
  pass "$1"
}

got=$(query --trust-anchor "$DNSSEC_ANCHOR" mx:sig.test a:mx.sig.test tlsa:_25._tcp.mx.sig.test a:nothere.sig.test \
  a:alias.sig.test a:mx.plain.test tlsa:_25._tcp.mx.plain.test)
expect "secure, insecure and CNAME answers" "mx sig.test ok [10 mx.sig.test] security=secure why=
a mx.sig.test ok [127.0.0.41] security=secure why=
tlsa _25._tcp.mx.sig.test ok [3 1 1 $TLSA] security=secure why=
a nothere.sig.test nxdomain [] security=secure why=NXDOMAIN
a alias.sig.test ok [127.0.0.42] security=secure cname=mx.other.test why=
a mx.plain.test ok [127.0.0.43] security=insecure why=
tlsa _25._tcp.mx.plain.test ok [3 1 1 $TLSA] security=insecure why=" "$got"

got=$(query --trust-anchor "$DNSSEC_ANCHOR" a:mx.broken.test a:mx.stale.test)
grep -qx 'a mx.broken.test servfail \[\] security=bogus why=DNSSEC bogus: .*' <<< "$got" \
  || fail "bad signatures: want servfail/bogus, got: $got"
grep -qx 'a mx.stale.test servfail \[\] security=bogus why=DNSSEC bogus: .*expired.*' <<< "$got" \
  || fail "expired signatures: want servfail/bogus naming the expiry, got: $got"
pass "bogus and expired signatures: servfail, security bogus, the reason kept"

got=$(query a:mx.sig.test a:mx.broken.test)
expect "no trust anchor: indeterminate, bogus data passes unchecked" "a mx.sig.test ok [127.0.0.41] security=indeterminate why=
a mx.broken.test ok [127.0.0.44] security=indeterminate why=" "$got"
