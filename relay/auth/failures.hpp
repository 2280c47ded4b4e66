// relay/auth/failures.hpp — slows down and then locks out clients that fail AUTH.
//
// What it does: counts failed AUTH attempts per client address and answers two questions
// for the submission session:
//   delay(ip)      how long to wait before answering 535 5.7.8 to the failure just
//                  recorded: 0 after the first failure, then 1 s, 2 s, 4 s, 8 s, 8 s...
//                  (FailurePolicy::first_delay doubling up to max_delay). The session
//                  waits on a timer, never a thread; the delay makes guessing slow even
//                  from one connection.
//   locked_out(ip) whether to refuse a new connection from `ip` with 421 4.7.0 (RFC 3463
//                  X.7.0: security; RFC 5321 §3.8: 421 closes the channel).
// An address is locked out once it has failed `max_failures` times without a quiet spell:
// failures count while each comes within `lockout` of the one before, and the lockout
// lasts until `lockout` has passed since the last failure. A quiet `lockout` forgets the
// address entirely. A success forgets the failures of an address that is not locked out
// (a user who mistyped once does not carry it); it does not lift a lockout.
// max_failures = 0 turns the lockout off (the delays still apply).
//
// Addresses: IPv4 addresses are tracked one by one. IPv6 addresses are tracked per /64
// (one subscriber usually holds a whole /64 and could otherwise rotate through it);
// IPv4-mapped IPv6 addresses count as the IPv4 address. Text that is not an address is
// tracked as given.
//
// Bounded memory (STYLE.md habit 7): at most `max_tracked` addresses; when full, the one
// whose last failure is oldest is forgotten (an attacker with more addresses than that can
// shed a lockout; the per-failure delays still bound its rate per connection).
//
// Untrusted input: the address strings come from the socket layer, not from the client.
// Threading: thread-safe (one mutex; every operation is O(1) amortized).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "relay/auth/clock.hpp"

namespace signpost::auth {

struct FailurePolicy {
    std::uint32_t max_failures = 5;                 // [auth] max_failures; 0 = never lock out
    std::chrono::seconds lockout{900};              // [auth] lockout; also the counting window
    std::chrono::milliseconds first_delay{1000};    // the delay after the second failure
    std::chrono::milliseconds max_delay{8000};      // delays double up to this
    std::size_t max_tracked = 100'000;              // addresses remembered at most
};

// The policy for user names (a second tracker, fed only with names that exist in the users
// file): guessing one user's password from many addresses locks that name once it has
// failed four times as often as one address may (0 stays 0: no lockout), within the same
// window; at most 10,000 names are remembered.
FailurePolicy user_failure_policy(FailurePolicy per_address);

// The key an address is tracked under (see the file comment): "192.0.2.1",
// "2001:db8:1:2::/64", or the text itself when it is not an IP address.
std::string failure_key(std::string_view ip);

class FailureTracker {
public:
    explicit FailureTracker(FailurePolicy policy = {}, SteadyClock clock = default_clock());

    FailureTracker(const FailureTracker&) = delete;
    FailureTracker& operator=(const FailureTracker&) = delete;

    // A config reload: the new limits apply from the next failure; what is counted stays.
    void set_policy(FailurePolicy policy);

    void record_failure(std::string_view ip);
    void record_success(std::string_view ip);

    // How long to wait before answering the failure just recorded for `ip`.
    std::chrono::milliseconds delay(std::string_view ip) const;
    // The failure's reply has just been sent (after its delay): the lockout window counts
    // from now, so a lockout shorter than the delays still takes effect.
    void touch(std::string_view ip);

    // Whether connections from `ip` are refused now.
    bool locked_out(std::string_view ip) const;

    // Failures currently counted against `ip` (0 once forgotten).
    std::uint32_t failures(std::string_view ip) const;

    // Addresses tracked now, expired ones included until they are swept.
    std::size_t tracked() const;

private:
    struct Entry {
        std::uint32_t failures = 0;
        std::chrono::steady_clock::time_point last_failure;
        std::list<std::string>::iterator position;  // in order_
    };
    using Map = std::unordered_map<std::string, Entry>;

    // Callers hold mutex_. find_live returns nullptr for unknown or expired addresses.
    const Entry* find_live(const std::string& key, std::chrono::steady_clock::time_point now) const;
    void sweep(std::chrono::steady_clock::time_point now);
    void erase(Map::iterator it);

    FailurePolicy policy_;  // guarded by mutex_ (set_policy)
    const SteadyClock clock_;

    mutable std::mutex mutex_;
    Map entries_;
    // Least recently failed first; since every entry lives `lockout` past its last
    // failure, also the first to expire.
    std::list<std::string> order_;
};

}  // namespace signpost::auth
