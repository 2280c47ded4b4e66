// Unit tests for relay/auth/failures: per-address delays, lockout, expiry, success,
// the memory cap, and the keys addresses are tracked under (IPv6 per /64).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "relay/auth/failures.hpp"

using namespace signpost::auth;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

struct FakeClock {
    std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
    SteadyClock fn() {
        return [this] { return now; };
    }
};

FailurePolicy policy(std::uint32_t max_failures = 5, std::chrono::seconds lockout = 900s) {
    FailurePolicy p;
    p.max_failures = max_failures;
    p.lockout = lockout;
    return p;
}

TEST(FailureTracker, DelayIsZeroThenDoublesFromOneSecondUpToEight) {
    FakeClock clock;
    FailureTracker t(policy(100), clock.fn());
    EXPECT_EQ(t.delay("192.0.2.1"), 0ms);
    const std::vector<milliseconds> want{0ms, 1000ms, 2000ms, 4000ms, 8000ms, 8000ms, 8000ms};
    for (std::size_t i = 0; i < want.size(); ++i) {
        t.record_failure("192.0.2.1");
        EXPECT_EQ(t.delay("192.0.2.1"), want[i]) << "after failure " << i + 1;
        EXPECT_EQ(t.delay("192.0.2.2"), 0ms);  // other addresses are not affected
    }
    for (int i = 0; i < 100; ++i) t.record_failure("192.0.2.1");  // no overflow far out
    EXPECT_EQ(t.delay("192.0.2.1"), 8000ms);
}

TEST(FailureTracker, LocksOutAfterMaxFailuresForLockoutSinceTheLastFailure) {
    FakeClock clock;
    FailureTracker t(policy(5, 900s), clock.fn());
    for (int i = 1; i <= 4; ++i) {
        t.record_failure("198.51.100.7");
        clock.now += 10s;
        EXPECT_FALSE(t.locked_out("198.51.100.7")) << "after failure " << i;
    }
    t.record_failure("198.51.100.7");
    EXPECT_TRUE(t.locked_out("198.51.100.7"));
    EXPECT_FALSE(t.locked_out("198.51.100.8"));
    clock.now += 899s;
    EXPECT_TRUE(t.locked_out("198.51.100.7"));
    clock.now += 1s;
    EXPECT_FALSE(t.locked_out("198.51.100.7"));
    EXPECT_EQ(t.failures("198.51.100.7"), 0u);  // forgotten, not just unlocked
    t.record_failure("198.51.100.7");
    EXPECT_FALSE(t.locked_out("198.51.100.7"));
    EXPECT_EQ(t.delay("198.51.100.7"), 0ms);
}

TEST(FailureTracker, FailuresDuringALockoutExtendIt) {
    FakeClock clock;
    FailureTracker t(policy(3, 60s), clock.fn());
    for (int i = 0; i < 3; ++i) t.record_failure("192.0.2.9");
    ASSERT_TRUE(t.locked_out("192.0.2.9"));
    clock.now += 50s;
    t.record_failure("192.0.2.9");  // a connection opened before the lockout keeps guessing
    clock.now += 50s;
    EXPECT_TRUE(t.locked_out("192.0.2.9"));
    clock.now += 10s;
    EXPECT_FALSE(t.locked_out("192.0.2.9"));
}

TEST(FailureTracker, AQuietSpellForgetsFailures) {
    FakeClock clock;
    FailureTracker t(policy(5, 900s), clock.fn());
    for (int i = 0; i < 4; ++i) t.record_failure("192.0.2.1");
    EXPECT_EQ(t.failures("192.0.2.1"), 4u);
    EXPECT_EQ(t.delay("192.0.2.1"), 4000ms);
    clock.now += 899s;
    EXPECT_EQ(t.failures("192.0.2.1"), 4u);
    clock.now += 1s;
    EXPECT_EQ(t.failures("192.0.2.1"), 0u);
    EXPECT_EQ(t.delay("192.0.2.1"), 0ms);
    t.record_failure("192.0.2.1");  // counting starts again at one
    EXPECT_EQ(t.failures("192.0.2.1"), 1u);
    EXPECT_FALSE(t.locked_out("192.0.2.1"));
}

TEST(FailureTracker, FailuresSpacedWithinTheWindowAccumulate) {
    FakeClock clock;
    FailureTracker t(policy(5, 900s), clock.fn());
    for (int i = 0; i < 5; ++i) {
        t.record_failure("192.0.2.1");
        clock.now += 800s;  // one guess every 13 minutes is still guessing
    }
    EXPECT_TRUE(t.locked_out("192.0.2.1"));
}

