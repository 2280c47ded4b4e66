#!/usr/bin/env bash
# tests/bench/relay/compare.sh — the relay job, Signpost against Postfix + OpenDKIM, side by
# side in one run on one machine.
#
# The job: accept messages over STARTTLS + AUTH PLAIN, DKIM-sign them (relaxed/relaxed),
# commit them to the queue with fsync, and relay them over STARTTLS to a sink on loopback.
# Each relay instance gets its own sink (bench_sink), so each one's messages are counted on
# their own.
#   Signpost:          `signpost init --dev` setup changed to smarthost delivery to its sink,
#                      RSA-2048 only, connection limits raised ("signpost"); a second
#                      instance keeps init's default signing, Ed25519 + RSA-2048
#                      ("signpost-dual").
#   Postfix + OpenDKIM: a private Postfix instance (postfix_opendkim.sh): submission with
#                      STARTTLS + Cyrus SASL, the OpenDKIM milter (RSA-2048), relayhost = its
#                      sink ("postfix"); a second submission port runs a second OpenDKIM
#                      (Ed25519) after the first, its mail (from dual@example.test) relayed
#                      to a sink of its own ("postfix-dual").
# loadgen drives them, interleaved (Signpost, Postfix, Signpost, Postfix, ...). Rows:
#   c1, c8, c32      4 KB messages at concurrency 1, 8, 32 over reused connections
#   percon.c8        4 KB, one message per connection, concurrency 8
#   c32.dual         4 KB at concurrency 32, signpost-dual against postfix-dual
#   size.1k .. size.10m  1 KB, 64 KB, 1 MB, 10 MB messages at concurrency 8 (fewer
#                    messages for the big ones); before each, the sinks are restarted with a
#                    fresh store so that the sample checked below holds messages of that size
# A run starts just before loadgen starts and ends when the relay's queue is empty (polled
# every 10-100 ms; a relay removes a message only after the sink's 250) and its sink holds
# every message the relay answered 250 for, so CPU covers the whole job (submission,
# signing, queueing, delivery). The table gives the acceptance rate (acc/s, loadgen's
# messages / loadgen's seconds), the end-to-end rate (e2e/s, messages the sink received /
# the run's time), p50/p99 of the submit transaction (from loadgen), relay CPU-seconds per
# 1,000 messages (= ms per message; every process of the relay, from /proc), peak RSS and
# PSS (sampled every 100 ms during the run), and the Signpost/Postfix ratios. The same run
# prints floor figures of the machine (RSA-2048 and Ed25519 signatures/s and SHA-256 MB/s
# on one core from `openssl speed`, fsync of a 4 KB file, TLS 1.3 handshakes/s against
# `openssl s_server`), then one line per goal, measured / target / MET or NOT MET (c32,
# c1 and percon.c8 e2e ratios, c32 p99 ratio, CPU per message at c32 and c32.dual, the
# sustained part, PSS at c32, RSS flat across the size rows, idle session memory).
#
# Optional parts, after the rows:
#   --sustained SECS  loadgen at c32 (4 KB) for SECS seconds against signpost, then against
#                     postfix; every second: accepted so far (delivered + queued), delivered
#                     (the sink's count) and queue depth (Signpost: files in spool/queue
#                     without the .state suffix; Postfix: files in its incoming, active,
#                     deferred, maildrop and hold directories). Prints every 5th second
#                     (the 1 s series: WORK/sustained-RELAY.tsv, kept with --keep), the
#                     acceptance and end-to-end rates, their ratio, the queue at 10 s, 30 s
#                     and at the end of the load, and "grows" when that last one is above 100
#                     and more than twice the one at 10 s.
#   --idle N          signpost alone (its [limits] max_connections and _per_ip are N + 2000,
#                     and Signpost and loadgen get N + 1024 descriptors): PSS before and while
#                     loadgen holds N idle STARTTLS sessions (EHLO, STARTTLS, EHLO; held 10 s);
#                     (held - before) / N.
#
# Checks (exit 1 when one fails): no loadgen errors; every sink received exactly what its
# relay accepted; a sample of each sink's stored messages (20 of the first 200, and the two
# stored messages of each size row) verifies with dkimpy against the relay's published keys,
# every signature passing, an rsa-sha256 one among them (and an ed25519-sha256 one for the
# dual instances).
#
# Only 127.0.0.1; every load step is bounded by a count and by time; every process started
# here is stopped by its PID at exit.
#
# Usage: compare.sh [--quick] [--rounds R] [--sustained [SECS]] [--idle N] [--dir DIR] [--keep]
#   --quick          small counts (a smoke run, ~1 min on 2 cores); the full run takes ~4-6 min
#   --rounds R       interleaved rounds per row (default 2)
#   --sustained SECS the sustained-load part, SECS seconds per relay (default: off; 60 when
#                    given without a number); adds about 2 x SECS plus the queues' drain
#   --idle N         the idle-session memory part with N sessions (default 0: off)
#   --dir DIR        work directory (default: a new one under /tmp); --keep keeps it
#   SIGNPOST_BIN (default <repo>/build/bin/signpost), LOADGEN_BIN, SINK_BIN (default: next to
#   it in <repo>/build/tests/bench/...). Build with -DCMAKE_BUILD_TYPE=Release or
#   RelWithDebInfo. PFB_SMTP_TLS_REUSE=yes: Postfix reuses TLS connections to its sink.
# Exit status: 0 table printed and every check passed (goals not met are not failures);
# 1 a check failed; 2 bad usage or a missing tool.
#
set -euo pipefail
export LC_ALL=C

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
SUSTAINED=0
IDLE=0
# the block from "# Usage:" to the next bare "#" line
usage() { sed -n '/^# Usage:/,/^#$/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --rounds) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; ROUNDS=$2; shift ;;
    --dir) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; WORK=$2; shift ;;
    --keep) KEEP=1 ;;
    --sustained)
      if [[ $# -ge 2 && $2 =~ ^[0-9]+$ ]]; then SUSTAINED=$2; shift; else SUSTAINED=60; fi ;;
    --idle) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; IDLE=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "compare: --rounds wants a positive number" >&2; exit 2; }
[[ $SUSTAINED =~ ^[0-9]+$ && $SUSTAINED -le 3600 ]] || { echo "compare: --sustained wants 1..3600 seconds" >&2; exit 2; }
[[ $SUSTAINED -eq 0 || $SUSTAINED -ge 10 ]] || { echo "compare: --sustained wants at least 10 seconds" >&2; exit 2; }
[[ $IDLE =~ ^[0-9]+$ && $IDLE -le 100000 ]] || { echo "compare: --idle wants 0..100000 sessions" >&2; exit 2; }

# Messages per run of each row (the full run: each row of each relay takes 1-30 s).
ROW_NAMES=(c1 c8 c32 percon.c8 c32.dual size.1k size.64k size.1m size.10m)
declare -A COUNT=([c1]=600 [c8]=1500 [c32]=3000 [percon.c8]=800 [c32.dual]=3000
                  [size.1k]=1500 [size.64k]=600 [size.1m]=100 [size.10m]=20)
