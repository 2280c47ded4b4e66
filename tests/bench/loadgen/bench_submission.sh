#!/usr/bin/env bash
# tests/bench/loadgen/bench_submission.sh — Signpost's SMTP submission benchmark.
#
# Starts a private Signpost (`signpost init --dev` in a temp dir, listeners moved to free
# loopback ports, connection limits raised), drives it with loadgen, and prints one table:
# throughput and latency at concurrency 1, 8 and 32, with PIPELINING and with BDAT, one
# message per connection, the server's memory with 1,000 idle TLS connections, and
# references measured in the same run (TLS handshakes against `openssl s_server` and
# against Signpost, fsync and the full durable-commit pattern on the spool's filesystem)
# for ratios. See tests/bench/README.md, section "bench_submission".
#
# Everything runs on 127.0.0.1. Every load step is bounded by a message count and by time
# (loadgen --duration/--timeout; the idle hold by --hold); the whole script takes ~1-2
# minutes with the defaults and stops every process it started, by PID.
#
# Usage: bench_submission.sh [--quick] [--messages N] [--idle N] [--hold S] [--dir DIR] [--keep]
#   SIGNPOST_BIN  (default /work/main/build/bin/signpost)
#   LOADGEN_BIN   (default <repo>/build-loadgen/tests/bench/loadgen/loadgen)
#   BENCH_SIGNER_BIN (default <repo>/build-bench/tests/bench/signer/bench_signer; optional)
# Exit status: 0 table printed and no errors; 1 a row had errors or the server died;
# 2 bad usage or a missing tool.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
SIGNPOST_BIN=${SIGNPOST_BIN:-/work/main/build/bin/signpost}
LOADGEN_BIN=${LOADGEN_BIN:-$REPO/build-loadgen/tests/bench/loadgen/loadgen}
BENCH_SIGNER_BIN=${BENCH_SIGNER_BIN:-$REPO/build-bench/tests/bench/signer/bench_signer}

N=2000          # messages per throughput row
IDLE=1000       # idle TLS connections
HOLD=20         # seconds the idle connections are held
QUICK=0
KEEP=0
WORK=""

usage() { sed -n '16,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1; N=200; IDLE=200; HOLD=5 ;;
    --messages) N=$2; shift ;;
    --idle) IDLE=$2; shift ;;
    --hold) HOLD=$2; shift ;;
    --dir) WORK=$2; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench_submission: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

die() { echo "bench_submission: $*" >&2; exit 2; }
[[ -x $SIGNPOST_BIN ]] || die "no Signpost binary at $SIGNPOST_BIN (set SIGNPOST_BIN)"
[[ -x $LOADGEN_BIN ]] || die "no loadgen at $LOADGEN_BIN (ninja -C build-loadgen loadgen, or set LOADGEN_BIN)"
command -v openssl >/dev/null || die "openssl not found"
command -v python3 >/dev/null || die "python3 not found"

# 1,000 idle connections need 1,000+ descriptors in the server and in loadgen (both inherit
# this limit); the usual soft limit is 1024.
want_fds=$((IDLE * 2 + 256))
[[ $want_fds -lt 4096 ]] && want_fds=4096
hard_fds=$(ulimit -Hn)
if [[ $hard_fds != unlimited && $hard_fds -lt $want_fds ]]; then
  die "ulimit -Hn is $hard_fds; $want_fds descriptors are needed for --idle $IDLE"
fi
ulimit -n "$want_fds"

if [[ -z $WORK ]]; then
  WORK=$(mktemp -d /tmp/signpost-bench.XXXXXX)
else
  mkdir -p "$WORK"
