#!/usr/bin/env bash
# t71: MX delivery with MTA-STS (RFC 8461) against real peers on loopback.
#   unbound serves the "test." zone (MX, A, _mta-sts TXT records); nginx serves the MTA-STS
#   policies over HTTPS (certificates from a CA made here, trusted through [delivery]
#   extra_ca_file); three aiosmtpd MX hosts share mx_port on their own addresses:
#     mx1.mx.test 127.0.0.11  STARTTLS, certificate valid for mx1.mx.test
#     mx2.mx.test 127.0.0.12  STARTTLS, certificate for another name
#     mx3.mx.test 127.0.0.13  no STARTTLS
# One message per destination domain; each case checks where it went (or why not) and how.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../unbound.sh"

for tool in nginx openssl; do command -v "$tool" > /dev/null || fail "$tool not found (scripts/install-deps.sh)"; done

init_dev "$WORK/dev"
CFG=$WORK/dev/signpost.toml
MX_PORT=$(free_port)
HTTPS_PORT=$(free_port)
mkdir -p "$WORK/pki" "$WORK/www" "$WORK/nginx"

# ---- certificates ---------------------------------------------------------------------
make_test_ca "$WORK/pki"
cert_for() { test_ca_cert "$WORK/pki" "$1" "$2"; }  # cert_for NAME FILE-PREFIX
cert_for mx1.mx.test "$WORK/pki/mx1"
cert_for wrong-name.example.net "$WORK/pki/mx2"

DOMAINS="enforce unlisted wrongname nostarttls testing cache idchange"
for d in $DOMAINS; do cert_for "mta-sts.$d.test" "$WORK/pki/sts-$d"; done

# ---- DNS ------------------------------------------------------------------------------
unbound_start test
zone() { printf "local-data: '%s'\n" "$1" >> "$UNBOUND_ZONE"; }
sts_txt() { printf "local-data: '_mta-sts.%s.test. 1 IN TXT \"v=STSv1; id=%s;\"'\n" "$1" "$2" >> "$UNBOUND_ZONE"; }
zone "mx1.mx.test. 300 IN A 127.0.0.11"
zone "mx2.mx.test. 300 IN A 127.0.0.12"
zone "mx3.mx.test. 300 IN A 127.0.0.13"
mx_for() { zone "$1.test. 1 IN MX $2"; }
mx_for enforce "10 mx1.mx.test."
mx_for unlisted "10 mx1.mx.test."
mx_for wrongname "10 mx2.mx.test."
mx_for nostarttls "10 mx3.mx.test."
mx_for testing "10 mx2.mx.test."
mx_for plain "10 mx3.mx.test."
mx_for nullmx "0 ."
mx_for cache "10 mx1.mx.test."
mx_for idchange "10 mx2.mx.test."
mx_for routeverify "10 mx2.mx.test."
for d in $DOMAINS; do zone "mta-sts.$d.test. 300 IN A 127.0.0.10"; done
sts_txt enforce 1; sts_txt unlisted 1; sts_txt wrongname 1; sts_txt nostarttls 1; sts_txt testing 1
sts_txt cache 1; sts_txt idchange 1
# broken.test: delegated to a server that never answers (SERVFAIL or timeout: temporary).
DEAD_PORT=$(free_port)
{
  echo "local-zone: \"broken.test.\" transparent"
  echo "stub-zone:"
  echo "  name: \"broken.test.\""
  echo "  stub-addr: 127.0.0.1@$DEAD_PORT"
  echo "server:"
} >> "$UNBOUND_ZONE"
unbound_restart

