#!/usr/bin/env bash
# t5d: no secret reaches a log line, at the most verbose level ([log] level = "trace").
# A full run: Signpost relays through a smarthost that demands AUTH (the aiosmtpd sink with
# --auth, so the smarthost password is used and the client side of delivery logs its
# dialogue), while swaks submits over both listeners with AUTH PLAIN and AUTH LOGIN, with
# the right and a wrong password; JSON logs too. Then the log (both formats) must not hold:
#   - the submission password, the wrong password tried, the smarthost password;
#   - their AUTH forms on the wire: base64 of the PLAIN message ("\0user\0password") and of
#     the LOGIN password;
#   - any line of the TLS private key's or the DKIM private keys' PEM bodies (or a
#     32-character piece of one).
# The messages must still have been delivered (the run did what it should).
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3
command -v swaks > /dev/null || fail "swaks is not installed (scripts/install-deps.sh)"

init_dev "$WORK/dev"
CFG=$WORK/dev/signpost.toml
make_test_ca "$WORK"
SINK_PORT=$(free_port)
SMART_USER=relay-account
SMART_PASS='t5d-Smarthost-Secret-9f3a'
start_sink "$SINK_PORT" "$WORK" --store "$WORK/store" --auth "$SMART_USER:$SMART_PASS"
use_smarthost "$CFG" "$SINK_PORT" "$WORK/ca.pem"
CREDS=$WORK/dev/smarthost-credentials
(umask 077; printf '%s:%s\n' "$SMART_USER" "$SMART_PASS" > "$CREDS")
sed -i "s|^smarthost_tls = \"starttls\"$|smarthost_tls = \"starttls\"\nsmarthost_credentials_file = \"$CREDS\"|" "$CFG"
grep -q '^smarthost_credentials_file' "$CFG" || fail "could not set the smarthost credentials"

secrets=$WORK/secrets
b64() { printf '%b' "$1" | base64 -w0; }
{
  echo "$DEV_PASSWORD"
  echo "t5d-wrong-Guess-77"
  echo "$SMART_PASS"
  b64 "\\0dev\\0$DEV_PASSWORD"; echo
  b64 "\\0dev\\0t5d-wrong-Guess-77"; echo
  b64 "$DEV_PASSWORD"; echo
  b64 "\\0$SMART_USER\\0$SMART_PASS"; echo
  b64 "$SMART_PASS"; echo
  # Every PEM body line of the private keys, cut to 32 characters (a logged fragment of
  # a key is as bad as the key).
  for k in "$WORK"/dev/tls/key.pem $(find "$WORK/dev" -name '*.pem' -path '*keys*'); do
    grep -v -- '-----' "$k" | cut -c1-32
  done
} > "$secrets"
[ "$(wc -l < "$secrets")" -ge 12 ] || fail "too few secrets collected: $(wc -l < "$secrets")"

run() {  # run FORMAT: serve with that log format at trace level and submit
  local format=$1 log=$WORK/serve-$1.log pid
  sed -i "s/^level = .*/level = \"trace\"/; s/^format = .*/format = \"$format\"/" "$CFG"
  : > "$log"
  "$SIGNPOST" serve --config "$CFG" >> "$log" 2>&1 &
  pid=$!
  track_pid $pid
  wait_for_log "$log" 'ready'
  local n=0
  for listener in "--tls -p $SUBMISSION_PORT" "--tls-on-connect -p $SUBMISSIONS_PORT"; do
    for mech in PLAIN LOGIN; do
      n=$((n + 1))
      # shellcheck disable=SC2086
      timeout 30 swaks -s 127.0.0.1 $listener --auth "$mech" --auth-user dev --auth-password "$DEV_PASSWORD" \
        --from dev@example.test --to "rcpt$n@example.org" --header "Subject: t5d $format $n" \
        > "$WORK/swaks-$format-$n.txt" 2>&1 || { cat "$WORK/swaks-$format-$n.txt"; fail "$format: submission $n failed"; }
      timeout 30 swaks -s 127.0.0.1 $listener --auth "$mech" --auth-user dev --auth-password "t5d-wrong-Guess-77" \
        --from dev@example.test --to x@example.org --quit-after AUTH > "$WORK/swaks-bad-$format-$n.txt" 2>&1 || true
      grep -q '535 5.7.8' "$WORK/swaks-bad-$format-$n.txt" || { cat "$WORK/swaks-bad-$format-$n.txt"; fail "no 535 for a wrong password"; }
    done
  done
  wait_for_log "$log" "delivered to <rcpt4@example.org>" 20
  kill -TERM "$pid"
  wait_exit "$pid" 10
  grep -q 'AUTH' "$log" && grep -q '> MAIL FROM' "$log" || { head -n 50 "$log"; fail "$format: the trace log lacks the dialogue"; }
}
run text
run json
stored=$(find "$WORK/store" -name '*.eml' | wc -l)
[ "$stored" = 8 ] || fail "$stored messages reached the smarthost, want 8"

leaks=0
while read -r s; do
  [ -n "$s" ] || continue
  for log in "$WORK"/serve-*.log; do
    if grep -q -F -- "$s" "$log"; then
      echo "LEAK in $(basename "$log"): $(grep -n -F -- "$s" "$log" | head -n 2)"
      leaks=$((leaks + 1))
    fi
  done
done < "$secrets"
[ "$leaks" = 0 ] || fail "$leaks secret(s) in the logs"
pass "trace-level logs of $(cat "$WORK"/serve-*.log | wc -l) lines hold none of $(wc -l < "$secrets") secrets (passwords, AUTH payloads, key material)"
