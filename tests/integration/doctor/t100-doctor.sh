#!/usr/bin/env bash
# t100-doctor — `signpost doctor` against a loopback DNS world (unbound with one local zone
# per case), real certificates made by openssl, and aiosmtpd as the port-25 probe target and
# as the smarthost. Each case asserts the status, then applies the printed fix (the record it
# prints goes into the zone, the setting into the config) and asserts the check turns ok.
#   1. good.test: every DKIM, SPF, DMARC and posture check ok (a DKIM record written with
#      other spacing and string splits still matches); FCrDNS, certificate, port 25 ok;
#      exit status 0 for --domain good.test; the text output.
#   2. DKIM: an active key with no record (fail), a typo'd record (fail), a stale record
#      holding another key (fail); each printed record published -> ok. A retired key's
#      record still published warns; removed, the warning goes.
#   3. SPF: two records (fail -> the merged record), a record without the relay's address
#      (fail -> the record with it), 11 DNS-querying includes (fail: over the limit).
#   4. DMARC: none (fail -> the suggested record), adkim=s with sign_subdomains (fail ->
#      adkim=r); posture warnings (MX, MTA-STS, TLS-RPT) never fail, and their records fix them.
#   5. FCrDNS: a PTR naming another host (fail -> the PTR it asks for -> ok).
#   6. The certificate: 2 days left (fail), 10 days (warn), another name (fail), the
#      intermediate missing (fail), renewed (ok).
#   7. Port 25: a closed port (fail); the smarthost: closed (fail), wrong password (fail with
#      the server's 535), right password (ok); SPF in smarthost mode only warns.
#   8. --json: the documented schema (version 1), summary counts, exit status 1 on a failure.
#   9. The daemon: signpost_doctor_check{check,domain} in a live scrape, a failure logged and
#      its recovery logged after the fix ([doctor] interval = "2s").
set -euo pipefail
source "${SIGNPOST_SOURCE_DIR:?}/tests/integration/lib.sh"
source "$SIGNPOST_SOURCE_DIR/tests/integration/unbound.sh"
PY=/usr/bin/python3
command -v openssl > /dev/null || fail "openssl not found (scripts/install-deps.sh)"

# --- the DNS world ---------------------------------------------------------------------------
DOMAINS=(nodkim.test typo.test stale.test twospf.test nospf.test spflimit.test nodmarc.test strict.test noptr.test)
unbound_start good.test
for d in "${DOMAINS[@]}"; do unbound_add_server "local-zone: \"$d.\" static"; done
unbound_add_server 'local-zone: "127.in-addr.arpa." static'

# zone_put RR...: serve each RR (zone-file form, parentheses allowed), replacing the records
# of the same owner and type; then restart unbound.
zone_put() {
  "$PY" - "$UNBOUND_ZONE" "$@" <<'PY'
import re, sys
path, rrs = sys.argv[1], sys.argv[2:]
def key(rr):
    toks = rr.replace("(", " ").replace(")", " ").split()
    owner = toks[0].lower().rstrip(".")
    for t in toks[1:]:
        if t.upper() in ("TXT", "MX", "A", "AAAA", "PTR"):
            return owner, t.upper()
    raise SystemExit("no type in " + rr)
wanted = {key(rr) for rr in rrs}
keep = []
for line in open(path):
    m = re.match(r"local-data: '(.*)'$", line.rstrip("\n"))
    if m and key(m.group(1)) in wanted:
        continue
    keep.append(line)
for rr in rrs:
    flat = " ".join(rr.replace("(", " ").replace(")", " ").split())
    keep.append("local-data: '%s'\n" % flat)
open(path, "w").writelines(keep)
PY
  unbound_restart
}

# zone_drop OWNER TYPE: stop serving OWNER's TYPE records.
zone_drop() {
  "$PY" - "$UNBOUND_ZONE" "$1" "$2" <<'PY'
import re, sys
path, owner, rtype = sys.argv[1], sys.argv[2].lower().rstrip("."), sys.argv[3].upper()
keep = []
for line in open(path):
    m = re.match(r"local-data: '(\S+)\.?\s.*\b" + rtype + r"\b", line)
    if m and m.group(1).lower().rstrip(".") == owner:
        continue
    keep.append(line)
open(path, "w").writelines(keep)
PY
  unbound_restart
}

