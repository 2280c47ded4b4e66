#!/usr/bin/python3
"""Helpers for the inbound scenarios (t111), run with Debian's /usr/bin/python3.

  sign KEY DOMAIN SELECTOR < message > signed
      DKIM-sign (dkimpy, rsa-sha256, relaxed/relaxed, From/To/Subject/Date) a message.
  send PORT HELO MAIL_FROM RCPT FILE
      Deliver FILE to 127.0.0.1:PORT as a sending MTA would (EHLO, STARTTLS without
      certificate checks, MAIL, RCPT, DATA); prints "CODE TEXT" of the final reply (of RCPT
      when refused there), exit 0 either way.
  reference DNS_PORT FILE IP MAIL_FROM HELO
      The independent evaluation of a received message: pyspf's result for IP / MAIL_FROM /
      HELO and dkimpy's result for each DKIM-Signature (d=, pass/fail), with DNS from the
      private unbound on 127.0.0.1:DNS_PORT. Prints "spf=RESULT" then "dkim=RESULT d=DOMAIN"
      lines, in signature order.
"""
import smtplib
import ssl
import sys
import warnings

warnings.simplefilter("ignore")  # dns.resolver.query is deprecated; pyspf uses it


def sign(key, domain, selector):
    import dkim
    msg = sys.stdin.buffer.read()
    sig = dkim.sign(msg, selector.encode(), domain.encode(), open(key, "rb").read(),
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"from", b"to", b"subject", b"date"])
    sys.stdout.buffer.write(sig + msg)


def send(port, helo, mail_from, rcpt, path):
    data = open(path, "rb").read()
    s = smtplib.SMTP("127.0.0.1", int(port), local_hostname=helo, timeout=30)
    s.ehlo(helo)
    s.starttls(context=ssl._create_unverified_context())
    s.ehlo(helo)
    code, text = s.mail(mail_from)
    if code == 250:
        code, text = s.rcpt(rcpt)
        if code == 250:
            code, text = s.data(data)
    print(code, text.decode())
    s.quit()


def reference(port, path, ip, mail_from, helo):
    import dkim
    import dns.name
    import dns.resolver
    import spf
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = ["127.0.0.1"]
    r.port = int(port)
    r.timeout = r.lifetime = 3.0
    r.domain = dns.name.root
    r.search = []
    dns.resolver.default_resolver = r
    result, _ = spf.check2(i=ip, s=mail_from, h=helo, querytime=20)
    print("spf=%s" % result)

    def txt(name, timeout=5):
        try:
            answer = r.resolve(name.decode().rstrip("."), "TXT")
        except Exception:
            return None
        return b"".join(answer[0].strings)

    msg = open(path, "rb").read()
    d = dkim.DKIM(msg)
    sigs = [v for k, v in d.headers if k.lower() == b"dkim-signature"]
    for i, sig in enumerate(sigs):
        tags = dict(t.strip().split(b"=", 1) for t in sig.split(b";") if b"=" in t)
        try:
            ok = d.verify(idx=i, dnsfunc=txt)
        except dkim.DKIMException:  # dkimpy raises for some failures (body hash mismatch)
            ok = False
        print("dkim=%s d=%s" % ("pass" if ok else "fail", tags.get(b"d", b"").decode()))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"sign": sign, "send": send, "reference": reference}[cmd](*args)
