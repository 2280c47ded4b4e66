#!/usr/bin/env bash
# t92: a real Prometheus server scrapes the metrics endpoint ([metrics] listen). Two
# messages are submitted with swaks (STARTTLS + AUTH PLAIN) and delivered (capture mode:
# outbox/ID.eml); a Prometheus server on loopback (its own config and TSDB in the work dir,
# scrape interval 1s) must then report the signpost target as healthy in /api/v1/targets,
# and answer `signpost_messages_accepted_total` = 2 and `up{job="signpost"}` = 1 through
# its query API.
source "$(dirname "$0")/../lib.sh"

command -v swaks > /dev/null || fail "swaks is not installed (scripts/install-deps.sh)"
command -v prometheus > /dev/null || fail "prometheus is not installed (package prometheus; scripts/install-deps.sh)"
command -v curl > /dev/null || fail "curl is not installed (scripts/install-deps.sh)"

dev=$WORK/dev
serve_dev "$dev"

for i in 1 2; do
  RC=0
  timeout 30 swaks --server "127.0.0.1:$SUBMISSION_PORT" --tls --tls-verify --tls-ca-path "$dev/tls/cert.pem" \
    --auth PLAIN --auth-user dev --auth-password "$DEV_PASSWORD" --ehlo client.test --timeout 10 \
    --from dev@example.test --to "rcpt$i@example.org" > "$WORK/ok-$i.txt" 2>&1 || RC=$?
  [ "$RC" = 0 ] || { cat "$WORK/ok-$i.txt"; fail "message $i: swaks exited $RC"; }
  grep -q '^<~  250 2\.0\.0 Ok: queued as ' "$WORK/ok-$i.txt" || { cat "$WORK/ok-$i.txt"; fail "message $i not queued"; }
done
for ((i = 0; i < 100; i++)); do
  [ "$(find "$dev/outbox" -name '*.eml' | wc -l)" -ge 2 ] && break
  sleep 0.1
done
[ "$(find "$dev/outbox" -name '*.eml' | wc -l)" = 2 ] || { cat "$LOG"; fail "the 2 messages were not delivered to the outbox"; }
pass "2 messages accepted and delivered"

# Prometheus: loopback only, config, TSDB and console directories all under $WORK.
PROM_PORT=$(free_port)
PROM=http://127.0.0.1:$PROM_PORT
cat > "$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: signpost
    static_configs:
      - targets: ['127.0.0.1:$METRICS_PORT']
EOF
mkdir -p "$WORK/prom-data" "$WORK/prom-consoles"
PLOG=$WORK/prometheus.log
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom-data" \
  --storage.tsdb.retention.time=1h --web.listen-address="127.0.0.1:$PROM_PORT" \
  --web.external-url="$PROM/" --web.console.templates="$WORK/prom-consoles" \
  --web.console.libraries="$WORK/prom-consoles" --query.lookback-delta=1m > "$PLOG" 2>&1 &
PROM_PID=$!
track_pid "$PROM_PID"

# api PATH: GET $PROM/PATH into $WORK/api.json; non-zero when the request fails.
api() { curl -sS --max-time 2 -o "$WORK/api.json" "$PROM/$1" 2> "$WORK/api.err"; }

# prom_fail MESSAGE: fails with the Prometheus log and the last API answer.
prom_fail() {
  echo "--- $PLOG:"; cat "$PLOG"
  echo "--- last API answer:"; cat "$WORK/api.json" 2> /dev/null || true; cat "$WORK/api.err" 2> /dev/null || true
  echo
  fail "$1"
}

# target_health: the health of the signpost target in $WORK/api.json ("" when absent).
target_health() {
  /usr/bin/python3 - "$WORK/api.json" "127.0.0.1:$METRICS_PORT" <<'PY'
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(0)
for t in doc.get("data", {}).get("activeTargets", []):
    if t.get("labels", {}).get("job") == "signpost" and t.get("labels", {}).get("instance") == sys.argv[2]:
        print(t.get("health", ""))
PY
}

# query_values: the sample values of the instant-vector result in $WORK/api.json, one a line.
query_values() {
  /usr/bin/python3 - "$WORK/api.json" <<'PY'
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(0)
if doc.get("status") == "success" and doc.get("data", {}).get("resultType") == "vector":
    for s in doc["data"]["result"]:
        print(s["value"][1])
PY
}

# wait_query QUERY VALUE: polls the query API (30 s) until a sample of QUERY has VALUE.
wait_query() {
  local query=$1 want=$2 deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$PROM_PID" 2> /dev/null; then prom_fail "prometheus exited"; fi
    if api "api/v1/query?query=$(/usr/bin/python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$query")" \
      && query_values | grep -qx "$want"; then
      return 0
    fi
    sleep 0.2
  done
  prom_fail "after 30s Prometheus does not answer $query = $want"
}

health=
deadline=$((SECONDS + 30))
while ((SECONDS < deadline)); do
  kill -0 "$PROM_PID" 2> /dev/null || prom_fail "prometheus exited"
  if api api/v1/targets; then
    health=$(target_health)
    [ "$health" = up ] && break
  fi
  sleep 0.2
done
[ "$health" = up ] || prom_fail "after 30s the signpost target is not up (health: '${health}')"
pass "Prometheus scrapes the signpost target (health up)"

wait_query 'signpost_messages_accepted_total' 2
pass "Prometheus answers signpost_messages_accepted_total = 2"
wait_query 'up{job="signpost"}' 1
pass "Prometheus answers up{job=\"signpost\"} = 1"

kill -TERM "$PROM_PID"
wait_exit "$PROM_PID" 10
[ "$EXIT_CODE" = 0 ] || prom_fail "prometheus exited $EXIT_CODE on SIGTERM"
kill -TERM "$SPID"
wait_exit "$SPID" 10
[ "$EXIT_CODE" = 0 ] || { cat "$LOG"; fail "serve exited $EXIT_CODE"; }
