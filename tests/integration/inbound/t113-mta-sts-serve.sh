#!/usr/bin/env bash
# t113: [mta_sts_serve] — Signpost serves the MTA-STS policy of its [[inbound]] domains over
# HTTPS, and a sending MTA that enforces MTA-STS uses it.
#   unbound serves the "example." zone: home.example MX mx.home.example (127.0.0.20),
#   mta-sts.home.example A 127.0.0.20, and the _mta-sts TXT record with the id that
#   `signpost mta-sts policy` prints. A test CA signs the MX's certificate
#   (mx.home.example) and the policy server's (mta-sts.home.example).
#   Signpost "mx": kind = "mx" listener + [[inbound]] home.example -> aiosmtpd home server;
#   [mta_sts_serve] on 127.0.0.20, mode enforce.
#   Signpost "out": a second instance delivering to MX hosts with MTA-STS on (it trusts
#   the test CA through extra_ca_file), the sending MTA of this scenario.
# Checked:
#   1. curl (verifying against the test CA) gets exactly the policy file the CLI prints,
#      status 200, Content-Type text/plain, for the Host in any case and with a trailing
#      dot; HEAD gives its length and no body; another host or path 404, POST 405, plain
#      HTTP gets no answer; the CLI refuses --mode while the relay serves the policy. The
#      log warns that the certificate does not cover mta-sts.other.example (a second
#      [[inbound]] domain) and does not warn for home.example.
#   2. "out" fetches the policy from "mx" (enforce, the published id), delivers over TLS it
#      verified, and the message arrives at the home server through "mx".
#   3. SIGHUP after mode = "testing": the served policy says testing; the metrics count the
#      requests by result.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../unbound.sh"
source "$(dirname "$0")/common.sh"

command -v curl > /dev/null || fail "curl not found (scripts/install-deps.sh)"
MX_IP=127.0.0.20
MX_PORT=$(free_port)
HTTPS_PORT=$(free_port)

# --- certificates ------------------------------------------------------------------------
mkdir -p "$WORK/pki"
make_test_ca "$WORK/pki"
test_ca_cert "$WORK/pki" mx.home.example "$WORK/pki/mx"
test_ca_cert "$WORK/pki" mta-sts.home.example "$WORK/pki/sts"

home_setup
home_start
unbound_start example

# --- Signpost "mx" ---------------------------------------------------------------------------
init_dev "$WORK/mx"
MXCFG=$WORK/mx/signpost.toml
MX_METRICS=$METRICS_PORT
/usr/bin/python3 - "$MXCFG" << MXCFG_END
import re, sys
path = sys.argv[1]
text = open(path).read()
text = text.replace('hostname = "localhost"', 'hostname = "mx.home.example"', 1)
text = re.sub(r'\[tls\][^\[]*', '[tls]\ncert = "$WORK/pki/mx.pem"\nkey = "$WORK/pki/mx.key"\n\n', text, count=1)
text += '''
[[listener]]
address = "$MX_IP:$MX_PORT"
kind = "mx"

[[inbound]]
domain = "home.example"
recipients = ["alice"]
deliver_to = "127.0.0.1:$HOME_PORT"
deliver_fingerprint = "$FP"
greylist = false

[[inbound]]
domain = "other.example"
recipients = ["bob"]
deliver_to = "127.0.0.1:$HOME_PORT"
deliver_fingerprint = "$FP"
greylist = false

[mta_sts_serve]
listen = "$MX_IP:$HTTPS_PORT"
cert = "$WORK/pki/sts.pem"
key = "$WORK/pki/sts.key"
mode = "enforce"
max_age = "1d"

[dns]
forwarders = ["127.0.0.1@$UNBOUND_PORT"]
timeout = "3s"
'''
open(path, "w").write(text)
MXCFG_END

# What to publish: the CLI prints the served policy and its id.
"$SIGNPOST" mta-sts policy home.example --config "$MXCFG" > "$WORK/policy.out" 2>&1 \
  || { cat "$WORK/policy.out"; fail "mta-sts policy failed"; }
