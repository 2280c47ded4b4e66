#!/usr/bin/env bash
# t80-resolver-unbound — relay/dns's asynchronous resolver (through the dns_query driver)
# against a real unbound on 127.0.0.1 serving example.test, and against a forwarder that
# never answers:
#   1. MX with two preferences (one host written in upper case: answered in lower case), a
#      null MX (RFC 7505: host "."), a name with A and AAAA but no MX (ok, no records),
#      NXDOMAIN, a TXT record of two strings (joined), a TLSA record.
#   2. SERVFAIL: the server refuses a zone (local-zone ... refuse). libunbound does not pass
#      its forwarder's REFUSED on: it gives up on the forwarder and answers SERVFAIL, so the
#      resolver says servfail, why "SERVFAIL", at once (no waiting for the timeout).
#   3. 150 queries at once, each for its own name: every answer right.
#   4. A forwarder that never answers (a UDP socket nobody reads, a TCP listener nobody
#      accepts on): timeout after [dns] timeout (1 s here), not much before or after. 1005
#      queries at once there: 1000 time out, 5 are refused at once ("too many queries").
#   5. A name over 253 octets is refused without asking. Destroying the resolver with
#      queries outstanding answers them servfail "resolver shut down" at once, and nothing
#      is left running (the driver's io_context runs out of work and it exits).
# Every driver run is bounded by `timeout`. Usage: t80-resolver-unbound.sh PATH/TO/dns_query
set -euo pipefail

DRIVER=${1:?usage: t80-resolver-unbound.sh PATH/TO/dns_query}
source "${SIGNPOST_SOURCE_DIR:?}/tests/integration/lib.sh"
source "$SIGNPOST_SOURCE_DIR/tests/integration/unbound.sh"
[ -x "$DRIVER" ] || fail "driver not executable: $DRIVER"
DOMAIN=example.test
TLSA_DATA=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

# query ARGS...: the driver's lines without the ms= field (which changes from run to run).
query() {
  timeout 30 "$DRIVER" "$@" > "$WORK/query.out" 2> "$WORK/query.err" \
    || { cat "$WORK/query.out" "$WORK/query.err"; fail "dns_query $* failed or hung"; }
  sed -E 's/ ms=[0-9]+//' "$WORK/query.out"
}

# expect NAME EXPECTED ACTUAL: the two texts are equal.
expect() {
  diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") > "$WORK/diff" \
    || { cat "$WORK/diff"; fail "$1: answers differ from what is expected (< expected, > got)"; }
}

unbound_start "$DOMAIN"
unbound_add_rr "$DOMAIN. 300 IN MX 10 mx1.$DOMAIN."
unbound_add_rr "$DOMAIN. 300 IN MX 20 MX2.Example.TEST."
unbound_add_rr "null.$DOMAIN. 300 IN MX 0 ."
unbound_add_rr "host.$DOMAIN. 300 IN A 192.0.2.10"
unbound_add_rr "host.$DOMAIN. 300 IN AAAA 2001:db8::10"
unbound_add_rr "txt.$DOMAIN. 300 IN TXT \"v=spf1 \" \"-all\""
unbound_add_rr "_25._tcp.mx1.$DOMAIN. 300 IN TLSA 3 1 1 $TLSA_DATA"
for i in $(seq 1 150); do unbound_add_rr "h$i.$DOMAIN. 300 IN A 192.0.2.$i"; done
unbound_add_server 'local-zone: "refused.test." refuse'
unbound_restart
FWD=(--forwarder "127.0.0.1@$UNBOUND_PORT")
dig @127.0.0.1 -p "$UNBOUND_PORT" +time=2 +tries=1 x.refused.test A | grep -q 'status: REFUSED' \
  || fail "the test server does not refuse refused.test"
pass "unbound serves $DOMAIN on 127.0.0.1@$UNBOUND_PORT"

# 1. record types and answers
got=$(query "${FWD[@]}" "mx:$DOMAIN" "mx:null.$DOMAIN" "mx:host.$DOMAIN" "a:host.$DOMAIN" "aaaa:host.$DOMAIN" \
  "mx:missing.$DOMAIN" "a:missing.$DOMAIN" "txt:txt.$DOMAIN" "tlsa:_25._tcp.mx1.$DOMAIN" "tlsa:_25._tcp.host.$DOMAIN")
