// relay/app/dns_lookup.cpp — adapts relay/dns's TxtResolver to keys::TxtLookup.
#include "relay/app/dns_lookup.hpp"

#include <mutex>

#include "relay/dns/txt_lookup.hpp"

namespace signpost::app {

keys::TxtLookup make_txt_lookup(const config::DnsConfig& dns) {
    std::vector<std::string> forwarders;
    for (const auto& f : dns.forwarders) forwarders.push_back(f.host + "@" + std::to_string(f.port));
    auto resolver = std::make_shared<dns::TxtResolver>(forwarders, dns.trust_anchor_file.string(), true);
    auto mutex = std::make_shared<std::mutex>();
    return [resolver, mutex](const std::string& name) {
        std::lock_guard lock(*mutex);  // one query at a time per resolver
        dns::TxtAnswer a = resolver->lookup(name);
        keys::TxtLookupResult r;
        r.records = std::move(a.records);
        r.status = a.status == dns::TxtAnswer::Status::found       ? keys::TxtLookupResult::Status::found
                   : a.status == dns::TxtAnswer::Status::not_found ? keys::TxtLookupResult::Status::not_found
                                                                   : keys::TxtLookupResult::Status::error;
        return r;
    };
}

}  // namespace signpost::app
