// tests/unit/signer/canon_test.cpp — RFC 6376 §3.4 canonicalization, table-driven.
#include "signer/canon.hpp"

#include <botan/base64.h>
#include <gtest/gtest.h>

#include <string>

#include "signer/header.hpp"

namespace {

using namespace signpost::signer;

std::string canon_field(const std::string& raw, Canonicalization c) {
    auto fields = parse_header_block(raw);
    EXPECT_TRUE(fields) << raw;
    if (!fields || fields->size() != 1) return "<parse error>";
    return canonicalize_header(fields->front(), c);
}

TEST(CanonHeader, Relaxed) {
    struct Case {
        const char* raw;
        const char* want;
    };
    const Case cases[] = {
        {"Subject: Hello\r\n", "subject:Hello\r\n"},
        {"SUBJECT:Hello\r\n", "subject:Hello\r\n"},
        {"Subject:   Hello   World  \r\n", "subject:Hello World\r\n"},
        {"Subject : Hello\r\n", "subject:Hello\r\n"},  // WSP before the colon
        {"Subject \t: \tHello\t\r\n", "subject:Hello\r\n"},
        {"Subject: a\r\n b\r\n\tc\r\n", "subject:a b c\r\n"},  // unfolded, runs collapsed
        {"Subject:\r\n Hello\r\n", "subject:Hello\r\n"},       // value starting on line 2
        {"Subject: a \r\n \r\n b\r\n", "subject:a b\r\n"},     // blank continuation
        {"Subject:\r\n", "subject:\r\n"},                      // empty value
        {"Subject:  \r\n", "subject:\r\n"},
        {"X-Utf8: caf\xc3\xa9  ol\xc3\xa9\r\n", "x-utf8:caf\xc3\xa9 ol\xc3\xa9\r\n"},
        {"To: a@b.c,\r\n\t d@e.f\r\n", "to:a@b.c, d@e.f\r\n"},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(canon_field(c.raw, Canonicalization::relaxed), c.want) << c.raw;
        // simple never changes anything.
        EXPECT_EQ(canon_field(c.raw, Canonicalization::simple), c.raw) << c.raw;
    }
}

TEST(CanonBody, Table) {
    struct Case {
        const char* body;
        const char* simple;
        const char* relaxed;
    };
    const Case cases[] = {
        {"", "\r\n", ""},
        {"\r\n", "\r\n", ""},
        {"\r\n\r\n\r\n", "\r\n", ""},
        {"a", "a\r\n", "a\r\n"},
        {"a\r\n", "a\r\n", "a\r\n"},
        {"a\r\n\r\n\r\n", "a\r\n", "a\r\n"},
        {"a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n", "a\r\n\r\nb\r\n"},
        {"a  b\t\tc\r\n", "a  b\t\tc\r\n", "a b c\r\n"},
        {"a \t \r\n", "a \t \r\n", "a\r\n"},
        {" a\r\n", " a\r\n", " a\r\n"},  // leading WSP becomes one SP
        {"\t\ta\r\n", "\t\ta\r\n", " a\r\n"},
        {" \r\n", " \r\n", ""},  // a blank line is an empty line (relaxed)
        {"a\r\n \r\n\t\r\n", "a\r\n \r\n\t\r\n", "a\r\n"},
        {" ", " \r\n", ""},  // WSP ending the body ends its line
        {"a ", "a \r\n", "a\r\n"},
        {"a\r\n ", "a\r\n \r\n", "a\r\n"},
        // A lone CR or LF is data, never a line end.
        {"a\nb\r\n", "a\nb\r\n", "a\nb\r\n"},
        {"a\rb\r\n", "a\rb\r\n", "a\rb\r\n"},
        {"a \r\n", "a \r\n", "a\r\n"},
        {"a \rb", "a \rb\r\n", "a \rb\r\n"},  // WSP before a lone CR is mid-line
        {"a\r", "a\r\r\n", "a\r\r\n"},
        {"\r", "\r\r\n", "\r\r\n"},
        {"\n", "\n\r\n", "\n\r\n"},
        {"a\r\r\n", "a\r\r\n", "a\r\r\n"},
        {"a\r\n\r", "a\r\n\r\r\n", "a\r\n\r\r\n"},
        {"\r\n\r\na", "\r\n\r\na\r\n", "\r\n\r\na\r\n"},  // leading empty lines are kept
    };
    for (const auto& c : cases) {
        EXPECT_EQ(canonicalize_body(c.body, Canonicalization::simple), c.simple)
            << "simple: " << ::testing::PrintToString(std::string(c.body));
        EXPECT_EQ(canonicalize_body(c.body, Canonicalization::relaxed), c.relaxed)
            << "relaxed: " << ::testing::PrintToString(std::string(c.body));
    }
}

TEST(CanonBody, HasherMatchesCanonicalText) {
    const std::string body = "Hello  world \r\n\r\nsecond\tline\r\n\r\n\r\n";
    for (auto c : {Canonicalization::simple, Canonicalization::relaxed}) {
        const std::string canon = canonicalize_body(body, c);
        Botan::SHA_256 sha;
        sha.update(canon);
        const auto digest = sha.final();
        const BodyHash h = hash_body(body, c);
        EXPECT_EQ(h.base64(), Botan::base64_encode(digest));
        EXPECT_EQ(h.canon, c);
        EXPECT_EQ(h.length, canon.size());
        EXPECT_EQ(h.canonical_length, canon.size());
    }
}

TEST(CanonBody, LengthLimitHashesAPrefix) {
    const std::string body = "abc\r\ndef\r\n";
    const std::string canon = canonicalize_body(body, Canonicalization::relaxed);  // 10 octets
    for (std::uint64_t l : {0u, 1u, 4u, 5u, 10u, 50u}) {
        const BodyHash h = hash_body(body, Canonicalization::relaxed, l);
        Botan::SHA_256 sha;
        sha.update(canon.substr(0, l));
        EXPECT_EQ(h.base64(), Botan::base64_encode(sha.final())) << l;
        EXPECT_EQ(h.length, std::min<std::uint64_t>(l, canon.size()));
        EXPECT_EQ(h.canonical_length, canon.size());
    }
}

TEST(CanonBody, LongRunOfEmptyLinesThenText) {
    // Held-back CRLFs are a count: a long run is emitted correctly once text follows.
    std::string body = "x";
    for (int i = 0; i < 10000; ++i) body += "\r\n";
    body += "y\r\n";
    for (auto c : {Canonicalization::simple, Canonicalization::relaxed}) {
        EXPECT_EQ(canonicalize_body(body, c), body);
    }
}

TEST(Canonicalization, Names) {
    EXPECT_EQ(to_string(Canonicalization::simple), "simple");
    EXPECT_EQ(to_string(Canonicalization::relaxed), "relaxed");
    EXPECT_EQ(parse_canonicalization("Relaxed"), Canonicalization::relaxed);
    EXPECT_EQ(parse_canonicalization("simple"), Canonicalization::simple);
    EXPECT_FALSE(parse_canonicalization("nowsp"));
}

}  // namespace
