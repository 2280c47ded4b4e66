#!/usr/bin/env bash
# t05: the Prometheus endpoint ([metrics] listen). Three messages are submitted with swaks
# (STARTTLS + AUTH PLAIN) and one is refused at MAIL FROM (a sender the dev user may not
# use: 550 5.7.1); once the three are delivered (capture mode: outbox/ID.eml), /metrics
# must pass `promtool check metrics` and count exactly that: connections, AUTH results,
# accepted/refused messages, DKIM signatures per domain and algorithm, delivered
# recipients, an empty queue, and the build info.
source "$(dirname "$0")/../lib.sh"

command -v swaks > /dev/null || fail "swaks is not installed (scripts/install-deps.sh)"
command -v promtool > /dev/null || fail "promtool is not installed (package prometheus; scripts/install-deps.sh)"
command -v curl > /dev/null || fail "curl is not installed (scripts/install-deps.sh)"

dev=$WORK/dev
serve_dev "$dev"

# sw NAME ARGS...: swaks over STARTTLS with AUTH PLAIN as dev; transcript in $WORK/NAME.txt,
# exit status in $RC.
sw() {
  local name=$1
  shift
  RC=0
  timeout 30 swaks --server "127.0.0.1:$SUBMISSION_PORT" --tls --tls-verify --tls-ca-path "$dev/tls/cert.pem" \
    --auth PLAIN --auth-user dev --auth-password "$DEV_PASSWORD" --ehlo client.test --timeout 10 \
    "$@" > "$WORK/$name.txt" 2>&1 || RC=$?
}

for i in 1 2 3; do
  sw "ok-$i" --from dev@example.test --to "rcpt$i@example.org"
  [ "$RC" = 0 ] || { cat "$WORK/ok-$i.txt"; fail "message $i: swaks exited $RC"; }
  grep -q '^<~  250 2\.0\.0 Ok: queued as ' "$WORK/ok-$i.txt" || { cat "$WORK/ok-$i.txt"; fail "message $i not queued"; }
done
sw refused --from intruder@elsewhere.test --to rcpt4@example.org
[ "$RC" != 0 ] || fail "a sender the dev user may not use was accepted"
grep -q '^<~\* 550 5\.7\.1 ' "$WORK/refused.txt" || { cat "$WORK/refused.txt"; fail "the refused sender got no 550 5.7.1"; }
pass "3 messages accepted, 1 refused at MAIL FROM"

for ((i = 0; i < 100; i++)); do
  [ "$(find "$dev/outbox" -name '*.eml' | wc -l)" -ge 3 ] && break
  sleep 0.1
done
[ "$(find "$dev/outbox" -name '*.eml' | wc -l)" = 3 ] || { cat "$LOG"; fail "the 3 messages were not delivered to the outbox"; }

# value SERIES: the sample value of one series exactly as exposed (labels sorted by name),
# rounded to an integer; empty when the series is absent.
value() { awk -v s="$1" '$1 == s { printf "%.0f\n", $2 }' "$WORK/metrics.txt"; }
scrape() { curl -sSf "http://127.0.0.1:$METRICS_PORT/metrics" > "$WORK/metrics.txt" || fail "cannot scrape /metrics"; }

# The queue state is settled on disk just after the capture file appears: wait for it.
for ((i = 0; i < 100; i++)); do
  scrape
  [ "$(value 'signpost_queue_messages')" = 0 ] && [ "$(value 'signpost_delivery_recipients_total{result="delivered"}')" = 3 ] && break
  sleep 0.1
done

promtool check metrics < "$WORK/metrics.txt" > "$WORK/promtool.txt" 2>&1 \
  || { cat "$WORK/promtool.txt"; fail "promtool check metrics found problems"; }
pass "promtool check metrics accepts the exposition"

# expect SERIES OP N: the series' value compared with N (OP: -eq, -ge).
expect() {
  local v
  v=$(value "$1")
  [ -n "$v" ] || { grep '^signpost_' "$WORK/metrics.txt"; fail "$1 is not exposed"; }
  [ "$v" "$2" "$3" ] || { grep '^signpost_' "$WORK/metrics.txt"; fail "$1 is $v, want $2 $3"; }
}
expect 'signpost_messages_accepted_total' -eq 3
expect 'signpost_messages_rejected_total{reason="sender_not_allowed"}' -eq 1
expect 'signpost_messages_rejected_total{reason="no_key"}' -eq 0
expect 'signpost_auth_attempts_total{mechanism="PLAIN",result="ok"}' -eq 4
expect 'signpost_auth_attempts_total{mechanism="PLAIN",result="failed"}' -eq 0
expect 'signpost_messages_signed_total{algorithm="ed25519",domain="example.test"}' -eq 3
expect 'signpost_messages_signed_total{algorithm="rsa",domain="example.test"}' -eq 3
expect 'signpost_delivery_recipients_total{result="delivered"}' -eq 3
expect 'signpost_delivery_recipients_total{result="bounced"}' -eq 0
expect 'signpost_delivery_latency_seconds_count' -eq 3
expect 'signpost_queue_messages' -eq 0
expect 'signpost_queue_oldest_message_age_seconds' -eq 0
expect 'signpost_connections_total{listener="submission",tls="starttls"}' -ge 4
expect 'signpost_connections_total{listener="submissions",tls="implicit"}' -eq 0
expect 'signpost_received_bytes_total' -ge 300
# The RSA signatures' halves offered to the spare thread (two or more cores): the counts are
# brought up to date every 2 s, and the first signature's half is always offered.
if [ "$(nproc)" -ge 2 ]; then
  for ((i = 0; i < 40; i++)); do
    scrape
    [ $(($(value 'signpost_dkim_rsa_split_total{result="spare"}') + $(value 'signpost_dkim_rsa_split_total{result="taken_back"}'))) -ge 1 ] && break
    sleep 0.1
  done
  split=$(($(value 'signpost_dkim_rsa_split_total{result="spare"}') + $(value 'signpost_dkim_rsa_split_total{result="taken_back"}')))
  [ "$split" -ge 1 ] && [ "$split" -le 3 ] || { grep '^signpost_dkim_rsa' "$WORK/metrics.txt"; fail "split RSA signatures: $split, want 1 to 3"; }
  expect 'signpost_dkim_rsa_split_total{result="failed"}' -eq 0
fi
expect 'signpost_build_info{version="'"$("$SIGNPOST" version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n1)"'"}' -eq 1
expect 'signpost_process_start_time_seconds' -ge "$(($(date +%s) - 600))"
pass "the counters match what was submitted and delivered"

# No label carries what a client sent (user names, addresses, EHLO names).
if grep -E '^signpost_' "$WORK/metrics.txt" | grep -oE '"[^"]*"' | grep -qE 'dev|intruder|elsewhere|rcpt[0-9]|client\.test'; then
  grep -E '^signpost_' "$WORK/metrics.txt"
  fail "a client-supplied string appears in a metric"
fi
pass "no client-supplied string in any label"

kill -TERM "$SPID"
wait_exit "$SPID" 10
[ "$EXIT_CODE" = 0 ] || { cat "$LOG"; fail "serve exited $EXIT_CODE"; }
