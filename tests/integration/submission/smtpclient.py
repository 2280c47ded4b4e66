#!/usr/bin/python3
"""tests/integration/submission/smtpclient.py — a raw SMTP client for the abuse scenarios.

Unlike smtplib it sends exactly the bytes it is given (bare LF or CR, NUL, pipelined
batches, bytes right behind STARTTLS in the same write), never fixes anything up, and
reads replies with a deadline, so a scenario can assert what the server answered — or
that it answered nothing. Plain TCP, STARTTLS (RFC 3207) and implicit TLS (RFC 8314);
the TLS context trusts only the given certificate (the dev setup's self-signed one).

All socket I/O goes through one non-blocking pump (_pump) that writes and reads at the
same time, so a client can push a batch far larger than the socket buffers while the
server's replies come back, without threads sharing an SSL object.

Library use (scenarios run it from a heredoc, with PYTHONPATH set to this directory):
    c = Client.from_env()          # SP_PORT, SP_CAFILE, ... set by the scenario
    c.connect(); c.expect(220)
    c.login()                      # EHLO, STARTTLS, EHLO, AUTH PLAIN as SP_USER
    c.cmd("MAIL FROM:<dev@example.test>", 250, "2.1.0")
Command line (for the "a normal submission still works" step of every scenario):
    smtpclient.py submit --port P --cafile CERT --user U --password PW [--implicit]
        [--from A] [--to A ...] -> prints the final reply, exit 0 on 250 2.0.0

Every wait has a deadline; nothing here loops without a bound.
Only /usr/bin/python3's standard library is used.
"""
import argparse
import base64
import os
import re
import select
import socket
import ssl
import sys
import time

_REPLY_LINE = re.compile(rb"^(\d{3})([ -])(.*)$", re.S)
_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})(?: |$)")


class Failure(Exception):
    """A scenario expectation that did not hold (the message says what was sent and got)."""


class Closed(Failure):
    """The server closed the connection while a reply was awaited."""


class TimedOut(Failure):
    """No complete reply came before the deadline."""


class Reply:
    def __init__(self, code, lines, raw):
        self.code = code
        self.lines = lines            # text after "ddd-"/"ddd ", per line
        self.raw = raw                # the exact bytes, CRLFs included
        m = _ENHANCED.match(lines[-1]) if lines else None
        self.enhanced = m.group(1) if m else ""
        self.text = lines[-1][len(self.enhanced):].strip() if lines else ""

    def first_line(self):
        return self.raw.split(b"\r\n", 1)[0].decode("latin-1")

    def __repr__(self):
        return repr(self.raw.decode("latin-1"))


def _excepthook(kind, value, tb, _default=sys.excepthook):
    """A failed expectation prints as one FAIL line (what was sent, what came back); any
    other exception keeps its traceback."""
    if issubclass(kind, Failure):
        print("FAIL: %s" % value, file=sys.stderr)
    else:
        _default(kind, value, tb)


sys.excepthook = _excepthook


def show(data, limit=300):
    """Bytes for a failure message: escaped, long runs shortened."""
    if isinstance(data, str):
        data = data.encode("latin-1")
    text = repr(data[:limit])
    if len(data) > limit:
        text += " ... (%d bytes in all)" % len(data)
    return text


def check(condition, message):
    if not condition:
        raise Failure(message)


def plain_response(user, password, authzid=""):
    return base64.b64encode(("%s\0%s\0%s" % (authzid, user, password)).encode()).decode()


def message(sender="dev@example.test", to="rcpt@dest.test", subject="test", body="Hello.\r\n", extra_headers=""):
    """A small well-formed message (CRLF line ends, ending in CRLF), without the dot line."""
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n%s\r\n%s" % (sender, to, subject, extra_headers, body)).encode()


def end_of_data(body):
    """What ends a DATA body: ".\r\n" after a final CRLF (which belongs to the message),
    else "\r\n.\r\n"."""
    return b".\r\n" if body.endswith(b"\r\n") or body == b"" else b"\r\n.\r\n"


# SMTP smuggling (t53, t5b): a message whose text holds a fake end of data followed by a
# whole smuggled transaction. The server must never take the fake end as the end.
SMUGGLED = (b"MAIL FROM:<dev@example.test>\r\nRCPT TO:<smuggled@dest.test>\r\nDATA\r\n"
            b"From: <dev@example.test>\r\nTo: <smuggled@dest.test>\r\nSubject: smuggled\r\n\r\nsmuggled\r\n")


def smuggling_header(subject):
    return (b"From: <dev@example.test>\r\nTo: <rcpt@dest.test>\r\nSubject: " + subject.encode() +
            b"\r\n\r\nfirst message\r\nmore text")


