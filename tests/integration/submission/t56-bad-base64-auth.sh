#!/usr/bin/env bash
# t56: broken SASL exchanges (RFC 4954 §4, RFC 4616), over TLS:
#   - AUTH PLAIN with invalid base64 as initial response (bad alphabet, length not a
#     multiple of 4, padding in the middle) -> 501 5.5.2;
#   - AUTH PLAIN, 334, then invalid base64 -> 501 5.5.2; then "*" -> 501 5.0.0 (cancelled);
#   - AUTH LOGIN: invalid base64 as user name -> 501 5.5.2; "*" at the password -> 501 5.0.0;
#   - base64 that decodes but is no PLAIN message (no NULs; "=" empty response; authzid of
#     another user) -> 535 5.7.8;
#   - unknown mechanism -> 504 5.5.4; AUTH PLAIN with two arguments -> 501 5.5.4;
#   - none of these authenticates (MAIL -> 530 5.7.0) and the session goes on: the correct
#     AUTH PLAIN then gets 235 2.7.0 in the same session;
#   - three broken responses in a row -> 501 5.5.2 x3 + 421 4.7.0, closed;
#   - no password in the log; a normal submission works afterwards.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/abuse.sh"
abuse_setup

abuse_serve

"$PY" - <<'EOF' || fail "broken AUTH exchanges"
import base64
from smtpclient import *

def tls_session():
    c = Client.from_env().connect()
    c.expect(220)
    c.ehlo()
    c.starttls()
    c.ehlo()
    return c

with tls_session() as c:
    def step(lines, code, enhanced, what):
        r = None
        for i, line in enumerate(lines):
            last = i + 1 == len(lines)
            r = c.cmd(line, code if last else 334, enhanced if last else None)
        c.cmd("MAIL FROM:<dev@example.test>", 530, "5.7.0")   # not authenticated
        c.ehlo()                                               # resets the bad-command count
        print("ok: %s -> %s" % (what, r.first_line()))

    step(["AUTH PLAIN !!!!"], 501, "5.5.2", "AUTH PLAIN !!!! (not base64)")
    step(["AUTH PLAIN AGRldgBwYXNzd29yZA"], 501, "5.5.2", "AUTH PLAIN with base64 missing its padding")
    step(["AUTH PLAIN QQ==QQ=="], 501, "5.5.2", "AUTH PLAIN with padding in the middle")
    step(["AUTH PLAIN", "%%%%"], 501, "5.5.2", "AUTH PLAIN, then %%%% as response")
    step(["AUTH PLAIN", "*"], 501, "5.0.0", "AUTH PLAIN, then * (cancel)")
    step(["AUTH LOGIN", "not base64!"], 501, "5.5.2", "AUTH LOGIN, then invalid base64 as user name")
    step(["AUTH LOGIN", base64.b64encode(b"dev").decode(), "*"], 501, "5.0.0", "AUTH LOGIN, user, then * at the password")
    step(["AUTH PLAIN " + base64.b64encode(b"dev password").decode()], 535, "5.7.8",
         "AUTH PLAIN with base64 of a message without NULs")
    step(["AUTH PLAIN ="], 535, "5.7.8", "AUTH PLAIN = (empty initial response)")
    step(["AUTH PLAIN " + plain_response(c.user, c.password, authzid="admin")], 535, "5.7.8",
         "AUTH PLAIN with the right password but authzid=admin")
    step(["AUTH CRAM-MD5"], 504, "5.5.4", "AUTH CRAM-MD5")
    step(["AUTH PLAIN AAAA BBBB"], 501, "5.5.4", "AUTH PLAIN with two arguments")
    c.auth_plain()
    print("ok: after all of these, the correct AUTH PLAIN in the same session -> 235 2.7.0")
    c.quit()

with tls_session() as c:
    for i in range(2):
        c.cmd("AUTH PLAIN !!!!", 501, "5.5.2")
    c.cmd("AUTH PLAIN", 334)
    c.cmd("****", 501, "5.5.2")
    r = c.expect(421, "4.7.0", what="the third broken response in a row")
    _, rest = c.wait_closed(5)
    check(rest == b"", "bytes after the 421: %s" % show(rest))
    print("ok: three broken AUTH responses in a row -> 501 5.5.2 x3 + %s, closed" % r.first_line())
EOF

grep -qF "$DEV_PASSWORD" "$log" && fail "the password is in the log"
grep -q 'session aborted' "$log" && fail "a session was aborted by an exception: $(grep 'session aborted' "$log")"
pass "no password and no aborted session in the log"

[ "$(accepted_count)" = 0 ] || fail "something was queued: $(accepted_ids | tr '\n' ' ')"
abuse_finish
