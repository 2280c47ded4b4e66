// relay/auth/failures.cpp — per-address AUTH failure counting (see failures.hpp).
#include "relay/auth/failures.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace signpost::auth {

FailurePolicy user_failure_policy(FailurePolicy per_address) {
    FailurePolicy p = per_address;
    p.max_failures = per_address.max_failures * 4;
    p.max_tracked = 10'000;
    return p;
}

std::string failure_key(std::string_view ip) {
    std::string text(ip);
    in_addr v4{};
    if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
        char buf[INET_ADDRSTRLEN];
        return ::inet_ntop(AF_INET, &v4, buf, sizeof buf) ? std::string(buf) : text;
    }
    // Asio prints scoped addresses as "fe80::1%eth0"; the scope does not name a host.
    std::string unscoped = text.substr(0, text.find('%'));
    in6_addr v6{};
    if (::inet_pton(AF_INET6, unscoped.c_str(), &v6) != 1) return text;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
        std::memcpy(&v4, v6.s6_addr + 12, 4);
        char buf[INET_ADDRSTRLEN];
        return ::inet_ntop(AF_INET, &v4, buf, sizeof buf) ? std::string(buf) : text;
    }
    std::memset(v6.s6_addr + 8, 0, 8);
    char buf[INET6_ADDRSTRLEN];
    if (!::inet_ntop(AF_INET6, &v6, buf, sizeof buf)) return text;
    return std::string(buf) + "/64";
}

FailureTracker::FailureTracker(FailurePolicy policy, SteadyClock clock)
    : policy_(policy), clock_(clock ? std::move(clock) : default_clock()) {}

const FailureTracker::Entry* FailureTracker::find_live(const std::string& key,
                                                       std::chrono::steady_clock::time_point now) const {
    auto it = entries_.find(key);
    if (it == entries_.end() || now >= it->second.last_failure + policy_.lockout) return nullptr;
    return &it->second;
}

void FailureTracker::erase(Map::iterator it) {
    order_.erase(it->second.position);
    entries_.erase(it);
}

void FailureTracker::sweep(std::chrono::steady_clock::time_point now) {
    while (!order_.empty()) {
        auto it = entries_.find(order_.front());
        if (now < it->second.last_failure + policy_.lockout) break;
        erase(it);
    }
}

void FailureTracker::set_policy(FailurePolicy policy) {
    std::lock_guard lock(mutex_);
    policy_ = policy;
}

void FailureTracker::record_failure(std::string_view ip) {
    std::string key = failure_key(ip);
    const auto now = clock_();
    std::lock_guard lock(mutex_);
    sweep(now);  // an expired entry for `key` goes too, so counting restarts at 1
    auto it = entries_.find(key);
    if (it == entries_.end()) {
        if (policy_.max_tracked == 0) return;
        while (entries_.size() >= policy_.max_tracked) erase(entries_.find(order_.front()));
        order_.push_back(key);
        it = entries_.emplace(std::move(key), Entry{0, now, std::prev(order_.end())}).first;
    } else {
        order_.splice(order_.end(), order_, it->second.position);  // now the most recent
    }
    Entry& e = it->second;
    if (e.failures < std::numeric_limits<std::uint32_t>::max()) ++e.failures;
    e.last_failure = now;
}

void FailureTracker::record_success(std::string_view ip) {
    std::string key = failure_key(ip);
    const auto now = clock_();
    std::lock_guard lock(mutex_);
    sweep(now);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    if (policy_.max_failures != 0 && it->second.failures >= policy_.max_failures) return;  // locked out
    erase(it);
}

void FailureTracker::touch(std::string_view ip) {
    std::string key = failure_key(ip);
    const auto now = clock_();
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return;
    it->second.last_failure = now;
    order_.splice(order_.end(), order_, it->second.position);
}

std::chrono::milliseconds FailureTracker::delay(std::string_view ip) const {
    std::string key = failure_key(ip);
    const auto now = clock_();
    std::uint32_t n = 0;
    {
        std::lock_guard lock(mutex_);
        if (const Entry* e = find_live(key, now)) n = e->failures;
    }
    if (n <= 1) return std::chrono::milliseconds{0};
    std::chrono::milliseconds d = policy_.first_delay;
    for (std::uint32_t i = 2; i < n && d < policy_.max_delay; ++i) d *= 2;
    return std::min(d, policy_.max_delay);
}

bool FailureTracker::locked_out(std::string_view ip) const {
    if (policy_.max_failures == 0) return false;
    std::string key = failure_key(ip);
    const auto now = clock_();
    std::lock_guard lock(mutex_);
    const Entry* e = find_live(key, now);
    return e && e->failures >= policy_.max_failures;
}

std::uint32_t FailureTracker::failures(std::string_view ip) const {
    std::string key = failure_key(ip);
    const auto now = clock_();
    std::lock_guard lock(mutex_);
    const Entry* e = find_live(key, now);
    return e ? e->failures : 0;
}

std::size_t FailureTracker::tracked() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace signpost::auth
