#!/usr/bin/env bash
# t21: `signpost keys generate` and `keys import`, against a real DNS server.
#   - generate prints the record as name + value and in zone-file form, the value split
#     into quoted strings of at most 255 bytes that join back to the value;
#   - a key made by OpenDKIM's own tool (opendkim-genkey: a PKCS#1 RSA key and its zone
#     record) is imported under its selector while its record is already in DNS: it becomes
#     active at once, so a migration changes no DNS, and mail signed with it verifies with
#     OpenDKIM and dkimpy;
#   - importing under a selector that is taken, a corrupt key, and a key for a domain that
#     is not configured fail with clear errors and change nothing;
#   - `keys import` of a key whose record is NOT in DNS leaves it pending.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../unbound.sh"
PY=/usr/bin/python3
DOMAIN=example.test
command -v opendkim-genkey > /dev/null || fail "opendkim-genkey not found (package opendkim-tools)"

unbound_start "$DOMAIN"
dev=$WORK/dev
init_dev "$dev"
cfg=$dev/signpost.toml
sed -i 's|^dir = "keys"$|dir = "keys-generated"|' "$cfg"
sed -i 's|^algorithms = \["ed25519", "rsa2048"\]|algorithms = ["rsa2048"]|' "$cfg"
printf '\n[dns]\nforwarders = ["127.0.0.1@%s"]\n' "$UNBOUND_PORT" >> "$cfg"

# --- generate ------------------------------------------------------------------------
"$SIGNPOST" keys generate --config "$cfg" --domain "$DOMAIN" --algorithm rsa2048 --selector spnext > "$WORK/gen.out" \
  || { cat "$WORK/gen.out"; fail "keys generate failed"; }
