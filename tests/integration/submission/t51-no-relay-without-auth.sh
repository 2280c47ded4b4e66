#!/usr/bin/env bash
# t51: Signpost is never an open relay (DESIGN.md security contract).
#   - after STARTTLS + EHLO, without AUTH: MAIL FROM -> 530 5.7.0, RCPT TO -> 530 5.7.0,
#     DATA -> 530 5.7.0; the third refusal in a row also gets 421 4.7.0 and the close
#     ("3 errors then 421");
#   - the same in clear and on the implicit TLS listener, and after HELO;
#   - a whole unauthenticated transaction pipelined in one write (MAIL, RCPT, DATA, body,
#     dot, MAIL ...): each command refused, the body never read as commands;
#   - BDAT without AUTH: the chunk (itself holding SMTP commands) is read and thrown away,
#     then 530 5.7.0; the session stays in step (NOOP 250);
#   - nothing is queued; a normal submission works afterwards.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/abuse.sh"
abuse_setup

abuse_serve

"$PY" - <<'EOF' || fail "relay without AUTH"
from smtpclient import *

def refuse_three(c, where):
    c.cmd("MAIL FROM:<dev@example.test>", 530, "5.7.0")
    c.cmd("RCPT TO:<victim@dest.test>", 530, "5.7.0")
    c.cmd("DATA", 530, "5.7.0")
    r = c.expect(421, "4.7.0", what="the third refusal in a row")
    _, rest = c.wait_closed(5)
    check(rest == b"", "bytes after the 421: %s" % show(rest))
    print("ok: %s: MAIL -> 530 5.7.0, RCPT -> 530 5.7.0, DATA -> 530 5.7.0 + %s, closed" % (where, r.first_line()))

with Client.from_env().connect() as c:
    c.expect(220)
    c.ehlo()
    c.starttls()
    c.ehlo()
    refuse_three(c, "after STARTTLS, no AUTH")

with Client.from_env().connect() as c:
    c.expect(220)
    c.ehlo()
    refuse_three(c, "in clear")

with Client.from_env("implicit").connect() as c:
    c.expect(220)
    c.ehlo()
    refuse_three(c, "implicit TLS, no AUTH")

with Client.from_env().connect() as c:
    c.expect(220)
    c.starttls()
    c.cmd("HELO client.test", 250)
    c.cmd("MAIL FROM:<dev@example.test>", 530, "5.7.0")
    c.cmd("NOOP", 250, "2.0.0")
    print("ok: after HELO over TLS, MAIL FROM -> 530 5.7.0; the session goes on")

# A whole transaction pipelined in one write: every command refused, the body never
# executed (its "MAIL FROM" line would be a fourth reply).
with Client.from_env().connect() as c:
    c.expect(220)
    c.starttls()
    c.ehlo()
    c.send(b"MAIL FROM:<dev@example.test>\r\nRCPT TO:<victim@dest.test>\r\nDATA\r\n"
           b"From: <dev@example.test>\r\n\r\nspam\r\n.\r\nMAIL FROM:<dev@example.test>\r\nQUIT\r\n")
    codes = [(r.code, r.enhanced) for r in (c.reply(), c.reply(), c.reply(), c.reply())]
    check(codes == [(530, "5.7.0")] * 3 + [(421, "4.7.0")], "pipelined transaction without AUTH got %s" % codes)
    _, rest = c.wait_closed(5)
    check(rest == b"", "replies after the 421 (the body was read as commands?): %s" % show(rest))
    print("ok: pipelined MAIL/RCPT/DATA/body without AUTH -> 530 5.7.0 x3, 421 4.7.0, closed; body not executed")

# BDAT without AUTH: its chunk is skipped, never parsed as commands.
with Client.from_env().connect() as c:
    c.expect(220)
    c.starttls()
    c.ehlo()
    chunk = b"MAIL FROM:<dev@example.test>\r\nRCPT TO:<victim@dest.test>\r\n"
    c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
    r = c.expect(530, "5.7.0", what="BDAT without AUTH")
    c.expect_silence(0.5, "the server after the refused BDAT")
    c.cmd("NOOP", 250, "2.0.0")
    print("ok: BDAT %d LAST without AUTH -> %s after the chunk; the chunk's commands were not run" % (len(chunk), r.first_line()))
    c.quit()
EOF

grep -q 'session aborted' "$log" && fail "a session was aborted by an exception: $(grep 'session aborted' "$log")"
[ "$(accepted_count)" = 0 ] || fail "something was queued without AUTH: $(accepted_ids | tr '\n' ' ')"
[ -z "$(ls -A "$dev/spool/tmp")" ] || fail "files left in spool/tmp: $(ls "$dev/spool/tmp")"
pass "nothing queued, nothing left in spool/tmp"

abuse_finish
