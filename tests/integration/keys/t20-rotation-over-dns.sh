#!/usr/bin/env bash
# t20: DKIM key rotation in a running daemon against a real DNS server (unbound on
# 127.0.0.1). The daemon checks its keys every second ([keys] check_interval = "1s").
#   1. A new domain gets its first keys (Ed25519 + RSA-2048) as pending; nothing signs and
#      the rotation-blocked metric is 1 while their records are not in DNS.
#   2. The records `keys dns` prints are published: the daemon activates both; `keys list`
#      shows them active and published; a message signed with the active keys verifies
#      with dkimpy (reading the records from the same DNS server) and with Signpost.
#   3. A manual rotation of the Ed25519 key: a published record with the WRONG key keeps
#      the old key signing (mismatch, blocked); the right record activates the new key,
#      the old one becomes retiring, and both records keep verifying mail signed with them.
#   4. SIGTERM stops the daemon with exit 0.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../unbound.sh"
PY=/usr/bin/python3
DOMAIN=example.test

$PY -c 'import dkim, nacl.signing, dns.resolver' 2> /dev/null \
  || fail "dkimpy/pynacl/dnspython do not import under $PY"

unbound_start "$DOMAIN"
pass "unbound answers on 127.0.0.1@$UNBOUND_PORT"

# A development setup whose keys directory starts empty, checked every second, with DNS
# forwarded to the test server.
dev=$WORK/dev
init_dev "$dev"
cfg=$dev/signpost.toml
sed -i -e 's|^dir = "keys"$|dir = "keys-rotating"\ncheck_interval = "1s"|' "$cfg"
mport=$METRICS_PORT
printf '\n[dns]\nforwarders = ["127.0.0.1@%s"]\n' "$UNBOUND_PORT" >> "$cfg"
"$SIGNPOST" check-config --config "$cfg" > /dev/null || fail "test config does not load"

log=$WORK/serve.log
"$SIGNPOST" serve --config "$cfg" > "$log" 2>&1 &
spid=$!
track_pid "$spid"
wait_for_log "$log" 'ready'

metric() {  # metric REGEX: the value of the first series matching REGEX
  curl -s "http://127.0.0.1:$mport/metrics" | grep -E "^$1" | head -n1 | awk '{print $NF}'
}
wait_metric() {  # wait_metric REGEX VALUE
  local i
  for ((i = 0; i < 100; i++)); do
    [ "$(metric "$1")" = "$2" ] && return 0
    sleep 0.1
  done
  fail "metric /$1/ is '$(metric "$1")', want $2"
}

# 1. first keys are pending; nothing signs; rotation is blocked
wait_for_log "$log" 'new ed25519 key sp[0-9-]+a is pending; publish TXT'
wait_for_log "$log" 'new rsa2048 key sp[0-9-]+b is pending; publish TXT'
wait_metric 'signpost_dkim_active_keys\{domain="example.test"\}' 0
wait_metric 'signpost_dkim_rotation_blocked\{algorithm="ed25519",domain="example.test"\}' 1
wait_for_log "$log" 'rotation blocked: ed25519 key .* is missing'
if "$SIGNPOST" dkim sign --config "$cfg" --domain "$DOMAIN" < /dev/null > /dev/null 2> "$WORK/nokey.err"; then
  fail "signing succeeded without an active key"
fi
grep -q 'has no active key' "$WORK/nokey.err" || fail "no clear reason when no key is active"
pass "first keys are pending, blocked until published, and nothing signs"

# publish: every "name:"/"value:" pair under "Publish now" in `keys dns`
publish_pending() {
  "$SIGNPOST" keys dns --config "$cfg" --domain "$DOMAIN" > "$WORK/dns.out"
  awk '/^Publish now/{p=1; next} /^[A-Z]/{p=0} p && /name:/{n=$2} p && /value:/{sub(/^ *value: /, ""); print n "\t" $0}' \
    "$WORK/dns.out" > "$WORK/to-publish"
  [ -s "$WORK/to-publish" ] || { cat "$WORK/dns.out"; fail "keys dns lists nothing to publish"; }
  while IFS=$'\t' read -r name value; do unbound_add_txt "$name" "$value"; done < "$WORK/to-publish"
  unbound_restart
}
publish_pending
[ "$(wc -l < "$WORK/to-publish")" = 2 ] || fail "expected two records to publish"

# 2. activation once DNS shows the records
wait_metric 'signpost_dkim_active_keys\{domain="example.test"\}' 2
wait_for_log "$log" 'ed25519 key sp[0-9-]+a is now active'
wait_for_log "$log" 'rsa2048 key sp[0-9-]+b is now active'
wait_metric 'signpost_dkim_rotation_blocked\{algorithm="ed25519",domain="example.test"\}' 0
"$SIGNPOST" keys list --config "$cfg" > "$WORK/list.out"
[ "$(grep -cE ' active +[0-9]+m +published$' "$WORK/list.out")" = 2 ] \
  || { cat "$WORK/list.out"; fail "keys list does not show two active, published keys"; }
pass "both keys activated after publication; keys list shows them published"

