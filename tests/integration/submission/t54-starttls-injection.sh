#!/usr/bin/env bash
# t54: STARTTLS command injection (CVE-2011-0411 class; RFC 3207 §4.2; DESIGN.md: "Bytes
# pipelined behind STARTTLS are discarded").
#   - "STARTTLS\r\nEHLO evil\r\n" in one write: exactly one reply in clear (220 2.0.0);
#     over TLS the first reply is to the client's own NOOP (250 2.0.0), not to the
#     injected EHLO, and MAIL FROM gets 503 5.5.1 (no EHLO has been seen over TLS);
#   - injected "STARTTLS\r\nEHLO evil\r\nAUTH PLAIN <correct credentials>\r\nMAIL ..."
#     (would authenticate and open a transaction if executed): over TLS, after a real EHLO,
#     MAIL FROM gets 530 5.7.0 — the injected AUTH did not happen;
#   - injected "STARTTLS\r\nQUIT\r\n": the session survives the handshake (NOOP 250);
#   - the session state from before STARTTLS is forgotten: EHLO before STARTTLS, then MAIL
#     over TLS without a new EHLO -> 503 5.5.1;
#   - a normal submission works afterwards; nothing else is queued.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/abuse.sh"
abuse_setup

abuse_serve

"$PY" - <<'EOF' || fail "STARTTLS injection"
from smtpclient import *

def inject(c, extra):
    """STARTTLS and `extra` in one write; exactly the 220 in clear; then the handshake."""
    c.send(b"STARTTLS\r\n" + extra)
    r = c.expect(220, "2.0.0", what="STARTTLS with injected bytes behind it")
    # upgrade() fails if anything but the 220 arrived in clear.
    c.poll(0.3)
    c.upgrade()
    return r

with Client.from_env().connect() as c:
    c.expect(220)
    c.ehlo()
    inject(c, b"EHLO evil\r\n")
    r = c.cmd("NOOP")
    check((r.code, r.enhanced) == (250, "2.0.0") and len(r.lines) == 1,
          "the first reply over TLS is %s, not the 250 2.0.0 to NOOP (the injected EHLO was run?)" % r)
    c.expect_silence(0.5, "the server after NOOP over TLS")
    c.cmd("MAIL FROM:<dev@example.test>", 503, "5.5.1")
    print("ok: \"STARTTLS\\r\\nEHLO evil\\r\\n\" in one write: 220 2.0.0 in clear; over TLS NOOP -> 250 2.0.0 first, "
          "MAIL -> 503 5.5.1 (injected EHLO discarded)")
    keywords = c.ehlo("client.test")
    c.auth_plain()
    print("ok: the session then goes on normally (EHLO, AUTH 235)")
    c.quit()

with Client.from_env().connect() as c:
    c.expect(220)
    c.ehlo()
    inject(c, b"EHLO evil\r\nAUTH PLAIN " + plain_response(c.user, c.password).encode() +
           b"\r\nMAIL FROM:<dev@example.test>\r\nRCPT TO:<injected@dest.test>\r\n")
    c.ehlo("client.test")
    c.cmd("MAIL FROM:<dev@example.test>", 530, "5.7.0")
    print("ok: injected EHLO + AUTH PLAIN <correct credentials> + MAIL + RCPT behind STARTTLS: "
          "over TLS, after EHLO, MAIL -> 530 5.7.0 (not authenticated)")
    c.quit()

with Client.from_env().connect() as c:
    c.expect(220)
    inject(c, b"QUIT\r\n")
    c.cmd("NOOP", 250, "2.0.0")
    print("ok: injected QUIT behind STARTTLS: the session survives the handshake (NOOP 250)")
    c.quit()

with Client.from_env().connect() as c:
    c.expect(220)
    c.ehlo()
    c.starttls()
    c.cmd("MAIL FROM:<dev@example.test>", 503, "5.5.1")
    c.cmd("AUTH PLAIN " + plain_response(c.user, c.password), 503, "5.5.1")
    print("ok: the EHLO from before STARTTLS is forgotten: MAIL and AUTH over TLS -> 503 5.5.1 until a new EHLO")
    c.quit()
EOF

grep -q 'session aborted' "$log" && fail "a session was aborted by an exception: $(grep 'session aborted' "$log")"
[ "$(accepted_count)" = 0 ] || fail "something was queued: $(accepted_ids | tr '\n' ' ')"
abuse_finish