expect "record types" "mx $DOMAIN ok [10 mx1.$DOMAIN, 20 mx2.$DOMAIN] security=indeterminate why=
mx null.$DOMAIN ok [0 .] security=indeterminate why=
mx host.$DOMAIN ok [] security=indeterminate why=
a host.$DOMAIN ok [192.0.2.10] security=indeterminate why=
aaaa host.$DOMAIN ok [2001:db8::10] security=indeterminate why=
mx missing.$DOMAIN nxdomain [] security=indeterminate why=NXDOMAIN
a missing.$DOMAIN nxdomain [] security=indeterminate why=NXDOMAIN
txt txt.$DOMAIN ok [\"v=spf1 -all\"] security=indeterminate why=
tlsa _25._tcp.mx1.$DOMAIN ok [3 1 1 $TLSA_DATA] security=indeterminate why=
tlsa _25._tcp.host.$DOMAIN nxdomain [] security=indeterminate why=NXDOMAIN" "$got"
pass "MX (upper case answered lower case), null MX, NODATA, A, AAAA, NXDOMAIN, TXT of two strings, TLSA"

# 2. a refused zone: SERVFAIL, at once
got=$(query "${FWD[@]}" "mx:refused.test" "a:x.refused.test")
expect "refused zone" "mx refused.test servfail [] security=indeterminate why=SERVFAIL
a x.refused.test servfail [] security=indeterminate why=SERVFAIL" "$got"
pass "a zone the server refuses is servfail (libunbound turns REFUSED into SERVFAIL)"

# 3. 150 at once
args=() want=""
for i in $(seq 1 150); do
  args+=("a:h$i.$DOMAIN")
  want+="a h$i.$DOMAIN ok [192.0.2.$i] security=indeterminate why="$'\n'
done
got=$(query "${FWD[@]}" "${args[@]}")
expect "150 concurrent queries" "${want%$'\n'}" "$got"
pass "150 concurrent queries all answered right"

# 4. a forwarder that never answers
/usr/bin/python3 - "$WORK/blackhole.port" << 'PY' &
import os, socket, sys, time
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 0))
port = u.getsockname()[1]
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.bind(("127.0.0.1", port))
t.listen(1)
open(sys.argv[1] + ".tmp", "w").write(str(port))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(300)
PY
track_pid $!
for ((i = 0; i < 50; i++)); do [ -s "$WORK/blackhole.port" ] && break; sleep 0.1; done
[ -s "$WORK/blackhole.port" ] || fail "the silent forwarder did not start"
BH=(--forwarder "127.0.0.1@$(cat "$WORK/blackhole.port")")

timeout 30 "$DRIVER" "${BH[@]}" --timeout 1 "mx:$DOMAIN" "a:host.$DOMAIN" > "$WORK/timeout.out" \
  || { cat "$WORK/timeout.out"; fail "dns_query against the silent forwarder failed"; }
while read -r type name status rest; do
  [ "$status" = timeout ] || { cat "$WORK/timeout.out"; fail "$type $name: $status, want timeout"; }
  ms=$(sed -E 's/.* ms=([0-9]+) .*/\1/' <<< "$rest")
  { [ "$ms" -ge 950 ] && [ "$ms" -lt 3000 ]; } || fail "$type $name timed out after ${ms} ms, want about 1000"
  grep -q 'why=timeout after 1s$' <<< "$rest" || fail "$type $name: no reason given: $rest"
done < "$WORK/timeout.out"
pass "no answer: timeout after the configured 1 s"

args=()
for i in $(seq 1 1005); do args+=("a:same.$DOMAIN"); done
got=$(query "${BH[@]}" --timeout 1 "${args[@]}")
n_timeout=$(grep -c ' timeout \[\] security=indeterminate why=timeout after 1s$' <<< "$got" || true)
n_bound=$(grep -c ' servfail \[\] security=indeterminate why=too many queries (limit 1000)$' <<< "$got" || true)
[ "$n_timeout" = 1000 ] && [ "$n_bound" = 5 ] \
  || fail "1005 outstanding queries: $n_timeout timed out and $n_bound were refused, want 1000 and 5"
pass "at most 1000 queries outstanding; the 5 over the bound answer servfail at once"

# 5. bounds on names; shutdown with queries outstanding
long=$(printf 'a%.0s' $(seq 1 250)).test
got=$(query "${BH[@]}" --timeout 1 "a:$long")
expect "long name" "a $long servfail [] security=indeterminate why=name longer than 253 octets" "$got"
start=$(date +%s%N)
got=$(query "${BH[@]}" --timeout 20 --shutdown-after-ms 300 "mx:$DOMAIN" "txt:txt.$DOMAIN" "tlsa:_25._tcp.mx1.$DOMAIN")
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
expect "shutdown" "mx $DOMAIN servfail [] security=indeterminate why=resolver shut down
txt txt.$DOMAIN servfail [] security=indeterminate why=resolver shut down
tlsa _25._tcp.mx1.$DOMAIN servfail [] security=indeterminate why=resolver shut down" "$got"
[ "$elapsed_ms" -lt 5000 ] || fail "the driver took ${elapsed_ms} ms to stop after shutting the resolver down"
pass "names over 253 octets are refused unasked; shutdown answers outstanding queries and leaves nothing running"