sed -n '/^version: STSv1/,/^max_age:/p' "$WORK/policy.out" > "$WORK/policy.expected"
printf 'version: STSv1\r\nmode: enforce\r\nmx: mx.home.example\r\nmax_age: 86400\r\n' | cmp -s - "$WORK/policy.expected" \
  || { cat -A "$WORK/policy.out"; fail "the CLI does not print the [mta_sts_serve] policy (enforce, mx.home.example, 86400)"; }
grep -qF "# served by this relay on $MX_IP:$HTTPS_PORT" "$WORK/policy.out" || { cat "$WORK/policy.out"; fail "the CLI does not say the relay serves the policy"; }
ID=$(sed -n 's/^_mta-sts\.home\.example\. 3600 IN TXT "v=STSv1; id=\([0-9a-f]*\)"$/\1/p' "$WORK/policy.out")
[ -n "$ID" ] || { cat "$WORK/policy.out"; fail "no _mta-sts record in the CLI's output"; }
rc=0
"$SIGNPOST" mta-sts policy home.example --mode testing --config "$MXCFG" > "$WORK/policy2.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -qF "set mode and max_age there" "$WORK/policy2.out" \
  || { cat "$WORK/policy2.out"; fail "--mode while [mta_sts_serve] serves the policy: want exit 2, got $rc"; }

# --- DNS ---------------------------------------------------------------------------------------
unbound_add_rr "home.example. 300 IN MX 10 mx.home.example."
unbound_add_rr "mx.home.example. 300 IN A $MX_IP"
unbound_add_rr "mta-sts.home.example. 300 IN A $MX_IP"
unbound_add_txt _mta-sts.home.example "v=STSv1; id=$ID"
# The sending instance's own domain: answered at once (no such records) rather than asked of
# servers that cannot be reached.
unbound_add_server 'local-zone: "test." static'
unbound_restart

"$SIGNPOST" check-config --config "$MXCFG" > "$WORK/mx-effective.toml" 2> "$WORK/check.err" || { cat "$WORK/check.err"; fail "the mx config was refused"; }
MXLOG=$WORK/mx.log
: > "$MXLOG"
"$SIGNPOST" serve --config "$MXCFG" >> "$MXLOG" 2>&1 &
MXPID=$!
track_pid "$MXPID"
wait_for_log "$MXLOG" 'ready$' 20
grep -qF "MTA-STS policies on https://$MX_IP:$HTTPS_PORT (enforce mode, max_age 86400s)" "$MXLOG" \
  || { cat "$MXLOG"; fail "no [mta_sts_serve] line in the log"; }
grep -qF "the certificate $WORK/pki/sts.pem is not valid for mta-sts.other.example" "$MXLOG" \
  || { cat "$MXLOG"; fail "no warning that the certificate does not cover mta-sts.other.example"; }
grep -q "is not valid for mta-sts.home.example" "$MXLOG" && fail "a warning for mta-sts.home.example, which the certificate covers"
pass "the mx instance serves MTA-STS on https://$MX_IP:$HTTPS_PORT; it warns about mta-sts.other.example only"

# --- 1. the policy over HTTPS ------------------------------------------------------------------
URL_PATH=/.well-known/mta-sts.txt
fetch() {  # fetch HOST [curl args...]: GET https://HOST:$HTTPS_PORT$URL_PATH; body in $WORK/body, "status type" printed
  local host=$1
  shift
  curl -s --max-time 10 --cacert "$WORK/pki/ca.pem" --resolve "$host:$HTTPS_PORT:$MX_IP" -o "$WORK/body" \
    -w '%{http_code} %{content_type}' "$@" "https://$host:$HTTPS_PORT$URL_PATH"
}
got=$(fetch mta-sts.home.example)
[ "$got" = "200 text/plain; charset=utf-8" ] || fail "GET: want 200 text/plain, got '$got'"
cmp -s "$WORK/body" "$WORK/policy.expected" || { cat -A "$WORK/body"; fail "the served policy differs from the CLI's"; }
# The Host header in another case and with a trailing dot names the same host.
got=$(curl -s --max-time 10 --cacert "$WORK/pki/ca.pem" --resolve "mta-sts.home.example:$HTTPS_PORT:$MX_IP" \
        -H "Host: MTA-STS.Home.Example.:$HTTPS_PORT" -o "$WORK/body2" -w '%{http_code}' \
        "https://mta-sts.home.example:$HTTPS_PORT$URL_PATH")
