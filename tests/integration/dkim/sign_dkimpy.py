#!/usr/bin/python3
"""Reference signer for the DKIM corpus harness: dkimpy behind the `signpost dkim sign` CLI.

Usage (same flags as `signpost dkim sign`; message on stdin, signed message on stdout):

    /usr/bin/python3 sign_dkimpy.py --domain example.test --selector rsa2048 \
        --key keys/rsa2048.pem --canon relaxed/simple --timestamp 1700000000 < msg > signed

It exists so the harness (run_corpus.sh) can be proven end to end before Signpost's own
signer exists, and so a divergence can be bisected: "does dkimpy-as-signer show it too?".

Choices, all deliberate:
- The algorithm follows the key: an RSA PKCS#8 PEM signs rsa-sha256, an Ed25519 PKCS#8 PEM
  signs ed25519-sha256 (RFC 8463). dkimpy wants the raw 32-byte Ed25519 seed in base64, so it
  is cut out of the PKCS#8 DER here.
- h= follows Signpost's own header selection (signer/sign.hpp, default_signed_headers()
  and oversigned_headers()): each default name present is listed once per instance, and
  each over-signed name once more than it occurs, even when absent (RFC 6376 §5.4.2,
  §8.15). Same h= as Signpost means the same fields reach the verifiers' canonicalization,
  so known-divergences.txt holds for both signers. Keep the two lists in step with
  signer/sign.hpp; --all-headers signs every field except trace and signature fields
  instead (for exploring verifier behaviour on the odd X- fields of the corpus).
- The header section is split here, not by dkimpy: dkimpy's parser refuses a field name
  followed by whitespace before the colon ("Subject : x", RFC 5322 §4.5.3 obs-optional)
  even though RFC 6376 §3.4.2 says how to canonicalize it. The field name is kept byte-exact
  for "simple" and matched case-insensitively without the trailing WSP.
- t= comes from --timestamp (dkimpy reads time.time(), which is pinned here), so the output
  is reproducible byte for byte for RSA (PKCS#1 v1.5) and Ed25519 alike.

Exit status: 0 on success, 2 on bad usage or key, 1 if dkimpy refuses the message.
"""
import argparse
import base64
import re
import sys
import time

try:
    import dkim
except ImportError as e:  # a missing peer is a failure, never a skip
    sys.stderr.write("sign_dkimpy: cannot import dkim (%s); run with /usr/bin/python3\n" % e)
    sys.exit(2)

# DER prefix of a PKCS#8 OneAsymmetricKey holding an Ed25519 private key (RFC 8410 §7):
# SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }
ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
# The same structure for rsaEncryption starts with this AlgorithmIdentifier.
RSA_OID = bytes.fromhex("06092a864886f70d010101")

# signer/sign.hpp: default_signed_headers() and oversigned_headers().
DEFAULT_SIGNED = [
    b"from", b"sender", b"reply-to", b"subject", b"date", b"message-id", b"to", b"cc",
    b"mime-version", b"content-type", b"content-transfer-encoding", b"content-disposition",
    b"in-reply-to", b"references", b"list-id", b"list-help", b"list-unsubscribe",
    b"list-subscribe", b"list-post", b"list-owner", b"list-archive", b"list-unsubscribe-post",
]
OVERSIGNED = {
    b"from", b"to", b"cc", b"subject", b"date", b"reply-to", b"message-id", b"mime-version",
    b"content-type", b"content-transfer-encoding", b"in-reply-to", b"references",
}
# With --all-headers: every field but these.
NOT_SIGNED = {b"return-path", b"received", b"dkim-signature", b"authentication-results",
              b"arc-seal", b"arc-message-signature", b"arc-authentication-results"}


def select_headers(headers, all_headers):
    names = [bytes(name.lower()) for name, _ in headers]
    if all_headers:
        return [n for n in names if n not in NOT_SIGNED] + [b"from"]
    h = []
    for n in DEFAULT_SIGNED:
        count = names.count(n)
        h += [n] * (count + (1 if n in OVERSIGNED else 0))
    return h


