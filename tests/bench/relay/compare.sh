#!/usr/bin/env bash
# tests/bench/relay/compare.sh — the relay job, Signpost against Postfix + OpenDKIM, side by
# side in one run on one machine.
#
# The job: accept 4 KB messages over STARTTLS + AUTH PLAIN, DKIM-sign them (RSA-2048,
# relaxed/relaxed), commit them to the queue with fsync, and relay them over STARTTLS to a
# sink on loopback. Each relay gets its own sink (bench_sink), so each one's messages are
# counted on their own.
#   Signpost:          `signpost init --dev` setup changed to smarthost delivery to its sink,
#                      RSA-2048 only, connection limits raised.
#   Postfix + OpenDKIM: a private Postfix instance (postfix_opendkim.sh): submission with
#                      STARTTLS + Cyrus SASL, the OpenDKIM milter, relayhost = its sink.
# loadgen drives both, interleaved (Signpost, Postfix, Signpost, Postfix, ...), at
# concurrency 1, 8 and 32 over reused connections and with one message per connection at
# concurrency 8. A run is measured from the first message to the moment its sink has every
# message the relay answered 250 for and the relay's queue is empty, so CPU covers the whole
# job (submission, signing, queueing, delivery). The table gives messages/s and p50/p99 of
# the submit transaction (from loadgen), relay CPU-seconds per 1,000 messages (every process
# of the relay, from /proc), peak RSS and PSS (sampled every 100 ms during the run), and the
# Signpost/Postfix ratios. The same run prints floor figures of the machine (RSA-2048 and
# Ed25519 signatures/s and SHA-256 MB/s on one core from `openssl speed`, fsync of a 4 KB
# file, TLS 1.3 handshakes/s against `openssl s_server`).
#
# Checks (exit 1 when one fails): no loadgen errors; every sink received exactly what its
# relay accepted; a sample of each sink's stored messages verifies with dkimpy against the
# relay's published key.
#
# Only 127.0.0.1; every load step is bounded by a count and by time; every process started
# here is stopped by its PID at exit.
#
# Usage: compare.sh [--quick] [--rounds R] [--dir DIR] [--keep]
#   --quick     small counts (a smoke run, ~1 min); the full run takes ~5-8 min
#   --rounds R  interleaved rounds per row (default 2)
#   SIGNPOST_BIN (default <repo>/build/bin/signpost), LOADGEN_BIN, SINK_BIN (default: next to
#   it in <repo>/build/tests/bench/...). Build with -DCMAKE_BUILD_TYPE=Release or
#   RelWithDebInfo.
# Exit status: 0 table printed and every check passed; 1 a check failed; 2 bad usage or a
# missing tool.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
SIGNPOST_BIN=${SIGNPOST_BIN:-$REPO/build/bin/signpost}
LOADGEN_BIN=${LOADGEN_BIN:-$REPO/build/tests/bench/loadgen/loadgen}
SINK_BIN=${SINK_BIN:-$REPO/build/tests/bench/relay/bench_sink}
PY=/usr/bin/python3

ROUNDS=2
QUICK=0
KEEP=0
WORK=""
usage() { sed -n '31,38p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --rounds) ROUNDS=$2; shift ;;
    --dir) WORK=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "compare: --rounds wants a positive number" >&2; exit 2; }

# Messages per run of each row (the full run: each row of each relay takes 5-30 s).
declare -A COUNT=([c1]=600 [c8]=1500 [c32]=3000 [percon.c8]=800)
if [[ $QUICK -eq 1 ]]; then COUNT=([c1]=60 [c8]=150 [c32]=300 [percon.c8]=80); fi
ROW_NAMES=(c1 c8 c32 percon.c8)
declare -A ROW_ARGS=([c1]="--concurrency 1" [c8]="--concurrency 8" [c32]="--concurrency 32"
                     [percon.c8]="--concurrency 8 --per-connection 1")

die() { echo "compare: $*" >&2; exit 2; }
log() { echo "compare: $*" >&2; }
for bin in "$SIGNPOST_BIN" "$LOADGEN_BIN" "$SINK_BIN"; do
  [[ -x $bin ]] || die "$bin is missing (build the tree: scripts/build.sh build)"
