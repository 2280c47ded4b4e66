#!/usr/bin/python3
"""The client interop matrix: real submission clients x message kinds x listeners.

Clients: msmtp, curl, swaks, Python's smtplib, Go's net/smtp and s-nail (mailx).

    /usr/bin/python3 matrix.py --work DIR --cert CERT --password PW --outbox DIR \
        --records DIR --port 2587 --tls-port 2465 --gosend BIN --verifiers DIR [--table FILE]

Every cell submits one message with the client, to the STARTTLS listener with AUTH PLAIN
and to the implicit-TLS listener with AUTH LOGIN (Go's net/smtp has PLAIN only: PLAIN on
both). The message is found in the outbox (capture delivery) by its Message-ID and must
carry two DKIM signatures that dkimpy, OpenDKIM and Mail::DKIM verify (Debian's Mail::DKIM
has no Ed25519: that one is reported as skipped by it), and every line of it must end in
CRLF and be at most 998 octets. The 10 MB kind runs once per client (STARTTLS, PLAIN).

Prints one line per submission, then a Markdown table (clients x kinds); writes the table
to --table. Exit status 0 only when every cell passed.
"""
import argparse
import base64
import glob
import os
import random
import smtplib
import ssl
import subprocess
import sys
import time

FROM = "alice@example.test"
TO = "bob@example.org"
UTF8_TO = "s\u00f6ren@example.org"  # RFC 6531: needs SMTPUTF8, which only some clients send
# Clients that send SMTPUTF8 (and so can address UTF-8 mailboxes); the others get "—".
UTF8_RCPT_CLIENTS = {"smtplib", "go"}


