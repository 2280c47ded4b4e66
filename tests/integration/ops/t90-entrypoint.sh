#!/usr/bin/env bash
# t90: the container entry point (docker/entrypoint.sh), run here as the current user with
# every directory and port moved into $WORK by its SIGNPOST_* variables:
#   1. SIGNPOST_ENTRYPOINT_DRY_RUN=1 with users from SIGNPOST_USERS and SIGNPOST_USERS_FILE,
#      smarthost delivery with credentials: the written configuration passes
#      `signpost check-config`, the users exist with their passwords and senders, every
#      domain has pending DKIM keys whose records (`signpost keys dns`) are in the output,
#      a self-signed certificate is made with a loud warning, the credentials file is 0600,
#      and the serve command is printed instead of run;
#   2. a second run changes no file (content, mode, mtime) and generates nothing;
#   3. `signpost ...`, signpost subcommands and other commands pass through;
#   4. a configuration without the entry point's marker line is used as mounted, untouched;
#   5. bad settings (smarthost without SIGNPOST_SMARTHOST, no hostname or domains, a bad user
#      entry, port, address) fail with every problem named and nothing written;
#   6. the same setup started for real (keys activated with `keys activate --now`): one
#      message per listener (STARTTLS as a SIGNPOST_USERS user, implicit TLS as a
#      SIGNPOST_USERS_FILE user) reaches an aiosmtpd smarthost with AUTH, DKIM-signed;
#      /healthz answers 200 and /metrics counts both; SIGTERM stops it with 0.
source "$(dirname "$0")/../lib.sh"

ENTRY=$SIGNPOST_SOURCE_DIR/docker/entrypoint.sh
[ -f "$ENTRY" ] || fail "no $ENTRY"
command -v swaks > /dev/null || fail "swaks is not installed (scripts/install-deps.sh)"
command -v curl > /dev/null || fail "curl is not installed (scripts/install-deps.sh)"
/usr/bin/python3 -c 'import aiosmtpd' 2> /dev/null || fail "python3-aiosmtpd is not installed (scripts/install-deps.sh)"

# --- the smarthost: aiosmtpd with STARTTLS (test CA) and AUTH -------------------------------
make_test_ca "$WORK"
SINK_PORT=$(free_port)
start_sink "$SINK_PORT" "$WORK" --auth 'relay:sink-pass:word' --store "$WORK/store"

SUB_PORT=$(free_port)
SUBS_PORT=$(free_port)
MET_PORT=$(free_port)
DNS_PORT=$(free_port)   # nothing listens there: DKIM records are never found, fast
ROOT=$WORK/vol
CFG=$ROOT/etc/signpost.toml

printf '# users for t90\n\nnas:pa;ss:word-0123456789:example.org,alerts@example.com\n' > "$WORK/users.secret"
# The settings of a typical container, with every place and port moved into $WORK.
base_env=(
  SIGNPOST_BIN="$SIGNPOST"
  SIGNPOST_CONFIG_DIR="$ROOT/etc" SIGNPOST_DATA_DIR="$ROOT/lib" SIGNPOST_SPOOL_DIR="$ROOT/spool"
  SIGNPOST_HOSTNAME=mail.example.com
  SIGNPOST_DOMAINS="example.com, Example.ORG"
  SIGNPOST_USERS="alice:alice:pass:0123456789:alice@example.com,Example.org"
  SIGNPOST_USERS_FILE="$WORK/users.secret"
  SIGNPOST_DELIVERY_MODE=smarthost SIGNPOST_SMARTHOST="localhost:$SINK_PORT"
  SIGNPOST_SMARTHOST_USER=relay SIGNPOST_SMARTHOST_PASSWORD='sink-pass:word'
  SIGNPOST_EXTRA_CA_FILE="$WORK/ca.pem"
  SIGNPOST_LISTEN_ADDRESS=127.0.0.1 SIGNPOST_SUBMISSION_PORT="$SUB_PORT" SIGNPOST_SUBMISSIONS_PORT="$SUBS_PORT"
  SIGNPOST_METRICS_ADDRESS=127.0.0.1 SIGNPOST_METRICS_PORT="$MET_PORT"
  SIGNPOST_DNS_FORWARDERS="127.0.0.1@$DNS_PORT"
)
# entry NAME [VAR=VALUE...] -- [ARGS...]: runs the entry point with base_env plus the
# given variables and nothing else from this environment; output in $WORK/NAME.out/.err,
# exit status in $RC.
entry() {
  local name=$1 vars=()
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  RC=0
  env -i PATH="$PATH" HOME="$WORK" "${base_env[@]}" "${vars[@]}" \
    timeout 60 bash "$ENTRY" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" || RC=$?
}
show() { cat "$WORK/$1.out" "$WORK/$1.err"; }

