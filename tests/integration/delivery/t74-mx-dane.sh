#!/usr/bin/env bash
# t74: MX delivery with DANE (RFC 7672) against a DNSSEC-signed test world on loopback.
#   NSD serves signed zones (tests/integration/dnssec.sh); Signpost validates with the test
#   trust anchor ([dns] dnssec = true). Three aiosmtpd MX hosts share mx_port:
#     127.0.0.31  STARTTLS, a certificate for mxa/mxta/mxtaname... issued by the test CA
#                 (the CA sent in the chain, as DANE-TA asks)
#     127.0.0.32  STARTTLS, a self-signed certificate for another name
#     127.0.0.33  no STARTTLS
#   nginx serves one MTA-STS policy (enforce, listing another host) for both.dane.test.
# Each case submits one message and checks where it went, or why not, and how:
#   ee        3 1 1 of the server key                      -> delivered, policy dane, record named
#   ta        2 1 1 of the CA, name in the certificate     -> delivered, policy dane (DANE-TA)
#   taname    2 0 1 of the CA, host not in the certificate -> deferred 4.7.5 (name mismatch)
#   nomatch   3 1 1 matching nothing                       -> deferred 4.7.5, never sent
#   notls     3 1 1, host without STARTTLS                 -> deferred 4.7.4, never sent in plaintext
#   pkix      only 1 1 1 (PKIX-EE, unusable for SMTP)      -> delivered over unverified TLS (mandatory)
#   pkixnotls only PKIX records, host without STARTTLS     -> deferred 4.7.4
#   cname     MX is a CNAME to mxa: TLSA at the target     -> delivered, policy dane
#   both      DANE + MTA-STS enforce not listing the host  -> delivered, policy dane (precedence)
#   unsigned  TLSA in an unsigned zone (matches nothing)   -> ignored: opportunistic, delivered
#   bogus     zone with broken signatures                  -> deferred 4.4.3 (DNSSEC bogus)
#   expired   zone with expired signatures                 -> deferred 4.4.3 (DNSSEC bogus)
#   routedane [[route]] host mxa, tls = "dane"             -> delivered, policy route, DANE-checked
#   routenone [[route]] host without TLSA, tls = "dane"    -> deferred 4.7.5 (dane-required)
# REQUIRETLS (RFC 8689), submitted with MAIL FROM:<...> REQUIRETLS (Python's smtplib):
#   rt to ee.dane.test (DANE, the MX offers REQUIRETLS)     -> delivered, REQUIRETLS passed on
#   rt to rtno.dane.test (DANE, MX without REQUIRETLS)      -> bounced 5.7.30
#   rt to unsigned.plain.test (opportunistic only)          -> bounced 5.7.30; the DSN carries
#                                                              the headers, not the body
#   "TLS-Required: No" to trno.dane.test (TLSA mismatch)    -> delivered, and logged as such
# (127.0.0.31 offers REQUIRETLS; 127.0.0.34 serves the same certificate without it; the
# DSNs to example.test go to 127.0.0.32, which stores them.)
# Then: the metrics (sessions with policy="dane", DANE failures by reason),
# `signpost explain` (DNSSEC status, TLSA records, which policy applies), a resolver that
# strips DNSSEC (the probe), and mode smarthost with smarthost_dane (a matching and a
# mismatching smarthost).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../dnssec.sh"

for tool in nginx openssl swaks curl; do command -v "$tool" > /dev/null || fail "$tool not found (scripts/install-deps.sh)"; done

init_dev "$WORK/dev"
CFG=$WORK/dev/signpost.toml
MX_PORT=$(free_port)
HTTPS_PORT=$(free_port)
mkdir -p "$WORK/pki" "$WORK/www/.well-known" "$WORK/nginx"