H=127.0.0.30  # the relay's address: mail.good.test
unbound_add_rr "mail.good.test. 300 IN A $H"
unbound_add_rr "30.0.0.127.in-addr.arpa. 300 IN PTR mail.good.test."
unbound_add_rr "mail.noptr.test. 300 IN A 127.0.0.11"
unbound_add_rr "11.0.0.127.in-addr.arpa. 300 IN PTR other.good.test."
unbound_add_rr "good.test. 300 IN MX 10 mail.good.test."
unbound_add_txt "good.test" "v=spf1 ip4:$H -all"
unbound_add_txt "_dmarc.good.test" "v=DMARC1; p=reject; rua=mailto:dmarc@good.test"
unbound_add_txt "_mta-sts.good.test" "v=STSv1; id=20261206"
unbound_add_txt "_smtp._tls.good.test" "v=TLSRPTv1; rua=mailto:tlsrpt@good.test"
for d in "${DOMAINS[@]}"; do
  case $d in nospf.test | twospf.test | spflimit.test) ;; *) unbound_add_txt "$d" "v=spf1 ip4:$H -all" ;; esac
  [ "$d" = nodmarc.test ] || [ "$d" = strict.test ] || unbound_add_txt "_dmarc.$d" "v=DMARC1; p=quarantine; rua=mailto:d@$d"
done
unbound_add_txt "twospf.test" "v=spf1 ip4:$H -all"
unbound_add_txt "twospf.test" "v=spf1 include:good.test ~all"
unbound_add_txt "nospf.test" "v=spf1 ip4:192.0.2.1 -all"
limit="v=spf1 ip4:$H"
for i in $(seq 1 11); do
  limit+=" include:i$i.spflimit.test"
  unbound_add_txt "i$i.spflimit.test" "v=spf1 -all"
done
unbound_add_txt "spflimit.test" "$limit -all"
unbound_add_txt "_dmarc.strict.test" "v=DMARC1; p=reject; adkim=s; rua=mailto:d@strict.test"
unbound_restart
pass "unbound serves good.test and ${#DOMAINS[@]} other zones on 127.0.0.1@$UNBOUND_PORT"

# --- certificates ----------------------------------------------------------------------------
make_test_ca "$WORK"   # ca.pem (the trusted root), sink.pem for localhost (the smarthost)
CERTS=$WORK/certs
mkdir -p "$CERTS"
openssl req -newkey rsa:2048 -nodes -subj "/CN=signpost test intermediate" -keyout "$CERTS/int.key" \
  -out "$CERTS/int.csr" 2> /dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > "$CERTS/int.ext"
openssl x509 -req -in "$CERTS/int.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 30 \
  -extfile "$CERTS/int.ext" -out "$CERTS/int.pem" 2> /dev/null || fail "openssl: intermediate"
# leaf NAME DAYS OUT [direct]: a certificate for NAME (key OUT.key); issued by the
# intermediate with the chain in OUT.pem, or by the root with "direct".
leaf() {
  local name=$1 days=$2 out=$CERTS/$3
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$out.key" -out "$out.csr" 2> /dev/null
  chmod 600 "$out.key"
  printf 'subjectAltName=DNS:%s\n' "$name" > "$out.ext"
  if [ "${4:-}" = direct ]; then
    openssl x509 -req -in "$out.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days "$days" \
      -extfile "$out.ext" -out "$out.pem" 2> /dev/null || fail "openssl: $3"
  else
    openssl x509 -req -in "$out.csr" -CA "$CERTS/int.pem" -CAkey "$CERTS/int.key" -CAcreateserial -days "$days" \
      -extfile "$out.ext" -out "$out.leaf" 2> /dev/null || fail "openssl: $3"
    cat "$out.leaf" "$CERTS/int.pem" > "$out.pem"
  fi
}
leaf mail.good.test 90 good
leaf mail.good.test 2 two-days direct
leaf mail.good.test 10 ten-days direct
leaf other.test 90 other-name direct
cp "$CERTS/good.key" "$CERTS/no-int.key"
cp "$CERTS/good.leaf" "$CERTS/no-int.pem"
leaf mail.noptr.test 90 noptr

