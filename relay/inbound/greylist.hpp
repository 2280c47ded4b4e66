// relay/inbound/greylist.hpp — greylisting for the MX listener (RFC 6647).
//
// What it does: the first delivery attempt of a (client network, sender, recipient)
// triplet is answered 451 4.7.1 at RCPT; a retry after `delay` (and within
// `retry_window` of the first attempt) passes, and the triplet then passes at once for
// `lifetime` after its last use. Real MTAs retry; most spam software does not. The client
// network is the address's /24 (IPv4) or /64 (IPv6), so a sender's pool of outbound hosts
// counts as one client (RFC 6647 §4.3).
//
// Decisions: the list lives in memory only. A restart forgets it, which costs a known
// sender one more delay, never a lost message (the sender keeps the mail and retries). It
// is bounded (max_entries): when full, expired entries go first, then the oldest pending
// ones. Sender and recipient compare case-insensitively; the null sender is a sender like
// any other ("").
//
// Untrusted input: the client address and envelope (as parsed by relay/smtp).
// Threading: check() may be called from every session at once (one mutex).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>

namespace signpost::inbound {

struct GreylistOptions {
    std::chrono::seconds delay{300};             // a retry passes this long after the first try
    std::chrono::seconds retry_window{86400};    // ... and only this long after it (then: new)
    std::chrono::seconds lifetime{35 * 86400};   // a passed triplet passes at once this long after its last use
    std::size_t max_entries = 200000;
};

enum class GreylistVerdict {
    pass,       // a triplet retried in time, or one that passed before
    first,      // never seen (or forgotten): 451, try again after the delay
    too_early,  // seen, but the delay has not passed yet: 451
};
const char* to_string(GreylistVerdict v);  // "pass", "first", "too_early" (metric label)

class Greylist {
public:
    using Clock = std::chrono::system_clock;
    explicit Greylist(GreylistOptions options = {}) : options_(options) {}

    // `wait` is set to how long until a retry can pass (for first and too_early).
    GreylistVerdict check(const boost::asio::ip::address& client, std::string_view sender, std::string_view recipient,
                          Clock::time_point now, std::chrono::seconds& wait);

    std::size_t size() const;
    // The network part that names a client: "192.0.2.0/24", "2001:db8:1:2::/64".
    static std::string client_network(const boost::asio::ip::address& client);

private:
    struct Entry {
        Clock::time_point first;
        Clock::time_point last;
        bool passed = false;
    };
    void make_room(Clock::time_point now);

    GreylistOptions options_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace signpost::inbound
