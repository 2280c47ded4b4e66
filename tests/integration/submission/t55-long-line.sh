#!/usr/bin/env bash
# t55: command lines that break the rules (RFC 5321 §4.5.3.1.4, §2.3.8; STYLE.md "a bound
# on every input"), over TLS after AUTH:
#   - a 100 KB command line, and a 5 MB one -> 500 5.5.6, once; the session goes on and
#     the next command is read whole (NOOP -> 250 2.0.0 in the same write);
#   - the bound is 512 octets with CRLF: NOOP padded to 510 octets -> 250, to 511 -> 500 5.5.6;
#   - a 20 KB SASL response (bound 12288) -> 500 5.5.6 and the exchange ends;
#   - NUL in a command -> 500 5.5.2; a bare-LF-terminated command -> 500 5.5.2; a bare CR
#     inside a command -> 500 5.5.2;
#   - three of these in a row -> the third reply, then 421 4.7.0 and the close;
#   - a normal submission works afterwards; nothing else is queued.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/abuse.sh"
abuse_setup

abuse_serve

"$PY" - <<'EOF' || fail "bad command lines"
from smtpclient import *

with Client.from_env().connect() as c:
    c.expect(220)
    c.ehlo()
    c.starttls()
    c.ehlo()
    c.cmd("AUTH PLAIN", 334)
    r = c.cmd(b"A" * 20_000, 500, "5.5.6")
    c.cmd("NOOP", 250, "2.0.0")
    c.auth_plain()
    print("ok: a 20000-octet SASL response -> %s; the exchange ended (NOOP 250, then AUTH 235)" % r.first_line())
    c.quit()

with Client.from_env().login() as c:
    for size in (100_000, 5_000_000):
        c.send(b"NOOP " + b"A" * size + b"\r\nNOOP\r\n", timeout=30)
        r = c.expect(500, "5.5.6", what="a %d-octet command line" % size)
        c.expect(250, "2.0.0", what="the NOOP right behind the long line")
        c.expect_silence(0.3, "the server after the long line")
        c.ehlo()
        print("ok: a %d-octet command line -> %s; the NOOP behind it -> 250 2.0.0" % (size + 7, r.first_line()))

    c.cmd(b"NOOP " + b"x" * 505, 250, "2.0.0")   # 510 octets + CRLF = 512
    r = c.cmd(b"NOOP " + b"x" * 506, 500, "5.5.6")
    c.cmd("NOOP", 250, "2.0.0")
    c.ehlo()
    print("ok: a 512-octet line (CRLF included) -> 250; 513 -> %s" % r.first_line())

    for line, what in ((b"NOOP\0x\r\n", "NUL in a command"),
                       (b"MAIL FROM:<dev@example.test>\0\r\n", "NUL at the end of MAIL FROM"),
                       (b"NOOP\n", "a bare-LF-terminated command"),
                       (b"NOOP\rRSET\r\n", "a bare CR inside a command")):
        c.send(line)
        r = c.expect(500, "5.5.2", what=what)
        c.expect_silence(0.3, "the server after " + what)
        c.ehlo()
        print("ok: %s %s -> %s" % (what, show(line), r.first_line()))

    # "3 errors then 421": the counter is not reset by NOOP.
    c.send(b"NOOP " + b"A" * 100_000 + b"\r\n")
    c.expect(500, "5.5.6")
    c.cmd("NOOP", 250, "2.0.0")
    c.send(b"NOOP\0\r\n")
    c.expect(500, "5.5.2")
    c.send(b"NOOP\n")
    c.expect(500, "5.5.2")
    r = c.expect(421, "4.7.0", what="the third bad line in a row")
    _, rest = c.wait_closed(5)
    check(rest == b"", "bytes after the 421: %s" % show(rest))
    print("ok: long line, NOOP, NUL, bare LF -> 500 5.5.6, 250, 500 5.5.2, 500 5.5.2 + %s, closed" % r.first_line())
EOF

grep -q 'session aborted' "$log" && fail "a session was aborted by an exception: $(grep 'session aborted' "$log")"
[ "$(accepted_count)" = 0 ] || fail "something was queued: $(accepted_ids | tr '\n' ' ')"
abuse_finish
