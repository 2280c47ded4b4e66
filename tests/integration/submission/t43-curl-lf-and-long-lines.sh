#!/usr/bin/env bash
# t43: what scripts and web apps send, with curl (the real client, `--upload-file`):
#   1. a message file with LF line endings (no --crlf): accepted, delivered with CRLF line
#      ends, dual-signed, verifies with Signpost and dkimpy;
#   2. the same file with CRLF line endings: delivered with the same body;
#   3. unwrapped HTML, one body line of 5,000 characters, and a 1,500-character header
#      line: accepted; every delivered line is at most 998 characters, the header field
#      unfolds to what was sent, the body line joins back to what was sent, signatures
#      verify; the log says how many lines were folded;
#   4. with [limits] max_line_length = "3000" (after a reload), a 5,000-character line is
#      refused: curl fails, the reply is 550 5.6.0 naming the limit, the log line says why
#      in words, and nothing is queued.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/common.sh"
command -v curl > /dev/null || fail "curl is not installed (scripts/install-deps.sh)"

sub_setup "$WORK/dev"
sub_start

# send NAME FILE: curl uploads FILE over STARTTLS with AUTH; transcript in $WORK/NAME.curl.
send() {
  RC=0
  timeout 30 curl -sS -v --ssl-reqd --cacert "$CERT" --user "dev:$DEV_PASSWORD" \
    --mail-from alice@example.test --mail-rcpt bob@example.org --upload-file "$2" \
    "smtp://127.0.0.1:$SUBMISSION_PORT" > "$WORK/$1.curl" 2>&1 || RC=$?
}

printf 'From: alice@example.test\nTo: bob@example.org\nSubject: t43 LF file\n\nline one\n.line with a dot\nline three\n' > "$WORK/lf.txt"
send lf "$WORK/lf.txt"
[ "$RC" = 0 ] || { cat "$WORK/lf.curl"; fail "1: curl --upload-file with LF line ends exited $RC"; }
id=$(queued_id "$WORK/lf.curl")
check_queued "$id" "1. LF file" bob@example.org
[ "$(grep -c -v $'\r$' "$WORK/$id.eml")" = 0 ] || fail "1: a line of the delivered message does not end with CRLF"
body_of "$WORK/$id.eml" > "$WORK/lf.body"
printf 'line one\r\n.line with a dot\r\nline three\r\n\r\n' | cmp -s - "$WORK/lf.body" \
  || { od -c "$WORK/lf.body" | head; fail "1: the body is not the file's lines with CRLF (plus curl's end)"; }
pass "1. curl --upload-file of an LF file: delivered with CRLF, the '.' line intact"

tr -d '\r' < "$WORK/lf.txt" | sed 's/$/\r/' > "$WORK/crlf.txt"
send crlf "$WORK/crlf.txt"
[ "$RC" = 0 ] || { cat "$WORK/crlf.curl"; fail "2: curl with a CRLF file exited $RC"; }
id=$(queued_id "$WORK/crlf.curl")
check_queued "$id" "2. CRLF file" bob@example.org
pass "2. curl --upload-file of a CRLF file"

# 3. Unwrapped HTML and a long header field.
$PY - "$WORK/html.txt" << 'PY'
import sys
words = " ".join("<span class=w%d>word%d</span>" % (i % 7, i) for i in range(400))
html = ("<html><body>" + words + "</body></html>")[:5000]
assert len(html) == 5000
refs = " ".join("<ref%d@example.test>" % i for i in range(80))
msg = ("From: alice@example.test\r\nTo: bob@example.org\r\nSubject: t43 html\r\nReferences: " + refs +
       "\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n" + html + "\r\n")
open(sys.argv[1], "w", newline="").write(msg)
open(sys.argv[1] + ".html", "w").write(html)
open(sys.argv[1] + ".refs", "w").write(refs)
PY
send html "$WORK/html.txt"
[ "$RC" = 0 ] || { cat "$WORK/html.curl"; fail "3: a 5,000-character line was refused (curl exit $RC)"; }
id=$(queued_id "$WORK/html.curl")
check_queued "$id" "3. unwrapped HTML" bob@example.org
awk '{ if (length($0) > 999) { print "line " NR " has " length($0) " characters"; bad = 1 } } END { exit bad }' "$WORK/$id.eml" \
  || fail "3: a delivered line is longer than 998 characters"
[ "$(header_fields "$WORK/$id.eml" References | sed 's/^References: //; s/\r//g')" = "$(cat "$WORK/html.txt.refs")" ] \
  || { header_fields "$WORK/$id.eml" References; fail "3: the folded References field does not unfold to what was sent"; }
[ "$(body_of "$WORK/$id.eml" | tr -d '\r\n')" = "$(cat "$WORK/html.txt.html")" ] \
  || fail "3: the body lines do not join back to the HTML that was sent"
grep -q 'folded [0-9]* line(s) longer than 998 characters' "$LOG" || { cat "$LOG"; fail "3: the log does not say lines were folded"; }
pass "3. a 5,000-character body line and a 1,500-character header line: folded before signing, verified, unfold to what was sent"

# 4. A lower bound, by SIGHUP reload.
printf '\n[limits]\nmax_line_length = "3000"\n' >> "$CFG"
kill -HUP "$SPID"
wait_for_log "$LOG" 'configuration reloaded|reloaded' 10
before=$(grep -c ' queued [0-9A-Z]*: from=' "$LOG")
send long "$WORK/html.txt"
[ "$RC" != 0 ] || fail "4: a line over max_line_length was accepted"
grep -q '< 550 5.6.0 Message refused: a line is longer than 3000 characters' "$WORK/long.curl" \
  || { cat "$WORK/long.curl"; fail "4: the reply does not say 550 5.6.0 and the limit"; }
grep -q 'message refused: a line longer than \[limits\] max_line_length: 550 5.6.0' "$LOG" \
  || { tail -n 5 "$LOG"; fail "4: the log line does not say why in words"; }
[ "$(grep -c ' queued [0-9A-Z]*: from=' "$LOG")" = "$before" ] || fail "4: something was queued"
pass "4. over max_line_length: 550 5.6.0 naming the limit, the log says why, nothing queued"
sub_stop
