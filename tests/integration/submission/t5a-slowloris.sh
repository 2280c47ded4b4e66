#!/usr/bin/env bash
# t5a: slow and stuck clients (STYLE.md habit 2: "every read and write has a deadline;
# DATA has its own, longer one; the whole connection has an absolute one"), with
# [limits] command_timeout = "2s", data_timeout = "2s", connection_timeout = "6s".
# All cases run at the same time, each on its own connection; every connection must be
# gone by connection_timeout (+1.5 s slack) at the latest:
#   A  a command line trickled one byte per second, never finished: the per-line deadline
#      (armed once per line, not per read) ends it: 421 4.4.2 within ~2 s, closed;
#   B  complete NOOPs every 1.5 s (each within command_timeout): connection_timeout ends
#      it, 421 4.4.2 at ~6 s;
#   C  a DATA body trickled one byte per 0.5 s: each read comes within data_timeout, but
#      the transfer must average [limits] min_data_rate (default 500 octets/s) after a
#      grace of data_timeout: 421 4.4.2 at ~2 s after DATA, and a log line that says so;
#   D  silent after the greeting: 421 4.4.2 at ~2 s, closed;
#   E  STARTTLS, then no TLS handshake: closed at ~2 s;
#   F  the implicit TLS port, and no ClientHello ever: closed (nothing can be said);
#   G  a client that pipelines megabytes of NOOPs and never reads a reply: the server's
#      writes block; the connection must still be closed in bounded time — and while it
#      is stuck, a normal submission on another connection works;
#   H  a BDAT chunk trickled one byte per 0.5 s: cut off like C.
# Then the server still serves: a normal submission works, and serve stops on SIGTERM.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/abuse.sh"
abuse_setup
printf '\n[limits]\ncommand_timeout = "2s"\ndata_timeout = "2s"\nconnection_timeout = "6s"\n' >> "$cfg"
abuse_serve

"$PY" - <<'EOF' || fail "slow and stuck clients"
import threading, time
from smtpclient import *

CMD, CONN, SLACK = 2.0, 6.0, 1.5
results = {}
threads = []

def case(name):
    def register(fn):
        def run():
            try:
                results[name] = (True, fn())
            except Exception as e:  # a Failure or anything else: reported, not fatal
                results[name] = (False, "%s" % e)
        threads.append(threading.Thread(target=run, name=name, daemon=True))
        return fn
    return register

def timed_out(c, started, lo, hi, what):
    """The 421 4.4.2 and the close, between lo and hi seconds after `started`."""
    r = c.expect(421, "4.4.2", timeout=max(0.1, hi - (time.monotonic() - started)), what=what)
    at = time.monotonic() - started
    c.wait_closed(3)
    check(lo <= at <= hi, "%s: %s after %.1fs, expected between %.1f and %.1fs" % (what, r.first_line(), at, lo, hi))
    return r, at

@case("A partial command line, 1 byte/s")
def a():
    with Client.from_env().connect() as c:
        c.expect(220)
        t0 = time.monotonic()
        c.trickle(b"NOOP " + b"x" * 100, 1.0, CONN + 4)
        r, at = timed_out(c, t0, CMD - 0.5, CMD + SLACK, "a trickled command line")
        return "%s after %.1fs (per-line deadline; trickling does not extend it)" % (r.first_line(), at)

@case("B a complete NOOP every 1.5 s")
def b():
    with Client.from_env().connect() as c:
        t0 = time.monotonic()
        c.expect(220)
        n = 0
        while time.monotonic() - t0 < CONN + 4:
            c.send("NOOP\r\n")
            r = c.reply(timeout=3)
            if r.code != 250:
                break
            n += 1
            if c.poll(1.5):
                r = c.reply()
                break
        check((r.code, r.enhanced) == (421, "4.4.2"), "slow NOOPs ended with %s" % r)
        at = time.monotonic() - t0
        c.wait_closed(3)
        check(CONN - 1 <= at <= CONN + SLACK, "slow NOOPs: 421 after %.1fs, expected ~%.0fs" % (at, CONN))
        return "%d NOOPs answered, then %s after %.1fs (connection_timeout)" % (n, r.first_line(), at)

@case("C DATA body, 1 byte per 0.5 s")
def c_():
    with Client.from_env() as c:
        c.login()
        c.cmd("MAIL FROM:<dev@example.test>", 250, "2.1.0")
        c.cmd("RCPT TO:<rcpt@dest.test>", 250, "2.1.5")
        c.cmd("DATA", 354)
        t_data = time.monotonic()
        c.trickle(message(body="x" * 200), 0.5, CONN + 4)
        r, at = timed_out(c, t_data, CMD - 0.5, CMD + SLACK, "a trickled DATA body")
        return "%s %.1fs after DATA (min_data_rate: the transfer must average 500 octets/s after data_timeout)" \
            % (r.first_line(), at)

