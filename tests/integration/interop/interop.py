"""Shared parts of the interop tests (matrix.py: clients; hops.py: next hops).

The message kinds, the real clients that submit them, the checks on a delivered message
(well-formed, three DKIM verifiers) and the Markdown tables that README.md's "Tested
clients" section is made of.
"""
import base64
import glob
import os
import random
import smtplib
import ssl
import subprocess
import time

FROM = "alice@example.test"
TO = "bob@example.org"
UTF8_LOCAL = "s\u00f6ren"  # RFC 6531: an address that needs SMTPUTF8

KINDS = ["ascii", "utf8-subject", "utf8-header", "utf8-rcpt", "8bit-body", "attachment", "long-line", "lf-endings", "10mb"]
# Kinds whose message really needs SMTPUTF8 of every hop (a UTF-8 address or header field).
NEEDS_SMTPUTF8 = {"utf8-header", "utf8-rcpt"}

# The clients, in table order. Those in SMTPUTF8_CLIENTS send SMTPUTF8 and so can address a
# UTF-8 mailbox; the others get "—" in the utf8-rcpt column.
CLIENTS = ["msmtp", "curl", "swaks", "smtplib", "go", "nodemailer", "s-nail", "exim"]
SMTPUTF8_CLIENTS = {"smtplib", "go", "nodemailer", "exim"}
# Clients with only AUTH PLAIN (Go's net/smtp): PLAIN on both listeners.
PLAIN_ONLY = {"go"}


def rcpt_for(kind, domain="example.org"):
    return "%s@%s" % (UTF8_LOCAL if kind == "utf8-rcpt" else "bob", domain)


def message(kind, mid, to=TO):
    """The bytes of one test message of `kind` (CRLF line ends unless the kind says)."""
    head = "From: Alice <%s>\r\nTo: <%s>\r\nMessage-ID: <%s>\r\nDate: Sun, 06 Dec 2026 10:00:00 +0000\r\n" % (FROM, to, mid)
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
        return (head + "Subject: to a UTF-8 address\r\n\r\nhej\r\n").encode()
    if kind == "10mb":
        line = ("x" * 76 + "\r\n")
        return (head + "Subject: ten megabytes\r\n\r\n" + line * (10 * 1000 * 1000 // len(line))).encode()
    raise ValueError(kind)


def run(cmd, stdin=None, timeout=60, env=None):
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, env=env)
    return p.returncode, p.stdout.decode("utf-8", "replace")


class Clients:
    """Runs the real clients. `a` carries cert, password, work, gosend, nodesend, exim and
    exim_dir (a directory the Debian-exim user owns)."""

    def __init__(self, a):
        self.a = a
        self.exim_confs = {}

    def submit(self, client, port, tls, auth, path, to):
        """Submits the message file `path` from FROM to `to`; returns (exit status, transcript)."""
        a, pw = self.a, self.a.password
        if client == "msmtp":
            return run(["msmtp", "--host=127.0.0.1", "--port=%d" % port, "--tls=on",
                        "--tls-starttls=" + ("on" if tls == "starttls" else "off"), "--tls-trust-file=" + a.cert,
                        "--tls-host-override=localhost", "--auth=" + auth.lower(), "--user=dev",
                        "--passwordeval=echo " + pw, "--from=" + FROM, "--", to], stdin=open(path, "rb").read())
        if client == "curl":
            scheme = "smtp" if tls == "starttls" else "smtps"
            return run(["curl", "-sS", "--ssl-reqd", "--cacert", a.cert, "--user", "dev:" + pw, "--login-options",
                        "AUTH=" + auth, "--mail-from", FROM, "--mail-rcpt", to, "--upload-file", path,
                        "%s://127.0.0.1:%d" % (scheme, port)])
        if client == "swaks":
            return run(["swaks", "--server", "127.0.0.1:%d" % port, "--tls" if tls == "starttls" else "--tls-on-connect",
                        "--tls-ca-path", a.cert, "--auth", auth, "--auth-user", "dev", "--auth-password", pw,
                        "--from", FROM, "--to", to, "--data", path, "--timeout", "30"])
        if client == "smtplib":
            return self._smtplib(port, tls, auth, path, to)
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
            return run(["s-nail", "-:/", "-t"] + opts, stdin=text, env=env)
        if client == "go":
            return run([a.gosend, "-addr", "127.0.0.1:%d" % port, "-tls", tls, "-ca", a.cert, "-user", "dev", "-pass", pw,
                        "-from", FROM, "-to", to, "-file", path])
        if client == "nodemailer":
            return run(["node", a.nodesend, "--addr", "127.0.0.1:%d" % port, "--tls", tls, "--ca", a.cert, "--auth", auth,
                        "--user", "dev", "--pass", pw, "--from", FROM, "--to", to, "--file", path])
        if client == "exim":
            return self._exim(port, tls, auth, path, to)
        raise ValueError(client)

    def _smtplib(self, port, tls, auth, path, to):
        a = self.a
        try:
            ctx = ssl.create_default_context(cafile=a.cert)
            if tls == "starttls":
                s = smtplib.SMTP("127.0.0.1", port, timeout=30)
                s.starttls(context=ctx)
            else:
                s = smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=30)
            s.user, s.password = "dev", a.password
            s.ehlo()
            s.auth(auth, s.auth_plain if auth == "PLAIN" else s.auth_login)
            data = open(path, "rb").read()
            # As an application using smtplib does: SMTPUTF8 when it has UTF-8 to send,
            # BODY=8BITMIME for any 8-bit content.
            head = data.split(b"\r\n\r\n", 1)[0]
            opts = []
            if not to.isascii() or not head.isascii():
                opts.append("SMTPUTF8")
            if not data.isascii():
                opts.append("BODY=8BITMIME")
            s.sendmail(FROM, [to], data, mail_options=opts)
            s.quit()
            return 0, "sent"
        except Exception as e:  # the transcript of a failed cell
            return 1, repr(e)

    def _exim_conf(self, port, tls, auth):
        """An Exim configuration that hands every message to Signpost, as a NAS or server
        with Exim does through its smarthost (Debian's "mail sent by smarthost")."""
        key = (port, tls, auth)
        if key in self.exim_confs:
            return self.exim_confs[key]
        d = self.a.exim_dir
        path = os.path.join(d, "client-%d-%s.conf" % (port, auth.lower()))
        send = "^dev^" + self.a.password if auth == "PLAIN" else ": dev : " + self.a.password
        with open(path, "w") as f:
            f.write("""exim_path = {exim}
spool_directory = {d}/spool
log_file_path = {d}/log/%slog
primary_hostname = nas.example.test
qualify_domain = example.test
keep_environment =
message_size_limit = 50M

begin routers
smarthost:
  driver = manualroute
  domains = *
  route_list = * 127.0.0.1
  transport = to_signpost
  self = send
  no_more

begin transports
to_signpost:
  driver = smtp
  port = {port}
  {proto}
  allow_localhost
  hosts_require_tls = *
  hosts_require_auth = *
  tls_verify_certificates = {cert}
  tls_verify_hosts = *
  tls_verify_cert_hostnames =
  # Exim itself fails a message with a line over 998 octets unless this is raised.
  message_linelength_limit = 1M

begin authenticators
auth:
  driver = plaintext
  public_name = {auth}
  client_send = {send}
""".format(exim=self.a.exim, d=d, port=port, proto="protocol = smtps" if tls == "implicit" else "",
                cert=self.a.cert, auth=auth, send=send))
        self.exim_confs[key] = path
        return path

    def _exim(self, port, tls, auth, path, to):
        conf = self._exim_conf(port, tls, auth)
        mainlog = os.path.join(self.a.exim_dir, "log", "mainlog")
        start = os.path.getsize(mainlog) if os.path.exists(mainlog) else 0
        # -odf: deliver in the foreground, so the outcome is in the log when exim returns.
        text = open(path, "rb").read().replace(b"\r\n", b"\n")  # a local submission: LF text
        rc, out = run([self.a.exim, "-C", conf, "-odf", "-oi", "-f", FROM, "--", to], stdin=text, timeout=120)
        with open(mainlog, "rb") as f:
            f.seek(start)
            log = f.read().decode("utf-8", "replace")
        delivered = any(" => " in l and "T=to_signpost" in l for l in log.splitlines())
        if rc == 0 and not delivered:
            rc = 1
        return rc, out + log


