#!/usr/bin/python3
"""The next-hop half of the interop matrix: message kinds x submitting clients x next hops.

    /usr/bin/python3 hops.py --work DIR --cert CERT --password PW --port 2587 --records DIR \
        --gosend BIN --verifiers DIR --postfix-mail DIR --exim-mail DIR [--table FILE]

t47-next-hops.sh sets up the hops: bare.test and all.test go through Postfix smarthosts
(the bare one offers neither SMTPUTF8 nor 8BITMIME nor PIPELINING nor CHUNKING), pfmx.test
and exim.test to Postfix and Exim as their MX. Postfix stores every message, and the DSNs
for alice@example.test, in the Maildir --postfix-mail; Exim in --exim-mail.

Each cell submits one message over STARTTLS + AUTH PLAIN with smtplib (SMTPUTF8 only for
UTF-8 content) or Go's net/smtp (SMTPUTF8 and BODY=8BITMIME always). Expected: delivered
at the hop, well-formed and verified by dkimpy, OpenDKIM and Mail::DKIM; except a message
that needs SMTPUTF8 at the bare hop, which must not reach it and must come back to the
sender as a DKIM-signed DSN with Status 5.6.7, the diagnostic marked as Signpost's own and
no Remote-MTA. Exit status 0 only when every cell is as expected.
"""
import argparse
import glob
import os
import sys
import time

from interop import KINDS, NEEDS_SMTPUTF8, Clients, message, rcpt_for, table, verify

HOPS = [  # name, recipient domain, where it stores, the table's description
    ("bare", "bare.test", "postfix", "Postfix smarthost offering no SMTPUTF8, 8BITMIME, PIPELINING, CHUNKING"),
    ("all", "all.test", "postfix", "Postfix smarthost offering all of them"),
    ("pfmx", "pfmx.test", "postfix", "Postfix as the MX"),
    ("exim", "exim.test", "exim", "Exim as the MX"),
]
CLIENTS = ["smtplib", "go"]


def crlf(data):
    """A Maildir file's LF line ends back to the CRLF of the wire (what verifiers sign over)."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def find(maildir, needles, seconds):
    """The first file under maildir/new whose first 16 KB hold every needle, waiting up to
    `seconds` for it."""
    deadline = time.time() + seconds
    while True:
        for f in glob.glob(os.path.join(maildir, "new", "*")):
            try:
                with open(f, "rb") as fh:
                    head = fh.read(16384)
            except FileNotFoundError:
                continue
            if all(n in head for n in needles):
                return f
        if time.time() >= deadline:
            return None
        time.sleep(0.1)


def check_dsn(a, data, mid):
    """Returns "" when the DSN is the expected one: Status 5.6.7, Signpost's own diagnostic,
    no Remote-MTA, the original header returned, DKIM-signed and verifying."""
    text = data.decode("utf-8", "replace")
    for want in ("multipart/report", "Status: 5.6.7", "Diagnostic-Code: X-Signpost; 5.6.7", "Message-ID: <%s>" % mid):
        if want not in text:
            return "the DSN has no %r" % want
    if "Remote-MTA:" in text:
        return "the DSN names a Remote-MTA for Signpost's own decision"
    return verify(a, data, "dsn." + mid)


def main():
    p = argparse.ArgumentParser()
    for opt in ("--work", "--cert", "--password", "--records", "--gosend", "--verifiers", "--postfix-mail",
                "--exim-mail", "--table"):
        p.add_argument(opt)
    p.add_argument("--port", type=int)
    a = p.parse_args()
    os.makedirs(a.work, exist_ok=True)
    clients = Clients(a)
    stores = {"postfix": a.postfix_mail, "exim": a.exim_mail}

    results = {}  # (client, hop, kind) -> "ok" | "bounced" | "fail"
    for hop, domain, store, _ in HOPS:
        for client in CLIENTS:
            for kind in KINDS:
                mid = "%s.%s.%s@t47.example.test" % (kind, client, hop)
                to = rcpt_for(kind, domain)
                path = os.path.join(a.work, mid + ".msg")
                with open(path, "wb") as fh:
                    fh.write(message(kind, mid, to))
                label = "%-7s -> %-5s %-13s" % (client, hop, kind)
                rc, out = clients.submit(client, a.port, "starttls", "PLAIN", path, to)
                os.unlink(path)
                if rc != 0:
                    results[(client, hop, kind)] = "fail"
                    print("FAIL %s: client exit %d: %s" % (label, rc, out.strip()[-600:]))
                    continue
                mid_b = ("Message-ID: <%s>" % mid).encode()
                bounce = hop == "bare" and kind in NEEDS_SMTPUTF8
                if bounce:
                    f = find(stores["postfix"], [mid_b, b"Delivered-To: alice@example.test"], 30)
                    why = "no DSN came back to alice@example.test" if not f else check_dsn(a, crlf(open(f, "rb").read()), mid)
                    if not why and find(stores[store], [mid_b, ("Delivered-To: %s" % to).encode()], 0):
                        why = "returned, yet it also reached the hop"
                    ok = "bounced"
                else:
                    # Postfix's inbox also holds the DSNs: the copy for the recipient is the one.
                    needles = [mid_b] + ([("Delivered-To: %s" % to).encode()] if store == "postfix" else [])
                    f = find(stores[store], needles, 60)
                    why = "did not reach the hop" if not f else verify(a, crlf(open(f, "rb").read()), mid)
                    ok = "ok"
                results[(client, hop, kind)] = "fail" if why else ok
                if why:
                    print("FAIL %s: %s" % (label, why))
                elif bounce:
                    print("ok   %s: returned to the sender, 5.6.7 DSN (Signpost's decision) signed and verified" % label)
                else:
                    print("ok   %s: delivered, dkimpy + OpenDKIM + Mail::DKIM verify at the hop" % label)

    mark = {"ok": "✓", "bounced": "↩ 5.6.7", "fail": "✗"}
    rows = [["%s → %s" % (client, desc)] + [mark[results[(client, hop, k)]] for k in KINDS]
            for hop, _, _, desc in HOPS for client in CLIENTS]
    text = table(["client → next hop"] + KINDS, rows)
    print(text)
    if a.table:
        open(a.table, "w").write(text)
    failed = sum(1 for v in results.values() if v == "fail")
    print("%d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
