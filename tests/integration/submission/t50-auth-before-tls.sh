#!/usr/bin/env bash
# t50: no AUTH before TLS (RFC 4954 §4, RFC 3207 §5; DESIGN.md security contract).
#   - EHLO in clear on the STARTTLS listener offers STARTTLS and no AUTH;
#   - AUTH PLAIN (with a correct password), AUTH LOGIN and AUTH PLAIN without EHLO, all in
#     clear: 538 5.7.11, and the session carries on (NOOP 250; STARTTLS still works);
#   - after STARTTLS the EHLO offers AUTH PLAIN LOGIN and no STARTTLS; the implicit TLS
#     listener offers AUTH and no STARTTLS;
#   - the password sent in clear is not in the log; a normal submission works afterwards.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/abuse.sh"
abuse_setup

abuse_serve

"$PY" - <<'EOF' || fail "AUTH before TLS"
from smtpclient import *

with Client.from_env().connect() as c:
    c.expect(220, what="greeting")
    # AUTH before EHLO, in clear: the TLS check comes first.
    c.cmd("AUTH PLAIN " + plain_response(c.user, c.password), 538, "5.7.11")
    print("ok: AUTH PLAIN before EHLO, in clear -> 538 5.7.11")
    keywords = c.ehlo()
    check("STARTTLS" in keywords, "EHLO in clear does not offer STARTTLS: %s" % keywords)
    check(not any(k.startswith("AUTH") for k in keywords), "EHLO in clear offers AUTH: %s" % keywords)
    print("ok: EHLO in clear offers STARTTLS and no AUTH: %s" % keywords)
    r = c.cmd("AUTH PLAIN " + plain_response(c.user, c.password), 538, "5.7.11")
    print("ok: AUTH PLAIN <correct credentials> in clear -> %s" % r.first_line())
    c.cmd("NOOP", 250, "2.0.0")
    r = c.cmd("AUTH LOGIN", 538, "5.7.11")
    print("ok: AUTH LOGIN in clear -> %s" % r.first_line())
    # The 538s were not an authentication: MAIL still needs AUTH.
    c.ehlo()
    c.cmd("MAIL FROM:<dev@example.test>", 530, "5.7.0")
    print("ok: after the refused AUTH, MAIL FROM in clear -> 530 5.7.0")
    c.ehlo()
    c.starttls()
    keywords = c.ehlo()
    check("AUTH PLAIN LOGIN" in keywords, "EHLO over TLS does not offer AUTH PLAIN LOGIN: %s" % keywords)
    check("STARTTLS" not in keywords, "EHLO over TLS offers STARTTLS again: %s" % keywords)
    c.auth_plain()
    print("ok: after STARTTLS, EHLO offers %s and AUTH PLAIN -> 235 2.7.0" % [k for k in keywords if k.startswith("AUTH")])
    c.quit()

with Client.from_env("implicit").connect() as c:
    c.expect(220, what="greeting over implicit TLS")
    keywords = c.ehlo()
    check("AUTH PLAIN LOGIN" in keywords and "STARTTLS" not in keywords,
          "EHLO on the implicit TLS listener: %s" % keywords)
    c.cmd("STARTTLS", 454, "4.7.0")
    print("ok: implicit TLS listener offers AUTH, not STARTTLS; STARTTLS there -> 454 4.7.0")
    c.quit()
EOF

grep -qF "$DEV_PASSWORD" "$log" && fail "the password sent with AUTH is in the log"
grep -q 'session aborted' "$log" && fail "a session was aborted by an exception: $(grep 'session aborted' "$log")"
pass "no password and no aborted session in the log"

[ "$(queue_count)" = 0 ] || fail "something was queued"
abuse_finish
