// relay/queue/retry.cpp — the retry schedule (see retry.hpp for the contract).
#include "relay/queue/retry.hpp"

#include <algorithm>

namespace signpost::queue {

namespace {

// splitmix64 finaliser: a well-mixed 64-bit value from (seed, attempt).
std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

}  // namespace

std::chrono::seconds nominal_step(const RetryPolicy& policy, std::uint32_t attempts) {
    const auto fallback = RetryPolicy::default_schedule();
    const auto& s = policy.schedule.empty() ? fallback : policy.schedule;
    std::size_t i = attempts == 0 ? 0 : attempts - 1;
    i = std::min(i, s.size() - 1);
    return std::max(s[i], std::chrono::seconds(1));
}

std::chrono::seconds unreported_step(const RetryPolicy& policy, std::chrono::seconds cap) {
    return std::max(std::min(nominal_step(policy, 1), cap), std::chrono::seconds(1));
}

std::chrono::seconds jittered_step(const RetryPolicy& policy, std::uint32_t attempts,
                                   std::uint64_t seed) {
    const std::int64_t step = nominal_step(policy, attempts).count();
    const std::int64_t span = step / 10;  // ±10%, rounded towards zero: never below 90%
    if (span == 0) return std::chrono::seconds(step);
    const std::uint64_t r = mix(seed ^ mix(attempts));
    const std::int64_t offset =
        static_cast<std::int64_t>(r % static_cast<std::uint64_t>(2 * span + 1)) - span;
    return std::chrono::seconds(std::max<std::int64_t>(step + offset, 1));
}

std::optional<Clock::time_point> next_attempt(Clock::time_point arrival, std::uint32_t attempts,
                                              Clock::time_point last_attempt,
                                              const RetryPolicy& policy, std::uint64_t seed) {
    const Clock::time_point deadline = arrival + policy.max_lifetime;
    Clock::time_point next =
        attempts == 0 ? arrival : last_attempt + jittered_step(policy, attempts, seed);
    if (next > deadline) return std::nullopt;
    return next;
}

std::uint64_t jitter_seed(std::string_view queue_id, std::string_view recipient) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    auto feed = [&h](unsigned char c) {
        h ^= c;
        h *= 0x100000001b3ULL;
    };
    for (char c : queue_id) feed(static_cast<unsigned char>(c));
    feed(0);
    for (char c : recipient) feed(static_cast<unsigned char>(c));
    return h;
}

bool should_warn(Clock::time_point arrival, Clock::time_point now, std::chrono::seconds warn_after,
                 bool already_warned) {
    if (warn_after <= std::chrono::seconds::zero() || already_warned) return false;
    return now >= arrival + warn_after;
}

}  // namespace signpost::queue
