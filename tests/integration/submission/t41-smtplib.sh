#!/usr/bin/env bash
# t41: Python's smtplib and raw commands over TLS as submission clients.
#   1. smtplib: starttls() with the dev certificate as the only CA, login() (smtplib picks
#      PLAIN), send_message() of an EmailMessage with a UTF-8 Subject (RFC 2047 encoded)
#   2. the same with AUTH LOGIN as smtplib sends it (initial response: the user name on the
#      AUTH line), and an 8-bit UTF-8 body with BODY=8BITMIME
#   3. SMTP_SSL on the implicit TLS port
#   4. BDAT (RFC 3030) with raw commands after STARTTLS: EHLO offers CHUNKING; four
#      chunks whose boundaries fall inside a header line, between the two CRLFs that end
#      the header and inside a CRLF of the body; lines starting with "." are not stuffed
#      in BDAT and must arrive as sent. "BDAT n" answers "250 2.0.0 n octets received",
#      "BDAT n LAST" answers "250 2.0.0 Ok: queued as ID"
#   5. BDAT on the implicit TLS port, pipelined (MAIL, RCPT and two BDAT chunks in one
#      write), ended by "BDAT 0 LAST"; then a second transaction on the same connection
# Every message: "250 2.0.0 Ok: queued as ID", delivered (the dev setup captures to
# outbox/ID.eml and outbox/ID.envelope) to exactly its recipients, as Signpost's fields followed by exactly the bytes the client sent, with two
# DKIM signatures (ed25519-sha256, rsa-sha256, d=example.test) that verify with Signpost
# and dkimpy.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"

sub_setup "$WORK/dev"
sub_start

out=$WORK/client
mkdir -p "$out"
rc=0
timeout 60 $PY - "$SUBMISSION_PORT" "$SUBMISSIONS_PORT" "$CERT" "$DEV_PASSWORD" "$out" > "$WORK/client.log" 2>&1 << 'PY' || rc=$?
import base64, os, re, smtplib, socket, ssl, sys
from email.message import EmailMessage

port, sport, cert, password, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
HOST = "127.0.0.1"
results = open(os.path.join(out, "results"), "w")

def ctx():
    c = ssl.create_default_context(cafile=cert)  # the dev certificate is the only trust anchor
    return c

def record(label, reply, sent, rcpts):
    """reply: (code, text) of the end of data; sent: the message bytes before any stuffing."""
    code, text = reply
    text = text.decode() if isinstance(text, bytes) else text
    m = re.fullmatch(r"2\.0\.0 Ok: queued as ([A-Za-z0-9]+)", text)
    if code != 250 or not m:
        sys.exit("%s: end of data answered %d %r, want 250 2.0.0 Ok: queued as ID" % (label, code, text))
    qid = m.group(1)
    with open(os.path.join(out, qid + ".sent"), "wb") as f:
        f.write(sent)
    results.write("%s\t%s\t%s\n" % (qid, label, " ".join(rcpts)))
    results.flush()
    print("%s: 250 2.0.0 Ok: queued as %s" % (label, qid))

def capture_data(s):
    """Wraps s.data so the reply to the end of data and the message bytes are kept."""
    seen = {}
    orig = s.data
    def data(msg):
        seen["sent"] = msg if msg.endswith(b"\r\n") else msg + b"\r\n"
        seen["reply"] = orig(msg)
        return seen["reply"]
    s.data = data
    return seen

def utf8_message(to, subject, body, cte=None):
    m = EmailMessage()
    m["From"] = "Dev Élève <dev@example.test>"
    m["To"] = to
    m["Subject"] = subject
    if cte:
        m.set_content(body, cte=cte)
    else:
        m.set_content(body)
    return m

# 1. starttls + login (PLAIN) + send_message, UTF-8 subject
with smtplib.SMTP(HOST, port, local_hostname="smtplib.test", timeout=10) as s:
    s.ehlo()
    if not s.has_extn("starttls"):
        sys.exit("1: STARTTLS is not offered")
    if s.has_extn("auth"):
        sys.exit("1: AUTH is offered before TLS")
    s.starttls(context=ctx())
    s.ehlo()
    mechs = s.esmtp_features.get("auth", "").upper().split()
    if "PLAIN" not in mechs or "LOGIN" not in mechs:
        sys.exit("1: AUTH after STARTTLS offers %r, want PLAIN and LOGIN" % mechs)
    code, text = s.login("dev", password)
    if code != 235:
        sys.exit("1: login answered %d %r" % (code, text))
    seen = capture_data(s)
    msg = utf8_message("Ann <ann@example.org>", "Grüße aus Köln ✓ — 日本", "Hello from smtplib.\n")
    refused = s.send_message(msg)
    if refused:
        sys.exit("1: refused %r" % refused)
    record("1. smtplib STARTTLS + login + send_message", seen["reply"], seen["sent"], ["ann@example.org"])