if [[ $QUICK -eq 1 ]]; then
  COUNT=([c1]=60 [c8]=150 [c32]=300 [percon.c8]=80 [c32.dual]=300
         [size.1k]=100 [size.64k]=40 [size.1m]=8 [size.10m]=4)
fi
declare -A ROW_ARGS=([c1]="--concurrency 1" [c8]="--concurrency 8" [c32]="--concurrency 32"
                     [percon.c8]="--concurrency 8 --per-connection 1" [c32.dual]="--concurrency 32"
                     [size.1k]="--concurrency 8" [size.64k]="--concurrency 8"
                     [size.1m]="--concurrency 8" [size.10m]="--concurrency 8")
declare -A ROW_SIZE=([c1]=4096 [c8]=4096 [c32]=4096 [percon.c8]=4096 [c32.dual]=4096
                     [size.1k]=1024 [size.64k]=65536 [size.1m]=1048576 [size.10m]=10485760)
declare -A ROW_PAIR=([c32.dual]="signpost-dual postfix-dual")
pair() { echo "${ROW_PAIR[$1]:-signpost postfix}"; }
RSS_FLAT_MIB=16   # "RSS flat": Signpost's peak RSS at 10 MB at most this much above 1 KB's

die() { echo "compare: $*" >&2; exit 2; }
log() { echo "compare: $*" >&2; }
for bin in "$SIGNPOST_BIN" "$LOADGEN_BIN" "$SINK_BIN"; do
  [[ -x $bin ]] || die "$bin is missing (build the tree: scripts/build.sh build)"
done
for tool in openssl postfix opendkim saslpasswd2 curl "$PY"; do
  command -v "$tool" > /dev/null || die "$tool is not installed (scripts/install-deps.sh)"
done
# --idle N: Signpost and loadgen each hold N sockets (the limit is raised for those two only)
IDLE_FDS=0
if [[ $IDLE -gt 0 ]]; then
  IDLE_FDS=$((IDLE + 1024))
  hard_fds=$(ulimit -Hn)
  [[ $hard_fds == unlimited || $hard_fds -ge $IDLE_FDS ]] \
    || die "ulimit -Hn is $hard_fds; --idle $IDLE needs $IDLE_FDS descriptors per process"
  [[ $(ulimit -n) != unlimited && $(ulimit -n) -ge $IDLE_FDS ]] && IDLE_FDS=0   # enough already
fi
with_fds() { if [[ $IDLE_FDS -gt 0 ]]; then ulimit -n "$IDLE_FDS"; fi; exec "$@"; }

if [[ -z $WORK ]]; then WORK=$(mktemp -d /tmp/signpost-compare.XXXXXX); else mkdir -p "$WORK"; fi
PIDS=()
CMP_PFB_STARTED=0
# shellcheck disable=SC2317  # (invoked by the EXIT trap)
cleanup() {
  local pid
  if [[ $CMP_PFB_STARTED -eq 1 ]]; then pfb_stop || true; fi
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
forget_pid() {  # PID: no longer one to stop at exit (it was stopped and reaped)
  local i
  for i in "${!PIDS[@]}"; do [[ ${PIDS[$i]} == "$1" ]] && unset 'PIDS[i]'; done
  PIDS=("${PIDS[@]}")
}

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
# nap SECONDS: a sleep without a fork (read with a timeout on a pipe nobody writes to), for
# the polling loops, so that polling takes as little CPU from the relays as it can.
exec {NAP_FD}<> <(:)
nap() { read -r -t "$1" -u "$NAP_FD" _ 2> /dev/null || true; }
since() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }   # T0 T1: seconds

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

# start_sink NAME [TAG] [STORE_MAX]: bench_sink for relay NAME, on SINK_PORT[NAME] (a free
# port the first time, the same one on a restart); its status file and store directory
# (WORK/sink-NAME[.TAG].store) are new each time, the messages counted by the ones it
# replaces are in SINK_BASE[NAME], so sink_count NAME counts every message since the start.
declare -A SINK_PORT SINK_STATUS SINK_PID SINK_BASE SINK_STORES
start_sink() {
  local name=$1 tag=${2:+.$2} max=${3:-200} port store
  port=${SINK_PORT[$name]:-$(free_port)}
  SINK_STATUS[$name]=$WORK/sink-$name$tag.status
  store=$WORK/sink-$name$tag.store
  mkdir -p "$store"
  SINK_STORES[$name]="${SINK_STORES[$name]:-} $store"
  "$SINK_BIN" --listen "127.0.0.1:$port" --cert "$CA/sink.pem" --key "$CA/sink.key" \
    --store "$store" --store-max "$max" --status "${SINK_STATUS[$name]}" \
    > "$WORK/sink-$name$tag.out" 2>&1 &
  SINK_PID[$name]=$!
  PIDS+=($!)
  for _ in $(seq 1 100); do grep -q '^READY' "$WORK/sink-$name$tag.out" 2> /dev/null && break; sleep 0.1; done
  wait_port "$port" 10 || { cat "$WORK/sink-$name$tag.out" >&2; die "the $name sink did not start"; }
  SINK_PORT[$name]=$port
  SINK_BASE[$name]=${SINK_BASE[$name]:-0}
}
sink_now() { sed -n 's/^messages=\([0-9]*\).*/\1/p' "${SINK_STATUS[$1]}" 2> /dev/null || true; }
sink_count() { local n; n=$(sink_now "$1"); echo $(( ${SINK_BASE[$1]:-0} + ${n:-0} )); }
# restart_sink NAME TAG STORE_MAX: SIGTERM (the sink writes its final status), then a new one
restart_sink() {
  local name=$1 pid=${SINK_PID[$1]} n
  kill -TERM "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
  forget_pid "$pid"
  n=$(sink_now "$name")
  SINK_BASE[$name]=$(( ${SINK_BASE[$name]:-0} + ${n:-0} ))
  start_sink "$name" "$2" "$3"
}
# wait_sink NAME EXPECT SECONDS: until the sink counted EXPECT messages (it rewrites its
# status file at most every 100 ms; SIGUSR1 asks for it now)
wait_sink() {
  local name=$1 expect=$2 i
  for ((i = 0; i < $3 * 50; i++)); do
    [[ $(sink_count "$name") -ge $expect ]] && return 0
    (( i % 5 == 0 )) && kill -USR1 "${SINK_PID[$name]}" 2> /dev/null
    nap 0.02
  done
  [[ $(sink_count "$name") -ge $expect ]]
}

for name in signpost postfix signpost-dual postfix-dual; do start_sink "$name"; done