# --- the configuration -------------------------------------------------------------------------
init_dev "$WORK/dev"   # users file and free ports
SINK_PORT=$(free_port)
start_sink "$SINK_PORT" "$WORK" --auth 'bob:pa55'   # the port-25 probe target, later the smarthost
CLOSED_PORT=$(free_port)
CFG=$WORK/signpost.toml
# write_config FILE HOSTNAME CERT [DELIVERY-TOML]: the test's configuration.
write_config() {
  local file=$1 host=$2 cert=$3 delivery=${4:-}
  {
    printf '[server]\nhostname = "%s"\n\n' "$host"
    printf '[[listener]]\naddress = "127.0.0.1:%s"\ntls = "starttls"\n\n' "$SUBMISSION_PORT"
    printf '[tls]\ncert = "%s.pem"\nkey = "%s.key"\n\n' "$CERTS/$cert" "$CERTS/$cert"
    printf '[auth]\nusers_file = "%s"\n\n' "$WORK/dev/users"
    printf '[[domain]]\nname = "good.test"\nrotate_every = "0"\n\n'
    if [ "$host" = mail.good.test ]; then
      for d in "${DOMAINS[@]}"; do
        printf '[[domain]]\nname = "%s"\nrotate_every = "0"\n' "$d"
        [ "$d" = strict.test ] && printf 'sign_subdomains = true\n'
        printf '\n'
      done
    fi
    printf '[keys]\ndir = "%s"\n\n[queue]\ndir = "%s"\n\n' "$WORK/keys" "$WORK/spool-$(basename "$file" .toml)"
    if [ -n "$delivery" ]; then printf '%s\n\n' "$delivery"; else printf '[delivery]\nmode = "mx"\n\n'; fi
    printf '[doctor]\ninterval = "2s"\nport25_probe = "127.0.0.1:%s"\n\n' "$SINK_PORT"
    printf '[dns]\nforwarders = ["127.0.0.1@%s"]\ntimeout = "5s"\n\n' "$UNBOUND_PORT"
    printf '[metrics]\nlisten = "127.0.0.1:%s"\n' "$METRICS_PORT"
  } > "$file"
}
write_config "$CFG" mail.good.test good
"$SIGNPOST" check-config --config "$CFG" > /dev/null 2> "$WORK/check.err" || { cat "$WORK/check.err"; fail "the test config is refused"; }

# DKIM keys: Ed25519 and RSA for every domain, active at once; their records published,
# except nodkim.test's; typo.test's with one character of the key changed; stale.test's
# Ed25519 selector holding good.test's key; good.test's written with other spacing and splits.
for d in good.test "${DOMAINS[@]}"; do
  "$SIGNPOST" keys generate --domain "$d" --config "$CFG" > /dev/null || fail "keys generate $d"
  "$SIGNPOST" keys generate --domain "$d" --algorithm rsa2048 --config "$CFG" > /dev/null || fail "keys generate rsa $d"
  "$SIGNPOST" keys activate --now --domain "$d" --config "$CFG" > /dev/null 2>&1 || fail "keys activate $d"
done
# records DOMAIN: "name<TAB>value" of each key to keep published.
records() {
  "$SIGNPOST" keys dns --domain "$1" --config "$CFG" | awk '/^  name: /{n=$2} /^  value: /{sub(/^  value: /, ""); print n "\t" $0}'
}
while IFS=$'\t' read -r name value; do
  if [[ $value == *k=ed25519* ]]; then
    unbound_add_rr "$name. 300 IN TXT \"v=DKIM1;  k=ed25519 ;\" \" p=${value##*p=}\""
  else
    unbound_add_txt "$name" "$value"
  fi
done < <(records good.test)
GOOD_ED=$(records good.test | awk -F'\t' '/k=ed25519/{print $2}')
for d in "${DOMAINS[@]}"; do
  while IFS=$'\t' read -r name value; do
    case "$d:$value" in
      nodkim.test:*) ;;
      typo.test:*k=ed25519*) p=${value##*p=}; unbound_add_txt "$name" "v=DKIM1; k=ed25519; p=${p:0:10}$([ "${p:10:1}" = A ] && echo B || echo A)${p:11}" ;;
      stale.test:*k=ed25519*) unbound_add_txt "$name" "$GOOD_ED" ;;
      *) unbound_add_txt "$name" "$value" ;;
    esac
  done < <(records "$d")
