#!/usr/bin/env bash
# t80-policy-over-https — the MTA-STS PolicyStore (through the mtasts_lookup driver: the
# daemon's make_policy_store with the real HTTPS fetcher, a scripted resolver answering
# _mta-sts.example.test TXT with the id given and mta-sts.example.test A 127.0.0.1) against
# nginx on 127.0.0.1 with a test CA made here. One nginx, one server block per behaviour,
# each on its own port ([mta_sts] https_port picks one):
#   1. a valid policy (text/plain; charset=utf-8) is fetched, cached on disk, and a second
#      process answers from the cache;
#      The same policy sent chunked (nginx SSI drops the Content-Length) is fetched too;
#   2. failures leave no policy: a certificate from a CA we do not trust, a certificate for
#      another name, a redirect (nginx `return 301`), Content-Type text/html, a body over
#      64 KiB (with a Content-Length and chunked), a 404;
#   3. with nginx stopped, a new process (a "restart") answers from the cache dir; a new
#      TXT id that cannot be fetched leaves the cached policy in force
#      (cached_after_failure); with nginx back serving a new file, the new id is fetched.
# Usage: t80-policy-over-https.sh PATH/TO/mtasts_lookup
set -euo pipefail

DRIVER=${1:?usage: t80-policy-over-https.sh PATH/TO/mtasts_lookup}
source "${SIGNPOST_SOURCE_DIR:?}/tests/integration/lib.sh"
[ -x "$DRIVER" ] || fail "driver not executable: $DRIVER"
NGINX=$(command -v nginx || true)
[ -n "$NGINX" ] || NGINX=/usr/sbin/nginx
[ -x "$NGINX" ] || fail "nginx is not installed (scripts/install-deps.sh installs nginx-light)"

cd "$WORK"

# --- certificates: a trusted test CA, an untrusted one, a cert for another name ------------
cert() {  # cert NAME CN CA_PREFIX: NAME.pem/NAME.key for DNS:CN, signed by CA_PREFIX.pem
  local name=$1 cn=$2 ca=$3
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$name.key" -out "$name.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s\n' "$cn" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial -days 2 -extfile "$name.ext" \
    -out "$name.pem" 2>/dev/null || fail "openssl: certificate $name"
}
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=t80 test CA" -keyout ca.key -out ca.pem 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=t80 other CA" -keyout other-ca.key -out other-ca.pem 2>/dev/null
cert good mta-sts.example.test ca
cert untrusted mta-sts.example.test other-ca
cert wrongname mta-sts.other.test ca

# --- web roots -------------------------------------------------------------------------------
mkdir -p www/ok/.well-known www/type/.well-known www/big/.well-known www/empty nginx/tmp
printf 'version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmx: *.mx.example.test\r\nmax_age: 604800\r\n' \
  > www/ok/.well-known/mta-sts.txt
cp www/ok/.well-known/mta-sts.txt www/type/.well-known/mta-sts.txt
{ cat www/ok/.well-known/mta-sts.txt; for i in $(seq 1 700); do printf 'x-pad%d: %0100d\r\n' "$i" 0; done; } \
  > www/big/.well-known/mta-sts.txt
[ "$(stat -c %s www/big/.well-known/mta-sts.txt)" -gt 65536 ] || fail "the big policy is not over 64 KiB"

P_OK=$(free_port); P_UNTRUSTED=$(free_port); P_NAME=$(free_port); P_REDIRECT=$(free_port)
P_TYPE=$(free_port); P_BIG=$(free_port); P_404=$(free_port); P_CHUNKED=$(free_port); P_CHUNKED_BIG=$(free_port)

server() {  # server PORT CERT ROOT EXTRA...
  local port=$1 crt=$2 root=$3
  shift 3
  cat <<EOF
    server {
        listen 127.0.0.1:$port ssl;
        server_name mta-sts.example.test;
        ssl_certificate $WORK/$crt.pem;
        ssl_certificate_key $WORK/$crt.key;
        root $WORK/www/$root;
        $*
    }
EOF
}
# One process (no master/worker split): the PID we record is the whole server, so lib.sh's
# cleanup cannot leave orphaned workers behind, and no worker switches to another user.
cat > nginx/nginx.conf <<EOF
daemon off;
master_process off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log info;
events { worker_connections 64; }
http {
    access_log $WORK/nginx/access.log;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    default_type text/plain;
$(server "$P_OK" good ok 'charset utf-8;')
$(server "$P_UNTRUSTED" untrusted ok)
$(server "$P_NAME" wrongname ok)
$(server "$P_REDIRECT" good ok "location / { return 301 https://mta-sts.example.test:$P_OK\$request_uri; }")
$(server "$P_TYPE" good type 'default_type text/html;')
$(server "$P_BIG" good big)
$(server "$P_404" good empty)
$(server "$P_CHUNKED" good ok 'ssi on; ssi_types text/plain;')
$(server "$P_CHUNKED_BIG" good big 'ssi on; ssi_types text/plain;')
}
EOF

