#!/usr/bin/env bash
# t114: Exim 4 as the sending MTA to Signpost's MX listener.
#   exim -odi (local submission; a manualroute router sends home.example and
#   elsewhere.example to 127.0.0.1:MX_PORT, STARTTLS required, Signpost's self-signed
#   certificate not verified) -> Signpost, [[listener]] kind = "mx" -> aiosmtpd "home
#   server" (STARTTLS, certificate pinned by fingerprint)
# Exim's bounces for sender.example land in a Maildir of its own; Signpost's outbound
# delivery stays in capture mode, so anything it sends itself (a bounce) lands in its outbox.
# Checked:
#   1. alice@home.example: Exim's first attempt is greylisted, 451 4.7.1 in reply to RCPT
#      (greylist_delay = "2s"; Exim's mainlog shows the defer); an Exim queue run (-qff)
#      after the delay delivers it over TLS with Signpost's queue id in the confirmation;
#      the home server gets it with Signpost's Authentication-Results field (naming the
#      relay, localhost: spf=pass dkim=none dmarc=pass from a private unbound) and Received
#      field first, then Exim's own Received field and the header and body as submitted.
#   2. carol@home.example (not a listed recipient): 550 5.1.1 in reply to RCPT TO in Exim's
#      mainlog, and in the bounce Exim returns to the sender; nothing reaches the home server.
#   3. someone@elsewhere.example (not an [[inbound]] domain): 550 5.7.1 relay access denied
#      in reply to RCPT TO, in Exim's mainlog and in its bounce.
#   At the end: Signpost's queue is empty (`signpost queue list`, signpost_queue_messages 0),
#   its outbox is empty (no bounce of its own), the metrics count one greylisted triplet
#   (first, then pass), one inbound message and one refusal of each kind; Exim's queue is
#   empty; the home server has exactly one message.
# Needs root (Exim runs from a private configuration, as in t47).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../unbound.sh"
source "$(dirname "$0")/common.sh"

EXIM=${SIGNPOST_EXIM:-/opt/signpost-peers/exim4/usr/sbin/exim4}
[ "$(id -u)" = 0 ] || fail "t114 needs root to run a private Exim configuration"
[ -x "$EXIM" ] && getent passwd Debian-exim > /dev/null || fail "Exim is not unpacked at $EXIM (scripts/install-deps.sh)"
command -v curl > /dev/null || fail "curl is not installed (scripts/install-deps.sh)"
chmod 711 "$WORK"   # Exim's delivery processes (Debian-exim) reach their directories below

# --- the home server: aiosmtpd with a self-signed certificate --------------------------
home_setup
home_start

# --- DNS: the sender's SPF and DMARC records ------------------------------------------
sender_dns_start

# --- Signpost: the dev setup plus an MX listener and [[inbound]] home.example ----------
DIR=$WORK/dev
init_dev "$DIR"
CFG=$DIR/signpost.toml
OUTBOX=$DIR/outbox
MX_PORT=$(free_port)
home_mx_config "$CFG" 'greylist_delay = "2s"'
mx_serve "$CFG"
pass "Signpost listens for home.example on 127.0.0.1:$MX_PORT (kind = mx), home server on $HOME_PORT pinned by fingerprint"

# --- the sending MTA: Exim with a private configuration -----------------------------------
EX=$WORK/exim
MAINLOG=$EX/log/mainlog
mkdir -p "$EX/spool" "$EX/log" "$EX/mail"
cat > "$EX/exim.conf" << EXIM_CONF_END
exim_path = $EXIM
spool_directory = $EX/spool
log_file_path = $EX/log/%slog
primary_hostname = mta.sender.example
qualify_domain = sender.example
keep_environment =
host_lookup =
rfc1413_hosts =
log_selector = +smtp_confirmation +tls_certificate_verified
domainlist local_domains = sender.example

begin routers
# Mail for home.example, and for a domain Signpost is not the MX for, goes to the MX port.
to_signpost:
  driver = manualroute
  domains = home.example : elsewhere.example
  route_list = * 127.0.0.1 byname
  transport = signpost_smtp
  self = send

