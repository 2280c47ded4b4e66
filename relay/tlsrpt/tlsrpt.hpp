// relay/tlsrpt/tlsrpt.hpp — SMTP TLS Reporting (RFC 8460): what one outbound session tells a
// recipient domain's report, and a day's counts per policy. Pure values and functions; the
// durable store is store.hpp, the report JSON report.hpp, the sending sender.hpp.
//
// RFC 8460 §4: a report covers one UTC day and one policy domain (the recipient domain);
// it lists each policy that applied (MTA-STS "sts", DANE "tlsa", or "no-policy-found"),
// with the count of sessions that negotiated TLS as the policy asked and of those that
// failed, the failures grouped by result type and by the sending IP, receiving MX host
// and receiving IP (§4.3, §4.4).
//
// Untrusted input: the policy strings and host names come from DNS and MTA-STS policy
// files (already parsed); they are only copied into JSON strings (escaped by Boost.JSON).
// Threading: pure; safe anywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace signpost::tlsrpt {

// RFC 8460 §4.4 "policy-type".
enum class PolicyType { sts, tlsa, no_policy_found };
const char* to_string(PolicyType t);  // "sts", "tlsa", "no-policy-found"
std::optional<PolicyType> policy_type_from(std::string_view s);

// RFC 8460 §4.3 result types (negotiation failures §4.3.1, policy failures §4.3.2).
enum class ResultType {
    starttls_not_supported,
    certificate_host_mismatch,
    certificate_expired,
    certificate_not_trusted,
    validation_failure,
    tlsa_invalid,
    dnssec_invalid,
    dane_required,
    sts_policy_fetch_error,
    sts_policy_invalid,
    sts_webpki_invalid,
};
const char* to_string(ResultType r);  // the RFC's names: "starttls-not-supported", ...
std::optional<ResultType> result_type_from(std::string_view s);

// The policy a session ran under, as the report names it (§4.4 "policy").
struct Policy {
    PolicyType type = PolicyType::no_policy_found;
    std::string domain;                       // "policy-domain": the recipient domain
    std::vector<std::string> strings;         // "policy-string": the STS policy's lines, or
                                              // the TLSA records in presentation form
    std::vector<std::string> mx_host;         // "mx-host": the STS policy's mx patterns
    bool operator==(const Policy&) const = default;
};

// One outbound session, or an MX host not contacted because of its policy.
struct SessionEvent {
    Policy policy;
    bool success = true;
    ResultType result = ResultType::validation_failure;  // when !success
    std::string sending_mta_ip;         // our address of the connection ("" when none)
    std::string receiving_mx_hostname;  // the MX host
    std::string receiving_ip;           // its address ("" when not connected)
    std::string additional_information; // optional, a short text of ours
    std::string failure_reason_code;    // optional (§4.4 "failure-reason-code"): e.g. the
                                        // TLS library's code, "X509_V_ERR_CERT_HAS_EXPIRED"
    bool operator==(const SessionEvent&) const = default;
};

struct FailureDetail {
    ResultType result = ResultType::validation_failure;
    std::string sending_mta_ip, receiving_mx_hostname, receiving_ip, additional_information;
    std::string failure_reason_code;
    std::uint64_t count = 0;
};

struct PolicyCounts {
    Policy policy;
    std::uint64_t successful = 0, failed = 0;
    std::vector<FailureDetail> failures;  // one per distinct (result, IPs, host, information,
                                          // reason code), in order of first occurrence
};

// Adds `e` to `day` (the counts of one day, any domains): to the PolicyCounts whose
// policy equals e.policy, created when there is none.
void add(std::vector<PolicyCounts>& day, const SessionEvent& e);

// The counts of one policy domain, in `day`'s order.
std::vector<PolicyCounts> for_domain(const std::vector<PolicyCounts>& day, std::string_view domain);

}  // namespace signpost::tlsrpt
