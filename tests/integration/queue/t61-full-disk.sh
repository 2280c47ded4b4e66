#!/usr/bin/env bash
# t61: the spool on a filesystem that really runs out of space.
#   The spool ([queue] dir) lives on a private 4 MiB tmpfs; the capture directory stays on
#   the normal disk. Delivery is kept from draining the spool by replacing the capture
#   directory with a regular file (every attempt is a temporary failure, retried later).
#   1. ENOSPC ([queue] min_free_space = "0"): with a filler file leaving 1 MiB, messages of
#      200-500 KB are submitted (STARTTLS + AUTH PLAIN, smtplib) until the disk is full:
#      each is answered 250 ("queued as ID") or exactly 452 4.3.1; both happen; the daemon
#      stays up; nothing is left in <spool>/tmp/; queue/ holds exactly the accepted ids;
#      the refusing session and a second session opened before the disk filled keep
#      working, and the second one gets 250 once a little space is freed.
#   2. min_free_space: restarted with min_free_space above the free space (while there is
#      room for the message), a submission gets 452 4.3.1 at MAIL (before the body) and
#      nothing is written into tmp/ or queue/ (directory listings and mtimes unchanged).
#   3. Recovery: the filler goes, the capture directory comes back, `queue flush`: every
#      message answered 250 is in the capture directory as <id>.eml, ending with exactly
#      the bytes sent (Subject included); `queue list` is empty; a new submission is
#      accepted (without a restart) and delivered.
# Needs root (mount -t tmpfs); falls back to a private mount namespace (unshare -m).

# A tmpfs needs mount rights: without them, re-run in a private mount namespace (before
# lib.sh makes its work dir, which an exec would leak).
if [ -z "${T61_IN_NAMESPACE:-}" ]; then
  probe=$(mktemp -d "${TMPDIR:-/tmp}/signpost-t61-probe.XXXXXX")
  if mount -t tmpfs -o size=64k tmpfs "$probe" 2> /dev/null; then
    umount "$probe"
    rmdir "$probe"
  else
    rmdir "$probe"
    for ns in "unshare -m --propagation private" "unshare -r -m --propagation private"; do
      if $ns true 2> /dev/null; then
        echo "mount -t tmpfs is not permitted here; re-running in a private mount namespace ($ns)"
        T61_IN_NAMESPACE=1 exec $ns bash "$0" "$@"
      fi
    done
    echo "FAIL: cannot mount a tmpfs (mount -t tmpfs) nor make a mount namespace (unshare -m / -r -m):" \
         "this test needs root or CAP_SYS_ADMIN" >&2
    exit 1
  fi
fi

source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3

MNT=$WORK/mnt
SPOOL=$MNT/spool
mkdir -p "$MNT"
mount -t tmpfs -o size=4m,mode=0755 tmpfs "$MNT" || fail "mount -t tmpfs -o size=4m tmpfs $MNT failed"
MOUNTED=1
# On exit: signpost first (it holds files on the tmpfs), then the tmpfs, then lib.sh's
# cleanup (which removes $WORK).
_t61_cleanup() {
  local pid
  for pid in "${_pids[@]:-}"; do
    if [ -n "$pid" ] && kill -9 "$pid" 2> /dev/null; then wait "$pid" 2> /dev/null || true; fi
  done
  if [ "${MOUNTED:-0}" = 1 ]; then
    umount "$MNT" 2> /dev/null || umount -l "$MNT" 2> /dev/null || echo "warning: cannot unmount $MNT" >&2
  fi
  _cleanup
}
trap _t61_cleanup EXIT

avail() { $PY -c 'import os, sys; s = os.statvfs(sys.argv[1]); print(s.f_bavail * s.f_frsize)' "$MNT"; }
kib() { echo "$(($1 / 1024)) KiB"; }

dev=$WORK/dev
init_dev "$dev"
cfg=$dev/signpost.toml
CERT=$dev/tls/cert.pem
OUTBOX=$dev/outbox
grep -q '^dir = "spool"$' "$cfg" || fail "the dev config has no [queue] dir = \"spool\" line to replace"
sed -i "s|^dir = \"spool\"\$|dir = \"$SPOOL\"\nmin_free_space = \"0\"|" "$cfg"
grep -q '^capture_dir = "outbox"$' "$cfg" || fail "the dev config does not capture into outbox/"
[ "$(stat -c %d "$dev")" != "$(stat -c %d "$MNT")" ] || fail "the capture directory is on the test tmpfs"
# Delivery fails (temporarily) while the capture directory is a regular file.
rm -rf "$OUTBOX"
echo "not a directory: deliveries fail until the test restores it" > "$OUTBOX"