grep -q '^  name:  spnext._domainkey.example.test$' "$WORK/gen.out" || fail "generate: no record name"
value=$(sed -n 's/^  value: //p' "$WORK/gen.out")
zone=$(sed -n 's/^  zone:  //p' "$WORK/gen.out")
[[ $value == "v=DKIM1; k=rsa; p="* ]] || fail "generate: value is '$value'"
[[ $zone == "spnext._domainkey.example.test. IN TXT ( \""* ]] || fail "generate: zone form is '$zone'"
joined=$(grep -o '"[^"]*"' <<< "$zone" | tr -d '"\n')
[ "$joined" = "$value" ] || fail "generate: the zone strings do not join to the value"
while read -r s; do [ "${#s}" -le 257 ] || fail "generate: a zone string is longer than 255 bytes"; done < <(grep -o '"[^"]*"' <<< "$zone")
[ "$(grep -o '"[^"]*"' <<< "$zone" | wc -l)" -ge 2 ] || fail "generate: an RSA-2048 record needs two strings"
pass "keys generate prints the record as name/value and as zone-file strings of <= 255 bytes"

if "$SIGNPOST" keys generate --config "$cfg" --domain "$DOMAIN" --algorithm rsa2048 > /dev/null 2> "$WORK/gen2.err"; then
  fail "a second pending rsa2048 key was generated"
fi
grep -q 'a pending rsa2048 key exists already (spnext)' "$WORK/gen2.err" || { cat "$WORK/gen2.err"; fail "unclear refusal"; }
pass "a second pending key of one algorithm is refused: $(cat "$WORK/gen2.err")"

# --- import a key made by OpenDKIM, whose record is already published ----------------
sed -i 's|^dir = "keys-generated"$|dir = "keys-migrated"|' "$cfg"
mkdir "$WORK/opendkim"
opendkim-genkey -b 2048 -d "$DOMAIN" -s mail -D "$WORK/opendkim" || fail "opendkim-genkey failed"
# mail.txt: mail._domainkey IN TXT ( "v=DKIM1; h=sha256; k=rsa; " "p=..." "..." ) ; comment
record=$(sed 's/;.*DKIM key.*//' "$WORK/opendkim/mail.txt" | grep -o '"[^"]*"' | tr -d '"\n')
[[ $record == v=DKIM1* ]] || fail "could not read opendkim-genkey's record"
unbound_add_txt "mail._domainkey.$DOMAIN" "$record"
unbound_restart
[ "$(dig_txt "mail._domainkey.$DOMAIN")" = "$record" ] || fail "DNS does not serve the OpenDKIM record"

"$SIGNPOST" keys import --config "$cfg" --domain "$DOMAIN" --selector mail --key "$WORK/opendkim/mail.private" \
  > "$WORK/import.out" 2>&1 || { cat "$WORK/import.out"; fail "keys import failed"; }
grep -q 'example.test: mail (rsa2048) activated' "$WORK/import.out" || { cat "$WORK/import.out"; fail "imported key not activated"; }
"$SIGNPOST" keys list --config "$cfg" > "$WORK/list.out"
grep -qE '^example.test +mail +rsa2048 +active .*published$' "$WORK/list.out" || { cat "$WORK/list.out"; fail "keys list does not show mail active and published"; }
pass "an OpenDKIM key is imported and active at once, its DNS record unchanged"

msg=$SIGNPOST_TEST_DATA_DIR/dkim-corpus/03-to-many-addresses.eml
"$SIGNPOST" dkim sign --config "$cfg" --domain "$DOMAIN" < "$msg" > "$WORK/signed.eml" || fail "signing failed"
grep -q 's=mail;' "$WORK/signed.eml" || fail "not signed with the imported key"
# OpenDKIM itself verifies, with the record from its own key generator.
printf 'mail._domainkey.%s %s\n' "$DOMAIN" "$record" > "$WORK/keys.txt"
printf 'Mode v\nTestPublicKeys %s\nSyslog no\n' "$WORK/keys.txt" > "$WORK/opendkim.conf"
opendkim -t "$WORK/signed.eml" -x "$WORK/opendkim.conf" -vv > "$WORK/opendkim.out" 2>&1 || true
grep -q 'dkim=pass' "$WORK/opendkim.out" || grep -qi 'verification (s=mail.*) successful' "$WORK/opendkim.out" \
  || { cat "$WORK/opendkim.out"; fail "OpenDKIM does not verify mail signed with its own imported key"; }
"$SIGNPOST" dkim verify --dns --dns-server "127.0.0.1@$UNBOUND_PORT" < "$WORK/signed.eml" || fail "signpost verify --dns fails"
pass "mail signed with the imported key verifies with OpenDKIM and over DNS"

# --- bad imports -----------------------------------------------------------------------
before=$(cat "$dev/keys-migrated/$DOMAIN/keys.state")
bad_import() {  # bad_import WHAT EXPECTED-TEXT ARGS...
  local what=$1 want=$2; shift 2
  if "$SIGNPOST" keys import --config "$cfg" "$@" > "$WORK/bad.out" 2>&1; then fail "$what: import succeeded"; fi
  grep -qF "$want" "$WORK/bad.out" || { cat "$WORK/bad.out"; fail "$what: no '$want' in the error"; }
  [ "$(cat "$dev/keys-migrated/$DOMAIN/keys.state")" = "$before" ] || fail "$what: the state changed"
  pass "$what: $(head -n1 "$WORK/bad.out")"
}
bad_import "selector taken" "selector mail is already used" --domain "$DOMAIN" --selector mail --key "$WORK/opendkim/mail.private"
head -c 300 "$WORK/opendkim/mail.private" > "$WORK/corrupt.pem"
bad_import "corrupt PEM" "corrupt.pem" --domain "$DOMAIN" --selector other --key "$WORK/corrupt.pem"
bad_import "unknown domain" 'domain "nope.test" is not configured' --domain nope.test --selector x --key "$WORK/opendkim/mail.private"

# --- import without a published record: stays pending -------------------------------------
opendkim-genkey -b 2048 -d "$DOMAIN" -s unpub -D "$WORK/opendkim" || fail "opendkim-genkey failed"
sed -i 's|^dir = "keys-migrated"$|dir = "keys-unpublished"|' "$cfg"
if "$SIGNPOST" keys import --config "$cfg" --domain "$DOMAIN" --selector unpub --key "$WORK/opendkim/unpub.private" > "$WORK/unpub.out" 2>&1; then
  fail "import reported success although the record is not in DNS"
fi
grep -q 'not activated: its DNS record is missing' "$WORK/unpub.out" || { cat "$WORK/unpub.out"; fail "no reason given"; }
grep -qE '^key unpub rsa2048 pending .* asap$' "$dev/keys-unpublished/$DOMAIN/keys.state" || fail "the key is not pending"
pass "a key whose record is not published is imported as pending: $(tail -n1 "$WORK/unpub.out")"
