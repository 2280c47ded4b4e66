#!/usr/bin/env bash
# t30: `signpost users ...` manages the users file of a dev setup.
#   - add with a piped password, and with a generated one (stdin a terminal: run under
#     script(1)) that is printed once and works with `users check`;
#   - list shows names and allowed senders, never hashes; passwd, allow, remove change
#     exactly one user and keep the operator's comments and the other users;
#   - bad cases exit 1 with a clear reason and change nothing: existing name, unknown name
#     (passwd, allow, remove, check), bad --allow entry, bad name, no password on stdin,
#     a file with a malformed line;
#   - concurrent adds lose nothing (flock on users.lock); the file stays 0600 (and a 0644
#     one is rewritten 0600); run as root, the file keeps its owner;
#   - `check` refuses what the daemon refuses (a group/world-readable file);
#   - `signpost check-config` still accepts the setup.
source "$(dirname "$0")/../lib.sh"

dev=$WORK/dev
"$SIGNPOST" init --dev "$dev" > /dev/null
cfg=$dev/signpost.toml
users=$dev/users

# users CMD ARGS...: runs `signpost users` against the dev config; stdout in $WORK/out,
# stderr in $WORK/err; sets RC.
users() {
  RC=0
  "$SIGNPOST" users "$@" --config "$cfg" > "$WORK/out" 2> "$WORK/err" || RC=$?
}
# users_in PASSWORD CMD ARGS...: the same, with PASSWORD as the first line of stdin.
users_in() { local pw=$1; shift; users "$@" <<< "$pw"; }
# expect_fail WHAT PATTERN: the last command exited 1 and said PATTERN on stderr.
expect_fail() {
  [ "$RC" = 1 ] || { cat "$WORK/out" "$WORK/err"; fail "$1: exit $RC, want 1"; }
  grep -qE "$2" "$WORK/err" || { cat "$WORK/err"; fail "$1: stderr lacks /$2/"; }
}
mode_is_600() { [ "$(stat -c %a "$users")" = 600 ] || fail "$1: users file has mode $(stat -c %a "$users")"; }
check_pw() {  # check_pw NAME PASSWORD: 0 if the password is NAME's
  printf '%s\n' "$2" | "$SIGNPOST" users check "$1" --config "$cfg" > "$WORK/check.out" 2> "$WORK/check.err"
}

# --- add with a piped password ------------------------------------------------------
sed -i '1a # family accounts: keep this comment' "$users"
users_in 'correct horse battery staple' add alice --allow 'example.test, Alice@Example.ORG'
[ "$RC" = 0 ] || { cat "$WORK/err"; fail "users add alice failed"; }
grep -q '^Added user alice to .*; may send as: example.test, alice@example.org$' "$WORK/out" \
  || { cat "$WORK/out"; fail "add printed no clear line"; }
grep -q 'no restart is needed' "$WORK/out" || fail "add does not say the daemon picks the change up"
grep -q 'Password' "$WORK/out" && fail "add printed a password it did not generate"
grep -q 'example.org has no \[\[domain\]\] entry' "$WORK/err" || { cat "$WORK/err"; fail "no warning for an unsigned domain"; }
grep -q '^alice:\$argon2id\$[^:]*:example.test,alice@example.org$' "$users" || { cat "$users"; fail "alice's line is wrong"; }
grep -qF 'correct horse' "$users" && fail "the users file holds a plain password"
grep -q '^dev:\$argon2id\$' "$users" || fail "add lost the dev user"
grep -q '^# family accounts: keep this comment$' "$users" || fail "add lost the operator's comment"
mode_is_600 "after add"
check_pw alice 'correct horse battery staple' || { cat "$WORK/check.err"; fail "check rejects alice's password"; }
grep -q 'The password matches user alice' "$WORK/check.out" || fail "check printed no result"
if check_pw alice 'correct horse battery stapler'; then fail "check accepts a wrong password"; fi
grep -q 'the password does not match user alice' "$WORK/check.err" || { cat "$WORK/check.err"; fail "unclear mismatch"; }
check_pw dev "$(cat "$dev/dev-password")" || fail "check rejects the dev user's password"
pass "add with a piped password; check accepts it and only it"

# --- add with a generated password (stdin is a terminal) ------------------------------
script -qec "'$SIGNPOST' users add carol --allow example.test --config '$cfg'" /dev/null < /dev/null \
  | tr -d '\r' > "$WORK/gen.out" || { cat "$WORK/gen.out"; fail "users add carol (generated) failed"; }