# 2. AUTH LOGIN the way smtplib does it, and an 8-bit body with BODY=8BITMIME
with smtplib.SMTP(HOST, port, local_hostname="smtplib.test", timeout=10) as s:
    s.starttls(context=ctx())
    s.ehlo()
    if not s.has_extn("8bitmime"):
        sys.exit("2: 8BITMIME is not offered")
    s.user, s.password = "dev", password
    code, text = s.auth("LOGIN", s.auth_login)  # "AUTH LOGIN <base64 user>", then 334 for the password
    if code != 235:
        sys.exit("2: AUTH LOGIN answered %d %r" % (code, text))
    seen = capture_data(s)
    msg = utf8_message("Bea <bea@example.org>, cem@example.net", "8bit body",
                       "Grüße aus Köln — “quotes” ½ € ✓\n日本語のテキスト\n", cte="8bit")
    refused = s.send_message(msg, mail_options=["BODY=8BITMIME"])
    if refused:
        sys.exit("2: refused %r" % refused)
    if b"\xc3\xbc" not in seen["sent"]:
        sys.exit("2: smtplib did not send the body as 8-bit")
    record("2. smtplib AUTH LOGIN + BODY=8BITMIME", seen["reply"], seen["sent"], ["bea@example.org", "cem@example.net"])

# 3. SMTP_SSL on the implicit TLS port
with smtplib.SMTP_SSL(HOST, sport, local_hostname="smtplib.test", context=ctx(), timeout=10) as s:
    if s.has_extn("starttls"):
        sys.exit("3: STARTTLS offered inside implicit TLS")
    s.login("dev", password)
    seen = capture_data(s)
    msg = utf8_message("dan@example.org", "über implicit TLS", "Hello over port %d.\n" % sport)
    s.send_message(msg)
    record("3. smtplib SMTP_SSL", seen["reply"], seen["sent"], ["dan@example.org"])

