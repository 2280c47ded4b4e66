#!/usr/bin/env bash
# t59: the message size bound (RFC 1870; [limits] message_size = "10KB" = 10000 octets):
#   - EHLO advertises SIZE 10000;
#   - MAIL FROM SIZE=10001 -> 552 5.3.4 (and SIZE=10000 -> 250 2.1.0);
#   - a DATA body of 10001 octets, of 20 KB and of 2 MB (declared SIZE small or absent):
#     no reply before the end of data, then 552 5.3.4; the session goes on (NOOP 250);
#   - a body of exactly 10000 octets -> 250 2.0.0 (the bound is not off by one);
#   - BDAT 20000 LAST -> 552 5.3.4; BDAT 6000 + BDAT 6000 LAST -> 250 2.0.0, then 552 5.3.4;
#   - only the 10000-octet message is queued; spool/tmp is empty; a normal submission works.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/abuse.sh"
abuse_setup
printf '\n[limits]\nmessage_size = "10KB"\n' >> "$cfg"
abuse_serve

"$PY" - <<'EOF' || fail "message size"
from smtpclient import *

LIMIT = 10000

def sized(n):
    """A message of exactly n octets (CRLF line ends, ending in CRLF, lines <= 80)."""
    head = message(subject="t59 %d" % n, body="")
    left = n - len(head)
    assert left >= 2
    lines = []
    while left > 0:
        k = min(80, left)        # k octets incl. CRLF
        if left - k == 1:        # never leave a 1-octet remainder
            k -= 1
        lines.append(b"x" * (k - 2) + b"\r\n")
        left -= k
    m = head + b"".join(lines)
    assert len(m) == n and m.endswith(b"\r\n")
    return m

with Client.from_env(timeout=30).connect() as c:
    c.expect(220)
    c.ehlo()
    c.starttls()
    keywords = c.ehlo()
    check("SIZE %d" % LIMIT in keywords, "EHLO does not advertise SIZE %d: %s" % (LIMIT, keywords))
    c.auth_plain()
    print("ok: EHLO advertises SIZE %d" % LIMIT)

    r = c.cmd("MAIL FROM:<dev@example.test> SIZE=%d" % (LIMIT + 1), 552, "5.3.4")
    print("ok: MAIL FROM SIZE=%d -> %s" % (LIMIT + 1, r.first_line()))
    r = c.cmd("MAIL FROM:<dev@example.test> SIZE=%d" % 10**15, 552, "5.3.4")
    print("ok: MAIL FROM SIZE=%d -> %s" % (10**15, r.first_line()))
    c.cmd("MAIL FROM:<dev@example.test> SIZE=%d" % LIMIT, 250, "2.1.0")
    c.cmd("RSET", 250, "2.0.0")
    print("ok: MAIL FROM SIZE=%d -> 250 2.1.0" % LIMIT)

    for n, declared in ((LIMIT + 1, None), (20_000, 100), (2_000_000, None)):
        c.cmd("MAIL FROM:<dev@example.test>" + (" SIZE=%d" % declared if declared else ""), 250, "2.1.0")
        c.cmd("RCPT TO:<rcpt@dest.test>", 250, "2.1.5")
        c.cmd("DATA", 354)
        c.send(sized(n))
        c.expect_silence(0.5, "the server before the end of a %d-octet body" % n)
        c.send(b".\r\n")
        r = c.expect(552, "5.3.4", what="the end of a %d-octet body" % n)
        c.cmd("NOOP", 250, "2.0.0")
        print("ok: a %d-octet DATA body%s: silent until the dot, then %s; NOOP 250"
              % (n, " (declared SIZE=%d)" % declared if declared else "", r.first_line()))

    r = c.submit(data=sized(LIMIT))
    check((r.code, r.enhanced) == (250, "2.0.0"), "a message of exactly %d octets got %s" % (LIMIT, r))
    print("ok: a body of exactly %d octets -> %s" % (LIMIT, r.first_line()))

    c.cmd("MAIL FROM:<dev@example.test>", 250, "2.1.0")
    c.cmd("RCPT TO:<rcpt@dest.test>", 250, "2.1.5")
    c.send(b"BDAT 20000 LAST\r\n" + sized(20000))
    r = c.expect(552, "5.3.4", what="BDAT 20000 LAST")
    c.cmd("NOOP", 250, "2.0.0")
    print("ok: BDAT 20000 LAST -> %s" % r.first_line())

    c.cmd("MAIL FROM:<dev@example.test>", 250, "2.1.0")
    c.cmd("RCPT TO:<rcpt@dest.test>", 250, "2.1.5")
    body = sized(12000)
    c.send(b"BDAT 6000\r\n" + body[:6000])
    r1 = c.expect(250, "2.0.0", what="BDAT 6000")
    c.send(b"BDAT 6000 LAST\r\n" + body[6000:])
    r2 = c.expect(552, "5.3.4", what="BDAT 6000 LAST (12000 in all)")
    c.cmd("NOOP", 250, "2.0.0")
    print("ok: BDAT 6000 -> %s; BDAT 6000 LAST -> %s" % (r1.first_line(), r2.first_line()))
    c.quit()
EOF

grep -q 'session aborted' "$log" && fail "a session was aborted by an exception: $(grep 'session aborted' "$log")"
[ "$(queue_count)" = 1 ] || fail "the queue does not hold exactly the 10000-octet message: $("$SIGNPOST" queue list --config "$cfg")"
[ -z "$(ls -A "$dev/spool/tmp")" ] || fail "files left in spool/tmp: $(ls "$dev/spool/tmp")"
pass "only the message at the limit was queued; spool/tmp empty"

"$PY" "$HERE/smtpclient.py" submit --port "$SUBMISSION_PORT" --cafile "$SP_CAFILE" --password "$DEV_PASSWORD" \
  > "$WORK/final.out" || fail "a normal submission failed afterwards: $(cat "$WORK/final.out")"
[ "$(queue_count)" = 2 ] || fail "the normal submission was not queued"
pass "a normal submission still works: $(cat "$WORK/final.out")"
kill -TERM "$pid"; wait_exit "$pid" 10
[ "$EXIT_CODE" = 0 ] || fail "serve exited $EXIT_CODE on SIGTERM"
