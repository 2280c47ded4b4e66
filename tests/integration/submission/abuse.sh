# tests/integration/submission/abuse.sh — setup shared by the abuse scenarios t5*.sh
# (sourced after ../lib.sh). They drive smtpclient.py, which reads the SP_* variables.
#   abuse_setup   a dev setup in $WORK/dev; sets dev, cfg, PY and the client's SP_* vars
#   abuse_serve   start Signpost on it (tracked); sets log and pid
#   queue_count   how many messages the spool holds
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
