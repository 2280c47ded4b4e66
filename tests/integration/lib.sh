# tests/integration/lib.sh — shared helpers for the integration scenarios (bash).
# Each scenario sources this, gets a private temp dir in $WORK (removed on exit, kept when
# SIGNPOST_KEEP_WORK=1) and the binary in $SIGNPOST.
set -euo pipefail

SIGNPOST=${SIGNPOST_BIN:?SIGNPOST_BIN must point at the signpost binary}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/signpost-it.XXXXXX")
_pids=()
_cleanup() {
  local pid
  for pid in "${_pids[@]:-}"; do
    if [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
  done
  if [ "${SIGNPOST_KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap _cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# pid_running PID: the process exists and has not exited. A daemon's exited process stays
# a zombie until its parent reaps it, which a container's PID 1 may never do (`sleep
# infinity`): kill -0 alone would call it running.
pid_running() {
  kill -0 "$1" 2> /dev/null || return 1
  [ "$(awk '{ print $3 }' "/proc/$1/stat" 2> /dev/null)" != Z ]
}

# track_pid PID: killed at exit if still running.
track_pid() { _pids+=("$1"); }

# wait_for_log FILE PATTERN [SECONDS]: waits until FILE contains PATTERN (grep -E).
wait_for_log() {
  local file=$1 pattern=$2 limit=${3:-20} i
  for ((i = 0; i < limit * 10; i++)); do
    grep -qE "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "--- $file:"; cat "$file" 2>/dev/null || true
  fail "timed out after ${limit}s waiting for /$pattern/ in $file"
}

# wait_exit PID SECONDS: waits for PID (a child of this shell) to exit and sets EXIT_CODE;
# fails on timeout. Not for use inside $(...): a subshell cannot wait for its parent's child.
wait_exit() {
  local pid=$1 limit=$2 i
  for ((i = 0; i < limit * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      EXIT_CODE=0
      wait "$pid" || EXIT_CODE=$?
      return 0
    fi
    sleep 0.1
  done
  fail "process $pid still running after ${limit}s"
}

# free_port: a port free on 127.0.0.1 for both UDP and TCP right now, taken from below the
# kernel's ephemeral range (ip_local_port_range), so that an outgoing connection of a test
# running alongside cannot be given it as its local port while a server here restarts.
free_port() {
  /usr/bin/python3 -c '
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
top = low - 1 if low > 12000 else 32767
for _ in range(200):
    port = random.randint(10000, top)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        u.bind(("127.0.0.1", port))
        t.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        t.close()
        u.close()
    print(port)
    break
else:
    raise SystemExit("no free port found")
'
}

# init_dev DIR: `signpost init --dev DIR`, then moves its listeners and metrics endpoint to
# free ports so scenarios can run in parallel. Sets SUBMISSION_PORT (STARTTLS),
# SUBMISSIONS_PORT (implicit TLS), METRICS_PORT and DEV_PASSWORD.
init_dev() {
  local dir=$1
  "$SIGNPOST" init --dev "$dir" > /dev/null || fail "signpost init --dev $dir failed"
  SUBMISSION_PORT=$(free_port)
  SUBMISSIONS_PORT=$(free_port)
  METRICS_PORT=$(free_port)
  sed -i -e "s|127.0.0.1:2587|127.0.0.1:$SUBMISSION_PORT|" -e "s|127.0.0.1:2465|127.0.0.1:$SUBMISSIONS_PORT|" \
         -e "s|127.0.0.1:9587|127.0.0.1:$METRICS_PORT|" "$dir/signpost.toml"
  DEV_PASSWORD=$(cat "$dir/dev-password")
}

# serve_dev DIR: init_dev DIR, then `signpost serve` on it in the background (tracked),
# logging to $WORK/serve.log; returns once it is ready. Sets SPID and LOG.
serve_dev() {
  init_dev "$1"
  LOG=$WORK/serve.log
  : > "$LOG"  # not in the background job: wait_for_log must never see an older run's lines
  "$SIGNPOST" serve --config "$1/signpost.toml" >> "$LOG" 2>&1 &
  SPID=$!
  track_pid "$SPID"
  wait_for_log "$LOG" 'ready'
}

# make_test_ca DIR: a test CA (DIR/ca.pem) and a certificate for "localhost" and 127.0.0.1
# signed by it (DIR/sink.pem, DIR/sink.key), for receiving servers started by a test.
make_test_ca() {
  local dir=$1
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=signpost test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null || fail "openssl: test CA"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$dir/sink.key" -out "$dir/sink.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$dir/san.ext"
  openssl x509 -req -in "$dir/sink.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
    -extfile "$dir/san.ext" -out "$dir/sink.pem" 2>/dev/null || fail "openssl: sink certificate"
}

# test_ca_cert DIR NAME PREFIX: a certificate for the DNS name NAME (PREFIX.pem) and its key
# (PREFIX.key, mode 0600), signed by the test CA that make_test_ca DIR made.
test_ca_cert() {
  local dir=$1 name=$2 prefix=$3
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$prefix.key" -out "$prefix.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s\n' "$name" > "$prefix.ext"
  openssl x509 -req -in "$prefix.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 2 \
    -extfile "$prefix.ext" -out "$prefix.pem" 2>/dev/null || fail "openssl: certificate for $name"
  chmod 600 "$prefix.key"
}

# use_smarthost CONFIG PORT CA_FILE: replaces the [delivery] section with smarthost delivery
# to localhost:PORT over STARTTLS, verified against CA_FILE.
use_smarthost() {
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import re, sys
path, port, ca = sys.argv[1:]
text = open(path).read()
text = re.sub(r'\[delivery\][^\[]*', '[delivery]\nmode = "smarthost"\nsmarthost = "localhost:%s"\n'
              'smarthost_tls = "starttls"\nextra_ca_file = "%s"\n\n' % (port, ca), text, count=1)
open(path, "w").write(text)
PY
}

# start_sink PORT DIR [ARGS...]: the aiosmtpd sink (tests/integration/lib/smtp_sink.py) on
# 127.0.0.1:PORT with STARTTLS (make_test_ca DIR first), logging to DIR/sink.log; extra
# ARGS go to the sink (--store D, --reject-rcpt A, ...). Sets SINK_PID.
start_sink() {
  local port=$1 dir=$2
  shift 2
  /usr/bin/python3 "$SIGNPOST_SOURCE_DIR/tests/integration/lib/smtp_sink.py" --port "$port" \
    --tls-cert "$dir/sink.pem" --tls-key "$dir/sink.key" --log "$dir/sink.log" "$@" > "$dir/sink.out" 2>&1 &
  SINK_PID=$!
  track_pid $SINK_PID
  wait_for_log "$dir/sink.out" "READY" 20
}

# readme_table NAME FILE: README.md's generated block NAME (between "<!-- NAME:begin -->"
# and "<!-- NAME:end -->") must equal FILE; with SIGNPOST_UPDATE_README=1 it is rewritten.
readme_table() {
  local readme=$SIGNPOST_SOURCE_DIR/README.md
  if [ "${SIGNPOST_UPDATE_README:-0}" = 1 ]; then
    /usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import interop
print("README.md block %s %s" % (sys.argv[3], "rewritten" if interop.update_readme(sys.argv[2], sys.argv[3], open(sys.argv[4]).read()) else "unchanged"))' \
      "$SIGNPOST_SOURCE_DIR/tests/integration/interop" "$readme" "$1" "$2" || fail "could not rewrite README.md's $1 block"
    return 0
  fi
  /usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import interop
b = interop.readme_block(sys.argv[2], sys.argv[3]); sys.exit(0 if b == open(sys.argv[4]).read() else 1)' \
    "$SIGNPOST_SOURCE_DIR/tests/integration/interop" "$readme" "$1" "$2" \
    || { cat "$2"; fail "README.md's $1 table differs from this run's (above); SIGNPOST_UPDATE_README=1 ctest -R interop rewrites it"; }
  pass "README.md's $1 table is this run's"
}

# mx_sink NAME ADDRESS [ARGS...]: an aiosmtpd MX host (lib/smtp_sink.py) on ADDRESS:$MX_PORT
# (several share one port on 127.0.0.x), logging to $WORK/NAME/sink.log; ARGS go to the
# sink (--tls-cert F --tls-key F, --store D, --requiretls, ...). Returns once it listens.
mx_sink() {
  local name=$1 addr=$2
  shift 2
  mkdir -p "$WORK/$name"
  /usr/bin/python3 "$SIGNPOST_SOURCE_DIR/tests/integration/lib/smtp_sink.py" --host "$addr" --port "$MX_PORT" \
    --log "$WORK/$name/sink.log" "$@" > "$WORK/$name/out" 2>&1 &
  track_pid $!
  wait_for_log "$WORK/$name/out" READY 20
}

# deferred_with KEY PATTERN: the message whose queue id is ${QID[KEY]} is still queued after
# at least one attempt, and `signpost queue show` matches PATTERN (ERE) (10 s). Uses $CFG
# and $LOG.
deferred_with() {
  local i out
  for ((i = 0; i < 100; i++)); do
    out=$("$SIGNPOST" queue show "${QID[$1]}" --config "$CFG" 2>/dev/null || true)
    if grep -q "attempt(s), last" <<< "$out" && grep -qE "$2" <<< "$out"; then return 0; fi
    sleep 0.1
  done
  echo "$out"; grep "${QID[$1]}" "$LOG" | tail -5
  fail "$1: not deferred with /$2/"
}