# dkimpy verifying with records fetched from the test DNS server
verify_dkimpy() {  # verify_dkimpy FILE: every signature must pass
  $PY - "$1" "$UNBOUND_PORT" << 'PY'
import sys, dkim, dns.resolver
msg = open(sys.argv[1], "rb").read()
r = dns.resolver.Resolver(configure=False)
r.nameservers = ["127.0.0.1"]
r.port = int(sys.argv[2])
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    ans = r.resolve(name, "TXT")
    return b"".join(b"".join(rr.strings) for rr in ans[:1])
n = msg.count(b"\nDKIM-Signature:") + msg.startswith(b"DKIM-Signature:")
ok = n > 0
for i in range(n):
    res = dkim.DKIM(msg).verify(idx=i, dnsfunc=dnsfunc)
    print("dkimpy signature", i, "pass" if res else "FAIL")
    ok = ok and res
sys.exit(0 if ok else 1)
PY
}
msg=$SIGNPOST_TEST_DATA_DIR/dkim-corpus/15-multipart-alternative.eml
"$SIGNPOST" dkim sign --config "$cfg" --domain "$DOMAIN" < "$msg" > "$WORK/signed1.eml" || fail "signing with the active keys failed"
[ "$(grep -c '^DKIM-Signature:' "$WORK/signed1.eml")" = 2 ] || fail "not dual-signed"
verify_dkimpy "$WORK/signed1.eml" || fail "dkimpy does not verify the message over DNS"
"$SIGNPOST" dkim verify --dns --dns-server "127.0.0.1@$UNBOUND_PORT" < "$WORK/signed1.eml" || fail "signpost dkim verify --dns fails"
pass "a message signed with the active keys verifies with dkimpy and Signpost over DNS"

# 3. manual rotation of the Ed25519 key
old_ed=$(awk '$3 == "ed25519" && $4 == "active" {print $2}' "$WORK/list.out")
"$SIGNPOST" keys rotate --config "$cfg" --domain "$DOMAIN" --algorithm ed25519 > "$WORK/rotate.out" || fail "keys rotate failed"
new_ed=$(awk '/^Publish this record/{getline; print $2}' "$WORK/rotate.out" | sed 's/\._domainkey.*//')
[ -n "$new_ed" ] && [ "$new_ed" != "$old_ed" ] || { cat "$WORK/rotate.out"; fail "keys rotate printed no new record"; }
# A record with some other key at the new name: a mismatch, the old key keeps signing.
unbound_add_txt "$new_ed._domainkey.$DOMAIN" "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
unbound_restart
wait_for_log "$log" "rotation blocked: ed25519 key $new_ed cannot activate, its record .* is mismatch"
wait_metric 'signpost_dkim_rotation_blocked\{algorithm="ed25519",domain="example.test"\}' 1
"$SIGNPOST" dkim sign --config "$cfg" --domain "$DOMAIN" < "$msg" > "$WORK/signed2.eml"
grep -q "s=$old_ed;" "$WORK/signed2.eml" || fail "while blocked, mail is not signed with the old key $old_ed"
grep -q "s=$new_ed;" "$WORK/signed2.eml" && fail "mail signed with the unpublished key $new_ed"
pass "a wrong record blocks the rotation; the old key keeps signing"

# The right record: activation, and the old key retires but stays verifiable.
grep -v "$new_ed._domainkey" "$UNBOUND_ZONE" > "$UNBOUND_ZONE.new" && mv "$UNBOUND_ZONE.new" "$UNBOUND_ZONE"
publish_pending
wait_for_log "$log" "ed25519 key $new_ed is now active"
wait_for_log "$log" "ed25519 key $old_ed stopped signing; keep its record"
wait_metric 'signpost_dkim_rotation_blocked\{algorithm="ed25519",domain="example.test"\}' 0
wait_metric "signpost_dkim_key_state\\{algorithm=\"ed25519\",domain=\"example.test\",selector=\"$old_ed\",state=\"retiring\"\\}" 1
"$SIGNPOST" dkim sign --config "$cfg" --domain "$DOMAIN" < "$msg" > "$WORK/signed3.eml"
grep -q "s=$new_ed;" "$WORK/signed3.eml" || fail "after the rotation, mail is not signed with $new_ed"
verify_dkimpy "$WORK/signed3.eml" || fail "dkimpy does not verify mail signed after the rotation"
verify_dkimpy "$WORK/signed2.eml" || fail "mail signed with the retiring key no longer verifies"
"$SIGNPOST" keys dns --config "$cfg" --domain "$DOMAIN" > "$WORK/dns2.out"
grep -q "Keep published (retiring" "$WORK/dns2.out" || { cat "$WORK/dns2.out"; fail "keys dns does not list the retiring key"; }
pass "the new key signs once published; mail signed with the retiring key still verifies"

# 4. clean stop
kill -TERM "$spid"
wait_exit "$spid" 10
[ "$EXIT_CODE" = 0 ] || fail "serve exited $EXIT_CODE on SIGTERM"
pass "daemon stopped cleanly"
