#!/usr/bin/env bash
# t101-spf-reference — `signpost spf` against a reference implementation, pyspf (Debian's
# python3-spf), on one corpus of real-world-shaped SPF records served by a private unbound
# on 127.0.0.1 (tests/data/spf/corpus/zone.conf): includes and nested includes, redirects,
# a/mx with CIDR lengths, ptr (IPv4 and IPv6), exists with macros, void lookups, the limit
# of 10 DNS-querying terms, include targets without a record, two records, syntax errors,
# SERVFAIL, IPv6, and the +all/?all/~all/-all policies.
#   1. unbound serves the corpus; signpost is pointed at it through [dns] forwarders, pyspf
#      through dnspython's default resolver (127.0.0.1 on the same port).
#   2. Every case of tests/data/spf/corpus/cases.txt (ip, sender, helo, expected result) is
#      evaluated by both. A table is printed. The test fails when signpost's result is not
#      the expected one, or when pyspf disagrees with it on a case not marked as an
#      exception. Exceptions are cases where pyspf deviates from RFC 7208 (the reason, with
#      its section, is in cases.txt): there only signpost's result is checked.
# Peers: unbound, dig, /usr/bin/python3 with python3-spf and python3-dnspython.
set -euo pipefail
source "${SIGNPOST_SOURCE_DIR:?}/tests/integration/lib.sh"
source "$SIGNPOST_SOURCE_DIR/tests/integration/unbound.sh"
CORPUS=${SIGNPOST_TEST_DATA_DIR:?}/spf/corpus
[ -f "$CORPUS/zone.conf" ] && [ -f "$CORPUS/cases.txt" ] || fail "corpus not found in $CORPUS"
/usr/bin/python3 -c 'import spf, dns.resolver' 2> /dev/null \
  || fail "pyspf not importable by /usr/bin/python3 (install python3-spf)"

# 1. the DNS
unbound_start test
cat "$CORPUS/zone.conf" >> "$UNBOUND_ZONE"
unbound_restart
dig @127.0.0.1 -p "$UNBOUND_PORT" +short TXT _spf.hq.test | grep -q 'v=spf1 ip4:192.0.2.128/26' \
  || fail "the test unbound does not serve the corpus"
pass "unbound serves the SPF corpus on 127.0.0.1@$UNBOUND_PORT"

# `signpost spf` reads only [dns]; the rest is the least a config must hold (the files it
# names are not opened).
CFG=$WORK/signpost.toml
cat > "$CFG" <<TOML
[server]
hostname = "relay.test"

[[listener]]
address = "127.0.0.1:2587"
tls = "starttls"

[tls]
cert = "cert.pem"
key = "key.pem"

[auth]
users_file = "users"

[delivery]
mode = "capture"
capture_dir = "capture"

[dns]
forwarders = ["127.0.0.1@$UNBOUND_PORT"]
timeout = "3s"
TOML

# 2. the cases, by both
ours=$WORK/ours.txt pyspf=$WORK/pyspf.txt
: > "$ours"
n=0
while IFS= read -r line; do
  case $line in '#'* | '') continue ;; esac
  read -r name ip sender helo _ <<< "${line%%|*}"
  [ "$sender" = "<>" ] && sender=""
  out=$(timeout 60 "$SIGNPOST" spf --config "$CFG" --ip "$ip" --sender "$sender" --helo "$helo" 2> "$WORK/err") \
    || { cat "$WORK/err"; fail "$name: signpost spf exited $?"; }
  result=$(sed -n 's/^result: //p' <<< "$out" | head -1)
  why=$(sed -n 's/^why: //p' <<< "$out" | head -1)
  printf '%s\t%s\t%s\n' "$name" "$result" "$why" >> "$ours"
  n=$((n + 1))
done < "$CORPUS/cases.txt"

timeout 600 /usr/bin/python3 - "$CORPUS/cases.txt" "$UNBOUND_PORT" > "$pyspf" 2> "$WORK/pyspf.err" <<'PY' \
  || { cat "$WORK/pyspf.err"; fail "pyspf run failed"; }
import sys, warnings
warnings.simplefilter("ignore")  # dns.resolver.query is deprecated; pyspf 2.0.14 uses it
import dns.name, dns.resolver, spf
cases, port = sys.argv[1], int(sys.argv[2])
r = dns.resolver.Resolver(configure=False)
r.nameservers = ["127.0.0.1"]
r.port = port
r.timeout = r.lifetime = 3.0
r.domain = dns.name.root
r.search = []
dns.resolver.default_resolver = r
for line in open(cases):
    if line.startswith("#") or not line.strip():
        continue
    name, ip, sender, helo = line.split("|")[0].split()[:4]
    if sender == "<>":
        sender = ""
    try:
        result, explanation = spf.check2(i=ip, s=sender, h=helo, querytime=20)
    except Exception as e:  # a pyspf bug is a disagreement, not a test error
        result, explanation = "exception", repr(e)
    print("%s\t%s\t%s" % (name, result, explanation.replace("\t", " ").replace("\n", " ")))
PY

# The table, and the verdict.
/usr/bin/python3 - "$CORPUS/cases.txt" "$ours" "$pyspf" <<'PY' || fail "signpost spf and pyspf disagree, or a result is not the RFC 7208 one (see above)"
import sys
cases, ours_file, py_file = sys.argv[1:]
def table(path):
    out = {}
    for line in open(path):
        name, result, why = (line.rstrip("\n").split("\t") + ["", ""])[:3]
        out[name] = (result, why)
    return out
ours, py = table(ours_file), table(py_file)
rows, bad, exceptions, agree = [], [], 0, 0
for line in open(cases):
    if line.startswith("#") or not line.strip():
        continue
    fields, _, note = line.partition("|")
    name, ip, sender, helo, expected = fields.split()[:5]
    exception = note.strip()
    o, p = ours.get(name, ("missing", ""))[0], py.get(name, ("missing", ""))[0]
    if o != expected:
        verdict = "WRONG (RFC 7208: %s)" % expected
        bad.append("%s: signpost says %s, RFC 7208 says %s (%s)" % (name, o, expected, ours.get(name, ("", ""))[1]))
    elif exception:
        exceptions += 1
        verdict = "exception" if p != o else "exception (pyspf agrees now)"
    elif p != o:
        verdict = "DIFFERS"
        bad.append("%s: signpost %s (%s) / pyspf %s (%s)" % (name, o, ours[name][1], p, py.get(name, ("", ""))[1]))
    else:
        agree += 1
        verdict = "same"
    rows.append((name, ip, sender, expected, o, p, verdict))
widths = [max(len(str(r[i])) for r in rows + [("case", "ip", "sender", "RFC", "signpost", "pyspf", "")]) for i in range(6)]
print("  ".join(h.ljust(w) for h, w in zip(("case", "ip", "sender", "RFC", "signpost", "pyspf"), widths)) + "  verdict")
for r in rows:
    print("  ".join(str(c).ljust(w) for c, w in zip(r[:6], widths)) + "  " + r[6])
print("%d cases: %d identical with pyspf, %d documented exceptions (pyspf deviates from RFC 7208), %d wrong"
      % (len(rows), agree, exceptions, len(bad)))
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
PY
[ "$n" -ge 40 ] || fail "only $n cases (40 at least)"
pass "$n cases: signpost spf gives the RFC 7208 result, identical to pyspf except the documented exceptions"
