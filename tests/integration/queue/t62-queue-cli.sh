#!/usr/bin/env bash
# t62: `signpost queue` while the daemon runs (control socket) and while it does not (files
# under the spool lock): list/--json/show/hold/release/flush/delete/bounce, failure reports
# through the queue, and one daemon per spool.
#
# Signpost relays to a smarthost on loopback that is down at first (connection refused:
# every attempt is deferred), then comes up (aiosmtpd sink, STARTTLS with a test CA).
source "$(dirname "$0")/../lib.sh"

init_dev "$WORK/dev"
CFG=$WORK/dev/signpost.toml
SINK_PORT=$(free_port)
mkdir -p "$WORK/store"

make_test_ca "$WORK"

use_smarthost "$CFG" "$SINK_PORT" "$WORK/ca.pem"

start_signpost() {
  : > "$WORK/serve.log"
  "$SIGNPOST" serve --config "$CFG" > "$WORK/serve.log" 2>&1 &
  SP_PID=$!
  track_pid $SP_PID
  wait_for_log "$WORK/serve.log" 'ready$' 10
}

submit() {  # submit SUBJECT -> prints the queue id
  swaks --server "127.0.0.1:$SUBMISSION_PORT" --tls --auth PLAIN --auth-user dev --auth-password "$DEV_PASSWORD" \
        --from dev@example.test --to "rcpt@example.org" --header "Subject: $1" 2>&1 \
    | sed -n 's/.*250 2.0.0 Ok: queued as \([0-9A-Z]*\).*/\1/p'
}

q() { "$SIGNPOST" queue "$@" --config "$CFG"; }

