#!/usr/bin/env bash
# t76: SMTP TLS reports (RFC 8460) from real deliveries, sent the next day by mailto: and
# https:, counts surviving a SIGKILL.
#   DNSSEC-signed world (dnssec.sh): ee.dane.test's MX matches its TLSA record (DANE
#   success), bad.dane.test's does not (DANE failure, deferred); open.plain.test (unsigned)
#   gets opportunistic TLS. Both dane.test domains publish
#   "_smtp._tls TXT v=TLSRPTv1; rua=mailto:tlsrpt@reports.plain.test,https://reports.plain.test:PORT/v1/tlsrpt";
#   open.plain.test publishes none.
#   MX hosts: aiosmtpd on 127.0.0.31 (DANE-matching certificate) and 127.0.0.32 (stores what
#   it gets; also the MX of reports.plain.test); a Python HTTPS server on 127.0.0.36 stores
#   every POST.
# Steps: 6 messages (3 ee, 2 bad, 1 open) -> `signpost tls-report show` has the counts ->
# SIGKILL -> restarted one day later (libfaketime +1d, [tls_rpt] send_hour = 0) -> the
# previous day's reports go out: checked field by field against RFC 8460 §4.4 (the JSON
# from the POST and from the mail's gzip attachment), the mail's form (§5.3) and its DKIM
# signature (dkimpy, keys from `signpost keys dns`); no report for open.plain.test.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../dnssec.sh"

for tool in openssl swaks curl; do command -v "$tool" > /dev/null || fail "$tool not found (scripts/install-deps.sh)"; done
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2> /dev/null | head -1 || true)
[ -n "$FAKETIME_LIB" ] || fail "libfaketimeMT.so.1 not found (scripts/install-deps.sh installs faketime)"

init_dev "$WORK/dev"
CFG=$WORK/dev/signpost.toml
MX_PORT=$(free_port)
HTTPS_PORT=$(free_port)
P=$WORK/pki
mkdir -p "$P" "$WORK/posts"

