# tests/integration/inbound/common.sh — the home server of the inbound scenarios (sourced
# after ../lib.sh).
#   home_setup         a self-signed certificate for nas.home.example in $HOME_DIR
#                      ($WORK/home); sets FP (its SHA-256 fingerprint, as openssl prints it,
#                      for deliver_fingerprint) and HOME_PORT (a free port)
#   home_start         the aiosmtpd sink (lib/smtp_sink.py) on 127.0.0.1:$HOME_PORT with
#                      STARTTLS required, storing messages in $HOME_DIR/store and logging to
#                      $HOME_DIR/sink.log; sets HOME_PID. Call again to bring it back.
PY=/usr/bin/python3
SINK_PY="$SIGNPOST_SOURCE_DIR/tests/integration/lib/smtp_sink.py"
"$PY" -c 'import aiosmtpd' 2> /dev/null || fail "python3-aiosmtpd is not installed (scripts/install-deps.sh)"

home_setup() {
  HOME_DIR=$WORK/home
  mkdir -p "$HOME_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=nas.home.example" \
    -keyout "$HOME_DIR/key.pem" -out "$HOME_DIR/cert.pem" 2> /dev/null || fail "openssl: home certificate"
  FP=$(openssl x509 -noout -fingerprint -sha256 -in "$HOME_DIR/cert.pem" | sed 's/^.*=//')
  [[ $FP =~ ^([0-9A-F]{2}:){31}[0-9A-F]{2}$ ]] || fail "unexpected fingerprint form: $FP"
  HOME_PORT=$(free_port)
}

home_start() {
  "$PY" "$SINK_PY" --port "$HOME_PORT" --tls-cert "$HOME_DIR/cert.pem" --tls-key "$HOME_DIR/key.pem" \
    --store "$HOME_DIR/store" --log "$HOME_DIR/sink.log" > "$HOME_DIR/out" 2>&1 &
  HOME_PID=$!
  track_pid "$HOME_PID"
  wait_for_log "$HOME_DIR/out" "^READY $HOME_PORT\$" 20
}
