#!/usr/bin/env bash
# t95: the Docker image, as a user gets and runs it.
#   1. A Docker daemon (started here when none runs: dockerd --iptables=false --bridge=none,
#      containers on the host network) and debian:12 / debian:12-slim made from Debian's
#      packages when absent: no registry is used.
#   2. The image is built with the classic builder from a clean export of the checkout
#      (tracked files only, uncommitted changes included; no build trees); the runtime
#      layer's size is reported and bounded. With SIGNPOST_DOCKER_BUILDKIT=1
#      (scripts/check-fresh-debian.sh sets it) the same Dockerfile is also built with
#      BuildKit, which shares no cache with the classic builder: a second full compile
#      that every CI run would pay for. The classic builder is the one Debian 12's
#      docker.io (20.10) uses by default, so it is the one every run checks.
#   3. `docker-compose -f docker/compose.yml config` (Compose v1.29) accepts the compose file.
#   4. Bad SIGNPOST_* settings: the container exits 1 and names every mistake.
#   5. Configured by SIGNPOST_* only, on named volumes: mail submitted with swaks on the
#      STARTTLS (AUTH PLAIN) and implicit-TLS (AUTH LOGIN) ports reaches a loopback
#      smarthost (aiosmtpd, STARTTLS with a test CA, AUTH) signed, and dkimpy verifies both
#      signatures with the records `signpost keys dns` prints through `docker exec`; the
#      daemon is PID 1 of the container and runs as the non-root `signpost` user; the
#      image's HEALTHCHECK (`signpost health`) reaches "healthy".
#   6. `docker stop` while a client is in the middle of DATA (and the smarthost is down, so
#      mail stays queued): the message gets 250, the container exits 0; `queue list`
#      through `docker exec` showed what was queued.
#   7. The container is removed and re-created on the same volumes: no new DKIM keys (the
#      same records), and everything acknowledged reaches the smarthost once it is back.
source "$(dirname "$0")/../lib.sh"
source "$SIGNPOST_SOURCE_DIR/scripts/lib/docker-local.sh"

for c in dockerd mmdebstrap git docker-compose swaks; do
  command -v "$c" > /dev/null || fail "$c is not installed (scripts/install-deps.sh)"
done
/usr/bin/python3 -c 'import aiosmtpd, dkim' 2> /dev/null || fail "python3-aiosmtpd / python3-dkim missing (scripts/install-deps.sh)"

TAG=signpost:t95
ID=t95-$$
containers=() volumes=()
docker_local_init
docker_cleanup() {
  local c v
  for c in "${containers[@]:-}"; do [ -z "$c" ] || "$DOCKER" rm -f "$c" > /dev/null 2>&1 || true; done
  for v in "${volumes[@]:-}"; do [ -z "$v" ] || "$DOCKER" volume rm -f "$v" > /dev/null 2>&1 || true; done
  docker_stop_daemon
}
trap 'docker_cleanup; _cleanup' EXIT

# --- 1. daemon and base images ---------------------------------------------------------------
docker_ensure_daemon "$WORK" || fail "no Docker daemon"
docker_ensure_base_images || fail "no base images"
pass "Docker daemon $("$DOCKER" version -f '{{.Server.Version}}'), debian:12 and debian:12-slim present"

# --- 2. build from a clean export --------------------------------------------------------------
# `git stash create` makes a commit of the working tree's tracked files (nothing is changed
# in the checkout); without local changes it prints nothing and HEAD is exported.
rev=$(git -C "$SIGNPOST_SOURCE_DIR" stash create 2> /dev/null || true)
rev=${rev:-HEAD}
mkdir -p "$WORK/src"
git -C "$SIGNPOST_SOURCE_DIR" archive "$rev" | tar -x -C "$WORK/src" || fail "git archive of the checkout"
start=$(date +%s)
DOCKER_BUILDKIT=0 "$DOCKER" build --network=host -f "$WORK/src/docker/Dockerfile" -t "$TAG" "$WORK/src" > "$WORK/build.log" 2>&1 \
  || { tail -n 60 "$WORK/build.log"; fail "docker build failed"; }
