// tests/unit/dns/test_rdata.cpp — RDATA decoding (relay/dns/rdata.hpp), byte by byte: MX
// with normal, null (RFC 7505) and upper-case names, names that are truncated, compressed,
// use extended label types, hold dots or unprintable octets, or exceed 255 octets; A and
// AAAA lengths; TXT with several, empty and truncated character-strings; TLSA.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "relay/dns/rdata.hpp"

namespace {

using namespace signpost::dns;
using namespace std::string_literals;

// Wire-format name from dotted labels ("" = the root).
std::string wire(const std::vector<std::string>& labels) {
    std::string out;
    for (const auto& l : labels) {
        out.push_back(static_cast<char>(l.size()));
        out += l;
    }
    out.push_back('\0');
    return out;
}

std::string mx_rdata(int preference, const std::string& name_wire) {
    std::string out;
    out.push_back(static_cast<char>(preference >> 8));
    out.push_back(static_cast<char>(preference & 0xff));
    return out + name_wire;
}

TEST(dns_RdataMx, NormalNullAndUpperCase) {
    struct Row {
        std::string rdata;
        std::uint16_t preference;
        std::string host;
    } rows[] = {
        {mx_rdata(10, wire({"mx1", "example", "test"})), 10, "mx1.example.test"},
        {mx_rdata(0x1234, wire({"a"})), 0x1234, "a"},
        {mx_rdata(0, wire({})), 0, ""},  // null MX "."
        {mx_rdata(20, wire({"MX2", "Example", "TEST"})), 20, "mx2.example.test"},
        {mx_rdata(5, wire({"Mail-1_x", "EXAMPLE", "org"})), 5, "mail-1_x.example.org"},
        {mx_rdata(65535, wire({std::string(63, 'Q'), "test"})), 65535, std::string(63, 'q') + ".test"},
    };
    for (const auto& row : rows) {
        auto r = parse_mx(row.rdata);
        ASSERT_TRUE(r) << row.host << ": " << r.error().message();
        EXPECT_EQ(r->preference, row.preference);
        EXPECT_EQ(r->host, row.host);
    }
}

TEST(dns_RdataMx, MalformedIsAnError) {
    struct Row {
        const char* what;
        std::string rdata;
        Errc error;
    } rows[] = {
        {"empty", ""s, Errc::truncated},
        {"half a preference", "\x00"s, Errc::truncated},
        {"no name", "\x00\x0a"s, Errc::truncated},
        {"no root label", mx_rdata(10, "\x03" "abc"s), Errc::truncated},
        {"label past the end", mx_rdata(10, "\x05" "abc"s), Errc::truncated},
        {"label length 64", mx_rdata(10, "\x40"s + std::string(64, 'a') + "\x00"s), Errc::label_type},
        {"label length 0x80", mx_rdata(10, "\x80" "a\x00"s), Errc::label_type},
        {"compression pointer", mx_rdata(10, "\x03" "abc\xc0\x0c"s), Errc::label_type},
        {"trailing octets", mx_rdata(10, wire({"mx", "test"}) + "x"), Errc::trailing_data},
        {"two names", mx_rdata(10, wire({"a"}) + wire({"b"})), Errc::trailing_data},
        {"256 octets", mx_rdata(10, wire({std::string(63, 'a'), std::string(63, 'b'), std::string(63, 'c'),
                                          std::string(62, 'd')})),
         Errc::name_too_long},
    };
    for (const auto& row : rows) {
        auto r = parse_mx(row.rdata);
        ASSERT_FALSE(r) << row.what;
        EXPECT_EQ(r.error(), make_error_code(row.error)) << row.what << ": " << r.error().message();
    }
}

TEST(dns_RdataName, LongestNameAndAdvance) {
    // 255 octets exactly: 3 x (1 + 63) + (1 + 61) + the root octet.
    const std::string longest =
        wire({std::string(63, 'a'), std::string(63, 'b'), std::string(63, 'c'), std::string(61, 'd')});
    ASSERT_EQ(longest.size(), 255u);
    std::string_view in = longest;
    auto r = parse_name(in);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->size(), 253u);
    EXPECT_TRUE(in.empty());

    const std::string two = wire({"x", "test"}) + "rest";
    in = two;
    r = parse_name(in);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "x.test");
    EXPECT_EQ(in, "rest");
}

TEST(dns_RdataName, OctetsThatWouldChangeTheMeaningAreEscaped) {
    // A label holding a dot must not read as two labels (RFC 1035 §5.1 escapes).
    struct Row {
        std::string label;
        std::string text;
    } rows[] = {
        {"a.b", "a\\.b"},
        {"back\\slash", "back\\\\slash"},
        {"sp ace", "sp\\032ace"},
        {"nul\0x"s, "nul\\000x"},
        {"\x7f\xff"s, "\\127\\255"},
        {"UPPER\xC3\x89"s, "upper\\195\\137"},  // only ASCII letters are folded
    };
    for (const auto& row : rows) {
        const std::string w = wire({row.label, "test"});
        std::string_view in = w;
        auto r = parse_name(in);
        ASSERT_TRUE(r);
        EXPECT_EQ(*r, row.text + ".test");
    }
}

