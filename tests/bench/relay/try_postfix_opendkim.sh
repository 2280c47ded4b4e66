#!/usr/bin/env bash
# tests/bench/relay/try_postfix_opendkim.sh — exercises postfix_opendkim.sh on its own, and
# shows how a driver uses it:
#   swaks / loadgen -> Postfix + OpenDKIM (private instance) -> smtp_sink.py (STARTTLS)
# Starts the python sink on a free port with a test CA, pfb_setup + pfb_start, sends 20
# messages with swaks (STARTTLS + AUTH PLAIN), then MESSAGES with loadgen at CONCURRENCY,
# waits until Postfix's queue is empty, checks that the sink got every message and that a
# sample carries one DKIM-Signature (d=example.test s=pfbench c=relaxed/relaxed
# a=rsa-sha256) that verifies with dkimpy (tests/integration/dkim/verify_dkimpy.py) against
# PFB_RECORDS_DIR; prints loadgen's RESULT line, CPU ticks per message and the PSS/RSS sums.
# Everything is stopped at exit. Needs root.
# Environment: CONCURRENCY (8), MESSAGES (500), LOADGEN (the built loadgen), KEEP_WORK=1
# keeps the work dir; PFB_SMTP_TLS_REUSE=yes and PFB_MILTER_SOCKET=unix are passed on to the
# library (see its header).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../../.." && pwd)
PY=/usr/bin/python3   # Debian's python3 has aiosmtpd and dkimpy
LOADGEN=${LOADGEN:-$SRC/build/tests/bench/loadgen/loadgen}
CONCURRENCY=${CONCURRENCY:-8}
MESSAGES=${MESSAGES:-500}
SWAKS_N=20
source "$HERE/postfix_opendkim.sh"