# Raw SMTP over a socket.
class Raw:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""
    def send(self, data):
        self.sock.sendall(data)
    def reply(self):
        """One reply: (code, [text lines])."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    sys.exit("connection closed; reply so far %r" % lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            line = line.decode()
            lines.append(line[4:])
            if len(line) < 4 or not line[:3].isdigit():
                sys.exit("malformed reply line %r" % line)
            if line[3] == " ":
                return int(line[:3]), lines
    def expect(self, what, code, pattern=None):
        got, lines = self.reply()
        if got != code or (pattern and not re.fullmatch(pattern, lines[-1])):
            sys.exit("%s: got %d %r, want %d %s" % (what, got, lines, code, pattern or ""))
        return lines
    def cmd(self, line, code, pattern=None):
        self.send(line.encode() + b"\r\n")
        return self.expect(line.split(" ")[0] if not line.startswith("AUTH") else "AUTH", code, pattern)
    def ehlo(self, name):
        lines = self.cmd("EHLO " + name, 250)
        return [l.upper() for l in lines[1:]]
    def auth_plain(self):
        token = base64.b64encode(b"\0dev\0" + password.encode()).decode()
        self.cmd("AUTH PLAIN " + token, 235)

def bdat_message(subject, to):
    return ("From: Dev <dev@example.test>\r\nTo: <%s>\r\nSubject: %s\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
            ".a line starting with one dot\r\n..two dots\r\n.\r\n"
            "Grüße — ✓\r\n \r\nlast line\r\n" % (to, subject)).encode()

# 4. BDAT after STARTTLS, four chunks with awkward boundaries
raw_sock = socket.create_connection((HOST, port), timeout=10)
r = Raw(raw_sock)
r.expect("greeting", 220)
r.ehlo("bdat.test")
r.cmd("STARTTLS", 220)
r = Raw(ctx().wrap_socket(raw_sock, server_hostname=HOST))
caps = r.ehlo("bdat.test")
if "CHUNKING" not in caps:
    sys.exit("4: EHLO after STARTTLS does not offer CHUNKING: %r" % caps)
r.auth_plain()
r.cmd("MAIL FROM:<dev@example.test>", 250)
r.cmd("RCPT TO:<eva@example.org>", 250)
msg = bdat_message("bdat in four chunks", "eva@example.org")
hdr_end = msg.index(b"\r\n\r\n")
cuts = [msg.index(b"Subject:") + 4, hdr_end + 2, msg.index(b"two dots\r\n") + 9]  # 3rd: between CR and LF
chunks = [msg[:cuts[0]], msg[cuts[0]:cuts[1]], msg[cuts[1]:cuts[2]], msg[cuts[2]:]]
assert b"".join(chunks) == msg and chunks[2].endswith(b"\r") and chunks[1].endswith(b"\r\n")
for c in chunks[:-1]:
    r.send(b"BDAT %d\r\n" % len(c) + c)
    r.expect("BDAT %d" % len(c), 250, r"2\.0\.0 %d octets received" % len(c))
last = chunks[-1]
r.send(b"BDAT %d LAST\r\n" % len(last) + last)
code, lines = r.reply()
record("4. BDAT after STARTTLS, 4 chunks", (code, lines[-1]), msg, ["eva@example.org"])
r.cmd("QUIT", 221)

# 5. BDAT on the implicit TLS port, pipelined, ended by BDAT 0 LAST; then once more
r = Raw(ctx().wrap_socket(socket.create_connection((HOST, sport), timeout=10), server_hostname=HOST))
r.expect("greeting", 220)
caps = r.ehlo("bdat.test")
if "CHUNKING" not in caps or "PIPELINING" not in caps:
    sys.exit("5: EHLO on the implicit port does not offer CHUNKING and PIPELINING: %r" % caps)
r.auth_plain()
msg = bdat_message("bdat pipelined, BDAT 0 LAST", "fay@example.org")
a, b = msg[:100], msg[100:]
r.send(b"MAIL FROM:<dev@example.test>\r\nRCPT TO:<fay@example.org>\r\nRCPT TO:<gus@example.net>\r\n"
       + b"BDAT %d\r\n" % len(a) + a + b"BDAT %d\r\n" % len(b) + b + b"BDAT 0 LAST\r\n")
r.expect("pipelined MAIL", 250)
r.expect("pipelined RCPT 1", 250)
r.expect("pipelined RCPT 2", 250)
r.expect("pipelined BDAT %d" % len(a), 250, r"2\.0\.0 %d octets received" % len(a))
r.expect("pipelined BDAT %d" % len(b), 250, r"2\.0\.0 %d octets received" % len(b))
code, lines = r.reply()
record("5. pipelined BDAT ended by BDAT 0 LAST", (code, lines[-1]), msg, ["fay@example.org", "gus@example.net"])
# a second transaction on the same connection: a single BDAT n LAST
r.cmd("MAIL FROM:<dev@example.test>", 250)
r.cmd("RCPT TO:<hal@example.org>", 250)
msg = bdat_message("second transaction, one chunk", "hal@example.org")
r.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
code, lines = r.reply()
record("5. second transaction, single BDAT LAST", (code, lines[-1]), msg, ["hal@example.org"])

# 6. BDAT gets DATA's content rules: bare CR, NUL -> 550; a bare LF, in the body or the
#    header, is a line end written as CRLF ([limits] bare_lf = "normalize", the default)
bad = (("bare CR", b"From: dev@example.test\r\nSubject: x\r\n\r\nline1\rline2\r\n", "5.5.2"),
       ("NUL", b"From: dev@example.test\r\nSubject: x\r\n\r\nline1\x00line2\r\n", "5.6.0"))
lf = (("6. BDAT with a bare LF in the body, normalized", b"From: dev@example.test\r\nSubject: x\r\n\r\nline1\nline2\r\n"),
      ("6. BDAT with a bare LF in the header, normalized", b"From: dev@example.test\nSubject: y\r\n\r\nbody\n"))
for label, m in lf:
    r.cmd("MAIL FROM:<dev@example.test>", 250)
    r.cmd("RCPT TO:<ivy@example.org>", 250)
    r.send(b"BDAT %d LAST\r\n" % len(m) + m)
    code, lines = r.reply()
    record(label, (code, lines[-1]), m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), ["ivy@example.org"])
for label, m, enh in bad:
    r.cmd("MAIL FROM:<dev@example.test>", 250)
    r.cmd("RCPT TO:<ivy@example.org>", 250)
    r.send(b"BDAT %d LAST\r\n" % len(m) + m)
    r.expect("BDAT with " + label, 550, re.escape(enh) + " .*")

# 7. a BDAT transaction abandoned by RSET leaves nothing in the next message
r.cmd("MAIL FROM:<dev@example.test>", 250)
r.cmd("RCPT TO:<jay@example.org>", 250)
junk = b"From: dev@example.test\r\nSubject: abandoned\r\n\r\nJUNK-SHOULD-NOT-APPEAR\r\n"
r.send(b"BDAT %d\r\n" % len(junk) + junk)
r.expect("BDAT abandoned chunk", 250)
r.cmd("RSET", 250)
r.cmd("MAIL FROM:<dev@example.test>", 250)
r.cmd("RCPT TO:<kim@example.org>", 250)
msg = bdat_message("after an abandoned BDAT", "kim@example.org")
r.send(b"BDAT %d LAST\r\n" % len(msg) + msg)
code, lines = r.reply()
record("7. BDAT after an abandoned BDAT transaction", (code, lines[-1]), msg, ["kim@example.org"])
r.cmd("QUIT", 221)
PY
cat "$WORK/client.log"
[ "$rc" = 0 ] || { cat "$LOG"; fail "the Python client failed (exit $rc)"; }
[ "$(wc -l < "$out/results")" = 9 ] || fail "want nine accepted messages"
# The spool first, then the outbox: capture writes ID.eml before the spooled copy goes.
if grep -rqs JUNK-SHOULD-NOT-APPEAR "$(dirname "$CFG")/spool"; then fail "an abandoned BDAT chunk reached the spool"; fi
if grep -rqs JUNK-SHOULD-NOT-APPEAR "$OUTBOX"; then fail "an abandoned BDAT chunk reached the outbox"; fi
pass "BDAT refuses bare CR and NUL like DATA (550), normalizes bare LFs, and an abandoned BDAT leaves nothing behind"

# Each message: queued with its recipients, signed, verified, and delivered as
# Signpost's fields followed by exactly the bytes that were sent.
while IFS=$'\t' read -r id label rcpts; do
  # shellcheck disable=SC2086
  check_queued "$id" "$label" $rcpts
  $PY - "$WORK/$id.eml" "$out/$id.sent" << 'PY' || fail "$label: the delivered message is not Signpost's fields + the sent bytes"
import sys, email, email.policy
eml, sent = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
if not eml.endswith(sent):
    sys.exit("delivered:\n%r\nsent:\n%r" % (eml[-len(sent) - 200:], sent))
added = email.message_from_bytes(eml[: len(eml) - len(sent)] + b"\r\n", policy=email.policy.default)
names = sorted(set(k.lower() for k in added.keys()))
if names != ["dkim-signature", "received"] and names != ["date", "dkim-signature", "message-id", "received"]:
    sys.exit("Signpost prepended %s" % names)
PY
done < "$out/results"
[ "$(grep -cE ' queued [0-9A-Z]+: from=' "$LOG")" = 9 ] || { cat "$LOG"; fail "want exactly nine messages queued in the log"; }
[ "$(ls "$OUTBOX" | grep -c '\.eml$')" = 9 ] || { ls -la "$OUTBOX"; fail "want exactly nine messages in the outbox"; }
if grep -rqs JUNK-SHOULD-NOT-APPEAR "$OUTBOX"; then fail "an abandoned BDAT chunk reached the outbox"; fi
pass "every message is delivered as Signpost's fields followed by the exact bytes sent; nothing else was accepted"

# The UTF-8 Subject survives and decodes; the 8-bit body is intact; 8BITMIME is kept.
id1=$(awk -F'\t' '$2 ~ /^1\./{print $1}' "$out/results")
id2=$(awk -F'\t' '$2 ~ /^2\./{print $1}' "$out/results")
$PY - "$WORK/$id1.eml" << 'PY' || fail "1: the UTF-8 subject does not decode"
import sys, email, email.policy
m = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=email.policy.default)
if m["subject"] != "Grüße aus Köln ✓ — 日本":
    sys.exit("subject is %r" % m["subject"])
PY
header_fields "$WORK/$id1.eml" Subject | grep -qi '=?utf-8?' || fail "1: the Subject is not RFC 2047 encoded"
pass "1. the UTF-8 Subject is RFC 2047 encoded and decodes to the original"
body_of "$WORK/$id2.eml" | grep -qF '日本語のテキスト' || fail "2: the 8-bit body is not intact"
grep -qE '^MAIL FROM:<[^>]*>( [^ ]+)* BODY=8BITMIME( |$)' "$OUTBOX/$id2.envelope" \
  || { cat "$OUTBOX/$id2.envelope"; fail "2: the delivered envelope's MAIL FROM does not carry BODY=8BITMIME"; }
pass "2. the 8-bit body is intact and the envelope keeps 8BITMIME"
grep -q 'Received: from smtplib.test (\[127.0.0.1\])' "$WORK/$id1.eml" || fail "1: Received does not name smtplib.test"

sub_stop
pass "daemon stopped cleanly"
