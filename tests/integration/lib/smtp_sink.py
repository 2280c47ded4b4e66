#!/usr/bin/python3
# tests/integration/lib/smtp_sink.py — a receiving SMTP server for the integration
# scenarios (aiosmtpd; Debian's python3-aiosmtpd, so run it with /usr/bin/python3).
#
# Listens on 127.0.0.1 only. Accepts every message and, per message:
#   - with --store DIR: saves the exact octets received (after dot-unstuffing, CRLF line
#     ends as sent) as DIR/00000001.eml, 00000002.eml, ... (written under a hidden
#     temporary name and renamed, so a file with its final name is complete);
#   - with --log FILE: appends one line, flushed at once:
#       MSG <message-id> <rcpt,rcpt,...> tls=<TLSv1.3|none> auth=<user|-> sp=<queue id|->
#     (sp: the id in the first "(Signpost) with ... id ID" Received field: which queue
#     entry was delivered)
#     <message-id> is the Message-ID header's value ("-" when absent); the fields after the
#     recipients are extras for scenarios that check them (split on spaces: field 1 is the
#     Message-ID, field 2 the recipients).
# Options:
#   --port N                 listen port (0: pick a free one); prints "READY <port>" when
#                            it accepts connections
#   --host ADDR              loopback address to listen on (default 127.0.0.1), so several
#                            MX hosts can share one port on 127.0.0.x
#   --tls-cert F --tls-key F offer STARTTLS with this certificate, and refuse MAIL before it
#   --auth USER:PASS         offer AUTH PLAIN/LOGIN (inside TLS only) and require it
#   --reject-rcpt ADDR       answer RCPT TO:<ADDR> with 550 5.1.1 (repeatable)
#   --tempfail-rcpt ADDR     answer RCPT TO:<ADDR> with 451 4.7.1 (repeatable)
#   --no-smtputf8            do not offer SMTPUTF8 (aiosmtpd's Controller offers it by default)
#   --requiretls             offer REQUIRETLS inside TLS (RFC 8689) and accept the MAIL FROM
#                            parameter; each MSG line then ends with " rt=1" when the
#                            message came with REQUIRETLS, " rt=0" when not
# Runs until SIGTERM or SIGINT. Built for thousands of messages: nothing is fsynced and
# nothing is held in memory after a message is stored.
import argparse
import os
import re
import signal
import socket
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def signpost_id(data):
    """The queue id in the first Received field Signpost added ("... (Signpost) with X id ID;")."""
    head = data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n\t", b" ").replace(b"\r\n ", b" ")
    m = re.search(rb"\(Signpost\) with \S+ id ([0-9A-Z]+)", head)
    return m.group(1).decode() if m else "-"


def message_id(data):
    head = data.split(b"\r\n\r\n", 1)[0]
    unfolded = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and unfolded:
            unfolded[-1] += b" " + line.strip()
        else:
            unfolded.append(line)
    for line in unfolded:
        name, sep, value = line.partition(b":")
        if sep and name.strip().lower() == b"message-id":
            v = value.strip().decode("utf-8", "replace")
            return v.replace(" ", "") or "-"
    return "-"


class RequireTlsSMTP(SMTP):
    """aiosmtpd refuses MAIL parameters it does not know: REQUIRETLS is taken off here and
    remembered for the transaction (only inside TLS, as RFC 8689 §4 offers it)."""

    async def smtp_MAIL(self, arg):
        self.session.sink_requiretls = False
        if arg and self._tls_protocol:
            words = arg.split(" ")
            kept = [w for w in words if w.upper() != "REQUIRETLS"]
            if len(kept) != len(words):
                self.session.sink_requiretls = True
                arg = " ".join(kept)
        await super().smtp_MAIL(arg)


class RequireTlsController(Controller):
    def factory(self):
        return RequireTlsSMTP(self.handler, **self.SMTP_kwargs)


class Sink:
    def __init__(self, args):
        self.store = args.store
        self.log = open(args.log, "a", encoding="utf-8") if args.log else None
        self.reject = {a.lower() for a in args.reject_rcpt}
        self.tempfail = {a.lower() for a in args.tempfail_rcpt}
        self.requiretls = args.requiretls
        self.count = 0
        if self.store:
            os.makedirs(self.store, exist_ok=True)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        a = address.lower()
        if a in self.reject:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if a in self.tempfail:
            return f"451 4.7.1 <{address}>: Recipient address rejected: try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content
        self.count += 1
        n = self.count
        if self.store:
            name = f"{n:08d}.eml"
            tmp = os.path.join(self.store, "." + name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, os.path.join(self.store, name))
        if self.log:
            tls = "none"
            info = session.ssl
            if info:
                obj = info.get("ssl_object") if isinstance(info, dict) else None
                tls = obj.version() if obj is not None else "yes"
            user = getattr(session, "sink_user", None) or "-"
            rt = ""
            if self.requiretls:
                rt = " rt=1" if getattr(session, "sink_requiretls", False) else " rt=0"
            self.log.write(f"MSG {message_id(data)} {','.join(envelope.rcpt_tos)} tls={tls} auth={user} "
                           f"sp={signpost_id(data)}{rt}\n")
            self.log.flush()
        return f"250 2.0.0 OK: queued as {n}"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--store")
    p.add_argument("--log")
    p.add_argument("--auth")
    p.add_argument("--reject-rcpt", action="append", default=[])
    p.add_argument("--tempfail-rcpt", action="append", default=[])
    p.add_argument("--no-smtputf8", action="store_true")
    p.add_argument("--requiretls", action="store_true")
    args = p.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")

    handler = Sink(args)
    kwargs = {}
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        kwargs.update(tls_context=ctx, require_starttls=True)
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep:
            p.error("--auth wants USER:PASS")

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword)
                  and auth_data.login == user.encode() and auth_data.password == password.encode())
            if ok:
                session.sink_user = user
            return AuthResult(success=ok, handled=False)

        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=True)

    if args.no_smtputf8:
        kwargs["enable_SMTPUTF8"] = False
    if args.requiretls:
        async def handle_ehlo(server, session, envelope, hostname, responses):
            session.host_name = hostname
            if server._tls_protocol:
                responses.insert(len(responses) - 1, "250-REQUIRETLS")
            return responses
        handler.handle_EHLO = handle_ehlo
    port = args.port or free_port()
    controller_class = RequireTlsController if args.requiretls else Controller
    controller = controller_class(handler, hostname=args.host, port=port, server_hostname="sink.test",
                            data_size_limit=64 * 1024 * 1024, **kwargs)
    controller.start()
    print(f"READY {port}", flush=True)

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(1):
        pass
    controller.stop()
    if handler.log:
        handler.log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