def open_data(c):
    """MAIL FROM dev@example.test, RCPT TO rcpt@dest.test, DATA -> 354."""
    c.cmd("MAIL FROM:<dev@example.test>", 250, "2.1.0")
    c.cmd("RCPT TO:<rcpt@dest.test>", 250, "2.1.5")
    c.cmd("DATA", 354)


def try_smuggling(c, header, fake, code, enhanced):
    """Sends header + fake + SMUGGLED twice: in two writes (silence until the real end,
    then exactly one reply `code enhanced`, then NOOP in step) and in one write with NOOP
    pipelined behind the real end. Returns the two end-of-data replies."""
    open_data(c)
    c.send(header + fake + SMUGGLED)
    c.expect_silence(1.0, "the server after the fake end %s" % show(fake))
    c.send(b".\r\n")
    first = c.expect(code, enhanced, what="the real end after the fake end %s" % show(fake))
    c.expect_silence(0.5, "the server after the end-of-data reply (smuggled commands run?)")
    c.cmd("NOOP", 250, "2.0.0")
    open_data(c)
    c.send(header + fake + SMUGGLED + b".\r\nNOOP\r\n")
    second = c.expect(code, enhanced, what="one-write smuggling with %s" % show(fake))
    c.expect(250, "2.0.0", what="the NOOP after the real end")
    c.expect_silence(0.5, "the server after NOOP")
    return first, second


