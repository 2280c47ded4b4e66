#!/usr/bin/env bash
# t46: users and connection limits in a running daemon.
#   - `signpost users add` while the daemon runs: the new user can log in within seconds,
#     with no restart; `users remove`: the removed user is refused again (535 5.7.8);
#   - [limits] max_connections_per_ip: the connection over the limit gets
#     "421 4.7.0 ... Too many connections from your address" and is closed, while the
#     ones inside the limit keep working; closing one frees a place;
#   - [limits] max_connections: the same for the total.
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3

dev=$WORK/dev
init_dev "$dev"
cfg=$dev/signpost.toml
printf '\n[limits]\nmax_connections_per_ip = 3\nmax_connections = 5\n' >> "$cfg"
log=$WORK/serve.log
"$SIGNPOST" serve --config "$cfg" > "$log" 2>&1 &
spid=$!
track_pid "$spid"
wait_for_log "$log" 'ready'

login() {  # login USER PASSWORD: prints the AUTH reply code over implicit TLS
  $PY - "$SUBMISSIONS_PORT" "$1" "$2" << 'PY'
import base64, socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15))
f = s.makefile("rb")
def reply():
    while True:
        line = f.readline().decode()
        if line[3:4] != "-":
            return line.strip()
reply()
s.sendall(b"EHLO t46\r\n"); reply()
tok = base64.b64encode(b"\0" + sys.argv[2].encode() + b"\0" + sys.argv[3].encode())
s.sendall(b"AUTH PLAIN " + tok + b"\r\n")
print(reply()[:9])
s.sendall(b"QUIT\r\n")
PY
}

[ "$(login carol s3cret-password-carol)" = "535 5.7.8" ] || fail "an unknown user could log in"
echo "s3cret-password-carol" | "$SIGNPOST" users add carol --allow example.test --config "$cfg" > /dev/null \
  || fail "users add failed"
ok=""
for ((i = 0; i < 50; i++)); do
  if [ "$(login carol s3cret-password-carol)" = "235 2.7.0" ]; then ok=1; break; fi
  sleep 0.2
done
[ -n "$ok" ] || fail "a user added while the daemon runs cannot log in"
wait_for_log "$log" 'users file reloaded'
pass "a user added with 'signpost users add' logs in without a restart ($((i * 200)) ms)"

"$SIGNPOST" users remove carol --config "$cfg" > /dev/null || fail "users remove failed"
gone=""
for ((i = 0; i < 50; i++)); do
  if [ "$(login carol s3cret-password-carol)" = "535 5.7.8" ]; then gone=1; break; fi
  sleep 0.2
done
[ -n "$gone" ] || fail "a removed user can still log in (cached?)"
pass "a removed user is refused again without a restart"

# Connection limits: hold connections open and count greetings.
$PY - "$SUBMISSION_PORT" << 'PY' || fail "connection limits"
import socket, sys, time
port = int(sys.argv[1])
def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    return s, f.readline().decode().strip()
held = []
for i in range(3):
    s, greeting = connect()
    assert greeting.startswith("220 "), greeting
    held.append(s)
s, greeting = connect()
assert greeting.startswith("421 4.7.0 ") and "Too many connections from your address" in greeting, greeting
assert s.recv(100) == b"", "the refused connection stays open"
print("4th connection from one address:", greeting)
# the held ones still work
held[0].sendall(b"NOOP\r\n")
assert held[0].recv(100).startswith(b"250 2.0.0"), "a held connection stopped working"
# closing one frees a place
held.pop().close()
time.sleep(0.3)
s, greeting = connect()
assert greeting.startswith("220 "), "no place after closing one: " + greeting
held.append(s)
print("after closing one:", greeting)
# The total: 3 from 127.0.0.1 are held; 2 more from 127.0.0.2 reach max_connections = 5.
def connect_from(src):
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(src, 0))
    return s, s.makefile("rb").readline().decode().strip()
for i in range(2):
    s, greeting = connect_from("127.0.0.2")
    assert greeting.startswith("220 "), greeting
    held.append(s)
s, greeting = connect_from("127.0.0.3")
assert greeting.startswith("421 4.7.0 ") and "Too many connections; try again later" in greeting, greeting
print("6th connection in total:", greeting)
PY
pass "max_connections_per_ip and max_connections: the connection over each gets 421 4.7.0; closing one frees a place"
