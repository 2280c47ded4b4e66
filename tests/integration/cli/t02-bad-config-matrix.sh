#!/usr/bin/env bash
# t02: the bad-config matrix. Each file in bad-configs/ is a config with one class of
# mistake; its first lines say what `check-config` must print:
#   # expect: REGEX          (a stderr line must match; may repeat)
#   # errors: N              (exactly N located error lines)
# Every case must exit 1 and print nothing on stdout. Placeholders in the files:
# @DEV@ is a valid development setup (for paths that must exist).
source "$(dirname "$0")/../lib.sh"

dev=$WORK/dev
"$SIGNPOST" init --dev "$dev" > /dev/null
cp "$dev/tls/key.pem" "$dev/tls/key-world.pem"; chmod 0644 "$dev/tls/key-world.pem"
cp "$dev/users" "$dev/users-world"; chmod 0644 "$dev/users-world"
# Secrets with the right mode but another owner (16, 17), and group-readable credentials.
[ "$(id -u)" = 0 ] || fail "t02 needs root to give files to another user"
cp "$dev/users" "$dev/users-nobody"; chown nobody "$dev/users-nobody"
cp "$dev/tls/key.pem" "$dev/tls/key-nobody.pem"; chown nobody "$dev/tls/key-nobody.pem"
printf 'relay-user:secret\n' > "$dev/creds-group"; chmod 0640 "$dev/creds-group"

cases=0
for src in "$(dirname "$0")"/bad-configs/*.toml; do
  name=$(basename "$src")
  cfg=$WORK/$name
  sed "s|@DEV@|$dev|g" "$src" > "$cfg"
  if "$SIGNPOST" check-config --config "$cfg" > "$WORK/out" 2> "$WORK/err"; then
    fail "$name: check-config exited 0"
  fi
  [ -s "$WORK/out" ] && fail "$name: printed a config on stdout"
  while read -r pattern; do
    sed "s|@DEV@|$dev|g; s|@FILE@|$cfg|g" <<< "$pattern" > "$WORK/pattern"
    grep -qE -f "$WORK/pattern" "$WORK/err" || { cat "$WORK/err"; fail "$name: no line matches /$(cat "$WORK/pattern")/"; }
  done < <(sed -n 's/^# expect: //p' "$src")
  want=$(sed -n 's/^# errors: //p' "$src")
  if [ -n "$want" ]; then
    got=$(grep -cE "^$cfg:[0-9]+:[0-9]+: " "$WORK/err" || true)
    [ "$got" = "$want" ] || { cat "$WORK/err"; fail "$name: $got located errors, want $want"; }
  fi
  cases=$((cases + 1))
  pass "$name: $(head -n1 "$WORK/err")"
done
[ "$cases" -ge 10 ] || fail "only $cases bad-config cases ran"

# A file that does not exist, and a directory in place of a file.
if "$SIGNPOST" check-config --config "$WORK/nope.toml" 2> "$WORK/err"; then fail "missing file accepted"; fi
grep -qE "$WORK/nope.toml: .*(No such file|not found)" "$WORK/err" || { cat "$WORK/err"; fail "missing file: unclear error"; }
pass "missing file: $(head -n1 "$WORK/err")"
if "$SIGNPOST" check-config --config "$WORK" 2> "$WORK/err"; then fail "directory accepted"; fi
grep -q "$WORK" "$WORK/err" || fail "directory: error does not name it"
pass "directory as config: $(head -n1 "$WORK/err")"
