# tests/integration/dnssec.sh — a DNSSEC-signed DNS test world on 127.0.0.1: NSD serves a
# signed "test root" zone `test.` and child zones delegated from it, signed (or not, or
# badly) with ldns-keygen / ldns-signzone. Source after lib.sh. Everything lives under
# $WORK/dnssec; NSD runs in the foreground (tracked with track_pid) on a free port.
#   dnssec_zone NAME MODE   declare the child zone NAME (e.g. dane.test), delegated from
#                           test. (NS ns.test.), in MODE (below). Not nested in another
#                           child zone. `test` itself is always there and always signed.
#   dnssec_rr ZONE RR       append a zone-file RR with an absolute owner name inside ZONE
#                           ("mx.dane.test. 300 IN A 127.0.0.31"; ZONE `test` for test.
#                           itself). Any type ldns knows: A, AAAA, MX, TXT, CNAME, TLSA...
#   dnssec_start            generate the keys (once per zone), sign every zone (children
#                           first, so the DS records in test. are the children's), write the
#                           NSD config and start NSD; returns once it serves every zone.
#                           Sets DNSSEC_PORT, DNSSEC_PID and DNSSEC_ANCHOR (a trust-anchor
#                           file for test.: one zone-file DS line, which unbound's
#                           trust-anchor-file: and libunbound's ub_ctx_add_ta_file accept).
#   dnssec_reload           re-sign every zone with the current records (SOA serials go up)
#                           and have NSD serve them: SIGHUP (NSD re-reads changed zone
#                           files), or a restart on the same port when zones were declared
#                           after dnssec_start (NSD reads new zones from its config only at
#                           start). Returns once every zone is served with the new serial.
# Modes (each zone: SOA and NS ns.test. at its apex, TTLs 300, negative TTL 60):
#   signed    own KSK and ZSK; the KSK's DS is in test.              -> secure
#   unsigned  NS in test. but no DS; test.'s NSEC proves there is none -> insecure
#   bogus     signed like `signed` (DS in test., the DNSKEY RRset validates), then the
#             signature of every other RRSIG has one base64 character changed -> bogus
#             ("signature crypto failed"; EDE 6 DNSSEC Bogus)
#   expired   DS in test.; signed with a validity window entirely in the past (ldns-signzone
#             -i now-14d -e now-2d), the DNSKEY RRSIG included  -> bogus ("signature
#             expired"; EDE 7 Signature Expired)
# test., signed and bogus zones are signed valid from an hour ago to 10 days ahead, at the
# time of each dnssec_start / dnssec_reload, so a run never depends on the date.
# Algorithm ECDSAP256SHA256 (13), DS digest SHA-256; authenticated denial with NSEC.
# A validating consumer forwards to 127.0.0.1@$DNSSEC_PORT (do-not-query-localhost: no,
# local-zone: "test." transparent, trust anchor $DNSSEC_ANCHOR): NSD answers DS queries from
# the parent zone and everything else from the child, so forwarding validates the chain.
# Mind a consumer's cache across dnssec_reload: NSEC records live 60 s, and unbound's
# aggressive-nsec (on by default, in libunbound too) answers a name added since with NXDOMAIN
# from a cached NSEC; with cache-max-ttl: 0 such a record still served within the second.
# Peers: nsd (nsd, nsd-checkconf, nsd-checkzone), ldnsutils (ldns-keygen, ldns-signzone),
# dig (dnsutils). A missing peer fails the test.

for _tool in nsd nsd-checkconf nsd-checkzone ldns-keygen ldns-signzone dig; do
  command -v "$_tool" > /dev/null || fail "$_tool not found (scripts/install-deps.sh installs it)"
done

