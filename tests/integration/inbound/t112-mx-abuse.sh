#!/usr/bin/env bash
# t112: the SMTP abuse cases that submission passes (t53, t54, t55, t43), on the MX
# listener, where anyone may connect without AUTH. Run with [limits] bare_lf = "refuse".
#   1. SMTP smuggling: each fake end of data ("\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\n")
#      followed by a smuggled MAIL/RCPT/DATA: silence until the real CRLF.CRLF, then one
#      550 5.5.2 and nothing else; the smuggled recipient is never accepted.
#   2. STARTTLS injection: "STARTTLS\r\nMAIL FROM:..\r\nRCPT TO:..\r\n" in one write:
#      only the 220 in clear; over TLS the injected commands were not run (RCPT -> 503).
#   3. A command line over 512 octets: 500 5.5.6, the session goes on; NUL and a bare LF
#      in a command: 500 5.5.2; EHLO/HELO that is no domain or address literal: 501 5.5.4.
#   4. A body line over [limits] max_line_length: 550 5.6.0 (nothing queued).
#   5. Pregreet: a client that sends EHLO before the greeting (greet_pause, "1s" by
#      default) gets 554 5.5.1 and is disconnected; one that waits is greeted.
#   6. Nothing was forwarded to the home server but the one clean message sent at the end.
#   7. Per-client rates (client_messages_per_hour = client_connections_per_hour = 7, both
#      used up by the cases above and below): the 8th MAIL FROM gets 451 4.7.1 and the
#      session goes on; the 8th connection gets 421 4.7.0 before any greeting; the metrics
#      count both (rejected reason="rate_limited", clients refused reason="rate").
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"
export PYTHONPATH="$SIGNPOST_SOURCE_DIR/tests/integration/submission" PYTHONDONTWRITEBYTECODE=1

home_setup
home_start

DIR=$WORK/dev
init_dev "$DIR"
CFG=$DIR/signpost.toml
MX_PORT=$(free_port)
cat >> "$CFG" << CONFIG_END

[limits]
bare_lf = "refuse"
max_line_length = "998"

[[listener]]
address = "127.0.0.1:$MX_PORT"
kind = "mx"
client_connections_per_hour = 7
client_messages_per_hour = 7

[[inbound]]
domain = "home.example"
recipients = ["alice"]
deliver_to = "127.0.0.1:$HOME_PORT"
deliver_fingerprint = "$FP"
greylist = false
CONFIG_END
mx_serve "$CFG"

SP_PORT=$MX_PORT SP_CAFILE=$DIR/tls/cert.pem "$PY" - << 'PYEOF' || fail "abuse cases on the MX listener"
from smtpclient import *

SMUGGLED_MX = (b"MAIL FROM:<x@sender.example>\r\nRCPT TO:<alice@home.example>\r\nDATA\r\n"
               b"From: <x@sender.example>\r\nSubject: smuggled\r\n\r\nsmuggled\r\n")
HEADER = b"From: <x@sender.example>\r\nTo: <alice@home.example>\r\nSubject: t112\r\n\r\nfirst message\r\nmore"


def mx_session():
    c = Client.from_env().connect()
    c.expect(220, what="greeting")
    c.ehlo("mta.sender.example")
    c.starttls()
    c.ehlo("mta.sender.example")
    return c


def open_data(c):
    c.cmd("MAIL FROM:<x@sender.example>", 250, "2.1.0")
    c.cmd("RCPT TO:<alice@home.example>", 250, "2.1.5")
    c.cmd("DATA", 354)


with Client.from_env().connect() as c:
    c.send(b"EHLO pregreeter.example\r\n")
    c.expect(554, "5.5.1", what="EHLO sent before the greeting")
    c.wait_closed(5)
    print("ok: EHLO before the greeting -> 554 5.5.1, disconnected")

