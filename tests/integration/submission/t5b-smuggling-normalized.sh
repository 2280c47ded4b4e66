#!/usr/bin/env bash
# t5b: SMTP smuggling under the default [limits] bare_lf = "normalize" (Postfix 3.9's
# smtpd_forbid_bare_newline = normalize). For each fake end with a bare LF — "\n.\n",
# "\n.\r\n", "\r\n.\n" — followed by a smuggled transaction (MAIL FROM, RCPT TO, DATA, a
# second message):
#   - sent without the real end: the server stays silent; then CRLF.CRLF: exactly one
#     reply, 250 (the whole is one message), NOOP -> 250 in step;
#   - everything in one write: again exactly one 250;
#   - "\r.\r\n" (a bare CR) is still refused, 550 5.5.2.
# Delivery goes through a real SMTP smarthost (aiosmtpd), which ends DATA at the first
# CRLF.CRLF it sees: every accepted message arrives there whole, to rcpt@dest.test only,
# with the fake end's "." line and the smuggled commands as text. Had Signpost written the
# "." line unstuffed, the smarthost would have ended the message there and run the
# smuggled MAIL/RCPT as commands: a message to smuggled@dest.test would appear.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/abuse.sh"
abuse_setup
make_test_ca "$WORK"
SINK_PORT=$(free_port)
start_sink "$SINK_PORT" "$WORK" --store "$WORK/store"
use_smarthost "$cfg" "$SINK_PORT" "$WORK/ca.pem"
abuse_serve

"$PY" - <<'EOF' || fail "SMTP smuggling, normalized"
from smtpclient import *

HEADER = smuggling_header("t5b")
FAKE_ENDS = [b"\n.\n", b"\n.\r\n", b"\r\n.\n"]

with Client.from_env().login() as c:
    for fake in FAKE_ENDS:
        r1, r2 = try_smuggling(c, HEADER, fake, 250, "2.0.0")
        print("ok: fake end %s + smuggled MAIL/RCPT/DATA: silent until CRLF.CRLF, then one %s; in one write one %s"
              % (show(fake), r1.first_line(), r2.first_line()))
    open_data(c)
    c.send(HEADER + b"\r.\r\n" + SMUGGLED + b".\r\n")
    c.expect(550, "5.5.2", what="a bare CR fake end")
    c.cmd("NOOP", 250, "2.0.0")
    print("ok: fake end \\r.\\r\\n is still refused with 550 5.5.2")
    c.quit()
EOF

[ "$(accepted_count)" = 6 ] || fail "$(accepted_count) messages accepted, want 6"
for ((i = 0; i < 100; i++)); do
  [ "$(find "$WORK/store" -name '*.eml' | wc -l)" -ge 6 ] && break
  sleep 0.1
done
sleep 0.5   # anything smuggled would arrive in the same sessions
[ "$(find "$WORK/store" -name '*.eml' | wc -l)" = 6 ] || { cat "$WORK/sink.log"; fail "the smarthost has $(find "$WORK/store" -name '*.eml' | wc -l) messages, want 6"; }
if grep -v ' rcpt@dest.test ' "$WORK/sink.log" | grep -q '^MSG'; then cat "$WORK/sink.log"; fail "a message went to another recipient"; fi
for f in "$WORK"/store/*.eml; do
  tr -d '\r' < "$f" | grep -qx '\.' || { cat -A "$f" | tail -n 20; fail "$f: the fake end's \".\" line did not arrive as text"; }
  grep -q '^RCPT TO:<smuggled@dest.test>' "$f" || fail "$f: the smuggled commands are not text of the message"
  [ "$(grep -c -v $'\r$' "$f")" = 0 ] || fail "$f: a bare LF reached the smarthost"
done
pass "6 messages, each one whole message to rcpt@dest.test with the '.' line and the smuggled commands as text; CRLF only"
kill -TERM "$pid"
wait_exit "$pid" 10
[ "$EXIT_CODE" = 0 ] || fail "serve exited $EXIT_CODE on SIGTERM"
