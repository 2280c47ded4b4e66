#!/usr/bin/env bash
# t5c: guessing one user's password from many addresses (relay/auth/failures.hpp,
# user_failure_policy), with [auth] max_failures = 2, lockout = "60s", cache_ttl = "5m",
# and two users, dev and nas:
#   1. nas logs in once from 127.0.0.9 (its password is now remembered, [auth] cache_ttl);
#   2. eight addresses fail twice each, four guessing dev, four guessing nas: 8 failures
#      per user name = 4 x max_failures, so both names are locked out (each address alone
#      is only at its own limit);
#   3. dev from a fresh address: its right password (never verified) and a wrong one both
#      get 454 4.7.0, without a password check;
#   4. nas from a fresh address: the right password, verified in 1, still gets 235 and a
#      submission works (a lockout caused by guessers does not cut off the working client);
#      a wrong one gets 454;
#   5. another user name is not affected: "nobody-here" fails with 535 as usual;
#   6. the log names the lockout, and holds no password.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/abuse.sh"
abuse_setup
sed -i '/^\[auth\]/a max_failures = 2\nlockout = "60s"\ncache_ttl = "5m"' "$cfg"
grep -q '^lockout = "60s"' "$cfg" || fail "could not set [auth] lockout"
NAS_PASSWORD=t5c-nas-Pa55word
printf '%s\n' "$NAS_PASSWORD" | "$SIGNPOST" users add nas --allow example.test --config "$cfg" > "$WORK/add.out" 2>&1 \
  || { cat "$WORK/add.out"; fail "users add nas"; }
export NAS_PASSWORD
abuse_serve

"$PY" - <<'EOF' || fail "user name lockout"
import os, smtplib, ssl, threading

port, cafile, password = int(os.environ["SP_PORT"]), os.environ["SP_CAFILE"], os.environ["SP_PASSWORD"]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False

def session(source):
    s = smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(source, 0))
    s.starttls(context=ctx)
    s.ehlo()
    return s

def login(source, user, pw):
    s = session(source)
    try:
        s.user, s.password = user, pw
        s.auth("PLAIN", s.auth_plain)  # one mechanism: smtplib's login() would try LOGIN after PLAIN
        return s, 235, "ok"
    except smtplib.SMTPAuthenticationError as e:
        s.close()
        return None, e.smtp_code, e.smtp_error.decode()
    except smtplib.SMTPResponseException as e:
        s.close()
        return None, e.smtp_code, e.smtp_error.decode()

# 1. nas logs in once: its password is remembered from now on
s, code, text = login("127.0.0.9", "nas", os.environ["NAS_PASSWORD"])
assert code == 235, "1: nas's first login got %d %s" % (code, text)
s.quit()
print("ok: 1: nas logged in from 127.0.0.9")

# 2. eight failures per user name from four addresses each, in parallel (the delays overlap)
codes = []
def guess(source, user):
    for i in range(2):
        _, code, _ = login(source, user, "guess-%s-%d" % (source, i))
        codes.append(code)
threads = [threading.Thread(target=guess, args=("127.0.0.%d" % (20 + a), "dev" if a < 4 else "nas")) for a in range(8)]
for t in threads: t.start()
for t in threads: t.join(120)
assert sorted(codes) == [535] * 16, "2: the guesses got %s" % codes
print("ok: 2: 8 failures each for dev and nas from 8 addresses, each answered 535")

# 3. dev is locked out, whatever the password, for an address that has not failed
for pw, what in ((password, "the right password"), ("wrong", "a wrong password")):
    _, code, text = login("127.0.0.30", "dev", pw)
    assert code == 454 and "4.7.0" in text, "3: %s for dev got %d %s" % (what, code, text)
print("ok: 3: dev gets 454 4.7.0 from a fresh address, right password or not")

# 4. nas's verified password still works; a guess does not
s, code, text = login("127.0.0.31", "nas", os.environ["NAS_PASSWORD"])
assert code == 235, "4: nas with its verified password got %d %s" % (code, text)
s.sendmail("nas@example.test", ["rcpt@dest.test"], b"From: nas@example.test\r\nSubject: t5c\r\n\r\nstill works\r\n")
s.quit()
_, code, text = login("127.0.0.32", "nas", "another-guess")
assert code == 454, "4: a guess for nas got %d %s" % (code, text)
print("ok: 4: nas with the password verified before logs in and submits; a guess gets 454")

# 5. other user names are not affected
_, code, text = login("127.0.0.33", "nobody-here", "x")
assert code == 535, "5: another user name got %d %s" % (code, text)
print("ok: 5: another user name gets the usual 535")
EOF
grep -q 'AUTH refused: user=dev from \[127.0.0.30\]: the user name is locked out after failed logins' "$log" \
  || { cat "$log"; fail "the lockout is not logged"; }
grep -q -F -e "$DEV_PASSWORD" -e "$NAS_PASSWORD" "$log" && fail "the log holds a password"
pass "a user name guessed at from many addresses is locked out; the known client and other users carry on"
kill -TERM "$pid"; wait_exit "$pid" 10
[ "$EXIT_CODE" = 0 ] || fail "serve exited $EXIT_CODE on SIGTERM"
