// tests/unit/signer/stream_verify_test.cpp — StreamVerifier (signer/verify.hpp) gives
// verify()'s results whatever the chunking. Every message that verify_test.cpp and
// sign_test.cpp verify is also checked both ways (signer_test::verify_both, chunks of 1, 2,
// 7, 64, 4096 octets and whole); this file adds the RFC 8463 vector, several signatures with
// different c= and l= over one body, bodies split at every point (inside CRLFs, WSP runs,
// trailing empty lines), a large body, keys_needed(), header errors and misuse.
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "signer/canon.hpp"
#include "signer/header.hpp"
#include "signer/sign.hpp"
#include "signer/verify.hpp"
#include "test_support.hpp"

namespace {

using namespace signpost::signer;
using namespace std::chrono_literals;
using signer_test::fixed_now;
using signer_test::key;
using signer_test::verify_both;
using Keys = std::vector<std::pair<std::string, std::string>>;

constexpr Canonicalization kSimple = Canonicalization::simple;
constexpr Canonicalization kRelaxed = Canonicalization::relaxed;

const std::string kHeader =
    "From: Alice <alice@example.com>\r\n"
    "To: Bob <bob@example.org>\r\n"
    "Subject: hello\r\n";

std::map<std::string, std::string> records() {
    return {{"ed/example.com", key("ed25519.pem").dns_record()},
            {"rsa/example.com", key("rsa-2048.pem").dns_record()}};
}

struct Sig {
    std::string selector;  // "ed" or "rsa"
    std::string c;         // c= value, "" for none
    Canonicalization body_canon = kSimple;
    std::optional<std::uint64_t> l;
};

// A DKIM-Signature field (with CRLF) for `s` over kHeader, with bh= of `body`.
std::string signature_field(const Sig& s, const std::string& body) {
    const bool ed = s.selector == "ed";
    std::string tags = std::string("v=1; a=") + (ed ? "ed25519-sha256" : "rsa-sha256") +
                       "; d=example.com; s=" + s.selector + "; h=from:to:subject;";
    if (!s.c.empty()) tags += " c=" + s.c + ";";
    if (s.l) tags += " l=" + std::to_string(*s.l) + ";";
    tags += " bh=" + hash_body(body, s.body_canon, s.l).base64() + ";";
    const std::string field = "DKIM-Signature: " + tags + " b=";
    auto b = sign_signature_header(key(ed ? "ed25519.pem" : "rsa-2048.pem"), kHeader, field);
    EXPECT_TRUE(b) << tags << ": " << b.error().message();
    return field + (b ? *b : "") + "\r\n";
}

std::string signed_message(const std::vector<Sig>& sigs, const std::string& body) {
    std::string fields;
    for (const auto& s : sigs) fields += signature_field(s, body);
    return fields + kHeader + "\r\n" + body;
}

std::string lf_to_crlf(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

TEST(StreamVerifier, Rfc8463Vector) {
    const std::string message =
        lf_to_crlf(signer_test::read_test_file("dkim-vectors/rfc8463/signed.eml"));
    const std::map<std::string, std::string> recs{
        {"brisbane/football.example.com",
         trim(signer_test::read_test_file(
             "dkim-vectors/rfc8463/brisbane._domainkey.football.example.com.txt"))},
        {"test/football.example.com",
         trim(signer_test::read_test_file(
             "dkim-vectors/rfc8463/test._domainkey.football.example.com.txt"))}};
    const auto now = std::chrono::system_clock::time_point(1528637909s) + 24h * 365 * 10;
    auto r = verify_both(message, signer_test::lookup_from(recs), now);
    ASSERT_TRUE(r) << r.error().message();
    ASSERT_EQ(r->size(), 2u);
    for (const auto& s : *r) EXPECT_TRUE(s.passed()) << s.s << ": " << s.detail;
    EXPECT_EQ((*r)[0].key_bits, 256u);
    EXPECT_EQ((*r)[1].key_bits, 1024u);

    StreamVerifier v(std::string(split_message(message).header));
    EXPECT_EQ(v.keys_needed(),
              (Keys{{"brisbane", "football.example.com"}, {"test", "football.example.com"}}));
}

TEST(StreamVerifier, SignaturesWithDifferentCanonicalizationsAndLengths) {
    const std::string body = "Hello  Bob.\r\n\tSecond line \r\n\r\n\r\n";
    const std::vector<Sig> sigs = {
        {"ed", "relaxed/relaxed", kRelaxed, std::nullopt},
        {"rsa", "relaxed/simple", kSimple, std::nullopt},
        {"ed", "simple/relaxed", kRelaxed, 10},  // l= inside the first line
        {"rsa", "", kSimple, canonicalize_body(body, kSimple).size()},  // c= absent, l= all
        {"ed", "simple", kSimple, std::nullopt},  // "simple" = simple/simple: shares a hash
        {"rsa", "relaxed", kSimple, std::nullopt},  // relaxed/simple: shares a hash
    };
    const auto lookup = signer_test::lookup_from(records());

    auto ok = verify_both(signed_message(sigs, body), lookup, fixed_now());
    ASSERT_TRUE(ok);
    ASSERT_EQ(ok->size(), sigs.size());
    for (const auto& r : *ok) EXPECT_TRUE(r.passed()) << r.s << ": " << r.detail;

    // Text appended: only the l= signatures still pass.
    const std::string appended = signed_message(sigs, body) + "P.S. appended\r\n";
    auto app = verify_both(appended, lookup, fixed_now());
    ASSERT_TRUE(app);
    ASSERT_EQ(app->size(), sigs.size());
    for (std::size_t i = 0; i < sigs.size(); ++i) {
        EXPECT_EQ((*app)[i].reason,
                  sigs[i].l ? FailReason::none : FailReason::body_hash_mismatch)
            << i << ": " << (*app)[i].detail;
    }

    // Body shorter than the l= values: body_length_exceeded; the rest mismatch.
    std::string shorter = signed_message(sigs, body);
    shorter.resize(shorter.size() - body.size());
    shorter += "Hi\r\n";
    auto sh = verify_both(shorter, lookup, fixed_now());
    ASSERT_TRUE(sh);
    ASSERT_EQ(sh->size(), sigs.size());
    for (std::size_t i = 0; i < sigs.size(); ++i) {
        EXPECT_EQ((*sh)[i].reason,
                  sigs[i].l ? FailReason::body_length_exceeded : FailReason::body_hash_mismatch)
            << i << ": " << (*sh)[i].detail;
        EXPECT_EQ((*sh)[i].status, VerifyStatus::fail) << i;
    }
}

// Every split of each body into two and three chunks, so that chunk boundaries fall inside
// every CRLF, WSP run and run of trailing empty lines. Each message carries a relaxed and a
// simple body signature; the streamed results must equal verify()'s (which pass for the
// body as signed). Also the body with empty lines or a blank line appended (which relaxed,
// and for empty lines simple too, ignore) and with a lone CR appended (which neither does).
TEST(StreamVerifier, BodySplitAnywhere) {
    const std::vector<std::string> bodies = {
        "",
        "\r\n",
        "\r\n\r\n",
        " ",
        " \r\n",
        "a",
        "a\r",
        "a\r\n",
        "a \t\r\n\r\n \r\n\t\r\n",
        "x\r\n\r\n\r\ny  \t z\r\n\r\n",
        "a\rb\nc\r\n\r\n",
        "line\r\n \r\n\r\n",
        "end with wsp \t",
        "\r\n\r\nstarts empty\r\n",
    };
    const std::vector<Sig> sigs = {{"ed", "relaxed/relaxed", kRelaxed, std::nullopt},
                                   {"ed", "relaxed/simple", kSimple, std::nullopt}};
    const auto lookup = signer_test::lookup_from(records());
    for (const std::string& signed_body : bodies) {
        std::string sig_fields;
        for (const auto& s : sigs) sig_fields += signature_field(s, signed_body);
        for (const std::string& suffix : {std::string(), std::string("\r\n\r\n"),
                                          std::string(" \r\n"), std::string("\r")}) {
            const std::string body = signed_body + suffix;
            const std::string header = sig_fields + kHeader;
            const std::string message = header + "\r\n" + body;
            const auto want = verify(message, lookup, fixed_now());
            ASSERT_TRUE(want);
            ASSERT_EQ(want->size(), 2u);
            if (suffix.empty()) {
                for (const auto& r : *want) EXPECT_TRUE(r.passed()) << r.detail;
            }
            const std::string what = "body \"" + body + "\" split at ";
            for (std::size_t p = 0; p <= body.size(); ++p) {
                for (std::size_t q = p; q <= body.size(); ++q) {
                    StreamVerifier v(header);
                    v.body(std::string_view(body).substr(0, p));
                    v.body(std::string_view(body).substr(p, q - p));
                    v.body(std::string_view(body).substr(q));
                    auto got = v.finish(lookup, fixed_now());
                    ASSERT_TRUE(got);
                    signer_test::expect_same_results(
                        *want, *got, what + std::to_string(p) + "," + std::to_string(q));
                    if (::testing::Test::HasFailure()) return;
                }
            }
        }
    }
}

TEST(StreamVerifier, LargeBody) {
    std::string body;
    for (int i = 0; body.size() < 300'000; ++i) {
        body += "line " + std::to_string(i) + (i % 3 == 0 ? " \t " : "") + "  x\r\n";
        if (i % 17 == 0) body += "\r\n\r\n";
        if (i % 29 == 0) body += " \r\n";
    }
    body += "\r\n\r\n \r\n";
    const std::vector<Sig> sigs = {{"ed", "relaxed/relaxed", kRelaxed, std::nullopt},
                                   {"rsa", "simple/simple", kSimple, std::nullopt},
                                   {"ed", "relaxed/relaxed", kRelaxed, 100'003},
                                   {"rsa", "simple/simple", kSimple, 4096}};
    auto r = verify_both(signed_message(sigs, body), signer_test::lookup_from(records()),
                         fixed_now());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), sigs.size());
    for (const auto& s : *r) EXPECT_TRUE(s.passed()) << s.s << ": " << s.detail;
}

TEST(StreamVerifier, KeysNeeded) {
    auto field = [](const std::string& tags) {
        return "DKIM-Signature: v=1; a=ed25519-sha256; h=from; bh=AAAA; " + tags + " b=AAAA\r\n";
    };
    const std::string header = field("d=example.com; s=ed;") +      // listed
                               field("s=rsa; d=example.com;") +     // listed
                               field("d=example.com; s=ed; c=x;") +  // duplicate pair
                               "DKIM-Signature: =x; s=bad; d=example.com\r\n" +  // no tag list
                               field("d=example.com;") +                     // no s=
                               field("s=ed;") +                              // no d=
                               field("d=Example.COM; s=ed;") +  // listed: octets differ
                               field("d=example.org; s=ed;") +  // listed (8th signature)
                               field("d=example.net; s=ed;") +  // 9th: not checked
                               kHeader;
    StreamVerifier v(header);
    EXPECT_EQ(v.keys_needed(), (Keys{{"ed", "example.com"},
                                     {"rsa", "example.com"},
                                     {"ed", "Example.COM"},
                                     {"ed", "example.org"}}));
    // Only the first max_signatures signatures count.
    VerifyOptions two;
    two.max_signatures = 2;
    EXPECT_EQ(StreamVerifier(header, two).keys_needed(),
              (Keys{{"ed", "example.com"}, {"rsa", "example.com"}}));
    VerifyOptions none;
    none.max_signatures = 0;
    EXPECT_TRUE(StreamVerifier(header, none).keys_needed().empty());
    // Invalid d= or s= syntax: refused before any lookup, so not listed.
    EXPECT_TRUE(StreamVerifier(field("d=exa mple.com; s=ed;") + field("d=example.com; s=e!d;") +
                               kHeader)
                    .keys_needed()
                    .empty());
    EXPECT_TRUE(StreamVerifier(kHeader).keys_needed().empty());

    // The asynchronous-DNS flow: fetch keys_needed() first, then answer from the map.
    const std::string message = signed_message(
        {{"ed", "relaxed/relaxed", kRelaxed, std::nullopt},
         {"rsa", "relaxed/simple", kSimple, std::nullopt},
         {"ed", "simple/simple", kSimple, std::nullopt}},
        "Body.\r\n");
    const auto parts = split_message(message);
    StreamVerifier s{std::string(parts.header)};
    const Keys keys = s.keys_needed();
    EXPECT_EQ(keys, (Keys{{"ed", "example.com"}, {"rsa", "example.com"}}));
    std::map<std::string, std::string> fetched;
    const auto all = records();
    for (const auto& [sel, dom] : keys) fetched[sel + "/" + dom] = all.at(sel + "/" + dom);
    s.body(parts.body);
    auto r = s.finish(signer_test::lookup_from(fetched), fixed_now());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 3u);
    for (const auto& x : *r) EXPECT_TRUE(x.passed()) << x.s << ": " << x.detail;
}

