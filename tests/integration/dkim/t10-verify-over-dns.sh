#!/usr/bin/env bash
# t10: `signpost dkim verify --dns` against a real DNS server. A private unbound on
# 127.0.0.1 (a free port) serves the corpus key records from a static local zone
# example.test, the RSA one split into several <character-string>s as a record over 255
# octets must be (RFC 1035 §3.3.14; RFC 6376 §3.6.2.2: the strings are concatenated).
#   - a message signed with both corpus keys (dual signing) verifies: two pass lines, exit 0
#   - a selector with no record: permerror reason=key_not_found, exit 1
#   - a selector whose record has an empty p= (RFC 6376 §3.6.1): reason=key_revoked, exit 1
#   - one good and one unknown signature: each judged on its own, exit 1
#   - dkimpy, with a dnsfunc that asks the same unbound through dnspython, agrees, so an
#     external verifier reads the records from the same server.
# Each key lookup must reach the server: unbound logs every query (log-queries) and the test
# checks that each selector's name was asked, so a "key_not_found" or "pass" that never left
# the process (a resolver answering from its own data) is caught.
# Peers: unbound, dig (dnsutils), /usr/bin/python3 with python3-dkim and python3-dnspython
# (scripts/install-deps.sh). A missing peer fails the test.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../unbound.sh"  # txt_strings

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
data_dir=${SIGNPOST_TEST_DATA_DIR:-$here/../../data}
corpus=$data_dir/dkim-corpus
PY=/usr/bin/python3   # Debian's python3-dkim imports only here (PEERS.md)
DOMAIN=example.test

for tool in unbound unbound-checkconf dig; do
  command -v "$tool" > /dev/null || fail "$tool not found (scripts/install-deps.sh installs it)"
done
$PY -c 'import dkim, nacl.signing, dns.resolver' 2> /dev/null \
  || fail "dkimpy/pynacl/dnspython do not import under $PY (python3-dkim python3-nacl python3-dnspython)"
[ -d "$corpus/records" ] || fail "corpus not found at $corpus"

# Signpost refuses private keys readable by others; git does not keep modes.
install -m 600 "$corpus/keys/rsa2048.pem" "$WORK/rsa2048.pem"
install -m 600 "$corpus/keys/ed25519.pem" "$WORK/ed25519.pem"
rsa_record=$(tr -d '\r\n' < "$corpus/records/rsa2048._domainkey.$DOMAIN.txt")
ed_record=$(tr -d '\r\n' < "$corpus/records/ed25519._domainkey.$DOMAIN.txt")
[ "${#rsa_record}" -gt 255 ] || fail "the RSA record is expected to need several strings"

mkdir -p "$WORK/unbound"
conf=$WORK/unbound/unbound.conf
write_conf() {  # write_conf PORT
  cat > "$conf" << EOF
server:
  interface: 127.0.0.1@$1
  port: $1
  do-ip6: no
  do-udp: yes
  do-tcp: yes
  num-threads: 1
  access-control: 127.0.0.0/8 allow
  username: ""
  chroot: ""
  directory: "$WORK/unbound"
  pidfile: "$WORK/unbound/unbound.pid"
  logfile: ""
  use-syslog: no
  verbosity: 1
  log-queries: yes
  do-not-query-localhost: no
  module-config: "iterator"
  local-zone: "$DOMAIN." static
  local-data: '$DOMAIN. 300 IN SOA ns.$DOMAIN. hostmaster.$DOMAIN. 1 3600 600 86400 300'
  local-data: 'rsa2048._domainkey.$DOMAIN. 300 IN TXT $(txt_strings "$rsa_record")'
  local-data: 'ed25519._domainkey.$DOMAIN. 300 IN TXT $(txt_strings "$ed_record")'
  local-data: 'revoked._domainkey.$DOMAIN. 300 IN TXT "v=DKIM1; k=ed25519; p="'
remote-control:
  control-enable: no
EOF
}