def message(kind, mid):
    """The bytes of one test message of `kind` (CRLF line ends unless the kind says)."""
    head = "From: Alice <%s>\r\nTo: <%s>\r\nMessage-ID: <%s>\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n" % (FROM, TO, mid)
    if kind == "ascii":
        return (head + "Subject: plain\r\n\r\nHello from the matrix.\r\n.leading dot line\r\n").encode()
    if kind == "utf8-subject":
        subj = "=?utf-8?B?%s?=" % base64.b64encode("Grüße aus Köln ✓".encode()).decode()
        return (head + "Subject: " + subj + "\r\nMIME-Version: 1.0\r\n\r\nencoded subject\r\n").encode()
    if kind == "utf8-header":
        return (head + "Subject: Grüße aus Köln ✓\r\nMIME-Version: 1.0\r\n"
                "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nraw UTF-8 header\r\n").encode()
    if kind == "8bit-body":
        return (head + "Subject: 8bit\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n日本語のテキスト, Ærøskøbing\r\n").encode()
    if kind == "attachment":
        rnd = random.Random(mid)
        blob = base64.encodebytes(bytes(rnd.getrandbits(8) for _ in range(3000))).decode().replace("\n", "\r\n")
        return (head + "Subject: attachment\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
                "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
                "--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
                "Content-Disposition: attachment; filename=\"x.bin\"\r\n\r\n" + blob + "--b1--\r\n").encode()
    if kind == "long-line":
        html = "<html><body>" + " ".join("<b>w%d</b>" % i for i in range(700))
        html = html[:5000]
        return (head + "Subject: unwrapped html\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
                + html + "\r\n").encode()
    if kind == "lf-endings":
        return (head + "Subject: LF line ends\r\n\r\nline one\r\nline two\r\n").replace("\r\n", "\n").encode()
    if kind == "utf8-rcpt":
        return (head.replace("To: <%s>" % TO, "To: <%s>" % UTF8_TO) + "Subject: to a UTF-8 address\r\n\r\nhej\r\n").encode()
    if kind == "10mb":
        line = ("x" * 76 + "\r\n")
        return (head + "Subject: ten megabytes\r\n\r\n" + line * (10 * 1000 * 1000 // len(line))).encode()
    raise ValueError(kind)


KINDS = ["ascii", "utf8-subject", "utf8-header", "utf8-rcpt", "8bit-body", "attachment", "long-line", "lf-endings", "10mb"]
CLIENTS = ["msmtp", "curl", "swaks", "smtplib", "go", "s-nail"]


def run(cmd, stdin=None, timeout=60):
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def submit(a, client, port, tls, auth, path, kind):
    """Returns (ok, transcript)."""
    pw = a.password
    to = UTF8_TO if kind == "utf8-rcpt" else TO
    if client == "msmtp":
        return run(["msmtp", "--host=127.0.0.1", "--port=%d" % port, "--tls=on",
                    "--tls-starttls=" + ("on" if tls == "starttls" else "off"), "--tls-trust-file=" + a.cert,
                    "--tls-host-override=localhost", "--auth=" + auth.lower(), "--user=dev",
                    "--passwordeval=echo " + pw, "--from=" + FROM, "--", to], stdin=open(path, "rb").read())
    if client == "curl":
        scheme = "smtp" if tls == "starttls" else "smtps"
        return run(["curl", "-sS", "--ssl-reqd", "--cacert", a.cert, "--user", "dev:" + pw, "--login-options", "AUTH=" + auth,
                    "--mail-from", FROM, "--mail-rcpt", to, "--upload-file", path, "%s://127.0.0.1:%d" % (scheme, port)])
    if client == "swaks":
        return run(["swaks", "--server", "127.0.0.1:%d" % port, "--tls" if tls == "starttls" else "--tls-on-connect",
                    "--tls-ca-path", a.cert, "--auth", auth, "--auth-user", "dev", "--auth-password", pw,
                    "--from", FROM, "--to", to, "--data", path, "--timeout", "30"])
    if client == "smtplib":
        try:
            ctx = ssl.create_default_context(cafile=a.cert)
            if tls == "starttls":
                s = smtplib.SMTP("127.0.0.1", port, timeout=30)
                s.starttls(context=ctx)
            else:
                s = smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=30)
            s.user, s.password = "dev", pw
            s.ehlo()
            s.auth(auth, s.auth_plain if auth == "PLAIN" else s.auth_login)
            opts = (["SMTPUTF8", "BODY=8BITMIME"] if kind in ("utf8-header", "utf8-rcpt")
                    else (["BODY=8BITMIME"] if kind == "8bit-body" else []))
            s.sendmail(FROM, [to], open(path, "rb").read(), mail_options=opts)
            s.quit()
            return 0, "sent"
        except Exception as e:  # the transcript of a failed cell
            return 1, repr(e)
    if client == "s-nail":
        # -t: the message on stdin is the template (its headers, its recipients). s-nail
        # checks only DNS names in certificates: "localhost", not the IP address.
        mta = ("smtp://dev:%s@localhost:%d" if tls == "starttls" else "smtps://dev:%s@localhost:%d") % (pw, port)
        opts = ["-S", "v15-compat", "-S", "mta=" + mta, "-S", "smtp-auth=" + auth.lower(), "-S", "tls-ca-file=" + a.cert,
                "-S", "tls-ca-no-defaults", "-S", "from=" + FROM, "-S", "sendwait", "-S", "ttycharset=utf-8"]
        if tls == "starttls":
            opts += ["-S", "smtp-use-starttls"]
        env = dict(os.environ, HOME=a.work, LC_ALL="C.UTF-8")
        # mailx reads text as its users write it: LF line ends (a CR would be content).
        text = open(path, "rb").read().replace(b"\r\n", b"\n")
        p = subprocess.run(["s-nail", "-:/", "-t"] + opts, input=text, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60, env=env)
        return p.returncode, p.stdout.decode("utf-8", "replace")
    if client == "go":
        return run([a.gosend, "-addr", "127.0.0.1:%d" % port, "-tls", tls, "-ca", a.cert, "-user", "dev", "-pass", pw,
                    "-from", FROM, "-to", to, "-file", path])
    raise ValueError(client)


def find_delivered(outbox, mid, seconds=20):
    needle = ("Message-ID: <%s>" % mid).encode()
    deadline = time.time() + seconds
    while time.time() < deadline:
        for f in glob.glob(os.path.join(outbox, "*.eml")):
            with open(f, "rb") as fh:
                if needle in fh.read(8192):
                    return f
        time.sleep(0.1)
    return None


def check_delivered(a, f):
    """Returns "" when the delivered message is well-formed and verifies, else why not."""
    data = open(f, "rb").read()
    for i, line in enumerate(data.split(b"\r\n")[:-1]):
        if b"\n" in line or b"\r" in line:
            return "bare CR/LF in line %d" % (i + 1)
        if len(line) > 998:
            return "line %d has %d octets" % (i + 1, len(line))
    if not data.endswith(b"\r\n"):
        return "does not end in CRLF"
    verifiers = [
        ("dkimpy", ["/usr/bin/python3", os.path.join(a.verifiers, "verify_dkimpy.py"), a.records, f], 2, 0),
        ("opendkim", ["bash", os.path.join(a.verifiers, "verify_opendkim.sh"), a.records, f], 2, 0),
        ("Mail::DKIM", ["perl", os.path.join(a.verifiers, "verify_maildkim.pl"), a.records, f], 1, 1),
    ]
    for name, cmd, want_pass, want_skip in verifiers:
        rc, out = run(cmd, timeout=120)
        passes = sum(1 for l in out.splitlines() if l.startswith("pass "))
        skips = sum(1 for l in out.splitlines() if l.startswith("skip "))
        if rc != 0 or passes != want_pass or skips != want_skip:
            return "%s: %s" % (name, out.strip().replace("\n", "; ")[:200])
    return ""


def main():
    p = argparse.ArgumentParser()
    for opt in ("--work", "--cert", "--password", "--outbox", "--records", "--gosend", "--verifiers", "--table"):
        p.add_argument(opt)
    p.add_argument("--port", type=int)
    p.add_argument("--tls-port", type=int)
    a = p.parse_args()

    results = {}  # (client, kind) -> list of failure strings
    for client in CLIENTS:
        for kind in KINDS:
            cells = [("starttls", a.port, "PLAIN"), ("implicit", a.tls_port, "PLAIN" if client == "go" else "LOGIN")]
            if kind == "10mb":
                cells = cells[:1]
            if kind == "utf8-rcpt" and client not in UTF8_RCPT_CLIENTS:
                results[(client, kind)] = None  # the client cannot address a UTF-8 mailbox
                continue
            fails = results.setdefault((client, kind), [])
            for tls, port, auth in cells:
                mid = "%s.%s.%s.%s@t45.example.test" % (kind, client, tls, auth.lower())
                path = os.path.join(a.work, mid + ".msg")
                with open(path, "wb") as fh:
                    fh.write(message(kind, mid))
                rc, out = submit(a, client, port, tls, auth, path, kind)
                label = "%-8s %-13s %-9s %-5s" % (client, kind, tls, auth)
                if rc != 0:
                    fails.append("%s/%s: client exit %d" % (tls, auth, rc))
                    print("FAIL %s: client exit %d: %s" % (label, rc, out.strip()[-400:]))
                    continue
                f = find_delivered(a.outbox, mid)
                if not f:
                    fails.append("%s/%s: not delivered" % (tls, auth))
                    print("FAIL %s: accepted but not in the outbox" % label)
                    continue
                why = check_delivered(a, f)
                if not why and kind == "utf8-rcpt":
                    env = open(f[:-4] + ".envelope", "rb").read().decode("utf-8", "replace")
                    if ("RCPT TO:<%s>" % UTF8_TO) not in env or "SMTPUTF8" not in env:
                        why = "envelope %r: want the UTF-8 recipient and SMTPUTF8" % env
                if why:
                    fails.append("%s/%s: %s" % (tls, auth, why))
                    print("FAIL %s: %s" % (label, why))
                else:
                    print("ok   %s: delivered, dkimpy + OpenDKIM + Mail::DKIM verify" % label)
                os.unlink(path)

    rows = ["| client | " + " | ".join(KINDS) + " |", "|---|" + "---|" * len(KINDS)]
    for client in CLIENTS:
        rows.append("| %s | " % client + " | ".join("—" if results[(client, k)] is None else
                                                   "✓" if not results[(client, k)] else "✗" for k in KINDS) + " |")
    table = "\n".join(rows) + "\n"
    print(table)
    if a.table:
        open(a.table, "w").write(table)
    failed = sum(1 for v in results.values() if v)
    cells = sum(1 for v in results.values() if v is not None)
    print("%d passed, %d failed" % (cells - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