build_s=$(($(date +%s) - start))
image_size=$("$DOCKER" image inspect -f '{{.Size}}' "$TAG")
base_size=$("$DOCKER" image inspect -f '{{.Size}}' debian:12-slim)
runtime_mb=$(( (image_size - base_size) / 1000000 ))
echo "image: $((image_size / 1000000)) MB, of which the runtime layers $runtime_mb MB over debian:12-slim ($((base_size / 1000000)) MB); built in ${build_s}s"
[ "$runtime_mb" -lt 40 ] || { "$DOCKER" history "$TAG"; fail "the runtime layers add $runtime_mb MB (bound: 40 MB)"; }
[ "$("$DOCKER" image inspect -f '{{.Config.User}}' "$TAG")" = signpost ] || fail "the image does not run as user signpost"
# [dns] dnssec = true needs the root trust anchor in the image.
"$DOCKER" run --rm --entrypoint /bin/sh "$TAG" -c 'grep -q "^\. IN DNSKEY 257 .*keytag 20326" /usr/share/dns/root.key' \
  || fail "the image lacks the DNSSEC root trust anchor (/usr/share/dns/root.key with the root KSK 20326)"
pass "image built from a clean export with the classic builder; runtime layers $runtime_mb MB; root trust anchor present"
# The same Dockerfile with BuildKit (the daemon's own, no buildx and no frontend image).
if [ "${SIGNPOST_DOCKER_BUILDKIT:-0}" = 1 ]; then
  DOCKER_BUILDKIT=1 "$DOCKER" build --network=host -f "$WORK/src/docker/Dockerfile" -t "$TAG-buildkit" "$WORK/src" \
    > "$WORK/buildkit.log" 2>&1 || { tail -n 40 "$WORK/buildkit.log"; fail "the BuildKit build failed"; }
  bk_version=$("$DOCKER" run --rm "$TAG-buildkit" version) || fail "the BuildKit image does not run"
  [[ $bk_version == "signpost "* ]] || fail "the BuildKit image's signpost says: $bk_version"
  pass "the same Dockerfile builds with BuildKit, and its image runs"
else
  echo "BuildKit build not run (SIGNPOST_DOCKER_BUILDKIT=1 runs it; scripts/check-fresh-debian.sh does)"
fi

# --- 3. the compose file -------------------------------------------------------------------------
(cd "$WORK/src" && docker-compose -f docker/compose.yml config > "$WORK/compose.out" 2>&1) \
  || { cat "$WORK/compose.out"; fail "docker-compose (v1.29) refuses docker/compose.yml"; }
pass "docker-compose config accepts docker/compose.yml"

# --- 4. bad settings ------------------------------------------------------------------------------
RC=0
"$DOCKER" run --rm --network host -e SIGNPOST_HOSTNAME='bad host' -e SIGNPOST_DOMAINS=nodot \
  -e SIGNPOST_SUBMISSION_PORT=70000 "$TAG" > "$WORK/bad.out" 2> "$WORK/bad.err" || RC=$?
[ "$RC" = 1 ] || { cat "$WORK/bad.out" "$WORK/bad.err"; fail "bad settings: exit $RC, want 1"; }
for want in 'SIGNPOST_HOSTNAME="bad host": not a host name' 'SIGNPOST_DOMAINS: "nodot" is not a domain name' \
            'SIGNPOST_SUBMISSION_PORT="70000": a port 1-65535' '3 problem(s) in the SIGNPOST_\* settings'; do
  grep -q "$want" "$WORK/bad.err" || { cat "$WORK/bad.err"; fail "bad settings: no line /$want/"; }
done
pass "bad settings: exit 1 with each of the 3 mistakes named"

# --- 5. configured by environment, on volumes -------------------------------------------------------
make_test_ca "$WORK"
SINK_PORT=$(free_port)
start_sink "$SINK_PORT" "$WORK" --auth 'relay:sink-pass' --store "$WORK/store"
SUB_PORT=$(free_port) SUBS_PORT=$(free_port) MET_PORT=$(free_port) DNS_PORT=$(free_port)
vols=()
for v in etc lib spool; do
  "$DOCKER" volume create "$ID-$v" > /dev/null
  volumes+=("$ID-$v")