@case("H BDAT chunk, 1 byte per 0.5 s")
def h():
    with Client.from_env() as c:
        c.login()
        c.cmd("MAIL FROM:<dev@example.test>", 250, "2.1.0")
        c.cmd("RCPT TO:<rcpt@dest.test>", 250, "2.1.5")
        body = message(body="y" * 200)
        c.send("BDAT %d LAST\r\n" % len(body))
        t_bdat = time.monotonic()
        c.trickle(body, 0.5, CONN + 4)
        r, at = timed_out(c, t_bdat, CMD - 0.5, CMD + SLACK, "a trickled BDAT chunk")
        return "%s %.1fs after BDAT (min_data_rate)" % (r.first_line(), at)

@case("D silent after the greeting")
def d():
    with Client.from_env().connect() as c:
        c.expect(220)
        t0 = time.monotonic()
        r, at = timed_out(c, t0, CMD - 0.5, CMD + SLACK, "silence after the greeting")
        return "%s after %.1fs" % (r.first_line(), at)

@case("E STARTTLS, then no handshake")
def e():
    with Client.from_env().connect() as c:
        c.expect(220)
        c.cmd("STARTTLS", 220, "2.0.0")
        t0 = time.monotonic()
        waited, data = c.wait_closed(CONN + 4)
        check(waited <= CMD + SLACK, "closed only after %.1fs" % waited)
        return "closed after %.1fs, %s" % (waited, "nothing sent" if not data else "sent %s" % show(data))

@case("F implicit TLS port, no ClientHello")
def f():
    c = Client(port=int(os.environ["SP_TLS_PORT"]), mode="plain").connect()  # TCP only
    with c:
        t0 = time.monotonic()
        try:
            waited, data = c.wait_closed(CONN + 4)
        except TimedOut:
            raise Failure("still open %.0fs after connect (connection_timeout is %.0fs): a silent client "
                          "holds a session and a per-IP slot forever" % (time.monotonic() - t0, CONN))
        check(waited <= CONN + SLACK, "closed only after %.1fs" % waited)
        return "closed after %.1fs, %s" % (waited, "nothing sent" if not data else "sent %s" % show(data))

@case("G never reads its replies")
def g():
    with Client.from_env().connect() as c:
        t0 = time.monotonic()
        c.expect(220)
        sent = c.send_without_reading(b"NOOP\r\n" * 3_000_000, stall=1.0, limit=CONN)
        stuck = time.monotonic() - t0
        # Meanwhile another session works normally.
        with Client.from_env().login() as other:
            r = other.submit()
            check((r.code, r.enhanced) == (250, "2.0.0"), "a submission while a session is stuck got %s" % r)
            other.quit()
        waited = c.wait_hangup(CONN + 4 - (time.monotonic() - t0))
        if waited is None:
            raise Failure("%d bytes of NOOPs sent, writes stuck after %.1fs; the connection is still open %.0fs "
                          "after connect (connection_timeout %.0fs): a client that never reads holds its session "
                          "forever" % (sent, stuck, time.monotonic() - t0, CONN))
        at = time.monotonic() - t0
        check(at <= CONN + SLACK, "closed only %.1fs after connect" % at)
        return "%d bytes of NOOPs, stuck after %.1fs; another session submitted meanwhile; closed %.1fs after connect" \
            % (sent, stuck, at)

for t in threads:
    t.start()
for t in threads:
    t.join(CONN + 20)
failed = False
for name in sorted(results):
    ok, text = results[name]
    print("%s: %s: %s" % ("ok" if ok else "FAIL", name, text))
    failed = failed or not ok
missing = [t.name for t in threads if t.name not in results]
for name in missing:
    print("FAIL: %s: did not finish" % name)
raise SystemExit(1 if failed or missing else 0)
EOF

[ "$(grep -c 'message transfer too slow: .* below \[limits\] min_data_rate = 500 octets/s' "$log")" = 2 ] \
  || { grep -i 'slow\|timeout' "$log"; fail "C and H are not both logged as too slow"; }
grep -q 'session aborted' "$log" && fail "a session was aborted by an exception: $(grep 'session aborted' "$log")"
"$PY" "$HERE/smtpclient.py" submit --port "$SUBMISSION_PORT" --cafile "$SP_CAFILE" --password "$DEV_PASSWORD" \
  > "$WORK/final.out" || fail "a normal submission failed afterwards: $(cat "$WORK/final.out")"
[ "$(queue_count)" = 2 ] || fail "the queue does not hold exactly the two normal submissions"
pass "a normal submission still works: $(cat "$WORK/final.out")"
kill -TERM "$pid"; wait_exit "$pid" 10
[ "$EXIT_CODE" = 0 ] || fail "serve exited $EXIT_CODE on SIGTERM"
