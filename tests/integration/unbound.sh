# tests/integration/unbound.sh — a private unbound on 127.0.0.1 serving a test zone.
# Source after lib.sh. The zone's records live in $UNBOUND_ZONE (unbound "local-data:"
# lines); add to it and call unbound_restart to serve the new data.
#   unbound_start DOMAIN       start on a free port; sets UNBOUND_PORT, UNBOUND_PID
#   unbound_restart            stop and start again on the same port with the current zone
#   unbound_add_txt NAME TEXT  append a TXT record (split into 255-byte strings)
#   unbound_add_rr RR          append a record in zone-file form ("a.example.test. 300 IN A 192.0.2.1")
#   unbound_add_server LINE    append a line to unbound's server: clause, such as
#                              'local-zone: "refused.test." refuse' (another zone's behaviour)
#   dig_txt NAME               the TXT strings joined, as DKIM verifiers join them
# Peers: unbound, dig (dnsutils). A missing peer fails the test.

for _tool in unbound unbound-checkconf dig; do
  command -v "$_tool" > /dev/null || fail "$_tool not found (scripts/install-deps.sh installs it)"
done

UNBOUND_DIR=$WORK/unbound
UNBOUND_ZONE=$UNBOUND_DIR/zone.conf
UNBOUND_PORT="" UNBOUND_PID="" UNBOUND_DOMAIN=""

# txt_strings TEXT: TEXT as zone-file <character-string>s of at most 255 octets each.
txt_strings() {
  local text=$1 out=""
  while [ -n "$text" ]; do
    out+="${out:+ }\"${text:0:255}\""
    text=${text:255}
  done
  printf '%s' "$out"
}

unbound_add_txt() {
  printf "local-data: '%s. 300 IN TXT %s'\n" "$1" "$(txt_strings "$2")" >> "$UNBOUND_ZONE"
}

unbound_add_rr() {
  printf "local-data: '%s'\n" "$1" >> "$UNBOUND_ZONE"
}

unbound_add_server() {
  printf '%s\n' "$1" >> "$UNBOUND_ZONE"
}

_unbound_write_conf() {
  {
    echo "server:"
    echo "  interface: 127.0.0.1@$UNBOUND_PORT"
    echo "  port: $UNBOUND_PORT"
    echo "  do-ip6: no"
    echo "  num-threads: 1"
    echo "  access-control: 127.0.0.0/8 allow"
    echo "  username: \"\""
    echo "  chroot: \"\""
    echo "  directory: \"$UNBOUND_DIR\""
    echo "  pidfile: \"$UNBOUND_DIR/unbound.pid\""
    echo "  logfile: \"\""
    echo "  use-syslog: no"
    echo "  verbosity: 1"
    echo "  do-not-query-localhost: no"
    echo "  module-config: \"iterator\""
    echo "  local-zone: \"$UNBOUND_DOMAIN.\" static"
    echo "  local-data: '$UNBOUND_DOMAIN. 300 IN SOA ns.$UNBOUND_DOMAIN. hostmaster.$UNBOUND_DOMAIN. 1 3600 600 86400 0'"
    echo "  include: \"$UNBOUND_ZONE\""
    echo "remote-control:"
    echo "  control-enable: no"
  } > "$UNBOUND_DIR/unbound.conf"
  unbound-checkconf "$UNBOUND_DIR/unbound.conf" > "$UNBOUND_DIR/checkconf.out" 2>&1 \
    || { cat "$UNBOUND_DIR/checkconf.out"; fail "unbound-checkconf rejects the test config"; }
}

# _unbound_run: starts unbound on $UNBOUND_PORT; 0 when it answers, 1 if the port is taken.
_unbound_run() {
  local log=$UNBOUND_DIR/unbound.log i
  _unbound_write_conf
  unbound -d -c "$UNBOUND_DIR/unbound.conf" >> "$log" 2>&1 &
  UNBOUND_PID=$!
  track_pid "$UNBOUND_PID"
  for ((i = 0; i < 100; i++)); do
    kill -0 "$UNBOUND_PID" 2> /dev/null || break
    if dig @127.0.0.1 -p "$UNBOUND_PORT" +time=1 +tries=1 SOA "$UNBOUND_DOMAIN" 2> /dev/null | grep -q 'status: NOERROR'; then
      return 0
    fi
    sleep 0.1
  done
  if kill -0 "$UNBOUND_PID" 2> /dev/null; then
    cat "$log"
    fail "unbound runs on port $UNBOUND_PORT but does not answer"
  fi
  grep -qi 'address already in use' "$log" && return 1
  cat "$log"
  fail "unbound did not start"
}

unbound_start() {
  UNBOUND_DOMAIN=$1
  mkdir -p "$UNBOUND_DIR"
  : > "$UNBOUND_ZONE"
  local attempt
  for attempt in 1 2 3 4 5; do
    UNBOUND_PORT=$(free_port)
    [ -n "$UNBOUND_PORT" ] || fail "no free port found on 127.0.0.1"
    _unbound_run && return 0
    echo "port $UNBOUND_PORT was taken; trying another"
  done
  fail "unbound could not bind a port in 5 attempts"
}

unbound_restart() {
  kill "$UNBOUND_PID" 2> /dev/null || true
  wait "$UNBOUND_PID" 2> /dev/null || true
  local i
  for ((i = 0; i < 50; i++)); do
    _unbound_run && return 0
    sleep 0.2  # the old socket may linger briefly
  done
  fail "unbound did not come back on port $UNBOUND_PORT"
}

dig_txt() {
  dig @127.0.0.1 -p "$UNBOUND_PORT" +short +time=2 +tries=2 TXT "$1" | sed -e 's/^"//' -e 's/"$//' -e 's/" "//g'
}