TEST(StreamVerifier, HeaderThatDoesNotParse) {
    const std::pair<std::string, Errc> cases[] = {
        {"no colon\r\n", Errc::header_no_colon},
        {std::string("From: a\0@example.com\r\n", 22), Errc::header_nul},
        {"From: a@example.com\nSubject: x\r\n", Errc::header_bare_line_ending},
        {"From: a@example.com\r\nSubject: " + std::string(1000, 'x') + "\r\n",
         Errc::header_line_too_long},
        {" folded\r\nFrom: a@example.com\r\n", Errc::header_leading_continuation},
        {"Fr\xc3\xb6m: a@example.com\r\n", Errc::header_bad_name},
        {"DKIM-Signature: v=1; d=example.com; s=ed;\r\nFrom: a@example.com",
         Errc::header_unterminated},
    };
    for (const auto& [header, want] : cases) {
        StreamVerifier v(header);
        EXPECT_TRUE(v.keys_needed().empty()) << header;
        v.body("body\r\n");  // accepted, hashed by nobody
        auto r = v.finish(signer_test::lookup_from({}), fixed_now());
        ASSERT_FALSE(r) << header;
        EXPECT_EQ(r.error(), want) << header << ": " << r.error().message();
        // verify() says the same of the whole message.
        if (want != Errc::header_unterminated) {
            auto w = verify_both(header + "\r\nbody\r\n", signer_test::lookup_from({}),
                                 fixed_now());
            ASSERT_FALSE(w) << header;
            EXPECT_EQ(w.error(), want) << header;
        }
    }
    // A message that is all header, its last line unterminated: the same error both ways.
    auto w = verify_both("From: a@example.com", signer_test::lookup_from({}), fixed_now());
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error(), Errc::header_unterminated);
}