# --- Signpost: two instances ----------------------------------------------------------------
# sp_setup DIR SINK RSA_ONLY: `signpost init --dev DIR`, then its config for this benchmark
# (ports, smarthost = the sink, the metrics listener on a free port written to DIR/metrics-port
# for queue_count, connection limits; RSA_ONLY=1: algorithms = ["rsa2048"]); prints the
# submission port.
CONN_LIMIT=$(( IDLE + 2000 ))
sp_setup() {
  local dir=$1 sink=$2 rsa_only=$3 port
  "$SIGNPOST_BIN" init --dev "$dir" > "$WORK/init-${dir##*/}.log" 2>&1 \
    || { cat "$WORK/init-${dir##*/}.log" >&2; die "signpost init --dev $dir failed"; }
  # The same kind of certificate as Postfix's (ECDSA P-256): init --dev makes an RSA-2048
  # one, whose handshake signature alone would cost ~0.3 ms more per connection.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$dir/tls/key.pem" -out "$dir/tls/cert.pem" 2> /dev/null \
    || die "cannot make the ECDSA certificate for $dir"
  chmod 600 "$dir/tls/key.pem"
  port=$(free_port)
  free_port > "$dir/metrics-port"
  "$PY" - "$dir/signpost.toml" "$port" "$(free_port)" "${SINK_PORT[$sink]}" "$CA/ca.pem" "$rsa_only" "$CONN_LIMIT" \
    "$(cat "$dir/metrics-port")" << 'PY'
import re, sys
path, port, port465, sink, ca, rsa_only, limit, metrics = sys.argv[1:]
text = open(path).read()
for addr in ('"127.0.0.1:2587"', '"127.0.0.1:2465"', 'algorithms = [', '"127.0.0.1:9587"'):
    if addr not in text:
        sys.exit("compare: %s has no %s to change (did signpost init --dev change?)" % (path, addr))
text = text.replace('"127.0.0.1:2587"', '"127.0.0.1:%s"' % port).replace('"127.0.0.1:2465"', '"127.0.0.1:%s"' % port465)
text = text.replace('"127.0.0.1:9587"', '"127.0.0.1:%s"' % metrics)
if rsa_only == "1":
    text = re.sub(r'algorithms = \[[^\]]*\]', 'algorithms = ["rsa2048"]', text)
text = re.sub(r'\[delivery\][^\[]*', '[delivery]\nmode = "smarthost"\nsmarthost = "localhost:%s"\n'
              'smarthost_tls = "starttls"\nextra_ca_file = "%s"\n\n' % (sink, ca), text)
text += '\n[limits]\nmax_connections = %s\nmax_connections_per_ip = %s\n' % (limit, limit)
open(path, "w").write(text)
PY
  "$SIGNPOST_BIN" check-config --config "$dir/signpost.toml" > "$WORK/check-config-${dir##*/}.log" 2>&1 \
    || { cat "$WORK/check-config-${dir##*/}.log" >&2; die "the Signpost benchmark config $dir does not load"; }
  echo "$port"
}
# sp_start DIR LOG: serve in the background (SP_STARTED = its PID); waits for "ready"
sp_start() {
  local dir=$1 logf=$2
  with_fds "$SIGNPOST_BIN" serve --config "$dir/signpost.toml" > "$logf" 2>&1 &
  SP_STARTED=$!
  PIDS+=("$SP_STARTED")
  for _ in $(seq 1 100); do grep -q '\] ready' "$logf" && break; sleep 0.1; done
  grep -q '\] ready' "$logf" || { tail -20 "$logf" >&2; die "Signpost ($dir) did not start"; }
}
sp_records() {  # DIR RECORDS_DIR: the DKIM TXT records, one file each (verify_dkimpy.py)
  mkdir -p "$2"
  "$SIGNPOST_BIN" keys dns --config "$1/signpost.toml" | awk '
    $1 == "name:" { name = $2 }
    $1 == "value:" { sub(/^ *value: /, ""); print > (dir "/" name ".txt"); close(dir "/" name ".txt") }' dir="$2"
  ls "$2"/*.txt > /dev/null 2>&1 || die "no DKIM record from signpost keys dns ($1)"
}

SP=$WORK/signpost
SP_PORT=$(sp_setup "$SP" signpost 1)
sp_start "$SP" "$WORK/signpost.log"
SP_PID=$SP_STARTED
SP_RECORDS=$WORK/signpost-records
sp_records "$SP" "$SP_RECORDS"

SPD=$WORK/signpost-dual
SPD_PORT=$(sp_setup "$SPD" signpost-dual 0)
sp_start "$SPD" "$WORK/signpost-dual.log"
SPD_PID=$SP_STARTED
SPD_RECORDS=$WORK/signpost-dual-records
sp_records "$SPD" "$SPD_RECORDS"
SPD_ALGS=$(sed -n 's/^algorithms = //p' "$SPD/signpost.toml")

# --- Postfix + OpenDKIM ---------------------------------------------------------------------
# As Debian sets them up: the OpenDKIM milter on a unix socket (Debian's opendkim.conf; over
# TCP each message would wait ~80 ms more on delayed ACKs), and Postfix's default of one new
# TLS connection per delivery to the sink (PFB_SMTP_TLS_REUSE=yes turns on its connection
# reuse, for a run that asks how close a tuned Postfix gets). PFB_DUAL: the second submission
# port with the Ed25519 OpenDKIM after the RSA one, for c32.dual; that OpenDKIM runs only
# during that row.
export PFB_MILTER_SOCKET=unix PFB_SMTP_TLS_REUSE=${PFB_SMTP_TLS_REUSE:-no}
export PFB_DUAL=yes PFB_DUAL_SINK_PORT=${SINK_PORT[postfix-dual]}
pfb_setup "$WORK/postfix" "${SINK_PORT[postfix]}" "$CA/ca.pem"
CMP_PFB_STARTED=1
pfb_start
PF_DUAL=dual   # "dual" while the two-milter set-up works, "rsa" when it fell back to RSA only

# --- per relay: ports, CPU ticks, memory, queue ---------------------------------------------
declare -A R_PORT=([signpost]=$SP_PORT [signpost-dual]=$SPD_PORT [postfix]=$PFB_PORT [postfix-dual]=$PFB_DUAL_PORT)
declare -A R_USER=([signpost]=dev [signpost-dual]=dev [postfix]=$PFB_USER [postfix-dual]=$PFB_USER)
declare -A R_PWFILE=([signpost]=$SP/dev-password [signpost-dual]=$SPD/dev-password
                     [postfix]=$PFB_PASSWORD_FILE [postfix-dual]=$PFB_PASSWORD_FILE)
declare -A R_FROM=([signpost]=dev@example.test [signpost-dual]=dev@example.test
                   [postfix]=dev@example.test [postfix-dual]=$PFB_DUAL_SENDER)
declare -A R_PID=([signpost]=$SP_PID [signpost-dual]=$SPD_PID)
declare -A R_METRICS=([signpost]=$(cat "$SP/metrics-port") [signpost-dual]=$(cat "$SPD/metrics-port"))
declare -A R_RECORDS=([signpost]=$SP_RECORDS [signpost-dual]=$SPD_RECORDS
                      [postfix]=$PFB_RECORDS_DIR [postfix-dual]=$PFB_RECORDS_DIR)
declare -A R_ALGS=([signpost]="rsa-sha256" [signpost-dual]="rsa-sha256 ed25519-sha256"
                   [postfix]="rsa-sha256" [postfix-dual]="rsa-sha256 ed25519-sha256")
is_sp() { [[ $1 == signpost* ]]; }

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() {
  if is_sp "$1"; then awk '{sub(/.*\) /, ""); print $12 + $13 + $14 + $15}' "/proc/${R_PID[$1]}/stat"
  else pfb_cpu_ticks; fi
}
mem_kib() {  # "RSS PSS"
  if is_sp "$1"; then awk '/^Rss:/ {r = $2} /^Pss:/ {p = $2} END {print r + 0, p + 0}' "/proc/${R_PID[$1]}/smaps_rollup"
  else echo "$(pfb_rss_kib) $(pfb_pss_kib)"; fi
}
# queue_count RELAY: QDEPTH = messages in the relay's queue. Signpost: its
# signpost_queue_messages gauge from /metrics (queue/ also holds free files kept for reuse,
# which only the daemon tells from messages; one scrape costs it well under a millisecond
# and is done only while waiting for the drain and once a second in the sustained part).
# Postfix: the files of incoming (also a message being received), active, deferred (hashed
# one level), maildrop and hold, counted with globs as pfb_queue_count.
queue_count() {
  local f
  local -a files
  QDEPTH=0
  shopt -s nullglob
  if is_sp "$1"; then
    local out
    out=$(curl -s --max-time 2 "http://127.0.0.1:${R_METRICS[$1]}/metrics") || true
    if [[ $out =~ (^|$'\n')signpost_queue_messages\ ([0-9]+) ]]; then QDEPTH=${BASH_REMATCH[2]}
    else QDEPTH=-1; fi  # not answered: not drained
  else
    files=("$PFB_QUEUE"/{incoming,active,deferred,maildrop,hold}/* "$PFB_QUEUE"/deferred/*/*)
    for f in "${files[@]}"; do [[ -f $f ]] && QDEPTH=$((QDEPTH + 1)); done
  fi
  shopt -u nullglob
  return 0
}
alive() {
  local r
  for r in signpost signpost-dual; do
    kill -0 "${R_PID[$r]}" 2> /dev/null && continue
    tail -30 "$WORK/$r.log" >&2; log "Signpost ($r) died"; exit 1
  done
}
# wait_drained RELAY SECONDS: after loadgen: polls until the relay's queue is empty (every
# 10 ms, every 100 ms while it holds more than 50); DRAINED_AT = $EPOCHREALTIME then.
wait_drained() {
  local relay=$1 deadline
  deadline=$(( ${EPOCHREALTIME%.*} + $2 ))
  DRAINED_AT=""
  while (( ${EPOCHREALTIME%.*} < deadline )); do
    queue_count "$relay"
    if [[ $QDEPTH -eq 0 ]]; then DRAINED_AT=$EPOCHREALTIME; return 0; fi
    if [[ $QDEPTH -gt 50 ]]; then nap 0.1; else nap 0.01; fi
  done
  return 1
}
# peak memory: sampled every 100 ms between sampler_start and sampler_stop
sampler_start() {
  echo "0 0" > "$WORK/peak"
  ( peak_r=0; peak_p=0
    while [[ ! -e $WORK/stop-sampler ]]; do
      read -r r p < <(mem_kib "$1" 2> /dev/null || echo "0 0")
      (( r > peak_r )) && peak_r=$r
      (( p > peak_p )) && peak_p=$p
      echo "$peak_r $peak_p" > "$WORK/peak.tmp" && mv "$WORK/peak.tmp" "$WORK/peak"
      sleep 0.1
    done ) &
  SAMPLER=$!
  PIDS+=("$SAMPLER")
}
sampler_stop() {  # sets PEAK_R PEAK_P
  touch "$WORK/stop-sampler"
  wait "$SAMPLER" 2> /dev/null || true
  forget_pid "$SAMPLER"
  rm -f "$WORK/stop-sampler"
  read -r PEAK_R PEAK_P < "$WORK/peak"
}