# ---- MTA-STS policies over HTTPS ---------------------------------------------------------
policy() {  # policy DOMAIN MODE MX...
  local d=$1 mode=$2 f
  shift 2
  mkdir -p "$WORK/www/$d/.well-known"
  f=$WORK/www/$d/.well-known/mta-sts.txt
  printf 'version: STSv1\r\nmode: %s\r\n' "$mode" > "$f"
  for m in "$@"; do printf 'mx: %s\r\n' "$m" >> "$f"; done
  printf 'max_age: 86400\r\n' >> "$f"
}
policy enforce enforce mx1.mx.test
policy unlisted enforce mx9.mx.test
policy wrongname enforce mx2.mx.test
policy nostarttls enforce mx3.mx.test
policy testing testing mx2.mx.test
policy cache enforce "*.mx.test"
policy idchange testing mx2.mx.test
{
  echo "daemon off; master_process off; pid $WORK/nginx/nginx.pid; error_log $WORK/nginx/error.log;"
  echo "events {}"
  echo "http { access_log $WORK/nginx/access.log; default_type text/plain; types { text/plain txt; }"
  echo "  client_body_temp_path $WORK/nginx/body; proxy_temp_path $WORK/nginx/proxy;"
  echo "  fastcgi_temp_path $WORK/nginx/fastcgi; uwsgi_temp_path $WORK/nginx/uwsgi; scgi_temp_path $WORK/nginx/scgi;"
  for d in $DOMAINS; do
    echo "  server { listen 127.0.0.10:$HTTPS_PORT ssl; server_name mta-sts.$d.test;"
    echo "    ssl_certificate $WORK/pki/sts-$d.pem; ssl_certificate_key $WORK/pki/sts-$d.key;"
    echo "    root $WORK/www/$d; }"
  done
  echo "}"
} > "$WORK/nginx/nginx.conf"
nginx -t -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" > "$WORK/nginx/t.out" 2>&1 || { cat "$WORK/nginx/t.out"; fail "nginx -t"; }
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" > "$WORK/nginx/out" 2>&1 &
track_pid $!
for ((i = 0; i < 50; i++)); do
  curl -s --cacert "$WORK/pki/ca.pem" --resolve "mta-sts.enforce.test:$HTTPS_PORT:127.0.0.10" \
    "https://mta-sts.enforce.test:$HTTPS_PORT/.well-known/mta-sts.txt" | grep -q 'mode: enforce' && break
  sleep 0.1
done
[ "$i" -lt 50 ] || { cat "$WORK/nginx/error.log"; fail "nginx does not serve the policy"; }

# ---- MX hosts ---------------------------------------------------------------------------
mx_sink mx1 127.0.0.11 --tls-cert "$WORK/pki/mx1.pem" --tls-key "$WORK/pki/mx1.key"
mx_sink mx2 127.0.0.12 --tls-cert "$WORK/pki/mx2.pem" --tls-key "$WORK/pki/mx2.key"
mx_sink mx3 127.0.0.13

# ---- Signpost ---------------------------------------------------------------------------
/usr/bin/python3 - "$CFG" <<EOF
import re, sys
path = sys.argv[1]
text = open(path).read()
text = re.sub(r'\[delivery\][^\[]*', '[delivery]\nmode = "mx"\nmx_port = $MX_PORT\nextra_ca_file = "$WORK/pki/ca.pem"\n\n', text, count=1)
text = re.sub(r'\[mta_sts\][^\[]*', '[mta_sts]\nenabled = true\nhttps_port = $HTTPS_PORT\n\n', text, count=1)
text = re.sub(r'\[queue\][^\[]*', '[queue]\ndir = "spool"\nretry = ["1h"]\n\n', text, count=1)
text += '\n[dns]\nforwarders = ["127.0.0.1@$UNBOUND_PORT"]\ntimeout = "3s"\n'
# [[route]]: a next hop with plaintext allowed, and a TLS requirement stronger than the
# domain publishes (no MTA-STS there).
text += '\n[[route]]\ndomain = "route.test"\nhost = "127.0.0.13:$MX_PORT"\ntls = "none"\n'
text += '\n[[route]]\ndomain = "routeverify.test"\ntls = "verify"\n'
open(path, "w").write(text)
EOF
"$SIGNPOST" check-config --config "$CFG" > "$WORK/effective.toml" 2> "$WORK/check.err" || { cat "$WORK/check.err"; fail "config refused"; }

LOG=$WORK/serve.log
start_signpost() {
  "$SIGNPOST" serve --config "$CFG" >> "$LOG" 2>&1 &
  SP_PID=$!
  track_pid $SP_PID
  wait_for_log "$LOG" 'ready$' 10
}
start_signpost

