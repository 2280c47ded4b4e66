// relay/queue/retry.hpp — when to try a deferred recipient again, and when to give up.
//
// A pure function of its inputs (STYLE habit 6): no clock, no randomness, no state. The
// scheduler passes the recipient's arrival time, how many delivery attempts were made so
// far, when the last one happened, the configured schedule and a seed, and gets back the
// time of the next attempt or "expired" (the recipient then bounces with a failure DSN).
//
// Schedule: step i (after attempt i+1) is schedule[i]; past the end the last step repeats.
// Default 5m, 10m, 20m, 40m, 1h, 1h, ... until the lifetime (default 5 days) runs out.
//
// Jitter spreads retries of many recipients that failed together (one MX outage) so they do
// not all come back in the same second. It is at most ±10% of the step, derived only from
// the seed and the attempt number (same inputs, same answer), and never makes a step shorter
// than 90% of its nominal length nor shorter than one second — so the next attempt is always
// strictly after the last one and the schedule never goes backwards.
//
// Expiry: the next attempt is allowed when it falls at or before arrival + max_lifetime; a
// next attempt strictly after that boundary is "expired". (RFC 5321 §4.5.4.1: give up after
// at least 4-5 days.)
//
// Delay warnings (RFC 3464 Action: delayed): should_warn() says when a "still trying" DSN is
// due; the caller records that it sent one.
//
// Untrusted input: none (all inputs come from our own queue and config).
// Threading: pure functions, callable from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace signpost::queue {

using Clock = std::chrono::system_clock;

struct RetryPolicy {
    // Steps between attempts; the last repeats. An empty schedule means the default.
    std::vector<std::chrono::seconds> schedule = default_schedule();
    std::chrono::seconds max_lifetime = std::chrono::hours(24 * 5);

    static std::vector<std::chrono::seconds> default_schedule() {
        using namespace std::chrono_literals;
        return {5min, 10min, 20min, 40min, 1h};
    }
};

// The nominal (unjittered) step after `attempts` attempts (attempts >= 1).
std::chrono::seconds nominal_step(const RetryPolicy& policy, std::uint32_t attempts);

// The jittered step: within [0.9, 1.1] x nominal (and at least 1 s), deterministic in
// (seed, attempts).
std::chrono::seconds jittered_step(const RetryPolicy& policy, std::uint32_t attempts,
                                   std::uint64_t seed);

// The time of the next attempt, or nullopt when it would fall after
// arrival + policy.max_lifetime (the recipient has expired and must bounce).
// attempts == 0 (never tried): the answer is `arrival` (deliver now). Otherwise the answer
// is last_attempt + jittered_step(policy, attempts, seed).
std::optional<Clock::time_point> next_attempt(Clock::time_point arrival, std::uint32_t attempts,
                                              Clock::time_point last_attempt,
                                              const RetryPolicy& policy, std::uint64_t seed);

// When a failure DSN that could not be committed (spool full) is tried again: after the
// schedule's first nominal step, but never later than `cap`. A short schedule is an operator
// asking for the queue to be looked at soon, and a full spool is as temporary as a next hop's
// 4xx; the default schedule (5 minutes first) and the default cap give the same 5 minutes.
std::chrono::seconds unreported_step(const RetryPolicy& policy, std::chrono::seconds cap);

// A stable seed for one recipient of one message (FNV-1a 64 over id, NUL, recipient).
std::uint64_t jitter_seed(std::string_view queue_id, std::string_view recipient);

// True when a delay DSN is due: warn_after > 0, none sent yet, and now >= arrival + warn_after.
// warn_after == 0 means "never warn".
bool should_warn(Clock::time_point arrival, Clock::time_point now, std::chrono::seconds warn_after,
                 bool already_warned);

}  // namespace signpost::queue
