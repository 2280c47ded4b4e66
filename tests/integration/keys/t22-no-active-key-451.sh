#!/usr/bin/env bash
# t22: a domain whose first key is not active yet. The daemon generates pending keys; a
# message from that domain is refused with "451 4.7.0" naming the record to publish
# (temporary: the client keeps it and retries), nothing is queued or delivered; after
# `signpost keys activate --now` and SIGHUP the same message is accepted, signed and
# delivered (the dev setup captures it to outbox/ID.eml).
source "$(dirname "$0")/../lib.sh"

dev=$WORK/dev
init_dev "$dev"
cfg=$dev/signpost.toml
sed -i 's|^dir = "keys"$|dir = "keys-new"|' "$cfg"
# DNS that answers nothing (a closed port): the pending records can never be seen.
printf '\n[dns]\nforwarders = ["127.0.0.1@%s"]\n' "$(free_port)" >> "$cfg"
log=$WORK/serve.log
"$SIGNPOST" serve --config "$cfg" > "$log" 2>&1 &
spid=$!
track_pid "$spid"
wait_for_log "$log" 'ready'
wait_for_log "$log" 'new ed25519 key sp[0-9-]+a is pending'

submit() {  # submit OUT: one message from alice@example.test over STARTTLS + AUTH PLAIN
  swaks --server "127.0.0.1:$SUBMISSION_PORT" --tls --auth PLAIN --auth-user dev --auth-password "$DEV_PASSWORD" \
    --from alice@example.test --to bob@example.org --header "Subject: t22" > "$1" 2>&1 || true
}
submit "$WORK/first.out"
reply=$(grep -E '^<[~*]+ +4[0-9]{2} ' "$WORK/first.out" | tail -n 1 | sed -E 's/^<[~*]+ *//')
[[ $reply == "451 4.7.0 No DKIM key for example.test is active yet: publish the TXT record sp"*"._domainkey.example.test and sp"*"._domainkey.example.test (signpost keys dns); try again later" ]] \
  || { cat "$WORK/first.out"; fail "want 451 4.7.0 naming the records, got: $reply"; }
# Nothing accepted: no "queued" log line (written before any 250), nothing in the spool,
# nothing delivered to the outbox (the dev setup captures accepted mail there).
grep -E ' queued [0-9A-Z]+: ' "$log" && fail "something was queued"
[ "$("$SIGNPOST" queue list --config "$cfg" --json | tr -d ' \n')" = "[]" ] \
  || fail "something is in the queue: $("$SIGNPOST" queue list --config "$cfg")"
[ -z "$(ls -A "$dev/outbox")" ] || fail "something was delivered to the outbox: $(ls "$dev/outbox")"
pass "no active key: $reply"

"$SIGNPOST" keys activate --now --config "$cfg" --domain example.test > "$WORK/activate.out" 2> "$WORK/activate.err" \
  || { cat "$WORK/activate.out" "$WORK/activate.err"; fail "keys activate --now failed"; }
grep -q 'WARNING: activating without checking DNS' "$WORK/activate.err" || fail "no warning for --now"
kill -HUP "$spid"
ok=""
for ((i = 0; i < 30; i++)); do
  submit "$WORK/second.out"
  if grep -q '^<~  250 2.0.0 Ok: queued as' "$WORK/second.out"; then ok=1; break; fi
  sleep 0.2
done
[ -n "$ok" ] || { cat "$WORK/second.out"; fail "still refused after keys activate --now + SIGHUP"; }
id=$(grep -o 'queued as [0-9A-Z]*' "$WORK/second.out" | awk '{print $3}')
for ((i = 0; i < 100; i++)); do
  [ -f "$dev/outbox/$id.eml" ] && break
  sleep 0.1
done
[ -f "$dev/outbox/$id.eml" ] || { cat "$log"; fail "the accepted message $id was not delivered to the outbox within 10s"; }
grep -c '^DKIM-Signature:' "$dev/outbox/$id.eml" | grep -qx 2 || fail "the accepted message is not dual-signed"
pass "after keys activate --now and SIGHUP the message is accepted and signed ($id)"