# --- 1. first start, dry run ---------------------------------------------------------------
entry first SIGNPOST_ENTRYPOINT_DRY_RUN=1
[ "$RC" = 0 ] || { show first; fail "first run exited $RC"; }
grep -qxF "signpost-entrypoint: dry run: would exec: $SIGNPOST serve --config $CFG" "$WORK/first.out" \
  || { show first; fail "the dry run did not print the serve command"; }
"$SIGNPOST" check-config --config "$CFG" > "$WORK/check.out" 2>&1 || { cat "$CFG" "$WORK/check.out"; fail "check-config refuses the written configuration"; }
for want in "address = \"127.0.0.1:$SUB_PORT\"" "address = \"127.0.0.1:$SUBS_PORT\"" 'tls = "implicit"' \
            'mode = "smarthost"' "smarthost = \"localhost:$SINK_PORT\"" "listen = \"127.0.0.1:$MET_PORT\"" \
            'name = "example.org"' "dir = \"$ROOT/spool\""; do
  grep -qF "$want" "$WORK/check.out" || { cat "$WORK/check.out"; fail "effective configuration lacks: $want"; }
done
pass "the written configuration passes check-config (listeners, smarthost, metrics, domains as set)"

"$SIGNPOST" users list --config "$CFG" > "$WORK/users.out"
grep -qE '^alice +alice@example.com, example.org$' "$WORK/users.out" || { cat "$WORK/users.out"; fail "user alice missing or wrong senders"; }
grep -qE '^nas +example.org, alerts@example.com$' "$WORK/users.out" || { cat "$WORK/users.out"; fail "user nas missing or wrong senders"; }
printf 'alice:pass:0123456789\n' | "$SIGNPOST" users check alice --config "$CFG" > /dev/null 2>&1 || fail "alice's password (with colons) does not match"
printf 'pa;ss:word-0123456789\n' | "$SIGNPOST" users check nas --config "$CFG" > /dev/null 2>&1 || fail "nas's password (from the file, with ;) does not match"
[ "$(stat -c %a "$ROOT/etc/users")" = 600 ] || fail "users file is not 0600"
pass "users from SIGNPOST_USERS and SIGNPOST_USERS_FILE exist with their passwords and senders"

# The key store's state files (README: <domain>/keys.state); `keys list` would ask DNS.
for d in example.com example.org; do
  for a in ed25519 rsa2048; do
    grep -qE "^key sp[0-9a-z-]+ $a pending " "$ROOT/lib/keys/$d/keys.state" 2> /dev/null \
      || { cat "$ROOT/lib/keys/$d/keys.state"; fail "no pending $a key for $d"; }
  done
done
"$SIGNPOST" keys dns --config "$CFG" > "$WORK/dns.out"
grep -q 'v=DKIM1; k=ed25519; p=' "$WORK/dns.out" || fail "keys dns prints no record"
grep -qF "$(cat "$WORK/dns.out")" "$WORK/first.out" || { show first; fail "the DNS records to publish are not in the output"; }
[ "$(grep -c '_domainkey\.example\.\(com\|org\)$' "$WORK/first.out")" = 4 ] || { show first; fail "want 4 record names in the output"; }
pass "pending Ed25519 and RSA keys for both domains; their records are printed"