# --- the runs -------------------------------------------------------------------------------
declare -A ACCEPTED=([signpost]=0 [postfix]=0 [signpost-dual]=0 [postfix-dual]=0)
declare -A SUM_RATE SUM_E2E SUM_P50 SUM_P99 SUM_TICKS SUM_MSGS PEAK_RSS PEAK_PSS ERRORS RUNS
FAILED=0
addf() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN {print a + b}'; }

# run RELAY ROW ROUND
run() {
  local relay=$1 row=$2 round=$3 out line c0 c1 n d0 d1 t0 secs e2e expect errs
  out=$WORK/run-$relay-$row-$round.out
  log "$relay $row round $round: ${COUNT[$row]} messages of ${ROW_SIZE[$row]} bytes"
  d0=$(sink_count "$relay")
  c0=$(cpu_ticks "$relay")
  sampler_start "$relay"
  t0=$EPOCHREALTIME
  # shellcheck disable=SC2086
  # The relays use self-signed certificates: loadgen does not verify them (equal work).
  "$LOADGEN_BIN" --connect "127.0.0.1:${R_PORT[$relay]}" --tls starttls \
    --user "${R_USER[$relay]}" --password-file "${R_PWFILE[$relay]}" --from "${R_FROM[$relay]}" \
    --to someone@example.net --size "${ROW_SIZE[$row]}" --messages "${COUNT[$row]}" --timeout 30 \
    --duration 120 ${ROW_ARGS[$row]} > "$out" 2>&1 || true
  line=$(grep '^RESULT loadgen' "$out" || true)
  [[ -n $line ]] || { cat "$out" >&2; log "$relay $row: loadgen printed no RESULT"; FAILED=1; }
  n=$(field msgs "$line"); n=${n:-0}
  ACCEPTED[$relay]=$((ACCEPTED[$relay] + n))
  expect=${ACCEPTED[$relay]}
  # The job ends when the queue is empty (a message leaves it after the sink's 250) and the
  # sink has every accepted message.
  wait_drained "$relay" 120 || log "$relay $row: the queue is not empty after 120 s"
  c1=$(cpu_ticks "$relay")
  sampler_stop
  is_sp "$relay" && alive
  wait_sink "$relay" "$expect" 10 || true
  d1=$(sink_count "$relay")
  if [[ $d1 -lt $expect || -z $DRAINED_AT ]]; then
    queue_count "$relay"
    log "$relay $row: the sink has $d1 of $expect messages, queue $QDEPTH"
    FAILED=1
    e2e=0
  else
    secs=$(since "$t0" "$DRAINED_AT")
    e2e=$(awk -v d=$((d1 - d0)) -v s="$secs" 'BEGIN {printf "%.1f", (s > 0) ? d / s : 0}')
  fi
  local key=$relay.$row
  errs=$(field errors "$line"); errs=${errs:-1}
  if [[ $errs != 0 ]]; then
    FAILED=1
    sed -n '/errors by reply code/,/^RESULT/p' "$out" | sed "s/^/  $relay $row: /" >&2
  fi
  ERRORS[$key]=$(( ${ERRORS[$key]:-0} + errs ))
  RUNS[$key]=$(( ${RUNS[$key]:-0} + 1 ))
  SUM_MSGS[$key]=$(( ${SUM_MSGS[$key]:-0} + n ))
  SUM_TICKS[$key]=$(( ${SUM_TICKS[$key]:-0} + c1 - c0 ))
  SUM_RATE[$key]=$(addf "${SUM_RATE[$key]:-}" "$(field rate "$line")")
  SUM_E2E[$key]=$(addf "${SUM_E2E[$key]:-}" "$e2e")
  SUM_P50[$key]=$(addf "${SUM_P50[$key]:-}" "$(field p50_ms "$line")")
  SUM_P99[$key]=$(addf "${SUM_P99[$key]:-}" "$(field p99_ms "$line")")
  (( PEAK_R > ${PEAK_RSS[$key]:-0} )) && PEAK_RSS[$key]=$PEAK_R
  (( PEAK_P > ${PEAK_PSS[$key]:-0} )) && PEAK_PSS[$key]=$PEAK_P
  return 0
}