# Start unbound on a free port; another process may take the port between the check and
# the bind, so a start that fails on the address is retried on a new port.
port="" pid=""
for attempt in 1 2 3 4 5; do
  p=$(free_port)
  [ -n "$p" ] || fail "no free port found on 127.0.0.1"
  write_conf "$p"
  unbound-checkconf "$conf" > "$WORK/checkconf.out" 2>&1 \
    || { cat "$WORK/checkconf.out"; fail "unbound-checkconf rejects $conf"; }
  log=$WORK/unbound/unbound-$attempt.log
  unbound -d -c "$conf" > "$log" 2>&1 &
  pid=$!; track_pid "$pid"
  for ((i = 0; i < 100; i++)); do   # up to 10 s
    if ! kill -0 "$pid" 2> /dev/null; then break; fi
    answer=$(dig @127.0.0.1 -p "$p" +short +time=1 +tries=1 TXT "ed25519._domainkey.$DOMAIN" 2> /dev/null || true)
    if [ -n "$answer" ]; then port=$p; break 2; fi
    sleep 0.1
  done
  if kill -0 "$pid" 2> /dev/null; then
    cat "$log"; fail "unbound (pid $pid) runs on port $p but does not answer"
  fi
  grep -qi 'address already in use' "$log" || { cat "$log"; fail "unbound did not start"; }
  echo "port $p was taken; trying another"
done
[ -n "$port" ] || fail "unbound could not bind a port in 5 attempts"
pass "unbound (pid $pid) answers on 127.0.0.1@$port"

# The server must hand out exactly the corpus records, the long one in several strings.
dig_txt() {  # dig_txt NAME: the TXT strings joined, as a verifier must join them
  dig @127.0.0.1 -p "$port" +short +time=2 +tries=2 TXT "$1" | sed -e 's/^"//' -e 's/"$//' -e 's/" "//g'
}
strings=$(dig @127.0.0.1 -p "$port" +short TXT "rsa2048._domainkey.$DOMAIN" | grep -o '" "' | wc -l || true)
[ "$strings" -ge 1 ] || fail "the RSA record is served as one string; expected several"
[ "$(dig_txt "rsa2048._domainkey.$DOMAIN")" = "$rsa_record" ] || fail "DNS serves another RSA record"
[ "$(dig_txt "ed25519._domainkey.$DOMAIN")" = "$ed_record" ] || fail "DNS serves another Ed25519 record"
status=$(dig @127.0.0.1 -p "$port" +time=2 +tries=2 TXT "nosuch._domainkey.$DOMAIN" | grep -o 'status: [A-Z]*' || true)
[ "$status" = "status: NXDOMAIN" ] || fail "an unknown selector gives '$status', want NXDOMAIN"
pass "DNS serves the corpus records ($((strings + 1)) strings for RSA) and NXDOMAIN otherwise"

