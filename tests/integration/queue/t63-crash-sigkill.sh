#!/usr/bin/env bash
# t63: nothing answered 250 is ever lost, whatever instant the process dies at.
#
# Signpost relays to a sink on loopback (smarthost mode, STARTTLS verified against a test CA;
# tests/integration/lib/smtp_sink.py on aiosmtpd). Eight client threads submit messages, each
# with a unique Message-ID, over STARTTLS + AUTH, reconnecting whenever the server goes away
# and re-sending what was not acknowledged. Meanwhile Signpost is killed with SIGKILL at
# random moments (KILLS times) and restarted on the same spool. At the end every Message-ID
# that got a 250 must be in the sink at least once; duplicates (a 250 lost in the kill, or a
# delivery repeated after restart) are counted and reported, never a loss.
#
# Bounded: MESSAGES messages in total, each kill within a few seconds, 240 s overall.
source "$(dirname "$0")/../lib.sh"

MESSAGES=${T63_MESSAGES:-6000}  # enough that the clients outlast at least 3 kills on a fast machine
KILLS=${T63_KILLS:-6}
THREADS=8

init_dev "$WORK/dev"
CFG=$WORK/dev/signpost.toml
SINK_PORT=$(free_port)

# A test CA and a certificate for the sink, valid for 127.0.0.1 and localhost.
make_test_ca "$WORK"

start_sink "$SINK_PORT" "$WORK"

# Deliver to the sink instead of capturing.
use_smarthost "$CFG" "$SINK_PORT" "$WORK/ca.pem"
"$SIGNPOST" check-config --config "$CFG" > /dev/null || fail "the smarthost config is refused"

start_signpost() {
  "$SIGNPOST" serve --config "$CFG" >> "$WORK/serve.log" 2>&1 &
  SP_PID=$!
  track_pid $SP_PID
  local i
  for ((i = 0; i < 100; i++)); do
    [ "$(grep -c 'ready$' "$WORK/serve.log")" -ge "$1" ] && return 0
    kill -0 $SP_PID 2>/dev/null || { tail -20 "$WORK/serve.log"; fail "signpost exited at start $1"; }
    sleep 0.1
  done
  fail "signpost start $1 not ready in 10s"
}

starts=1
start_signpost $starts

# The clients: one line per acknowledged message in acked.log ("<message-id> <queue id>").
cat > "$WORK/clients.py" <<'EOF'
import os, smtplib, ssl, sys, threading, time
port, password, total, threads, acked_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
lock = threading.Lock()
acked = open(acked_path, "a", buffering=1)
counts = {"acked": 0, "refused": 0, "reconnects": 0}
deadline = time.time() + 150
body = ("x" * 70 + "\r\n") * 50

def worker(t):
    todo = [f"<t63-{t}-{i}@example.test>" for i in range(t, total, threads)]
    s = None
    while todo and time.time() < deadline:
        try:
            if s is None:
                s = smtplib.SMTP("127.0.0.1", int(port), timeout=10)
                s.starttls(context=ctx)
                s.login("dev", password)
            mid = todo[0]
            msg = (f"From: dev@example.test\r\nTo: sink@example.org\r\nSubject: t63\r\n"
                   f"Message-ID: {mid}\r\n\r\n{body}")
            s.mail("dev@example.test")
            code, _ = s.rcpt("sink@example.org")
            if code != 250:
                raise smtplib.SMTPResponseException(code, b"rcpt")
            code, reply = s.data(msg.encode())
            if code == 250:
                with lock:
                    acked.write(f"{mid} {reply.decode().rsplit(' ', 1)[-1]}\n")
                    counts["acked"] += 1
                todo.pop(0)
            else:
                with lock:
                    counts["refused"] += 1
        except (OSError, smtplib.SMTPException):
            # The server died (or refused): reconnect and send what was not acknowledged.
            with lock:
                counts["reconnects"] += 1
            try:
                if s is not None:
                    s.close()
            except Exception:
                pass
            s = None
            time.sleep(0.05)
    if s is not None:
        try:
            s.quit()
        except Exception:
            pass

