#!/usr/bin/env bash
# t59: the message size bound (RFC 1870; [limits] message_size = "10KB" = 10000 octets):
#   - EHLO advertises SIZE 10000;
#   - MAIL FROM SIZE=10001 -> 552 5.3.4 (and SIZE=10000 -> 250 2.1.0);
#   - a DATA body of 10001 octets, of 20 KB and of 2 MB (declared SIZE small or absent):
#     no reply before the end of data, then 552 5.3.4; the session goes on (NOOP 250);
#   - a body of exactly 10000 octets -> 250 2.0.0 (the bound is not off by one);
#   - BDAT 20000 LAST -> 552 5.3.4; BDAT 6000 + BDAT 6000 LAST -> 250 2.0.0, then 552 5.3.4;
#   - only the 10000-octet message is accepted, and it is delivered (outbox/ID.eml) as
#     Signpost's added fields + exactly the 10000 octets sent; spool/tmp is empty; a normal
#     submission works.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/abuse.sh"
abuse_setup
printf '\n[limits]\nmessage_size = "10KB"\n' >> "$cfg"
abuse_serve

"$PY" - "$WORK" <<'EOF' || fail "message size"
import re, sys
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
    m = re.search(r"queued as ([0-9A-Z]+)", r.first_line())
    check(m is not None, "no queue id in %s" % r.first_line())
    open(sys.argv[1] + "/limit.id", "w").write(m.group(1) + "\n")
    open(sys.argv[1] + "/limit.sent", "wb").write(sized(LIMIT))
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
limit_id=$(cat "$WORK/limit.id")
[ "$(accepted_ids)" = "$limit_id" ] \
  || fail "the accepted messages are not exactly the 10000-octet message $limit_id: $(accepted_ids | tr '\n' ' ')"
[ -z "$(ls -A "$dev/spool/tmp")" ] || fail "files left in spool/tmp: $(ls "$dev/spool/tmp")"
wait_outbox "$limit_id"
"$PY" - "$outbox/$limit_id.eml" "$WORK/limit.sent" <<'EOF' || fail "the delivered $limit_id is not the 10000-octet message"
import re, sys
eml, sent = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
assert len(sent) == 10000, "sent %d octets" % len(sent)
assert eml.endswith(sent), "the delivered message does not end with the 10000 octets sent"
added = eml[: len(eml) - len(sent)]
# Only Signpost's added fields come before the message.
lines = added.split(b"\r\n")
assert added.endswith(b"\r\n") and all(re.match(rb"[!-9;-~]+:|[ \t]", l) for l in lines[:-1]) \
    and not lines[0][:1].isspace(), "the added text is not header fields: %r" % added[:300]
fields = re.findall(rb"^([!-9;-~]+):", added, re.M)
assert set(f.lower() for f in fields) <= {b"dkim-signature", b"received", b"date", b"message-id"}, \
    "Signpost prepended %s" % fields
print("ok: delivered: %d octets of added fields (%s) + exactly the %d octets sent"
      % (len(added), b", ".join(fields).decode(), len(sent)))
EOF
pass "only the message at the limit was accepted and delivered, byte for byte; spool/tmp empty"

"$PY" "$HERE/smtpclient.py" submit --port "$SUBMISSION_PORT" --cafile "$SP_CAFILE" --password "$DEV_PASSWORD" \
  > "$WORK/final.out" || fail "a normal submission failed afterwards: $(cat "$WORK/final.out")"
[ "$(accepted_count)" = 2 ] || fail "the normal submission was not queued"
pass "a normal submission still works: $(cat "$WORK/final.out")"
kill -TERM "$pid"; wait_exit "$pid" 10
[ "$EXIT_CODE" = 0 ] || fail "serve exited $EXIT_CODE on SIGTERM"