generated=$(sed -n 's/^Password (shown only this once, store it now): //p' "$WORK/gen.out")
[ "${#generated}" -ge 20 ] || { cat "$WORK/gen.out"; fail "no generated password printed"; }
[ "$(grep -c "$generated" "$WORK/gen.out")" = 1 ] || fail "the generated password is printed more than once"
grep -qF "$generated" "$users" && fail "the users file holds the generated password"
check_pw carol "$generated" || { cat "$WORK/check.err"; fail "check rejects carol's generated password"; }
pass "add on a terminal generates a password, prints it once, and it works"

# --- list ---------------------------------------------------------------------------
users list
[ "$RC" = 0 ] || { cat "$WORK/err"; fail "users list failed"; }
grep -qE '^NAME +ALLOWED SENDERS$' "$WORK/out" || { cat "$WORK/out"; fail "list has no header"; }
grep -qE '^alice +example.test, alice@example.org$' "$WORK/out" || { cat "$WORK/out"; fail "list lacks alice"; }
grep -qE '^carol +example.test$' "$WORK/out" || fail "list lacks carol"
grep -qE '^dev +example.test$' "$WORK/out" || fail "list lacks dev"
grep -q 'argon2' "$WORK/out" && fail "list prints hashes"
pass "list shows names and allowed senders, no hashes"

# --- passwd, allow ------------------------------------------------------------------
before_dev=$(grep '^dev:' "$users")
users_in 'a much better passphrase' passwd alice
[ "$RC" = 0 ] || { cat "$WORK/err"; fail "users passwd failed"; }
grep -q '^Changed the password of alice' "$WORK/out" || fail "passwd printed no clear line"
check_pw alice 'a much better passphrase' || fail "the new password does not work"
if check_pw alice 'correct horse battery staple'; then fail "the old password still works"; fi
grep -q '^alice:\$argon2id\$[^:]*:example.test,alice@example.org$' "$users" || fail "passwd changed alice's senders"
[ "$(grep '^dev:' "$users")" = "$before_dev" ] || fail "passwd touched another user"
mode_is_600 "after passwd"
pass "passwd replaces the password and nothing else"

users allow alice --allow 'alice@example.test,bob@example.test'
[ "$RC" = 0 ] || { cat "$WORK/err"; fail "users allow failed"; }
grep -q '^User alice may now send as: alice@example.test, bob@example.test (was: example.test, alice@example.org)$' \
  "$WORK/out" || { cat "$WORK/out"; fail "allow printed no clear line"; }
grep -q '^alice:\$argon2id\$[^:]*:alice@example.test,bob@example.test$' "$users" || fail "allow did not replace the list"
check_pw alice 'a much better passphrase' || fail "allow changed the password"
mode_is_600 "after allow"
pass "allow replaces the allowed senders"

# --- bad cases: exit 1, clear reason, nothing changed ----------------------------------
snapshot=$(sha256sum "$users")
unchanged() { [ "$(sha256sum "$users")" = "$snapshot" ] || fail "$1 changed the users file"; }

users_in 'whatever12345' add alice --allow example.test
expect_fail "add of an existing name" 'user alice exists already'; unchanged "add of an existing name"
users_in 'short' passwd nobody
expect_fail "passwd of an unknown name" 'no user nobody in'; unchanged "passwd of an unknown name"
grep -q 'shorter than' "$WORK/err" && fail "passwd of an unknown name read the password before checking the name"
users allow nobody --allow example.test
expect_fail "allow of an unknown name" 'no user nobody in'; unchanged "allow of an unknown name"
users remove nobody
expect_fail "remove of an unknown name" 'no user nobody in'; unchanged "remove of an unknown name"
users_in 'x' check nobody
expect_fail "check of an unknown name" 'no user nobody in'
users_in 'whatever12345' add bob --allow 'example.test,exa mple.test'
expect_fail "a bad --allow entry" '"exa mple.test" is neither a domain'; unchanged "a bad --allow entry"
users allow alice --allow ' , '
expect_fail "an empty --allow" 'at least one domain or address'; unchanged "an empty --allow"
users_in 'whatever12345' add 'bad name' --allow example.test
expect_fail "a bad user name" 'invalid user name "bad name"'; unchanged "a bad user name"
users add bob --allow example.test < /dev/null
expect_fail "add with an empty stdin" 'no password on stdin'; unchanged "add with an empty stdin"
users add bob < /dev/null
[ "$RC" != 0 ] || fail "add without --allow succeeded"; unchanged "add without --allow"
users_in 'short' add bob --allow example.test
[ "$RC" = 0 ] || { cat "$WORK/err"; fail "add with a short password failed"; }
grep -q 'shorter than 12 characters' "$WORK/err" || fail "no warning for a short password"
users remove bob
[ "$RC" = 0 ] || fail "remove bob failed"
snapshot=$(sha256sum "$users")
pass "bad cases exit 1 with a clear reason and change nothing"