ws = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
for w in ws: w.start()
for w in ws: w.join()
print(f"clients: acked={counts['acked']} refused={counts['refused']} reconnects={counts['reconnects']}")
sys.exit(0 if counts["acked"] == total else 1)
EOF
/usr/bin/python3 "$WORK/clients.py" "$SUBMISSION_PORT" "$DEV_PASSWORD" "$MESSAGES" "$THREADS" "$WORK/acked.log" \
  > "$WORK/clients.out" 2>&1 &
CLIENTS=$!
track_pid $CLIENTS

# The killer: SIGKILL at random moments while the clients run, then restart on the same spool.
for ((k = 1; k <= KILLS; k++)); do
  sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
  kill -0 $CLIENTS 2>/dev/null || break
  acked_now=$(wc -l < "$WORK/acked.log" 2>/dev/null || echo 0)
  kill -9 $SP_PID
  wait $SP_PID 2>/dev/null || true
  echo "kill $k: SIGKILL after $acked_now acknowledged"
  starts=$((starts + 1))
  start_signpost $starts
done
kills_done=$((k - 1))

for ((i = 0; i < 1800; i++)); do kill -0 $CLIENTS 2>/dev/null || break; sleep 0.1; done
kill -0 $CLIENTS 2>/dev/null && fail "the clients did not finish in time"
wait $CLIENTS || { cat "$WORK/clients.out"; fail "the clients could not get every message acknowledged"; }
cat "$WORK/clients.out"
[ "$kills_done" -ge 3 ] || fail "only $kills_done kills happened before the clients finished (raise T63_MESSAGES)"

# Let the queue drain into the sink (bounded), then compare.
for ((i = 0; i < 600; i++)); do
  left=$("$SIGNPOST" queue list --config "$CFG" --json | grep -c '"id"' || true)
  [ "$left" = 0 ] && break
  sleep 0.2
done
[ "$left" = 0 ] || { "$SIGNPOST" queue list --config "$CFG" | tail -20; fail "$left message(s) still queued"; }

/usr/bin/python3 - "$WORK/acked.log" "$WORK/sink.log" <<'EOF' || fail "acknowledged messages are missing from the sink"
import collections, sys
acked = [l.split()[0] for l in open(sys.argv[1]) if l.strip()]
seen = collections.Counter()
for line in open(sys.argv[2]):
    parts = line.split()
    if len(parts) >= 2 and parts[0] == "MSG":
        seen[parts[1]] += 1
missing = [m for m in set(acked) if seen[m] == 0]
dups = sum(c - 1 for m, c in seen.items() if c > 1)
resent = len(acked) - len(set(acked))
# Where each duplicate came from: the same queue entry delivered twice (Signpost died
# between the sink's 250 and removing the entry: the delivery side), or two queue entries
# for one Message-ID (the client resent a message whose 250 it never got: submission side).
entries = collections.defaultdict(collections.Counter)
for line in open(sys.argv[2]):
    parts = line.split()
    if len(parts) >= 2 and parts[0] == "MSG":
        sp = next((p[3:] for p in parts if p.startswith("sp=")), "-")
        entries[parts[1]][sp] += 1
delivery_side = sum(c - 1 for e in entries.values() for c in e.values() if c > 1)
submission_side = sum(len(e) - 1 for e in entries.values() if len(e) > 1)
print(f"acknowledged: {len(set(acked))} distinct ({resent} acknowledged twice by resending), "
      f"in the sink: {sum(seen.values())} deliveries of {len(seen)} distinct, duplicates: {dups} "
      f"(delivery side: {delivery_side}, submission side: {submission_side}), missing: {len(missing)}")
assert delivery_side + submission_side == dups, "unclassified duplicates"
for m in missing[:20]:
    print("missing:", m)
sys.exit(1 if missing else 0)
EOF
grep -q 'is damaged' "$WORK/serve.log" && echo "note: damaged files were moved to corrupt/ (see serve.log)"
pass "t63: $kills_done SIGKILLs during $MESSAGES submissions, every acknowledged message reached the sink"