grep -q 'SELF-SIGNED certificate' "$WORK/first.err" || { show first; fail "no warning about the self-signed certificate"; }
openssl x509 -in "$ROOT/etc/tls/selfsigned-cert.pem" -noout -ext subjectAltName 2> /dev/null | grep -q 'DNS:mail.example.com' \
  || fail "the self-signed certificate is not for mail.example.com"
[ "$(cat "$ROOT/etc/smarthost-credentials")" = 'relay:sink-pass:word' ] || fail "wrong smarthost credentials file"
[ "$(stat -c %a "$ROOT/etc/smarthost-credentials")" = 600 ] || fail "smarthost credentials file is not 0600"
[ "$(stat -c %a "$ROOT/etc/tls/selfsigned-key.pem")" = 600 ] || fail "TLS key is not 0600"
pass "self-signed certificate with a warning; smarthost credentials in a 0600 file"

# --- 2. second start: nothing changes -------------------------------------------------------
snapshot() { (cd "$ROOT" && find . -printf '%p %y %m %s %T@\n' | sort && find . -type f -exec sha256sum {} + | sort -k2); }
snapshot > "$WORK/before.txt"
cp "$CFG" "$WORK/config.first"
entry second SIGNPOST_ENTRYPOINT_DRY_RUN=1
[ "$RC" = 0 ] || { show second; fail "second run exited $RC"; }
snapshot > "$WORK/after.txt"
diff "$WORK/before.txt" "$WORK/after.txt" || fail "the second run changed files (above)"
cmp -s "$CFG" "$WORK/config.first" || fail "the configuration changed"
if grep -E 'generated|added user|wrote|changed|made a self-signed' "$WORK/second.out"; then fail "the second run reports changes"; fi
grep -qF "$(cat "$WORK/dns.out")" "$WORK/second.out" || fail "the second run does not print the DNS records"
pass "a second start with the same settings changes no file and generates nothing"

# A changed setting takes effect; changing it back restores the file byte for byte.
entry changed SIGNPOST_ENTRYPOINT_DRY_RUN=1 SIGNPOST_LOG_FORMAT=json
if [ "$RC" != 0 ] || ! grep -q '^format = "json"$' "$CFG"; then show changed; fail "SIGNPOST_LOG_FORMAT=json not applied"; fi
entry back SIGNPOST_ENTRYPOINT_DRY_RUN=1
cmp -s "$CFG" "$WORK/config.first" || fail "the configuration differs after changing a setting back"
pass "a changed setting rewrites the configuration, and only then"

# --- 3. commands pass through ---------------------------------------------------------------
entry pass1 -- signpost version
if [ "$RC" != 0 ] || [ "$(cat "$WORK/pass1.out")" != "$("$SIGNPOST" version)" ]; then show pass1; fail "signpost version did not pass through"; fi
entry pass2 -- users list --config "$CFG"
if [ "$RC" != 0 ] || ! grep -q '^alice ' "$WORK/pass2.out"; then show pass2; fail "users list did not pass through"; fi
entry pass3 -- sh -c 'echo through'
if [ "$RC" != 0 ] || [ "$(cat "$WORK/pass3.out")" != through ]; then show pass3; fail "another command did not pass through"; fi
entry pass4 -- doctor --help
if [ "$RC" != 0 ] || ! grep -q -- '--offline' "$WORK/pass4.out"; then show pass4; fail "doctor did not pass through"; fi
pass "signpost commands, subcommands (doctor too) and other commands pass through"