done
for tool in openssl postfix opendkim saslpasswd2 "$PY"; do
  command -v "$tool" > /dev/null || die "$tool is not installed (scripts/install-deps.sh)"
done

if [[ -z $WORK ]]; then WORK=$(mktemp -d /tmp/signpost-compare.XXXXXX); else mkdir -p "$WORK"; fi
PIDS=()
CMP_PFB_STARTED=0
cleanup() {
  local pid
  [[ $CMP_PFB_STARTED -eq 1 ]] && pfb_stop || true
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2> /dev/null; then
      kill "$pid" 2> /dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2> /dev/null || true
    fi
  done
  if [[ $KEEP -eq 0 ]]; then rm -rf "$WORK"; else log "kept $WORK"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# shellcheck source=postfix_opendkim.sh
source "$HERE/postfix_opendkim.sh"

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {  # PORT SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0
    sleep 0.1
  done
  return 1
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$2"; }

# --- the sinks' certificate (a test CA) -----------------------------------------------------
CA=$WORK/ca
mkdir -p "$CA"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=signpost bench CA" \
  -keyout "$CA/ca.key" -out "$CA/ca.pem" 2> /dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" -keyout "$CA/sink.key" \
  -out "$CA/sink.csr" 2> /dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$CA/san.ext"
openssl x509 -req -in "$CA/sink.csr" -CA "$CA/ca.pem" -CAkey "$CA/ca.key" -CAcreateserial -days 2 \
  -extfile "$CA/san.ext" -out "$CA/sink.pem" 2> /dev/null

# start_sink NAME: bench_sink on a free port; SINK_PORT[NAME], its status file and store.
declare -A SINK_PORT SINK_STATUS SINK_STORE
start_sink() {
  local name=$1 port
  port=$(free_port)
  SINK_STATUS[$name]=$WORK/sink-$name.status
  SINK_STORE[$name]=$WORK/sink-$name.store
  mkdir -p "${SINK_STORE[$name]}"
  "$SINK_BIN" --listen "127.0.0.1:$port" --cert "$CA/sink.pem" --key "$CA/sink.key" \
    --store "${SINK_STORE[$name]}" --store-max 200 --status "${SINK_STATUS[$name]}" \
    > "$WORK/sink-$name.out" 2>&1 &
  PIDS+=($!)
  wait_port "$port" 10 || { cat "$WORK/sink-$name.out" >&2; die "the $name sink did not start"; }
  SINK_PORT[$name]=$port
}
sink_count() { sed -n 's/^messages=\([0-9]*\).*/\1/p' "${SINK_STATUS[$1]}" 2> /dev/null || true; }

start_sink signpost
start_sink postfix

# --- Signpost -------------------------------------------------------------------------------
SP=$WORK/signpost
"$SIGNPOST_BIN" init --dev "$SP" > "$WORK/init.log" 2>&1 || { cat "$WORK/init.log" >&2; die "signpost init --dev failed"; }
SP_PORT=$(free_port)
SP_CONF=$SP/signpost.toml
"$PY" - "$SP_CONF" "$SP_PORT" "$(free_port)" "${SINK_PORT[signpost]}" "$CA/ca.pem" << 'PY'
import re, sys
path, port, port465, sink, ca = sys.argv[1:]
text = open(path).read()
text = text.replace('"127.0.0.1:2587"', '"127.0.0.1:%s"' % port).replace('"127.0.0.1:2465"', '"127.0.0.1:%s"' % port465)
text = re.sub(r'\[metrics\][^\[]*', '', text)
text = re.sub(r'algorithms = \[[^\]]*\]', 'algorithms = ["rsa2048"]', text)
text = re.sub(r'\[delivery\][^\[]*', '[delivery]\nmode = "smarthost"\nsmarthost = "localhost:%s"\n'
              'smarthost_tls = "starttls"\nextra_ca_file = "%s"\n\n' % (sink, ca), text)
text += '\n[limits]\nmax_connections = 2000\nmax_connections_per_ip = 2000\n'
open(path, "w").write(text)
PY
"$SIGNPOST_BIN" check-config --config "$SP_CONF" > "$WORK/check-config.log" 2>&1 \
  || { cat "$WORK/check-config.log" >&2; die "the Signpost benchmark config does not load"; }
"$SIGNPOST_BIN" serve --config "$SP_CONF" > "$WORK/signpost.log" 2>&1 &
SP_PID=$!
PIDS+=("$SP_PID")
for _ in $(seq 1 100); do grep -q '\] ready' "$WORK/signpost.log" && break; sleep 0.1; done
grep -q '\] ready' "$WORK/signpost.log" || { tail -20 "$WORK/signpost.log" >&2; die "Signpost did not start"; }
SP_RECORDS=$WORK/signpost-records
mkdir -p "$SP_RECORDS"
"$SIGNPOST_BIN" keys dns --config "$SP_CONF" | awk '
  $1 == "name:" { name = $2 }
  $1 == "value:" { sub(/^ *value: /, ""); print > (dir "/" name ".txt"); close(dir "/" name ".txt") }' dir="$SP_RECORDS"
ls "$SP_RECORDS"/*.txt > /dev/null 2>&1 || die "no DKIM record from signpost keys dns"

# --- Postfix + OpenDKIM ---------------------------------------------------------------------
# As Debian sets them up: the OpenDKIM milter on a unix socket (Debian's opendkim.conf; over
# TCP each message would wait ~80 ms more on delayed ACKs), and Postfix's default of one new
# TLS connection per delivery to the sink (PFB_SMTP_TLS_REUSE=yes turns on its connection
# reuse, for a run that asks how close a tuned Postfix gets).
export PFB_MILTER_SOCKET=unix PFB_SMTP_TLS_REUSE=${PFB_SMTP_TLS_REUSE:-no}
pfb_setup "$WORK/postfix" "${SINK_PORT[postfix]}" "$CA/ca.pem"
CMP_PFB_STARTED=1
pfb_start

# --- per relay: CPU ticks, memory, queue -----------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
sp_cpu_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13 + $14 + $15}' "/proc/$SP_PID/stat"; }
sp_mem_kib() { awk '/^Rss:/ {r = $2} /^Pss:/ {p = $2} END {print r + 0, p + 0}' "/proc/$SP_PID/smaps_rollup"; }
sp_queue_empty() {
  local out
  out=$("$SIGNPOST_BIN" queue list --json --config "$SP_CONF" 2> /dev/null) || return 1
  [[ $(tr -d ' \n' <<< "$out") == "[]" ]]
}
cpu_ticks() { if [[ $1 == signpost ]]; then sp_cpu_ticks; else pfb_cpu_ticks; fi; }
mem_kib() {
  if [[ $1 == signpost ]]; then sp_mem_kib; else echo "$(pfb_rss_kib) $(pfb_pss_kib)"; fi
}
queue_empty() { if [[ $1 == signpost ]]; then sp_queue_empty; else pfb_queue_empty; fi; }
alive() {
  kill -0 "$SP_PID" 2> /dev/null || { tail -30 "$WORK/signpost.log" >&2; log "Signpost died"; exit 1; }
}

# --- the runs -------------------------------------------------------------------------------
declare -A ACCEPTED=([signpost]=0 [postfix]=0)
declare -A SUM_RATE SUM_P50 SUM_P99 SUM_TICKS SUM_MSGS PEAK_RSS PEAK_PSS ERRORS RUNS
FAILED=0

# run RELAY ROW ROUND
run() {
  local relay=$1 row=$2 round=$3 port user pwfile out line c0 c1 sampler expect n
  if [[ $relay == signpost ]]; then
    port=$SP_PORT; user=dev; pwfile=$SP/dev-password
  else
    port=$PFB_PORT; user=$PFB_USER; pwfile=$PFB_PASSWORD_FILE
  fi
  out=$WORK/run-$relay-$row-$round.out
  log "$relay $row round $round: ${COUNT[$row]} messages"
  c0=$(cpu_ticks "$relay")
  # Peak memory: sampled every 100 ms while the run lasts.
  echo "0 0" > "$WORK/peak"
  ( peak_r=0; peak_p=0
    while [[ ! -e $WORK/stop-sampler ]]; do
      read -r r p < <(mem_kib "$relay" 2> /dev/null || echo "0 0")
      (( r > peak_r )) && peak_r=$r
      (( p > peak_p )) && peak_p=$p
      echo "$peak_r $peak_p" > "$WORK/peak.tmp" && mv "$WORK/peak.tmp" "$WORK/peak"
      sleep 0.1
    done ) &
  sampler=$!
  PIDS+=("$sampler")
  # shellcheck disable=SC2086
  # Both relays use self-signed certificates: loadgen does not verify them (equal work).
  "$LOADGEN_BIN" --connect "127.0.0.1:$port" --tls starttls \
    --user "$user" --password-file "$pwfile" --from dev@example.test --to someone@example.net \
    --size 4096 --messages "${COUNT[$row]}" --timeout 30 --duration 120 ${ROW_ARGS[$row]} > "$out" 2>&1 || true
  line=$(grep '^RESULT loadgen' "$out" || true)
  [[ -n $line ]] || { cat "$out" >&2; log "$relay $row: loadgen printed no RESULT"; FAILED=1; }
  n=$(field msgs "$line"); n=${n:-0}
  ACCEPTED[$relay]=$((ACCEPTED[$relay] + n))
  # The job ends when the sink has every accepted message and the queue is empty.
  expect=${ACCEPTED[$relay]}
  for _ in $(seq 1 1200); do
    [[ $(sink_count "$relay") -ge $expect ]] && queue_empty "$relay" && break
    sleep 0.1
  done
  c1=$(cpu_ticks "$relay")
  touch "$WORK/stop-sampler"
  wait "$sampler" 2> /dev/null || true
  rm -f "$WORK/stop-sampler"
  [[ $relay == signpost ]] && alive
  if [[ $(sink_count "$relay") -lt $expect ]]; then
    log "$relay $row: the sink has $(sink_count "$relay") of $expect messages after 120 s"
    FAILED=1
  fi
  local key=$relay.$row errs peak
  errs=$(field errors "$line"); errs=${errs:-1}
  if [[ $errs != 0 ]]; then
    FAILED=1
    sed -n '/errors by reply code/,/^RESULT/p' "$out" | sed "s/^/  $relay $row: /" >&2
  fi
  read -r pr pp < "$WORK/peak"
  ERRORS[$key]=$(( ${ERRORS[$key]:-0} + errs ))
  RUNS[$key]=$(( ${RUNS[$key]:-0} + 1 ))
  SUM_MSGS[$key]=$(( ${SUM_MSGS[$key]:-0} + n ))
  SUM_TICKS[$key]=$(( ${SUM_TICKS[$key]:-0} + c1 - c0 ))
  SUM_RATE[$key]=$(awk -v a="${SUM_RATE[$key]:-0}" -v b="$(field rate "$line")" 'BEGIN {print a + b}')
  SUM_P50[$key]=$(awk -v a="${SUM_P50[$key]:-0}" -v b="$(field p50_ms "$line")" 'BEGIN {print a + b}')
  SUM_P99[$key]=$(awk -v a="${SUM_P99[$key]:-0}" -v b="$(field p99_ms "$line")" 'BEGIN {print a + b}')
  (( pr > ${PEAK_RSS[$key]:-0} )) && PEAK_RSS[$key]=$pr
  (( pp > ${PEAK_PSS[$key]:-0} )) && PEAK_PSS[$key]=$pp
  return 0
}

START=$(date +%s)
for row in "${ROW_NAMES[@]}"; do
  for ((round = 1; round <= ROUNDS; round++)); do
    run signpost "$row" "$round"
    run postfix "$row" "$round"
  done
done
LOAD_SECS=$(( $(date +%s) - START ))

# --- checks: every message arrived; a signed sample verifies --------------------------------
VERIFY=$HERE/../../integration/dkim/verify_dkimpy.py
declare -A VERIFIED
for relay in signpost postfix; do
  records=$SP_RECORDS
  [[ $relay == postfix ]] && records=$PFB_RECORDS_DIR
  mapfile -t sample < <(find "${SINK_STORE[$relay]}" -name '*.eml' | sort -V | awk 'NR % 10 == 1' | head -n 20)
  if [[ ${#sample[@]} -eq 0 ]]; then
    log "$relay: the sink stored no message to verify"; FAILED=1; VERIFIED[$relay]="0/0"; continue
  fi
  ok=0
  for m in "${sample[@]}"; do
    if "$PY" "$VERIFY" "$records" "$m" > "$WORK/verify.out" 2>&1 && grep -q '^pass .*a=rsa-sha256' "$WORK/verify.out"; then
      ok=$((ok + 1))
    else
      log "$relay: $m does not verify: $(head -n 3 "$WORK/verify.out")"
    fi
  done
  VERIFIED[$relay]="$ok/${#sample[@]}"
  [[ $ok -eq ${#sample[@]} ]] || FAILED=1
done

# --- floor figures of this machine ----------------------------------------------------------
log "floor: openssl speed, fsync, TLS handshakes"
rsa_signs=$(openssl speed -mr -seconds 2 rsa2048 2> /dev/null | awk -F: '/^\+F2:/ {printf "%.0f", $4}')
ed_signs=$(openssl speed -mr -seconds 2 ed25519 2> /dev/null | awk -F: '/^\+F6:/ {printf "%.0f", $5}')
sha_mbs=$(openssl speed -mr -seconds 2 -bytes 16384 sha256 2> /dev/null | awk -F: '/^\+F:/ {printf "%.0f", $4 / 1e6}')
mkdir -p "$SP/spool/bench-probe"
"$PY" "$REPO/tests/bench/loadgen/fsync_probe.py" "$SP/spool/bench-probe" 300 10 > "$WORK/fsync.out" 2>&1 || true
rm -rf "$SP/spool/bench-probe"
fsync_p50=$(field p50_ms "$(grep 'name=fsync.4k ' "$WORK/fsync.out" || true)")
SS_PORT=$(free_port)
HS=$(( QUICK == 1 ? 100 : 1000 ))
openssl s_server -accept "127.0.0.1:$SS_PORT" -cert "$SP/tls/cert.pem" -key "$SP/tls/key.pem" -tls1_3 \
  -quiet -naccept $((HS + 10)) < /dev/null > "$WORK/s_server.log" 2>&1 &
PIDS+=($!)
wait_port "$SS_PORT" 5 || die "openssl s_server did not start"
"$LOADGEN_BIN" --connect "127.0.0.1:$SS_PORT" --tls implicit --handshake-only --concurrency 1 \
  --messages "$HS" --timeout 30 --duration 60 > "$WORK/handshakes.out" 2>&1 || true
hs_rate=$(field rate "$(grep '^RESULT loadgen' "$WORK/handshakes.out" || true)")

# --- the table ------------------------------------------------------------------------------
avg() { awk -v s="$1" -v n="$2" 'BEGIN {if (n > 0) printf "%.1f", s / n; else printf "-"}'; }
avg3() { awk -v s="$1" -v n="$2" 'BEGIN {if (n > 0) printf "%.2f", s / n; else printf "-"}'; }
cpu_per_k() { awk -v t="$1" -v m="$2" -v hz="$CLK_TCK" 'BEGIN {if (m > 0) printf "%.2f", t / hz / m * 1000; else printf "-"}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a != "-" && b != "-" && b + 0 > 0) printf "%.2f", a / b; else printf "-"}'; }

echo
echo "Relay job: Signpost vs Postfix + OpenDKIM — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, loopback"
echo "4096-byte messages, STARTTLS + AUTH PLAIN, DKIM RSA-2048 relaxed/relaxed, queue with fsync,"
echo "relayed over STARTTLS to a sink; $ROUNDS interleaved round(s) per row; load phase ${LOAD_SECS}s"
echo "signpost: $SIGNPOST_BIN ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$(dirname "$SIGNPOST_BIN")/../CMakeCache.txt" 2> /dev/null || echo '?'))"
echo "postfix: $(postconf -h mail_version 2> /dev/null || echo '?'), opendkim: $(opendkim -V 2> /dev/null | head -n1 | awk '{print $NF}')"
echo
printf '%-10s %-9s %7s %5s %10s %9s %9s %12s %9s %9s\n' row relay msgs errs msg/s p50_ms p99_ms cpu_s/1000 peakRSS peakPSS
declare -A RATE P50 P99 CPUK
for row in "${ROW_NAMES[@]}"; do
  for relay in signpost postfix; do
    key=$relay.$row
    RATE[$key]=$(avg "${SUM_RATE[$key]:-0}" "${RUNS[$key]:-0}")
    P50[$key]=$(avg3 "${SUM_P50[$key]:-0}" "${RUNS[$key]:-0}")
    P99[$key]=$(avg3 "${SUM_P99[$key]:-0}" "${RUNS[$key]:-0}")
    CPUK[$key]=$(cpu_per_k "${SUM_TICKS[$key]:-0}" "${SUM_MSGS[$key]:-0}")
    printf '%-10s %-9s %7s %5s %10s %9s %9s %12s %8sM %8sM\n' "$row" "$relay" "${SUM_MSGS[$key]:-0}" \
      "${ERRORS[$key]:-0}" "${RATE[$key]}" "${P50[$key]}" "${P99[$key]}" "${CPUK[$key]}" \
      "$(mib "${PEAK_RSS[$key]:-0}")" "$(mib "${PEAK_PSS[$key]:-0}")"
  done
done
echo
echo "Signpost / Postfix (msg/s: higher is better; p99, CPU, PSS: lower is better)"
printf '%-10s %9s %9s %9s %9s\n' row msg/s p99 cpu/msg peakPSS
for row in "${ROW_NAMES[@]}"; do
  printf '%-10s %8sx %8sx %8sx %8sx\n' "$row" "$(ratio "${RATE[signpost.$row]}" "${RATE[postfix.$row]}")" \
    "$(ratio "${P99[signpost.$row]}" "${P99[postfix.$row]}")" "$(ratio "${CPUK[signpost.$row]}" "${CPUK[postfix.$row]}")" \
    "$(ratio "${PEAK_PSS[signpost.$row]:-0}" "${PEAK_PSS[postfix.$row]:-0}")"
done
echo
echo "floor (this machine, same run): RSA-2048 ${rsa_signs:-?} signs/s, Ed25519 ${ed_signs:-?} signs/s (one core,"
echo "openssl speed); SHA-256 ${sha_mbs:-?} MB/s; fsync of a 4 KB file p50 ${fsync_p50:-?} ms; TLS 1.3 handshakes"
echo "${hs_rate:-?}/s against openssl s_server (concurrency 1)"
rsa_ms=$(awk -v r="${rsa_signs:-0}" 'BEGIN {if (r > 0) printf "%.3f", 1000 / r; else printf "-"}')
echo "one RSA-2048 signature: $rsa_ms ms of CPU; Signpost's CPU per message at c32: $(awk -v c="${CPUK[signpost.c32]}" 'BEGIN {if (c != "-") printf "%.3f", c; else printf "-"}') ms"
echo
echo "checks: sink signpost $(sink_count signpost)/${ACCEPTED[signpost]}, sink postfix $(sink_count postfix)/${ACCEPTED[postfix]} messages;"
echo "        dkimpy verifies signpost ${VERIFIED[signpost]:-?}, postfix ${VERIFIED[postfix]:-?} sampled messages"
for row in "${ROW_NAMES[@]}"; do
  for relay in signpost postfix; do
    key=$relay.$row
    echo "RESULT compare row=$row relay=$relay msgs=${SUM_MSGS[$key]:-0} errors=${ERRORS[$key]:-0} rate=${RATE[$key]} p50_ms=${P50[$key]} p99_ms=${P99[$key]} cpu_s_per_1000=${CPUK[$key]} peak_rss_kib=${PEAK_RSS[$key]:-0} peak_pss_kib=${PEAK_PSS[$key]:-0}"
  done
done
if [[ $FAILED -ne 0 ]]; then
  log "a check failed (see above; --keep keeps $WORK)"
  exit 1
fi
exit 0
