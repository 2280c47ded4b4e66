#!/usr/bin/python3
"""Verify every DKIM-Signature of one or more messages with dkimpy, keys from a directory.

    /usr/bin/python3 verify_dkimpy.py [-H] RECORDS_DIR MESSAGE...

RECORDS_DIR holds files named <selector>._domainkey.<domain>.txt whose content is the TXT
record text ("v=DKIM1; k=ed25519; p=..."). A name without a file is "no such record". No
network, no DNS: dkimpy's dnsfunc is replaced. dkimpy 1.1.4 asks for
b"<s>._domainkey.<d>." (with the root dot; see DomainSigner.verify_sig) and wants the TXT
text back as bytes, or None.

Output, one line per DKIM-Signature header field in header order (prefixed "MESSAGE: "
with -H or when there are several messages):
    pass d=DOMAIN s=SELECTOR a=ALGORITHM
    fail d=DOMAIN s=SELECTOR a=ALGORITHM (REASON)
A message without any signature gets one "fail" line. Exit status 0 only if every message
had at least one signature and all of them passed; 1 otherwise; 2 on bad usage or when
dkimpy cannot be imported (Debian's python3-dkim imports only under /usr/bin/python3).
"""
import logging
import os
import re
import sys

try:
    import dkim
    import nacl.signing  # noqa: F401  (dkimpy needs it for ed25519; fail loudly, not per message)
except ImportError as e:
    sys.stderr.write("verify_dkimpy: cannot import %s; run with /usr/bin/python3\n" % e)
    sys.exit(2)


class Records:
    def __init__(self, directory):
        self.dir = directory
        self.asked = []

    def __call__(self, name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        qname = name.lower().rstrip(".")
        self.asked.append(qname)
        path = os.path.join(self.dir, qname + ".txt")
        if "/" in qname or not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            return f.read().strip()


class Collect(logging.Handler):
    """Keeps dkimpy's log messages so a failure can say why."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append((record.levelno, record.getMessage()))


def signature_fields(msg):
    """(d, s, a) for every DKIM-Signature header field, found without dkimpy so that a
    message dkimpy refuses to parse still gets one line per signature."""
    head = msg.split(b"\r\n\r\n", 1)[0] if not msg.startswith(b"\r\n") else b""
    out = []
    for field in re.split(rb"\r?\n(?![ \t])", head):
        name, sep, value = field.partition(b":")
        if not sep or name.strip().lower() != b"dkim-signature":
            continue
        tags = {}
        for part in re.sub(rb"\s+", b"", value).split(b";"):
            k, eq, v = part.partition(b"=")
            if eq:
                tags.setdefault(k.decode("ascii", "replace"), v.decode("ascii", "replace"))
        out.append(tuple(tags.get(t, "?") for t in ("d", "s", "a")))
    return out


def tidy(s):
    return re.sub(r"\s+", " ", str(s)).strip()


def verify_message(path, records):
    """Yields output lines (without prefix) and whether everything passed."""
    try:
        with open(path, "rb") as f:
            msg = f.read()
    except OSError as e:
        return ["fail d=? s=? a=? (cannot open: %s)" % e.strerror], False
    sigs = signature_fields(msg)
    if not sigs:
        return ["fail d=? s=? a=? (no DKIM-Signature header field)"], False

    logger = logging.getLogger("dkimpy-verify")
    logger.handlers[:] = []
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    collect = Collect()
    logger.addHandler(collect)

    lines, ok = [], True
    try:
        d = dkim.DKIM(msg, logger=logger, minkey=1024)
    except dkim.DKIMException as e:
        return ["fail d=%s s=%s a=%s (dkimpy cannot parse the message: %s)" % (sd, ss, sa, tidy(e))
                for sd, ss, sa in sigs], False
    count = len([1 for name, _ in d.headers if name.lower() == b"dkim-signature"])
    if count != len(sigs):
        lines.append("fail d=? s=? a=? (dkimpy sees %d DKIM-Signature fields, the harness %d)"
                     % (count, len(sigs)))
        ok = False
    for i in range(count):
        collect.records.clear()
        sd, ss, sa = sigs[i] if i < len(sigs) else ("?", "?", "?")
        ids = "d=%s s=%s a=%s" % (sd, ss, sa)
        try:
            good = d.verify(idx=i, dnsfunc=records)
            reason = "; ".join(tidy(m) for lvl, m in collect.records if lvl >= logging.ERROR)
            if not reason:
                reason = "signature did not verify"
        except dkim.DKIMException as e:
            good, reason = False, "%s: %s" % (type(e).__name__, tidy(e))
        except Exception as e:  # a dkimpy bug on odd input is still a failed verification
            good, reason = False, "dkimpy raised %s: %s" % (type(e).__name__, tidy(e))
        if good:
            lines.append("pass " + ids)
        else:
            lines.append("fail %s (%s)" % (ids, reason))
            ok = False
    return lines, ok


def main(argv):
    with_name = False
    args = list(argv)
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt in ("-H", "--with-filename"):
            with_name = True
        elif opt == "--":
            break
        else:
            args = []
            break
    if len(args) < 2:
        sys.stderr.write("usage: verify_dkimpy.py [-H] RECORDS_DIR MESSAGE...\n")
        return 2
    records_dir, messages = args[0], args[1:]
    if not os.path.isdir(records_dir):
        sys.stderr.write("verify_dkimpy: %s: not a directory\n" % records_dir)
        return 2
    with_name = with_name or len(messages) > 1
    records = Records(records_dir)
    all_ok = True
    out = sys.stdout
    for path in messages:
        lines, ok = verify_message(path, records)
        all_ok = all_ok and ok
        for line in lines:
            out.write(("%s: %s\n" % (path, line)) if with_name else line + "\n")
        out.flush()
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