[ "$got" = 200 ] && cmp -s "$WORK/body2" "$WORK/policy.expected" || fail "Host in capitals with a trailing dot: got $got"
head_out=$(curl -s --max-time 10 --cacert "$WORK/pki/ca.pem" --resolve "mta-sts.home.example:$HTTPS_PORT:$MX_IP" -I \
             "https://mta-sts.home.example:$HTTPS_PORT$URL_PATH" | tr -d '\r')
echo "$head_out" | grep -qix "content-length: $(stat -c %s "$WORK/policy.expected")" \
  || { echo "$head_out"; fail "HEAD: no Content-Length of the policy"; }
got=$(curl -s --max-time 10 --cacert "$WORK/pki/ca.pem" --resolve "mta-sts.other.example:$HTTPS_PORT:$MX_IP" -k -o /dev/null \
        -w '%{http_code}' "https://mta-sts.other.example:$HTTPS_PORT$URL_PATH")
[ "$got" = 200 ] || fail "mta-sts.other.example (an [[inbound]] domain, certificate not valid for it): want 200 with -k, got $got"
got=$(curl -s --max-time 10 --cacert "$WORK/pki/ca.pem" --resolve "mta-sts.home.example:$HTTPS_PORT:$MX_IP" \
        -H "Host: mta-sts.elsewhere.example" -o /dev/null -w '%{http_code}' "https://mta-sts.home.example:$HTTPS_PORT$URL_PATH")
[ "$got" = 404 ] || fail "a host that is not an [[inbound]] domain's: want 404, got $got"
got=$(curl -s --max-time 10 --cacert "$WORK/pki/ca.pem" --resolve "mta-sts.home.example:$HTTPS_PORT:$MX_IP" -o /dev/null \
        -w '%{http_code}' "https://mta-sts.home.example:$HTTPS_PORT/.well-known/other.txt")
[ "$got" = 404 ] || fail "another path: want 404, got $got"
got=$(curl -s --max-time 10 --cacert "$WORK/pki/ca.pem" --resolve "mta-sts.home.example:$HTTPS_PORT:$MX_IP" -o /dev/null \
        -w '%{http_code}' -X POST -d x=1 "https://mta-sts.home.example:$HTTPS_PORT$URL_PATH")
[ "$got" = 405 ] || fail "POST: want 405, got $got"
rc=0
curl -s --max-time 10 -o /dev/null "http://$MX_IP:$HTTPS_PORT$URL_PATH" || rc=$?
[ "$rc" != 0 ] || fail "plain HTTP got an answer"
pass "GET gives the CLI's policy (200, text/plain) for any case of the Host; HEAD its length; other host/path 404, POST 405, plain HTTP nothing"

