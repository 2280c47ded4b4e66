#!/usr/bin/env bash
# t94: SIGHUP reloads the configuration all or nothing; SIGTERM drains without losing mail.
#   a. /healthz answers 200 "ok" while Signpost runs
#   b. SIGHUP with a broken config (an unknown key): every error is logged with file, line
#      and key, "configuration not reloaded", and the old configuration keeps working
#   c. SIGHUP with a valid change ([limits] max_recipients = 1): "configuration reloaded",
#      and a new session gets 452 4.5.3 for its second recipient
#   d. a changed listener address is reported as taking effect after a restart (at every
#      reload until then); the old listener keeps accepting
#   e. SIGTERM while one client is in the middle of DATA and another is idle after AUTH:
#      the idle one is told 421 4.3.2 at once, new connections are refused, /healthz
#      answers 503, the first client finishes its message and gets 250 (then 421), the
#      daemon exits 0, and after a restart that message is in the outbox
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../submission/abuse.sh"
command -v curl > /dev/null || fail "curl is not installed (scripts/install-deps.sh)"

abuse_setup
# Short enough for the test, long enough for the client to finish.
sed -i 's|^\[server\]$|[server]\nshutdown_grace = "20s"|' "$cfg"
abuse_serve

health() { curl -s -o "$WORK/health.txt" -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/healthz" || true; }

# submit TO...: one message with these recipients; prints the final reply line.
submit() {
  local args=()
  for r in "$@"; do args+=(--to "$r"); done
  "$PY" "$HERE/smtpclient.py" submit --port "$SUBMISSION_PORT" --cafile "$dev/tls/cert.pem" --user dev \
    --password "$DEV_PASSWORD" --from dev@example.test "${args[@]}" 2>&1 || true
}

# a. health
[ "$(health)" = 200 ] || fail "a: /healthz answered $(health): $(cat "$WORK/health.txt")"
grep -qx ok "$WORK/health.txt" || fail "a: /healthz body is not 'ok'"
pass "a. /healthz answers 200 ok"

# b. a broken config is refused as a whole
cp "$cfg" "$WORK/good.toml"
sed -i 's|^\[auth\]$|[auth]\nmax_failurez = 3|' "$cfg"
line=$(grep -n '^max_failurez' "$cfg" | cut -d: -f1)
kill -HUP "$pid"
wait_for_log "$log" 'configuration not reloaded'
grep -q "config: .*signpost.toml:$line.*max_failurez" "$log" \
  || { cat "$log"; fail "b: the error does not name file, line $line and the key"; }
reply=$(submit a@example.org b@example.org)
[[ $reply == "250 2.0.0"* ]] || fail "b: after the refused reload a submission got: $reply"
pass "b. a broken config is refused ($(grep -o 'config: .*max_failurez.*' "$log" | head -n1)) and the old one serves"

# c. a valid change applies to new sessions
cp "$WORK/good.toml" "$cfg"
printf '\n[limits]\nmax_recipients = 1\n' >> "$cfg"
"$SIGNPOST" check-config --config "$cfg" > /dev/null || { cat "$cfg"; fail "c: the changed config does not load"; }
kill -HUP "$pid"
wait_for_log "$log" 'configuration reloaded'
"$PY" - <<'PY' || fail "c: max_recipients = 1 did not apply after the reload"
from smtpclient import Client
with Client.from_env() as c:
    c.connect(); c.expect(220); c.login()
    c.cmd("MAIL FROM:<dev@example.test>", 250)
    c.cmd("RCPT TO:<one@example.org>", 250)
    c.cmd("RCPT TO:<two@example.org>", 452, "4.5.3")
    c.cmd("QUIT", 221)
PY
pass "c. a valid change is applied: the second recipient gets 452 4.5.3"

# d. a listener change waits for a restart
other=$(free_port)
sed -i "s|127.0.0.1:$SUBMISSIONS_PORT|127.0.0.1:$other|" "$cfg"
kill -HUP "$pid"
wait_for_log "$log" 'take effect after a restart: \[\[listener\]\]'
kill -HUP "$pid"  # still pending: said again
for ((i = 0; i < 100; i++)); do
  [ "$(grep -c 'take effect after a restart: \[\[listener\]\]' "$log")" -ge 2 ] && break
  sleep 0.1
done
[ "$(grep -c 'take effect after a restart: \[\[listener\]\]' "$log")" = 2 ] || { cat "$log"; fail "d: a second reload does not repeat the pending listener change"; }
reply=$(submit c@example.org)
[[ $reply == "250 2.0.0"* ]] || fail "d: after a listener change the old listener got: $reply"
pass "d. a listener change is reported for the next restart; the running listeners stay"

# e. SIGTERM during a submission
rm -f "$WORK/mid" "$WORK/go"
WORK=$WORK "$PY" - > "$WORK/drain.out" 2>&1 <<'PY' &
import os, re, socket, time
from smtpclient import Client, message
work = os.environ["WORK"]
busy = Client.from_env().connect(); busy.expect(220); busy.login()
idle = Client.from_env().connect(); idle.expect(220); idle.login()
busy.cmd("MAIL FROM:<dev@example.test>", 250)
busy.cmd("RCPT TO:<drain@example.org>", 250)
busy.cmd("DATA", 354)
body = message(to="drain@example.org", subject="sent across a SIGTERM", body="first half\r\n")
busy.send(body)
open(os.path.join(work, "mid"), "w").close()
for _ in range(200):                     # the test sends SIGTERM, then creates "go"
    if os.path.exists(os.path.join(work, "go")):
        break
    time.sleep(0.05)
else:
    raise SystemExit("no go within 10 s")
idle.expect(421, "4.3.2", what="the idle session after SIGTERM")
idle.wait_closed(5)
print("idle: 421 4.3.2")
try:
    socket.create_connection(("127.0.0.1", int(os.environ["SP_PORT"])), timeout=2).close()
    raise SystemExit("a new connection was accepted after SIGTERM")
except ConnectionRefusedError:
    print("new connection: refused")
busy.send(b"second half\r\n.\r\n")
r = busy.expect(250, "2.0.0", what="the end of the message sent across SIGTERM")
print("queued:", r.text.split()[-1])
busy.expect(421, "4.3.2", what="after the message")
busy.wait_closed(5)
print("busy: 250 then 421 4.3.2")
PY
client=$!
for ((i = 0; i < 100; i++)); do [ -e "$WORK/mid" ] && break; sleep 0.1; done
[ -e "$WORK/mid" ] || { cat "$WORK/drain.out"; fail "e: the client did not reach the middle of DATA"; }
kill -TERM "$pid"
wait_for_log "$log" 'received SIGTERM, stopping'
code=$(health)
[ "$code" = 503 ] || fail "e: /healthz answered $code while stopping: $(cat "$WORK/health.txt")"
touch "$WORK/go"
wait "$client" || { cat "$WORK/drain.out"; cat "$log"; fail "e: the client's expectations failed"; }
wait_exit "$pid" 15
[ "$EXIT_CODE" = 0 ] || { cat "$log"; fail "e: serve exited $EXIT_CODE after SIGTERM"; }
id=$(sed -n 's/^queued: //p' "$WORK/drain.out")
[ -n "$id" ] || { cat "$WORK/drain.out"; fail "e: no queue id"; }
cat "$WORK/drain.out"

# Restart (with the listener back where the test knows it) and find the message delivered.
cp "$WORK/good.toml" "$cfg"
abuse_serve
wait_outbox "$id" 10
grep -q 'Subject: sent across a SIGTERM' "$outbox/$id.eml" || fail "e: $id.eml is not the message"
kill -TERM "$pid"
wait_exit "$pid" 15
[ "$EXIT_CODE" = 0 ] || { cat "$log"; fail "serve exited $EXIT_CODE"; }
pass "e. SIGTERM: idle session 421 4.3.2, new connections refused, /healthz 503, the open message accepted and delivered ($id), exit 0"