done
unbound_restart

# --- helpers -----------------------------------------------------------------------------------
# doctor CONFIG [ARGS...]: JSON into $WORK/doctor.json; the exit status into DOCTOR_RC.
doctor() {
  DOCTOR_RC=0
  SSL_CERT_FILE=$WORK/ca.pem timeout 120 "$SIGNPOST" doctor --config "$1" --json "${@:2}" > "$WORK/doctor.json" \
    2> "$WORK/doctor.err" || DOCTOR_RC=$?
  [ "$DOCTOR_RC" -le 1 ] || { cat "$WORK/doctor.err"; fail "signpost doctor exited $DOCTOR_RC"; }
}
# get WHAT CHECK DOMAIN [SUBJECT]: the worst matching check's status, evidence or fix
# ("absent" when none matches).
get() {
  "$PY" - "$WORK/doctor.json" "$@" <<'PY'
import json, sys
path, what, check, domain = sys.argv[1:5]
subject = sys.argv[5] if len(sys.argv) > 5 else None
rank = {"ok": 0, "skipped": 1, "warn": 2, "fail": 3}
cs = [c for c in json.load(open(path))["checks"]
      if c["check"] == check and c["domain"] == domain and (subject is None or c["subject"] == subject)]
if not cs:
    print("absent")
else:
    print(max(cs, key=lambda c: rank[c["status"]])[what])
PY
}
# expect CHECK DOMAIN SUBJECT STATUS [EVIDENCE-ERE]: the worst matching check ("" SUBJECT:
# any) has STATUS, and its evidence matches the ERE.
expect() {
  local sub=() st ev
  [ -z "$3" ] || sub=("$3")
  st=$(get status "$1" "$2" "${sub[@]}")
  ev=$(get evidence "$1" "$2" "${sub[@]}")
  [ "$st" = "$4" ] || { echo "evidence: $ev"; echo "fix: $(get fix "$1" "$2" "${sub[@]}")"; fail "$1 ${2:-relay} ${3:-}: $st, expected $4"; }
  [ -z "${5:-}" ] || grep -qE -- "$5" <<< "$ev" || fail "$1 ${2:-relay} ${3:-}: evidence '$ev' does not match /$5/"
}
# fix_records CHECK DOMAIN [SUBJECT]: the zone-file lines of the worst check's fix.
fix_records() {
  get fix "$@" | sed -n -E 's/^ *//; /^[^ ]+\. IN (TXT|MX|A|AAAA|PTR) /p'
}
# apply_fix CHECK DOMAIN [SUBJECT]: publish what the fix prints (at least one record).
apply_fix() {
  local rrs=()
  mapfile -t rrs < <(fix_records "$@")
  [ ${#rrs[@]} -gt 0 ] || { get fix "$@"; fail "$1 $2: the fix prints no record"; }
  zone_put "${rrs[@]}"
}

# --- 1. a good domain -------------------------------------------------------------------------
doctor "$CFG"
"$PY" - "$WORK/doctor.json" <<'PY' || fail "good.test is not all ok (above)"
import json, sys
bad = [c for c in json.load(open(sys.argv[1]))["checks"]
       if c["domain"] == "good.test" and c["status"] not in ("ok",) and c["check"] != "dnssec"]
for c in bad: print(c)
sys.exit(1 if bad else 0)
PY
expect dkim good.test "" ok "published at"
expect spf good.test "$H" ok "SPF pass for $H"
expect spf good.test lookups ok "^0 of 10"
expect dmarc good.test "" ok "p=reject"
expect dnssec good.test "" skipped "dnssec = false"
expect fcrdns "" "$H" ok
expect certificate "" "" ok
expect port25 "" "" ok "220"
[ "$DOCTOR_RC" = 1 ] || fail "doctor exited $DOCTOR_RC with failing domains; expected 1"
SSL_CERT_FILE=$WORK/ca.pem "$SIGNPOST" doctor --config "$CFG" --domain good.test > "$WORK/good.txt" 2>&1 \
  || { cat "$WORK/good.txt"; fail "doctor --domain good.test exits non-zero"; }
grep -q '^good.test$' "$WORK/good.txt" && grep -q '^relay host$' "$WORK/good.txt" && grep -qE '^[0-9]+ ok, [0-9]+ warnings?, 0 failures, [0-9]+ skipped$' "$WORK/good.txt" \
  || { cat "$WORK/good.txt"; fail "the text output"; }
! grep -q 'nodkim.test' "$WORK/good.txt" || fail "--domain good.test checked other domains"
pass "good.test: every check ok (a re-split DKIM record matches); FCrDNS, certificate and port 25 ok; exit 0"

# --- 2. DKIM ------------------------------------------------------------------------------------
expect dkim nodkim.test "" fail "no record at"
expect dkim typo.test "" fail "holds a key Signpost does not have"
expect dkim stale.test "" fail "holds a key Signpost does not have"
[ "$(get status dkim typo.test "$(records typo.test | awk -F'\t' '/k=rsa/{sub(/\._domainkey.*/, "", $1); print $1}')")" = ok ] \
  || fail "typo.test's RSA key is published correctly but not ok"
grep -q '_domainkey.nodkim.test. IN TXT' <<< "$(fix_records dkim nodkim.test)" || fail "nodkim.test: the fix is not the record"
rrs=()
for d in nodkim.test typo.test stale.test; do
  mapfile -t -O "${#rrs[@]}" rrs < <("$PY" - "$WORK/doctor.json" "$d" <<'PY'
import json, re, sys
for c in json.load(open(sys.argv[1]))["checks"]:
    if c["check"] == "dkim" and c["domain"] == sys.argv[2] and c["status"] == "fail":
        for line in c["fix"].splitlines():
            if " IN TXT " in line: print(line.strip())
PY
)
done
[ ${#rrs[@]} -ge 4 ] || fail "expected the printed records of 4 missing or wrong keys, got ${#rrs[@]}"
zone_put "${rrs[@]}"
doctor "$CFG"
for d in nodkim.test typo.test stale.test; do expect dkim "$d" "" ok; done
# A retired key whose record is still published (written into the state as rotation would).
sed -i 's/^end$/key sp2025-01a ed25519 retired created=1735689600 activated=1735689600 retiring=1743465600 retired=1744502400\nend/' \
  "$WORK/keys/stale.test/keys.state"
zone_put "sp2025-01a._domainkey.stale.test. IN TXT \"$GOOD_ED\""
doctor "$CFG"
expect dkim stale.test sp2025-01a warn "retired key sp2025-01a still published"
grep -q "remove the record sp2025-01a._domainkey.stale.test TXT" <<< "$(get fix dkim stale.test sp2025-01a)" \
  || fail "the retired record: the fix does not say to remove it"
zone_drop sp2025-01a._domainkey.stale.test TXT
doctor "$CFG"
[ "$(get status dkim stale.test sp2025-01a)" = absent ] || fail "a retired key whose record is gone is still reported"
pass "DKIM: missing, typo'd and stale records fail; the printed records make them ok; a retired record still published warns"

# --- 3. SPF -------------------------------------------------------------------------------------
expect spf twospf.test "" fail "2 SPF records"
# The merged record: both records' terms once, one "all" last (DNS gives the records in any order).
grep -qE "^twospf\.test\. IN TXT \"v=spf1 (ip4:$H include:good\.test|include:good\.test ip4:$H) [-~]all\"$" <<< "$(fix_records spf twospf.test)" \
  || { get fix spf twospf.test; fail "twospf.test: not the merged record"; }
apply_fix spf twospf.test
expect spf nospf.test "$H" fail "SPF fail for $H"
grep -qF "nospf.test. IN TXT \"v=spf1 ip4:192.0.2.1 ip4:$H -all\"" <<< "$(fix_records spf nospf.test)" \
  || { get fix spf nospf.test; fail "nospf.test: not the record with the relay's address"; }
apply_fix spf nospf.test "$H"
expect spf spflimit.test lookups fail "needs 11 DNS lookups"
grep -q "at most 10" <<< "$(get fix spf spflimit.test lookups)" || fail "spflimit.test: the fix does not say the limit"
zone_put "spflimit.test. IN TXT \"${limit% include:i10.spflimit.test include:i11.spflimit.test} -all\""
doctor "$CFG"
expect spf twospf.test "" ok
expect spf nospf.test "$H" ok "SPF pass"
expect spf spflimit.test lookups ok "^9 of 10"
pass "SPF: two records, a missing address and the lookup limit fail; the printed records make them ok"

# --- 4. DMARC and posture -------------------------------------------------------------------------
expect dmarc nodmarc.test "" fail "no DMARC record"
expect dmarc strict.test alignment fail "adkim=s"
grep -qF '_dmarc.strict.test. IN TXT "v=DMARC1; p=reject; adkim=r; rua=mailto:d@strict.test"' <<< "$(fix_records dmarc strict.test alignment)" \
  || { get fix dmarc strict.test alignment; fail "strict.test: not the relaxed record"; }
apply_fix dmarc nodmarc.test
apply_fix dmarc strict.test alignment
for c in mx mta_sts tls_rpt; do expect "$c" nodkim.test "" warn; done
"$PY" - "$WORK/doctor.json" <<'PY' || fail "a posture check failed (above)"
import json, sys
bad = [c for c in json.load(open(sys.argv[1]))["checks"] if c["check"] in ("mx", "mta_sts", "tls_rpt", "dnssec") and c["status"] == "fail"]
for c in bad: print(c)
sys.exit(1 if bad else 0)
PY
apply_fix tls_rpt nodkim.test
apply_fix mta_sts nodkim.test
doctor "$CFG"
expect dmarc nodmarc.test "" ok
expect dmarc strict.test alignment ok
expect tls_rpt nodkim.test "" ok
expect mta_sts nodkim.test "" ok
pass "DMARC: none and adkim=s with subdomains fail; posture only warns; the printed records make them ok"

# --- 5. FCrDNS ------------------------------------------------------------------------------------
CFG2=$WORK/noptr.toml
write_config "$CFG2" mail.noptr.test noptr
doctor "$CFG2"
expect fcrdns "" 127.0.0.11 fail "other.good.test"
grep -q "127.0.0.11.*mail.noptr.test" <<< "$(get fix fcrdns "" 127.0.0.11)" || { get fix fcrdns "" 127.0.0.11; fail "fcrdns: the fix"; }
zone_put "11.0.0.127.in-addr.arpa. IN PTR mail.noptr.test."
doctor "$CFG2"
expect fcrdns "" 127.0.0.11 ok
pass "FCrDNS: a PTR naming another host fails; the PTR it asks for makes it ok"

# --- 6. the certificate ---------------------------------------------------------------------------
for c in two-days:fail ten-days:warn other-name:fail no-int:fail; do
  write_config "$CFG2" mail.good.test "${c%%:*}"
  doctor "$CFG2" --offline
  expect certificate "" "" "${c##*:}"
  case ${c%%:*} in
    two-days) grep -q "(1 day\|(2 days" <<< "$(get evidence certificate "")" || { get evidence certificate ""; fail "certificate: days left"; } ;;
    other-name) grep -q "mail.good.test" <<< "$(get fix certificate "")" || fail "certificate: the fix does not name the host" ;;
    no-int) grep -qi "intermediate" <<< "$(get fix certificate "")" || fail "certificate: the fix does not name the intermediate" ;;
  esac
done
write_config "$CFG2" mail.good.test good
doctor "$CFG2" --offline
expect certificate "" "" ok
expect port25 "" "" skipped
pass "certificate: 2 days left, 10 days left, another name and a missing intermediate found; renewed ok"

# --- 7. port 25 and the smarthost ------------------------------------------------------------------
sed -i "s/^port25_probe = .*/port25_probe = \"127.0.0.1:$CLOSED_PORT\"/" "$CFG2"
doctor "$CFG2"
expect port25 "" "" fail
grep -q smarthost <<< "$(get fix port25 "")" || fail "port25: the fix does not offer the smarthost"
printf 'bob:wrong\n' > "$WORK/smarthost.cred"
chmod 600 "$WORK/smarthost.cred"
smarthost() {
  write_config "$CFG2" mail.good.test good "$(printf '[delivery]\nmode = "smarthost"\nsmarthost = "localhost:%s"\nsmarthost_credentials_file = "%s"\nextra_ca_file = "%s"' "$1" "$WORK/smarthost.cred" "$WORK/ca.pem")"
}
smarthost "$CLOSED_PORT"
doctor "$CFG2"
expect smarthost "" "" fail
smarthost "$SINK_PORT"
doctor "$CFG2"
expect smarthost "" "" fail "535"
grep -q "smarthost.cred" <<< "$(get fix smarthost "")" || { get fix smarthost ""; fail "smarthost: the fix does not name the credentials file"; }
printf 'bob:pa55\n' > "$WORK/smarthost.cred"
doctor "$CFG2"
expect smarthost "" "" ok "verified"
expect spf good.test "" warn "smarthost"
expect fcrdns "" "" skipped
pass "port 25 closed fails; the smarthost closed or with a wrong password fails (535), right password ok"

# --- 8. the JSON schema --------------------------------------------------------------------------
doctor "$CFG"
"$PY" - "$WORK/doctor.json" "$DOCTOR_RC" <<'PY' || fail "the JSON output does not follow the documented schema (above)"
import json, sys
doc, rc = json.load(open(sys.argv[1])), int(sys.argv[2])
assert set(doc) == {"version", "ok", "summary", "checks"}, doc.keys()
assert doc["version"] == 1 and isinstance(doc["ok"], bool)
assert set(doc["summary"]) == {"ok", "warn", "fail", "skipped"}
assert sum(doc["summary"].values()) == len(doc["checks"])
ids = {"dkim", "spf", "dmarc", "mx", "mta_sts", "tls_rpt", "dnssec", "fcrdns", "certificate", "port25", "smarthost"}
for c in doc["checks"]:
    assert set(c) == {"check", "domain", "subject", "status", "evidence", "fix"}, c
    assert all(isinstance(v, str) for v in c.values()), c
    assert c["check"] in ids and c["status"] in doc["summary"], c
    assert c["evidence"], c
    if c["status"] in ("warn", "fail"): assert c["fix"], c
for s in doc["summary"]: assert doc["summary"][s] == sum(1 for c in doc["checks"] if c["status"] == s)
assert doc["ok"] == (doc["summary"]["fail"] == 0) and rc == (0 if doc["ok"] else 1), (doc["ok"], rc)
PY
pass "--json: version 1, the documented members, summary counts, exit status agrees"

# --- 9. the daemon -------------------------------------------------------------------------------------
zone_drop _dmarc.good.test TXT
LOG=$WORK/serve.log
: > "$LOG"
SSL_CERT_FILE=$WORK/ca.pem "$SIGNPOST" serve --config "$CFG" >> "$LOG" 2>&1 &
SPID=$!
track_pid "$SPID"
wait_for_log "$LOG" 'ready'
# metric NAME-AND-LABELS: its value in a scrape, or "" (waits up to 20 s for VALUE when given).
metric_is() {
  local i
  for ((i = 0; i < 200; i++)); do
    curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" > "$WORK/metrics.txt" || true
    grep -qF "$1 $2" "$WORK/metrics.txt" && return 0
    sleep 0.1
  done
  grep signpost_doctor "$WORK/metrics.txt" || true
  cat "$LOG"
  fail "no '$1 $2' in the scrape"
}
metric_is 'signpost_doctor_check{check="dmarc",domain="good.test"}' 2
metric_is 'signpost_doctor_check{check="dkim",domain="good.test"}' 0
metric_is 'signpost_doctor_check{check="certificate",domain=""}' 0
metric_is 'signpost_doctor_check{check="port25",domain=""}' -1
grep -q 'signpost_doctor_last_run_timestamp_seconds' "$WORK/metrics.txt" || fail "no last-run timestamp"
wait_for_log "$LOG" 'doctor: good.test dmarc: fail: no DMARC record'
grep -qF '_dmarc.good.test. IN TXT' <<< "$(grep -F 'doctor: good.test dmarc: fail' "$LOG")" || fail "the logged failure has no fix"
zone_put '_dmarc.good.test. IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@good.test"'
metric_is 'signpost_doctor_check{check="dmarc",domain="good.test"}' 0
wait_for_log "$LOG" 'doctor: good.test dmarc.*: ok \(was fail\)'
kill -TERM "$SPID"
wait_exit "$SPID" 30
pass "daemon: signpost_doctor_check in the scrape; a lost DMARC record logged with its fix, its return logged"