# --- 4. a mounted configuration is used as it is -----------------------------------------------
mkdir -p "$WORK/mounted"
tail -n +2 "$CFG" > "$WORK/mounted/signpost.toml"
cp "$WORK/mounted/signpost.toml" "$WORK/mounted.orig"
entry mounted SIGNPOST_ENTRYPOINT_DRY_RUN=1 SIGNPOST_CONFIG="$WORK/mounted/signpost.toml" SIGNPOST_HOSTNAME= SIGNPOST_DOMAINS=
[ "$RC" = 0 ] || { show mounted; fail "a mounted configuration was refused"; }
grep -q "using $WORK/mounted/signpost.toml as mounted" "$WORK/mounted.out" || { show mounted; fail "no note that the mounted file is used"; }
grep -qF "would exec: $SIGNPOST serve --config $WORK/mounted/signpost.toml" "$WORK/mounted.out" || { show mounted; fail "mounted: wrong command"; }
cmp -s "$WORK/mounted/signpost.toml" "$WORK/mounted.orig" || fail "the mounted configuration was changed"
pass "a configuration without the marker line is used as mounted and left alone"

# --- 5. bad settings ---------------------------------------------------------------------------
# bad NAME WANT VAR=VALUE...: a fresh place, exit 1, WANT in the error output, nothing written.
bad() {
  local name=$1 want=$2
  shift 2
  entry "$name" SIGNPOST_ENTRYPOINT_DRY_RUN=1 SIGNPOST_CONFIG_DIR="$WORK/$name-etc" SIGNPOST_DATA_DIR="$WORK/$name-lib" \
    SIGNPOST_SPOOL_DIR="$WORK/$name-spool" "$@"
  [ "$RC" = 1 ] || { show "$name"; fail "$name: exit $RC, want 1"; }
  grep -qF -- "$want" "$WORK/$name.err" || { show "$name"; fail "$name: no message containing: $want"; }
  if [ -e "$WORK/$name-etc" ] || [ -e "$WORK/$name-lib" ]; then fail "$name: files were written"; fi
}
bad no-smarthost 'error: SIGNPOST_DELIVERY_MODE=smarthost needs SIGNPOST_SMARTHOST=host:port' SIGNPOST_SMARTHOST=
bad no-hostname 'error: SIGNPOST_HOSTNAME is not set' SIGNPOST_HOSTNAME=
bad no-domains 'error: SIGNPOST_DOMAINS is not set' SIGNPOST_DOMAINS=
bad bad-mode 'error: SIGNPOST_DELIVERY_MODE="relay": mx, smarthost or capture' SIGNPOST_DELIVERY_MODE=relay
bad bad-user 'error: SIGNPOST_USERS: "bob..." is not NAME:PASSWORD:SENDERS' SIGNPOST_USERS='bob:secret-only'
bad bad-port 'error: SIGNPOST_SUBMISSION_PORT="70000": a port 1-65535 (or off)' SIGNPOST_SUBMISSION_PORT=70000
bad no-password 'error: SIGNPOST_SMARTHOST_USER is set but no password' SIGNPOST_SMARTHOST_PASSWORD=
bad several 'error: 3 problem(s) in the SIGNPOST_* settings' SIGNPOST_HOSTNAME='bad host' SIGNPOST_LISTEN_ADDRESS=localhost \
  SIGNPOST_DOMAINS=nodot
grep -q 'secret-only' "$WORK/bad-user.err" && fail "a password appears in an error message"
pass "bad settings fail with exit 1, every problem named, nothing written"

# --- 6. the real thing: serve, two messages through the smarthost ----------------------------
for d in example.com example.org; do
  "$SIGNPOST" keys activate --now --domain "$d" --config "$CFG" > "$WORK/activate-$d.out" 2>&1 \
    || { cat "$WORK/activate-$d.out"; fail "keys activate --now $d failed"; }
done
LOG=$WORK/serve.log
env -i PATH="$PATH" HOME="$WORK" "${base_env[@]}" bash "$ENTRY" > "$LOG" 2>&1 &
SPID=$!
track_pid "$SPID"
wait_for_log "$LOG" '\] ready$' 20
kill -0 "$SPID" || fail "serve is not running"
# exec: the daemon is the entry point's own process, so `docker stop` signals it directly.
[ "$(readlink "/proc/$SPID/exe")" = "$(readlink -f "$SIGNPOST")" ] || fail "the entry point did not exec signpost"