TEST(dns_RdataAddress, AAndAaaaLengths) {
    auto a = parse_a("\xc0\x00\x02\x0a"s);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->to_string(), "192.0.2.10");
    EXPECT_EQ(parse_a("\xc0\x00\x02"s).error(), make_error_code(Errc::bad_length));
    EXPECT_EQ(parse_a("\xc0\x00\x02\x0a\x00"s).error(), make_error_code(Errc::bad_length));
    EXPECT_EQ(parse_a(""s).error(), make_error_code(Errc::bad_length));

    const std::string v6 = "\x20\x01\x0d\xb8"s + std::string(11, '\0') + "\x10"s;
    auto aaaa = parse_aaaa(v6);
    ASSERT_TRUE(aaaa);
    EXPECT_EQ(aaaa->to_string(), "2001:db8::10");
    EXPECT_EQ(parse_aaaa(v6.substr(0, 15)).error(), make_error_code(Errc::bad_length));
    EXPECT_EQ(parse_aaaa(v6 + "x").error(), make_error_code(Errc::bad_length));
    EXPECT_EQ(parse_aaaa("\xc0\x00\x02\x0a"s).error(), make_error_code(Errc::bad_length));
}

TEST(dns_RdataTxt, StringsAreJoined) {
    struct Row {
        std::string rdata;
        std::string text;
    } rows[] = {
        {"\x07v=spf1 \x04-all"s, "v=spf1 -all"},
        {"\x00"s, ""},                        // one empty string
        {"\x00\x03" "abc\x00"s, "abc"},       // empty strings around one
        {"\x01" "a\x01" "b\x01" "c"s, "abc"},
        {"\xff"s + std::string(255, 'k') + "\x01" "!", std::string(255, 'k') + "!"},
        {"\x03" "a\0b"s, "a\0b"s},            // octets kept as they are
    };
    for (const auto& row : rows) {
        auto r = parse_txt(row.rdata);
        ASSERT_TRUE(r) << row.text;
        EXPECT_EQ(*r, row.text);
    }
}

TEST(dns_RdataTxt, TruncatedStrings) {
    for (const std::string& rdata : {""s, "\x05" "abc"s, "\x03" "abc\x02" "x"s, "\x01"s}) {
        auto r = parse_txt(rdata);
        ASSERT_FALSE(r) << rdata;
        EXPECT_EQ(r.error(), make_error_code(Errc::truncated));
    }
}

TEST(dns_RdataTlsa, FieldsAndData) {
    std::string rdata = "\x03\x01\x01"s;
    for (int i = 0; i < 32; ++i) rdata.push_back(static_cast<char>(i * 8));
    auto r = parse_tlsa(rdata);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->usage, 3);
    EXPECT_EQ(r->selector, 1);
    EXPECT_EQ(r->matching, 1);
    ASSERT_EQ(r->data.size(), 32u);
    EXPECT_EQ(r->data[0], 0);
    EXPECT_EQ(r->data[31], 248);

    auto bare = parse_tlsa("\x02\x00\x00"s);  // no data: a DANE decision, not a parse error
    ASSERT_TRUE(bare);
    EXPECT_EQ(bare->usage, 2);
    EXPECT_TRUE(bare->data.empty());

    for (const std::string& bad : {""s, "\x03"s, "\x03\x01"s})
        EXPECT_EQ(parse_tlsa(bad).error(), make_error_code(Errc::truncated));
}

TEST(dns_RdataPtr, OneNameAndNothingElse) {
    auto r = parse_ptr(wire({"Mail", "Example", "test"}));
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, "mail.example.test");
    EXPECT_EQ(parse_ptr(wire({"a"}) + "x").error(), make_error_code(Errc::trailing_data));
    EXPECT_EQ(parse_ptr(""s).error(), make_error_code(Errc::truncated));
}

TEST(dns_ReverseName, Ipv4Ipv6AndMapped) {
    namespace ip = boost::asio::ip;
    EXPECT_EQ(reverse_name(ip::make_address("192.0.2.45")), "45.2.0.192.in-addr.arpa");
    EXPECT_EQ(reverse_name(ip::make_address("::ffff:127.0.0.5")), "5.0.0.127.in-addr.arpa");
    // RFC 3596 §2.5's example address.
    EXPECT_EQ(reverse_name(ip::make_address("4321:0:1:2:3:4:567:89ab")),
              "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa");
}

TEST(dns_RdataErrors, CategoryNamesEveryValue) {
    EXPECT_STREQ(error_category().name(), "signpost.dns");
    for (Errc e : {Errc::truncated, Errc::trailing_data, Errc::bad_length, Errc::label_type, Errc::name_too_long}) {
        const std::string m = make_error_code(e).message();
        EXPECT_FALSE(m.empty());
        EXPECT_EQ(m.find("unknown"), std::string::npos) << m;
    }
}

}  // namespace