# ---- certificates -----------------------------------------------------------------------
make_test_ca "$P"
cert() {  # cert NAME PREFIX
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$2.key" -out "$2.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s\n' "$1" > "$2.ext"
  openssl x509 -req -in "$2.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" -CAcreateserial -days 3 -extfile "$2.ext" \
    -out "$2.pem" 2>/dev/null || fail "openssl: certificate for $1"
}
cert mxa.dane.test "$P/mxa"
cert reports.plain.test "$P/reports"
openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj "/CN=elsewhere.example" -keyout "$P/mxb.key" -out "$P/mxb.pem" 2>/dev/null
EE311=$(openssl x509 -in "$P/mxa.pem" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
WRONG=$(printf 'nothing' | sha256sum | cut -d' ' -f1)

# ---- DNS --------------------------------------------------------------------------------
RUA="mailto:tlsrpt@reports.plain.test,https://reports.plain.test:$HTTPS_PORT/v1/tlsrpt"
dnssec_zone dane.test signed
dnssec_zone plain.test unsigned
z() { dnssec_rr dane.test "$1"; }
z "mxa.dane.test. 300 IN A 127.0.0.31"
z "mxn.dane.test. 300 IN A 127.0.0.31"
z "_$MX_PORT._tcp.mxa.dane.test. 300 IN TLSA 3 1 1 $EE311"
z "_$MX_PORT._tcp.mxn.dane.test. 300 IN TLSA 3 1 1 $WRONG"
z "ee.dane.test. 300 IN MX 10 mxa.dane.test."
z "bad.dane.test. 300 IN MX 10 mxn.dane.test."
z "_smtp._tls.ee.dane.test. 300 IN TXT \"v=TLSRPTv1; rua=$RUA\""
z "_smtp._tls.bad.dane.test. 300 IN TXT \"v=TLSRPTv1; rua=$RUA\""
dnssec_rr plain.test "open.plain.test. 300 IN MX 10 mx.plain.test."
dnssec_rr plain.test "mx.plain.test. 300 IN A 127.0.0.32"
dnssec_rr plain.test "reports.plain.test. 300 IN MX 10 mx.plain.test."
dnssec_rr plain.test "reports.plain.test. 300 IN A 127.0.0.36"
dnssec_start

# ---- receivers --------------------------------------------------------------------------
mx_sink a 127.0.0.31 --tls-cert "$P/mxa.pem" --tls-key "$P/mxa.key"
mx_sink b 127.0.0.32 --tls-cert "$P/mxb.pem" --tls-key "$P/mxb.key" --store "$WORK/b/store"
cat > "$WORK/https_sink.py" <<'PY'
import http.server, os, ssl, sys
addr, port, cert, key, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        k = len(os.listdir(out)) + 1
        with open(os.path.join(out, f"{k}.body"), "wb") as f:
            f.write(body)
        with open(os.path.join(out, f"{k}.meta"), "w") as f:
            f.write(f"{self.path}\n{self.headers.get('Content-Type')}\n")
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer((addr, port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("READY", flush=True)
srv.serve_forever()
PY
/usr/bin/python3 "$WORK/https_sink.py" 127.0.0.36 "$HTTPS_PORT" "$P/reports.pem" "$P/reports.key" "$WORK/posts" > "$WORK/https.out" 2>&1 &
track_pid $!
wait_for_log "$WORK/https.out" READY 20

# ---- Signpost ---------------------------------------------------------------------------
/usr/bin/python3 - "$CFG" <<EOF
import re, sys
path = sys.argv[1]
text = open(path).read()
text = re.sub(r'\[delivery\][^\[]*', '[delivery]\nmode = "mx"\nmx_port = $MX_PORT\nextra_ca_file = "$P/ca.pem"\n\n', text, count=1)
text = re.sub(r'\[queue\][^\[]*', '[queue]\ndir = "spool"\nretry = ["1h"]\n\n', text, count=1)
text += '\n[dns]\nforwarders = ["127.0.0.1@$DNSSEC_PORT"]\ndnssec = true\ntrust_anchor_file = "$DNSSEC_ANCHOR"\ntimeout = "3s"\n'
text += '\n[tls_rpt]\nenabled = true\norganization = "Signpost Test"\nfrom = "tls-reports@example.test"\nsend_hour = 0\n'
open(path, "w").write(text)
EOF
"$SIGNPOST" check-config --config "$CFG" > "$WORK/effective.toml" 2> "$WORK/check.err" || { cat "$WORK/check.err"; fail "config refused"; }
grep -q '^\[tls_rpt\]' "$WORK/effective.toml" || fail "check-config does not show [tls_rpt]"

LOG=$WORK/serve.log
"$SIGNPOST" serve --config "$CFG" >> "$LOG" 2>&1 &
SP_PID=$!
track_pid $SP_PID
wait_for_log "$LOG" 'ready$' 10

n=0
submit() {  # submit DOMAIN
  n=$((n + 1))
  swaks --server "127.0.0.1:$SUBMISSION_PORT" --tls --auth PLAIN --auth-user dev --auth-password "$DEV_PASSWORD" \
    --from dev@example.test --to "user@$1" --header "Subject: t76 $n" --header "Message-Id: <t76-$n@example.test>" \
    > "$WORK/swaks-$n.out" 2>&1 || { cat "$WORK/swaks-$n.out"; fail "submission $n to $1 failed"; }
}
for d in ee.dane.test ee.dane.test ee.dane.test bad.dane.test bad.dane.test open.plain.test; do submit "$d"; done
for ((i = 0; i < 150; i++)); do
  [ "$(grep -c '^MSG' "$WORK/a/sink.log" 2>/dev/null || true)" = 3 ] && [ "$(grep -c '^MSG' "$WORK/b/sink.log" 2>/dev/null || true)" = 1 ] \
    && [ "$(grep -c 'bad.dane.test: attempt via' "$LOG" || true)" = 2 ] && break
  sleep 0.1
done
[ "$i" -lt 150 ] || { tail -20 "$LOG"; fail "the six messages were not all tried"; }
pass "3 DANE successes (ee), 2 DANE failures (bad), 1 opportunistic delivery (open)"

TODAY=$(date -u +%F)
"$SIGNPOST" tls-report show --config "$CFG" > "$WORK/show.out" 2>&1 || { cat "$WORK/show.out"; fail "tls-report show failed"; }
/usr/bin/python3 - "$WORK/show.out" "$EE311" <<'PY' || { cat "$WORK/show.out"; fail "tls-report show: wrong counts"; }
import json, sys
text = open(sys.argv[1]).read()
reports = {}
for block in text.split("# ")[1:]:
    head, _, body = block.partition("\n")
    reports[head.split()[0]] = json.loads(body)
ee, bad, open_ = reports["ee.dane.test"], reports["bad.dane.test"], reports["open.plain.test"]
p = ee["policies"][0]
assert p["policy"]["policy-type"] == "tlsa" and p["policy"]["policy-string"] == ["3 1 1 " + sys.argv[2]], p
assert p["summary"] == {"total-successful-session-count": 3, "total-failure-session-count": 0}, p
b = bad["policies"][0]
assert b["summary"]["total-failure-session-count"] == 2 and b["summary"]["total-successful-session-count"] == 0, b
fd = b["failure-details"]
assert len(fd) == 1 and fd[0]["result-type"] == "validation-failure" and fd[0]["failed-session-count"] == 2, fd
assert fd[0]["receiving-mx-hostname"] == "mxn.dane.test" and fd[0]["receiving-ip"] == "127.0.0.31", fd
assert fd[0]["sending-mta-ip"].startswith("127."), fd
o = open_["policies"][0]
assert o["policy"]["policy-type"] == "no-policy-found" and o["summary"]["total-successful-session-count"] == 1, o
PY
pass "signpost tls-report show: tlsa 3/0, tlsa 0/2 validation-failure at mxn.dane.test[127.0.0.31], no-policy-found 1/0"

# ---- SIGKILL, then the next day -----------------------------------------------------------
kill -KILL $SP_PID
wait_exit $SP_PID 10 || true
LOG=$WORK/serve2.log
env LD_PRELOAD="$FAKETIME_LIB" FAKETIME="+1d" FAKETIME_DONT_FAKE_MONOTONIC=1 \
  "$SIGNPOST" serve --config "$CFG" >> "$LOG" 2>&1 &
SP_PID=$!
track_pid $SP_PID
wait_for_log "$LOG" 'ready$' 15
wait_for_log "$LOG" "TLS report $TODAY: ee.dane.test: report .* POSTed to https://reports.plain.test:$HTTPS_PORT/v1/tlsrpt \(HTTP 201\)" 30
wait_for_log "$LOG" "TLS report $TODAY: bad.dane.test: report .* to mailto:tlsrpt@reports.plain.test queued as" 30
wait_for_log "$LOG" "TLS report $TODAY: open.plain.test: publishes no TLSRPT record: no report" 30
pass "the next day: reports sent for the two domains that ask (https and mailto), none for the other"

# The POSTs: application/tlsrpt+gzip, the JSON per RFC 8460 §4.4, counts from before the SIGKILL.
/usr/bin/python3 - "$WORK/posts" "$TODAY" "$EE311" <<'PY' || fail "the POSTed reports are wrong"
import gzip, json, os, sys, re
d, today, ee311 = sys.argv[1:]
seen = {}
for f in sorted(os.listdir(d)):
    if not f.endswith(".body"):
        continue
    path, ctype = open(os.path.join(d, f[:-5] + ".meta")).read().split("\n")[:2]
    assert path == "/v1/tlsrpt", path
    assert ctype == "application/tlsrpt+gzip", ctype
    r = json.loads(gzip.decompress(open(os.path.join(d, f), "rb").read()))
    assert set(r) >= {"organization-name", "date-range", "contact-info", "report-id", "policies"}, r.keys()
    assert r["organization-name"] == "Signpost Test" and r["contact-info"] == "tls-reports@example.test", r
    assert r["date-range"] == {"start-datetime": today + "T00:00:00Z", "end-datetime": today + "T23:59:59Z"}, r
    assert re.fullmatch(r"[0-9a-f-]{36}", r["report-id"]), r["report-id"]
    for p in r["policies"]:
        assert set(p) <= {"policy", "summary", "failure-details"} and set(p["policy"]) <= {
            "policy-type", "policy-string", "policy-domain", "mx-host"}, p
        seen[p["policy"]["policy-domain"]] = p
assert set(seen) == {"ee.dane.test", "bad.dane.test"}, seen.keys()
assert seen["ee.dane.test"]["summary"]["total-successful-session-count"] == 3, seen["ee.dane.test"]
assert seen["ee.dane.test"]["policy"]["policy-string"] == ["3 1 1 " + ee311]
assert seen["bad.dane.test"]["summary"]["total-failure-session-count"] == 2, seen["bad.dane.test"]
PY
pass "https: POSTed as application/tlsrpt+gzip; the JSON has RFC 8460's fields; the counts survived the SIGKILL"

# The mail: RFC 8460 §5.3 form, DKIM-signed for example.test, the attachment the same report.
for ((i = 0; i < 150; i++)); do
  mails=$(grep -l "^TLS-Report-Domain: " "$WORK"/b/store/*.eml 2> /dev/null | wc -l || true)
  [ "$mails" = 2 ] && break
  sleep 0.1
done
[ "$mails" = 2 ] || { tail -20 "$LOG"; fail "the two report mails did not reach reports.plain.test's MX"; }
RECDIR=$WORK/records
mkdir -p "$RECDIR"
"$SIGNPOST" keys dns --config "$CFG" > "$WORK/keys-dns.out" || fail "keys dns failed"
awk -v dir="$RECDIR" '/^ *name:/{n=$2} /^ *value:/{sub(/^ *value: /, ""); print > (dir "/" n ".txt")}' "$WORK/keys-dns.out"
for m in $(grep -l "^TLS-Report-Domain: " "$WORK"/b/store/*.eml); do
  # Verified on the same (faked) day it was signed: dkimpy refuses a t= in the future.
  env LD_PRELOAD="$FAKETIME_LIB" FAKETIME="+1d" \
    /usr/bin/python3 "$SIGNPOST_SOURCE_DIR/tests/integration/dkim/verify_dkimpy.py" "$RECDIR" "$m" > "$WORK/dkim.out" 2>&1 \
    || { cat "$WORK/dkim.out"; fail "report mail $m: DKIM does not verify"; }
  /usr/bin/python3 - "$m" "$TODAY" <<'PY' || fail "report mail $m has the wrong form"
import email, email.policy, gzip, json, re, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=email.policy.compat32)
today = sys.argv[2]
dom = m["TLS-Report-Domain"]
assert dom in ("ee.dane.test", "bad.dane.test"), dom
assert m["TLS-Report-Submitter"] == "Signpost Test"
assert m["From"] == "tls-reports@example.test" and m["To"] == "tlsrpt@reports.plain.test"
assert re.fullmatch(r"Report Domain: " + re.escape(dom) + r" Submitter: Signpost Test Report-ID: <[0-9a-f-]{36}>", m["Subject"]), m["Subject"]
assert m.get_content_type() == "multipart/report" and m.get_param("report-type") == "tlsrpt"
parts = m.get_payload()
gz = [p for p in parts if p.get_content_type() == "application/tlsrpt+gzip"]
assert len(gz) == 1
name = gz[0].get_filename()
assert re.fullmatch(r"example\.test!" + re.escape(dom) + r"!\d+!\d+!\w+\.json\.gz", name), name
r = json.loads(gzip.decompress(gz[0].get_payload(decode=True)))
assert r["policies"][0]["policy"]["policy-domain"] == dom and r["date-range"]["start-datetime"] == today + "T00:00:00Z"
PY
done
pass "mailto: multipart/report; report-type=\"tlsrpt\", the RFC's subject and fields, DKIM-signed (dkimpy), the gzip'd JSON attached"

# Nothing is sent twice: a restart marks them sent.
kill -TERM $SP_PID
wait_exit $SP_PID 20
"$SIGNPOST" tls-report days --config "$CFG" > "$WORK/days.out" || fail "tls-report days failed"
grep -q "^$TODAY: bad.dane.test(sent) ee.dane.test(sent) open.plain.test(sent)$" "$WORK/days.out" \
  || { cat "$WORK/days.out"; fail "the day's reports are not all marked sent"; }
pass "every domain of the day is marked sent"