fail() { echo "FAIL: $*" >&2; exit 1; }
[ -x "$LOADGEN" ] || fail "no loadgen at $LOADGEN (set LOADGEN)"
command -v swaks > /dev/null || fail "swaks is not installed"
$PY -c 'import aiosmtpd, dkim' 2> /dev/null || fail "aiosmtpd/dkimpy do not import under $PY"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/pfb-try.XXXXXX")
SINK_PID=
cleanup() {
  pfb_stop || echo "pfb_stop failed" >&2
  if [ -n "$SINK_PID" ] && kill -0 "$SINK_PID" 2> /dev/null; then
    kill -TERM "$SINK_PID" 2> /dev/null || true
    for _ in $(seq 50); do kill -0 "$SINK_PID" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$SINK_PID" 2> /dev/null || true
    wait "$SINK_PID" 2> /dev/null || true
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# --- the sink: test CA, certificate for localhost/127.0.0.1, smtp_sink.py ---------------
S=$WORK/sink
mkdir -p "$S"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pfb sink test CA" \
  -keyout "$S/ca.key" -out "$S/ca.pem" 2> /dev/null || fail "openssl: sink CA"
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$S/sink.key" -out "$S/sink.csr" 2> /dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$S/san.ext"
openssl x509 -req -in "$S/sink.csr" -CA "$S/ca.pem" -CAkey "$S/ca.key" -CAcreateserial -days 2 \
  -extfile "$S/san.ext" -out "$S/sink.pem" 2> /dev/null || fail "openssl: sink certificate"
SINK_PORT=$(pfb__free_port)
STORE=$S/store
$PY "$SRC/tests/integration/lib/smtp_sink.py" --host 127.0.0.1 --port "$SINK_PORT" \
  --tls-cert "$S/sink.pem" --tls-key "$S/sink.key" --log "$S/sink.log" --store "$STORE" \
  > "$S/sink.out" 2>&1 &
SINK_PID=$!
for _ in $(seq 200); do grep -q '^READY' "$S/sink.out" 2> /dev/null && break; sleep 0.1; done
grep -q '^READY' "$S/sink.out" || { cat "$S/sink.out"; fail "the sink did not start"; }
stored() { find "$STORE" -name '*.eml' 2> /dev/null | wc -l; }
echo "sink: PID $SINK_PID on 127.0.0.1:$SINK_PORT"

# --- Postfix + OpenDKIM ---------------------------------------------------------------------
pfb_setup "$WORK" "$SINK_PORT" "$S/ca.pem" || fail "pfb_setup"
pfb_start || fail "pfb_start"
echo "postfix+opendkim: submission 127.0.0.1:$PFB_PORT, milter $PFB_MILTER," \
  "PIDs: $(pfb_pids | tr '\n' ' ')"

# --- 20 messages with swaks ------------------------------------------------------------------
# the first as "bench", the second as "bench@example.test": both name the same sasldb entry
for ((n = 1; n <= SWAKS_N; n++)); do
  user=$PFB_USER
  [ "$n" = 2 ] && user=$PFB_USER@example.test
  timeout 30 swaks --server "127.0.0.1:$PFB_PORT" --timeout 10 --tls --tls-verify --tls-ca-path "$PFB_CAFILE" \
    --auth PLAIN --auth-user "$user" --auth-password "$PFB_PASSWORD" \
    --from dev@example.test --to someone@example.net --header "Subject: pfb swaks $n" \
    --body "pfb swaks message $n" > "$WORK/swaks.$n" 2>&1 \
    || { cat "$WORK/swaks.$n"; tail -n 20 "$(pfb_log)"; fail "swaks message $n"; }
  grep -q '<~  250 2.0.0 Ok: queued as' "$WORK/swaks.$n" || { cat "$WORK/swaks.$n"; fail "swaks message $n not queued"; }
done
echo "swaks: $SWAKS_N messages queued"
pfb_wait_drained 60 || fail "the swaks messages did not drain"

# --- loadgen -------------------------------------------------------------------------------------
CLK=$(getconf CLK_TCK)
t0=$(pfb_cpu_ticks)
s0=$(date +%s.%N)
"$LOADGEN" --connect "127.0.0.1:$PFB_PORT" --tls starttls --cafile "$PFB_CAFILE" --servername localhost \
  --user "$PFB_USER" --password-file "$PFB_PASSWORD_FILE" --from dev@example.test --to someone@example.net \
  --size 4096 --concurrency "$CONCURRENCY" --messages "$MESSAGES" --duration 120 > "$WORK/loadgen.out" 2>&1 &
LG=$!
pss_max=0 rss_max=0
while kill -0 "$LG" 2> /dev/null; do
  p=$(pfb_pss_kib); r=$(pfb_rss_kib)
  [ "$p" -gt "$pss_max" ] && pss_max=$p
  [ "$r" -gt "$rss_max" ] && rss_max=$r
  sleep 0.2
done
lg_rc=0
wait "$LG" || lg_rc=$?
t1=$(pfb_cpu_ticks)
d0=$(date +%s.%N)
pfb_wait_drained 180 || fail "the queue did not drain"
d1=$(date +%s.%N)
t2=$(pfb_cpu_ticks)
grep '^RESULT' "$WORK/loadgen.out" || { cat "$WORK/loadgen.out"; fail "no RESULT line from loadgen"; }
[ "$lg_rc" = 0 ] || { cat "$WORK/loadgen.out"; fail "loadgen exited $lg_rc"; }

total=$((SWAKS_N + MESSAGES))
for _ in $(seq 100); do [ "$(stored)" -ge "$total" ] && break; sleep 0.1; done
[ "$(stored)" = "$total" ] || fail "the sink holds $(stored) messages, want $total"
[ "$(pfb_sent_count)" = "$total" ] || fail "Postfix's log shows $(pfb_sent_count) status=sent, want $total"
echo "sink: all $total messages received; Postfix logged $total status=sent"

# --- DKIM on a sample: the first two (swaks), and loadgen's first, middle and last ------------
sample=("$STORE/00000001.eml" "$STORE/00000002.eml" "$STORE/$(printf '%08d' $((SWAKS_N + 1))).eml"
        "$STORE/$(printf '%08d' $((SWAKS_N + MESSAGES / 2))).eml" "$STORE/$(printf '%08d' "$total").eml")
for f in "${sample[@]}"; do
  [ "$(grep -c '^DKIM-Signature:' "$f")" = 1 ] || { head -n 30 "$f"; fail "$f: want one DKIM-Signature"; }
  sig=$(sed -n '/^DKIM-Signature:/,/^[^ \t]/p' "$f" | sed '$d' | tr -d ' \t\r\n')
  for tag in d=example.test s=pfbench c=relaxed/relaxed a=rsa-sha256; do
    [[ ";${sig#DKIM-Signature:};" == *";$tag;"* ]] || { echo "$sig"; fail "$f: no $tag"; }
  done
  out=$($PY "$SRC/tests/integration/dkim/verify_dkimpy.py" "$PFB_RECORDS_DIR" "$f") \
    || { echo "$out"; fail "$f: dkimpy does not verify"; }
  [ "$out" = "pass d=example.test s=pfbench a=rsa-sha256" ] || { echo "$out"; fail "$f: unexpected verdict"; }
done
echo "dkim: ${#sample[@]} sampled messages carry d=example.test s=pfbench c=relaxed/relaxed a=rsa-sha256, dkimpy: pass"

# --- numbers ---------------------------------------------------------------------------------------
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$MESSAGES" -v hz="$CLK" -v s0="$s0" -v d0="$d0" -v d1="$d1" 'BEGIN {
  printf "relay: %d messages from loadgen start to an empty queue in %.2f s = %.1f msg/s end to end\n",
    n, d1 - s0, n / (d1 - s0)
  printf "cpu: %d ticks during loadgen + %d while draining (%.2f s) = %.2f ticks/msg = %.2f ms CPU/msg (CLK_TCK %d)\n",
    b - a, c - b, d1 - d0, (c - a) / n, (c - a) * 1000 / hz / n, hz }'
echo "memory during the run (max of 0.2 s samples): PSS sum $pss_max KiB, RSS sum $rss_max KiB," \
  "now $(pfb_pids | wc -l) processes, PSS $(pfb_pss_kib) KiB"
pfb_stop || fail "pfb_stop"
pfb_stop || fail "pfb_stop (second call)"
echo "stopped"