# Bounces for the sender's own domain stay here.
local_mail:
  driver = accept
  domains = +local_domains
  transport = to_maildir

begin transports
signpost_smtp:
  driver = smtp
  port = $MX_PORT
  allow_localhost
  hosts_require_tls = *
  hosts_try_dane =

to_maildir:
  driver = appendfile
  directory = $EX/mail
  maildir_format
  create_directory
  user = Debian-exim
  return_path_add

begin retry
*  *  F,1h,1m
EXIM_CONF_END
chown -R Debian-exim: "$EX"
chown root: "$EX/exim.conf"   # Exim reads a configuration only when root owns it
EXIM_VERSION=$("$EXIM" -C "$EX/exim.conf" -bV 2> /dev/null | sed -n 's/^Exim version \([^ ]*\).*/\1/p')
[ -n "$EXIM_VERSION" ] || { "$EXIM" -C "$EX/exim.conf" -bV; fail "Exim refuses its configuration"; }
pass "Exim $EXIM_VERSION routes home.example and elsewhere.example to 127.0.0.1:$MX_PORT (STARTTLS required, no verification)"

# ex_send TO TAG: submits a message from news@sender.example to TO with Message-ID
# <TAG.t114@sender.example> and delivers it at once (-odi); the message is kept in
# $WORK/TAG.msg. Prints Exim's message id.
ex_send() {
  local to=$1 tag=$2 rc=0 id
  printf 'From: News <news@sender.example>\nTo: <%s>\nSubject: t114 %s\nMessage-ID: <%s.t114@sender.example>\n\nHello from t114: %s\n.. a line that starts with a dot\nthe last line\n' \
    "$to" "$tag" "$tag" "$tag" > "$WORK/$tag.msg"
  timeout 60 "$EXIM" -C "$EX/exim.conf" -odi -oi -f news@sender.example -- "$to" < "$WORK/$tag.msg" \
    > "$WORK/$tag.exim.out" 2>&1 || rc=$?
  [ "$rc" = 0 ] || { cat "$WORK/$tag.exim.out"; cat "$MAINLOG"; fail "exim -odi for $to exited $rc"; }
  id=$(awk -v m="id=$tag.t114@sender.example" '$4 == "<=" && index($0, m) { print $3 }' "$MAINLOG" | tail -n1)
  [ -n "$id" ] || { cat "$MAINLOG"; fail "Exim's mainlog has no arrival of $tag"; }
  echo "$id"
}
# ex_line PATTERN [SECONDS]: waits for a mainlog line matching PATTERN (ERE); prints it
ex_line() {
  local i limit=${2:-15}
  for ((i = 0; i < limit * 10; i++)); do
    grep -E "$1" "$MAINLOG" 2> /dev/null && return 0
    sleep 0.1
  done
  echo "--- exim mainlog:"; cat "$MAINLOG"; echo "--- signpost:"; tail -n 30 "$LOG"
  fail "no line /$1/ in Exim's mainlog"
}
# bounce_of RCPT REPLY TAG: waits (10 s) for Exim's bounce (null sender) for RCPT in the
# sender's Maildir; it must return message TAG and name REPLY as its Diagnostic-Code.
bounce_of() {
  local i f=
  for ((i = 0; i < 100; i++)); do
    f=$(grep -lx "X-Failed-Recipients: $1" "$EX"/mail/new/* 2> /dev/null | head -n1 || true)
    [ -n "$f" ] && break
    sleep 0.1
  done
  [ -n "$f" ] || { ls -la "$EX/mail/new" 2> /dev/null; cat "$MAINLOG"; fail "no bounce from Exim for $1"; }
  grep -qx "Return-path: <>" "$f" && grep -qx "Action: failed" "$f" && grep -qx "Final-Recipient: rfc822;$1" "$f" \
    && grep -qxF "Diagnostic-Code: smtp; $2" "$f" && grep -qxF "Message-ID: <$3.t114@sender.example>" "$f" \
    || { cat "$f"; fail "Exim's bounce for $1 does not carry the reply '$2'"; }
}
# metric NAME{LABELS}: its value in Signpost's /metrics ("" when absent)
metric() {
  curl -sf --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" > "$WORK/metrics.txt" || fail "no /metrics on $METRICS_PORT"
  awk -v n="$1" '$1 == n { print $2 }' "$WORK/metrics.txt"
}
# want_metric NAME{LABELS} VALUE
want_metric() {
  local v
  v=$(metric "$1")
  [ "$v" = "$2" ] || { grep -E '^signpost_(inbound|messages_rejected|queue_messages)' "$WORK/metrics.txt"; fail "$1 is '$v', want $2"; }
}

# --- 1. alice@home.example: greylisted at the first attempt -------------------------------
alice=$(ex_send alice@home.example alice)
greylisted_at=$SECONDS
line=$(ex_line "^[-0-9]+ [0-9:]+ $alice == alice@home\.example R=to_signpost T=signpost_smtp defer \(-44\) H=127\.0\.0\.1 \[127\.0\.0\.1\]")
grep -qE ": SMTP error from remote mail server after (pipelined )?RCPT TO:<alice@home\.example>: 451 4\.7\.1 <alice@home\.example>: Greylisted: mail from a new sender is accepted on retry; please try again in [12] seconds$" <<< "$line" \
  || { echo "$line"; fail "Exim's first attempt for alice was not answered 451 4.7.1 (greylisted) at RCPT"; }
# (Exim logs no X= on a defer line: Signpost's log shows the session's STARTTLS.)
grep -qE "\] STARTTLS: TLSv1\.[23] " "$LOG" || { cat "$LOG"; fail "Exim did not use STARTTLS on its first attempt"; }
if grep -qE "^[-0-9]+ [0-9:]+ $alice (=>|\*\*)" "$MAINLOG"; then cat "$MAINLOG"; fail "$alice was delivered or failed at its first attempt"; fi
[ -z "$(ls -A "$HOME_DIR/store" 2> /dev/null)" ] || { ls -la "$HOME_DIR/store"; fail "something reached the home server while greylisted"; }
want_metric 'signpost_inbound_greylist_total{outcome="first"}' 1
pass "alice@home.example: Exim's first attempt ($alice) greylisted, 451 4.7.1 in reply to RCPT TO, over TLS"

# refused_at_rcpt RCPT TAG REPLY REASON: Exim's message to RCPT (subject TAG) is refused with
# REPLY (the whole SMTP reply) in answer to RCPT TO; Exim bounces it to the sender with that
# reply as its Diagnostic-Code; signpost_messages_rejected_total{reason=REASON} is 1.
# Sets ID to Exim's message id.
refused_at_rcpt() {
  local rcpt=$1 tag=$2 reply=$3 reason=$4 line rcpt_re reply_re
  rcpt_re=$(sed 's/[.]/\\./g' <<< "$rcpt")
  reply_re=$(sed 's/[.()]/\\&/g' <<< "$reply")
  ID=$(ex_send "$rcpt" "$tag")
  line=$(ex_line "^[-0-9]+ [0-9:]+ $ID \*\* $rcpt_re R=to_signpost T=signpost_smtp H=127\.0\.0\.1 \[127\.0\.0\.1\]")
  grep -qE ": SMTP error from remote mail server after (pipelined )?RCPT TO:<$rcpt_re>: $reply_re\$" <<< "$line" \
    || { echo "$line"; fail "$rcpt was not refused with \"$reply\" at RCPT"; }
  ex_line "^[-0-9]+ [0-9:]+ $ID Completed" > /dev/null
  bounce_of "$rcpt" "$reply" "$tag"
  want_metric "signpost_messages_rejected_total{reason=\"$reason\"}" 1
}

# --- 2. carol@home.example: unknown user, 550 5.1.1 at RCPT -------------------------------
refused_at_rcpt carol@home.example carol "550 5.1.1 <carol@home.example>: Recipient address rejected: no such user here" \
  unknown_recipient
pass "carol@home.example: 550 5.1.1 in reply to RCPT TO ($ID), Exim bounced it to the sender with that reply"

# --- 3. someone@elsewhere.example: relay denied, 550 5.7.1 at RCPT ------------------------
refused_at_rcpt someone@elsewhere.example elsewhere \
  "550 5.7.1 <someone@elsewhere.example>: Relay access denied (not a domain this server receives mail for)" relay_denied
pass "someone@elsewhere.example: 550 5.7.1 relay access denied in reply to RCPT TO ($ID), Exim bounced it to the sender with that reply"

# --- 1, continued: Exim's queue run after the delay delivers alice -------------------------
while ((SECONDS - greylisted_at < 3)); do sleep 0.2; done
rc=0
timeout 60 "$EXIM" -C "$EX/exim.conf" -qff > "$WORK/qff.out" 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat "$WORK/qff.out"; fail "exim -qff exited $rc"; }
line=$(ex_line "^[-0-9]+ [0-9:]+ $alice => alice@home\.example R=to_signpost T=signpost_smtp H=127\.0\.0\.1 \[127\.0\.0\.1\]")
grep -qE " X=TLS1\.[23]:" <<< "$line" || { echo "$line"; fail "Exim did not deliver alice over TLS"; }
sp_id=$(grep -oE 'C="250 [^"]*Ok: queued as [0-9A-Z]+"' <<< "$line" | grep -oE '[0-9A-Z]+"$' | tr -d '"')
[ -n "$sp_id" ] || { echo "$line"; fail "no Signpost queue id in Exim's delivery line"; }
ex_line "^[-0-9]+ [0-9:]+ $alice Completed" > /dev/null
[ "$(grep -cE "^[-0-9]+ [0-9:]+ $alice == " "$MAINLOG")" = 1 ] || { cat "$MAINLOG"; fail "$alice was deferred more than once"; }
grep -qF "queued $sp_id: from=<news@sender.example> rcpts=1 inbound from [127.0.0.1]" "$LOG" \
  || { cat "$LOG"; fail "Signpost's log does not show $sp_id queued as inbound mail"; }
f=
for ((i = 0; i < 150; i++)); do
  f=$(grep -l "(Signpost) with ESMTPS id $sp_id" "$HOME_DIR"/store/*.eml 2> /dev/null | head -n1 || true)
  [ -n "$f" ] && break
  sleep 0.1
done
[ -n "$f" ] || { cat "$LOG"; fail "$sp_id did not reach the home server"; }
grep -qE "^MSG <alice\.t114@sender\.example> alice@home\.example tls=TLSv1\.[23] auth=- sp=$sp_id$" "$HOME_DIR/sink.log" \
  || { cat "$HOME_DIR/sink.log"; fail "the home server's log does not show $sp_id for alice over TLS"; }
"$PY" - "$f" "$sp_id" "$WORK/alice.msg" "$EXIM_VERSION" "$alice" << 'PYEOF' || fail "the message at the home server is not Exim's message after Signpost's two fields"
import re, sys
data = open(sys.argv[1], "rb").read()
sp, version, exim_id = sys.argv[2].encode(), re.escape(sys.argv[4].encode()), re.escape(sys.argv[5].encode())
submitted = open(sys.argv[3], "rb").read().replace(b"\n", b"\r\n")
sub_head, sub_body = submitted.split(b"\r\n\r\n", 1)
ar = (b"Authentication-Results: localhost;\r\n\tspf=pass smtp.mailfrom=news@sender.example;\r\n\tdkim=none;\r\n"
      b"\tdmarc=pass (p=none dis=none) header.from=sender.example\r\n")
if not data.startswith(ar):
    sys.exit("no Authentication-Results field by localhost first: %r" % data[:400])
data = data[len(ar):]
m = re.match(rb"Received: from mta\.sender\.example \(\[127\.0\.0\.1\]\)\r\n\tby localhost \(Signpost\) with ESMTPS id "
             + sp + rb"\r\n\t\(TLSv1\.[23] [A-Z0-9_]+\)\r\n\tfor <alice@home\.example>;\r\n\t[^\r\n]+\r\n", data)
if not m:
    sys.exit("no Signpost Received field second: %r" % data[:400])
rest = data[m.end():]
m = re.match(rb"Received: from root by mta\.sender\.example with local \(Exim " + version + rb"\)\r\n"
             rb"\t\(envelope-from <news@sender\.example>\)\r\n\tid " + exim_id + rb"\r\n\tfor alice@home\.example;\r\n\t[^\r\n]+\r\n", rest)
if not m:
    sys.exit("Exim's Received field does not follow: %r" % rest[:300])
head, body = rest.split(b"\r\n\r\n", 1)
if body != sub_body:
    sys.exit("the body changed: %r, want %r" % (body, sub_body))
lines = head.split(b"\r\n")
for field in sub_head.split(b"\r\n"):
    if field not in lines:
        sys.exit("the submitted field %r is missing: %r" % (field, head))
if re.search(rb"(?im)^dkim-signature:", head):
    sys.exit("a DKIM-Signature was added to inbound mail")
PYEOF
want_metric 'signpost_inbound_greylist_total{outcome="pass"}' 1
want_metric 'signpost_inbound_messages_total' 1
pass "alice@home.example: Exim's queue run delivered $alice to the MX ($sp_id, STARTTLS) -> home server; Authentication-Results (localhost: spf=pass dkim=none dmarc=pass) and Received added, Exim's header and body intact"

# --- the end state: nothing queued, nothing bounced by Signpost ----------------------------
for ((i = 0; i < 50; i++)); do
  "$SIGNPOST" queue list --config "$CFG" > "$WORK/list.txt" 2>&1 || true
  grep -qx "The queue is empty." "$WORK/list.txt" && break
  sleep 0.1
done
grep -qx "The queue is empty." "$WORK/list.txt" || { cat "$WORK/list.txt"; fail "Signpost's queue is not empty"; }
want_metric 'signpost_queue_messages' 0
want_metric 'signpost_inbound_greylist_total{outcome="first"}' 1
want_metric 'signpost_inbound_greylist_total{outcome="too_early"}' 0
want_metric 'signpost_messages_rejected_total{reason="unknown_recipient"}' 1
want_metric 'signpost_messages_rejected_total{reason="relay_denied"}' 1
[ -z "$(ls -A "$OUTBOX" 2> /dev/null)" ] || { ls -la "$OUTBOX"; fail "Signpost generated outbound mail (a bounce?)"; }
n=$(find "$HOME_DIR/store" -name '*.eml' | wc -l)
[ "$n" = 1 ] || { ls -la "$HOME_DIR/store"; fail "the home server holds $n messages, want 1 (alice's)"; }
if grep -rqE "carol|elsewhere" "$HOME_DIR/store" "$HOME_DIR/sink.log"; then fail "mail for carol or elsewhere.example reached the home server"; fi
[ "$("$EXIM" -C "$EX/exim.conf" -bpc 2> /dev/null)" = 0 ] || { "$EXIM" -C "$EX/exim.conf" -bp; fail "Exim's queue is not empty"; }
# The paniclog holds only Exim's note that -C costs it its privilege (expected here).
if grep -v "exim user lost privilege for using -C option" "$EX/log/paniclog" 2> /dev/null | grep -q .; then
  cat "$EX/log/paniclog"; fail "Exim wrote to its paniclog"
fi
pass "Signpost's queue and outbox are empty (no bounce of its own), one greylisted triplet, one refusal of each kind; Exim's queue is empty"

kill -TERM "$SPID"
wait_exit "$SPID" 15
[ "$EXIT_CODE" = 0 ] || { cat "$LOG"; fail "serve exited $EXIT_CODE on SIGTERM"; }
pass "stopped cleanly"
