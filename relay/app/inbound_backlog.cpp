// relay/app/inbound_backlog.cpp — mail waiting per [[inbound]] domain (see inbound_backlog.hpp).
#include "relay/app/inbound_backlog.hpp"

#include <algorithm>
#include <set>

#include "relay/inbound/text.hpp"

namespace signpost::app {

InboundBacklogCounter::InboundBacklogCounter(const std::vector<config::InboundConfig>& inbound,
                                             std::chrono::system_clock::time_point now)
    : now_(now) {
    for (const auto& entry : inbound) out_.emplace(entry.domain, InboundBacklog{});
}

void InboundBacklogCounter::add(const queue::Envelope& env) {
    std::set<std::string> counted;  // each message once per domain
    for (const queue::Recipient& r : env.recipients) {
        if (r.state != queue::RcptState::pending) continue;
        const auto at = r.address.rfind('@');
        if (at == std::string::npos) continue;
        std::string domain = inbound::ascii_lower(std::string_view(r.address).substr(at + 1));
        if (!domain.empty() && domain.back() == '.') domain.pop_back();
        auto it = out_.find(domain);
        if (it == out_.end() || !counted.insert(domain).second) continue;
        ++it->second.messages;
        const double age = std::chrono::duration<double>(now_ - env.arrival).count();
        it->second.oldest_age_seconds = std::max({it->second.oldest_age_seconds, age, 0.0});
    }
}

}  // namespace signpost::app