done
vols=(-v "$ID-etc:/etc/signpost" -v "$ID-lib:/var/lib/signpost" -v "$ID-spool:/var/spool/signpost")
env=(
  -e SIGNPOST_HOSTNAME=mail.example.com -e SIGNPOST_DOMAINS=example.com
  -e 'SIGNPOST_USERS=alice:alice-pass-0123:alice@example.com;nas:nas-pass-4567:example.com'
  -e SIGNPOST_DELIVERY_MODE=smarthost -e "SIGNPOST_SMARTHOST=localhost:$SINK_PORT"
  -e SIGNPOST_SMARTHOST_USER=relay -e SIGNPOST_SMARTHOST_PASSWORD=sink-pass
  -e SIGNPOST_EXTRA_CA_FILE=/etc/signpost/test-ca.pem
  -e SIGNPOST_LISTEN_ADDRESS=127.0.0.1 -e "SIGNPOST_SUBMISSION_PORT=$SUB_PORT" -e "SIGNPOST_SUBMISSIONS_PORT=$SUBS_PORT"
  -e SIGNPOST_METRICS_ADDRESS=127.0.0.1 -e "SIGNPOST_METRICS_PORT=$MET_PORT"
  -e "SIGNPOST_DNS_FORWARDERS=127.0.0.1@$DNS_PORT"   # nothing answers there: no record is ever found
)
# The test CA onto the configuration volume (through the image, as user signpost).
"$DOCKER" run --rm -i "${vols[@]}" "$TAG" sh -c 'cat > /etc/signpost/test-ca.pem' < "$WORK/ca.pem" \
  || fail "cannot put the test CA on the volume"
# First start, prepare only: configuration, users, first DKIM keys (pending).
"$DOCKER" run --rm --network host "${vols[@]}" "${env[@]}" -e SIGNPOST_ENTRYPOINT_DRY_RUN=1 "$TAG" \
  > "$WORK/prepare.out" 2>&1 || { cat "$WORK/prepare.out"; fail "the first (dry-run) start failed"; }
grep -q 'generated the first DKIM keys of example.com' "$WORK/prepare.out" || { cat "$WORK/prepare.out"; fail "no first keys"; }
grep -q 'made a self-signed certificate for mail.example.com' "$WORK/prepare.out" || { cat "$WORK/prepare.out"; fail "no self-signed certificate"; }
# No DNS here to publish the records in: activate them by hand, through the image.
"$DOCKER" run --rm "${vols[@]}" "$TAG" keys activate --now --domain example.com --config /etc/signpost/signpost.toml \
  > "$WORK/activate.out" 2>&1 || { cat "$WORK/activate.out"; fail "keys activate --now"; }

# run_container NAME: starts the image detached on the volumes; waits for "ready".
run_container() {
  local name=$1 i
  "$DOCKER" run -d --name "$name" --network host "${vols[@]}" "${env[@]}" "$TAG" > /dev/null || fail "docker run $name"
  containers+=("$name")
  for ((i = 0; i < 300; i++)); do
    # Into a file, then grep: `docker logs | grep -q` fails under pipefail when grep stops
    # reading before the logs end.
    "$DOCKER" logs "$name" > "$WORK/$name.log" 2>&1 || true
    grep -qE '\] ready$' "$WORK/$name.log" && return 0
    [ "$("$DOCKER" inspect -f '{{.State.Running}}' "$name")" = true ] || break
    sleep 0.1
  done
  "$DOCKER" logs "$name" 2>&1 | tail -n 40
  fail "$name did not become ready"
}
A=$ID-a
run_container "$A"

uid1=$("$DOCKER" exec "$A" awk '/^Uid:/ { print $2 }' /proc/1/status)
[ "$uid1" = "$("$DOCKER" exec "$A" id -u signpost)" ] && [ "$uid1" != 0 ] || fail "PID 1 runs as uid $uid1, not as user signpost"
[ "$("$DOCKER" exec "$A" cat /proc/1/comm)" = signpost ] || fail "PID 1 is not the signpost daemon"
pass "the daemon is PID 1 and runs as the non-root user signpost (uid $uid1)"

