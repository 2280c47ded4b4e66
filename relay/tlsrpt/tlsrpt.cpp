// relay/tlsrpt/tlsrpt.cpp — the TLS-RPT names and a day's counts (see tlsrpt.hpp).
#include "relay/tlsrpt/tlsrpt.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <utility>

namespace signpost::tlsrpt {
namespace {

// RFC 8460 §4.4 "policy-type" values.
constexpr std::array<std::pair<PolicyType, const char*>, 3> kPolicyTypes{{
    {PolicyType::sts, "sts"},
    {PolicyType::tlsa, "tlsa"},
    {PolicyType::no_policy_found, "no-policy-found"},
}};

// RFC 8460 §4.3.1 (negotiation) and §4.3.2 (policy) result types, as registered in IANA's
// "STARTTLS Validation Result Types" (§6.6).
constexpr std::array<std::pair<ResultType, const char*>, 11> kResultTypes{{
    {ResultType::starttls_not_supported, "starttls-not-supported"},
    {ResultType::certificate_host_mismatch, "certificate-host-mismatch"},
    {ResultType::certificate_expired, "certificate-expired"},
    {ResultType::certificate_not_trusted, "certificate-not-trusted"},
    {ResultType::validation_failure, "validation-failure"},
    {ResultType::tlsa_invalid, "tlsa-invalid"},
    {ResultType::dnssec_invalid, "dnssec-invalid"},
    {ResultType::dane_required, "dane-required"},
    {ResultType::sts_policy_fetch_error, "sts-policy-fetch-error"},
    {ResultType::sts_policy_invalid, "sts-policy-invalid"},
    {ResultType::sts_webpki_invalid, "sts-webpki-invalid"},
}};

template <class Enum, std::size_t N>
const char* name_of(const std::array<std::pair<Enum, const char*>, N>& table, Enum v) {
    for (const auto& [e, name] : table)
        if (e == v) return name;
    return "";  // not reached for a valid enumerator
}

// The names are case-sensitive: the RFC's JSON values are exact strings.
template <class Enum, std::size_t N>
std::optional<Enum> value_of(const std::array<std::pair<Enum, const char*>, N>& table, std::string_view s) {
    for (const auto& [e, name] : table)
        if (s == name) return e;
    return std::nullopt;
}

bool same_detail(const FailureDetail& d, const SessionEvent& e) {
    return d.result == e.result && d.sending_mta_ip == e.sending_mta_ip &&
           d.receiving_mx_hostname == e.receiving_mx_hostname && d.receiving_ip == e.receiving_ip &&
           d.additional_information == e.additional_information && d.failure_reason_code == e.failure_reason_code;
}

}  // namespace

const char* to_string(PolicyType t) { return name_of(kPolicyTypes, t); }
std::optional<PolicyType> policy_type_from(std::string_view s) { return value_of(kPolicyTypes, s); }

const char* to_string(ResultType r) { return name_of(kResultTypes, r); }
std::optional<ResultType> result_type_from(std::string_view s) { return value_of(kResultTypes, s); }

void add(std::vector<PolicyCounts>& day, const SessionEvent& e) {
    auto pc = std::find_if(day.begin(), day.end(), [&](const PolicyCounts& p) { return p.policy == e.policy; });
    if (pc == day.end()) {
        PolicyCounts fresh;
        fresh.policy = e.policy;
        day.push_back(std::move(fresh));
        pc = std::prev(day.end());
    }
    if (e.success) {
        ++pc->successful;
        return;
    }
    ++pc->failed;
    auto d = std::find_if(pc->failures.begin(), pc->failures.end(),
                          [&](const FailureDetail& f) { return same_detail(f, e); });
    if (d == pc->failures.end()) {
        FailureDetail fresh;
        fresh.result = e.result;
        fresh.sending_mta_ip = e.sending_mta_ip;
        fresh.receiving_mx_hostname = e.receiving_mx_hostname;
        fresh.receiving_ip = e.receiving_ip;
        fresh.additional_information = e.additional_information;
        fresh.failure_reason_code = e.failure_reason_code;
        pc->failures.push_back(std::move(fresh));
        d = std::prev(pc->failures.end());
    }
    ++d->count;
}

std::vector<PolicyCounts> for_domain(const std::vector<PolicyCounts>& day, std::string_view domain) {
    std::vector<PolicyCounts> out;
    std::copy_if(day.begin(), day.end(), std::back_inserter(out),
                 [&](const PolicyCounts& p) { return p.policy.domain == domain; });
    return out;
}

}  // namespace signpost::tlsrpt
