// relay/inbound/rate.cpp — per-client token buckets (see rate.hpp).
#include "relay/inbound/rate.hpp"

#include <algorithm>

namespace signpost::inbound {

ClientRate::ClientRate(std::uint32_t per_hour, std::size_t max_clients)
    : per_hour_(per_hour), max_clients_(std::max<std::size_t>(max_clients, 1)) {}

std::string ClientRate::client_key(const boost::asio::ip::address& client) {
    if (client.is_v4()) return client.to_string();
    if (client.to_v6().is_v4_mapped())
        return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, client.to_v6()).to_string();
    auto bytes = client.to_v6().to_bytes();
    std::fill(bytes.begin() + 8, bytes.end(), 0);
    return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

double ClientRate::refilled(const Bucket& b, Clock::time_point now) const {
    const double seconds = std::chrono::duration<double>(now - b.last).count();
    return std::min<double>(per_hour_, b.tokens + std::max(0.0, seconds) * per_hour_ / 3600.0);
}

bool ClientRate::take(const boost::asio::ip::address& client, Clock::time_point now) {
    if (per_hour_ == 0) return true;
    const std::string key = client_key(client);
    std::lock_guard lock(mutex_);
    auto it = buckets_.find(key);
    if (it == buckets_.end()) {
        if (buckets_.size() >= max_clients_) {
            std::erase_if(buckets_, [&](const auto& kv) { return refilled(kv.second, now) >= per_hour_; });
            if (buckets_.size() >= max_clients_) return true;  // untracked, see rate.hpp
        }
        buckets_.emplace(key, Bucket{static_cast<double>(per_hour_) - 1.0, now});
        return true;
    }
    Bucket& b = it->second;
    const double tokens = refilled(b, now);
    if (tokens < 1.0) return false;
    b.tokens = tokens - 1.0;
    b.last = now;
    return true;
}

std::size_t ClientRate::tracked() const {
    std::lock_guard lock(mutex_);
    return buckets_.size();
}

}  // namespace signpost::inbound
