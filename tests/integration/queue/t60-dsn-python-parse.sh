#!/usr/bin/env bash
# t60-dsn-python-parse — the DSNs relay/queue/dsn builds parse as RFC 3464 / RFC 6522
# reports with Python's email package (policy=default): multipart/report with
# report-type=delivery-status, three parts of the right types, readable per-message and
# per-recipient status groups, no parser defects, 7-bit CRLF lines of at most 998 octets.
# Usage: t60-dsn-python-parse.sh PATH/TO/dsn_sample
set -euo pipefail

SAMPLE=${1:?usage: t60-dsn-python-parse.sh PATH/TO/dsn_sample}
PY=/usr/bin/python3   # STYLE.md: Debian's python3, not whatever is first on PATH
WORK=$(mktemp -d "${TMPDIR:-/tmp}/signpost-t60.XXXXXX")
cleanup() {
  if [ "${SIGNPOST_KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

[ -x "$SAMPLE" ] || { echo "FAIL: dsn_sample not executable: $SAMPLE" >&2; exit 1; }
[ -x "$PY" ] || { echo "FAIL: $PY missing" >&2; exit 1; }

"$SAMPLE" "$WORK"
[ -s "$WORK/failure.eml" ] || { echo "FAIL: no failure.eml" >&2; exit 1; }
[ -s "$WORK/delay.eml" ] || { echo "FAIL: no delay.eml" >&2; exit 1; }

"$PY" - "$WORK/failure.eml" "$WORK/delay.eml" <<'PYEOF'
import email
import email.policy
import re
import sys

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    else:
        print("ok:", what)


def wire(name, data):
    check(all(b < 0x80 for b in data), f"{name}: 7-bit only")
    check(b"\x00" not in data, f"{name}: no NUL")
    check(re.search(rb"(?<!\r)\n", data) is None, f"{name}: no bare LF")
    check(re.search(rb"\r(?!\n)", data) is None, f"{name}: no bare CR")
    check(data.endswith(b"\r\n"), f"{name}: ends with CRLF")
    longest = max(len(l) for l in data.split(b"\r\n"))
    check(longest <= 998, f"{name}: longest line {longest} <= 998")


def all_defects(msg):
    out = list(msg.defects)
    for k, v in msg.items():
        out += [f"{k}: {d!r}" for d in getattr(v, "defects", ())]
    return out


def parse(name, path, action, subject, statuses):
    data = open(path, "rb").read()
    wire(name, data)
    msg = email.message_from_bytes(data, policy=email.policy.default)
    check(not all_defects(msg), f"{name}: no top-level defects {all_defects(msg)}")
    check(msg.is_multipart(), f"{name}: is multipart")
    check(msg.get_content_type() == "multipart/report", f"{name}: multipart/report")
    check(msg.get_param("report-type") == "delivery-status", f"{name}: report-type=delivery-status")
    check(str(msg["Subject"]) == subject, f"{name}: Subject {msg['Subject']!r}")
    frm = msg["From"]
    check(frm.addresses[0].addr_spec == "MAILER-DAEMON@relay.example.net"
          and frm.addresses[0].display_name == "Mail Delivery System", f"{name}: From {frm}")
    check(msg["To"].addresses[0].addr_spec == "alice@example.test", f"{name}: To")
    check(msg["Date"].datetime is not None and msg["Date"].datetime.utcoffset() is not None,
          f"{name}: Date parses with zone")
    check(re.fullmatch(r"<[^<>@\s]+@relay\.example\.net>", str(msg["Message-ID"])) is not None,
          f"{name}: Message-ID {msg['Message-ID']}")
    check(str(msg["MIME-Version"]) == "1.0", f"{name}: MIME-Version")
    check(str(msg["Auto-Submitted"]) == "auto-replied", f"{name}: Auto-Submitted")

    parts = msg.get_payload()
    check(len(parts) == 3, f"{name}: three parts")
    types = [p.get_content_type() for p in parts]
    check(types == ["text/plain", "message/delivery-status", "text/rfc822-headers"],
          f"{name}: part types {types}")
    for i, p in enumerate(parts):
        check(not all_defects(p), f"{name}: part {i} no defects {all_defects(p)}")

    text = parts[0].get_content()
    for addr, _s, _d in statuses:
        check(f"<{addr}>" in text, f"{name}: text part names {addr}")

    groups = parts[1].get_payload()
    check(isinstance(groups, list) and len(groups) == 1 + len(statuses),
          f"{name}: {1 + len(statuses)} status groups")
    per_msg = groups[0]
    check(str(per_msg["Reporting-MTA"]) == "dns; relay.example.net", f"{name}: Reporting-MTA")
    check(per_msg["Arrival-Date"] is not None, f"{name}: Arrival-Date")
    check(per_msg["Original-Envelope-Id"] is None, f"{name}: no Original-Envelope-Id")
    for g, (addr, status, diag_check) in zip(groups[1:], statuses):
        check(str(g["Final-Recipient"]) == f"rfc822; {addr}", f"{name}: Final-Recipient {addr}")
        check(str(g["Action"]) == action, f"{name}: Action {g['Action']} for {addr}")
        check(str(g["Status"]) == status, f"{name}: Status {g['Status']} for {addr}")
        check(g["Last-Attempt-Date"] is not None, f"{name}: Last-Attempt-Date for {addr}")
        if action == "delayed":
            check(g["Will-Retry-Until"] is not None, f"{name}: Will-Retry-Until for {addr}")
        else:
            check(g["Will-Retry-Until"] is None, f"{name}: no Will-Retry-Until for {addr}")
        diag = g["Diagnostic-Code"]
        check(diag_check(None if diag is None else str(diag)),
              f"{name}: Diagnostic-Code for {addr}: {str(diag)[:90]!r}")

    hdrs = parts[2].get_payload()
    check("Subject: quarterly report" in hdrs and "Message-ID: <1@example.test>" in hdrs,
          f"{name}: original headers present")
    orig = email.message_from_string(hdrs, policy=email.policy.default)
    check(str(orig["Subject"]) == "quarterly report", f"{name}: original headers parse")


parse("failure", sys.argv[1], "failed", "Undelivered Mail Returned to Sender", [
    ("bob@example.org", "5.1.1",
     lambda d: d is not None and d.startswith("smtp; 550 5.1.1 <bob@example.org>: Recipient")
     and d.endswith("in virtual mailbox table")),
    ("carol@example.com", "5.4.4", lambda d: d is None),
])
parse("delay", sys.argv[2], "delayed", "Delayed Mail (still being retried)", [
    ("dave@example.org", "4.7.1",
     lambda d: d is not None and "Gr\\x{00FC}\\x{00DF}e" in d and "\\x{1F4E8}" in d),
    ("erin@example.net", "4.4.2",
     lambda d: d is not None and d.startswith("smtp; 421 ")
     and d.replace(" ", "").count("x") == 2000),
])

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
PYEOF
echo "ok: t60-dsn-python-parse"
