// relay/delivery/dane_lookup.cpp — TLSA lookup for one MX host (see dane_lookup.hpp).
#include "relay/delivery/dane_lookup.hpp"

#include <utility>

#include "relay/dane/dane.hpp"

namespace signpost::delivery {

namespace {

HostDane failed(const char* failure, std::string why) {
    HostDane d;
    d.kind = HostDane::Kind::failed;
    d.failure = failure;
    d.why = std::move(why);
    return d;
}

HostDane none(std::string why) {
    HostDane d;
    d.why = std::move(why);
    return d;
}

}  // namespace

boost::asio::awaitable<HostDane> lookup_dane(dns::Resolver& resolver, std::string host, std::uint16_t port,
                                             dns::AddressAnswer v6, dns::AddressAnswer v4) {
    bool any_secure = false, any_insecure = false;
    std::string canonical;
    for (const dns::AddressAnswer* a : {&v6, &v4}) {
        if (a->security == dns::Security::bogus)
            co_return failed("dnssec-invalid", "the address records of " + host + " fail DNSSEC validation (" + a->why + ")");
        if (a->status != dns::Status::ok && a->status != dns::Status::nxdomain) continue;  // that family: no answer
        if (a->secure()) {
            any_secure = true;
            if (canonical.empty()) canonical = a->canonical;
        } else {
            any_insecure = true;
        }
    }
    if (!any_secure || any_insecure) co_return none("the address records of " + host + " are not DNSSEC-signed");

    std::vector<std::string> bases;
    if (!canonical.empty() && canonical != host) bases.push_back(canonical);
    bases.push_back(host);
    for (const auto& base : bases) {
        // Appended, not `"_" + string`: GCC 12 -O3 reports a false -Wrestrict there (bug 105651).
        std::string name = "_";
        name.append(std::to_string(port)).append("._tcp.").append(base);
        dns::TlsaAnswer t = co_await resolver.tlsa(name);
        if (t.security == dns::Security::bogus)
            co_return failed("dnssec-invalid", "the TLSA lookup " + name + " fails DNSSEC validation (" + t.why + ")");
        if (t.status == dns::Status::servfail || t.status == dns::Status::timeout) {
            // No `?:` over strings here: GCC 12 mishandles such temporaries in coroutines.
            std::string why = t.why;
            if (why.empty()) why = dns::to_string(t.status);
            co_return failed("tlsa-lookup", "the TLSA lookup " + name + " failed (" + why + ")");
        }
        if (!t.secure()) co_return none("the TLSA records at " + name + " are not DNSSEC-signed");
        if (t.status == dns::Status::nxdomain || t.records.empty()) continue;
        HostDane d;
        d.tlsa_name = name;
        d.names.push_back(base);
        if (base != host) d.names.push_back(host);
        d.records = dane::usable_records(t.records);
        if (d.records.empty()) {
            d.kind = HostDane::Kind::unusable_only;
            d.records = std::move(t.records);
            d.why = "no usable TLSA record at " + name;
        } else {
            d.kind = HostDane::Kind::usable;
        }
        co_return d;
    }
    co_return none("no TLSA records for " + host + " (DNSSEC-signed denial)");
}

}  // namespace signpost::delivery
