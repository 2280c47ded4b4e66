// relay/delivery/tls_report_events.cpp — TLS-RPT events from delivery (see the header).
#include "relay/delivery/tls_report_events.hpp"

#include "relay/dane/dane.hpp"

namespace signpost::delivery {
namespace {

using tlsrpt::ResultType;

// OpenSSL's verification reason (as X509_verify_cert_error_string words it) -> result type.
ResultType from_verify_reason(const std::string& text) {
    if (text.find("hostname mismatch") != std::string::npos || text.find("IP address mismatch") != std::string::npos)
        return ResultType::certificate_host_mismatch;
    if (text.find("certificate has expired") != std::string::npos || text.find("not yet valid") != std::string::npos)
        return ResultType::certificate_expired;
    return ResultType::certificate_not_trusted;
}

ResultType from_dane_failure(const std::string& f) {
    if (f == "starttls-not-supported") return ResultType::starttls_not_supported;
    if (f == "name-mismatch") return ResultType::certificate_host_mismatch;
    if (f == "expired") return ResultType::certificate_expired;
    if (f == "dnssec-invalid" || f == "tlsa-lookup") return ResultType::dnssec_invalid;
    if (f == "dane-required") return ResultType::dane_required;
    return ResultType::validation_failure;  // no-match, chain-invalid, no-certificate
}

tlsrpt::SessionEvent failure(const tlsrpt::Policy& policy, ResultType r, const std::string& host, const std::string& ip,
                             const std::string& local, std::string info = {}) {
    tlsrpt::SessionEvent e;
    e.policy = policy;
    e.success = false;
    e.result = r;
    e.receiving_mx_hostname = host;
    e.receiving_ip = ip;
    e.sending_mta_ip = local;
    e.additional_information = std::move(info);
    return e;
}

}  // namespace

std::optional<tlsrpt::Policy> report_policy(const std::string& domain, const TlsDecision& d,
                                            const std::optional<mtasts::Policy>& sts, const HostDane& dane) {
    if (d.source == PolicySource::route || d.source == PolicySource::smarthost) return std::nullopt;
    tlsrpt::Policy p;
    p.domain = domain;
    if (d.source == PolicySource::dane) {
        p.type = tlsrpt::PolicyType::tlsa;
        for (const auto& r : dane.records) p.strings.push_back(dane::to_presentation(r));
        return p;
    }
    if ((d.source == PolicySource::mta_sts_enforce || d.source == PolicySource::mta_sts_testing) && sts) {
        p.type = tlsrpt::PolicyType::sts;
        p.strings.push_back("version: STSv1");
        p.strings.push_back(std::string("mode: ") + mtasts::to_string(sts->mode));
        for (const auto& m : sts->mx) p.strings.push_back("mx: " + m);
        p.strings.push_back("max_age: " + std::to_string(sts->max_age));
        p.mx_host = sts->mx;
        return p;
    }
    p.type = tlsrpt::PolicyType::no_policy_found;
    return p;
}

std::optional<tlsrpt::SessionEvent> session_event(const tlsrpt::Policy& policy, const TlsDecision& d,
                                                  const SessionResult& res, const std::string& host,
                                                  const std::string& ip) {
    const bool tls = !res.tls.empty() && res.tls != "none";
    const RecipientResult* first = res.recipients.empty() ? nullptr : &res.recipients.front();
    const std::string enhanced = first ? first->enhanced : std::string();
    const std::string text = first ? first->text : std::string();
    if (*res.dane_failure) return failure(policy, from_dane_failure(res.dane_failure), host, ip, res.local_ip);
    if (!tls) {
        if (enhanced == "4.7.4") return failure(policy, ResultType::starttls_not_supported, host, ip, res.local_ip);
        if (enhanced == "4.7.5") {
            if (text.find("not verified: ") != std::string::npos)
                return failure(policy, from_verify_reason(text), host, ip, res.local_ip);
            return failure(policy, ResultType::validation_failure, host, ip, res.local_ip, "TLS handshake failed");
        }
        // Plaintext to a host that did not offer STARTTLS (opportunistic) reached the
        // transaction; anything else never got to TLS.
        if (policy.type == tlsrpt::PolicyType::no_policy_found && !res.try_next)
            return failure(policy, ResultType::starttls_not_supported, host, ip, res.local_ip);
        if (policy.type == tlsrpt::PolicyType::sts && d.source == PolicySource::mta_sts_testing && !res.try_next)
            return failure(policy, ResultType::starttls_not_supported, host, ip, res.local_ip);
        return std::nullopt;
    }
    // TLSA records that are all unusable: TLS went ahead unauthenticated (RFC 7672 §2.2), but
    // the domain's records are broken, which is what its report is for (§4.3.2.1).
    if (d.session == TlsPolicy::required_encrypted)
        return failure(policy, ResultType::tlsa_invalid, host, ip, res.local_ip, "no usable TLSA record");
    tlsrpt::SessionEvent ok;
    ok.policy = policy;
    ok.receiving_mx_hostname = host;
    ok.receiving_ip = ip;
    ok.sending_mta_ip = res.local_ip;
    if (policy.type == tlsrpt::PolicyType::sts) {
        if (!d.listed) return failure(policy, ResultType::validation_failure, host, ip, res.local_ip, "MX host not listed in the policy");
        if (res.verification != "verified") return failure(policy, from_verify_reason(res.verification), host, ip, res.local_ip);
    }
    return ok;
}

tlsrpt::SessionEvent sts_fetch_event(const std::string& domain, const mtasts::Lookup& lookup) {
    tlsrpt::Policy p;
    p.type = tlsrpt::PolicyType::sts;
    p.domain = domain;
    if (lookup.policy) {
        TlsDecision d;
        d.source = PolicySource::mta_sts_enforce;
        if (auto with_lines = report_policy(domain, d, lookup.policy, HostDane{})) p = *with_lines;
    }
    const ResultType r = lookup.failure == mtasts::Lookup::Failure::webpki    ? ResultType::sts_webpki_invalid
                         : lookup.failure == mtasts::Lookup::Failure::invalid ? ResultType::sts_policy_invalid
                                                                              : ResultType::sts_policy_fetch_error;
    return failure(p, r, "", "", "", lookup.detail.substr(0, 200));
}

std::optional<tlsrpt::SessionEvent> refusal_event(const tlsrpt::Policy& policy, const TlsDecision& d,
                                                  const std::string& host) {
    if (*d.dane_failure) return failure(policy, from_dane_failure(d.dane_failure), host, "", "");
    if (d.source == PolicySource::mta_sts_enforce && !d.listed)
        return failure(policy, ResultType::validation_failure, host, "", "", "MX host not listed in the policy");
    return std::nullopt;
}

}  // namespace signpost::delivery
