#!/usr/bin/env bash
# t01: `signpost init --dev DIR` writes a complete setup that `check-config` accepts, with
# secrets at mode 0600, usable keys, a working users file, and the documented listeners.
source "$(dirname "$0")/../lib.sh"

dev=$WORK/dev
"$SIGNPOST" init --dev "$dev" > "$WORK/init.out"
grep -q "Development setup written to $dev" "$WORK/init.out" || fail "init printed no summary"

for f in signpost.toml tls/cert.pem tls/key.pem users dev-password; do
  [ -s "$dev/$f" ] || fail "init did not write $f"
done
[ -d "$dev/outbox" ] || fail "no outbox directory"
for f in tls/key.pem users dev-password; do
  mode=$(stat -c %a "$dev/$f")
  [ "$mode" = 600 ] || fail "$f has mode $mode, want 600"
done
keys=$(find "$dev/keys/example.test" -name '*.pem' | wc -l)
[ "$keys" -eq 2 ] || fail "expected 2 DKIM keys for example.test, found $keys"
for k in "$dev"/keys/example.test/*.pem; do
  [ "$(stat -c %a "$k")" = 600 ] || fail "$k is not mode 600"
  openssl pkey -in "$k" -noout || fail "$k is not a valid private key"
done
grep -qE '^key sp[0-9]{4}-[0-9]{2}a ed25519 active ' "$dev/keys/example.test/keys.state" || fail "no active ed25519 key"
grep -qE '^key sp[0-9]{4}-[0-9]{2}b rsa2048 active ' "$dev/keys/example.test/keys.state" || fail "no active rsa2048 key"
"$SIGNPOST" keys list --no-dns --config "$dev/signpost.toml" > "$WORK/keys.out" || fail "keys list failed"
[ "$(grep -c ' active ' "$WORK/keys.out")" = 2 ] || { cat "$WORK/keys.out"; fail "keys list does not show two active keys"; }
openssl x509 -in "$dev/tls/cert.pem" -noout -checkhost localhost | grep -q 'does match' \
  || fail "TLS certificate is not valid for localhost"
openssl x509 -in "$dev/tls/cert.pem" -noout -checkip 127.0.0.1 | grep -q 'does match' \
  || fail "TLS certificate is not valid for 127.0.0.1"
password=$(cat "$dev/dev-password")
[ "${#password}" -ge 20 ] || fail "dev password is too short"
grep -q '^dev:\$argon2id\$.*:example.test$' "$dev/users" || fail "users file lacks user dev"
grep -qF "$password" "$dev/users" && fail "users file holds the plain password"
pass "init --dev wrote a complete setup"

"$SIGNPOST" check-config --config "$dev/signpost.toml" > "$WORK/effective.toml" \
  || fail "check-config rejected the dev setup"
grep -q '127.0.0.1:2587' "$WORK/effective.toml" || fail "effective config lacks the STARTTLS listener"
grep -q '127.0.0.1:2465' "$WORK/effective.toml" || fail "effective config lacks the implicit TLS listener"
grep -q '127.0.0.1:9587' "$WORK/effective.toml" || fail "effective config lacks the metrics listener"
grep -qE 'mode = "capture"' "$WORK/effective.toml" || fail "delivery mode is not capture"
pass "check-config accepts the dev setup"

# The effective config is itself a valid config.
cp "$WORK/effective.toml" "$dev/effective.toml"
"$SIGNPOST" check-config --config "$dev/effective.toml" > /dev/null || fail "effective config does not load"
pass "the effective config loads again"

# A second init into the same directory refuses and changes nothing.
before=$(sha256sum "$dev/users")
if "$SIGNPOST" init --dev "$dev" 2> "$WORK/init2.err"; then fail "second init succeeded"; fi
grep -q 'already exists' "$WORK/init2.err" || fail "second init gave no clear reason"
[ "$(sha256sum "$dev/users")" = "$before" ] || fail "second init changed the users file"
pass "init refuses to overwrite an existing setup"