RC=0
timeout 30 swaks --server "127.0.0.1:$SUB_PORT" --tls --auth PLAIN --auth-user alice --auth-password 'alice:pass:0123456789' \
  --from alice@example.com --to bob@example.net --header 'Subject: t90 starttls' --timeout 10 > "$WORK/sw1.txt" 2>&1 || RC=$?
[ "$RC" = 0 ] || { cat "$WORK/sw1.txt" "$LOG"; fail "STARTTLS submission failed ($RC)"; }
RC=0
timeout 30 swaks --server "127.0.0.1:$SUBS_PORT" --tls-on-connect --auth LOGIN --auth-user nas --auth-password 'pa;ss:word-0123456789' \
  --from alerts@example.com --to carol@example.net --header 'Subject: t90 implicit' --timeout 10 > "$WORK/sw2.txt" 2>&1 || RC=$?
[ "$RC" = 0 ] || { cat "$WORK/sw2.txt" "$LOG"; fail "implicit-TLS submission failed ($RC)"; }
for ((i = 0; i < 150; i++)); do
  [ "$(find "$WORK/store" -name '*.eml' 2> /dev/null | wc -l)" -ge 2 ] && break
  sleep 0.1
done
[ "$(find "$WORK/store" -name '*.eml' | wc -l)" = 2 ] || { cat "$LOG" "$WORK/sink.log"; fail "the smarthost did not receive 2 messages"; }
grep -qE ' bob@example\.net tls=TLSv1\.[23] auth=relay sp=[0-9A-Z]+$' "$WORK/sink.log" || { cat "$WORK/sink.log"; fail "not delivered over TLS with AUTH as relay"; }
for f in "$WORK"/store/*.eml; do
  [ "$(grep -c '^DKIM-Signature: .*d=example\.com' "$f")" = 2 ] || { head -n 30 "$f"; fail "$f: want 2 DKIM signatures for example.com"; }
done
pass "messages on both listeners reached the smarthost over TLS with AUTH, DKIM-signed twice"

code=$(curl -s -o "$WORK/healthz.txt" -w '%{http_code}' "http://127.0.0.1:$MET_PORT/healthz") || true
[ "$code" = 200 ] || fail "/healthz (the image's HEALTHCHECK) answered $code: $(cat "$WORK/healthz.txt" 2> /dev/null)"
curl -sSf "http://127.0.0.1:$MET_PORT/metrics" > "$WORK/metrics.txt" || fail "cannot scrape /metrics"
grep -qx 'signpost_messages_accepted_total 2' "$WORK/metrics.txt" || { grep '^signpost_messages' "$WORK/metrics.txt"; fail "accepted is not 2"; }
"$SIGNPOST" health --config "$CFG" > "$WORK/health.out" 2>&1 || { cat "$WORK/health.out"; fail "signpost health (the image's HEALTHCHECK) exits non-zero"; }
grep -qx 'healthy: ok' "$WORK/health.out" || fail "signpost health says: $(cat "$WORK/health.out")"
pass "/healthz answers 200, signpost health agrees, and /metrics counts the two messages"

kill -TERM "$SPID"
wait_exit "$SPID" 35
[ "$EXIT_CODE" = 0 ] || { cat "$LOG"; fail "serve exited $EXIT_CODE after SIGTERM"; }
RC=0
"$SIGNPOST" health --config "$CFG" > "$WORK/health2.out" 2>&1 || RC=$?
[ "$RC" = 1 ] && grep -q '^unhealthy: cannot connect' "$WORK/health2.out" \
  || { cat "$WORK/health2.out"; fail "signpost health with the daemon stopped: exit $RC"; }
pass "SIGTERM stops it with exit 0; signpost health then exits 1 (unhealthy)"