START=$EPOCHREALTIME
for row in "${ROW_NAMES[@]}"; do
  read -r sp_relay pf_relay <<< "$(pair "$row")"
  if [[ $row == c32.dual && $PF_DUAL == dual ]] && ! pfb_dual_start; then
    log "the Ed25519 OpenDKIM does not start: c32.dual compares against RSA-only Postfix"
    PF_DUAL=rsa
    R_PORT[postfix-dual]=$PFB_PORT
    R_ALGS[postfix-dual]="rsa-sha256"
  fi
  if [[ $row == size.* ]]; then   # fresh stores: the sample below holds this row's messages
    restart_sink "$sp_relay" "$row" 2
    restart_sink "$pf_relay" "$row" 2
  fi
  for ((round = 1; round <= ROUNDS; round++)); do
    run "$sp_relay" "$row" "$round"
    run "$pf_relay" "$row" "$round"
  done
  [[ $row == c32.dual ]] && { pfb_dual_stop || true; }
done
LOAD_SECS=$(since "$START" "$EPOCHREALTIME")

# --- sustained load (--sustained SECS) ------------------------------------------------------
# sustain RELAY: loadgen at c32 for SUSTAINED seconds, sampled every second until the queue
# is empty (then polled faster, like a run's end); WORK/sustained-RELAY.tsv holds
# "t_s accepted delivered queue" (accepted = delivered + queued).
declare -A ST_ACC ST_SECS ST_ACC_RATE ST_E2E ST_Q10 ST_Q30 ST_QEND ST_GROWS ST_CPUK ST_PSS ST_RSS ST_ERRS
sustain() {
  local relay=$1 out tsv lg d0 c0 t0 t0us us wait_us next=1 now del load_done=0 qend=0 drain_max line n expect
  local -A depth_at=()
  out=$WORK/sustained-$relay.out
  tsv=$WORK/sustained-$relay.tsv
  drain_max=$(( SUSTAINED * 3 + 120 ))
  log "$relay sustained: ${SUSTAINED}s at c32"
  d0=$(sink_count "$relay")
  c0=$(cpu_ticks "$relay")
  sampler_start "$relay"
  echo "t_s accepted delivered queue" > "$tsv"
  t0=$EPOCHREALTIME
  "$LOADGEN_BIN" --connect "127.0.0.1:${R_PORT[$relay]}" --tls starttls \
    --user "${R_USER[$relay]}" --password-file "${R_PWFILE[$relay]}" --from "${R_FROM[$relay]}" \
    --to someone@example.net --size 4096 --messages $(( SUSTAINED * 5000 )) --concurrency 32 \
    --timeout 30 --duration "$SUSTAINED" > "$out" 2>&1 &
  lg=$!
  PIDS+=("$lg")
  DRAINED_AT=""
  t0us=${t0/./}   # EPOCHREALTIME has 6 decimals: microseconds without the dot
  while :; do
    now=$EPOCHREALTIME
    us=$(( ${now/./} - t0us ))
    if [[ $load_done -eq 1 ]]; then
      queue_count "$relay"
      if [[ $QDEPTH -eq 0 ]]; then DRAINED_AT=$now; break; fi
    fi
    if (( us >= next * 1000000 )); then
      del=$(( $(sink_count "$relay") - d0 ))
      queue_count "$relay"
      echo "$next $((del + QDEPTH)) $del $QDEPTH" >> "$tsv"
      depth_at[$next]=$QDEPTH
      if [[ $load_done -eq 0 ]]; then qend=$QDEPTH; fi
      next=$((next + 1))
    fi
    if [[ $load_done -eq 0 ]] && ! kill -0 "$lg" 2> /dev/null; then
      load_done=1
      continue
    fi
    if (( next > SUSTAINED + drain_max )); then
      log "$relay sustained: the queue is not empty ${drain_max}s after the load"
      break
    fi
    if [[ $load_done -eq 0 ]]; then   # until the next whole second, 0.25 s at most
      wait_us=$(( next * 1000000 - us ))
      (( wait_us > 250000 )) && wait_us=250000
      (( wait_us < 10000 )) && wait_us=10000
      nap "$(printf '0.%06d' "$wait_us")"
    elif [[ $QDEPTH -gt 50 ]]; then nap 0.1; else nap 0.01; fi
  done
  if kill -0 "$lg" 2> /dev/null; then kill "$lg" 2> /dev/null || true; fi   # the loop gave up on it
  wait "$lg" 2> /dev/null || true
  forget_pid "$lg"
  local c1
  c1=$(cpu_ticks "$relay")
  sampler_stop
  is_sp "$relay" && alive
  line=$(grep '^RESULT loadgen' "$out" || true)
  [[ -n $line ]] || { cat "$out" >&2; log "$relay sustained: loadgen printed no RESULT"; FAILED=1; }
  n=$(field msgs "$line"); n=${n:-0}
  ACCEPTED[$relay]=$((ACCEPTED[$relay] + n))
  expect=${ACCEPTED[$relay]}
  wait_sink "$relay" "$expect" 10 || true
  del=$(( $(sink_count "$relay") - d0 ))
  ST_ERRS[$relay]=$(field errors "$line")
  if [[ ${ST_ERRS[$relay]:-1} != 0 ]]; then
    FAILED=1
    sed -n '/errors by reply code/,/^RESULT/p' "$out" | sed "s/^/  $relay sustained: /" >&2
  fi
  if [[ $(sink_count "$relay") -lt $expect || -z $DRAINED_AT ]]; then
    log "$relay sustained: the sink has $(sink_count "$relay") of $expect messages"
    FAILED=1
  fi
  ST_ACC[$relay]=$n
  ST_SECS[$relay]=$(field secs "$line")
  ST_ACC_RATE[$relay]=$(field rate "$line")
  ST_E2E[$relay]=$(awk -v d="$del" -v s="$(since "$t0" "${DRAINED_AT:-$EPOCHREALTIME}")" 'BEGIN {printf "%.1f", (s > 0) ? d / s : 0}')
  ST_Q10[$relay]=${depth_at[10]:--}
  ST_Q30[$relay]=${depth_at[30]:--}
  ST_QEND[$relay]=$qend
  ST_GROWS[$relay]=$(awk -v e="$qend" -v a="${depth_at[10]:-0}" 'BEGIN {if (e > 100 && e > 2 * a) print "grows"; else print "flat"}')
  ST_CPUK[$relay]=$(awk -v t=$((c1 - c0)) -v m="$n" -v hz="$CLK_TCK" 'BEGIN {if (m > 0) printf "%.2f", t / hz / m * 1000; else printf "-"}')
  ST_RSS[$relay]=$PEAK_R
  ST_PSS[$relay]=$PEAK_P
}
if [[ $SUSTAINED -gt 0 ]]; then
  sustain signpost
  sustain postfix