TEST(StreamVerifier, MoveAndMisuse) {
    const std::string body = "Hello\r\n\r\n";
    const std::string message =
        signed_message({{"ed", "relaxed/relaxed", kRelaxed, std::nullopt}}, body);
    const auto parts = split_message(message);
    const auto lookup = signer_test::lookup_from(records());

    StreamVerifier a{std::string(parts.header)};
    a.body(parts.body.substr(0, 6));  // inside the CRLF
    StreamVerifier b = std::move(a);
    b.body(parts.body.substr(6));
    StreamVerifier c{std::string(kHeader)};
    c = std::move(b);
    auto r = c.finish(lookup, fixed_now());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->size(), 1u);
    EXPECT_TRUE(r->front().passed()) << r->front().detail;

    EXPECT_THROW(c.finish(lookup, fixed_now()), std::logic_error);
    EXPECT_THROW(c.body("more"), std::logic_error);
    EXPECT_EQ(c.keys_needed(), (Keys{{"ed", "example.com"}}));  // still answers
    // NOLINTNEXTLINE(bugprone-use-after-move): moved-from use is what is tested
    EXPECT_THROW(a.body("x"), std::logic_error);
    EXPECT_THROW(a.finish(lookup, fixed_now()), std::logic_error);
    EXPECT_THROW((void)a.keys_needed(), std::logic_error);

    // A header that does not parse: finish() still only once.
    StreamVerifier bad("no colon\r\n");
    EXPECT_FALSE(bad.finish(lookup, fixed_now()));
    EXPECT_THROW(bad.finish(lookup, fixed_now()), std::logic_error);
}

}  // namespace
