// relay/app/inbound_backlog.cpp — mail waiting per [[inbound]] domain (see inbound_backlog.hpp).
#include "relay/app/inbound_backlog.hpp"

#include <algorithm>
#include <set>

#include "relay/inbound/text.hpp"

namespace signpost::app {

std::map<std::string, InboundBacklog> inbound_backlog(const std::vector<config::InboundConfig>& inbound,
                                                      const std::vector<queue::Envelope>& messages,
                                                      std::chrono::system_clock::time_point now) {
    std::map<std::string, InboundBacklog> out;
    for (const auto& entry : inbound) out.emplace(entry.domain, InboundBacklog{});
    for (const queue::Envelope& env : messages) {
        std::set<std::string> counted;  // each message once per domain
        for (const queue::Recipient& r : env.recipients) {
            if (r.state != queue::RcptState::pending) continue;
            const auto at = r.address.rfind('@');
            if (at == std::string::npos) continue;
            std::string domain = inbound::ascii_lower(std::string_view(r.address).substr(at + 1));
            if (!domain.empty() && domain.back() == '.') domain.pop_back();
            auto it = out.find(domain);
            if (it == out.end() || !counted.insert(domain).second) continue;
            ++it->second.messages;
            const double age = std::chrono::duration<double>(now - env.arrival).count();
            it->second.oldest_age_seconds = std::max({it->second.oldest_age_seconds, age, 0.0});
        }
    }
    return out;
}

}  // namespace signpost::app