fi

# --- idle TLS sessions (--idle N): Signpost alone -------------------------------------------
IDLE_EST=0
if [[ $IDLE -gt 0 ]]; then
  log "idle: $IDLE STARTTLS sessions held 10 s (signpost)"
  sleep 1
  read -r IDLE_BASE_RSS IDLE_BASE_PSS < <(mem_kib signpost)
  with_fds "$LOADGEN_BIN" --connect "127.0.0.1:$SP_PORT" --tls starttls --idle "$IDLE" --hold 10 \
    --noop-interval 10 --concurrency 50 --timeout 30 --duration 300 > "$WORK/idle.out" 2>&1 &
  idle_pid=$!
  PIDS+=("$idle_pid")
  for _ in $(seq 1 3000); do   # 300 s at most to open them
    grep -q '^IDLE established=' "$WORK/idle.out" && break
    kill -0 "$idle_pid" 2> /dev/null || break
    sleep 0.1
  done
  IDLE_EST=$(sed -n 's/^IDLE established=\([0-9]*\).*/\1/p' "$WORK/idle.out")
  IDLE_EST=${IDLE_EST:-0}
  IDLE_RSS=0; IDLE_PSS=0
  if [[ $IDLE_EST -gt 0 ]]; then
    sleep 2   # the last handshakes' buffers settle
    for _ in 1 2 3; do   # the largest of three samples, 1 s apart
      read -r r p < <(mem_kib signpost)
      (( r > IDLE_RSS )) && IDLE_RSS=$r
      (( p > IDLE_PSS )) && IDLE_PSS=$p
      sleep 1
    done
  fi
  idle_rc=0
  wait "$idle_pid" || idle_rc=$?
  forget_pid "$idle_pid"
  alive
  if [[ $idle_rc -ne 0 || $IDLE_EST -lt $IDLE ]]; then
    FAILED=1
    log "idle: $IDLE_EST of $IDLE sessions established (loadgen exit $idle_rc)"
    sed -n '/idle connections/,/^RESULT/p' "$WORK/idle.out" | sed 's/^/  idle: /' >&2
  fi
fi