# ---- certificates ---------------------------------------------------------------------
make_test_ca "$WORK/pki"
P=$WORK/pki
openssl req -newkey rsa:2048 -nodes -subj "/CN=mxa.dane.test" -keyout "$P/mxa.key" -out "$P/mxa.csr" 2>/dev/null
printf 'subjectAltName=DNS:mxa.dane.test,DNS:mxta.dane.test\n' > "$P/mxa.ext"
openssl x509 -req -in "$P/mxa.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial -days 2 -extfile "$P/mxa.ext" \
  -out "$P/mxa.pem" 2>/dev/null || fail "openssl: mxa certificate"
cat "$P/mxa.pem" "$P/ca.pem" > "$P/mxa-chain.pem"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=elsewhere.example" -addext subjectAltName=DNS:elsewhere.example \
  -keyout "$P/mxb.key" -out "$P/mxb.pem" 2>/dev/null || fail "openssl: mxb certificate"
openssl req -newkey rsa:2048 -nodes -subj "/CN=mta-sts.both.dane.test" -keyout "$P/sts.key" -out "$P/sts.csr" 2>/dev/null
printf 'subjectAltName=DNS:mta-sts.both.dane.test\n' > "$P/sts.ext"
openssl x509 -req -in "$P/sts.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial -days 2 -extfile "$P/sts.ext" \
  -out "$P/sts.pem" 2>/dev/null || fail "openssl: MTA-STS certificate"