NGINX_PID=
start_nginx() {
  "$NGINX" -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" > nginx/stdout.log 2>&1 &
  NGINX_PID=$!
  track_pid "$NGINX_PID"
  local i port
  for port in "$P_OK" "$P_UNTRUSTED" "$P_NAME" "$P_REDIRECT" "$P_TYPE" "$P_BIG" "$P_404" "$P_CHUNKED" "$P_CHUNKED_BIG"; do
    for ((i = 0; i < 100; i++)); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      kill -0 "$NGINX_PID" 2>/dev/null || { cat nginx/stdout.log nginx/error.log; fail "nginx exited"; }
      sleep 0.1
    done
    ((i < 100)) || { cat nginx/error.log; fail "nginx does not listen on 127.0.0.1:$port"; }
  done
}
stop_nginx() {
  kill -TERM "$NGINX_PID"
  wait_exit "$NGINX_PID" 10
  NGINX_PID=
}

# lookup OUT PORT CACHE_DIR [DRIVER ARGS...]: one driver run for example.test with a config
# pointing at 127.0.0.1:PORT, trusting ca.pem, caching in CACHE_DIR.
lookup() {
  local out=$1 port=$2 cache=$3
  shift 3
  cat > "$out.toml" <<EOF
[[listener]]
address = "127.0.0.1:2587"
[tls]
cert = "$WORK/unused-cert.pem"
key = "$WORK/unused-key.pem"
[auth]
users_file = "$WORK/unused-users"
[delivery]
extra_ca_file = "$WORK/ca.pem"
[mta_sts]
cache_dir = "$cache"
https_port = $port
[log]
level = "warn"
EOF
  timeout 30 "$DRIVER" --config "$out.toml" --domain example.test "$@" > "$out" 2> "$out.err" \
    || { cat "$out" "$out.err"; fail "driver failed: $*"; }
}
# expect OUT N REGEX: the Nth RESULT line (1-based) of OUT matches REGEX.
expect() {
  local line
  line=$(grep '^RESULT ' "$1" | sed -n "${2}p")
  [[ $line =~ $3 ]] || { cat "$1"; fail "$1: RESULT $2 is \"$line\", expected /$3/"; }
}
# expect_detail OUT N TEXT: the Nth DETAIL line contains TEXT.
expect_detail() {
  local line
  line=$(grep '^DETAIL ' "$1" | sed -n "${2}p")
  [[ $line == *"$3"* ]] || { cat "$1"; fail "$1: DETAIL $2 is \"$line\", expected to contain \"$3\""; }
}

start_nginx

# --- 1. a valid policy: fetched, cached, served from the cache ------------------------------------
lookup r1.txt "$P_OK" "$WORK/cache-a" --id 1 --lookups 2
expect r1.txt 1 '^RESULT source=fetched mode=enforce id=1 mx=mx1\.example\.test,\*\.mx\.example\.test$'
grep -qx 'DETAIL ' r1.txt || { cat r1.txt; fail "a fetched policy has a detail"; }
expect r1.txt 2 '^RESULT source=cached mode=enforce id=1 '
[ -f cache-a/example.test.policy ] || fail "no cache file written"
head -1 cache-a/example.test.policy | grep -qx 'signpost-mta-sts-cache 1' || fail "cache file header"
grep -q 'GET /.well-known/mta-sts.txt HTTP/1.1" 200' nginx/access.log || { cat nginx/access.log; fail "nginx access log"; }
[ "$(grep -c 'GET /.well-known/mta-sts.txt' nginx/access.log)" = 1 ] || fail "the second lookup fetched again"
pass "valid policy (text/plain; charset=utf-8): fetched, written to the cache dir, then answered from memory"

lookup r1b.txt "$P_OK" "$WORK/cache-a" --id 1
expect r1b.txt 1 '^RESULT source=cached mode=enforce id=1 '
[ "$(grep -c 'GET /.well-known/mta-sts.txt' nginx/access.log)" = 1 ] || fail "a new process fetched again"
pass "a second process answers from the cache file"

lookup r2.txt "$P_CHUNKED" "$WORK/cache-chunked" --id 1
expect r2.txt 1 '^RESULT source=fetched mode=enforce id=1 mx=mx1\.example\.test,\*\.mx\.example\.test$'
pass "a chunked body (no Content-Length) under the cap is a policy"