with mx_session() as c:
    for fake in [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n"]:
        open_data(c)
        c.send(HEADER + fake + SMUGGLED_MX)
        c.expect_silence(1.0, "the server after the fake end %s" % show(fake))
        c.send(b".\r\n")
        c.expect(550, "5.5.2", what="the real end after the fake end %s" % show(fake))
        c.expect_silence(0.5, "the server after the end-of-data reply (smuggled commands run?)")
        c.cmd("NOOP", 250, "2.0.0")
        print("ok: fake end %s + smuggled MAIL/RCPT/DATA: silent until CRLF.CRLF, then only 550 5.5.2" % show(fake))
    c.quit()

with Client.from_env().connect() as c:
    c.expect(220)
    c.ehlo("mta.sender.example")
    c.send(b"STARTTLS\r\nMAIL FROM:<x@sender.example>\r\nRCPT TO:<alice@home.example>\r\n")
    c.expect(220, "2.0.0", what="STARTTLS with injected commands behind it")
    c.poll(0.3)
    c.upgrade()
    c.ehlo("mta.sender.example")
    c.cmd("RCPT TO:<alice@home.example>", 503, "5.5.1")
    print("ok: MAIL/RCPT injected behind STARTTLS were discarded: over TLS RCPT -> 503 5.5.1")
    c.quit()

with mx_session() as c:
    # (an EHLO between them: three bad commands in a row end the session with 421)
    c.cmd("NOOP " + "x" * 600, 500, "5.5.6")
    c.ehlo("mta.sender.example")
    c.cmd("EHLO bad host!", 501, "5.5.4")
    c.cmd("HELO [192.0.2.999]", 501, "5.5.4")
    c.ehlo("mta.sender.example")
    print("ok: EHLO/HELO with an invalid host name or address literal: 501 5.5.4")
    c.send(b"NOOP\x00\r\n")
    c.expect(500, "5.5.2", what="NUL in a command")
    c.ehlo("mta.sender.example")
    c.send(b"NOOP\n")
    c.expect(500, "5.5.2", what="a bare LF ending a command")
    c.ehlo("mta.sender.example")
    c.cmd("NOOP", 250, "2.0.0")
    print("ok: a 600-octet command line: 500 5.5.6; NUL and a bare LF: 500 5.5.2; the session goes on")
    open_data(c)
    c.send(HEADER + b"\r\n" + b"y" * 1200 + b"\r\n.\r\n")
    c.expect(550, "5.6.0", what="a body line over max_line_length")
    print("ok: a 1200-octet body line (max_line_length = 998): 550 5.6.0")
    open_data(c)
    c.send(HEADER + b"\r\nthe clean one\r\n.\r\n")
    c.expect(250, "2.0.0", what="a clean message")
    print("ok: a clean message -> 250 2.0.0")
    c.quit()
PYEOF

# 4 connections and 6 MAIL FROM commands so far.
SP_PORT=$MX_PORT SP_CAFILE=$DIR/tls/cert.pem "$PY" - << 'PYEOF' || fail "per-client rate limits on the MX listener"
from smtpclient import *

with Client.from_env().connect() as c:  # connection 5
    c.expect(220, what="greeting")
    c.ehlo("mta.sender.example")
    c.starttls()
    c.ehlo("mta.sender.example")
    c.cmd("MAIL FROM:<x@sender.example>", 250, "2.1.0")  # message 7
    c.cmd("RSET", 250, "2.0.0")
    c.cmd("MAIL FROM:<x@sender.example>", 451, "4.7.1")  # message 8: over the hour's 7
    c.cmd("NOOP", 250, "2.0.0")
    print("ok: the 8th MAIL FROM within the hour -> 451 4.7.1, the session goes on")
    c.quit()
for n in (6, 7):
    with Client.from_env().connect() as c:
        c.expect(220, what="greeting of connection %d" % n)
        c.quit()
with Client.from_env().connect() as c:
    c.expect(421, "4.7.0", what="the 8th connection within the hour")
    c.wait_closed(5)
print("ok: connections 6 and 7 greeted, the 8th -> 421 4.7.0 and closed")
PYEOF
curl -s "http://127.0.0.1:$METRICS_PORT/metrics" > "$WORK/metrics"
grep -qx 'signpost_messages_rejected_total{reason="rate_limited"} 1' "$WORK/metrics" \
  && grep -qx 'signpost_inbound_clients_refused_total{reason="rate"} 1' "$WORK/metrics" \
  || { grep -E 'rate_limited|reason="rate"' "$WORK/metrics"; fail "the rate refusals are not counted once each"; }
pass "per-client rates: 451 4.7.1 at the 8th MAIL FROM, 421 4.7.0 at the 8th connection, both counted"

for ((i = 0; i < 100; i++)); do
  [ "$(ls "$HOME_DIR/store" 2> /dev/null | wc -l)" -ge 1 ] && break
  sleep 0.1
done
sleep 0.5
n=$(ls "$HOME_DIR/store" 2> /dev/null | wc -l)
[ "$n" = 1 ] || { ls -la "$HOME_DIR/store"; fail "$n messages reached the home server, want only the clean one"; }
grep -q "the clean one" "$HOME_DIR"/store/*.eml || fail "the message at the home server is not the clean one"
if grep -q smuggled "$HOME_DIR"/store/*.eml; then fail "smuggled text reached the home server"; fi
grep -qF "it talked before the greeting" "$LOG" || fail "no log line for the pregreet refusal"
if grep -q 'session aborted' "$LOG"; then fail "a session was aborted by an exception"; fi
pass "only the clean message was forwarded to the home server"

kill -TERM "$SPID"
wait_exit "$SPID" 15
[ "$EXIT_CODE" = 0 ] || { cat "$LOG"; fail "serve exited $EXIT_CODE on SIGTERM"; }
pass "stopped cleanly"
