#!/usr/bin/python3
"""Writes the DKIM corpus: NN-short-name.eml files, byte-exact, CRLF line endings.

Run from anywhere:  /usr/bin/python3 tests/data/dkim-corpus/make_corpus.py [--check]

The .eml files are committed outputs of this script. Every message is spelled out here as
bytes so CRLFs, trailing whitespace, tabs and 8-bit octets are exact and reviewable; the
only generated content (the 300 KB body, the attachment) comes from a fixed-seed LCG so the
output is identical on every Python version. --check regenerates into memory and exits 1 if
any committed file differs (or is missing, or an extra .eml exists).

Each message is one a real relay would accept: an RFC 5322 header section with From:
someone@example.test (the signing domain), Date, Message-ID, To and Subject in some form,
then the body. Nothing here is dot-stuffed: these are messages, not SMTP DATA streams.
What each message exercises is listed in README.md (keep the two in step; --check verifies
that every file is mentioned there).
"""
import base64
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CRLF = b"\r\n"


def lcg_bytes(seed, n):
    """n pseudo-random octets from a 64-bit LCG (Knuth MMIX constants); deterministic."""
    out = bytearray()
    x = seed
    while len(out) < n:
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        out += (x >> 24).to_bytes(5, "big")
    return bytes(out[:n])


def b(s):
    return s.encode("utf-8") if isinstance(s, str) else s


def message(headers, body):
    """headers: list of physical header lines (str or bytes, without CRLF; a continuation
    line starts with SP or HTAB). body: raw octets after the empty line, CRLFs included."""
    return CRLF.join(b(h) for h in headers) + CRLF + CRLF + b(body)


def lines(*ls):
    """Body made of lines, each terminated by CRLF."""
    return b"".join(b(x) + CRLF for x in ls)


def std(n, subject, to="Bob Example <bob@example.net>", extra=(), mime=True,
        ctype="text/plain; charset=us-ascii"):
    h = [
        "From: Alice Example <alice@example.test>",
        "To: " + to,
        "Subject: " + subject,
        "Date: Tue, 14 Nov 2023 22:13:%02d +0000" % n,
        "Message-ID: <corpus-%02d@example.test>" % n,
    ]
    if mime:
        h += ["MIME-Version: 1.0", "Content-Type: " + ctype]
    return h + list(extra)


TEXT = lines(
    "Hello Bob,",
    "",
    "This is a short message from the Signpost DKIM corpus.",
    "",
    "-- ",
    "Alice",
)

LOREM = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
         "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
         "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat").split()