class FieldName(bytes):
    """A header field name as it appears on the wire (possibly "Subject " with WSP before
    the colon). Hashing uses the exact bytes (simple canonicalization); dkimpy's matching
    against h= and its relaxed canonicalization call .lower(), which drops that WSP."""

    def lower(self):
        return bytes(self).lower().rstrip(b" \t")


def split_message(msg):
    """Return (headers, body) in dkimpy's internal shape: [name, value] pairs where value
    is everything after the colon including continuation lines and the final CRLF, and the
    body is every octet after the empty line that ends the header section."""
    if msg.startswith(b"\r\n"):
        head, body = b"", msg[2:]
    else:
        end = msg.find(b"\r\n\r\n")
        if end < 0:
            head, body = msg, b""
        else:
            head, body = msg[:end + 2], msg[end + 4:]
    headers = []
    for line in re.findall(b"[^\r\n]*\r\n|[^\r\n]+$", head):
        if not line.endswith(b"\r\n"):
            line += b"\r\n"
        if line[:1] in (b" ", b"\t"):
            if not headers:
                raise ValueError("continuation line before any header field")
            headers[-1][1] += line
            continue
        colon = line.find(b":")
        if colon <= 0:
            raise ValueError("header line without a colon: %r" % line[:60])
        headers.append([FieldName(line[:colon]), line[colon + 1:]])
    return headers, body


def load_key(path):
    with open(path, "rb") as f:
        pem = f.read()
    m = re.search(rb"-----BEGIN PRIVATE KEY-----(.*?)-----END PRIVATE KEY-----", pem, re.S)
    if not m:
        raise ValueError("%s: not a PKCS#8 PEM private key" % path)
    der = base64.b64decode(b"".join(m.group(1).split()))
    if der.startswith(ED25519_PKCS8_PREFIX) and len(der) == len(ED25519_PKCS8_PREFIX) + 32:
        return b"ed25519-sha256", base64.b64encode(der[-32:])
    if RSA_OID in der[:32]:
        return b"rsa-sha256", pem
    raise ValueError("%s: neither an RSA nor an Ed25519 PKCS#8 key" % path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--domain", required=True)
    ap.add_argument("--selector", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--canon", default="relaxed/relaxed",
                    choices=["relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed"])
    ap.add_argument("--timestamp", type=int, required=True)
    ap.add_argument("--all-headers", action="store_true",
                    help="sign every field except trace/signature fields (not Signpost's set)")
    args = ap.parse_args()

    try:
        algorithm, key = load_key(args.key)
    except (OSError, ValueError) as e:
        sys.stderr.write("sign_dkimpy: %s\n" % e)
        return 2

    msg = sys.stdin.buffer.read()
    try:
        headers, body = split_message(msg)
    except ValueError as e:
        sys.stderr.write("sign_dkimpy: %s\n" % e)
        return 1

    include = select_headers(headers, args.all_headers)
    if b"from" not in [bytes(n.lower()) for n, _ in headers]:
        sys.stderr.write("sign_dkimpy: the message has no From field (RFC 6376 §5.4)\n")
        return 1

    d = dkim.DKIM(None, signature_algorithm=algorithm)
    d.headers, d.body = headers, body
    d.should_not_sign = set()  # h= is chosen above; dkimpy's advisory list would refuse To etc.
    ts = float(args.timestamp)
    time.time = lambda: ts  # dkimpy takes t= from time.time()
    header_canon, body_canon = args.canon.encode().split(b"/")
    try:
        sig = d.sign(args.selector.encode(), args.domain.encode(), key,
                     signature_algorithm=algorithm, canonicalize=(header_canon, body_canon),
                     include_headers=include)
    except dkim.DKIMException as e:
        sys.stderr.write("sign_dkimpy: dkimpy refused: %s\n" % e)
        return 1
    out = sys.stdout.buffer
    out.write(sig)
    out.write(msg)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