# Checks below collect problems instead of stopping at the first, so one run shows them all.
problems=()
problem() { echo "  NOT OK: $*"; problems+=("$*"); }
step() { step_start=${#problems[@]}; }
step_ok() { if [ "${#problems[@]}" -eq "$step_start" ]; then pass "$1"; fi; }

# queried NAME: unbound logged a query for NAME (log-queries) since the last verify.
queried() {
  awk -v m="$log_mark" -v q=" $1. TXT IN" 'NR > m && index($0, q) { found = 1 } END { exit !found }' "$log"
}

verify_dns() {  # verify_dns FILE SELECTOR...: sets OUT and RC; every key must be asked for
  local file=$1 sel name i; shift
  log_mark=$(wc -l < "$log")
  RC=0
  OUT=$("$SIGNPOST" dkim verify --dns --dns-server "127.0.0.1@$port" < "$file" 2> "$WORK/verify.err") || RC=$?
  echo "signpost dkim verify --dns --dns-server 127.0.0.1@$port < $(basename "$file") -> exit $RC"
  printf '%s\n' "$OUT" | sed 's/^/    /'
  [ -s "$WORK/verify.err" ] && sed 's/^/    stderr: /' "$WORK/verify.err"
  for sel in "$@"; do
    name=$sel._domainkey.$DOMAIN
    for ((i = 0; i < 20; i++)); do queried "$name" && break; sleep 0.1; done   # log lag
    queried "$name" || problem "$(basename "$file"): signpost sent no query for $name to 127.0.0.1@$port (none in unbound's query log)"
  done
}
sign() {  # sign OUT (--selector S --key K)...: signs the corpus message with fixed t=
  local out=$1; shift
  "$SIGNPOST" dkim sign --domain "$DOMAIN" "$@" --timestamp 1700000000 \
    < "$corpus/02-folded-subject.eml" > "$out" || fail "signpost dkim sign $* failed"
}
lines() { printf '%s\n' "$1" | wc -l; }

# 1. dual signing, both keys in DNS
step
sign "$WORK/dual.eml" --selector rsa2048 --key "$WORK/rsa2048.pem" \
  --selector ed25519 --key "$WORK/ed25519.pem"
[ "$(grep -c '^DKIM-Signature:' "$WORK/dual.eml")" = 2 ] || fail "dual signing did not add two signatures"
verify_dns "$WORK/dual.eml" rsa2048 ed25519
want="pass d=$DOMAIN s=rsa2048 a=rsa-sha256
pass d=$DOMAIN s=ed25519 a=ed25519-sha256"
[ "$RC" = 0 ] || problem "dual-signed message: exit $RC, want 0"
[ "$OUT" = "$want" ] || problem "dual-signed message: want two pass lines (rsa2048, then ed25519)"
step_ok "dual-signed message verifies over DNS: two pass lines, exit 0"

# 2. a selector that is not in DNS (unbound answers NXDOMAIN)
step
sign "$WORK/nosuch.eml" --selector nosuch --key "$WORK/ed25519.pem"
verify_dns "$WORK/nosuch.eml" nosuch
[ "$RC" = 1 ] || problem "unknown selector: exit $RC, want 1"
[[ $OUT =~ ^permerror\ d=$DOMAIN\ s=nosuch\ a=ed25519-sha256\ reason=key_not_found([[:space:]]|$) ]] \
  || problem "unknown selector: want 'permerror d=$DOMAIN s=nosuch a=ed25519-sha256 reason=key_not_found'"
[ "$(lines "$OUT")" = 1 ] || problem "unknown selector: want exactly one result line"
step_ok "selector without a record: permerror key_not_found, exit 1"

# 3. a revoked key (empty p=)
step
sign "$WORK/revoked.eml" --selector revoked --key "$WORK/ed25519.pem"
verify_dns "$WORK/revoked.eml" revoked
[ "$RC" = 1 ] || problem "revoked key: exit $RC, want 1"
[[ $OUT =~ ^(fail|permerror)\ d=$DOMAIN\ s=revoked\ a=ed25519-sha256\ reason=key_revoked([[:space:]]|$) ]] \
  || problem "revoked key: want reason=key_revoked"
[ "$(lines "$OUT")" = 1 ] || problem "revoked key: want exactly one result line"
step_ok "revoked key record: key_revoked, exit 1"

# 4. one signature good, one with an unknown selector: each judged on its own, exit 1
step
sign "$WORK/mixed.eml" --selector rsa2048 --key "$WORK/rsa2048.pem" \
  --selector nosuch --key "$WORK/ed25519.pem"
verify_dns "$WORK/mixed.eml" rsa2048 nosuch
[ "$RC" = 1 ] || problem "one good, one unknown signature: exit $RC, want 1"
[ "$(printf '%s\n' "$OUT" | sed -n 1p)" = "pass d=$DOMAIN s=rsa2048 a=rsa-sha256" ] \
  || problem "one good, one unknown signature: the good one must still pass"
printf '%s\n' "$OUT" | sed -n 2p | grep -qE "^permerror d=$DOMAIN s=nosuch a=ed25519-sha256 reason=key_not_found" \
  || problem "one good, one unknown signature: the second must be key_not_found"
[ "$(lines "$OUT")" = 2 ] || problem "one good, one unknown signature: want two result lines"
step_ok "each signature judged on its own: pass + key_not_found, exit 1"

# 5. dkimpy reads the same records from the same server (dnspython, not the system resolver)
cat > "$WORK/dkimpy_dns.py" << 'EOF'
"""dkimpy verification with key records from one DNS server (dnspython, no resolv.conf).
usage: dkimpy_dns.py PORT MESSAGE; prints one line per signature; exit 0 iff all pass."""
import re
import sys

import dkim
import dns.resolver

port, path = int(sys.argv[1]), sys.argv[2]
resolver = dns.resolver.Resolver(configure=False)
resolver.nameservers = ["127.0.0.1"]
resolver.port = port
resolver.lifetime = 5
asked = []


def dnsfunc(name, timeout=5):
    # dkimpy 1.1.4 asks for b"<s>._domainkey.<d>." and wants the TXT text (bytes) or None
    if isinstance(name, bytes):
        name = name.decode("ascii")
    asked.append(name)
    try:
        answer = resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return None
    # RFC 6376 §3.6.2.2: the strings of one TXT record are concatenated
    return b"".join(answer[0].strings)


with open(path, "rb") as f:
    d = dkim.DKIM(f.read(), minkey=1024)
signatures = [value for name, value in d.headers if name.lower() == b"dkim-signature"]
ok = len(signatures) > 0
for i, value in enumerate(signatures):
    tags = dict(t.split(b"=", 1) for t in re.sub(rb"\s+", b"", value).split(b";") if b"=" in t)
    ids = "d=%s s=%s a=%s" % tuple(tags.get(t, b"?").decode() for t in (b"d", b"s", b"a"))
    try:
        good = d.verify(idx=i, dnsfunc=dnsfunc)
    except dkim.DKIMException as e:
        good = False
        ids += " (%s)" % e
    print(("pass " if good else "fail ") + ids)
    ok = ok and good
print("asked: " + " ".join(asked))
sys.exit(0 if ok else 1)
EOF
dkimpy_dns() {  # dkimpy_dns FILE: sets OUT and RC
  RC=0
  OUT=$($PY "$WORK/dkimpy_dns.py" "$port" "$1" 2> "$WORK/dkimpy.err") || RC=$?
  echo "dkimpy over DNS < $(basename "$1") -> exit $RC"
  printf '%s\n' "$OUT" | sed 's/^/    /'
  [ "$RC" -le 1 ] || { cat "$WORK/dkimpy.err"; fail "dkimpy could not run"; }
}
step
dkimpy_dns "$WORK/dual.eml"
want="pass d=$DOMAIN s=rsa2048 a=rsa-sha256
pass d=$DOMAIN s=ed25519 a=ed25519-sha256
asked: rsa2048._domainkey.$DOMAIN. ed25519._domainkey.$DOMAIN."
{ [ "$RC" = 0 ] && [ "$OUT" = "$want" ]; } || problem "dkimpy over DNS does not pass both signatures"
step_ok "dkimpy passes the dual-signed message with the records from unbound"
step
for f in nosuch revoked; do
  dkimpy_dns "$WORK/$f.eml"
  { [ "$RC" = 1 ] && [[ $OUT == fail* ]]; } || problem "dkimpy over DNS passes the $f message"
done
step_ok "dkimpy fails the unknown-selector and revoked-key messages too"

# Stop unbound by its PID (lib.sh's trap would kill -9 it otherwise).
kill -TERM "$pid"
wait_exit "$pid" 10
pass "unbound stopped (exit $EXIT_CODE)"

if [ "${#problems[@]}" -gt 0 ]; then
  printf '  %s\n' "${problems[@]}" >&2
  fail "${#problems[@]} check(s) failed"
fi