DNSSEC_DIR=$WORK/dnssec
DNSSEC_PORT="" DNSSEC_PID="" DNSSEC_ANCHOR=""
declare -gA _dnssec_mode=([test]=root)  # zone (no trailing dot) -> mode
_dnssec_zones=(test)                      # test first; children in declaration order
_dnssec_serial=0
_dnssec_started_zones=""                  # the zone list NSD's config was written with
mkdir -p "$DNSSEC_DIR/keys" "$DNSSEC_DIR/zones" "$DNSSEC_DIR/nsd"
: > "$DNSSEC_DIR/zones/test.rr"

dnssec_zone() {
  local name=${1%.} mode=$2 z
  name=${name,,}
  case "$mode" in signed | unsigned | bogus | expired) ;; *) fail "dnssec_zone $name: unknown mode '$mode'" ;; esac
  [[ $name == *?.test && $name != *..* ]] || fail "dnssec_zone: $name is not a name under test."
  [ -z "${_dnssec_mode[$name]:-}" ] || fail "dnssec_zone: $name declared twice"
  for z in "${_dnssec_zones[@]}"; do
    [ "$z" = test ] && continue
    [[ $name == *".$z" || $z == *".$name" ]] && fail "dnssec_zone: $name and $z nest (only children of test. are supported)"
  done
  _dnssec_mode[$name]=$mode
  _dnssec_zones+=("$name")
  : > "$DNSSEC_DIR/zones/$name.rr"
}

dnssec_rr() {
  local zone=${1%.} rr=$2 owner
  zone=${zone,,}
  [ -n "${_dnssec_mode[$zone]:-}" ] || fail "dnssec_rr: no zone $zone (dnssec_zone first)"
  owner=$(awk '{ print tolower($1) }' <<< "$rr")
  [[ $owner == "$zone." || $owner == *".$zone." ]] || fail "dnssec_rr $zone: owner $owner is not an absolute name in $zone."
  printf '%s\n' "$rr" >> "$DNSSEC_DIR/zones/$zone.rr"
}

# _dnssec_keys ZONE: a KSK and a ZSK for ZONE in keys/ZONE/ (made once); their base names
# in keys/ZONE/ksk and keys/ZONE/zsk.
_dnssec_keys() {
  local dir=$DNSSEC_DIR/keys/$1 base
  [ -s "$dir/ksk" ] && [ -s "$dir/zsk" ] && return 0
  mkdir -p "$dir"
  base=$(cd "$dir" && ldns-keygen -a ECDSAP256SHA256 -k "$1.") || fail "ldns-keygen: KSK for $1."
  echo "$dir/$base" > "$dir/ksk"
  base=$(cd "$dir" && ldns-keygen -a ECDSAP256SHA256 "$1.") || fail "ldns-keygen: ZSK for $1."
  echo "$dir/$base" > "$dir/zsk"
}

# _dnssec_ds ZONE TTL: the DS record of ZONE's KSK, in zone-file form with TTL.
_dnssec_ds() {
  awk -v ttl="$2" '$3 == "DS" { print $1, ttl, "IN", "DS", $4, $5, $6, $7 }' "$(cat "$DNSSEC_DIR/keys/$1/ksk").ds"
}

# _dnssec_sign ZONE INCEPTION EXPIRATION: zones/ZONE.zone signed into zones/ZONE.signed.
_dnssec_sign() {
  local zone=$1 out=$DNSSEC_DIR/zones/$1.signed
  ldns-signzone -i "$2" -e "$3" -f "$out" "$DNSSEC_DIR/zones/$zone.zone" \
    "$(cat "$DNSSEC_DIR/keys/$zone/ksk")" "$(cat "$DNSSEC_DIR/keys/$zone/zsk")" \
    > "$DNSSEC_DIR/zones/$zone.sign.log" 2>&1 \
    || { cat "$DNSSEC_DIR/zones/$zone.sign.log"; fail "ldns-signzone failed for $zone."; }
}

