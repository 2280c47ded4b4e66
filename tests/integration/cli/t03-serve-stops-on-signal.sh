#!/usr/bin/env bash
# t03: `signpost serve` loads the dev config, logs its listeners, and exits 0 on SIGINT and
# on SIGTERM; a broken config keeps it from starting (exit 1, errors on stderr).
source "$(dirname "$0")/../lib.sh"

dev=$WORK/dev
init_dev "$dev"

for sig in INT TERM; do
  log=$WORK/serve-$sig.log
  "$SIGNPOST" serve --config "$dev/signpost.toml" > "$log" 2>&1 &
  pid=$!; track_pid $pid
  wait_for_log "$log" 'ready'
  grep -q "listener submission: 127.0.0.1:$SUBMISSION_PORT (starttls)" "$log" || fail "STARTTLS listener not logged"
  grep -q "listener submissions: 127.0.0.1:$SUBMISSIONS_PORT (implicit)" "$log" || fail "implicit TLS listener not logged"
  kill -"$sig" "$pid"
  wait_exit "$pid" 10
  [ "$EXIT_CODE" = 0 ] || fail "serve exited $EXIT_CODE after SIG$sig"
  grep -q "received SIG$sig, stopping" "$log" || fail "no stop message after SIG$sig"
  pass "serve stops cleanly on SIG$sig"
done

# JSON log format: every line is one JSON object.
sed -i 's/^format = "text"/format = "json"/' "$dev/signpost.toml"
log=$WORK/serve-json.log
"$SIGNPOST" serve --config "$dev/signpost.toml" > "$log" 2>&1 &
pid=$!; track_pid $pid
wait_for_log "$log" '"msg":"ready"'
kill -TERM "$pid"; wait_exit "$pid" 10
[ "$EXIT_CODE" = 0 ] || fail "serve (json) exited $EXIT_CODE"
/usr/bin/python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no log lines"
for l in lines:
    o = json.loads(l)
    assert set(o) == {"ts", "level", "id", "msg"}, o
' "$log" || fail "JSON log lines do not parse"
pass "JSON log lines parse"

printf '[server]\nhostnme = "x"\n' >> "$dev/signpost.toml"
if "$SIGNPOST" serve --config "$dev/signpost.toml" > "$WORK/bad.out" 2> "$WORK/bad.err"; then
  fail "serve started with a broken config"
fi
grep -q 'signpost.toml:' "$WORK/bad.err" || fail "no located error for the broken config"
pass "serve refuses a broken config"
