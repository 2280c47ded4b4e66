// tests/unit/signer/header_test.cpp — splitting messages and parsing header sections.
#include "signer/header.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace signpost::signer;

TEST(SplitMessage, Cases) {
    auto p = split_message("A: 1\r\nB: 2\r\n\r\nbody\r\n");
    EXPECT_EQ(p.header, "A: 1\r\nB: 2\r\n");
    EXPECT_EQ(p.body, "body\r\n");

    p = split_message("A: 1\r\n\r\n");
    EXPECT_EQ(p.header, "A: 1\r\n");
    EXPECT_EQ(p.body, "");

    p = split_message("A: 1\r\n");  // no separator: all header
    EXPECT_EQ(p.header, "A: 1\r\n");
    EXPECT_EQ(p.body, "");

    p = split_message("\r\nbody");  // no header at all
    EXPECT_EQ(p.header, "");
    EXPECT_EQ(p.body, "body");

    p = split_message("A: 1\r\n\r\n\r\nB: not a header\r\n");  // body keeps its blank line
    EXPECT_EQ(p.header, "A: 1\r\n");
    EXPECT_EQ(p.body, "\r\nB: not a header\r\n");
}

TEST(ParseHeader, FieldsKeepRawText) {
    const std::string block =
        "From: a@example.com\r\n"
        "Subject : folded\r\n"
        "\tline\r\n"
        "X-Empty:\r\n";
    auto f = parse_header_block(block);
    ASSERT_TRUE(f) << f.error().message();
    ASSERT_EQ(f->size(), 3u);
    EXPECT_EQ((*f)[0].name, "From");
    EXPECT_EQ((*f)[0].value, " a@example.com");
    EXPECT_EQ((*f)[0].raw, "From: a@example.com\r\n");
    EXPECT_EQ((*f)[1].name, "Subject");
    EXPECT_EQ((*f)[1].value, " folded\r\n\tline");
    EXPECT_EQ((*f)[1].raw, "Subject : folded\r\n\tline\r\n");
    EXPECT_EQ((*f)[2].name, "X-Empty");
    EXPECT_EQ((*f)[2].value, "");

    // The trailing empty line is accepted and not a field.
    auto g = parse_header_block(block + "\r\n");
    ASSERT_TRUE(g);
    EXPECT_EQ(g->size(), 3u);

    auto empty = parse_header_block("");
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->empty());
}

TEST(ParseHeader, MalformedInputIsAnErrorValue) {
    struct Case {
        std::string block;
        Errc want;
    };
    const Case cases[] = {
        {"From a@example.com\r\n", Errc::header_no_colon},
        {"From: a\r\nno colon here\r\n", Errc::header_no_colon},
        {std::string("From: a\0b\r\n", 11), Errc::header_nul},
        {"Fr\xc3\xb6m: a\r\n", Errc::header_bad_name},  // 8-bit in the name
        {": no name\r\n", Errc::header_bad_name},
        {"Two Words: x\r\n", Errc::header_bad_name},
        {"X\x01: control\r\n", Errc::header_bad_name},
        {"Subject: " + std::string(990, 'x') + "\r\n", Errc::header_line_too_long},
        {"From: a\nTo: b\r\n", Errc::header_bare_line_ending},
        {"From: a\rTo: b\r\n", Errc::header_bare_line_ending},
        {" From: a\r\n", Errc::header_leading_continuation},
        {"From: a", Errc::header_unterminated},
        {"From: a\r", Errc::header_unterminated},
        {"From: a\r\n\r\nTo: b\r\n", Errc::header_no_colon},  // nothing after the blank line
    };
    for (const auto& c : cases) {
        auto r = parse_header_block(c.block);
        ASSERT_FALSE(r) << ::testing::PrintToString(c.block);
        EXPECT_EQ(r.error(), c.want) << ::testing::PrintToString(c.block);
        EXPECT_EQ(&r.error().category(), &error_category());
    }
    // Exactly 998 octets is allowed; 8-bit octets in values are allowed (RFC 6532).
    EXPECT_TRUE(parse_header_block("Subject: " + std::string(989, 'x') + "\r\n"));
    EXPECT_TRUE(parse_header_block("Subject: caf\xc3\xa9\r\n"));
}

TEST(ParseHeader, NameHelpers) {
    EXPECT_TRUE(header_name_equals("Message-ID", "message-id"));
    EXPECT_FALSE(header_name_equals("From", "Fro"));
    EXPECT_TRUE(is_valid_header_name("X-Foo_bar.1"));
    EXPECT_FALSE(is_valid_header_name(""));
    EXPECT_FALSE(is_valid_header_name("a:b"));
    EXPECT_FALSE(is_valid_header_name("a b"));
}

}  // namespace