# _dnssec_build: the zone files and keys for every zone, signed, and the NSD config.
_dnssec_build() {
  local zone mode now zones=$DNSSEC_DIR/zones
  now=$(date +%s)
  _dnssec_serial=$((_dnssec_serial + 1))
  for zone in "${_dnssec_zones[@]}"; do
    mode=${_dnssec_mode[$zone]}
    [ "$mode" = unsigned ] || _dnssec_keys "$zone"
  done
  # children first: test. carries their DS records
  for zone in "${_dnssec_zones[@]:1}" test; do
    mode=${_dnssec_mode[$zone]}
    {
      echo "\$TTL 300"
      echo "$zone. 300 IN SOA ns.test. hostmaster.$zone. $_dnssec_serial 3600 600 86400 60"
      echo "$zone. 300 IN NS ns.test."
      if [ "$zone" = test ]; then
        echo "ns.test. 300 IN A 127.0.0.1"
        local child
        for child in "${_dnssec_zones[@]:1}"; do
          echo "$child. 300 IN NS ns.test."
          [ "${_dnssec_mode[$child]}" = unsigned ] || _dnssec_ds "$child" 300
        done
      fi
      cat "$zones/$zone.rr"
    } > "$zones/$zone.zone"
    case "$mode" in
      unsigned) cp "$zones/$zone.zone" "$zones/$zone.signed" ;;
      expired) _dnssec_sign "$zone" $((now - 14 * 86400)) $((now - 2 * 86400)) ;;
      *) _dnssec_sign "$zone" $((now - 3600)) $((now + 10 * 86400)) ;;
    esac
    if [ "$mode" = bogus ]; then
      # one base64 character of each signature changed; the DNSKEY RRset's RRSIG kept, so
      # the DS -> DNSKEY step validates and the data fails on its own signatures
      awk '$4 == "RRSIG" && $5 != "DNSKEY" {
             c = substr($NF, 10, 1); $NF = substr($NF, 1, 9) (c == "A" ? "B" : "A") substr($NF, 11)
           } { print }' "$zones/$zone.signed" > "$zones/$zone.bogus" \
        && mv "$zones/$zone.bogus" "$zones/$zone.signed"
    fi
    nsd-checkzone "$zone." "$zones/$zone.signed" > "$zones/$zone.check" 2>&1 \
      || { cat "$zones/$zone.check"; fail "NSD rejects zone $zone. ($zones/$zone.zone)"; }
  done
  _dnssec_write_conf
}

_dnssec_write_conf() {
  local d=$DNSSEC_DIR/nsd zone
  {
    echo "server:"
    echo "  ip-address: 127.0.0.1@$DNSSEC_PORT"
    echo "  port: $DNSSEC_PORT"
    echo "  do-ip4: yes"
    echo "  do-ip6: no"
    echo "  server-count: 1"
    echo "  username: \"\""
    echo "  chroot: \"\""
    echo "  zonesdir: \"$DNSSEC_DIR/zones\""
    echo "  database: \"\""
    echo "  pidfile: \"$d/nsd.pid\""
    echo "  xfrdfile: \"$d/xfrd.state\""
    echo "  xfrdir: \"$d\""
    echo "  zonelistfile: \"$d/zone.list\""
    echo "  logfile: \"$d/nsd.log\""
    echo "  verbosity: 1"
    echo "  hide-version: yes"
    echo "remote-control:"
    echo "  control-enable: no"
    for zone in "${_dnssec_zones[@]}"; do
      echo "zone:"
      echo "  name: \"$zone.\""
      echo "  zonefile: \"$zone.signed\""
    done
  } > "$d/nsd.conf"
  nsd-checkconf "$d/nsd.conf" > "$d/checkconf.out" 2>&1 \
    || { cat "$d/checkconf.out"; fail "nsd-checkconf rejects the test config"; }
}

