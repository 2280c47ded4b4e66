// tests/unit/signer/tag_list_test.cpp — RFC 6376 §3.2 tag lists, c= and h= helpers.
#include "signer/tag_list.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace signpost::signer;

TEST(TagList, ParsesWithWhitespaceAndFolding) {
    const std::string text = " v=1;a = rsa-sha256 ;\r\n\th=from : to;\r\n b=abc\r\n def ; x_1=;";
    auto tags = parse_tag_list(text);
    ASSERT_TRUE(tags) << tags.error().message();
    ASSERT_EQ(tags->size(), 5u);
    EXPECT_EQ((*tags)[0].name, "v");
    EXPECT_EQ((*tags)[0].value, "1");
    EXPECT_EQ((*tags)[1].name, "a");
    EXPECT_EQ((*tags)[1].value, "rsa-sha256");
    EXPECT_EQ((*tags)[1].raw_value, " rsa-sha256 ");
    EXPECT_EQ((*tags)[2].value, "from : to");
    EXPECT_EQ((*tags)[3].value, "abc\r\n def");
    EXPECT_EQ(remove_fws((*tags)[3].value), "abcdef");
    EXPECT_EQ((*tags)[4].name, "x_1");
    EXPECT_EQ((*tags)[4].value, "");
    EXPECT_EQ(find_tag(*tags, "h"), "from : to");
    EXPECT_FALSE(find_tag(*tags, "H"));  // names are case-sensitive
}

TEST(TagList, LenientAboutEmptySpecs) {
    auto tags = parse_tag_list("v=DKIM1;; p=abc; ");
    ASSERT_TRUE(tags);
    EXPECT_EQ(tags->size(), 2u);
    auto none = parse_tag_list("");
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
}

TEST(TagList, Errors) {
    struct Case {
        std::string text;
        Errc want;
    };
    const Case cases[] = {
        {"v=1; v=1", Errc::tag_duplicate},
        {"a=1; b=2; a=3", Errc::tag_duplicate},
        {"novalue", Errc::tag_list_syntax},
        {"=1", Errc::tag_list_syntax},
        {"1a=x", Errc::tag_list_syntax},   // name must start with ALPHA
        {"a-b=x", Errc::tag_list_syntax},  // "-" is not ALNUMPUNC
        {"a b=x", Errc::tag_list_syntax},
        {"a=caf\xc3\xa9", Errc::tag_list_syntax},  // VALCHAR is US-ASCII
        {std::string("a=x\x01y"), Errc::tag_list_syntax},
    };
    for (const auto& c : cases) {
        auto r = parse_tag_list(c.text);
        ASSERT_FALSE(r) << c.text;
        EXPECT_EQ(r.error(), c.want) << c.text;
    }
}

TEST(TagList, BoundedNumberOfTags) {
    std::string many;
    for (std::size_t i = 0; i < max_tags; ++i) {
        many += 't';
        many += std::to_string(i);
        many += "=x;";
    }
    EXPECT_TRUE(parse_tag_list(many));
    many += "one=more";
    auto r = parse_tag_list(many);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), Errc::tag_list_syntax);
}

TEST(TagList, CTag) {
    auto c = parse_c_tag("relaxed/simple");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->header, Canonicalization::relaxed);
    EXPECT_EQ(c->body, Canonicalization::simple);
    c = parse_c_tag("relaxed");  // body defaults to simple
    ASSERT_TRUE(c);
    EXPECT_EQ(c->header, Canonicalization::relaxed);
    EXPECT_EQ(c->body, Canonicalization::simple);
    EXPECT_FALSE(parse_c_tag("relaxed/nowsp"));
    EXPECT_FALSE(parse_c_tag(""));
}

TEST(TagList, HTag) {
    auto h = split_h_tag("from : To:\r\n\tsubject");
    ASSERT_TRUE(h);
    ASSERT_EQ(h->size(), 3u);
    EXPECT_EQ((*h)[0], "from");
    EXPECT_EQ((*h)[1], "To");
    EXPECT_EQ((*h)[2], "subject");
    EXPECT_FALSE(split_h_tag("from::to"));
    EXPECT_FALSE(split_h_tag(""));
}

}  // namespace