TEST(FailureTracker, SuccessForgetsFailuresButDoesNotLiftALockout) {
    FakeClock clock;
    FailureTracker t(policy(3, 900s), clock.fn());
    t.record_failure("192.0.2.1");
    t.record_failure("192.0.2.1");
    t.record_success("192.0.2.1");
    EXPECT_EQ(t.failures("192.0.2.1"), 0u);
    EXPECT_EQ(t.delay("192.0.2.1"), 0ms);
    EXPECT_EQ(t.tracked(), 0u);
    for (int i = 0; i < 3; ++i) t.record_failure("192.0.2.1");
    t.record_success("192.0.2.1");
    EXPECT_TRUE(t.locked_out("192.0.2.1"));
    t.record_success("192.0.2.99");  // unknown: nothing happens
    EXPECT_EQ(t.tracked(), 1u);
}

TEST(FailureTracker, ZeroMaxFailuresNeverLocksOut) {
    FakeClock clock;
    FailureTracker t(policy(0, 900s), clock.fn());
    for (int i = 0; i < 50; ++i) t.record_failure("192.0.2.1");
    EXPECT_FALSE(t.locked_out("192.0.2.1"));
    EXPECT_EQ(t.delay("192.0.2.1"), 8000ms);
}

TEST(FailureTracker, MemoryIsCappedForgettingTheLeastRecentlyFailed) {
    FakeClock clock;
    FailurePolicy p = policy(2, 900s);
    p.max_tracked = 3;
    FailureTracker t(p, clock.fn());
    t.record_failure("127.0.0.1");
    t.record_failure("127.0.0.1");  // locked out
    clock.now += 1s;
    t.record_failure("127.0.0.2");
    clock.now += 1s;
    t.record_failure("127.0.0.3");
    clock.now += 1s;
    t.record_failure("127.0.0.1");  // 127.0.0.1 is now the most recent
    t.record_failure("127.0.0.4");  // table full: 127.0.0.2 goes
    EXPECT_EQ(t.tracked(), 3u);
    EXPECT_EQ(t.failures("127.0.0.2"), 0u);
    EXPECT_EQ(t.failures("127.0.0.3"), 1u);
    EXPECT_EQ(t.failures("127.0.0.4"), 1u);
    EXPECT_TRUE(t.locked_out("127.0.0.1"));
    for (int i = 5; i < 1000; ++i) t.record_failure("127.0.3." + std::to_string(i % 250) + std::to_string(i));
    EXPECT_EQ(t.tracked(), 3u);
}

TEST(FailureTracker, ExpiredEntriesAreSwept) {
    FakeClock clock;
    FailureTracker t(policy(5, 60s), clock.fn());
    for (int i = 0; i < 100; ++i) t.record_failure("127.0.1." + std::to_string(i));
    EXPECT_EQ(t.tracked(), 100u);
    clock.now += 61s;
    t.record_failure("127.0.2.1");
    EXPECT_EQ(t.tracked(), 1u);
}

TEST(FailureTracker, Ipv6IsTrackedPerSlash64AndMappedIpv4AsIpv4) {
    FakeClock clock;
    FailureTracker t(policy(3, 900s), clock.fn());
    t.record_failure("2001:db8:1:2::1");
    t.record_failure("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
    t.record_failure("2001:0db8:0001:0002::ffff");
    EXPECT_TRUE(t.locked_out("2001:db8:1:2::42"));
    EXPECT_FALSE(t.locked_out("2001:db8:1:3::1"));
    t.record_failure("::ffff:192.0.2.5");
    EXPECT_EQ(t.failures("192.0.2.5"), 1u);
}

TEST(FailureKey, NormalizesAddresses) {
    EXPECT_EQ(failure_key("192.0.2.1"), "192.0.2.1");
    EXPECT_EQ(failure_key("2001:DB8:0:0:1::5"), "2001:db8::/64");
    EXPECT_EQ(failure_key("2001:db8:a:b:c:d:e:f"), "2001:db8:a:b::/64");
    EXPECT_EQ(failure_key("2001:db8::1"), "2001:db8::/64");
    EXPECT_EQ(failure_key("fe80::1%eth0"), "fe80::/64");
    EXPECT_EQ(failure_key("::ffff:198.51.100.3"), "198.51.100.3");
    EXPECT_EQ(failure_key("::1"), "::/64");
    EXPECT_EQ(failure_key("not an address"), "not an address");
}

}  // namespace

// Issue 15: user names get their own tracker, four times as tolerant as one address.
TEST(FailureTracker, UserNamePolicyIsFourTimesTheAddressOne) {
    FailurePolicy per_address;
    per_address.max_failures = 5;
    per_address.lockout = std::chrono::seconds(900);
    FailurePolicy p = user_failure_policy(per_address);
    EXPECT_EQ(p.max_failures, 20u);
    EXPECT_EQ(p.lockout, per_address.lockout);
    EXPECT_EQ(p.max_tracked, 10'000u);
    per_address.max_failures = 0;  // no lockout stays no lockout
    EXPECT_EQ(user_failure_policy(per_address).max_failures, 0u);
}