# --- checks: every message arrived; a signed sample verifies --------------------------------
VERIFY=$HERE/../../integration/dkim/verify_dkimpy.py
declare -A VERIFIED
for relay in signpost postfix signpost-dual postfix-dual; do
  sample=()
  for store in ${SINK_STORES[$relay]}; do
    mapfile -t -O "${#sample[@]}" sample < <(find "$store" -name '*.eml' | sort -V | awk 'NR % 10 == 1 || NR == 2' | head -n 20)
  done
  if [[ ${#sample[@]} -eq 0 ]]; then
    log "$relay: the sink stored no message to verify"; FAILED=1; VERIFIED[$relay]="0/0"; continue
  fi
  # one dkimpy run for the whole sample: lines "MESSAGE: pass|fail d=.. s=.. a=.."
  "$PY" "$VERIFY" -H "${R_RECORDS[$relay]}" "${sample[@]}" > "$WORK/verify-$relay.out" 2>&1 || true
  ok=0
  for m in "${sample[@]}"; do
    good=1
    grep -F "$m: " "$WORK/verify-$relay.out" > "$WORK/verify.out" || good=0
    grep -q ': fail ' "$WORK/verify.out" && good=0
    for alg in ${R_ALGS[$relay]}; do grep -q ": pass .*a=$alg\$" "$WORK/verify.out" || good=0; done
    if [[ $good -eq 1 ]]; then
      ok=$((ok + 1))
    else
      log "$relay: $m does not verify (wants ${R_ALGS[$relay]}): $(head -n 3 "$WORK/verify.out")"
    fi
  done
  VERIFIED[$relay]="$ok/${#sample[@]}"
  [[ $ok -eq ${#sample[@]} ]] || FAILED=1
done
for relay in signpost signpost-dual; do   # the queue as Signpost itself lists it
  q=$("$SIGNPOST_BIN" queue list --json --config "$WORK/$relay/signpost.toml" 2> /dev/null || echo '?')
  if [[ $(tr -d ' \n' <<< "$q") != "[]" ]]; then log "$relay: signpost queue list is not empty: $q"; FAILED=1; fi
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
mib() { awk -v k="$1" 'BEGIN {if (k == "-" || k == "") printf "-"; else printf "%.1f", k / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a != "-" && b != "-" && b + 0 > 0) printf "%.2f", a / b; else printf "-"}'; }

echo
echo "Relay job: Signpost vs Postfix + OpenDKIM — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, loopback"
echo "STARTTLS + AUTH PLAIN, DKIM relaxed/relaxed (RSA-2048 unless said), queue with fsync, relayed over"
echo "STARTTLS to a sink; $ROUNDS interleaved round(s) per row; rows took ${LOAD_SECS%.*}s"
echo "signpost: $SIGNPOST_BIN ($(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$(dirname "$SIGNPOST_BIN")/../CMakeCache.txt" 2> /dev/null || echo '?'))"
echo "postfix: $(postconf -h mail_version 2> /dev/null || echo '?'), opendkim: $(opendkim -V 2> /dev/null | head -n1 | awk '{print $NF}')"
echo "rows c1..percon.c8: 4096-byte messages; size.*: 1 KiB .. 10 MiB messages at concurrency 8;"
if [[ $PF_DUAL == dual ]]; then
  echo "c32.dual: signpost-dual signs with init's default $SPD_ALGS (two signatures); postfix-dual"
  echo "  runs two OpenDKIM milters in turn, rsa-sha256 then ed25519-sha256 (OpenDKIM 2.11.0 signs one"
  echo "  algorithm per instance)"
else
  echo "c32.dual: signpost-dual signs with init's default $SPD_ALGS (two signatures); postfix-dual"
  echo "  is the RSA-only Postfix (the Ed25519 OpenDKIM did not start): NOT a like-for-like row"
fi
echo "acc/s: loadgen's messages / its seconds; e2e/s: messages the sink received / time from loadgen's"
echo "start until the queue was empty; cpu_s/1000 = ms of relay CPU per message"
echo
printf '%-10s %-13s %6s %4s %8s %8s %8s %8s %10s %8s %8s\n' row relay msgs errs acc/s e2e/s p50_ms p99_ms cpu_s/1000 peakRSS peakPSS
declare -A RATE E2E P50 P99 CPUK
for row in "${ROW_NAMES[@]}"; do
  for relay in $(pair "$row"); do
    key=$relay.$row
    RATE[$key]=$(avg "${SUM_RATE[$key]:-0}" "${RUNS[$key]:-0}")
    E2E[$key]=$(avg "${SUM_E2E[$key]:-0}" "${RUNS[$key]:-0}")
    P50[$key]=$(avg3 "${SUM_P50[$key]:-0}" "${RUNS[$key]:-0}")
    P99[$key]=$(avg3 "${SUM_P99[$key]:-0}" "${RUNS[$key]:-0}")
    CPUK[$key]=$(cpu_per_k "${SUM_TICKS[$key]:-0}" "${SUM_MSGS[$key]:-0}")
    printf '%-10s %-13s %6s %4s %8s %8s %8s %8s %10s %7sM %7sM\n' "$row" "$relay" "${SUM_MSGS[$key]:-0}" \
      "${ERRORS[$key]:-0}" "${RATE[$key]}" "${E2E[$key]}" "${P50[$key]}" "${P99[$key]}" "${CPUK[$key]}" \
      "$(mib "${PEAK_RSS[$key]:-0}")" "$(mib "${PEAK_PSS[$key]:-0}")"
  done
done
echo
echo "Signpost / Postfix (e2e/s, acc/s: higher is better; p99, CPU, PSS: lower is better)"
printf '%-10s %9s %9s %9s %9s %9s\n' row e2e/s acc/s p99 cpu/msg peakPSS
declare -A RATIO_E2E RATIO_P99
for row in "${ROW_NAMES[@]}"; do
  read -r a b <<< "$(pair "$row")"
  RATIO_E2E[$row]=$(ratio "${E2E[$a.$row]}" "${E2E[$b.$row]}")
  RATIO_P99[$row]=$(ratio "${P99[$a.$row]}" "${P99[$b.$row]}")
  printf '%-10s %8sx %8sx %8sx %8sx %8sx\n' "$row" "${RATIO_E2E[$row]}" "$(ratio "${RATE[$a.$row]}" "${RATE[$b.$row]}")" \
    "${RATIO_P99[$row]}" "$(ratio "${CPUK[$a.$row]}" "${CPUK[$b.$row]}")" \
    "$(ratio "${PEAK_PSS[$a.$row]:-0}" "${PEAK_PSS[$b.$row]:-0}")"
done
echo
RSS_DELTA=$(awk -v a="${PEAK_RSS[signpost.size.10m]:-0}" -v b="${PEAK_RSS[signpost.size.1k]:-0}" 'BEGIN {printf "%+.1f", (a - b) / 1024}')
PF_RSS_DELTA=$(awk -v a="${PEAK_RSS[postfix.size.10m]:-0}" -v b="${PEAK_RSS[postfix.size.1k]:-0}" 'BEGIN {printf "%+.1f", (a - b) / 1024}')
RSS_FLAT=$(awk -v d="$RSS_DELTA" -v t="$RSS_FLAT_MIB" 'BEGIN {print (d <= t) ? "flat" : "not flat"}')
echo "RSS flat: Signpost's peak RSS at 10 MiB minus at 1 KiB = $RSS_DELTA MiB ($(mib "${PEAK_RSS[signpost.size.1k]:-0}") -> $(mib "${PEAK_RSS[signpost.size.10m]:-0}") MiB):"
echo "  $RSS_FLAT (threshold ${RSS_FLAT_MIB} MiB); Postfix: $PF_RSS_DELTA MiB"

if [[ $SUSTAINED -gt 0 ]]; then
  echo
  echo "Sustained: ${SUSTAINED}s of 4096-byte messages at c32, signpost then postfix (1 s series:"
  echo "$WORK/sustained-{signpost,postfix}.tsv, kept with --keep; accepted = delivered + queued)"
  printf '%6s | %-28s | %-28s\n' "" "signpost" "postfix"
  printf '%6s | %9s %9s %8s | %9s %9s %8s\n' t_s accepted delivered queue accepted delivered queue
  declare -A TS
  for relay in signpost postfix; do
    while read -r t a d q; do TS[$relay.$t]="$a $d $q"; done < <(tail -n +2 "$WORK/sustained-$relay.tsv")
  done
  last=$(cat "$WORK"/sustained-{signpost,postfix}.tsv | awk '$1 ~ /^[0-9]+$/ && $1 > m {m = $1} END {print m + 0}')
  for ((t = 5; t <= last; t += 5)); do
    read -r sa sd sq <<< "${TS[signpost.$t]:-- - -}"
    read -r pa pd pq <<< "${TS[postfix.$t]:-- - -}"
    printf '%6s | %9s %9s %8s | %9s %9s %8s\n' "$t" "$sa" "$sd" "$sq" "$pa" "$pd" "$pq"
  done
  for relay in signpost postfix; do
    printf '%-9s accepted %s in %ss = %s/s; e2e %s/s (e2e/acc %s); queue at 10 s %s, 30 s %s, end of load %s: %s;\n' \
      "$relay" "${ST_ACC[$relay]}" "${ST_SECS[$relay]}" "${ST_ACC_RATE[$relay]}" "${ST_E2E[$relay]}" \
      "$(ratio "${ST_E2E[$relay]}" "${ST_ACC_RATE[$relay]}")" "${ST_Q10[$relay]}" "${ST_Q30[$relay]}" \
      "${ST_QEND[$relay]}" "${ST_GROWS[$relay]}"
    printf '%-9s CPU %s ms/msg, peak RSS %s MiB, PSS %s MiB\n' "" "${ST_CPUK[$relay]}" "$(mib "${ST_RSS[$relay]}")" "$(mib "${ST_PSS[$relay]}")"
  done
  echo "Signpost / Postfix sustained e2e: $(ratio "${ST_E2E[signpost]}" "${ST_E2E[postfix]}")x, acceptance: $(ratio "${ST_ACC_RATE[signpost]}" "${ST_ACC_RATE[postfix]}")x"
fi

IDLE_PER=""
if [[ $IDLE -gt 0 ]]; then
  echo
  IDLE_PER=$(awk -v h="$IDLE_PSS" -v b="$IDLE_BASE_PSS" -v n="$IDLE_EST" 'BEGIN {if (n > 0) printf "%.1f", (h - b) / n; else printf "-"}')
  idle_per_rss=$(awk -v h="$IDLE_RSS" -v b="$IDLE_BASE_RSS" -v n="$IDLE_EST" 'BEGIN {if (n > 0) printf "%.1f", (h - b) / n; else printf "-"}')
  echo "Idle TLS sessions (signpost): PSS $(mib "$IDLE_BASE_PSS") MiB before, $(mib "$IDLE_PSS") MiB holding $IDLE_EST of $IDLE"
  echo "  (RSS $(mib "$IDLE_BASE_RSS") -> $(mib "$IDLE_RSS") MiB): $IDLE_PER KiB PSS ($idle_per_rss KiB RSS) per session"
fi

echo
echo "floor (this machine, same run): RSA-2048 ${rsa_signs:-?} signs/s, Ed25519 ${ed_signs:-?} signs/s (one core,"
echo "openssl speed); SHA-256 ${sha_mbs:-?} MB/s; fsync of a 4 KB file p50 ${fsync_p50:-?} ms; TLS 1.3 handshakes"
echo "${hs_rate:-?}/s against openssl s_server (concurrency 1)"
rsa_ms=$(awk -v r="${rsa_signs:-0}" 'BEGIN {if (r > 0) printf "%.3f", 1000 / r; else printf "-"}')
echo "one RSA-2048 signature: $rsa_ms ms of CPU; Signpost's CPU per message at c32: ${CPUK[signpost.c32]} ms"
echo
checks="checks: sinks (received/accepted)"
for relay in signpost postfix signpost-dual postfix-dual; do checks+=" $relay $(sink_count "$relay")/${ACCEPTED[$relay]}"; done
echo "$checks;"
echo "        dkimpy verifies signpost ${VERIFIED[signpost]:-?}, postfix ${VERIFIED[postfix]:-?}, signpost-dual ${VERIFIED[signpost-dual]:-?}, postfix-dual ${VERIFIED[postfix-dual]:-?} sampled messages"

# --- goals ----------------------------------------------------------------------------------
# goal NAME MEASURED TARGET_TEXT OK(1|0|-) [VALUE TARGET]: one line to read, one to parse
declare -a GOAL_RESULTS=()
goal() {
  local verdict
  case $4 in 1) verdict="MET" ;; 0) verdict="NOT MET" ;; *) verdict="not measured" ;; esac
  echo "goal $1: $2 (target $3) $verdict"
  GOAL_RESULTS+=("RESULT compare goal=$1 value=${5:--} target=${6:--} met=$( [[ $4 == 1 || $4 == 0 ]] && echo "$4" || echo na)")
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a != "-" && a != "" && a + 0 >= b + 0)}' && echo 1 || echo 0; }
le() { awk -v a="$1" -v b="$2" 'BEGIN {exit !(a != "-" && a != "" && a + 0 <= b + 0)}' && echo 1 || echo 0; }
echo
echo "Goals (from this run; a goal not met is not a failure of the run):"
r=${RATIO_E2E[c32]}
moon=""; [[ $(ge "$r" 10) == 1 ]] && moon=", moonshot 10x reached"
goal c32.e2e "${r}x Postfix's e2e/s (${E2E[signpost.c32]} vs ${E2E[postfix.c32]}$moon)" ">= 8x, moonshot 10x" "$(ge "$r" 8)" "$r" 8
goal c1.e2e "${RATIO_E2E[c1]}x (${E2E[signpost.c1]} vs ${E2E[postfix.c1]})" ">= 5x" "$(ge "${RATIO_E2E[c1]}" 5)" "${RATIO_E2E[c1]}" 5
goal percon.c8.e2e "${RATIO_E2E[percon.c8]}x (${E2E[signpost.percon.c8]} vs ${E2E[postfix.percon.c8]})" ">= 4x" \
  "$(ge "${RATIO_E2E[percon.c8]}" 4)" "${RATIO_E2E[percon.c8]}" 4
