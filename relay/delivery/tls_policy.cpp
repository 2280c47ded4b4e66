// relay/delivery/tls_policy.cpp — TLS requirement per MX host (see tls_policy.hpp).
#include "relay/delivery/tls_policy.hpp"

namespace signpost::delivery {

const char* to_string(PolicySource s) {
    switch (s) {
        case PolicySource::route: return "route";
        case PolicySource::dane: return "dane";
        case PolicySource::mta_sts_enforce: return "mta-sts-enforce";
        case PolicySource::mta_sts_testing: return "mta-sts-testing";
        case PolicySource::opportunistic: return "opportunistic";
        case PolicySource::smarthost: return "smarthost";
    }
    return "opportunistic";
}

namespace {

std::string dane_reason(const HostDane& dane) {
    return std::to_string(dane.records.size()) + " usable TLSA record" + (dane.records.size() == 1 ? "" : "s") + " at " +
           dane.tlsa_name + " (DNSSEC-signed): STARTTLS and a certificate chain matching one are required";
}

}  // namespace

TlsDecision decide_tls(const std::optional<mtasts::Policy>& policy, std::string_view mx_host,
                       std::optional<config::RouteTls> route_tls, const HostDane& dane) {
    TlsDecision d;
    if (route_tls == config::RouteTls::dane) {
        d.source = PolicySource::route;
        if (dane.kind == HostDane::Kind::usable) {
            d.session = TlsPolicy::dane;
            d.reason = "[[route]] tls = dane: " + dane_reason(dane);
        } else {
            d.allowed = false;
            d.session = TlsPolicy::dane;
            d.dane_failure = dane.kind == HostDane::Kind::failed ? dane.failure : "dane-required";
            d.reason = "[[route]] tls = dane, but " +
                       (dane.kind == HostDane::Kind::unusable_only
                            ? "the TLSA records at " + dane.tlsa_name + " are none of them usable"
                            : dane.why.empty() ? std::string("there are no DNSSEC-signed TLSA records") : dane.why) +
                       ": not contacted";
        }
        return d;
    }
    if (route_tls) {
        d.source = PolicySource::route;
        switch (*route_tls) {
            case config::RouteTls::verify:
                d.session = TlsPolicy::required_verified;
                d.reason = "[[route]] tls = verify: STARTTLS and a certificate valid for " + std::string(mx_host) +
                           " are required";
                break;
            case config::RouteTls::may:
                d.session = TlsPolicy::opportunistic;
                d.reason = "[[route]] tls = may: opportunistic TLS";
                break;
            case config::RouteTls::none:
                d.session = TlsPolicy::none_allowed_plaintext;
                d.reason = "[[route]] tls = none: plaintext allowed";
                break;
            case config::RouteTls::dane: break;  // decided above
        }
        return d;
    }
    if (dane.kind == HostDane::Kind::failed) {
        d.source = PolicySource::dane;
        d.session = TlsPolicy::dane;
        d.allowed = false;
        d.dane_failure = dane.failure;
        d.reason = "DANE: " + dane.why + ": not contacted";
        return d;
    }
    if (dane.kind == HostDane::Kind::usable) {
        d.source = PolicySource::dane;
        d.session = TlsPolicy::dane;
        d.reason = "DANE: " + dane_reason(dane);
        if (policy && policy->mode != mtasts::Mode::none && !policy->matches(mx_host))
            d.reason += " (MTA-STS does not list this host; DANE takes precedence)";
        return d;
    }
    // Unusable records only: MTA-STS enforce, when there is one, asks for more (a verified
    // certificate, a listed host) and so decides.
    const bool sts_enforce = policy && policy->mode == mtasts::Mode::enforce;
    if (dane.kind == HostDane::Kind::unusable_only && !sts_enforce) {
        d.source = PolicySource::dane;
        d.session = TlsPolicy::required_encrypted;
        d.reason = "DANE: TLSA records at " + dane.tlsa_name +
                   " but none usable (RFC 7672 §2.2): STARTTLS required, certificate not checked";
        return d;
    }
    if (!policy || policy->mode == mtasts::Mode::none) {
        d.reason = policy ? "MTA-STS policy id " + policy->id + " has mode none: opportunistic TLS"
                          : "no MTA-STS policy: opportunistic TLS";
        return d;
    }
    d.listed = policy->matches(mx_host);
    const std::string id = "MTA-STS policy id " + policy->id;
    if (policy->mode == mtasts::Mode::enforce) {
        d.source = PolicySource::mta_sts_enforce;
        d.session = TlsPolicy::required_verified;
        d.allowed = d.listed;
        d.reason = d.listed ? id + " (enforce) lists " + std::string(mx_host) +
                                  ": STARTTLS and a certificate valid for it are required"
                            : id + " (enforce) does not list " + std::string(mx_host) + ": not contacted";
        return d;
    }
    d.source = PolicySource::mta_sts_testing;
    d.session = TlsPolicy::opportunistic;
    d.reason = id + " (testing): opportunistic TLS, failures reported" +
               (d.listed ? std::string() : "; " + std::string(mx_host) + " is not listed");
    return d;
}

std::string testing_violation(const TlsDecision& d, const std::string& tls, const std::string& verification) {
    if (d.source != PolicySource::mta_sts_testing) return "";
    if (!d.listed) return "MX host not listed in the policy";
    if (tls.empty() || tls == "none") return "no TLS (STARTTLS not offered)";
    if (verification != "verified") return "certificate " + verification;
    return "";
}

}  // namespace signpost::delivery
