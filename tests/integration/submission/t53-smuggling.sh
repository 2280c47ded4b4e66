#!/usr/bin/env bash
# t53: SMTP smuggling (CVE-2023-51764/51765/51766 class; DESIGN.md: "DATA ends only on
# CRLF.CRLF"). For each fake end of data — "\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\n" —
# followed by a smuggled transaction (MAIL FROM, RCPT TO, DATA, a second message):
#   - sent without the real end: the server stays silent (it did not see an end);
#   - then the real CRLF.CRLF: exactly one reply, 550 5.5.2, and nothing else (the
#     smuggled MAIL/RCPT/DATA were message text, never commands); NOOP -> 250 in step;
#   - the same with everything, real end included, in one write: again exactly one reply;
# and a clean message whose end CRLF.CRLF is split across writes at every position is
# accepted (250 2.0.0), so the silence above means something. Only the clean messages
# are accepted, each delivered (outbox/ID.eml) to its one recipient without smuggled text; a normal submission works afterwards.
# Runs with [limits] bare_lf = "refuse" (the strict mode); t5b covers the default, which
# normalizes bare LFs and delivers each of these as one message.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/abuse.sh"
abuse_setup
printf '\n[limits]\nbare_lf = "refuse"\n' >> "$cfg"

abuse_serve

"$PY" - <<'EOF' || fail "SMTP smuggling"
from smtpclient import *

HEADER = smuggling_header("t53")
FAKE_ENDS = [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n"]

with Client.from_env().login() as c:
    for fake in FAKE_ENDS:
        r1, r2 = try_smuggling(c, HEADER, fake, 550, "5.5.2")
        print("ok: fake end %s + smuggled MAIL/RCPT/DATA: silent until CRLF.CRLF, then only %s; in one write %s"
              % (show(fake), r1.first_line(), r2.first_line()))

    # Control: a clean message whose final CRLF.CRLF is split at every position.
    clean = HEADER + b"\r\n.\r\n"
    end = len(HEADER)
    for cut in range(end, end + 5):
        open_data(c)
        c.send(clean[:cut])
        c.expect_silence(0.3, "the server before the end of a clean message")
        c.send(clean[cut:])
        r = c.expect(250, "2.0.0", what="a clean message split at offset %d of its end" % (cut - end))
    print("ok: a clean message with its CRLF.CRLF split at each of 5 places -> 250 2.0.0 (5 messages)")
    c.quit()
EOF

grep -q 'session aborted' "$log" && fail "a session was aborted by an exception: $(grep 'session aborted' "$log")"
accepted_ids > "$WORK/accepted"
[ "$(wc -l < "$WORK/accepted")" = 5 ] || fail "$(wc -l < "$WORK/accepted") messages accepted, want the 5 clean ones: $(tr '\n' ' ' < "$WORK/accepted")"
while read -r id; do
  wait_outbox "$id"
  grep -qE '^MAIL FROM:<dev@example\.test>( .*)?$' "$outbox/$id.envelope" \
    && [ "$(grep -v '^MAIL FROM:' "$outbox/$id.envelope")" = "RCPT TO:<rcpt@dest.test>" ] \
    || fail "accepted message $id has another envelope: $(cat "$outbox/$id.envelope")"
  # ID.eml is Signpost's added fields (DKIM-Signature, Received, ...), then the message.
  grep -q smuggled "$outbox/$id.eml" && fail "an accepted message holds the smuggled text: $outbox/$id.eml"
done < "$WORK/accepted"
[ -z "$(ls -A "$dev/spool/tmp")" ] || fail "files left in spool/tmp: $(ls "$dev/spool/tmp")"
pass "only the 5 clean messages were accepted and delivered; no smuggled recipient or text; spool/tmp empty"

"$PY" "$HERE/smtpclient.py" submit --port "$SUBMISSION_PORT" --cafile "$SP_CAFILE" --password "$DEV_PASSWORD" \
  > "$WORK/final.out" || fail "a normal submission failed afterwards: $(cat "$WORK/final.out")"
[ "$(accepted_count)" = 6 ] || fail "the normal submission was not queued"
pass "a normal submission still works: $(cat "$WORK/final.out")"
kill -TERM "$pid"; wait_exit "$pid" 10
[ "$EXIT_CODE" = 0 ] || fail "serve exited $EXIT_CODE on SIGTERM"