def find_message(pattern, mid, seconds=30):
    """The first file matching the glob `pattern` whose header holds Message-ID <mid>."""
    needle = ("Message-ID: <%s>" % mid).encode()
    deadline = time.time() + seconds
    while time.time() < deadline:
        for f in glob.glob(pattern):
            try:
                with open(f, "rb") as fh:
                    head = fh.read(16384)
            except FileNotFoundError:
                continue
            if needle in head:
                return f
        time.sleep(0.1)
    return None


def verify(a, data, name):
    """Returns "" when the message is well-formed and verifies with dkimpy, OpenDKIM and
    Mail::DKIM (Debian's has no Ed25519: that signature is reported as skipped), else why not."""
    for i, line in enumerate(data.split(b"\r\n")[:-1]):
        if b"\n" in line or b"\r" in line:
            return "bare CR/LF in line %d" % (i + 1)
        if len(line) > 998:
            return "line %d has %d octets" % (i + 1, len(line))
    if not data.endswith(b"\r\n"):
        return "does not end in CRLF"
    f = os.path.join(a.work, name + ".verify.eml")
    with open(f, "wb") as fh:
        fh.write(data)
    verifiers = [
        ("dkimpy", ["/usr/bin/python3", os.path.join(a.verifiers, "verify_dkimpy.py"), a.records, f], 2, 0),
        ("opendkim", ["bash", os.path.join(a.verifiers, "verify_opendkim.sh"), a.records, f], 2, 0),
        ("Mail::DKIM", ["perl", os.path.join(a.verifiers, "verify_maildkim.pl"), a.records, f], 1, 1),
    ]
    try:
        for name, cmd, want_pass, want_skip in verifiers:
            rc, out = run(cmd, timeout=120)
            passes = sum(1 for l in out.splitlines() if l.startswith("pass "))
            skips = sum(1 for l in out.splitlines() if l.startswith("skip "))
            if rc != 0 or passes != want_pass or skips != want_skip:
                return "%s: %s" % (name, out.strip().replace("\n", "; ")[:200])
    finally:
        os.unlink(f)
    return ""


def table(header, rows):
    """A Markdown table: header cells, then rows of cells."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def update_readme(readme, name, text):
    """Replaces README's block between <!-- NAME:begin --> and <!-- NAME:end -->; returns
    True when it changed."""
    import fcntl
    begin, end = "<!-- %s:begin -->\n" % name, "<!-- %s:end -->" % name
    with open(readme, "r+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        cur = f.read()
        i, j = cur.index(begin) + len(begin), cur.index(end)
        if cur[i:j] == text:
            return False
        f.seek(0)
        f.write(cur[:i] + text + cur[j:])
        f.truncate()
        return True


def readme_block(readme, name):
    begin, end = "<!-- %s:begin -->\n" % name, "<!-- %s:end -->" % name
    cur = open(readme, encoding="utf-8").read()
    if begin not in cur or end not in cur:
        return None
    return cur[cur.index(begin) + len(begin):cur.index(end)]
