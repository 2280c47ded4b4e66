// tests/unit/inbound/test_rate.cpp — per-client token buckets of the MX listener.
#include <gtest/gtest.h>

#include "relay/inbound/rate.hpp"

namespace {

using signpost::inbound::ClientRate;
using boost::asio::ip::make_address;
using namespace std::chrono_literals;

TEST(InboundClientRate, BurstThenAverageRate) {
    ClientRate rate(3600);  // one a second on average, bursts of 3600
    const auto t0 = ClientRate::Clock::time_point{} + 1000h;
    const auto a = make_address("192.0.2.7");
    for (int i = 0; i < 3600; ++i) ASSERT_TRUE(rate.take(a, t0)) << i;
    EXPECT_FALSE(rate.take(a, t0));           // empty
    EXPECT_FALSE(rate.take(a, t0 + 999ms));   // not yet a whole token
    EXPECT_TRUE(rate.take(a, t0 + 1s));       // one token back
    EXPECT_FALSE(rate.take(a, t0 + 1s));
    EXPECT_TRUE(rate.take(make_address("192.0.2.8"), t0));  // another client has its own bucket
    // A refusal takes nothing: after 2 s two tokens are there.
    EXPECT_TRUE(rate.take(a, t0 + 3s));
    EXPECT_TRUE(rate.take(a, t0 + 3s));
    EXPECT_FALSE(rate.take(a, t0 + 3s));
    // A full hour later the bucket is full again, not fuller.
    for (int i = 0; i < 3600; ++i) ASSERT_TRUE(rate.take(a, t0 + 2h)) << i;
    EXPECT_FALSE(rate.take(a, t0 + 2h));
}

TEST(InboundClientRate, SmallLimit) {
    ClientRate rate(2);  // two an hour: the third waits 30 minutes
    const auto t0 = ClientRate::Clock::time_point{} + 1000h;
    const auto a = make_address("2001:db8:1:2::10");
    EXPECT_TRUE(rate.take(a, t0));
    EXPECT_TRUE(rate.take(a, t0 + 1s));
    EXPECT_FALSE(rate.take(a, t0 + 2s));
    EXPECT_FALSE(rate.take(a, t0 + 29min));
    EXPECT_TRUE(rate.take(a, t0 + 31min));
    // The same /64 is the same client; another /64 is not.
    EXPECT_FALSE(rate.take(make_address("2001:db8:1:2::99"), t0 + 31min));
    EXPECT_TRUE(rate.take(make_address("2001:db8:1:3::10"), t0 + 31min));
}

TEST(InboundClientRate, ZeroMeansNoLimit) {
    ClientRate rate(0);
    const auto now = ClientRate::Clock::now();
    for (int i = 0; i < 10000; ++i) ASSERT_TRUE(rate.take(make_address("192.0.2.1"), now));
    EXPECT_EQ(rate.tracked(), 0u);
}

TEST(InboundClientRate, Keys) {
    EXPECT_EQ(ClientRate::client_key(make_address("192.0.2.7")), "192.0.2.7");
    EXPECT_EQ(ClientRate::client_key(make_address("::ffff:192.0.2.7")), "192.0.2.7");
    EXPECT_EQ(ClientRate::client_key(make_address("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
}

TEST(InboundClientRate, BoundedTable) {
    ClientRate rate(10, 4);
    const auto t0 = ClientRate::Clock::time_point{} + 1000h;
    for (int i = 1; i <= 4; ++i) EXPECT_TRUE(rate.take(make_address("192.0.2." + std::to_string(i)), t0));
    EXPECT_EQ(rate.tracked(), 4u);
    // Full, and nobody has refilled: a fifth client goes through untracked.
    EXPECT_TRUE(rate.take(make_address("192.0.2.5"), t0 + 1s));
    EXPECT_EQ(rate.tracked(), 4u);
    // An hour on, the refilled buckets are dropped to make room.
    EXPECT_TRUE(rate.take(make_address("192.0.2.6"), t0 + 1h));
    EXPECT_EQ(rate.tracked(), 1u);
}

}  // namespace