start_signpost() {  # start_signpost LOG: serve in the background; sets SPID
  "$SIGNPOST" serve --config "$cfg" > "$1" 2>&1 &
  SPID=$!
  track_pid "$SPID"
  wait_for_log "$1" 'ready'
}
stop_signpost() {
  kill -TERM "$SPID"
  wait_exit "$SPID" 20
  [ "$EXIT_CODE" = 0 ] || { cat "$LOG"; fail "serve exited $EXIT_CODE on SIGTERM"; }
}

# The client: `fill` (part 1) and `one` (a single message) — see the usage at its end.
cat > "$WORK/client.py" << 'PY'
import os, re, smtplib, ssl, sys, time

HOST = "127.0.0.1"
QUEUED = re.compile(r"2\.0\.0 Ok: queued as ([0-9A-Z]{20})")

def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)

def session(port, cert, password, name):
    s = smtplib.SMTP(HOST, port, local_hostname=name, timeout=20)
    s.ehlo()
    s.starttls(context=ssl.create_default_context(cafile=cert))
    s.ehlo()
    s.user, s.password = "dev", password
    code, text = s.auth("PLAIN", s.auth_plain)
    if code != 235:
        fail("%s: AUTH PLAIN answered %d %r" % (name, code, text))
    return s

def message(token, n, size):
    subject = "t61 full disk %s message %d (%d KB)" % (token, n, size // 1000)
    head = ("From: Dev <dev@example.test>\r\nTo: <rcpt@dest.test>\r\nSubject: %s\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" % subject).encode()
    lines, i, total = [], 0, len(head)
    while total < size:
        line = ("%s message %d line %06d " % (token, n, i)).encode()
        line += b"abcdefghijklmnopqrstuvwxyz0123456789"[: max(0, 76 - len(line))] + b"\r\n"
        lines.append(line)
        total += len(line)
        i += 1
    return subject, head + b"".join(lines)

def submit(s, label, data):
    """MAIL, RCPT, DATA: (code, text, where) of the reply that ended the transaction."""
    code, text = s.mail("dev@example.test")
    if code != 250:
        return code, text.decode(), "MAIL"
    code, text = s.rcpt("rcpt@dest.test")
    if code != 250:
        return code, text.decode(), "RCPT"
    try:
        code, text = s.data(data)
    except smtplib.SMTPDataError as e:  # DATA itself refused (no 354)
        return e.smtp_code, e.smtp_error.decode(), "DATA"
    return code, text.decode(), "end of data"

def classify(label, code, text, where):
    """250 + queue id, or exactly 452 4.3.1; anything else fails."""
    if code == 250:
        m = QUEUED.fullmatch(text)
        if not m:
            fail("%s: 250 without 'queued as ID': %r" % (label, text))
        return m.group(1)
    if code == 452 and text.startswith("4.3.1 "):
        return None
    fail("%s: answered %d %r at %s; want 250 or 452 4.3.1" % (label, code, text, where))

def keep(out, qid, subject, data, label):
    with open(os.path.join(out, qid + ".sent"), "wb") as f:
        f.write(data)
    with open(os.path.join(out, "accepted"), "a") as f:
        f.write("%s\t%s\t%s\n" % (qid, subject, label))

def entries(d):
    return sorted(os.listdir(d))

def fill(port, cert, password, spool, spare, out, spid):
    token = "T61-%d" % os.getpid()
    # The second session: logged in before the disk fills, idle meanwhile.
    other = session(port, cert, password, "other.t61.test")
    if other.noop()[0] != 250:
        fail("the second session: NOOP before the fill")
    s = session(port, cert, password, "fill.t61.test")
    sizes = [300, 450, 220, 380, 500, 260, 410, 340]
    accepted, refused = [], []
    deadline = time.monotonic() + 50
    for n in range(1, 25):
        if len(refused) >= 3 or time.monotonic() > deadline:
            break
        size = sizes[(n - 1) % len(sizes)] * 1000
        subject, data = message(token, n, size)
        label = "message %d (%d KB)" % (n, size // 1000)
        code, text, where = submit(s, label, data)
        qid = classify(label, code, text, where)
        print("%s: %d %s (at %s)" % (label, code, text, where), flush=True)
        if qid:
            accepted.append(qid)
            keep(out, qid, subject, data, label)
        else:
            refused.append(n)
    if not accepted:
        fail("no message was accepted before the disk filled (want at least one 250)")
    if not refused:
        fail("%d messages were accepted and none refused: the disk never filled (want 452 4.3.1)" % len(accepted))
    print("fill: %d accepted, %d refused with 452 4.3.1" % (len(accepted), len(refused)), flush=True)

    try:
        os.kill(spid, 0)
    except OSError:
        fail("signpost (pid %d) died while the disk was full" % spid)
    # Nothing of the refused messages stays behind in tmp/ (a state file being replaced
    # may be there for an instant: wait a little for it to go).
    tmp = os.path.join(spool, "tmp")
    for _ in range(50):
        left = entries(tmp)
        if not left:
            break
        time.sleep(0.1)
    if left:
        fail("temporaries left in %s after the refusals: %s" % (tmp, left))
    # queue/ holds exactly the accepted messages (and their state files).
    q = entries(os.path.join(spool, "queue"))
    ids = [e for e in q if not e.endswith(".state")]
    strays = [e for e in q if e.endswith(".state") and e[:-6] not in accepted]
    if sorted(ids) != sorted(accepted) or strays:
        fail("queue/ holds %s; want the accepted %s (+ their .state)" % (q, sorted(accepted)))
    print("no temporaries in tmp/; queue/ holds exactly the %d accepted message(s)" % len(accepted), flush=True)

    # Both sessions still answer; the refusing one can start a new transaction.
    if s.noop()[0] != 250 or s.rset()[0] != 250:
        fail("the filling session stopped answering after the refusals")
    if other.noop()[0] != 250 or other.rset()[0] != 250:
        fail("the second session stopped answering while the disk was full")
    # A little space comes back: the second session, opened before, gets its message in.
    os.unlink(spare)
    subject, data = message(token, 99, 100000)
    code, text, where = submit(other, "second session", data)
    qid = classify("second session after freeing space", code, text, where)
    if not qid:
        fail("the second session got %d %s after space was freed; want 250" % (code, text))
    keep(out, qid, subject, data, "second session")
    print("second session, after freeing 256 KiB: 250 %s" % text, flush=True)
    for c in (s, other):
        c.quit()

def one(port, cert, password, out, size, want):
    token = "T61-%d" % os.getpid()
    s = session(port, cert, password, "one.t61.test")
    subject, data = message(token, 1, size)
    code, text, where = submit(s, "single message", data)
    qid = classify("single message", code, text, where)
    print("single message (%d KB): %d %s (at %s)" % (size // 1000, code, text, where), flush=True)
    if want == "250" and not qid:
        fail("a submission got %d %s; want 250" % (code, text))
    if want == "452" and qid:
        fail("a submission got 250 %s; want 452 4.3.1" % text)
    if qid:
        keep(out, qid, subject, data, "single message")
        with open(os.path.join(out, "last"), "w") as f:
            f.write(qid + "\n")
    s.quit()

if __name__ == "__main__":
    a = sys.argv
    if a[1] == "fill":  # fill PORT CERT PASSWORD SPOOL SPARE_FILE OUTDIR SIGNPOST_PID
        fill(int(a[2]), a[3], a[4], a[5], a[6], a[7], int(a[8]))
    else:               # one PORT CERT PASSWORD OUTDIR SIZE 250|452
        one(int(a[2]), a[3], a[4], a[5], int(a[6]), a[7])
PY
out=$WORK/sent
mkdir -p "$out"
: > "$out/accepted"

# ---- 1. ENOSPC -----------------------------------------------------------------------
LOG=$WORK/serve-1.log
start_signpost "$LOG"
[ -d "$SPOOL/tmp" ] && [ -d "$SPOOL/queue" ] || fail "signpost did not create tmp/ and queue/ under $SPOOL"
fallocate -l 262144 "$MNT/filler-spare" || fail "fallocate filler-spare"
free=$(avail)
[ "$free" -gt $((2 * 1048576)) ] || fail "only $(kib "$free") free on a fresh 4 MiB tmpfs"
fallocate -l $((free - 1048576)) "$MNT/filler" || fail "fallocate filler"
pass "spool on a 4 MiB tmpfs at $SPOOL, $(kib "$(avail)") left after the filler; capture dir $OUTBOX on $(df -P "$WORK" | awk 'NR==2{print $1}')"

rc=0
timeout 90 $PY "$WORK/client.py" fill "$SUBMISSION_PORT" "$CERT" "$DEV_PASSWORD" "$SPOOL" "$MNT/filler-spare" "$out" "$SPID" \
  > "$WORK/fill.log" 2>&1 || rc=$?
cat "$WORK/fill.log"
if [ "$rc" != 0 ]; then
  echo "--- serve log:"; cat "$LOG"
  grep -q '^FAIL:' "$WORK/fill.log" || fail "the fill client exited $rc"
  exit 1
fi
kill -0 "$SPID" 2> /dev/null || { cat "$LOG"; fail "signpost died during the fill"; }
grep -q 'message refused: spool write: No space left on device (452 4.3.1)' "$LOG" \
  || { cat "$LOG"; fail "the log does not show a spool write failing with ENOSPC"; }
if grep -E 'refused.*\(451 4\.3\.0\)' "$LOG"; then
  fail "a submission was answered 451 4.3.0 (not 452 4.3.1) while the disk was full"
fi
naccepted=$(wc -l < "$out/accepted")
pass "disk full: every message answered 250 or 452 4.3.1, the daemon is up, tmp/ is empty, both sessions still work"

# ---- 2. min_free_space ---------------------------------------------------------------
stop_signpost
rm -f "$MNT/filler"
room=$(avail)    # the free space once the filler is gone (part 3)
[ "$room" -gt $((1536 * 1024)) ] || fail "only $(kib "$room") free without the filler: the spool holds too much"
min_free=$((room - 524288))
fallocate -l $((room - 1048576)) "$MNT/filler" || fail "fallocate filler (part 2)"
sed -i "s|^min_free_space = \"0\"\$|min_free_space = \"$min_free\"|" "$cfg"
grep -q "^min_free_space = \"$min_free\"\$" "$cfg" || fail "could not set min_free_space"
LOG=$WORK/serve-2.log
start_signpost "$LOG"
wait_for_log "$LOG" "queue: $naccepted message\(s\) recovered"
free=$(avail)
[ "$free" -lt "$min_free" ] && [ "$free" -gt 524288 ] || fail "free $(kib "$free"), min_free_space $(kib "$min_free"): bad setup"

snapshot() {  # the spool's tmp/ and queue/: listings and modification times
  (cd "$SPOOL" && stat -c '%n %y' tmp queue && ls -A tmp queue)
}
# Recovered messages that are due get one (failing) attempt and a state save: wait until
# the spool is still for a second.
quiet=""
prev=$(snapshot)
for ((i = 0; i < 20; i++)); do
  sleep 1
  now=$(snapshot)
  if [ "$now" = "$prev" ] && [ -z "$(ls -A "$SPOOL/tmp")" ]; then quiet=1; break; fi
  prev=$now
done
[ -n "$quiet" ] || { echo "$now"; fail "the spool did not become still after the restart"; }
rc=0
timeout 60 $PY "$WORK/client.py" one "$SUBMISSION_PORT" "$CERT" "$DEV_PASSWORD" "$out" 20000 452 > "$WORK/one-2.log" 2>&1 || rc=$?
cat "$WORK/one-2.log"
[ "$rc" = 0 ] || { cat "$LOG"; fail "part 2: the submission was not refused with 452 4.3.1 (exit $rc)"; }
after=$(snapshot)
if [ "$after" != "$now" ]; then
  diff <(echo "$now") <(echo "$after") || true
  fail "the refused submission changed tmp/ or queue/ (min_free_space must refuse before writing)"
fi
# Refused already at MAIL (before any body is sent), not after DATA.
grep -q 'single message (20 KB): 452 4.3.1 .* (at MAIL)' "$WORK/one-2.log" \
  || fail "below min_free_space the refusal should come at MAIL"
kill -0 "$SPID" 2> /dev/null || fail "signpost died in part 2"
pass "min_free_space = $(kib "$min_free") with $(kib "$free") free: 452 4.3.1, nothing written into tmp/ or queue/"

# ---- 3. space and delivery come back -------------------------------------------------
rm -f "$MNT/filler"
rm -f "$OUTBOX"
mkdir "$OUTBOX"
free=$(avail)
[ "$free" -gt $((min_free + 262144)) ] || fail "only $(kib "$free") free after removing the filler (min_free_space $(kib "$min_free"))"
"$SIGNPOST" queue flush --config "$cfg" > "$WORK/flush.out" 2>&1 || { cat "$WORK/flush.out"; fail "queue flush failed"; }
cat "$WORK/flush.out"

check_delivered() {  # check_delivered ID SUBJECT LABEL: waits (bounded) for outbox/ID.eml and checks it
  local id=$1 subject=$2 label=$3 eml=$OUTBOX/$1.eml i
  for ((i = 0; i < 300; i++)); do
    [ -f "$eml" ] && break
    sleep 0.1
  done
  [ -f "$eml" ] || { ls -la "$OUTBOX"; tail -n 30 "$LOG"; fail "$label: $id was answered 250 but $id.eml never reached $OUTBOX"; }
  grep -qaF "Subject: $subject"$'\r' "$eml" || fail "$label: $eml does not carry 'Subject: $subject'"
  $PY - "$eml" "$out/$id.sent" << 'PY' || fail "$label: $eml does not end with the bytes sent"
import sys
eml, sent = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
if not eml.endswith(sent):
    sys.exit("%s: %d bytes, want the %d bytes sent at its end" % (sys.argv[1], len(eml), len(sent)))
PY
}
while IFS=$'\t' read -r id subject label; do
  check_delivered "$id" "$subject" "$label"
done < "$out/accepted"
pass "all $(wc -l < "$out/accepted") message(s) answered 250 were delivered intact after the flush"

queue_empty() {
  local i
  for ((i = 0; i < 100; i++)); do
    "$SIGNPOST" queue list --config "$cfg" --json > "$WORK/list.json" || fail "queue list failed"
    if $PY -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1])) == [] else 1)' "$WORK/list.json"; then
      return 0
    fi
    sleep 0.1
  done
  cat "$WORK/list.json"
  fail "$1: queue list is not empty"
}
queue_empty "after the flush"