json_count() { q list --json | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

# wait_state ID STATE: until `queue list --json` shows ID in STATE (10 s).
wait_state() {
  local i
  for ((i = 0; i < 100; i++)); do
    q list --json | /usr/bin/python3 -c '
import json, sys
want_id, want = sys.argv[1], sys.argv[2]
sys.exit(0 if any(m["id"] == want_id and m["state"] == want for m in json.load(sys.stdin)) else 1)' "$1" "$2" && return 0
    sleep 0.1
  done
  q list
  fail "$1 did not reach state $2"
}

start_signpost
# Nobody else can reach the queue: the spool and its directories are 0700, the control
# socket has no group/other permission.
for d in "$WORK/dev/spool" "$WORK/dev/spool/queue" "$WORK/dev/spool/tmp" "$WORK/dev/spool/corrupt"; do
  [ "$(stat -c %a "$d")" = 700 ] || fail "$d has mode $(stat -c %a "$d"), want 700"
done
sock_mode=$(stat -c %a "$WORK/dev/spool/control.sock" 2>&1 || true)
[ -S "$WORK/dev/spool/control.sock" ] && [[ $sock_mode =~ ^[67]00$ ]] \
  || fail "control.sock: $(stat -c '%F' "$WORK/dev/spool/control.sock" 2>&1) mode $sock_mode, want a socket only its owner can use"
pass "spool directories 0700, control socket $sock_mode (owner only)"
A=$(submit "message A"); B=$(submit "message B"); C=$(submit "message C")
[ -n "$A" ] && [ -n "$B" ] && [ -n "$C" ] || fail "submissions were not queued"
for id in "$A" "$B" "$C"; do wait_state "$id" deferred; done
pass "three messages deferred while the smarthost is down"

q list --json | /usr/bin/python3 -c '
import json, sys
ms = json.load(sys.stdin)
assert len(ms) == 3, ms
for m in ms:
    assert m["from"] == "dev@example.test" and m["user"] == "dev", m
    assert m["recipients"][0]["address"] == "rcpt@example.org", m
    assert m["recipients"][0]["attempts"] == 1, m
    assert m["next_attempt"] > m["arrival"], m
    assert m["last_error"] and "refused" in m["last_error"].lower(), m["last_error"]
' || fail "queue list --json does not describe the deferred messages"
q list | grep -q "rcpt@example.org> pending, 1 attempt" || fail "queue list text lacks the recipient line"
q show "$A" | grep -q "^Subject: message A" || fail "queue show lacks the message headers"
q show "$A" | grep -q "^DKIM-Signature:" || fail "queue show lacks the added headers"
pass "list, list --json and show describe the queue"

q hold "$A" > /dev/null || fail "hold failed"
wait_state "$A" held
q delete "$C" > /dev/null || fail "delete failed"
q show "$C" > /dev/null 2>&1 && fail "a deleted message is still shown"
q hold 00HOFGO6F3U700000000 2> "$WORK/err" && fail "hold of an unknown id succeeded"
grep -q "no message" "$WORK/err" || fail "unknown id: $(cat "$WORK/err")"
q bounce "$B" > /dev/null || fail "bounce failed"
# B is gone; its failure report (null sender, to dev@example.test) is queued and deferred too.
for ((i = 0; i < 100; i++)); do
  q list --json | grep -q "\"id\":\"$B\"" || break
  sleep 0.1
done
q list --json | /usr/bin/python3 -c '
import json, sys
ms = json.load(sys.stdin)
reports = [m for m in ms if m["from"] == ""]
assert len(reports) == 1 and reports[0]["recipients"][0]["address"] == "dev@example.test", ms
assert len(ms) == 2, ms
' || fail "bounce did not replace the message by one failure report"
pass "hold, delete and bounce through the running daemon"

# A second daemon on the same spool refuses to start.
"$SIGNPOST" serve --config "$CFG" > "$WORK/second.log" 2>&1 &
second=$!
wait_exit $second 10
[ "$EXIT_CODE" != 0 ] || fail "a second daemon started on the same spool"
grep -q "held by a running signpost" "$WORK/second.log" || fail "second daemon: $(cat "$WORK/second.log")"
pass "one daemon per spool"

# The smarthost comes up; flush delivers everything that is not held.
start_sink "$SINK_PORT" "$WORK" --store "$WORK/store"
q flush > /dev/null || fail "flush failed"
for ((i = 0; i < 100; i++)); do [ "$(json_count)" = 1 ] && break; sleep 0.1; done
[ "$(json_count)" = 1 ] || { q list; fail "flush did not deliver the report"; }
wait_state "$A" held
grep -rl "report-type=delivery-status" "$WORK/store" > /dev/null || fail "the failure report did not reach the sink"
grep -rl "Subject: message B" "$WORK/store" > /dev/null || fail "the report does not carry B's headers"
grep -rl "Subject: message A" "$WORK/store" > /dev/null && fail "a held message was delivered"
q release "$A" > /dev/null || fail "release failed"
q flush "$A" > /dev/null || fail "flush A failed"
for ((i = 0; i < 100; i++)); do [ "$(json_count)" = 0 ] && break; sleep 0.1; done
[ "$(json_count)" = 0 ] || { q list; fail "A was not delivered after release + flush"; }
grep -rl "Subject: message A" "$WORK/store" > /dev/null || fail "A did not reach the sink"
pass "flush delivers what is not held; release + flush delivers the held one"

# Daemon stopped: the commands work on the files under the lock; the daemon picks them up.
kill -STOP "$SINK_PID"  # the sink hangs: D stays in flight, then deferred
D=$(submit "message D")
[ -n "$D" ] || fail "D was not queued"
kill -TERM $SP_PID
wait_exit $SP_PID 20
[ "$EXIT_CODE" = 0 ] || fail "signpost exited $EXIT_CODE on SIGTERM"
kill -CONT "$SINK_PID"
q list | grep -q "$D" || fail "offline list does not show D"
q hold "$D" | grep -q "not running" || fail "offline hold did not say the daemon is not running"
start_signpost
wait_state "$D" held
q release "$D" > /dev/null
# D's attempt was cut short by the stop, which is not counted: once released it is due at
# once and may be gone before the flush.
q flush "$D" > /dev/null 2>&1 || true
for ((i = 0; i < 100; i++)); do [ "$(json_count)" = 0 ] && break; sleep 0.1; done
[ "$(json_count)" = 0 ] || { q list; fail "D was not delivered after restart, release and flush"; }
grep -rl "Subject: message D" "$WORK/store" > /dev/null || fail "D did not reach the sink"
pass "offline hold is kept across the restart and D is delivered once released"