# TLSA data with the openssl command (RFC 6698 §2.1: selector 1 = SubjectPublicKeyInfo).
EE311=$(openssl x509 -in "$P/mxa.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
CA201=$(openssl x509 -in "$P/ca.pem" -outform DER | sha256sum | cut -d' ' -f1)
CA211=$(openssl x509 -in "$P/ca.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
WRONG=$(printf 'nothing' | sha256sum | cut -d' ' -f1)

# ---- DNS --------------------------------------------------------------------------------
dnssec_zone dane.test signed
dnssec_zone plain.test unsigned
dnssec_zone broken.test bogus
dnssec_zone stale.test expired
z() { dnssec_rr dane.test "$1"; }
tlsa() { z "_$MX_PORT._tcp.$1.dane.test. 300 IN TLSA $2"; }
for h in mxa mxta mxtaname mxn; do z "$h.dane.test. 300 IN A 127.0.0.31"; done
z "mxp.dane.test. 300 IN A 127.0.0.32"
z "mxd.dane.test. 300 IN A 127.0.0.34"
tlsa mxd "3 1 1 $EE311"
z "rtno.dane.test. 300 IN MX 10 mxd.dane.test."
z "trno.dane.test. 300 IN MX 10 mxn.dane.test."
dnssec_rr test "example.test. 300 IN MX 10 mx.plain.test."
z "mxnt.dane.test. 300 IN A 127.0.0.33"
z "mxpn.dane.test. 300 IN A 127.0.0.33"
z "alias.dane.test. 300 IN CNAME mxa.dane.test."
tlsa mxa "3 1 1 $EE311"
tlsa mxta "2 1 1 $CA211"
tlsa mxtaname "2 0 1 $CA201"
tlsa mxn "3 1 1 $WRONG"
tlsa mxnt "3 1 1 $EE311"
tlsa mxp "1 1 1 $WRONG"
tlsa mxpn "1 1 1 $WRONG"
for c in ee:mxa ta:mxta taname:mxtaname nomatch:mxn notls:mxnt pkix:mxp pkixnotls:mxpn cname:alias both:mxa; do
  z "${c%%:*}.dane.test. 300 IN MX 10 ${c#*:}.dane.test."
done
z "mta-sts.both.dane.test. 300 IN A 127.0.0.30"
z "_mta-sts.both.dane.test. 300 IN TXT \"v=STSv1; id=1;\""
dnssec_rr plain.test "unsigned.plain.test. 300 IN MX 10 mx.plain.test."
dnssec_rr plain.test "mx.plain.test. 300 IN A 127.0.0.32"
dnssec_rr plain.test "_$MX_PORT._tcp.mx.plain.test. 300 IN TLSA 3 1 1 $WRONG"
dnssec_rr broken.test "bogus.broken.test. 300 IN MX 10 mx.broken.test."
dnssec_rr broken.test "mx.broken.test. 300 IN A 127.0.0.31"
dnssec_rr stale.test "expired.stale.test. 300 IN MX 10 mx.stale.test."
dnssec_rr stale.test "mx.stale.test. 300 IN A 127.0.0.31"
dnssec_start

# ---- MTA-STS for both.dane.test ---------------------------------------------------------
printf 'version: STSv1\r\nmode: enforce\r\nmx: mxother.dane.test\r\nmax_age: 86400\r\n' > "$WORK/www/.well-known/mta-sts.txt"
{
  echo "daemon off; master_process off; pid $WORK/nginx/nginx.pid; error_log $WORK/nginx/error.log;"
  echo "events {}"
  echo "http { access_log $WORK/nginx/access.log; default_type text/plain; types { text/plain txt; }"
  echo "  client_body_temp_path $WORK/nginx/body; proxy_temp_path $WORK/nginx/proxy;"
  echo "  fastcgi_temp_path $WORK/nginx/fastcgi; uwsgi_temp_path $WORK/nginx/uwsgi; scgi_temp_path $WORK/nginx/scgi;"
  echo "  server { listen 127.0.0.30:$HTTPS_PORT ssl; server_name mta-sts.both.dane.test;"
  echo "    ssl_certificate $P/sts.pem; ssl_certificate_key $P/sts.key; root $WORK/www; }"
  echo "}"
} > "$WORK/nginx/nginx.conf"
nginx -t -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" > "$WORK/nginx/t.out" 2>&1 || { cat "$WORK/nginx/t.out"; fail "nginx -t"; }
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" > "$WORK/nginx/out" 2>&1 &
track_pid $!
for ((i = 0; i < 50; i++)); do
  out=$(curl -s --cacert "$P/ca.pem" --resolve "mta-sts.both.dane.test:$HTTPS_PORT:127.0.0.30" \
    "https://mta-sts.both.dane.test:$HTTPS_PORT/.well-known/mta-sts.txt" || true)
  grep -q 'mode: enforce' <<< "$out" && break
  sleep 0.1
done
[ "$i" -lt 50 ] || { cat "$WORK/nginx/error.log"; fail "nginx does not serve the policy"; }

# ---- MX hosts ---------------------------------------------------------------------------
mx_sink a 127.0.0.31 --tls-cert "$P/mxa-chain.pem" --tls-key "$P/mxa.key" --requiretls
mx_sink b 127.0.0.32 --tls-cert "$P/mxb.pem" --tls-key "$P/mxb.key" --store "$WORK/b/store"
mx_sink c 127.0.0.33
mx_sink d 127.0.0.34 --tls-cert "$P/mxa-chain.pem" --tls-key "$P/mxa.key"

# ---- Signpost ---------------------------------------------------------------------------
/usr/bin/python3 - "$CFG" <<EOF
import re, sys
path = sys.argv[1]
text = open(path).read()
text = re.sub(r'\[delivery\][^\[]*', '[delivery]\nmode = "mx"\nmx_port = $MX_PORT\nextra_ca_file = "$P/ca.pem"\n\n', text, count=1)
text = re.sub(r'\[mta_sts\][^\[]*', '[mta_sts]\nenabled = true\nhttps_port = $HTTPS_PORT\n\n', text, count=1)
text = re.sub(r'\[queue\][^\[]*', '[queue]\ndir = "spool"\nretry = ["1h"]\n\n', text, count=1)
text += '\n[dns]\nforwarders = ["127.0.0.1@$DNSSEC_PORT"]\ndnssec = true\ntrust_anchor_file = "$DNSSEC_ANCHOR"\ntimeout = "3s"\n'
text += '\n[[route]]\ndomain = "routedane.test"\nhost = "mxa.dane.test:$MX_PORT"\ntls = "dane"\n'
text += '\n[[route]]\ndomain = "routenone.test"\nhost = "mx.plain.test:$MX_PORT"\ntls = "dane"\n'
open(path, "w").write(text)
EOF
"$SIGNPOST" check-config --config "$CFG" > "$WORK/effective.toml" 2> "$WORK/check.err" || { cat "$WORK/check.err"; fail "config refused"; }

LOG=$WORK/serve.log
"$SIGNPOST" serve --config "$CFG" >> "$LOG" 2>&1 &
SP_PID=$!
track_pid $SP_PID
wait_for_log "$LOG" 'ready$' 10

declare -A QID
submit() {  # submit DOMAIN
  local d=$1 id
  id=$(swaks --server "127.0.0.1:$SUBMISSION_PORT" --tls --auth PLAIN --auth-user dev --auth-password "$DEV_PASSWORD" \
         --from dev@example.test --to "user@$d" --header "Subject: t74 $d" \
         --header "Message-Id: <t74-$d@example.test>" 2>&1 | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
  [ -n "$id" ] || fail "submission to $d was not queued"
  QID[$d]=$id
}
delivered_to() {  # delivered_to SINK DOMAIN (10 s)
  local i
  for ((i = 0; i < 100; i++)); do
    grep -q "<t74-$2@example.test>" "$WORK/$1/sink.log" 2>/dev/null && return 0
    sleep 0.1
  done
  grep "${QID[$2]}" "$LOG" | tail -5
  fail "$2: not delivered to $1"
}
never_sent() {  # never_sent DOMAIN: no sink has the message
  ! grep -q "<t74-$1@example.test>" "$WORK"/{a,b,c,d}/sink.log || fail "$1: delivered although it must not be"
}
attempt() { grep "\[${QID[$1]}\] $1: attempt via" "$LOG" | tail -1; }

CASES="ee ta taname nomatch notls pkix pkixnotls cname both"
for c in $CASES; do submit "$c.dane.test"; done
submit unsigned.plain.test
submit bogus.broken.test
submit expired.stale.test
submit routedane.test
submit routenone.test

delivered_to a ee.dane.test
grep -q "policy dane (.*); TLS TLSv1.[23] .*, certificate dane: DANE-EE TLSA 3 1 1 $EE311 matches the server certificate" <<< "$(attempt ee.dane.test)" \
  || { grep "${QID[ee.dane.test]}" "$LOG"; fail "ee: the attempt line does not name policy dane and the matching record"; }
pass "DANE-EE 3 1 1: delivered, policy dane, the matching TLSA record logged"

delivered_to a ta.dane.test
grep -q "policy dane .*certificate dane: DANE-TA TLSA 2 1 1 $CA211 matches certificate 1 of the chain" <<< "$(attempt ta.dane.test)" \
  || { grep "${QID[ta.dane.test]}" "$LOG"; fail "ta: not delivered under DANE-TA"; }
pass "DANE-TA 2 1 1 with the CA in the chain and the host's name: delivered"

deferred_with taname.dane.test "4.7.5 DANE: the certificate of mxtaname.dane.test.* does not match: .*(hostname|Hostname) mismatch"
never_sent taname.dane.test
pass "DANE-TA, host name not in the certificate: deferred (4.7.5)"

deferred_with nomatch.dane.test "4.7.5 DANE: .*none of the 1 usable TLSA records matches"
never_sent nomatch.dane.test
pass "TLSA that matches nothing: deferred (4.7.5), never sent"

deferred_with notls.dane.test "4.7.4 .*does not offer STARTTLS, and TLS is required \(DANE\)"
never_sent notls.dane.test
pass "TLSA but no STARTTLS: deferred (4.7.4), no plaintext attempt"

delivered_to b pkix.dane.test
grep -q "policy dane .*certificate not checked (DANE: no usable TLSA record)" <<< "$(attempt pkix.dane.test)" \
  || { grep "${QID[pkix.dane.test]}" "$LOG"; fail "pkix: not delivered under mandatory unauthenticated TLS"; }
pass "only PKIX usages: mandatory TLS, certificate not checked, delivered"
deferred_with pkixnotls.dane.test "4.7.4"
never_sent pkixnotls.dane.test
pass "only PKIX usages, host without STARTTLS: deferred (4.7.4)"

delivered_to a cname.dane.test
grep -q "policy dane .*DANE-EE TLSA 3 1 1 $EE311" <<< "$(attempt cname.dane.test)" \
  || { grep "${QID[cname.dane.test]}" "$LOG"; fail "cname: the TLSA records of the CNAME target were not used"; }
pass "MX host is a secure CNAME: the target's TLSA records apply"

delivered_to a both.dane.test
grep -q "policy dane (MTA-STS enforce id 1 .*MTA-STS does not list this host; DANE takes precedence" <<< "$(attempt both.dane.test)" \
  || { grep "${QID[both.dane.test]}" "$LOG"; fail "both: DANE did not take precedence over MTA-STS"; }
pass "DANE and MTA-STS enforce (host not listed): DANE applies, delivered"

delivered_to b unsigned.plain.test
grep -q "policy opportunistic" <<< "$(attempt unsigned.plain.test)" || fail "unsigned: not opportunistic"
pass "TLSA in an unsigned zone: ignored (opportunistic), delivered"

deferred_with bogus.broken.test "4.4.3 MX lookup for bogus.broken.test failed: DNSSEC bogus"
never_sent bogus.broken.test
deferred_with expired.stale.test "4.4.3 MX lookup for expired.stale.test failed: DNSSEC bogus: .*expired"
never_sent expired.stale.test
pass "bogus and expired signatures: deferred (4.4.3), never sent"

delivered_to a routedane.test
grep -q "policy route .*certificate dane: DANE-EE" <<< "$(attempt routedane.test)" || fail "routedane: not DANE-checked"
pass "[[route]] tls = dane with usable TLSA: delivered, DANE-checked"
deferred_with routenone.test "4.7.5 .*tls = dane, but the address records of mx.plain.test are not DNSSEC-signed: not contacted"
never_sent routenone.test
pass "[[route]] tls = dane to a host without signed TLSA: deferred (4.7.5)"

# ---- REQUIRETLS and TLS-Required: No ----------------------------------------------------
# submit_py KEY DOMAIN REQUIRETLS(0|1) [EXTRA-HEADER]: through smtplib, which can add the
# MAIL FROM parameter; records the queue id under KEY.
submit_py() {
  local key=$1 domain=$2 rt=$3 extra=${4:-} id
  id=$(/usr/bin/python3 - "$SUBMISSION_PORT" "$DEV_PASSWORD" "$domain" "$rt" "$key" "$extra" <<'PY'
import smtplib, ssl, sys, re
port, password, domain, rt, key, extra = sys.argv[1:]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", int(port), timeout=20)
s.ehlo("t74.test")
s.starttls(context=ctx)
s.ehlo("t74.test")
assert (rt == "0") or s.has_extn("requiretls"), "REQUIRETLS not offered after STARTTLS"
s.user, s.password = "dev", password
s.auth("PLAIN", s.auth_plain)
opts = ["REQUIRETLS"] if rt == "1" else []
code, resp = s.mail("dev@example.test", opts)
assert code == 250, (code, resp)
code, resp = s.rcpt("user@" + domain)
assert code == 250, (code, resp)
msg = ("From: dev@example.test\r\nTo: user@" + domain + "\r\nSubject: t74 " + key + "\r\n"
       "Message-Id: <t74-" + key + "@example.test>\r\n" + (extra + "\r\n" if extra else "") +
       "\r\nThe secret body line of " + key + ".\r\n")
code, resp = s.data(msg.encode())
assert code == 250, (code, resp)
print(re.search(rb"queued as ([0-9A-Z]+)", resp).group(1).decode())
s.quit()
PY
) || fail "$key: submission failed"
  QID[$key]=$id
}
bounced_with() {  # bounced_with KEY DOMAIN PATTERN: failed, a DSN queued for it (10 s)
  local i
  for ((i = 0; i < 100; i++)); do
    if grep -qE "${QID[$1]}: failed for <user@$2>.*$3" "$LOG" && grep -q "${QID[$1]}: failure DSN queued" "$LOG"; then return 0; fi
    sleep 0.1
  done
  grep "${QID[$1]}" "$LOG" | tail -5
  fail "$1: not bounced with /$3/"
}

submit_py rt-ee ee.dane.test 1
submit_py rt-no rtno.dane.test 1
submit_py rt-plain unsigned.plain.test 1
submit_py tr-no trno.dane.test 0 "TLS-Required: No"

for ((i = 0; i < 100; i++)); do grep -q "<t74-rt-ee@example.test>" "$WORK/a/sink.log" && break; sleep 0.1; done
grep -q "<t74-rt-ee@example.test> user@ee.dane.test tls=TLSv1.[23] .* rt=1$" "$WORK/a/sink.log" \
  || { cat "$WORK/a/sink.log"; grep "${QID[rt-ee]}" "$LOG"; fail "REQUIRETLS to a DANE host: not delivered with the flag"; }
grep -q "\[${QID[rt-ee]}\] ee.dane.test: attempt via .*policy dane .*; REQUIRETLS)" "$LOG" || fail "rt-ee: attempt line lacks REQUIRETLS"
pass "REQUIRETLS to a DANE-verified MX that offers it: delivered, MAIL FROM carried REQUIRETLS"

bounced_with rt-no rtno.dane.test "5.7.30 REQUIRETLS: mxd.dane.test.* does not offer REQUIRETLS"
never_sent rt-no
pass "REQUIRETLS to a DANE-verified MX without REQUIRETLS: bounced (5.7.30), never sent"

bounced_with rt-plain unsigned.plain.test "5.7.30 REQUIRETLS: no verified TLS path to unsigned.plain.test"
never_sent rt-plain
# The failure report reaches the sender's domain (example.test -> 127.0.0.32): the
# original's header section only, never its body (RFC 8689 §5 / RFC 3462).
for ((i = 0; i < 100; i++)); do
  dsn=$(grep -l "t74-rt-plain@example.test" "$WORK"/b/store/*.eml 2>/dev/null | head -1 || true)
  [ -n "$dsn" ] && break
  sleep 0.1
done
[ -n "$dsn" ] || fail "rt-plain: no DSN reached the sender's MX"
grep -q "Status: 5.7.30" "$dsn" || { cat "$dsn"; fail "rt-plain: the DSN does not say 5.7.30"; }
grep -q "Content-Type: text/rfc822-headers" "$dsn" || { cat "$dsn"; fail "rt-plain: the DSN does not return the headers"; }
! grep -q "secret body line" "$dsn" || { cat "$dsn"; fail "rt-plain: the DSN carries the message body"; }
pass "REQUIRETLS to a domain without DANE or MTA-STS: bounced (5.7.30); the DSN has the headers, not the body"

for ((i = 0; i < 100; i++)); do grep -q "<t74-tr-no@example.test>" "$WORK/a/sink.log" && break; sleep 0.1; done
grep -q "<t74-tr-no@example.test>" "$WORK/a/sink.log" || { grep "${QID[tr-no]}" "$LOG"; fail "TLS-Required: No: not delivered"; }
grep -q "\[${QID[tr-no]}\] trno.dane.test: <user@trno.dane.test> delivered under \"TLS-Required: No\" (RFC 8689): dane was not enforced" "$LOG" \
  || { grep "${QID[tr-no]}" "$LOG"; fail "TLS-Required: No: the delivery is not logged as such"; }
pass "\"TLS-Required: No\" to a host whose TLSA does not match: delivered opportunistically, logged"

# ---- metrics ----------------------------------------------------------------------------
curl -s "http://127.0.0.1:$METRICS_PORT/metrics" > "$WORK/metrics.txt" || fail "no metrics"
metric() { grep -E "^$1" "$WORK/metrics.txt" | grep -E "$2" | grep -qE ' [1-9][0-9]*$'; }
metric 'signpost_delivery_sessions_total\{' 'policy="dane".*result="delivered"|result="delivered".*policy="dane"' \
  || { grep signpost_delivery_sessions "$WORK/metrics.txt"; fail "dane sessions not counted"; }
for reason in no-match name-mismatch starttls-not-supported dane-required; do
  metric 'signpost_dane_failures_total\{' "reason=\"$reason\"" || { grep signpost_dane "$WORK/metrics.txt"; fail "DANE failure $reason not counted"; }
done
pass "metrics: sessions with policy=\"dane\"; DANE failures by reason"

# ---- explain ----------------------------------------------------------------------------
"$SIGNPOST" explain ee.dane.test --config "$CFG" > "$WORK/explain.out" 2>&1 || { cat "$WORK/explain.out"; fail "explain failed"; }
cat "$WORK/explain.out"
grep -q "MX records DNSSEC secure" "$WORK/explain.out" || fail "explain: MX DNSSEC status missing"
grep -q "mxa.dane.test  \[127.0.0.31\] addresses DNSSEC secure" "$WORK/explain.out" || fail "explain: address status missing"
grep -q "TLSA _$MX_PORT._tcp.mxa.dane.test (DNSSEC secure):" "$WORK/explain.out" || fail "explain: TLSA name missing"
grep -q "3 1 1 $EE311  usable" "$WORK/explain.out" || fail "explain: TLSA record missing"
grep -q "DANE: 1 usable TLSA record at .* (policy dane)" "$WORK/explain.out" || fail "explain: DANE policy missing"
"$SIGNPOST" explain unsigned.plain.test --config "$CFG" > "$WORK/explain2.out" 2>&1 || { cat "$WORK/explain2.out"; fail "explain failed"; }
grep -q "MX records DNSSEC insecure" "$WORK/explain2.out" || { cat "$WORK/explain2.out"; fail "explain: insecure MX not shown"; }
"$SIGNPOST" explain pkix.dane.test --config "$CFG" > "$WORK/explain3.out" 2>&1 || true
grep -q "1 1 1 $WRONG  PKIX usage (unusable for SMTP)" "$WORK/explain3.out" || { cat "$WORK/explain3.out"; fail "explain: unusable record not explained"; }
pass "signpost explain shows the DNSSEC status, the TLSA records and the policy that applies"

# ---- the DNSSEC path probe --------------------------------------------------------------
grep -q "DNSSEC: validating (the DNSKEY records of \"test.\" (the trust anchor's zone) validate)" "$LOG" \
  || fail "probe: the validating state is not logged"
grep -qE '^signpost_dnssec_validating 1$' "$WORK/metrics.txt" || { grep dnssec "$WORK/metrics.txt"; fail "probe: metric not 1"; }
grep -q "^DNSSEC:    validating" "$WORK/explain.out" || fail "probe: explain does not say validating"
# A resolver that answers without DNSSEC (unbound serving test. from local data, unsigned):
# every answer fails validation. Signpost says why, once, loudly; nothing is delivered.
kill -TERM $SP_PID
wait_exit $SP_PID 20
source "$SIGNPOST_SOURCE_DIR/tests/integration/unbound.sh"
unbound_start test
unbound_add_rr "ee.dane.test. 300 IN MX 10 mxa.dane.test."
unbound_add_rr "mxa.dane.test. 300 IN A 127.0.0.31"
unbound_restart
sed -i "s/127.0.0.1@$DNSSEC_PORT/127.0.0.1@$UNBOUND_PORT/" "$CFG"
LOG2=$WORK/serve2.log
"$SIGNPOST" serve --config "$CFG" >> "$LOG2" 2>&1 &
SP_PID=$!
track_pid $SP_PID
wait_for_log "$LOG2" 'ready$' 10
wait_for_log "$LOG2" 'DNSSEC: broken: the DNSKEY records of "test." .* fail validation: .*strips DNSSEC records.*point \[dns\] forwarders at a resolver that passes DNSSEC records' 10
LOG=$LOG2
submit ee.dane.test
deferred_with ee.dane.test "4.4.3 MX lookup for ee.dane.test failed: DNSSEC bogus: .*\(DNSSEC validation is failing on this DNS path: "
curl -s "http://127.0.0.1:$METRICS_PORT/metrics" > "$WORK/metrics2.txt" || fail "no metrics"
grep -qE '^signpost_dnssec_validating 0$' "$WORK/metrics2.txt" || { grep dnssec "$WORK/metrics2.txt"; fail "probe: metric not 0"; }
"$SIGNPOST" explain ee.dane.test --config "$CFG" > "$WORK/explain4.out" 2>&1 || true
grep -q "^DNSSEC:    broken (the DNSKEY records of \"test.\"" "$WORK/explain4.out" || { cat "$WORK/explain4.out"; fail "probe: explain does not say broken"; }
pass "a resolver that strips DNSSEC: logged once with the fix, signpost_dnssec_validating 0, explain says broken, mail deferred (not sent insecurely)"

# ---- a DANE-authenticated smarthost ([delivery] smarthost_dane) -------------------------
# smarthost_mode HOST: the config switched to mode smarthost via HOST:$MX_PORT with DANE, the
# validating forwarder back; Signpost restarted.
smarthost_mode() {
  kill -TERM $SP_PID
  wait_exit $SP_PID 20
  /usr/bin/python3 - "$CFG" "$1" "$MX_PORT" "$DNSSEC_PORT" "$UNBOUND_PORT" <<'PY'
import re, sys
path, host, port, good, bad = sys.argv[1:]
text = open(path).read()
text = re.sub(r'\[delivery\][^\[]*', '[delivery]\nmode = "smarthost"\nsmarthost = "%s:%s"\nsmarthost_dane = true\n\n' % (host, port), text, count=1)
text = re.sub(r'\[\[route\]\][^\[]*', '', text)
text = text.replace("127.0.0.1@" + bad, "127.0.0.1@" + good)
open(path, "w").write(text)
PY
  "$SIGNPOST" check-config --config "$CFG" > /dev/null 2> "$WORK/check2.err" || { cat "$WORK/check2.err"; fail "smarthost config refused"; }
  LOG=$WORK/serve-$1.log
  "$SIGNPOST" serve --config "$CFG" >> "$LOG" 2>&1 &
  SP_PID=$!
  track_pid $SP_PID
  wait_for_log "$LOG" 'ready$' 10
}
smarthost_mode mxa.dane.test
submit smarthost-ok.example.org
for ((i = 0; i < 100; i++)); do grep -q "<t74-smarthost-ok.example.org@example.test>" "$WORK/a/sink.log" && break; sleep 0.1; done
grep -q "<t74-smarthost-ok.example.org@example.test>" "$WORK/a/sink.log" || { tail -5 "$LOG"; fail "smarthost with DANE: not delivered"; }
grep -q "smarthost mxa.dane.test\[127.0.0.31\]:$MX_PORT: TLS TLSv1.[23] .*, certificate dane: DANE-EE TLSA 3 1 1 $EE311 matches" "$LOG" \
  || { tail -5 "$LOG"; fail "smarthost with DANE: the certificate was not checked against its TLSA record"; }
pass "smarthost_dane: the smarthost's certificate is matched against its signed TLSA record, delivered"
smarthost_mode mxn.dane.test
submit smarthost-bad.example.org
deferred_with smarthost-bad.example.org "4.7.5 DANE: the certificate of mxn.dane.test.* does not match"
never_sent smarthost-bad.example.org
pass "smarthost_dane: a smarthost whose certificate matches no TLSA record gets nothing (4.7.5)"
