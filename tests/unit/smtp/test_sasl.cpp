// tests/unit/smtp/test_sasl.cpp — strict base64 (RFC 4648 §10 vectors) and the PLAIN
// message (RFC 4616 §2) of relay/smtp/sasl.hpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "relay/smtp/sasl.hpp"

namespace {

using namespace signpost::smtp;
using namespace std::string_literals;

TEST(Base64, Rfc4648Vectors) {
    const std::vector<std::pair<std::string, std::string>> vectors = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
        {"Username:", "VXNlcm5hbWU6"}, {"Password:", "UGFzc3dvcmQ6"},
        {"\0bob\0pw"s, "AGJvYgBwdw=="}, {"\xff\xfe\x00"s, "//4A"},
    };
    for (const auto& [plain, encoded] : vectors) {
        EXPECT_EQ(encode_base64(plain), encoded);
        const auto d = decode_base64(encoded);
        ASSERT_TRUE(d.has_value()) << encoded;
        EXPECT_EQ(*d, plain) << encoded;
    }
}

TEST(Base64, RefusesMalformed) {
    for (const std::string bad : {"Zg", "Zg=", "Z===", "====", "Zg==Zg==", "Zm9v\r\n", "Zm 9v", "Zm9v=",
                                  "Zm=v", "Zm9!", "*", "=", "Zm9vYg=a"}) {
        EXPECT_FALSE(decode_base64(bad).has_value()) << bad;
    }
}

TEST(Plain, SplitsAuthzidAuthcidPassword) {
    struct Row {
        std::string message;
        bool ok;
        std::string user, password;
        Errc error;
    };
    const std::string f255(255, 'x');
    const std::string f256(256, 'x');
    const std::vector<Row> rows = {
        {"\0bob\0secret"s, true, "bob", "secret", {}},
        {"bob\0bob\0secret"s, true, "bob", "secret", {}},
        {"\0bob@example.org\0pass word"s, true, "bob@example.org", "pass word", {}},
        {"alice\0bob\0secret"s, false, "", "", Errc::sasl_authzid_mismatch},
        {"\0\0secret"s, false, "", "", Errc::sasl_plain_malformed},
        {"\0bob\0"s, false, "", "", Errc::sasl_plain_malformed},
        {"bob\0secret"s, false, "", "", Errc::sasl_plain_malformed},
        {"bobsecret", false, "", "", Errc::sasl_plain_malformed},
        {"", false, "", "", Errc::sasl_plain_malformed},
        {"\0bob\0se\0cret"s, false, "", "", Errc::sasl_plain_malformed},
        {"\0"s + f255 + "\0"s + f255, true, f255, f255, {}},
        {"\0"s + f256 + "\0pw"s, false, "", "", Errc::sasl_plain_malformed},
        {"\0bob\0"s + f256, false, "", "", Errc::sasl_plain_malformed},
    };
    for (const Row& r : rows) {
        const auto c = parse_plain(r.message);
        ASSERT_EQ(c.has_value(), r.ok) << encode_base64(r.message);
        if (r.ok) {
            EXPECT_EQ(c->user, r.user);
            EXPECT_EQ(c->password, r.password);
        } else {
            EXPECT_EQ(c.error(), make_error_code(r.error)) << encode_base64(r.message);
        }
    }
}

TEST(SecureClear, EmptiesTheString) {
    std::string s = "hunter2";
    const char* data = s.data();
    secure_clear(s);
    EXPECT_TRUE(s.empty());
    // Same buffer (short-string storage here): every octet overwritten, not just resized.
    for (int i = 0; i < 7; ++i) EXPECT_EQ(data[i], '\0') << i;
}

}  // namespace
