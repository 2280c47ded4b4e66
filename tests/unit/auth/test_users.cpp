// Unit tests for relay/auth/users: users file parsing, sender grants, argon2id hashes.
#include <gtest/gtest.h>

#include "relay/auth/users.hpp"

using namespace signpost::auth;

namespace {

const std::string kHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA";

TEST(UsersFile, ParsesUsersCommentsAndBlankLines) {
    auto parsed = parse_users("# users\n\nalice:" + kHash + ":example.com, Bob@Example.ORG\r\n"
                              "nas:" + kHash + ":\n");
    ASSERT_TRUE(parsed.errors.empty());
    ASSERT_EQ(parsed.file.users.size(), 2u);
    const User* alice = parsed.file.find("alice");
    ASSERT_NE(alice, nullptr);
    EXPECT_EQ(alice->allow, (std::vector<std::string>{"example.com", "bob@example.org"}));
    EXPECT_TRUE(parsed.file.find("nas")->allow.empty());
    EXPECT_EQ(parsed.file.find("carol"), nullptr);
}

TEST(UsersFile, ReportsEachBadLineWithItsNumber) {
    auto parsed = parse_users("ok:" + kHash + ":example.com\n"
                              "nohash:plaintext:example.com\n"
                              "two-fields:" + kHash + "\n"
                              "bad name:" + kHash + ":example.com\n"
                              "ok:" + kHash + ":example.com\n"
                              "sender:" + kHash + ":exa mple.com\n");
    ASSERT_EQ(parsed.errors.size(), 5u);
    EXPECT_EQ(parsed.errors[0].line, 2u);
    EXPECT_NE(parsed.errors[0].message.find("argon2id"), std::string::npos);
    EXPECT_EQ(parsed.errors[1].line, 3u);
    EXPECT_EQ(parsed.errors[2].line, 4u);
    EXPECT_EQ(parsed.errors[3].line, 5u);
    EXPECT_NE(parsed.errors[3].message.find("twice"), std::string::npos);
    EXPECT_EQ(parsed.errors[4].line, 6u);
    EXPECT_EQ(parsed.file.users.size(), 1u);
}

TEST(UsersFile, SerializeRoundTrips) {
    UsersFile f;
    f.users.push_back({"dev", kHash, {"example.test", "a@b.test"}});
    auto parsed = parse_users(f.serialize());
    ASSERT_TRUE(parsed.errors.empty());
    ASSERT_EQ(parsed.file.users.size(), 1u);
    EXPECT_EQ(parsed.file.users[0].password_hash, kHash);
    EXPECT_EQ(parsed.file.users[0].allow, f.users[0].allow);
}

TEST(SenderGrant, DomainGrantsEveryAddressAddressGrantsOne) {
    User u{"u", kHash, {"example.com", "alice@example.org"}};
    EXPECT_TRUE(may_send_as(u, "anyone@example.com"));
    EXPECT_TRUE(may_send_as(u, "Anyone@EXAMPLE.com"));
    EXPECT_TRUE(may_send_as(u, "alice@example.org"));
    EXPECT_FALSE(may_send_as(u, "bob@example.org"));
    EXPECT_FALSE(may_send_as(u, "x@sub.example.com"));
    EXPECT_FALSE(may_send_as(u, "x@example.com.evil.test"));
    EXPECT_FALSE(may_send_as(u, "example.com"));
    EXPECT_FALSE(may_send_as(u, ""));
}

TEST(Password, HashVerifiesOnlyTheRightPassword) {
    std::string hash = hash_password("correct horse");
    EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u);
    EXPECT_TRUE(verify_password("correct horse", hash));
    EXPECT_FALSE(verify_password("correct horsE", hash));
    EXPECT_FALSE(verify_password("", hash));
    EXPECT_FALSE(verify_password("x", "$argon2id$garbage"));
    EXPECT_NE(hash_password("correct horse"), hash);  // a fresh salt every time
}

TEST(Password, GeneratedPasswordsAreLongAndDistinct) {
    std::string a = generate_password(), b = generate_password();
    EXPECT_EQ(a.size(), 24u);
    EXPECT_NE(a, b);
    for (char c : a) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << c;
}

}  // namespace
