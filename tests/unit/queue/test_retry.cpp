// Unit tests for relay/queue/retry: the default schedule step by step, the last step
// repeating, jitter bounds and determinism, expiry exactly at the lifetime boundary, and
// the delay-warning rule.
#include <gtest/gtest.h>

#include <set>

#include "relay/queue/retry.hpp"

using namespace signpost::queue;
using namespace std::chrono_literals;
using std::chrono::seconds;

namespace {

const Clock::time_point kArrival = Clock::time_point(seconds(1795437654));

struct StepCase {
    std::uint32_t attempts;
    seconds nominal;
};

class DefaultSteps : public ::testing::TestWithParam<StepCase> {};

TEST_P(DefaultSteps, NominalAndJitteredWithinTenPercent) {
    const auto& c = GetParam();
    RetryPolicy p;
    EXPECT_EQ(nominal_step(p, c.attempts), c.nominal);
    for (std::uint64_t seed = 0; seed < 500; ++seed) {
        const auto j = jittered_step(p, c.attempts, seed);
        EXPECT_GE(j * 10, c.nominal * 9) << "seed " << seed;
        EXPECT_LE(j * 10, c.nominal * 11) << "seed " << seed;
        auto next = next_attempt(kArrival, c.attempts, kArrival + 1h, p, seed);
        ASSERT_TRUE(next);
        EXPECT_EQ(*next, kArrival + 1h + j);
    }
}

INSTANTIATE_TEST_SUITE_P(Schedule, DefaultSteps,
                         ::testing::Values(StepCase{1, 5min}, StepCase{2, 10min},
                                           StepCase{3, 20min}, StepCase{4, 40min},
                                           StepCase{5, 1h}, StepCase{6, 1h}, StepCase{7, 1h},
                                           StepCase{50, 1h}, StepCase{100000, 1h}));

TEST(Retry, DefaultsAreFiveDaysAndTheDocumentedSchedule) {
    RetryPolicy p;
    EXPECT_EQ(p.max_lifetime, seconds(5 * 24 * 3600));
    EXPECT_EQ(p.schedule, (std::vector<seconds>{300s, 600s, 1200s, 2400s, 3600s}));
}

TEST(Retry, LastStepOfACustomScheduleRepeats) {
    RetryPolicy p;
    p.schedule = {1min, 7min};
    EXPECT_EQ(nominal_step(p, 1), 1min);
    EXPECT_EQ(nominal_step(p, 2), 7min);
    EXPECT_EQ(nominal_step(p, 3), 7min);
    EXPECT_EQ(nominal_step(p, 99), 7min);
}

TEST(Retry, EmptyScheduleMeansDefault) {
    RetryPolicy p;
    p.schedule.clear();
    EXPECT_EQ(nominal_step(p, 1), 5min);
    EXPECT_EQ(nominal_step(p, 9), 1h);
}

TEST(Retry, AnUnwrittenDsnWaitsTheFirstStepAtMostTheCap) {
    RetryPolicy p;  // default: 5 minutes first
    EXPECT_EQ(unreported_step(p, 300s), 300s);
    EXPECT_EQ(unreported_step(p, 60s), 60s);
    p.schedule = {2s, 5s, 10s};
    EXPECT_EQ(unreported_step(p, 300s), 2s);
    p.schedule = {1h};
    EXPECT_EQ(unreported_step(p, 300s), 300s);
    EXPECT_EQ(unreported_step(p, 0s), 1s);  // never a busy loop
    p.schedule.clear();
    EXPECT_EQ(unreported_step(p, 900s), 5min);
}

TEST(Retry, NeverTriedMeansNow) {
    RetryPolicy p;
    auto next = next_attempt(kArrival, 0, Clock::time_point{}, p, 42);
    ASSERT_TRUE(next);
    EXPECT_EQ(*next, kArrival);
}

TEST(Retry, JitterIsDeterministicAndActuallySpreads) {
    RetryPolicy p;
    std::set<seconds::rep> seen;
    for (std::uint64_t seed = 0; seed < 200; ++seed) {
        EXPECT_EQ(jittered_step(p, 5, seed), jittered_step(p, 5, seed));
        seen.insert(jittered_step(p, 5, seed).count());
    }
    EXPECT_GT(seen.size(), 50u);  // 3600 s ± 360 s: many distinct values
    const auto s = jitter_seed("00HOFGO6F3U700NNAOVB", "bob@example.org");
    EXPECT_EQ(s, jitter_seed("00HOFGO6F3U700NNAOVB", "bob@example.org"));
    EXPECT_NE(s, jitter_seed("00HOFGO6F3U700NNAOVB", "carol@example.org"));
    EXPECT_NE(jitter_seed("ab", "c"), jitter_seed("a", "bc"));
}

TEST(Retry, TinyStepsNeverGoBackwards) {
    RetryPolicy p;
    p.schedule = {0s, 1s, 5s};
    for (std::uint32_t a = 1; a < 5; ++a)
        for (std::uint64_t seed = 0; seed < 100; ++seed) {
            EXPECT_GE(jittered_step(p, a, seed), 1s);
            auto next = next_attempt(kArrival, a, kArrival + 10s, p, seed);
            ASSERT_TRUE(next);
            EXPECT_GT(*next, kArrival + 10s);
        }
}

TEST(Retry, WholeScheduleIsMonotonicAndEndsByLifetime) {
    RetryPolicy p;
    const std::uint64_t seed = jitter_seed("Q", "r@example.org");
    Clock::time_point last = kArrival;
    std::uint32_t attempts = 1;
    for (;;) {
        auto next = next_attempt(kArrival, attempts, last, p, seed);
        if (!next) break;
        EXPECT_GT(*next, last);
        EXPECT_LE(*next, kArrival + p.max_lifetime);
        last = *next;
        ++attempts;
        ASSERT_LT(attempts, 1000u);
    }
    // 5 days at roughly an hour per step after the first 75 minutes.
    EXPECT_GT(attempts, 100u);
    EXPECT_LT(attempts, 140u);
}

struct ExpiryCase {
    const char* name;
    seconds last_after_arrival;  // last attempt, relative to arrival
    bool expired;
};

class Expiry : public ::testing::TestWithParam<ExpiryCase> {};

TEST_P(Expiry, AtTheBoundaryIsStillAllowed) {
    const auto& c = GetParam();
    RetryPolicy p;
    p.schedule = {100s};  // span 10 s: jitter ±10 s
    p.max_lifetime = 1000s;
    // Find the exact jittered step for this seed, then place the last attempt relative to
    // the deadline.
    const std::uint64_t seed = 7;
    const seconds step = jittered_step(p, 3, seed);
    const Clock::time_point last = kArrival + p.max_lifetime - step + c.last_after_arrival;
    auto next = next_attempt(kArrival, 3, last, p, seed);
    EXPECT_EQ(!next.has_value(), c.expired) << c.name;
    if (next) {
        EXPECT_LE(*next, kArrival + p.max_lifetime);
    }
}

INSTANTIATE_TEST_SUITE_P(Boundary, Expiry,
                         ::testing::Values(ExpiryCase{"one second early", -1s, false},
                                           ExpiryCase{"exactly at the deadline", 0s, false},
                                           ExpiryCase{"one second late", 1s, true},
                                           ExpiryCase{"far past", 10000s, true}));

TEST(Retry, FirstAttemptAfterLifetimeIsExpired) {
    RetryPolicy p;
    p.max_lifetime = 0s;
    EXPECT_TRUE(next_attempt(kArrival, 0, Clock::time_point{}, p, 1));  // arrival itself is ok
    EXPECT_FALSE(next_attempt(kArrival, 1, kArrival, p, 1));
}

struct WarnCase {
    const char* name;
    seconds now_after_arrival;
    seconds warn_after;
    bool already_warned;
    bool expect;
};

class Warn : public ::testing::TestWithParam<WarnCase> {};

TEST_P(Warn, Rule) {
    const auto& c = GetParam();
    EXPECT_EQ(should_warn(kArrival, kArrival + c.now_after_arrival, c.warn_after, c.already_warned),
              c.expect)
        << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Table, Warn,
    ::testing::Values(WarnCase{"before warn_after", 4h - 1s, 4h, false, false},
                      WarnCase{"exactly at warn_after", 4h, 4h, false, true},
                      WarnCase{"after warn_after", 30h, 4h, false, true},
                      WarnCase{"already warned", 30h, 4h, true, false},
                      WarnCase{"warn_after 0 means never", 100h, 0s, false, false},
                      WarnCase{"negative is never", 100h, -1s, false, false},
                      WarnCase{"clock before arrival", -1h, 4h, false, false}));

}  // namespace