declare -A QID
submit() {  # submit DOMAIN: one message to user@DOMAIN; records its queue id
  local d=$1 id
  id=$(swaks --server "127.0.0.1:$SUBMISSION_PORT" --tls --auth PLAIN --auth-user dev --auth-password "$DEV_PASSWORD" \
         --from dev@example.test --to "user@$d" --header "Subject: t71 $d" \
         --header "Message-Id: <t71-$d@example.test>" 2>&1 | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
  [ -n "$id" ] || fail "submission to $d was not queued"
  QID[$d]=$id
}

# delivered_to SINK DOMAIN: the message for DOMAIN reached SINK (10 s)
delivered_to() {
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q "<t71-$2@example.test>" "$WORK/$1/sink.log" 2>/dev/null && return 0
    sleep 0.1
  done
  grep "${QID[$2]}" "$LOG" | tail -5
  fail "$2: not delivered to $1"
}

# bounced_with DOMAIN PATTERN: the message left the queue and a failure report matching
# PATTERN was queued for it (10 s)
bounced_with() {
  local i
  for ((i = 0; i < 100; i++)); do
    if grep -q "${QID[$1]}: failed for <user@$1>.*$2" "$LOG" && grep -q "${QID[$1]}: failure DSN queued" "$LOG" \
       && ! "$SIGNPOST" queue show "${QID[$1]}" --config "$CFG" > /dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  grep "${QID[$1]}" "$LOG" | tail -5
  fail "$1: not bounced with /$2/"
}

# attempt_line DOMAIN: the attempt log line for the domain's message
attempt_line() { grep "\[${QID[$1]}\] $1.test: attempt via" "$LOG" | tail -1; }

CASES="enforce unlisted wrongname nostarttls testing plain nullmx missing broken cache idchange route routeverify"
for d in $CASES; do submit "$d.test"; done
# QID keys carry the ".test"; the helpers take the full domain
declare -A Q
for d in $CASES; do Q[$d]=${QID[$d.test]}; done

delivered_to mx1 enforce.test
grep "\[${Q[enforce]}\] enforce.test: attempt via" "$LOG" | grep -q "policy mta-sts-enforce (MTA-STS enforce id 1 (fetched)); TLS TLSv1.[23] .*, certificate verified" \
  || { grep "${Q[enforce]}" "$LOG"; fail "enforce: the attempt line does not show verified TLS under enforce"; }
pass "enforce + listed MX + valid certificate: delivered over verified TLS ($(grep "\[${Q[enforce]}\] enforce.test: attempt via" "$LOG" | tail -1 | cut -c1-200))"
# A second message to the same MX host goes over the connection kept from the first (same
# policy), after RSET; it is verified the same.
QID[again.enforce.test]=""
id2=$(swaks --server "127.0.0.1:$SUBMISSION_PORT" --tls --auth PLAIN --auth-user dev --auth-password "$DEV_PASSWORD" \
        --from dev@example.test --to "other@enforce.test" --header "Subject: t71 again" \
        --header "Message-Id: <t71-again@example.test>" 2>&1 | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
[ -n "$id2" ] || fail "second enforce.test message not queued"
for ((i = 0; i < 100; i++)); do grep -q "<t71-again@example.test>" "$WORK/mx1/sink.log" && break; sleep 0.1; done
grep "\[$id2\] enforce.test: attempt via" "$LOG" | grep -q "(reused connection): policy mta-sts-enforce .*certificate verified" \
  || { grep "$id2" "$LOG"; fail "the second message did not reuse the verified connection"; }
pass "a further message to the same MX host reuses the connection (RSET), still under enforce and verified"

deferred_with unlisted.test "4.7.5 MTA-STS policy id 1 \(enforce\) for unlisted.test lists none of its MX hosts"
grep -q "<t71-unlisted.test@example.test>" "$WORK"/mx*/sink.log && fail "unlisted: delivered although the MX is not in the policy"
pass "enforce + MX not in the policy: not delivered, deferred (4.7.5)"

deferred_with wrongname.test "4.7.5 .*not verified"
grep -q "<t71-wrongname.test@example.test>" "$WORK"/mx2/sink.log && fail "wrongname: delivered over an unverified certificate"
pass "enforce + certificate for the wrong name: deferred"

deferred_with nostarttls.test "4.7.4"
grep -q "<t71-nostarttls.test@example.test>" "$WORK"/mx3/sink.log && fail "nostarttls: delivered in plaintext under enforce"
pass "enforce + no STARTTLS: deferred"

delivered_to mx2 testing.test
grep -q "\[${Q[testing]}\] testing.test: MTA-STS testing: enforce would have refused .*certificate not verified" "$LOG" \
  || fail "testing: the failure enforce would have caused is not logged"
pass "testing mode: delivered, the certificate failure logged"

delivered_to mx3 plain.test
grep "\[${Q[plain]}\] plain.test: attempt via" "$LOG" | grep -q "policy opportunistic (no MTA-STS policy" \
  || fail "plain: the attempt is not logged as opportunistic"
pass "no policy: opportunistic (plaintext to an MX without STARTTLS)"

bounced_with nullmx.test "5.1.10"
pass "null MX: bounced (5.1.10)"
bounced_with missing.test "5.1.2"
pass "NXDOMAIN: bounced (5.1.2)"
deferred_with broken.test "4.4.3"
"$SIGNPOST" queue flush "${Q[broken]}" --config "$CFG" > /dev/null
for ((i = 0; i < 100; i++)); do
  "$SIGNPOST" queue show "${Q[broken]}" --config "$CFG" | grep -q "2 attempt(s)" && break
  sleep 0.1
done
"$SIGNPOST" queue show "${Q[broken]}" --config "$CFG" | grep -q "2 attempt(s)" || fail "broken: not retried"
pass "SERVFAIL: deferred (4.4.3) and retried"

delivered_to mx3 route.test
grep "\[${Q[route]}\] route.test: attempt via" "$LOG" | grep -q "127.0.0.13\]:$MX_PORT: policy route" \
  || { grep "${Q[route]}" "$LOG"; fail "route: the [[route]] next hop was not used"; }
pass "[[route]] host + tls = none: sent to the configured next hop"
deferred_with routeverify.test "4.7.5 .*not verified"
grep -q "<t71-routeverify.test@example.test>" "$WORK"/mx2/sink.log && fail "routeverify: delivered over an unverified certificate"
pass "[[route]] tls = verify where no MTA-STS is published: deferred on a wrong-name certificate"

delivered_to mx1 cache.test
pass "cache.test: policy fetched, delivered"

# The TXT ids change; cache.test's policy can no longer be fetched (404) and its MX moves to
# a host the cached policy does not list; idchange.test's new policy is enforce.
rm "$WORK/www/cache/.well-known/mta-sts.txt"
policy idchange enforce mx2.mx.test
sed -i -e "s/_mta-sts.cache.test. 1 IN TXT \"v=STSv1; id=1;\"/_mta-sts.cache.test. 1 IN TXT \"v=STSv1; id=2;\"/" \
       -e "s/_mta-sts.idchange.test. 1 IN TXT \"v=STSv1; id=1;\"/_mta-sts.idchange.test. 1 IN TXT \"v=STSv1; id=2;\"/" \
       -e "s/cache.test. 1 IN MX 10 mx1.mx.test./cache.test. 1 IN MX 10 mx3.other.test./" "$UNBOUND_ZONE"
zone "mx3.other.test. 300 IN A 127.0.0.13"
unbound_restart
sleep 1.2  # the 1 s TTLs run out
submit cache.test; Q[cache2]=${QID[cache.test]}
submit idchange.test; Q[idchange2]=${QID[idchange.test]}
QID[cache.test]=${Q[cache2]}
deferred_with cache.test "4.7.5 .*lists none of its MX hosts \(mx3.other.test\)"
grep "${Q[cache2]}" "$LOG" | grep -q "skipping MX mx3.other.test" || fail "cache: the unlisted MX was not skipped"
grep -q "MTA-STS cache.test: fetch: .*HTTP 404.*the cached policy (id 1) stays in force" "$LOG" \
  || fail "cache: the failed fetch is not reported"
pass "fetch fails with a cached policy: the cached enforce policy still applies (deferred, not sent to an unlisted MX)"

QID[idchange.test]=${Q[idchange2]}
deferred_with idchange.test "4.7.5 .*not verified"
pass "TXT id changed: the new (enforce) policy was fetched and applies"

# The decisions are counted.
curl -s "http://127.0.0.1:$METRICS_PORT/metrics" > "$WORK/metrics.txt" || fail "no metrics"
grep -qE '^signpost_delivery_sessions_total\{.*policy="mta-sts-enforce".*result="delivered".*\} [1-9]' "$WORK/metrics.txt" \
  || grep -qE '^signpost_delivery_sessions_total\{.*result="delivered".*policy="mta-sts-enforce".*\} [1-9]' "$WORK/metrics.txt" \
  || { grep signpost_delivery "$WORK/metrics.txt"; fail "enforce deliveries are not counted"; }
grep -qE '^signpost_delivery_sessions_total\{.*policy="mta-sts-enforce".*result="deferred".*\} [1-9]|^signpost_delivery_sessions_total\{.*result="deferred".*policy="mta-sts-enforce".*\} [1-9]' "$WORK/metrics.txt" \
  || { grep signpost_delivery "$WORK/metrics.txt"; fail "enforce deferrals are not counted"; }
grep -qE '^signpost_mta_sts_testing_failures_total [1-9]' "$WORK/metrics.txt" || fail "testing-mode failures are not counted"
pass "sessions counted by policy and result; testing-mode failures counted"

# Restart: the policies are known from the cache on disk.
kill -TERM $SP_PID
wait_exit $SP_PID 20
"$SIGNPOST" explain enforce.test --config "$CFG" > "$WORK/explain.out" 2>&1 || { cat "$WORK/explain.out"; fail "explain failed"; }
cat "$WORK/explain.out"
grep -q "MTA-STS:   mode enforce, id 1, max_age 86400s, .* cached" "$WORK/explain.out" || fail "explain: the cached policy is not shown"
grep -q "mx1.mx.test  \[127.0.0.11\]" "$WORK/explain.out" || fail "explain: MX host missing"
grep -q "STARTTLS and a certificate valid for it are required" "$WORK/explain.out" || fail "explain: TLS requirement missing"
pass "after a restart the cached policy is known (signpost explain)"