fi
SP_PID=""
SS_PID=""
IDLE_PID=""
cleanup() {
  local pid
  for pid in "$IDLE_PID" "$SS_PID" "$SP_PID"; do
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [[ $KEEP -eq 0 ]]; then rm -rf "$WORK"; else echo "bench_submission: kept $WORK" >&2; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

log() { echo "bench_submission: $*" >&2; }

# --- a private Signpost ---------------------------------------------------------------

read -r PORT_STARTTLS PORT_IMPLICIT PORT_METRICS PORT_SSERVER < <(python3 - <<'EOF'
import socket
socks = []
for _ in range(4):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)

SP=$WORK/sp
"$SIGNPOST_BIN" init --dev "$SP" > "$WORK/init.log" 2>&1 || { cat "$WORK/init.log" >&2; die "signpost init --dev failed"; }
CONF=$SP/signpost.toml
for addr in 127.0.0.1:2587 127.0.0.1:2465 127.0.0.1:9587; do
  grep -q "\"$addr\"" "$CONF" || die "$CONF has no \"$addr\" to move (did signpost init --dev change?)"
done
sed -i -e "s/\"127.0.0.1:2587\"/\"127.0.0.1:$PORT_STARTTLS\"/" \
       -e "s/\"127.0.0.1:2465\"/\"127.0.0.1:$PORT_IMPLICIT\"/" \
       -e "s/\"127.0.0.1:9587\"/\"127.0.0.1:$PORT_METRICS\"/" "$CONF"
# The defaults (max_connections 1000, max_connections_per_ip 20) would refuse most of the
# load: every loadgen connection comes from 127.0.0.1.
LIMIT=$((IDLE + 1000))
sed -i -e '/^max_connections *=/d' -e '/^max_connections_per_ip *=/d' "$CONF"
if grep -q '^\[limits\]' "$CONF"; then
  sed -i "/^\[limits\]/a max_connections = $LIMIT\nmax_connections_per_ip = $LIMIT" "$CONF"
else
  printf '\n# bench_submission.sh: all load comes from 127.0.0.1\n[limits]\nmax_connections = %d\nmax_connections_per_ip = %d\n' \
    "$LIMIT" "$LIMIT" >> "$CONF"
fi
"$SIGNPOST_BIN" check-config --config "$CONF" > "$WORK/check-config.log" 2>&1 ||
  { cat "$WORK/check-config.log" >&2; die "the benchmark configuration does not load"; }

"$SIGNPOST_BIN" serve --config "$CONF" > "$WORK/signpost.log" 2>&1 &
SP_PID=$!
for _ in $(seq 1 100); do
  kill -0 "$SP_PID" 2>/dev/null || { tail -20 "$WORK/signpost.log" >&2; die "signpost serve exited at start"; }
  grep -q '\] ready' "$WORK/signpost.log" && break
  sleep 0.2
done
grep -q '\] ready' "$WORK/signpost.log" || die "signpost serve not ready after 20 s"

PASSWORD_FILE=$SP/dev-password
CLK_TCK=$(getconf CLK_TCK)

mem_kib() {  # "RSS PSS" of the server, KiB
  awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} END {print r, p}' "/proc/$SP_PID/smaps_rollup"
}
cpu_ticks() {  # utime + stime of the server (all threads)
  awk '{print $14 + $15}' "/proc/$SP_PID/stat"
}
alive() {
  kill -0 "$SP_PID" 2>/dev/null || { tail -30 "$WORK/signpost.log" >&2; log "Signpost died (log above)"; exit 1; }
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

declare -A MSGS ERRS RATE P50 P99 CPU
ROWS=()
FAILED=0
ACCEPTED=0

# run_row NAME COUNTS_TOWARDS_SPOOL loadgen-args...
run_row() {
  local name=$1 spool=$2
  shift 2
  local out=$WORK/$name.out rc=0 c0 c1 line
  log "$name: loadgen $*"
  c0=$(cpu_ticks)
  "$LOADGEN_BIN" "$@" > "$out" 2>&1 || rc=$?
  alive
  c1=$(cpu_ticks)
  line=$(grep '^RESULT loadgen' "$out" || true)
  if [[ -z $line ]]; then
    cat "$out" >&2
    log "$name: loadgen printed no RESULT (exit $rc)"
    FAILED=1
    return
  fi
  ROWS+=("$name")
  MSGS[$name]=$(field msgs "$line")
  ERRS[$name]=$(field errors "$line")
  RATE[$name]=$(field rate "$line")
  P50[$name]=$(field p50_ms "$line")
  P99[$name]=$(field p99_ms "$line")
  CPU[$name]=$(awk -v d=$((c1 - c0)) -v t="$CLK_TCK" -v m="${MSGS[$name]}" \
    'BEGIN {if (m > 0) printf "%.2f", d * 1000 / t / m; else printf "-"}')
  if [[ ${ERRS[$name]} != 0 ]]; then
    FAILED=1
    sed -n '/errors by reply code/,/^RESULT/p' "$out" | sed "s/^/  $name: /" >&2
  fi
  if [[ $spool -eq 1 ]]; then ACCEPTED=$((ACCEPTED + ${MSGS[$name]})); fi
  return 0
}

SUBMIT=(--connect "127.0.0.1:$PORT_STARTTLS" --tls starttls --user dev --password-file "$PASSWORD_FILE"
        --from dev@example.test --to someone@example.net --size 4096 --timeout 30 --duration 60)

# References that do not touch the server, measured first (nothing else of ours runs):
# fsync on the spool's filesystem (a directory next to the queue, removed afterwards) ...
log "ref.fsync: $HERE/fsync_probe.py"
python3 "$HERE/fsync_probe.py" "$SP/spool/bench-probe" 300 10 > "$WORK/fsync.out"
rm -rf "$SP/spool/bench-probe"
REF_ROWS=()
for probe in fsync.4k commit; do
  line=$(grep "name=$probe " "$WORK/fsync.out")
  MSGS[ref.$probe]=$(field n "$line"); ERRS[ref.$probe]=0; RATE[ref.$probe]=-; CPU[ref.$probe]=-
  P50[ref.$probe]=$(field p50_ms "$line"); P99[ref.$probe]=$(field p99_ms "$line")
  REF_ROWS+=("ref.$probe")
done
# ... and DKIM signing of a 4 KB message with each of the dev setup's two keys, from
# bench_signer when it is built (tests/bench/signer; build it from the same tree).
if [[ -x $BENCH_SIGNER_BIN ]]; then
  log "ref.sign: $BENCH_SIGNER_BIN --quick --filter sign_message"
  if timeout 120 "$BENCH_SIGNER_BIN" --quick --filter sign_message > "$WORK/signer.out" 2>&1; then
    for alg in ed25519 rsa; do
      line=$(grep "^RESULT sign_message.$alg.4k " "$WORK/signer.out" || true)
      [[ -n $line ]] || continue
      rate=$(awk '{print $3}' <<<"$line")
      MSGS[ref.sign.$alg.4k]=-; ERRS[ref.sign.$alg.4k]=0; CPU[ref.sign.$alg.4k]=-; P99[ref.sign.$alg.4k]=-
      RATE[ref.sign.$alg.4k]=$(awk -v r="$rate" 'BEGIN {printf "%.1f", r}')
      P50[ref.sign.$alg.4k]=$(awk -v r="$rate" 'BEGIN {printf "%.3f", 1000 / r}')
      REF_ROWS+=("ref.sign.$alg.4k")
    done
  else
    log "bench_signer failed (see $WORK/signer.out); no signing reference"
  fi
fi

read -r MEM_START_RSS MEM_START_PSS < <(mem_kib)

# --- throughput and latency -----------------------------------------------------------

run_row submit.c1  1 "${SUBMIT[@]}" --concurrency 1  --messages "$N"
run_row submit.c8  1 "${SUBMIT[@]}" --concurrency 8  --messages "$N"
run_row submit.c32 1 "${SUBMIT[@]}" --concurrency 32 --messages "$N"
run_row submit.c8.pipelining 1 "${SUBMIT[@]}" --concurrency 8 --messages "$N" --pipelining
run_row submit.c8.bdat       1 "${SUBMIT[@]}" --concurrency 8 --messages "$N" --bdat --pipelining
run_row percon.c8  1 "${SUBMIT[@]}" --concurrency 8 --messages $((N / 4)) --per-connection 1

# --- references -----------------------------------------------------------------------

HS=$((N / 4))
run_row ref.tls.signpost.c1 0 --connect "127.0.0.1:$PORT_IMPLICIT" --tls implicit --handshake-only \
  --concurrency 1 --messages "$HS" --timeout 30 --duration 60
run_row ref.tls.signpost.c8 0 --connect "127.0.0.1:$PORT_IMPLICIT" --tls implicit --handshake-only \
  --concurrency 8 --messages "$HS" --timeout 30 --duration 60
run_row ref.starttls.signpost.c8 0 --connect "127.0.0.1:$PORT_STARTTLS" --tls starttls --handshake-only \
  --concurrency 8 --messages "$HS" --timeout 30 --duration 60

# The raw TLS 1.3 handshake with the same certificate (ECDSA P-256): openssl s_server is
# single-threaded, so concurrency 1. -naccept bounds it.
openssl s_server -accept "127.0.0.1:$PORT_SSERVER" -cert "$SP/tls/cert.pem" -key "$SP/tls/key.pem" \
  -quiet -naccept $((HS + 10)) < /dev/null > "$WORK/s_server.log" 2>&1 &
SS_PID=$!
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT_SSERVER") 2>/dev/null && break
  sleep 0.1
done
run_row ref.tls.s_server.c1 0 --connect "127.0.0.1:$PORT_SSERVER" --tls implicit --handshake-only \
  --concurrency 1 --messages "$HS" --timeout 30 --duration 60
CPU[ref.tls.s_server.c1]=-  # not Signpost's work
kill "$SS_PID" 2>/dev/null || true
wait "$SS_PID" 2>/dev/null || true
SS_PID=""

# --- memory with idle TLS connections -------------------------------------------------

sleep 1
read -r MEM_LOAD_RSS MEM_LOAD_PSS < <(mem_kib)
log "idle: $IDLE STARTTLS connections held ${HOLD}s"
"$LOADGEN_BIN" --connect "127.0.0.1:$PORT_STARTTLS" --tls starttls --idle "$IDLE" --hold "$HOLD" \
  --noop-interval 10 --concurrency 50 --timeout 30 --duration 60 > "$WORK/idle.out" 2>&1 &
IDLE_PID=$!
for _ in $(seq 1 600); do
  grep -q '^IDLE established=' "$WORK/idle.out" && break
  kill -0 "$IDLE_PID" 2>/dev/null || break
  sleep 0.1
done
IDLE_EST=$(sed -n 's/^IDLE established=\([0-9]*\).*/\1/p' "$WORK/idle.out")
IDLE_EST=${IDLE_EST:-0}
MEM_IDLE_RSS=0; MEM_IDLE_PSS=0
if [[ $IDLE_EST -gt 0 ]]; then
  sleep 2  # let the last handshakes' buffers settle
  for _ in 1 2 3; do  # the largest of three samples, 1 s apart
    read -r r p < <(mem_kib)
    [[ $r -gt $MEM_IDLE_RSS ]] && MEM_IDLE_RSS=$r
    [[ $p -gt $MEM_IDLE_PSS ]] && MEM_IDLE_PSS=$p
    sleep 1
  done
fi
IDLE_RC=0
wait "$IDLE_PID" || IDLE_RC=$?
IDLE_PID=""
alive
IDLE_LINE=$(grep '^RESULT loadgen' "$WORK/idle.out" || true)
IDLE_ERRS=$(field errors "$IDLE_LINE")
IDLE_RATE=$(field rate "$IDLE_LINE")
if [[ -z $IDLE_LINE || $IDLE_RC -ne 0 ]]; then
  FAILED=1
  sed -n '/idle connections/,/^RESULT/p' "$WORK/idle.out" | sed 's/^/  idle: /' >&2
fi
sleep 2
read -r MEM_AFTER_RSS MEM_AFTER_PSS < <(mem_kib)

# --- spool check: every 250 is a message on disk --------------------------------------

# A queued message is one file spool/queue/<id> (its state, when it has one, is <id>.state);
# a delivered one is outbox/<id>.eml. Files in spool/queue that end in the free marker hold no
# message (kept for reuse).
ON_DISK_MSG=0
for f in "$SP/spool/queue"/*; do
  [[ -f $f && $f != *.state ]] || continue
  [[ $(tail -c 84 "$f" | head -c 16) == "signpost-free   " ]] || ON_DISK_MSG=$((ON_DISK_MSG + 1))
done
DELIVERED=$(find "$SP/outbox" -name '*.eml' 2>/dev/null | wc -l)

# --- the table ------------------------------------------------------------------------

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$(dirname "$SIGNPOST_BIN")/../CMakeCache.txt" 2>/dev/null || true)
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 > 0 && a != "-") printf "%.2f", a / b; else printf "-"}'; }

echo
echo "Signpost submission benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, loopback"
echo "signpost: $SIGNPOST_BIN (${build_type:-build type unknown}); 4096-byte messages, 1 recipient,"
echo "STARTTLS + AUTH PLAIN unless the row says otherwise; N=$N; all connections from 127.0.0.1"
echo
printf '%-26s %7s %6s %12s %9s %9s %12s\n' row n errors rate p50_ms p99_ms srv_cpu_ms/n
for name in "${ROWS[@]}" "${REF_ROWS[@]}"; do
  rate=${RATE[$name]}
  [[ $rate != - ]] && rate="$rate/s"
  printf '%-26s %7s %6s %12s %9s %9s %12s\n' "$name" "${MSGS[$name]}" "${ERRS[$name]}" "$rate" \
    "${P50[$name]}" "${P99[$name]}" "${CPU[$name]}"
done
echo
printf '%-54s %9s %9s\n' "server memory (/proc/PID/smaps_rollup)" RSS_MiB PSS_MiB
printf '%-54s %9s %9s\n' "at start" "$(mib "$MEM_START_RSS")" "$(mib "$MEM_START_PSS")"
printf '%-54s %9s %9s\n' "after the rows above (baseline)" "$(mib "$MEM_LOAD_RSS")" "$(mib "$MEM_LOAD_PSS")"
printf '%-54s %9s %9s\n' "holding $IDLE_EST idle TLS connections" "$(mib "$MEM_IDLE_RSS")" "$(mib "$MEM_IDLE_PSS")"
if [[ $IDLE_EST -gt 0 ]]; then
  per_rss=$(awk -v a="$MEM_IDLE_RSS" -v b="$MEM_LOAD_RSS" -v n="$IDLE_EST" 'BEGIN {printf "%.1f", (a - b) * 1000 / n / 1024}')
  per_pss=$(awk -v a="$MEM_IDLE_PSS" -v b="$MEM_LOAD_PSS" -v n="$IDLE_EST" 'BEGIN {printf "%.1f", (a - b) * 1000 / n / 1024}')
  printf '%-54s %9s %9s\n' "per 1000 idle connections (holding - baseline)" "$per_rss" "$per_pss"
fi
printf '%-54s %9s %9s\n' "after they closed" "$(mib "$MEM_AFTER_RSS")" "$(mib "$MEM_AFTER_PSS")"
echo "idle: ${IDLE_EST}/${IDLE} established at ${IDLE_RATE:-?} connections/s, ${IDLE_ERRS:-?} errors"
echo
echo "ratios (same run)"
printf '  %-64s %s\n' "percon.c8 rate / ref.tls.signpost.c8 rate" "$(ratio "${RATE[percon.c8]:--}" "${RATE[ref.tls.signpost.c8]:-0}")"
printf '  %-64s %s\n' "ref.tls.signpost.c1 p50 / ref.tls.s_server.c1 p50" "$(ratio "${P50[ref.tls.signpost.c1]:--}" "${P50[ref.tls.s_server.c1]:-0}")"
printf '  %-64s %s\n' "ref.starttls.signpost.c8 p50 / ref.tls.signpost.c8 p50" "$(ratio "${P50[ref.starttls.signpost.c8]:--}" "${P50[ref.tls.signpost.c8]:-0}")"
printf '  %-64s %s\n' "submit.c1 p50 / ref.commit p50 (durable-commit floor)" "$(ratio "${P50[submit.c1]:--}" "${P50[ref.commit]:-0}")"
if [[ -n ${P50[ref.sign.rsa.4k]:-} && -n ${P50[ref.sign.ed25519.4k]:-} ]]; then
  sign_ms=$(awk -v a="${P50[ref.sign.rsa.4k]}" -v b="${P50[ref.sign.ed25519.4k]}" 'BEGIN {printf "%.3f", a + b}')
  printf '  %-64s %s\n' "submit.c8 srv_cpu_ms/n / (ref.sign.rsa + ref.sign.ed25519 ms)" "$(ratio "${CPU[submit.c8]:--}" "$sign_ms")"
fi
printf '  %-64s %s\n' "submit.c8 rate / submit.c1 rate" "$(ratio "${RATE[submit.c8]:--}" "${RATE[submit.c1]:-0}")"
printf '  %-64s %s\n' "submit.c32 rate / submit.c1 rate" "$(ratio "${RATE[submit.c32]:--}" "${RATE[submit.c1]:-0}")"
printf '  %-64s %s\n' "submit.c8.pipelining rate / submit.c8 rate" "$(ratio "${RATE[submit.c8.pipelining]:--}" "${RATE[submit.c8]:-0}")"
echo
echo "spool check: $ACCEPTED messages got 250; spool/queue holds $ON_DISK_MSG; outbox holds $DELIVERED"
if [[ $((ON_DISK_MSG + DELIVERED)) -lt $ACCEPTED ]]; then
  echo "spool check: FAILED — fewer messages on disk than were acknowledged"
  FAILED=1
fi
for name in "${ROWS[@]}" "${REF_ROWS[@]}"; do
  echo "RESULT bench_submission row=$name n=${MSGS[$name]} errors=${ERRS[$name]} rate=${RATE[$name]} p50_ms=${P50[$name]} p99_ms=${P99[$name]} srv_cpu_ms=${CPU[$name]}"
done
echo "RESULT bench_submission memory start_rss_kib=$MEM_START_RSS baseline_rss_kib=$MEM_LOAD_RSS baseline_pss_kib=$MEM_LOAD_PSS idle_rss_kib=$MEM_IDLE_RSS idle_pss_kib=$MEM_IDLE_PSS idle_established=$IDLE_EST after_rss_kib=$MEM_AFTER_RSS"
if [[ $FAILED -ne 0 ]]; then
  log "some rows had errors (see above and $WORK with --keep)"
  exit 1
fi
exit 0