rc=0
timeout 60 $PY "$WORK/client.py" one "$SUBMISSION_PORT" "$CERT" "$DEV_PASSWORD" "$out" 150000 250 > "$WORK/one-3.log" 2>&1 || rc=$?
cat "$WORK/one-3.log"
[ "$rc" = 0 ] || { cat "$LOG"; fail "part 3: a new submission was not accepted once space was back (exit $rc)"; }
id=$(cat "$out/last")
check_delivered "$id" "$(awk -F'\t' -v id="$id" '$1 == id {print $2}' "$out/accepted")" "new submission"
queue_empty "after the new submission"
[ -z "$(ls -A "$SPOOL/tmp")" ] || fail "tmp/ is not empty at the end: $(ls -A "$SPOOL/tmp")"
# What stays in queue/ is free files kept for reuse (each ends in the free marker), no
# message and no .state.
for f in "$SPOOL/queue"/*; do
  [ -e "$f" ] || continue
  [ "$(tail -c 84 "$f" | head -c 16)" = "signpost-free   " ] || fail "queue/ still holds a message at the end: $(basename "$f")"
done
[ -z "$(ls -A "$SPOOL/corrupt")" ] || fail "corrupt/ is not empty: $(ls -A "$SPOOL/corrupt")"
pass "service resumed without a restart: a new submission was accepted ($id) and delivered"

stop_signpost
echo "summary: $(grep '^fill:' "$WORK/fill.log" | sed 's/^fill: //') on a full 4 MiB tmpfs (+1 from the second" \
     "session); 452 4.3.1 below min_free_space; all $((naccepted + 1)) accepted messages delivered intact; queue empty"