# submit NAME ARGS...: one swaks submission; output in $WORK/NAME.txt, exit status in RC.
submit() {
  local name=$1
  shift
  RC=0
  timeout 40 swaks --server 127.0.0.1 --from alice@example.com --to bob@example.net --timeout 15 \
    --header "Subject: t95 $name" --header "Message-Id: <$name@t95.example.com>" "$@" > "$WORK/$name.txt" 2>&1 || RC=$?
}
submit starttls --port "$SUB_PORT" --tls --auth PLAIN --auth-user alice --auth-password alice-pass-0123
[ "$RC" = 0 ] || { cat "$WORK/starttls.txt"; "$DOCKER" logs "$A" 2>&1 | tail -n 30; fail "STARTTLS submission failed ($RC)"; }
submit implicit --port "$SUBS_PORT" --tls-on-connect --auth LOGIN --auth-user nas --auth-password nas-pass-4567
[ "$RC" = 0 ] || { cat "$WORK/implicit.txt"; "$DOCKER" logs "$A" 2>&1 | tail -n 30; fail "implicit-TLS submission failed ($RC)"; }

# delivered ID: the sink's stored message with Message-ID <ID@t95.example.com>, if any.
delivered() {
  local f
  for f in "$WORK"/store/*.eml; do
    if [ -e "$f" ] && grep -qi "^Message-ID: <$1@t95.example.com>" "$f"; then echo "$f"; return 0; fi
  done
}
wait_delivered() {
  local id i missing
  for ((i = 0; i < 300; i++)); do
    missing=()
    for id in "$@"; do [ -n "$(delivered "$id")" ] || missing+=("$id"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    sleep 0.1
  done
  cat "$WORK/sink.log"
  fail "not at the smarthost after 30s: ${missing[*]}"
}
wait_delivered starttls implicit

# The records, as `signpost keys dns` prints them through docker exec.
records_from() {  # records_from FILE DIR: one DIR/<name>.txt per "name:"/"value:" pair
  mkdir -p "$2"
  awk '/name:/ { n = $2 } /value:/ { sub(/^ *value: */, ""); print n "\t" $0 }' "$1" |
    while IFS=$'\t' read -r name value; do
      value=${value#\"}; value=${value%\"}
      printf '%s' "$value" > "$2/${name%.}.txt"
    done
}
"$DOCKER" exec "$A" signpost keys dns --config /etc/signpost/signpost.toml > "$WORK/dns1.out" 2>&1 \
  || { cat "$WORK/dns1.out"; fail "docker exec signpost keys dns"; }
records_from "$WORK/dns1.out" "$WORK/records"
[ "$(find "$WORK/records" -name '*._domainkey.example.com.txt' | wc -l)" = 2 ] || { cat "$WORK/dns1.out"; fail "want 2 records from keys dns"; }
for id in starttls implicit; do
  f=$(delivered "$id")
  /usr/bin/python3 "$SIGNPOST_SOURCE_DIR/tests/integration/dkim/verify_dkimpy.py" "$WORK/records" "$f" > "$WORK/verify-$id.txt" 2>&1 \
    || { cat "$WORK/verify-$id.txt"; fail "dkimpy does not verify $id"; }
  [ "$(grep -c '^pass d=example.com' "$WORK/verify-$id.txt")" = 2 ] || { cat "$WORK/verify-$id.txt"; fail "$id: want 2 passing signatures"; }
done
grep -qE 'MSG <starttls@t95.example.com> bob@example.net tls=TLSv1\.[23] auth=relay' "$WORK/sink.log" \
  || { cat "$WORK/sink.log"; fail "not relayed over TLS with AUTH"; }
pass "both listeners' mail reached the smarthost over TLS with AUTH; dkimpy verifies 2 signatures each with keys dns' records"

# The image's own HEALTHCHECK (interval 30s): wait for its verdict.
for ((i = 0; i < 90; i++)); do
  health=$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$A")
  [ "$health" = healthy ] && break
  sleep 1
done
[ "$health" = healthy ] || { "$DOCKER" inspect -f '{{json .State.Health}}' "$A"; fail "health is '$health' after 90s"; }
"$DOCKER" exec "$A" signpost health --config /etc/signpost/signpost.toml > "$WORK/health.out" || fail "signpost health exits non-zero"
grep -q '^healthy: ok' "$WORK/health.out" || fail "signpost health says: $(cat "$WORK/health.out")"
pass "HEALTHCHECK (signpost health) reports healthy"

