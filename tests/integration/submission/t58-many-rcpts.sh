#!/usr/bin/env bash
# t58: the recipient bound (RFC 5321 §4.5.3.1.8 and §4.5.3.1.10; default max_recipients 100):
#   - MAIL FROM and 1000 RCPT TO pipelined in one write (RFC 2920): 250 2.1.0, then
#     250 2.1.5 for the first 100 and 452 4.5.3 for the other 900, in order, and nothing
#     more; the 452s do not end the session (they are not "bad commands");
#   - DATA then works for the accepted ones: the envelope (as delivered to the outbox)
#     has exactly recipients r0..r99, in order;
#   - a second transaction in the same session starts from zero again (100 more accepted);
#   - a normal submission works afterwards.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/abuse.sh"
abuse_setup

abuse_serve

"$PY" - <<'EOF' || fail "many recipients"
from smtpclient import *

N, MAX = 1000, 100
with Client.from_env(timeout=30).login() as c:
    for round_ in range(2):
        batch = b"MAIL FROM:<dev@example.test>\r\n" + b"".join(
            b"RCPT TO:<r%d@dest%d.test>\r\n" % (i, round_) for i in range(N))
        c.send(batch)
        c.expect(250, "2.1.0", what="MAIL FROM in the batch")
        got = [c.reply() for _ in range(N)]
        bad = [(i, r) for i, r in enumerate(got)
               if (r.code, r.enhanced) != ((250, "2.1.5") if i < MAX else (452, "4.5.3"))]
        check(not bad, "RCPT replies out of line, first: #%d %s" % bad[0] if bad else "")
        c.expect_silence(0.5, "the server after the %d RCPT replies" % N)
        print("ok: MAIL + %d RCPT pipelined in one write -> 250 2.1.0, %d x %s, %d x %s"
              % (N, MAX, got[0].first_line(), N - MAX, got[-1].first_line()))
        c.cmd("DATA", 354)
        c.send(message(to="r0@dest%d.test" % round_) + b".\r\n")
        r = c.expect(250, "2.0.0", what="the end of DATA for the accepted recipients")
        print("ok: DATA for the accepted recipients -> %s" % r.first_line())
    c.quit()
EOF

# The accepted messages (ids sort by arrival), each as delivered to the outbox: the RCPT TO
# lines of its envelope are the recipients, in order.
accepted_ids > "$WORK/accepted"
while read -r id; do wait_outbox "$id"; done < "$WORK/accepted"
"$PY" - "$outbox" "$WORK/accepted" <<'EOF' || fail "accepted envelopes are wrong"
import os, sys
outbox, ids = sys.argv[1], open(sys.argv[2]).read().split()
assert len(ids) == 2, "%d messages accepted, expected 2: %s" % (len(ids), ids)
for round_, qid in enumerate(sorted(ids)):
    lines = open(os.path.join(outbox, qid + ".envelope")).read().splitlines()
    assert lines and lines[0].startswith("MAIL FROM:<dev@example.test>"), "message %s: envelope starts %r" % (qid, lines[:1])
    rcpt = [l[len("RCPT TO:<"):-1] for l in lines[1:] if l.startswith("RCPT TO:<") and l.endswith(">")]
    assert len(rcpt) == len(lines) - 1, "message %s: envelope has other lines: %r" % (qid, lines[1:4])
    want = ["r%d@dest%d.test" % (i, round_) for i in range(100)]
    assert rcpt == want, "message %s has %d recipients: %s ..." % (qid, len(rcpt), rcpt[:3])
print("ok: each accepted envelope (as delivered) has exactly the first 100 recipients, in order")
EOF

grep -q 'session aborted' "$log" && fail "a session was aborted by an exception: $(grep 'session aborted' "$log")"
"$PY" "$HERE/smtpclient.py" submit --port "$SUBMISSION_PORT" --cafile "$SP_CAFILE" --password "$DEV_PASSWORD" \
  > "$WORK/final.out" || fail "a normal submission failed afterwards: $(cat "$WORK/final.out")"
[ "$(accepted_count)" = 3 ] || fail "the normal submission was not queued"
pass "a normal submission still works: $(cat "$WORK/final.out")"
kill -TERM "$pid"; wait_exit "$pid" 10
[ "$EXIT_CODE" = 0 ] || fail "serve exited $EXIT_CODE on SIGTERM"