# --- 2. failures: no policy, nothing cached --------------------------------------------------------
failure() {  # failure NAME PORT DETAIL_TEXT
  lookup "r-$1.txt" "$2" "$WORK/cache-$1" --id 1
  expect "r-$1.txt" 1 '^RESULT source=none mode=- id=- mx=-$'
  expect_detail "r-$1.txt" 1 "fetch: https://mta-sts.example.test:$2/.well-known/mta-sts.txt: $3"
  grep -q '^CACHED id=- ' "r-$1.txt" || fail "$1: something was cached"
  [ -z "$(ls -A "cache-$1")" ] || fail "$1: a cache file was written"
}
failure untrusted "$P_UNTRUSTED" "certificate of mta-sts.example.test not verified: "
pass "certificate from an untrusted CA: no policy"
failure wrongname "$P_NAME" "certificate of mta-sts.example.test not verified: hostname mismatch"
pass "certificate for another name: no policy"
gets_before=$(grep -c 'GET /.well-known/mta-sts.txt' nginx/access.log)
failure redirect "$P_REDIRECT" "HTTP 301: redirects are not followed"
[ "$(grep -c 'GET /.well-known/mta-sts.txt' nginx/access.log)" = $((gets_before + 1)) ] \
  || { cat nginx/access.log; fail "the redirect was followed"; }
tail -1 nginx/access.log | grep -q '" 301 ' || { cat nginx/access.log; fail "nginx did not answer 301"; }
pass "redirect (301): not followed, no policy"
failure type "$P_TYPE" "Content-Type is not text/plain"
pass "Content-Type text/html: no policy"
failure big "$P_BIG" "body of $(stat -c %s www/big/.well-known/mta-sts.txt) octets, more than the limit of 65536"
failure chunkedbig "$P_CHUNKED_BIG" "body larger than the limit of 65536 octets"
grep -q 'Transfer-Encoding: chunked' <(curl -s -D - -o /dev/null --max-time 5 --cacert ca.pem \
  --resolve "mta-sts.example.test:$P_CHUNKED_BIG:127.0.0.1" "https://mta-sts.example.test:$P_CHUNKED_BIG/.well-known/mta-sts.txt") \
  || fail "the chunked server does not send a chunked body"
pass "body over 64 KiB, with a Content-Length or chunked: no policy"
failure notfound "$P_404" "HTTP 404"
pass "404: no policy"

# --- 3. restart with nginx down; a new id that cannot be fetched; then fetched ---------------------
stop_nginx
lookup r3.txt "$P_OK" "$WORK/cache-a" --id 1
expect r3.txt 1 '^RESULT source=cached mode=enforce id=1 mx=mx1\.example\.test,\*\.mx\.example\.test$'
pass "restart with the policy host down: the cached policy is in force"

lookup r4.txt "$P_OK" "$WORK/cache-a" --id 2
expect r4.txt 1 '^RESULT source=cached_after_failure mode=enforce id=1 '
expect_detail r4.txt 1 "fetch: https://mta-sts.example.test:$P_OK/.well-known/mta-sts.txt: connect 127.0.0.1: Connection refused"
pass "new id, fetch fails: the unexpired cached policy stays in force (cached_after_failure)"

lookup r5.txt "$P_OK" "$WORK/cache-a"
expect r5.txt 1 '^RESULT source=cached mode=enforce id=1 '
expect_detail r5.txt 1 "no _mta-sts.example.test TXT record (NXDOMAIN); using the cached policy"
pass "no TXT record: the cached policy stays in force"

printf 'version: STSv1\nmode: testing\nmx: *.example.test\nmax_age: 86400\n' > www/ok/.well-known/mta-sts.txt.new
mv www/ok/.well-known/mta-sts.txt.new www/ok/.well-known/mta-sts.txt
start_nginx
lookup r6.txt "$P_OK" "$WORK/cache-a" --id 2 --lookups 2
expect r6.txt 1 '^RESULT source=fetched mode=testing id=2 mx=\*\.example\.test$'
expect r6.txt 2 '^RESULT source=cached mode=testing id=2 '
grep -q '^CACHED id=2 mode=testing$' r6.txt || fail "cached() after the new id"
lookup r7.txt "$P_OK" "$WORK/cache-a" --id 2
expect r7.txt 1 '^RESULT source=cached mode=testing id=2 '
pass "new id with the host back: the new policy is fetched and replaces the cached one"

stop_nginx
pass "t80-policy-over-https"