# --- 2. a sending MTA that enforces MTA-STS ----------------------------------------------------
init_dev "$WORK/out"
OUTCFG=$WORK/out/signpost.toml
OUT_SUB=$SUBMISSION_PORT
OUT_PASSWORD=$DEV_PASSWORD
/usr/bin/python3 - "$OUTCFG" << OUTCFG_END
import re, sys
path = sys.argv[1]
text = open(path).read()
text = re.sub(r'\[delivery\][^\[]*', '[delivery]\nmode = "mx"\nmx_port = $MX_PORT\nextra_ca_file = "$WORK/pki/ca.pem"\n\n', text, count=1)
text = re.sub(r'\[mta_sts\][^\[]*', '[mta_sts]\nenabled = true\nhttps_port = $HTTPS_PORT\n\n', text, count=1)
text += '\n[dns]\nforwarders = ["127.0.0.1@$UNBOUND_PORT"]\ntimeout = "3s"\n'
open(path, "w").write(text)
OUTCFG_END
OUTLOG=$WORK/out.log
: > "$OUTLOG"
"$SIGNPOST" serve --config "$OUTCFG" >> "$OUTLOG" 2>&1 &
track_pid $!
wait_for_log "$OUTLOG" 'ready$' 20
QID=$(swaks --server "127.0.0.1:$OUT_SUB" --tls --auth PLAIN --auth-user dev --auth-password "$OUT_PASSWORD" \
        --from dev@example.test --to alice@home.example --header "Subject: t113 over MTA-STS" \
        --header "Message-Id: <t113-sts@example.test>" --body "t113 body line" 2>&1 | sed -n 's/.*queued as \([0-9A-Z]*\).*/\1/p')
[ -n "$QID" ] || fail "the sending instance did not queue the message"
for ((i = 0; i < 300; i++)); do
  grep -rqs "<t113-sts@example.test>" "$HOME_DIR/store" && break
  sleep 0.1
done
grep -rqs "<t113-sts@example.test>" "$HOME_DIR/store" || { grep "$QID" "$OUTLOG"; tail -20 "$MXLOG"; fail "the message did not reach the home server"; }
attempt=$(grep "\[$QID\] home.example: attempt via" "$OUTLOG" | tail -1)
echo "$attempt" | grep -q "policy mta-sts-enforce (MTA-STS enforce id $ID (fetched)); TLS TLSv1.[23] .*certificate verified" \
  || { grep "$QID" "$OUTLOG"; fail "the sending instance did not deliver under the served enforce policy"; }
msg=$(grep -rls "<t113-sts@example.test>" "$HOME_DIR/store" | head -1)
grep -q "^Authentication-Results: mx.home.example;" "$msg" && grep -q "^t113 body line" "$msg" \
  || { cat "$msg"; fail "the forwarded message lacks the mx instance's Authentication-Results or its body"; }
pass "a second relay fetched the served policy (enforce, id $ID), delivered over verified TLS, and the home server got the message"

# --- 3. reload ---------------------------------------------------------------------------------
sed -i 's/^mode = "enforce"$/mode = "testing"/' "$MXCFG"
kill -HUP "$MXPID"
wait_for_log "$MXLOG" 'configuration reloaded' 10
fetch mta-sts.home.example > /dev/null
grep -q "^mode: testing" "$WORK/body" || { cat "$WORK/body"; fail "after SIGHUP the served policy is not testing"; }
curl -s "http://127.0.0.1:$MX_METRICS/metrics" > "$WORK/metrics"
served=$(sed -n 's/^signpost_mta_sts_policy_requests_total{result="served"} \([0-9]*\).*/\1/p' "$WORK/metrics")
notfound=$(sed -n 's/^signpost_mta_sts_policy_requests_total{result="not_found"} \([0-9]*\).*/\1/p' "$WORK/metrics")
bad=$(sed -n 's/^signpost_mta_sts_policy_requests_total{result="bad_request"} \([0-9]*\).*/\1/p' "$WORK/metrics")
# served: curl GET x2, HEAD, other.example, the fetch after reload, and the sending relay's fetch
[ "${served:-0}" -ge 6 ] && [ "${notfound:-0}" = 2 ] && [ "${bad:-0}" -ge 1 ] \
  || { grep mta_sts_policy "$WORK/metrics"; fail "request counters: served=$served not_found=$notfound bad_request=$bad"; }
pass "SIGHUP: the served policy follows the config (testing); requests counted (served $served, not_found $notfound, bad_request $bad)"
