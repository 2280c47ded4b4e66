// relay/inbound/greylist.cpp — greylisting (see greylist.hpp).
#include "relay/inbound/greylist.hpp"

#include <algorithm>
#include <vector>

#include "relay/inbound/text.hpp"

namespace signpost::inbound {

const char* to_string(GreylistVerdict v) {
    switch (v) {
        case GreylistVerdict::pass: return "pass";
        case GreylistVerdict::first: return "first";
        case GreylistVerdict::too_early: return "too_early";
    }
    return "first";
}

std::string Greylist::client_network(const boost::asio::ip::address& client) {
    if (client.is_v4()) {
        auto b = client.to_v4().to_bytes();
        b[3] = 0;
        return boost::asio::ip::address_v4(b).to_string() + "/24";
    }
    auto v6 = client.to_v6();
    if (v6.is_v4_mapped()) return client_network(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6));
    auto b = v6.to_bytes();
    std::fill(b.begin() + 8, b.end(), 0);
    return boost::asio::ip::address_v6(b).to_string() + "/64";
}

GreylistVerdict Greylist::check(const boost::asio::ip::address& client, std::string_view sender, std::string_view recipient,
                                Clock::time_point now, std::chrono::seconds& wait) {
    const std::string key = client_network(client) + '\n' + ascii_lower(sender) + '\n' + ascii_lower(recipient);
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
        Entry& e = it->second;
        if (e.passed && now - e.last <= options_.lifetime) {
            e.last = now;
            return GreylistVerdict::pass;
        }
        if (!e.passed && now - e.first < options_.delay) {
            wait = std::chrono::ceil<std::chrono::seconds>(options_.delay - (now - e.first));
            return GreylistVerdict::too_early;
        }
        if (!e.passed && now - e.first <= options_.retry_window) {
            e.passed = true;
            e.last = now;
            return GreylistVerdict::pass;
        }
        entries_.erase(it);  // expired: the triplet starts over
    }
    if (entries_.size() >= options_.max_entries) make_room(now);
    entries_.emplace(key, Entry{now, now, false});
    wait = options_.delay;
    return GreylistVerdict::first;
}

void Greylist::make_room(Clock::time_point now) {
    std::erase_if(entries_, [&](const auto& kv) {
        const Entry& e = kv.second;
        return e.passed ? now - e.last > options_.lifetime : now - e.first > options_.retry_window;
    });
    if (entries_.size() < options_.max_entries) return;
    // Still full: the oldest pending triplets go (a sender that retries is delayed once more).
    std::vector<std::pair<Clock::time_point, std::string>> pending;
    for (const auto& [k, e] : entries_)
        if (!e.passed) pending.emplace_back(e.first, k);
    std::sort(pending.begin(), pending.end());
    const std::size_t drop = std::min(pending.size(), entries_.size() - options_.max_entries + 1 + options_.max_entries / 10);
    for (std::size_t i = 0; i < drop; ++i) entries_.erase(pending[i].second);
    if (entries_.size() >= options_.max_entries) entries_.clear();  // all passed and live: start afresh
}

std::size_t Greylist::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace signpost::inbound
