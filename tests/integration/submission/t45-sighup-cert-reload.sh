#!/usr/bin/env bash
# t45: TLS on the submission listeners.
#   - TLS 1.3 and TLS 1.2 both work, and a client can resume its session with either
#     (session cache for 1.2, tickets for 1.3), so a NAS reconnecting per message skips
#     the full handshake;
# and SIGHUP reloads the TLS certificate without dropping sessions:
#   - a session opened before the reload keeps working (NOOP over its TLS link) after it;
#   - a new connection gets the new certificate;
#   - a broken certificate on SIGHUP is refused with a logged error, and the previous
#     certificate stays in use.
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3

dev=$WORK/dev
init_dev "$dev"
log=$WORK/serve.log
"$SIGNPOST" serve --config "$dev/signpost.toml" > "$log" 2>&1 &
spid=$!
track_pid "$spid"
wait_for_log "$log" 'ready'

fingerprint() {  # the SHA-256 fingerprint of the certificate the implicit TLS port presents
  openssl s_client -connect "127.0.0.1:$SUBMISSIONS_PORT" -servername localhost < /dev/null 2> /dev/null \
    | openssl x509 -noout -fingerprint -sha256
}
for version in 1_3 1_2; do
  printf 'QUIT\r\n' | timeout 10 openssl s_client -ign_eof "-tls$version" -connect "127.0.0.1:$SUBMISSIONS_PORT" \
    -sess_out "$WORK/sess-$version.pem" > /dev/null 2>&1
  [ -s "$WORK/sess-$version.pem" ] || fail "no TLS ${version/_/.} session"
  reused=$(printf 'QUIT\r\n' | timeout 10 openssl s_client -ign_eof "-tls$version" -connect "127.0.0.1:$SUBMISSIONS_PORT" \
    -sess_in "$WORK/sess-$version.pem" 2> /dev/null | grep -E '^(Reused|New),' || true)
  [[ $reused == "Reused, TLSv${version/_/.}"* ]] || fail "TLS ${version/_/.} session not resumed: $reused"
  pass "TLS ${version/_/.}: $reused"
done

old_fp=$(fingerprint)
[ -n "$old_fp" ] || fail "no certificate from 127.0.0.1:$SUBMISSIONS_PORT"

# A session that stays open across the reload: it waits for the go file, then sends NOOP.
$PY - "$SUBMISSIONS_PORT" "$WORK/go" > "$WORK/session.out" 2>&1 << 'PY' &
import socket, ssl, sys, time, os
port, go = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
f = s.makefile("rb")
print(f.readline().decode().strip(), flush=True)
s.sendall(b"EHLO old\r\n")
while True:
    line = f.readline().decode()
    if line[3:4] == " ":
        break
print("ready", flush=True)
for _ in range(200):
    if os.path.exists(go):
        break
    time.sleep(0.05)
s.sendall(b"NOOP\r\n")
print("after reload:", f.readline().decode().strip(), flush=True)
s.sendall(b"QUIT\r\n")
print(f.readline().decode().strip(), flush=True)
PY
session=$!
for ((i = 0; i < 100; i++)); do grep -q '^ready' "$WORK/session.out" && break; sleep 0.1; done
grep -q '^ready' "$WORK/session.out" || { cat "$WORK/session.out"; fail "the long session did not start"; }

# A new certificate in place of the old one.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$WORK/new.key" -out "$WORK/new.pem" 2> /dev/null \
  || fail "openssl req failed"
install -m 600 "$WORK/new.key" "$dev/tls/key.pem"
cp "$WORK/new.pem" "$dev/tls/cert.pem"
kill -HUP "$spid"
wait_for_log "$log" 'received SIGHUP'
touch "$WORK/go"
wait "$session" || true
grep -q '^after reload: 250 2.0.0' "$WORK/session.out" || { cat "$WORK/session.out"; fail "the open session did not survive the reload"; }
grep -q '^221 ' "$WORK/session.out" || fail "the open session did not end normally"
pass "a session opened before SIGHUP keeps working after it"

new_fp=$(fingerprint)
want_fp=$(openssl x509 -in "$WORK/new.pem" -noout -fingerprint -sha256)
[ "$new_fp" = "$want_fp" ] || fail "new connections still get the old certificate"
[ "$new_fp" != "$old_fp" ] || fail "fingerprint unchanged"
pass "new connections get the new certificate"

# A broken certificate: refused, logged, the last good one stays.
echo "not a certificate" > "$dev/tls/cert.pem"
kill -HUP "$spid"
wait_for_log "$log" 'TLS not reloaded: .*cert.pem'
[ "$(fingerprint)" = "$want_fp" ] || fail "a broken certificate replaced the working one"
kill -0 "$spid" || fail "the daemon died on a broken certificate"
pass "a broken certificate is refused and the working one stays: $(grep -o 'TLS not reloaded: .*' "$log" | head -n1)"

kill -TERM "$spid"
wait_exit "$spid" 10
[ "$EXIT_CODE" = 0 ] || fail "serve exited $EXIT_CODE"
