#!/usr/bin/env bash
# t52: an authenticated user sends only as what the users file grants, checked on both
# MAIL FROM and the header From (DESIGN.md security contract). User `dev` has example.test.
#   - MAIL FROM:<x@other.test> -> 550 5.7.1; MAIL FROM:<> -> 550 5.7.1; the session goes on;
#   - MAIL FROM allowed, header "From: someone@other.test" -> 550 5.7.1 after the dot;
#   - header From spoofed through a display name / comment trick ("dev@example.test"
#     <x@other.test>) -> 550 5.7.1;
#   - two From fields, a From with two addresses, a group with two, no From at all, an
#     empty From -> 550 5.6.0;
#   - after each refusal the same session can still submit (250), nothing refused is
#     queued, nothing is left in spool/tmp;
#   - a header From that is not one valid mailbox, but which a lenient parser reads as
#     dev@example.test while others read another address (an unquoted "@" in the display
#     name, text after the angle-addr, folded or not) -> 550 5.6.0: Signpost must not
#     sign for example.test what a recipient's software shows as from x@other.test
#     (parser differential; "Composition Kills", USENIX Security 2020). Python's email
#     package, for one, reads "x@other.test <dev@example.test>" as x@other.test;
#   - a normal submission works afterwards.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/abuse.sh"
abuse_setup

abuse_serve

"$PY" - <<'EOF' || fail "sender authorization"
from smtpclient import *

with Client.from_env().login() as c:
    for sender in ("x@other.test", "dev@example.test.other.test", "dev@sub.other.test", ""):
        r = c.cmd("MAIL FROM:<%s>" % sender, 550, "5.7.1")
        print("ok: MAIL FROM:<%s> -> %s" % (sender, r.first_line()))
    c.cmd("NOOP", 250, "2.0.0")

    def refused_at_dot(header_block, code, enhanced, what):
        c.cmd("MAIL FROM:<dev@example.test>", 250, "2.1.0")
        c.cmd("RCPT TO:<rcpt@dest.test>", 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(header_block.encode() + b"Subject: t52\r\n\r\nbody\r\n.\r\n")
        r = c.expect(code, enhanced, what=what)
        print("ok: %s -> %s" % (what, r.first_line()))

    refused_at_dot("From: someone@other.test\r\n", 550, "5.7.1", "header From: someone@other.test")
    refused_at_dot("From: \"dev@example.test\" <x@other.test>\r\n", 550, "5.7.1",
                   "header From: \"dev@example.test\" <x@other.test>")
    refused_at_dot("From: x@other.test (dev@example.test)\r\n", 550, "5.7.1",
                   "header From: x@other.test (dev@example.test)")
    refused_at_dot("From: <dev@example.test>\r\nFrom: <x@other.test>\r\n", 550, "5.6.0", "two From fields")
    refused_at_dot("From: <dev@example.test>\r\nFROM: <dev@example.test>\r\n", 550, "5.6.0",
                   "two From fields, both allowed")
    refused_at_dot("From: <dev@example.test>, <x@other.test>\r\n", 550, "5.6.0", "a From with two addresses")
    refused_at_dot("From: Dev <dev@example.test>, Other <dev2@example.test>\r\n", 550, "5.6.0",
                   "a From with two allowed addresses")
    refused_at_dot("From: friends: dev@example.test, x@other.test;\r\n", 550, "5.6.0",
                   "a From group with two addresses")
    refused_at_dot("To: <rcpt@dest.test>\r\n", 550, "5.6.0", "no From field")
    refused_at_dot("From: \r\n", 550, "5.6.0", "an empty From field")

    # The session is intact: a good message in the same session is accepted.
    r = c.submit()
    check(r.code == 250 and r.enhanced == "2.0.0", "a good message after the refusals got %s" % r)
    print("ok: the same session then submits normally: %s" % r.first_line())
    c.quit()
EOF

grep -q 'session aborted' "$log" && fail "a session was aborted by an exception: $(grep 'session aborted' "$log")"
[ "$(accepted_count)" = 1 ] || fail "a refused message was queued: $(accepted_ids | tr '\n' ' ')"
[ -z "$(ls -A "$dev/spool/tmp")" ] || fail "files left in spool/tmp: $(ls "$dev/spool/tmp")"
pass "only the good message was queued; nothing left in spool/tmp"

"$PY" - <<'EOF' || fail "a From header that parsers read differently was accepted (signed for example.test)"
from smtpclient import *

failed = 0
with Client.from_env().login() as c:
    for value in (b"x@other.test <dev@example.test>", b"<dev@example.test>x@other.test",
                  b"<dev@example.test> x@other.test", b"<dev@example.test>\r\n\tx@other.test"):
        c.cmd("MAIL FROM:<dev@example.test>", 250, "2.1.0")
        c.cmd("RCPT TO:<rcpt@dest.test>", 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(b"From: " + value + b"\r\nSubject: t52\r\n\r\nbody\r\n.\r\n")
        r = c.reply()
        ok = (r.code, r.enhanced) == (550, "5.6.0")
        failed += not ok
        print("%s: header From: %s (not one valid mailbox) -> %s%s"
              % ("ok" if ok else "FAIL", show(value), r.first_line(), "" if ok else ", expected 550 5.6.0"))
    c.quit()
raise SystemExit(1 if failed else 0)
EOF

"$PY" "$HERE/smtpclient.py" submit --port "$SUBMISSION_PORT" --cafile "$SP_CAFILE" --password "$DEV_PASSWORD" \
  > "$WORK/final.out" || fail "a normal submission failed afterwards: $(cat "$WORK/final.out")"
[ "$(accepted_count)" = 2 ] || fail "the normal submission was not queued"
pass "a normal submission still works: $(cat "$WORK/final.out")"
kill -TERM "$pid"; wait_exit "$pid" 10
[ "$EXIT_CODE" = 0 ] || fail "serve exited $EXIT_CODE on SIGTERM"