class Client:
    def __init__(self, host="127.0.0.1", port=25, mode="plain", cafile=None, timeout=10.0,
                 user=None, password=None):
        assert mode in ("plain", "starttls", "implicit")
        self.host, self.port, self.mode = host, port, mode
        self.cafile, self.timeout = cafile, timeout
        self.user, self.password = user, password
        self.sock = None
        self.tls = False
        self.buf = b""          # bytes read and not yet consumed as a reply
        self.eof = False
        self.sent_log = []      # every write, for failure messages

    @classmethod
    def from_env(cls, mode="starttls", **kw):
        """A client for the scenario's server: SP_PORT (STARTTLS listener), SP_TLS_PORT
        (implicit TLS), SP_CAFILE, SP_USER, SP_PASSWORD."""
        port = int(os.environ["SP_TLS_PORT" if mode == "implicit" else "SP_PORT"])
        kw.setdefault("cafile", os.environ.get("SP_CAFILE"))
        kw.setdefault("user", os.environ.get("SP_USER", "dev"))
        kw.setdefault("password", os.environ.get("SP_PASSWORD"))
        return cls(os.environ.get("SP_HOST", "127.0.0.1"), port, mode, **kw)

    # --- connection ----------------------------------------------------------------

    def tls_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False          # the dev certificate names "localhost"
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(self.cafile)
        return ctx

    def connect(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.mode == "implicit":
            self._handshake()
        self.sock.setblocking(False)
        return self

    def _handshake(self):
        self.sock.setblocking(True)
        self.sock.settimeout(self.timeout)
        self.sock = self.tls_context().wrap_socket(self.sock, server_hostname="localhost")
        self.tls = True

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the I/O pump ------------------------------------------------------------------

    def _recv_once(self):
        """Reads what is available into self.buf; False when nothing was (would block)."""
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
            return False
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ConnectionResetError, BrokenPipeError):
            self.eof = True
            return True
        except ssl.SSLError as e:  # e.g. a TLS alert after an unclean close
            if "EOF" in str(e) or "SHUTDOWN" in str(e).upper():
                self.eof = True
                return True
            raise
        if not data:
            self.eof = True
        self.buf += data
        return True

    def _pump(self, out, done, deadline):
        """Writes `out` while reading into self.buf until done() (checked after every
        step) or the deadline. Returns the number of bytes of `out` written."""
        sent = 0
        view = memoryview(out)
        while True:
            if done() and sent == len(out):
                return sent
            # Always try a read first: data already decrypted inside the SSL object does
            # not show in select(), and a read never blocks here.
            progressed = False
            if not self.eof:
                progressed = self._recv_once()
                if done() and sent == len(out):
                    return sent
            if sent < len(out):
                try:
                    n = self.sock.send(view[sent:sent + 65536])
                    sent += n
                    progressed = progressed or n > 0
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
                    pass
                except (BrokenPipeError, ConnectionResetError) as e:
                    self.eof = True
                    raise Closed("connection closed while sending (%s) after %d of %d bytes" % (e, sent, len(out)))
            if progressed:
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                return sent
            if self.eof and sent == len(out):
                return sent  # nothing more can arrive
            wlist = [self.sock] if sent < len(out) else []
            rlist = [] if self.eof else [self.sock]
            select.select(rlist, wlist, [], min(left, 0.2))

    def send(self, data, timeout=None):
        """Writes every byte of `data` (str is latin-1), reading replies meanwhile."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sent_log.append(data)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        sent = self._pump(data, lambda: True, deadline)
        if sent < len(data):
            raise TimedOut("could not send %d of %d bytes within the deadline" % (len(data) - sent, len(data)))

    def send_without_reading(self, data, stall=1.0, limit=30.0):
        """Writes `data` and reads nothing. Stops when the kernel has taken no byte for
        `stall` seconds (the peer stopped reading) or after `limit` seconds. Returns the
        number of bytes written."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        view = memoryview(data)
        sent, last, start = 0, time.monotonic(), time.monotonic()
        while sent < len(data):
            now = time.monotonic()
            if now - last >= stall or now - start >= limit:
                break
            try:
                n = self.sock.send(view[sent:sent + 65536])
                if n > 0:
                    sent += n
                    last = time.monotonic()
                    continue
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
                pass
            except (BrokenPipeError, ConnectionResetError):
                break
            select.select([], [self.sock], [], 0.1)
        return sent

    def trickle(self, data, interval, limit):
        """Sends `data` one byte every `interval` seconds (slowloris) until the server
        says something or closes, or `limit` seconds pass. Returns the seconds spent;
        what arrived is in self.buf / self.eof."""
        start = time.monotonic()
        for i in range(len(data)):
            if time.monotonic() - start >= limit:
                break
            try:
                self.send(data[i:i + 1])
            except Closed:
                break
            if self.poll(interval):
                break
        return time.monotonic() - start

    def wait_hangup(self, timeout):
        """Waits, reading nothing, until the server ends the connection (FIN or RST seen
        by poll(): unread replies stay unread). Returns the seconds waited, or None if
        the connection is still up after `timeout`."""
        p = select.poll()
        p.register(self.sock.fileno(), select.POLLRDHUP | select.POLLHUP | select.POLLERR)
        start = time.monotonic()
        while True:
            left = timeout - (time.monotonic() - start)
            if left <= 0:
                return None
            if p.poll(int(min(left, 0.2) * 1000)):
                return time.monotonic() - start

    # --- replies -----------------------------------------------------------------------

    def _take_reply(self):
        """One complete reply from self.buf, or None."""
        pos = 0
        lines = []
        while True:
            nl = self.buf.find(b"\r\n", pos)
            if nl < 0:
                return None
            line = self.buf[pos:nl]
            m = _REPLY_LINE.match(line)
            if not m:
                raise Failure("malformed reply line %s in %s" % (show(line), show(self.buf)))
            lines.append((int(m.group(1)), m.group(3).decode("latin-1")))
            pos = nl + 2
            if m.group(2) == b" ":
                break
        codes = {c for c, _ in lines}
        if len(codes) != 1:
            raise Failure("reply lines with different codes: %s" % show(self.buf[:pos]))
        raw = self.buf[:pos]
        self.buf = self.buf[pos:]
        return Reply(lines[0][0], [t for _, t in lines], raw)

    def reply(self, timeout=None):
        """The next reply; raises TimedOut or Closed."""
        timeout = self.timeout if timeout is None else timeout
        found = []

        def done():
            if not found:
                r = self._take_reply()
                if r is not None:
                    found.append(r)
            return bool(found) or self.eof

        self._pump(b"", done, time.monotonic() + timeout)
        if found:
            return found[0]
        if self.eof:
            raise Closed("connection closed by the server; unread bytes %s; last sent %s"
                         % (show(self.buf), show(self.sent_log[-1] if self.sent_log else b"")))
        raise TimedOut("no complete reply within %.1fs; partial %s; last sent %s"
                       % (timeout, show(self.buf), show(self.sent_log[-1] if self.sent_log else b"")))

    def expect(self, code, enhanced=None, text=None, timeout=None, what=""):
        """The next reply must have `code` (and `enhanced`, and `text` as a case-insensitive
        substring, when given). Returns it."""
        r = self.reply(timeout)
        ok = r.code == code and (enhanced is None or r.enhanced == enhanced) and \
            (text is None or text.lower() in " ".join(r.lines).lower())
        if not ok:
            want = "%d%s%s" % (code, " " + enhanced if enhanced else "", " ...%s..." % text if text else "")
            raise Failure("%sexpected %s, got %s (last sent %s)"
                          % (what + ": " if what else "", want, r,
                             show(self.sent_log[-1] if self.sent_log else b"")))
        return r

    def expect_silence(self, seconds, what="the server"):
        """Nothing may arrive (and the connection must stay open) for `seconds`."""
        self._pump(b"", lambda: bool(self.buf) or self.eof, time.monotonic() + seconds)
        check(not self.buf, "%s answered %s where it must stay silent (last sent %s)"
              % (what, show(self.buf), show(self.sent_log[-1] if self.sent_log else b"")))
        check(not self.eof, "%s closed the connection where it must stay silent" % what)

    def poll(self, seconds):
        """Reads for up to `seconds`, returning early when bytes or the close arrive.
        True when something did (see self.buf / self.eof)."""
        self._pump(b"", lambda: bool(self.buf) or self.eof, time.monotonic() + seconds)
        return bool(self.buf) or self.eof

    def wait_closed(self, timeout):
        """Reads until the server closes the connection. Returns (seconds waited, bytes
        received meanwhile); raises TimedOut if still open after `timeout`."""
        start = time.monotonic()
        self._pump(b"", lambda: self.eof, start + timeout)
        if not self.eof:
            raise TimedOut("connection still open after %.1fs; received %s" % (timeout, show(self.buf)))
        data, self.buf = self.buf, b""
        return time.monotonic() - start, data

    # --- commands ------------------------------------------------------------------------

    def cmd(self, line, code=None, enhanced=None, text=None, timeout=None):
        """Sends `line` + CRLF and returns the reply (checked when `code` is given)."""
        self.send((line if isinstance(line, bytes) else line.encode("latin-1")) + b"\r\n")
        if code is None:
            return self.reply(timeout)
        return self.expect(code, enhanced, text, timeout, what=line if isinstance(line, str) else show(line))

    def ehlo(self, name="client.test"):
        r = self.cmd("EHLO " + name, 250)
        return [l.upper() for l in r.lines[1:]]

    def starttls(self):
        """STARTTLS, check that nothing follows the 220, then the handshake."""
        self.cmd("STARTTLS", 220, "2.0.0")
        self.upgrade()

    def upgrade(self):
        """The TLS handshake after a 220 to STARTTLS has been read."""
        check(not self.buf, "bytes after the 220 to STARTTLS, before the handshake: %s" % show(self.buf))
        self._handshake()
        self.sock.setblocking(False)

    def auth_plain(self, user=None, password=None, code=235, enhanced="2.7.0", timeout=None):
        return self.cmd("AUTH PLAIN " + plain_response(user or self.user, password or self.password),
                        code, enhanced, timeout=timeout)

    def login(self, ehlo_name="client.test"):
        """Greeting, EHLO, STARTTLS (on the STARTTLS port), EHLO, AUTH PLAIN: ready for MAIL."""
        if self.sock is None:
            self.connect()
            self.expect(220, what="greeting")
        self.ehlo(ehlo_name)
        if not self.tls:
            self.starttls()
            self.ehlo(ehlo_name)
        self.auth_plain()
        return self

    def submit(self, sender="dev@example.test", rcpts=("rcpt@dest.test",), data=None):
        """MAIL, RCPTs, DATA, body, dot: returns the final reply (unchecked)."""
        self.cmd("MAIL FROM:<%s>" % sender, 250, "2.1.0")
        for r in rcpts:
            self.cmd("RCPT TO:<%s>" % r, 250, "2.1.5")
        self.cmd("DATA", 354)
        body = data if data is not None else message(sender, rcpts[0])
        self.send(body + end_of_data(body))
        return self.reply()

    def quit(self):
        try:
            self.cmd("QUIT", 221, "2.0.0")
        finally:
            self.close()


def main(argv):
    p = argparse.ArgumentParser(description="raw SMTP client for Signpost's integration tests")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("submit", help="log in and submit one message; exit 0 on 250 2.0.0")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--implicit", action="store_true", help="implicit TLS port (else STARTTLS)")
    s.add_argument("--cafile", required=True)
    s.add_argument("--user", default="dev")
    s.add_argument("--password", required=True)
    s.add_argument("--from", dest="sender", default="dev@example.test")
    s.add_argument("--to", action="append", default=None)
    s.add_argument("--timeout", type=float, default=20.0)
    a = p.parse_args(argv)
    c = Client(a.host, a.port, "implicit" if a.implicit else "starttls", a.cafile, a.timeout, a.user, a.password)
    try:
        c.login()
        rcpts = a.to or ["rcpt@dest.test"]
        r = c.submit(a.sender, rcpts)
        print(r.first_line())
        c.quit()
    except Failure as e:
        print("smtpclient: %s" % e, file=sys.stderr)
        return 1
    return 0 if r.code == 250 and r.enhanced == "2.0.0" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
