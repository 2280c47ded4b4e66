#!/usr/bin/python3
"""The client interop matrix: real submission clients x message kinds x listeners.

Clients: msmtp, curl, swaks, Python's smtplib, Go's net/smtp, nodemailer, s-nail (mailx)
and Exim (as a NAS's or server's MTA handing everything to its smarthost).

    /usr/bin/python3 matrix.py --work DIR --cert CERT --password PW --outbox DIR \
        --records DIR --port 2587 --tls-port 2465 --gosend BIN --nodesend JS \
        --exim BIN --exim-dir DIR --verifiers DIR [--table FILE]

Every cell submits one message with the client, to the STARTTLS listener with AUTH PLAIN
and to the implicit-TLS listener with AUTH LOGIN (Go's net/smtp has PLAIN only: PLAIN on
both). The message is found in the outbox (capture delivery) by its Message-ID and must
carry two DKIM signatures that dkimpy, OpenDKIM and Mail::DKIM verify, and every line of
it must end in CRLF and be at most 998 octets (interop.verify). The 10 MB kind runs once
per client (STARTTLS, PLAIN). A UTF-8 recipient must keep its address and SMTPUTF8 in the
delivered envelope.

Prints one line per submission, then a Markdown table (clients x kinds); writes the table
to --table. Exit status 0 only when every cell passed.
"""
import argparse
import os
import sys

from interop import CLIENTS, KINDS, PLAIN_ONLY, SMTPUTF8_CLIENTS, Clients, find_message, message, rcpt_for, table, verify


def main():
    p = argparse.ArgumentParser()
    for opt in ("--work", "--cert", "--password", "--outbox", "--records", "--gosend", "--nodesend", "--exim",
                "--exim-dir", "--verifiers", "--table"):
        p.add_argument(opt)
    p.add_argument("--port", type=int)
    p.add_argument("--tls-port", type=int)
    a = p.parse_args()
    clients = Clients(a)

    results = {}  # (client, kind) -> list of failure strings, or None: not applicable
    for client in CLIENTS:
        for kind in KINDS:
            cells = [("starttls", a.port, "PLAIN"), ("implicit", a.tls_port, "PLAIN" if client in PLAIN_ONLY else "LOGIN")]
            if kind == "10mb":
                cells = cells[:1]
            if kind == "utf8-rcpt" and client not in SMTPUTF8_CLIENTS:
                results[(client, kind)] = None  # the client cannot address a UTF-8 mailbox
                continue
            fails = results.setdefault((client, kind), [])
            to = rcpt_for(kind)
            for tls, port, auth in cells:
                mid = "%s.%s.%s.%s@t45.example.test" % (kind, client, tls, auth.lower())
                path = os.path.join(a.work, mid + ".msg")
                with open(path, "wb") as fh:
                    fh.write(message(kind, mid, to))
                rc, out = clients.submit(client, port, tls, auth, path, to)
                label = "%-10s %-13s %-9s %-5s" % (client, kind, tls, auth)
                if rc != 0:
                    fails.append("%s/%s: client exit %d" % (tls, auth, rc))
                    print("FAIL %s: client exit %d: %s" % (label, rc, out.strip()[-600:]))
                    continue
                f = find_message(os.path.join(a.outbox, "*.eml"), mid)
                if not f:
                    fails.append("%s/%s: not delivered" % (tls, auth))
                    print("FAIL %s: accepted but not in the outbox" % label)
                    continue
                why = verify(a, open(f, "rb").read(), mid)
                if not why and kind == "utf8-rcpt":
                    env = open(f[:-4] + ".envelope", "rb").read().decode("utf-8", "replace")
                    if ("RCPT TO:<%s>" % to) not in env or "SMTPUTF8" not in env:
                        why = "envelope %r: want the UTF-8 recipient and SMTPUTF8" % env
                if why:
                    fails.append("%s/%s: %s" % (tls, auth, why))
                    print("FAIL %s: %s" % (label, why))
                else:
                    print("ok   %s: delivered, dkimpy + OpenDKIM + Mail::DKIM verify" % label)
                os.unlink(path)

    rows = [[client] + ["—" if results[(client, k)] is None else "✓" if not results[(client, k)] else "✗" for k in KINDS]
            for client in CLIENTS]
    text = table(["client"] + KINDS, rows)
    print(text)
    if a.table:
        open(a.table, "w").write(text)
    failed = sum(1 for v in results.values() if v)
    cells = sum(1 for v in results.values() if v is not None)
    print("%d passed, %d failed" % (cells - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
