# tests/integration/submission/abuse.sh — setup shared by the abuse scenarios t5*.sh
# (sourced after ../lib.sh). They drive smtpclient.py, which reads the SP_* variables.
#   abuse_setup   a dev setup in $WORK/dev; sets dev, cfg, PY and the client's SP_* vars
#   abuse_serve   start Signpost on it (tracked); sets log and pid
#   queue_count   how many messages the spool holds
#   abuse_finish  the spool holds nothing yet; a normal submission still works and is the
#                 only message queued; SIGTERM stops the daemon with exit 0
abuse_setup() {
  HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  PY=/usr/bin/python3
  dev=$WORK/dev
  init_dev "$dev"
  cfg=$dev/signpost.toml
  export SP_PORT=$SUBMISSION_PORT SP_TLS_PORT=$SUBMISSIONS_PORT SP_CAFILE=$dev/tls/cert.pem SP_USER=dev \
    SP_PASSWORD=$DEV_PASSWORD PYTHONPATH=$HERE PYTHONDONTWRITEBYTECODE=1
}

abuse_serve() {
  log=$WORK/serve.log
  "$SIGNPOST" serve --config "$cfg" > "$log" 2>&1 &
  pid=$!
  track_pid $pid
  wait_for_log "$log" 'ready'
}

queue_count() {
  "$SIGNPOST" queue list --config "$cfg" --json | "$PY" -c 'import json, sys; print(len(json.load(sys.stdin)))'
}

abuse_finish() {
  "$PY" "$HERE/smtpclient.py" submit --port "$SUBMISSION_PORT" --cafile "$SP_CAFILE" --password "$DEV_PASSWORD" \
    > "$WORK/final.out" || fail "a normal submission failed afterwards: $(cat "$WORK/final.out")"
  [ "$(queue_count)" = 1 ] || fail "the normal submission was not queued"
  pass "a normal submission still works: $(cat "$WORK/final.out")"
  kill -TERM "$pid"
  wait_exit "$pid" 10
  [ "$EXIT_CODE" = 0 ] || fail "serve exited $EXIT_CODE on SIGTERM"
}