# _dnssec_serving SECONDS: waits until NSD answers every zone's SOA with the current serial.
_dnssec_serving() {
  local limit=$1 i zone serial ok
  for ((i = 0; i < limit * 10; i++)); do
    pid_running "$DNSSEC_PID" || return 1
    ok=1
    for zone in "${_dnssec_zones[@]}"; do
      serial=$(dig @127.0.0.1 -p "$DNSSEC_PORT" +norec +short +time=1 +tries=1 SOA "$zone." 2> /dev/null \
        | awk '{ print $3 }') || true
      [ "$serial" = "$_dnssec_serial" ] || { ok=0; break; }
    done
    [ "$ok" = 1 ] && return 0
    sleep 0.1
  done
  return 2
}

# _dnssec_run: starts NSD on $DNSSEC_PORT with the config written; 0 when it serves every
# zone, 1 if the port is taken.
_dnssec_run() {
  local d=$DNSSEC_DIR/nsd rc=0
  : > "$d/nsd.out"
  : > "$d/nsd.log"
  nsd -d -c "$d/nsd.conf" >> "$d/nsd.out" 2>&1 &
  DNSSEC_PID=$!
  track_pid "$DNSSEC_PID"
  _dnssec_started_zones="${_dnssec_zones[*]}"
  _dnssec_serving 15 || rc=$?
  [ "$rc" = 0 ] && return 0
  if [ "$rc" = 2 ]; then
    cat "$d/nsd.out" "$d/nsd.log" 2> /dev/null || true
    fail "NSD runs on port $DNSSEC_PORT but does not serve every zone with serial $_dnssec_serial"
  fi
  wait "$DNSSEC_PID" 2> /dev/null || true
  grep -qi 'address already in use' "$d/nsd.out" "$d/nsd.log" 2> /dev/null && return 1
  cat "$d/nsd.out" "$d/nsd.log" 2> /dev/null || true
  fail "NSD did not start"
}

# _dnssec_stop: stops NSD (its children follow the first process) and waits for it.
_dnssec_stop() {
  local i
  kill "$DNSSEC_PID" 2> /dev/null || true
  for ((i = 0; i < 100; i++)); do
    pid_running "$DNSSEC_PID" || break
    sleep 0.1
  done
  pid_running "$DNSSEC_PID" && kill -9 "$DNSSEC_PID" 2> /dev/null
  wait "$DNSSEC_PID" 2> /dev/null || true
}

dnssec_start() {
  [ -z "$DNSSEC_PID" ] || fail "dnssec_start: already started (dnssec_reload serves new records)"
  local attempt
  for attempt in 1 2 3 4 5; do
    DNSSEC_PORT=$(free_port)
    [ -n "$DNSSEC_PORT" ] || fail "no free port found on 127.0.0.1"
    _dnssec_build
    DNSSEC_ANCHOR=$DNSSEC_DIR/test.anchor
    _dnssec_ds test 3600 > "$DNSSEC_ANCHOR"
    _dnssec_run && return 0
    echo "port $DNSSEC_PORT was taken (attempt $attempt of 5); trying another"
  done
  fail "NSD could not bind a port in 5 attempts"
}

dnssec_reload() {
  [ -n "$DNSSEC_PID" ] || fail "dnssec_reload before dnssec_start"
  _dnssec_build
  local rc=0 i
  if [ "${_dnssec_zones[*]}" = "$_dnssec_started_zones" ]; then
    kill -HUP "$DNSSEC_PID" 2> /dev/null || fail "NSD (pid $DNSSEC_PID) is not running"
    _dnssec_serving 15 || rc=$?
    [ "$rc" = 0 ] && return 0
    cat "$DNSSEC_DIR/nsd/nsd.out" "$DNSSEC_DIR/nsd/nsd.log" 2> /dev/null || true
    fail "NSD does not serve serial $_dnssec_serial after SIGHUP"
  fi
  _dnssec_stop
  for ((i = 0; i < 50; i++)); do
    _dnssec_run && return 0
    sleep 0.2  # the old sockets may linger briefly
  done
  fail "NSD did not come back on port $DNSSEC_PORT"
}
