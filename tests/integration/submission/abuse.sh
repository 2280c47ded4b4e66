# tests/integration/submission/abuse.sh — setup shared by the abuse scenarios t5*.sh
# (sourced after ../lib.sh). They drive smtpclient.py, which reads the SP_* variables.
# The dev setup delivers in capture mode: an accepted message is committed to the spool
# before its "250 queued", then written to $dev/outbox as <id>.eml + <id>.envelope and
# removed from the spool within milliseconds. So "accepted" is counted over both places.
#   abuse_setup   a dev setup in $WORK/dev; sets dev, cfg, outbox, PY and the client's SP_* vars
#   abuse_serve   start Signpost on it (tracked); sets log and pid
#   accepted_ids  every message ever accepted, one id a line (sorted, unique): the union of
#                 `queue list --json` (still spooled), outbox/*.eml (delivered) and the
#                 daemon log's "queued ID:" lines. The spool is listed before the outbox is
#                 read and capture writes the .eml before the spool copy goes, so a message
#                 in transit is never missed; the log line is written before the 250 reply,
#                 so a message accepted by mistake counts even without any wait
#   accepted_count
#                 how many messages were accepted (accepted_ids | wc -l)
#   queue_count   the same (older name, kept for callers)
#   wait_outbox ID [SECONDS]
#                 waits (default 10 s) until ID was delivered to the outbox (ID.eml)
#   abuse_finish  a normal submission still works, is delivered to the outbox, and is the
#                 only message accepted; SIGTERM stops the daemon with exit 0
abuse_setup() {
  HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  PY=/usr/bin/python3
  dev=$WORK/dev
  init_dev "$dev"
  cfg=$dev/signpost.toml
  outbox=$dev/outbox
  export SP_PORT=$SUBMISSION_PORT SP_TLS_PORT=$SUBMISSIONS_PORT SP_CAFILE=$dev/tls/cert.pem SP_USER=dev \
    SP_PASSWORD=$DEV_PASSWORD PYTHONPATH=$HERE PYTHONDONTWRITEBYTECODE=1
}

abuse_serve() {
  log=$WORK/serve.log
  # Emptied here, not by the redirection below: that one happens in the background job, maybe
  # after wait_for_log has already read an earlier run's "ready".
  : > "$log"
  "$SIGNPOST" serve --config "$cfg" >> "$log" 2>&1 &
  pid=$!
  track_pid $pid
  wait_for_log "$log" 'ready'
}

accepted_ids() {
  # A failure here prints a line that is no queue id, so no count or comparison can pass.
  local spooled f
  if ! spooled=$("$SIGNPOST" queue list --config "$cfg" --json 2>&1); then
    echo "queue list failed: $spooled" >&2
    echo "QUEUE-LIST-FAILED"
    return 0
  fi
  {
    printf '%s' "$spooled" | "$PY" -c 'import json, sys; print("".join(e["id"] + "\n" for e in json.load(sys.stdin)), end="")' \
      || { echo "queue list --json is not a list of messages: $spooled" >&2; echo "QUEUE-LIST-UNREADABLE"; }
    for f in "$outbox"/*.eml; do
      if [ -e "$f" ]; then basename "$f" .eml; fi
    done
    sed -nE 's/.* queued ([0-9A-Z]+): from=.*/\1/p' "$log"
  } | sort -u
}

accepted_count() {
  local ids
  ids=$(accepted_ids)
  if [ -z "$ids" ]; then echo 0; else echo "$ids" | wc -l; fi
}

queue_count() { accepted_count; }

wait_outbox() {
  local id=$1 limit=${2:-10} i
  for ((i = 0; i < limit * 10; i++)); do
    [ -f "$outbox/$id.eml" ] && return 0
    sleep 0.1
  done
  echo "--- $log:"; cat "$log"
  fail "$id was not delivered to $outbox/$id.eml within ${limit}s"
}

abuse_finish() {
  "$PY" "$HERE/smtpclient.py" submit --port "$SUBMISSION_PORT" --cafile "$SP_CAFILE" --password "$DEV_PASSWORD" \
    > "$WORK/final.out" || fail "a normal submission failed afterwards: $(cat "$WORK/final.out")"
  local id
  id=$(tr -d '\r' < "$WORK/final.out" | grep -oE 'queued as [0-9A-Z]+' | awk '{print $3}')
  [ -n "$id" ] || fail "no queue id in the reply: $(cat "$WORK/final.out")"
  wait_outbox "$id"
  [ "$(accepted_ids)" = "$id" ] || fail "the normal submission $id is not the only message accepted: $(accepted_ids | tr '\n' ' ')"
  pass "a normal submission still works: $(cat "$WORK/final.out")"
  kill -TERM "$pid"
  wait_exit "$pid" 10
  [ "$EXIT_CODE" = 0 ] || fail "serve exited $EXIT_CODE on SIGTERM"
}
