// tests/unit/inbound/test_greylist.cpp — greylisting (RFC 6647): first try, too early, the
// retry that passes, the lifetime, the retry window, client networks, the bound.
#include <gtest/gtest.h>

#include "relay/inbound/greylist.hpp"

namespace {

using namespace signpost::inbound;
using namespace std::chrono_literals;
using boost::asio::ip::make_address;

const Greylist::Clock::time_point T0{std::chrono::seconds(1796600000)};

TEST(InboundGreylist, FirstTooEarlyThenPassAndRemembered) {
    Greylist g(GreylistOptions{300s, 86400s, 35 * 86400s, 1000});
    std::chrono::seconds wait{};
    const auto ip = make_address("192.0.2.10");
    EXPECT_EQ(g.check(ip, "a@sender.example", "alice@home.example", T0, wait), GreylistVerdict::first);
    EXPECT_EQ(wait, 300s);
    EXPECT_EQ(g.check(ip, "a@sender.example", "alice@home.example", T0 + 100s, wait), GreylistVerdict::too_early);
    EXPECT_EQ(wait, 200s);
    // Another host of the same /24, the sender and recipient in other case: the same triplet.
    EXPECT_EQ(g.check(make_address("192.0.2.77"), "A@Sender.Example", "Alice@home.example", T0 + 301s, wait),
              GreylistVerdict::pass);
    EXPECT_EQ(g.check(ip, "a@sender.example", "alice@home.example", T0 + 30 * 86400s, wait), GreylistVerdict::pass);
    // Unused for longer than the lifetime: greylisted again.
    EXPECT_EQ(g.check(ip, "a@sender.example", "alice@home.example", T0 + 66 * 86400s, wait), GreylistVerdict::first);
}

TEST(InboundGreylist, EachPartOfTheTripletCounts) {
    Greylist g(GreylistOptions{60s, 86400s, 86400s, 1000});
    std::chrono::seconds wait{};
    const auto ip = make_address("192.0.2.10");
    ASSERT_EQ(g.check(ip, "a@s.example", "r@home.example", T0, wait), GreylistVerdict::first);
    ASSERT_EQ(g.check(ip, "a@s.example", "r@home.example", T0 + 61s, wait), GreylistVerdict::pass);
    EXPECT_EQ(g.check(make_address("192.0.3.10"), "a@s.example", "r@home.example", T0 + 62s, wait), GreylistVerdict::first);
    EXPECT_EQ(g.check(ip, "b@s.example", "r@home.example", T0 + 62s, wait), GreylistVerdict::first);
    EXPECT_EQ(g.check(ip, "a@s.example", "q@home.example", T0 + 62s, wait), GreylistVerdict::first);
    EXPECT_EQ(g.check(ip, "", "r@home.example", T0 + 62s, wait), GreylistVerdict::first);  // the null sender
    EXPECT_EQ(g.size(), 5u);
}

TEST(InboundGreylist, RetryWindow) {
    Greylist g(GreylistOptions{60s, 3600s, 86400s, 1000});
    std::chrono::seconds wait{};
    const auto ip = make_address("2001:db8:1:2::25");
    ASSERT_EQ(g.check(ip, "a@s.example", "r@home.example", T0, wait), GreylistVerdict::first);
    // Back after the window: it starts over.
    EXPECT_EQ(g.check(ip, "a@s.example", "r@home.example", T0 + 3601s, wait), GreylistVerdict::first);
    EXPECT_EQ(g.check(ip, "a@s.example", "r@home.example", T0 + 3601s + 60s, wait), GreylistVerdict::pass);
}

TEST(InboundGreylist, ClientNetworks) {
    EXPECT_EQ(Greylist::client_network(make_address("198.51.100.201")), "198.51.100.0/24");
    EXPECT_EQ(Greylist::client_network(make_address("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
    EXPECT_EQ(Greylist::client_network(make_address("::ffff:198.51.100.7")), "198.51.100.0/24");
}

TEST(InboundGreylist, BoundedExpiredAndOldestPendingGoFirst) {
    Greylist g(GreylistOptions{60s, 600s, 3600s, 10});
    std::chrono::seconds wait{};
    const auto ip = make_address("192.0.2.1");
    ASSERT_EQ(g.check(ip, "keep@s.example", "r@home.example", T0, wait), GreylistVerdict::first);
    ASSERT_EQ(g.check(ip, "keep@s.example", "r@home.example", T0 + 61s, wait), GreylistVerdict::pass);
    for (int i = 0; i < 20; ++i)
        g.check(ip, "spam" + std::to_string(i) + "@s.example", "r@home.example", T0 + 100s + std::chrono::seconds(i), wait);
    EXPECT_LE(g.size(), 10u);
    // The passed triplet survived the pending ones being dropped.
    EXPECT_EQ(g.check(ip, "keep@s.example", "r@home.example", T0 + 200s, wait), GreylistVerdict::pass);
}

}  // namespace
