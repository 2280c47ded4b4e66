# tests/integration/inbound/common.sh — the home server of the inbound scenarios (sourced
# after ../lib.sh).
#   home_setup         a self-signed certificate for nas.home.example in $HOME_DIR
#                      ($WORK/home); sets FP (its SHA-256 fingerprint, as openssl prints it,
#                      for deliver_fingerprint) and HOME_PORT (a free port)
#   home_start         the aiosmtpd sink (lib/smtp_sink.py) on 127.0.0.1:$HOME_PORT with
#                      STARTTLS required, storing messages in $HOME_DIR/store and logging to
#                      $HOME_DIR/sink.log; sets HOME_PID. Call again to bring it back.
#   sender_dns_start   the test's unbound (../unbound.sh) serving the "example." zone, with
#                      sender.example's SPF (all of 127.0.0.0/8) and DMARC (p=none) records
#   home_mx_config CFG [LINE...]
#                      appends to CFG an MX listener on 127.0.0.1:$MX_PORT and [[inbound]]
#                      home.example (recipient alice, forwarded to the home server pinned by
#                      $FP) with the extra [[inbound]] LINEs, and [dns] forwarding to the
#                      test's unbound when $UNBOUND_PORT is set
#   mx_serve CFG       check-config, then `signpost serve` in the background (tracked), logging
#                      to $WORK/serve.log; returns once it is ready with the MX listener on
#                      127.0.0.1:$MX_PORT. Sets LOG and SPID.
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

home_mx_config() {
  local cfg=$1 line
  shift
  {
    printf '\n[[listener]]\naddress = "127.0.0.1:%s"\nkind = "mx"\n' "$MX_PORT"
    printf '\n[[inbound]]\ndomain = "home.example"\nrecipients = ["alice"]\n'
    printf 'deliver_to = "127.0.0.1:%s"\ndeliver_fingerprint = "%s"\n' "$HOME_PORT" "$FP"
    for line in "$@"; do printf '%s\n' "$line"; done
    [ -z "${UNBOUND_PORT:-}" ] || printf '\n[dns]\nforwarders = ["127.0.0.1@%s"]\ntimeout = "3s"\n' "$UNBOUND_PORT"
  } >> "$cfg"
}

mx_serve() {
  "$SIGNPOST" check-config --config "$1" > "$WORK/check.out" 2>&1 || { cat "$WORK/check.out"; fail "check-config refused the MX config"; }
  LOG=$WORK/serve.log
  : > "$LOG"
  "$SIGNPOST" serve --config "$1" >> "$LOG" 2>&1 &
  SPID=$!
  track_pid "$SPID"
  wait_for_log "$LOG" 'ready'
  grep -qF "listening on 127.0.0.1:$MX_PORT (mx-$MX_PORT, starttls, mx)" "$LOG" || { cat "$LOG"; fail "no MX listener in the log"; }
}

sender_dns_start() {
  unbound_start example
  unbound_add_txt sender.example "v=spf1 ip4:127.0.0.0/8 -all"
  unbound_add_txt _dmarc.sender.example "v=DMARC1; p=none"
  unbound_restart
}