# --- 6. docker stop in the middle of DATA, with the smarthost down ---------------------------------
kill -TERM "$SINK_PID"; wait "$SINK_PID" 2> /dev/null || true
submit queued1 --port "$SUB_PORT" --tls --auth PLAIN --auth-user alice --auth-password alice-pass-0123
[ "$RC" = 0 ] || { cat "$WORK/queued1.txt"; fail "submission with the smarthost down failed ($RC)"; }
"$DOCKER" exec "$A" signpost queue list --config /etc/signpost/signpost.toml > "$WORK/queue1.out" 2>&1 \
  || { cat "$WORK/queue1.out"; fail "docker exec signpost queue list"; }
grep -q 'bob@example.net' "$WORK/queue1.out" || { cat "$WORK/queue1.out"; fail "queue list does not show the queued message"; }

# A client that stops in the middle of DATA until told to go on.
/usr/bin/python3 - "$SUB_PORT" "$WORK" > "$WORK/middata.out" 2>&1 <<'PY' &
import os, smtplib, ssl, sys, time
port, work = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", port, timeout=60)
s.ehlo("client.example"); s.starttls(context=ctx); s.ehlo("client.example")
s.login("alice", "alice-pass-0123")
s.mail("alice@example.com"); s.rcpt("bob@example.net")
code, _ = s.docmd("DATA")
assert code == 354, code
s.send(b"From: alice@example.com\r\nTo: bob@example.net\r\nSubject: t95 middata\r\n"
       b"Message-ID: <middata@t95.example.com>\r\n\r\nfirst half\r\n")
open(os.path.join(work, "middata.started"), "w").close()
for _ in range(300):
    if os.path.exists(os.path.join(work, "middata.go")): break
    time.sleep(0.1)
s.send(b"second half\r\n.\r\n")
code, text = s.getreply()
print("DATA", code, text.decode())
PY
MID=$!
track_pid $MID
for ((i = 0; i < 200; i++)); do [ -e "$WORK/middata.started" ] && break; sleep 0.1; done
[ -e "$WORK/middata.started" ] || { cat "$WORK/middata.out"; fail "the mid-DATA client did not get to DATA"; }
"$DOCKER" stop -t 30 "$A" > /dev/null &
STOPPER=$!
sleep 1.5
touch "$WORK/middata.go"
wait_exit "$MID" 30
wait "$STOPPER" || fail "docker stop failed"
grep -q '^DATA 250 ' "$WORK/middata.out" || { cat "$WORK/middata.out"; "$DOCKER" logs "$A" 2>&1 | tail -n 20; fail "the message in progress did not get 250"; }
code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$A")
[ "$code" = 0 ] || { "$DOCKER" logs "$A" 2>&1 | tail -n 30; fail "the container exited $code after docker stop"; }
pass "docker stop during DATA: the message got 250, the container exited 0"

# --- 7. re-created on the same volumes ----------------------------------------------------------------
"$DOCKER" rm "$A" > /dev/null
start_sink "$SINK_PORT" "$WORK" --auth 'relay:sink-pass' --store "$WORK/store"
B=$ID-b
run_container "$B"
"$DOCKER" logs "$B" > "$WORK/b.log" 2>&1
grep -q 'generated the first DKIM keys' "$WORK/b.log" && fail "the re-created container generated new keys"
grep -q 'made a self-signed certificate' "$WORK/b.log" && fail "the re-created container made a new certificate"
"$DOCKER" exec "$B" signpost keys dns --config /etc/signpost/signpost.toml > "$WORK/dns2.out" 2>&1 || fail "keys dns in $B"
cmp -s "$WORK/dns1.out" "$WORK/dns2.out" || { diff "$WORK/dns1.out" "$WORK/dns2.out"; fail "keys dns changed after re-creation"; }
"$DOCKER" exec "$B" signpost queue flush --config /etc/signpost/signpost.toml > "$WORK/flush.out" 2>&1 \
  || { cat "$WORK/flush.out"; fail "docker exec signpost queue flush"; }
wait_delivered queued1 middata
pass "re-created on the same volumes: same DKIM records, nothing new generated, the queued messages delivered"
"$DOCKER" stop -t 30 "$B" > /dev/null
[ "$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$B")" = 0 ] || fail "$B exited non-zero"