def large_body(target):
    """~target octets of text lines of varying length, some with tabs, runs of spaces and
    trailing whitespace, deterministically."""
    rnd = lcg_bytes(0x5119_2023, target // 2)
    out = bytearray()
    i = 0
    lineno = 0
    while len(out) < target:
        n = 3 + rnd[i % len(rnd)] % 14
        words = [LOREM[rnd[(i + k) % len(rnd)] % len(LOREM)] for k in range(n)]
        i += n + 1
        lineno += 1
        sep = [b" ", b" ", b" ", b"  ", b"\t", b" \t "][rnd[i % len(rnd)] % 6]
        line = sep.join(w.encode() for w in words)
        if lineno % 17 == 0:
            line += b"   "            # trailing spaces
        if lineno % 29 == 0:
            line = b"\t" + line + b"\t"
        if lineno % 41 == 0:
            line = b""                 # paragraph break
        out += b"%06d " % lineno + line + CRLF if line else CRLF
    return bytes(out)


def b64_lines(data, width=76):
    enc = base64.b64encode(data)
    return b"".join(enc[k:k + width] + CRLF for k in range(0, len(enc), width))


def qp_html():
    return lines(
        "<!DOCTYPE html>",
        "<html><head><meta http-equiv=3D\"Content-Type\" content=3D\"text/html; charset=3Du=",
        "tf-8\"></head>",
        "<body><p>Caf=C3=A9 cr=C3=A8me br=C3=BBl=C3=A9e, served at 20=E2=82=AC.=20",
        "This paragraph is long enough that quoted-printable had to break it with a so=",
        "ft line break in the middle of a word.</p>=09",
        "<p>Trailing space encoded:=20</p>",
        "</body></html>",
    )


def build():
    m = {}

    m["01-plain-minimal"] = message(std(1, "Plain ASCII message"), TEXT)

    m["02-folded-subject"] = message(
        ["From: Alice Example <alice@example.test>",
         "To: Bob Example <bob@example.net>",
         "Subject: This subject is long enough that the mail client folded it",
         " over several physical lines, once with a space,",
         "\tonce with a tab, and once with",
         "   three spaces of indentation",
         "Date: Tue, 14 Nov 2023 22:13:02 +0000",
         "Message-ID: <corpus-02@example.test>",
         "MIME-Version: 1.0",
         "Content-Type: text/plain; charset=us-ascii"],
        TEXT)

    rcpts = ["user%02d <user%02d@example.net>" % (k, k) for k in range(1, 31)]
    to_lines = ["To: " + rcpts[0] + ","]
    for k in range(1, 30, 3):
        to_lines.append("    " + ", ".join(rcpts[k:k + 3]) + ("," if k + 3 < 30 else ""))
    m["03-to-many-addresses"] = message(
        ["From: Alice Example <alice@example.test>"] + to_lines +
        ["Cc: carol@example.org, dave@example.org,",
         "\terin@example.org",
         "Subject: Thirty recipients in a folded To",
         "Date: Tue, 14 Nov 2023 22:13:03 +0000",
         "Message-ID: <corpus-03@example.test>",
         "MIME-Version: 1.0",
         "Content-Type: text/plain; charset=us-ascii"],
        TEXT)

    m["04-tabs-in-header-and-body"] = message(
        ["From:\tAlice Example <alice@example.test>",
         "To: Bob\tExample <bob@example.net>",
         "Subject:\tTabbed\tsubject\twith\t\ttwo tabs",
         "Date: Tue, 14 Nov 2023 22:13:04 +0000",
         "Message-ID: <corpus-04@example.test>",
         "X-Tabbed:\t\tvalue\tafter two tabs",
         "MIME-Version: 1.0",
         "Content-Type: text/plain; charset=us-ascii"],
        lines("name\tqty\tprice",
              "apple\t3\t1.20",
              "\tindented with a tab",
              "\t\ttwo tabs",
              "tab at end\t",
              "mixed \t \t runs"))

    m["05-trailing-ws-headers"] = message(
        ["From: Alice Example <alice@example.test>   ",
         "To: Bob Example <bob@example.net>\t",
         "Subject: Trailing whitespace on header lines \t ",
         "Date: Tue, 14 Nov 2023 22:13:05 +0000 ",
         "Message-ID: <corpus-05@example.test>",
         "Cc: Carol <carol@example.org>,   ",
         "  Dave <dave@example.org>\t",
         "X-Folded-Trailing: first part   ",
         "  second part\t",
         "MIME-Version: 1.0",
         "Content-Type: text/plain; charset=us-ascii  "],
        TEXT)

    m["06-trailing-ws-body"] = message(
        std(6, "Trailing whitespace on body lines"),
        lines("one trailing space ",
              "three trailing spaces   ",
              "a trailing tab\t",
              "mixed trailing \t \t",
              "",
              "clean line",
              "last line with trailing space "))

    m["07-space-before-colon"] = message(
        ["From: Alice Example <alice@example.test>",
         "To: Bob Example <bob@example.net>",
         "Subject : whitespace before the colon (RFC 5322 obs-optional)",
         "Date: Tue, 14 Nov 2023 22:13:07 +0000",
         "Message-ID: <corpus-07@example.test>",
         "X-Spaced\t: tab before the colon",
         "MIME-Version: 1.0",
         "Content-Type: text/plain; charset=us-ascii"],
        TEXT)

    m["08-empty-body"] = message(std(8, "Empty body"), b"")

    m["09-no-final-crlf"] = message(
        std(9, "Body without a final CRLF"),
        b"First line" + CRLF + b"Second line" + CRLF + b"Last line has no line break")

    m["10-many-trailing-blank-lines"] = message(
        std(10, "Twenty empty lines at the end"), TEXT + CRLF * 20)

    m["11-trailing-whitespace-only-lines"] = message(
        std(11, "Whitespace-only lines at the end"),
        TEXT + b" " + CRLF + b"\t" + CRLF + CRLF + b"   \t  " + CRLF + b"  " + CRLF)

    m["12-utf8-raw-headers"] = message(
        ["From: Zoë Ångström <alice@example.test>",
         "To: Björk Guðmundsdóttir <bjork@example.net>, 李雷 <li@example.net>",
         "Subject: Grüße aus Köln — 東京からこんにちは — Привет 👋",
         "Date: Tue, 14 Nov 2023 22:13:12 +0000",
         "Message-ID: <corpus-12@example.test>",
         "X-Note: raw UTF-8 header values as with SMTPUTF8 (RFC 6532)",
         "MIME-Version: 1.0",
         "Content-Type: text/plain; charset=utf-8",
         "Content-Transfer-Encoding: 8bit"],
        lines("Grüße, Zoë.", "Ça va? ½ ≠ ⅓."))

    m["13-utf8-8bit-body"] = message(
        std(13, "8-bit UTF-8 body", ctype="text/plain; charset=utf-8",
            extra=["Content-Transfer-Encoding: 8bit"]),
        lines("Deutsch: Größe, Übermaß, Straße.",
              "Français: où est la bibliothèque ? « Très bien ».",
              "Ελληνικά: Καλημέρα κόσμε.",
              "Русский: Съешь же ещё этих мягких французских булок.",
              "日本語: いろはにほへと ちりぬるを",
              "العربية: مرحبا بالعالم",
              "Emoji: 📬 ✉️ 🔏",
              "Combining: e\u0301 a\u0308 n\u0303 ; NBSP:\u00a0here; zero-width:\u200bhere",
              "\u3000ideographic space at start, em space\u2003in the middle"))

    m["14-rfc2047-encoded-words"] = message(
        ["From: =?UTF-8?Q?Zo=C3=AB_=C3=85ngstr=C3=B6m?= <alice@example.test>",
         "To: =?ISO-8859-1?Q?Bj=F6rk?= <bjork@example.net>",
         "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4g4oCUIOadseS6rOOBi+OCiQ==?=",
         " =?UTF-8?B?44GT44KT44Gr44Gh44Gv?= and plain words",
         "\t=?iso-8859-1?q?caf=E9?=",
         "Date: Tue, 14 Nov 2023 22:13:14 +0000",
         "Message-ID: <corpus-14@example.test>",
         "MIME-Version: 1.0",
         "Content-Type: text/plain; charset=utf-8",
         "Content-Transfer-Encoding: quoted-printable"],
        lines("Gr=C3=BC=C3=9Fe aus K=C3=B6ln.",
              "A soft line break follows here =",
              "and this continues the same logical line."))

    m["15-multipart-alternative"] = message(
        std(15, "multipart/alternative",
            ctype='multipart/alternative; boundary="=_alt_15"'),
        lines("This is a multi-part message in MIME format.",
              "",
              "--=_alt_15",
              "Content-Type: text/plain; charset=utf-8",
              "Content-Transfer-Encoding: quoted-printable",
              "",
              "Caf=C3=A9 cr=C3=A8me br=C3=BBl=C3=A9e, served at 20=E2=82=AC.",
              "",
              "--=_alt_15",
              "Content-Type: text/html; charset=utf-8",
              "Content-Transfer-Encoding: quoted-printable",
              "") + qp_html() + lines("", "--=_alt_15--", ""))

    attachment = lcg_bytes(16, 6000)
    m["16-multipart-mixed-base64"] = message(
        std(16, "Report with a binary attachment",
            ctype='multipart/mixed;\r\n boundary="----=_Part_16_0123456789.1700000000"'),
        lines("------=_Part_16_0123456789.1700000000",
              "Content-Type: text/plain; charset=us-ascii",
              "Content-Transfer-Encoding: 7bit",
              "",
              "The report is attached.",
              "",
              "------=_Part_16_0123456789.1700000000",
              "Content-Type: application/octet-stream; name=\"report.bin\"",
              "Content-Transfer-Encoding: base64",
              "Content-Disposition: attachment;",
              "\tfilename=\"report.bin\"",
              "") + b64_lines(attachment) +
        lines("", "------=_Part_16_0123456789.1700000000--"))

    long_line = ("0123456789" * 99)[:990]
    m["17-long-body-line-990"] = message(
        std(17, "A 990-octet body line"),
        lines("The next line is 990 octets long (RFC 5321 allows 998 plus CRLF).",
              long_line,
              "And a 998-octet one:",
              ("abcdefghij" * 100)[:998],
              "end"))

    refs = ["<thread-%03d.%d@lists.example.org>" % (k, 1700000000 + k * 37) for k in range(40)]
    ref_lines = ["References: " + refs[0]] + [" " + r for r in refs[1:]]
    m["18-long-header-folded"] = message(
        std(18, "Reply deep in a thread", mime=False) + ref_lines +
        ["In-Reply-To: " + refs[-1],
         "X-Long-Folded: " + "word " * 12,
         "\t" + "more " * 14,
         "\t" + "and " * 15,
         "\t" + "even more words " * 4,
         "\t" + "last"],
        TEXT)

    m["19-duplicate-headers"] = message(
        ["Received: from nas.home.example.test (nas.home [192.0.2.10])",
         "\tby mail.example.test with ESMTPSA id 4SVx7h",
         "\tfor <bob@example.net>; Tue, 14 Nov 2023 22:13:19 +0000",
         "Received: from [192.0.2.55] by nas.home.example.test; Tue, 14 Nov 2023 22:13:18 +0000",
         "From: Alice Example <alice@example.test>",
         "To: Bob Example <bob@example.net>",
         "Comments: first comment",
         "X-Foo: one",
         "Subject: Duplicated header fields",
         "X-Foo: two",
         "Comments: second comment",
         "Date: Tue, 14 Nov 2023 22:13:19 +0000",
         "X-Foo: three",
         "Message-ID: <corpus-19@example.test>",
         "Keywords: alpha, beta",
         "Keywords: gamma"],
        TEXT)

    m["20-mixed-case-names"] = message(
        ["FROM: Alice Example <alice@example.test>",
         "tO: Bob Example <bob@example.net>",
         "subJect: Header names in odd case",
         "DATE: Tue, 14 Nov 2023 22:13:20 +0000",
         "message-id: <corpus-20@example.test>",
         "Mime-Version: 1.0",
         "CONTENT-TYPE: text/plain; charset=us-ascii",
         "x-MiXeD-CaSe: value"],
        TEXT)

    m["21-empty-header-value"] = message(
        ["From: Alice Example <alice@example.test>",
         "To: Bob Example <bob@example.net>",
         "Subject:",
         "Date: Tue, 14 Nov 2023 22:13:21 +0000",
         "Message-ID: <corpus-21@example.test>",
         "MIME-Version: 1.0",
         "Content-Type: text/plain; charset=us-ascii",
         "X-Empty:", "X-Empty-Space: ", "Keywords:", "X-After-Empty: still here"],
        TEXT)

    m["22-whitespace-only-continuation"] = message(
        ["From: Alice Example <alice@example.test>",
         "To: Bob Example <bob@example.net>,",
         "  ",
         "\tCarol <carol@example.org>",
         "Subject:",
         " ",
         "Date: Tue, 14 Nov 2023 22:13:22 +0000",
         "Message-ID: <corpus-22@example.test>",
         "X-Blank-Fold:",
         " ",
         "X-Blank-Fold-Tab: value",
         "\t",
         "MIME-Version: 1.0",
         "Content-Type: text/plain; charset=us-ascii"],
        TEXT)

    m["23-sender-and-list-id"] = message(
        std(23, "[signpost-users] Weekly digest",
            to="signpost-users@lists.example.test") +
        ["Sender: signpost-users-bounces@example.test",
         "Reply-To: signpost-users@lists.example.test",
         "List-Id: Signpost users <signpost-users.lists.example.test>",
         "List-Unsubscribe: <mailto:signpost-users-leave@lists.example.test>,",
         " <https://lists.example.test/unsubscribe/signpost-users>",
         "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
         "List-Post: <mailto:signpost-users@lists.example.test>",
         "Precedence: list"],
        TEXT)

    m["24-dot-leading-lines"] = message(
        std(24, "Lines starting with dots"),
        lines("A line follows that is a single dot:",
              ".",
              "..two dots",
              ". dot space",
              "...",
              ".",
              "end"))

    m["25-large-body-300k"] = message(
        std(25, "A 300 KB body"), large_body(300 * 1024))

    m["26-mixed-wsp-runs"] = message(
        ["From: Alice  Example \t <alice@example.test>",
         "To:  Bob \t\t Example   <bob@example.net>",
         "Subject: runs \t of   mixed\t \twhitespace",
         "Date: Tue, 14 Nov 2023 22:13:26 +0000",
         "Message-ID: <corpus-26@example.test>",
         "MIME-Version: 1.0",
         "Content-Type: text/plain; charset=us-ascii"],
        lines("a  b   c    d",
              "a\tb\t\tc",
              "a \t b\t \tc",
              "  leading spaces kept",
              "\t \tleading mixed",
              "inner   run   and trailing \t"))

    m["27-whitespace-only-body"] = message(
        std(27, "Body of whitespace-only lines"),
        b" " + CRLF + b"\t" + CRLF + b"  \t  " + CRLF + b"   " + CRLF)

    m["28-crlf-only-body"] = message(std(28, "Body is a single CRLF"), CRLF)

    m["29-blank-lines-only-body"] = message(std(29, "Body of five empty lines"), CRLF * 5)

    m["30-latin1-8bit-body"] = message(
        std(30, "ISO-8859-1 body, not UTF-8", ctype="text/plain; charset=iso-8859-1",
            extra=["Content-Transfer-Encoding: 8bit"]),
        b"Gr\xfc\xdfe aus K\xf6ln, \xe7a co\xfbte 20\xa4." + CRLF +
        b"Every high octet:" + CRLF +
        b"".join(bytes(range(lo, lo + 32)) + CRLF for lo in range(0x80, 0x100, 32)) +
        b"\xa0non-breaking space first, soft\xadhyphen" + CRLF)

    inner = message(
        ["DKIM-Signature: v=1; a=rsa-sha256; d=other.example; s=old; c=relaxed/relaxed;",
         "\th=from:to:subject; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA",
         "From: Old Sender <old@other.example>",
         "To: alice@example.test",
         "Subject: the original",
         "Date: Mon, 13 Nov 2023 08:00:00 +0000",
         "Message-ID: <orig@other.example>"],
        lines("Original text. Its DKIM-Signature line above is body text, not a header."))
    m["31-forwarded-rfc822"] = message(
        std(31, "Fwd: the original", ctype='multipart/mixed; boundary="fwd31"'),
        lines("--fwd31",
              "Content-Type: text/plain; charset=us-ascii",
              "",
              "Forwarding the message below.",
              "",
              "--fwd31",
              "Content-Type: message/rfc822",
              "Content-Disposition: inline",
              "") + inner + lines("", "--fwd31--"))

    m["32-reply-with-references"] = message(
        ["From: Alice Example <alice@example.test>",
         "To: Bob Example <bob@example.net>",
         "Cc: Carol <carol@example.org>",
         "Reply-To: Alice at home <alice+home@example.test>",
         "Subject: Re: Re: lunch?",
         "Date: Tue, 14 Nov 2023 22:13:32 +0000",
         "Message-ID: <corpus-32@example.test>",
         "In-Reply-To: <b0b-2@example.net>",
         "References: <a11ce-1@example.test>",
         "\t<b0b-2@example.net>",
         "MIME-Version: 1.0",
         "Content-Type: text/plain; charset=us-ascii; format=flowed",
         "Content-Transfer-Encoding: 7bit"],
        lines("Sure, noon works. ",
              "",
              "On 14/11/2023 21:00, Bob wrote:",
              "> Lunch tomorrow? ",
              ">> nested quote",
              "> "))

    m["33-no-space-after-colon"] = message(
        ["From:Alice Example <alice@example.test>",
         "To:<bob@example.net>",
         "Subject:no space after the colon",
         "Date:Tue, 14 Nov 2023 22:13:33 +0000",
         "Message-ID:<corpus-33@example.test>",
         "MIME-Version:1.0",
         "Content-Type:text/plain; charset=us-ascii"],
        TEXT)

    m["34-many-spaces-after-colon"] = message(
        ["From:    Alice Example <alice@example.test>",
         "To:  Bob Example <bob@example.net>",
         "Subject:     four spaces after the colon",
         "Date: \tTue, 14 Nov 2023 22:13:34 +0000",
         "Message-ID: <corpus-34@example.test>",
         "X-Tab-Lead:\tvalue after a tab",
         "MIME-Version: 1.0",
         "Content-Type: text/plain; charset=us-ascii"],
        TEXT)

    m["35-value-starts-on-next-line"] = message(
        ["From: Alice Example <alice@example.test>",
         "To:",
         " Bob Example <bob@example.net>",
         "Subject:",
         "\tthe value starts on the continuation line",
         "Date: Tue, 14 Nov 2023 22:13:35 +0000",
         "Message-ID:",
         " <corpus-35@example.test>",
         "MIME-Version: 1.0",
         "Content-Type: text/plain; charset=us-ascii"],
        TEXT)

    m["36-long-unfolded-header"] = message(
        std(36, "A 980-octet header line without folding") +
        ["X-Unfolded: " + "".join("token-%04d;" % k for k in range(88))],
        TEXT)

    m["37-html-quoted-printable"] = message(
        std(37, "HTML only, quoted-printable", ctype="text/html; charset=utf-8",
            extra=["Content-Transfer-Encoding: quoted-printable"]),
        qp_html())

    m["38-odd-field-names"] = message(
        std(38, "Unusual but legal field names") +
        ["X-Weird_Name.1: underscores and dots",
         "X-!#$%&'*+-/=?^`{|}~: every ftext punctuation character",
         "x: a one-letter name",
         "X-Trailing-Colon-Value: a:b::c:"],
        TEXT)

    m["39-nested-multipart"] = message(
        std(39, "Nested multipart with inline image",
            ctype='multipart/mixed; boundary="outer39"'),
        lines("--outer39",
              'Content-Type: multipart/related; boundary="rel39"',
              "",
              "--rel39",
              'Content-Type: multipart/alternative; boundary="alt39"',
              "",
              "--alt39",
              "Content-Type: text/plain; charset=us-ascii",
              "",
              "See the picture.",
              "--alt39",
              "Content-Type: text/html; charset=us-ascii",
              "",
              '<p>See the picture: <img src="cid:pic39@example.test"></p>',
              "--alt39--",
              "",
              "--rel39",
              "Content-Type: image/png",
              "Content-Transfer-Encoding: base64",
              "Content-ID: <pic39@example.test>",
              "") + b64_lines(b"\x89PNG\r\n\x1a\n" + lcg_bytes(39, 700)) +
        lines("--rel39--",
              "",
              "--outer39",
              "Content-Type: text/csv; charset=us-ascii; name=\"data.csv\"",
              "Content-Disposition: attachment; filename=\"data.csv\"",
              "",
              "a,b,c",
              "1,2,3",
              "--outer39--"))

    m["40-header-only-crlf-ends"] = message(
        std(40, "Body is a single line, no empty lines", mime=False), lines("one line"))

    m["41-trace-and-resent"] = message(
        ["Return-Path: <alice@example.test>",
         "Received: by nas.home.example.test (Postfix, from userid 1000)",
         "\tid 4SVx7h0001; Tue, 14 Nov 2023 22:13:41 +0000 (UTC)",
         "Resent-From: Alice Example <alice@example.test>",
         "Resent-To: Dave <dave@example.org>",
         "Resent-Date: Tue, 14 Nov 2023 22:13:41 +0000",
         "Resent-Message-ID: <resent-41@example.test>",
         "From: Alice Example <alice@example.test>",
         "To: Bob Example <bob@example.net>",
         "Subject: Resent with trace fields on top",
         "Date: Tue, 14 Nov 2023 20:00:00 +0000",
         "Message-ID: <corpus-41@example.test>",
         "Auto-Submitted: auto-generated",
         "X-Mailer: Synology MailPlus 3.1"],
        TEXT)

    m["42-body-blank-line-first"] = message(
        std(42, "Body starting with empty and whitespace lines"),
        CRLF + b"   " + CRLF + CRLF + b"text after two blank lines" + CRLF + b"  " + CRLF)

    return m


def readme_mentions():
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        return f.read()


def main():
    check = "--check" in sys.argv[1:]
    msgs = build()
    bad = []
    for name, data in sorted(msgs.items()):
        path = os.path.join(HERE, name + ".eml")
        assert b"\n" not in data.replace(CRLF, b""), name + ": bare LF"
        assert b"\r" not in data.replace(CRLF, b""), name + ": bare CR"
        if check:
            try:
                with open(path, "rb") as f:
                    if f.read() != data:
                        bad.append(name + ".eml differs")
            except FileNotFoundError:
                bad.append(name + ".eml missing")
        else:
            with open(path, "wb") as f:
                f.write(data)
    existing = {f[:-4] for f in os.listdir(HERE) if f.endswith(".eml")}
    for extra in sorted(existing - set(msgs)):
        bad.append(extra + ".eml is not produced by make_corpus.py")
    try:
        readme = readme_mentions()
        for name in msgs:
            if name + ".eml" not in readme:
                bad.append(name + ".eml not described in README.md")
    except FileNotFoundError:
        bad.append("README.md missing")
    for line in bad:
        sys.stderr.write("make_corpus: %s\n" % line)
    if not check:
        print("wrote %d messages to %s" % (len(msgs), HERE))
    return 1 if (check and bad) else 0


if __name__ == "__main__":
    sys.exit(main())
