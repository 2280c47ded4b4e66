#!/usr/bin/env bash
# t57: password guessing (STYLE.md habit 7: "AUTH attempts"; relay/auth/failures.hpp), with
# [auth] max_failures = 5, lockout = "15s". 20 failed attempts in a row from 127.0.0.1:
#   - attempts 1-5 on one connection: 535 5.7.8 each, answered after a growing delay
#     (0, 1, 2, 4, 8 s: the 3rd takes >= 1 s); the 5th also gets 421 4.7.0 and the close;
#   - attempts 6-20 are new connections (both listeners): 421 4.7.0 at the greeting, closed;
#   - a connection opened BEFORE the lockout must not be able to log in during it either
#     (else the lockout only stops new connections: 20 pre-opened connections x 5 guesses);
#   - once `lockout` has passed since the last failure, connections get 220 again, the
#     correct password gets 235 2.7.0 and a submission works;
#   - no password (right or wrong) in the log.
# Why 15 s and not 5 s: the lockout runs from the moment the 5th failure is recorded, and
# the 8 s delay before its 535 comes after that, so a lockout shorter than ~8 s is over
# before the client could notice it.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/abuse.sh"
abuse_setup
sed -i '/^\[auth\]/a max_failures = 5\nlockout = "15s"' "$cfg"
grep -q '^lockout = "15s"' "$cfg" || fail "could not set [auth] lockout"
abuse_serve

"$PY" - <<'EOF' || fail "failed AUTH attempts"
import time
from smtpclient import *

LOCKOUT = 15.0
deferred = []  # failures checked at the end, so the rest of the scenario still runs

def tls_session(timeout=20):
    c = Client.from_env(timeout=timeout).connect()
    c.expect(220)
    c.ehlo()
    c.starttls()
    c.ehlo()
    return c

early = tls_session()          # opened before any failure
attempts = 0
with tls_session() as c:
    took = []
    for i in range(5):
        t = time.monotonic()
        if i == 4:
            fifth_sent = t
        c.auth_plain(password="wrong-guess-%d" % i, code=535, enhanced="5.7.8", timeout=20)
        took.append(time.monotonic() - t)
        attempts += 1
    r = c.expect(421, "4.7.0", what="after the 5th failure")
    _, rest = c.wait_closed(5)
    check(rest == b"", "bytes after the 421: %s" % show(rest))
    print("ok: attempts 1-5 -> 535 5.7.8 after %s s; the 5th also %s, closed"
          % ([round(x, 1) for x in took], r.first_line()))
    check(took[0] < 1.0, "the first failure took %.1fs (no delay expected)" % took[0])
    check(took[2] >= 1.0, "the 3rd failure's reply took %.2fs, not >= 1 s" % took[2])
    check(took[4] >= 4.0 and took[4] >= took[2], "the delays do not grow: %s" % took)
    print("ok: the failure delay grows (3rd reply after %.1fs, 5th after %.1fs)" % (took[2], took[4]))

while attempts < 20:
    mode = "implicit" if attempts % 2 else "starttls"
    with Client.from_env(mode).connect() as c:
        r = c.expect(421, "4.7.0", what="greeting during the lockout (%s)" % mode)
        c.wait_closed(5)
    attempts += 1
print("ok: attempts 6-20 (new connections, both listeners) -> %s at the greeting, closed" % r.first_line())

check(time.monotonic() - fifth_sent < LOCKOUT - 2, "too slow: the lockout may be over already")
r = early.cmd("AUTH PLAIN " + plain_response(early.user, early.password))
if r.code == 235:
    deferred.append("BUG: a connection opened before the lockout logged in during it: AUTH PLAIN "
                    "<correct credentials> -> %s (expected a refusal such as 421 4.7.0)" % r.first_line())
else:
    check(r.code in (421, 454, 535), "unexpected reply to AUTH during the lockout: %s" % r)
    print("ok: AUTH on a connection opened before the lockout -> %s" % r.first_line())
early.close()

# The lockout ends `lockout` after the last failure (recorded just after the 5th AUTH).
unlocked = None
while time.monotonic() - fifth_sent < LOCKOUT + 10:
    with Client.from_env().connect() as c:
        r = c.reply()
        if r.code == 220:
            unlocked = time.monotonic() - fifth_sent
            c.ehlo()
            c.starttls()
            c.ehlo()
            c.auth_plain()
            s = c.submit()
            check((s.code, s.enhanced) == (250, "2.0.0"), "submission after the lockout: %s" % s)
            c.quit()
            break
        check((r.code, r.enhanced) == (421, "4.7.0"), "greeting during the lockout: %s" % r)
    time.sleep(0.5)
check(unlocked is not None, "still locked out %.0fs after the last failure" % (LOCKOUT + 10))
check(unlocked >= LOCKOUT - 1.5, "the lockout ended after only %.1fs" % unlocked)
print("ok: %.1fs after the last failure: greeting 220, AUTH PLAIN -> 235 2.7.0, submission -> 250 2.0.0" % unlocked)

for d in deferred:
    print("FAIL: " + d)
if deferred:
    raise SystemExit(1)
EOF

grep -qF "$DEV_PASSWORD" "$log" && fail "the password is in the log"
grep -q 'wrong-guess' "$log" && fail "a guessed password is in the log"
grep -q 'session aborted' "$log" && fail "a session was aborted by an exception: $(grep 'session aborted' "$log")"
pass "no password and no aborted session in the log"

[ "$(queue_count)" = 1 ] || fail "the queue does not hold exactly the one submission"
"$PY" "$HERE/smtpclient.py" submit --port "$SUBMISSIONS_PORT" --implicit --cafile "$SP_CAFILE" --password "$DEV_PASSWORD" \
  > "$WORK/final.out" || fail "a normal submission failed afterwards: $(cat "$WORK/final.out")"
[ "$(queue_count)" = 2 ] || fail "the normal submission was not queued"
pass "a normal submission still works: $(cat "$WORK/final.out")"
kill -TERM "$pid"; wait_exit "$pid" 10
[ "$EXIT_CODE" = 0 ] || fail "serve exited $EXIT_CODE on SIGTERM"