goal c32.p99 "${RATIO_P99[c32]}x Postfix's p99 (${P99[signpost.c32]} vs ${P99[postfix.c32]} ms)" "<= 0.1x" \
  "$(le "${RATIO_P99[c32]}" 0.1)" "${RATIO_P99[c32]}" 0.1
goal cpu.c32 "${CPUK[signpost.c32]} ms per message" "<= 0.8 ms" "$(le "${CPUK[signpost.c32]}" 0.8)" "${CPUK[signpost.c32]}" 0.8
goal cpu.c32.dual "${CPUK[signpost-dual.c32.dual]} ms per message ($SPD_ALGS)" "<= 1.0 ms" \
  "$(le "${CPUK[signpost-dual.c32.dual]}" 1.0)" "${CPUK[signpost-dual.c32.dual]}" 1.0
if [[ $SUSTAINED -gt 0 ]]; then
  st_ratio=$(ratio "${ST_E2E[signpost]}" "${ST_ACC_RATE[signpost]}")
  st_ok=0
  [[ $(ge "$st_ratio" 0.95) == 1 && ${ST_GROWS[signpost]} == flat ]] && st_ok=1
  goal sustained "e2e/acc $st_ratio (${ST_E2E[signpost]} vs ${ST_ACC_RATE[signpost]}/s over ${SUSTAINED}s), queue ${ST_GROWS[signpost]} (10 s: ${ST_Q10[signpost]}, end: ${ST_QEND[signpost]})" \
    "e2e within 5% of acceptance, queue does not grow" "$st_ok" "$st_ratio" 0.95
else
  goal sustained "not run (--sustained SECS)" "e2e within 5% of acceptance, queue does not grow" - - 0.95
fi
pss_c32=$(mib "${PEAK_PSS[signpost.c32]:-0}")
goal pss.c32 "$pss_c32 MiB peak PSS at c32" "<= 32 MiB" "$(le "$pss_c32" 32)" "$pss_c32" 32
goal rss.flat "$RSS_DELTA MiB peak RSS at 10 MiB vs 1 KiB messages" "<= +$RSS_FLAT_MIB MiB" \
  "$(le "$RSS_DELTA" "$RSS_FLAT_MIB")" "$RSS_DELTA" "$RSS_FLAT_MIB"
if [[ $IDLE -gt 0 ]]; then
  goal idle.tls "$IDLE_PER KiB PSS per idle TLS session at $IDLE_EST sessions" "<= 40 KiB at 10,000" \
    "$(le "$IDLE_PER" 40)" "$IDLE_PER" 40
else
  goal idle.tls "not measured (--idle N)" "<= 40 KiB at 10,000" - - 40
fi

echo
for row in "${ROW_NAMES[@]}"; do
  for relay in $(pair "$row"); do
    key=$relay.$row
    echo "RESULT compare row=$row relay=$relay size=${ROW_SIZE[$row]} msgs=${SUM_MSGS[$key]:-0} errors=${ERRORS[$key]:-0} rate=${RATE[$key]} e2e_rate=${E2E[$key]} p50_ms=${P50[$key]} p99_ms=${P99[$key]} cpu_s_per_1000=${CPUK[$key]} peak_rss_kib=${PEAK_RSS[$key]:-0} peak_pss_kib=${PEAK_PSS[$key]:-0}"
  done
done
if [[ $SUSTAINED -gt 0 ]]; then
  for relay in signpost postfix; do
    echo "RESULT compare sustained relay=$relay secs=$SUSTAINED msgs=${ST_ACC[$relay]} errors=${ST_ERRS[$relay]:-?} rate=${ST_ACC_RATE[$relay]} e2e_rate=${ST_E2E[$relay]} queue_10s=${ST_Q10[$relay]} queue_30s=${ST_Q30[$relay]} queue_end=${ST_QEND[$relay]} queue=${ST_GROWS[$relay]} cpu_s_per_1000=${ST_CPUK[$relay]} peak_rss_kib=${ST_RSS[$relay]} peak_pss_kib=${ST_PSS[$relay]}"
  done
fi
if [[ $IDLE -gt 0 ]]; then
  echo "RESULT compare idle relay=signpost sessions=$IDLE established=$IDLE_EST base_pss_kib=$IDLE_BASE_PSS held_pss_kib=$IDLE_PSS base_rss_kib=$IDLE_BASE_RSS held_rss_kib=$IDLE_RSS pss_kib_per_session=$IDLE_PER"
fi
printf '%s\n' "${GOAL_RESULTS[@]}"
if [[ $FAILED -ne 0 ]]; then
  log "a check failed (see above; --keep keeps $WORK)"
  exit 1
fi
exit 0
