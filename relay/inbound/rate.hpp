// relay/inbound/rate.hpp — per-client rate limits of an MX listener: how many connections,
// and how many messages (MAIL FROM commands), one client address may open or start an hour.
//
// A token bucket per client: it holds up to `per_hour` tokens, starts full, and refills at
// per_hour / 3600 tokens a second; each connection or message takes one. So a client may
// burst up to the hourly figure and then continues at the average rate. The client is its
// address for IPv4 and its /64 for IPv6 (one host's addresses; the greylist groups wider).
//
// Bounds: at most `max_clients` buckets. When full, buckets that have refilled completely
// (a client not seen for an hour) are dropped; if none has, a new client is let through
// untracked rather than refused (the connection limits still hold).
//
// Threading: thread-safe (one mutex). Pure apart from the clock passed in.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>

namespace signpost::inbound {

class ClientRate {
public:
    using Clock = std::chrono::steady_clock;
    // per_hour 0 = no limit: take() always succeeds.
    explicit ClientRate(std::uint32_t per_hour, std::size_t max_clients = 65536);

    // Takes one token for `client`; false (nothing taken) when its bucket is empty.
    bool take(const boost::asio::ip::address& client, Clock::time_point now);
    std::uint32_t per_hour() const { return per_hour_; }
    std::size_t tracked() const;

    // "192.0.2.7", "2001:db8:1:2::/64".
    static std::string client_key(const boost::asio::ip::address& client);

private:
    struct Bucket {
        double tokens;
        Clock::time_point last;
    };
    double refilled(const Bucket& b, Clock::time_point now) const;

    const std::uint32_t per_hour_;
    const std::size_t max_clients_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Bucket> buckets_;  // guarded by mutex_
};

}  // namespace signpost::inbound
