// relay/dns/dnssec_probe.cpp — the DNSSEC path probe (see dnssec_probe.hpp).
#include "relay/dns/dnssec_probe.hpp"

#include <fstream>
#include <sstream>

namespace signpost::dns {

const char* to_string(DnssecProbe::State s) {
    switch (s) {
        case DnssecProbe::State::validating: return "validating";
        case DnssecProbe::State::broken: return "broken";
        case DnssecProbe::State::unreachable: return "unreachable";
    }
    return "?";
}

std::string trust_anchor_zone(const std::filesystem::path& file) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string owner;
        if (!(words >> owner) || owner[0] == ';' || owner[0] == '$') continue;
        if (owner.back() != '.') owner.push_back('.');
        return owner;
    }
    return ".";
}

boost::asio::awaitable<DnssecProbe> probe_dnssec(Resolver& resolver, std::string zone) {
    DnssecProbe p;
    p.zone = zone;
    Answer a = co_await resolver.dnskey(zone);
    if (a.security == Security::secure && a.status == Status::ok) {
        p.state = DnssecProbe::State::validating;
        p.detail = "the DNSKEY records of \"" + zone + "\" (the trust anchor's zone) validate";
    } else if (a.security == Security::bogus) {
        p.state = DnssecProbe::State::broken;
        p.detail = "the DNSKEY records of \"" + zone + "\" (the trust anchor's zone) fail validation: " + a.why +
                   "; the DNS path probably strips DNSSEC records";
    } else if (a.status == Status::ok || a.status == Status::nxdomain) {
        p.state = DnssecProbe::State::broken;
        p.detail = "the DNSKEY records of \"" + zone + "\" (the trust anchor's zone) are answered " +
                   to_string(a.security) + ", not secure";
    } else {
        p.state = DnssecProbe::State::unreachable;
        std::string why = a.why;
        if (why.empty()) why = to_string(a.status);
        p.detail = "no answer for the DNSKEY records of \"" + zone + "\": " + why;
    }
    co_return p;
}

}  // namespace signpost::dns