# A malformed line: edits refuse (they would drop it), list shows it with its line number.
cp "$users" "$WORK/users.good"
echo 'broken line' >> "$users"
lineno=$(wc -l < "$users")
snapshot=$(sha256sum "$users")
users_in 'whatever12345' add bob --allow example.test
expect_fail "add to a malformed file" "users:$lineno: expected three fields"
grep -q 'fix them first, nothing was changed' "$WORK/err" || fail "add to a malformed file: unclear"
unchanged "add to a malformed file"
users list
expect_fail "list of a malformed file" "users:$lineno: expected three fields"
grep -qE '^alice ' "$WORK/out" || fail "list of a malformed file hides the good users"
users_in 'a much better passphrase' check alice
expect_fail "check of a malformed file" "users:$lineno: expected three fields"
cp "$WORK/users.good" "$users"
pass "a malformed users file is never edited; its errors name the line"

# --- modes and owner ------------------------------------------------------------------
chmod 644 "$users"
users_in 'a much better passphrase' check alice
expect_fail "check of a 0644 file" 'readable by group/others \(mode 0644\); run chmod 600'
users list
[ "$RC" = 0 ] || fail "list of a 0644 file failed"
grep -q 'Signpost refuses it' "$WORK/err" || fail "list does not warn about a 0644 file"
users_in 'a much better passphrase' passwd alice
[ "$RC" = 0 ] || { cat "$WORK/err"; fail "passwd on a 0644 file failed"; }
grep -q 'was readable by group/others (mode 0644); it is 0600 now' "$WORK/err" || fail "passwd did not say it fixed the mode"
mode_is_600 "after passwd on a 0644 file"
if [ "$(id -u)" = 0 ]; then
  chown nobody:nogroup "$users"
  users allow carol --allow example.test,carol@example.test
  [ "$RC" = 0 ] || { cat "$WORK/err"; fail "allow as root failed"; }
  [ "$(stat -c %U:%G "$users")" = nobody:nogroup ] || fail "the users file lost its owner: $(stat -c %U:%G "$users")"
  chown root:root "$users"
  pass "the file stays 0600 (a 0644 one is fixed), and keeps its owner when root edits it"
else
  pass "the file stays 0600 (a 0644 one is fixed); owner check skipped: not root"
fi

# --- concurrent edits -----------------------------------------------------------------
pids=()
for i in 1 2 3 4 5 6; do
  printf 'parallel-password-%s\n' "$i" \
    | "$SIGNPOST" users add "p$i" --allow example.test --config "$cfg" > "$WORK/p$i.out" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || fail "a concurrent add failed"; done
for i in 1 2 3 4 5 6; do
  grep -q "^p$i:" "$users" || { cat "$users"; fail "concurrent adds lost p$i"; }
done
check_pw p4 parallel-password-4 || fail "p4's password does not work"
[ -e "$users.lock" ] || fail "no lock file"
pass "six concurrent adds all land (flock on users.lock)"

# --- remove -------------------------------------------------------------------------
users remove alice
[ "$RC" = 0 ] || { cat "$WORK/err"; fail "users remove failed"; }
grep -q '^Removed user alice from ' "$WORK/out" || fail "remove printed no clear line"
grep -q 'no restart is needed' "$WORK/out" || fail "remove does not say the daemon picks the change up"
grep -q '^alice:' "$users" && fail "alice is still in the file"
grep -q '^carol:' "$users" || fail "remove lost carol"
grep -q '^# family accounts: keep this comment$' "$users" || fail "remove lost the operator's comment"
users_in 'a much better passphrase' check alice
expect_fail "check after remove" 'no user alice'
mode_is_600 "after remove"
pass "remove takes exactly one user out"

# --- the daemon's config check still accepts the setup --------------------------------
"$SIGNPOST" check-config --config "$cfg" > /dev/null 2> "$WORK/cc.err" || { cat "$WORK/cc.err"; fail "check-config rejects the setup"; }
pass "check-config accepts the setup after the edits"
