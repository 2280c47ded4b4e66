// relay/tlsrpt/report.hpp — the TLS-RPT report as bytes: the JSON document (RFC 8460 §4.4),
// its file name (§5.1), its gzip compression (§5.2), the UTC day it covers (§4.1), and the
// recipient domain's TXT record naming where reports go (§3).
//
// Implements: §3 the "v=TLSRPTv1; rua=..." record syntax (the DNS lookup of
// "_smtp._tls.<domain>" is the caller's); §4.4 the report members this module's counts
// carry; §5.1 the RECOMMENDED file name; §5.2 gzip. Deliberately not: "receiving-mx-helo"
// (we do not record the peer's greeting name), the report's MIME message and the HTTPS POST
// (§5.3, §5.4: sender.hpp), reading reports other MTAs send us.
//
// Untrusted input: the TXT record text (from DNS) and every string of the counts (policy
// strings and host names from DNS and MTA-STS policy files). The record parser looks at
// each byte once and keeps only "mailto:" and "https:" URIs. Strings go into the JSON
// through Boost.JSON (quotes and control characters escaped); bytes that are not UTF-8 are
// replaced by U+FFFD first, so the report is always well-formed JSON (RFC 8259 §8.1).
// Threading: pure functions; safe anywhere.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/tlsrpt/tlsrpt.hpp"

namespace signpost::tlsrpt {

// The report's own members (§4.4), other than its policies.
struct ReportMeta {
    std::string organization;  // "organization-name": who sends the report
    std::string contact;       // "contact-info": an address to ask about it
    std::string report_id;     // "report-id": unique among our reports
    std::string day;           // "YYYY-MM-DD" (UTC): date-range T00:00:00Z .. T23:59:59Z (§4.1)
};

// The report JSON text (compact, UTF-8) for one policy domain's counts: `policies` are the
// PolicyCounts of one domain (for_domain()), in the order given. Members as named in §4.4:
//   organization-name, date-range{start-datetime, end-datetime}, contact-info, report-id,
//   policies[{policy{policy-type, policy-string[], policy-domain, mx-host[]},
//             summary{total-successful-session-count, total-failure-session-count},
//             failure-details[{result-type, sending-mta-ip, receiving-mx-hostname,
//                              receiving-ip, failed-session-count, additional-information,
//                              failure-reason-code}]}]
// Optional members are left out when empty: policy-string, mx-host, failure-details (no
// failures), and a failure's sending-mta-ip, receiving-mx-hostname, receiving-ip,
// additional-information and failure-reason-code when "". `meta.day` is copied as given;
// it should be a valid day (day_start_unix(meta.day) >= 0).
std::string report_json(const ReportMeta& meta, const std::vector<PolicyCounts>& policies);

// §5.1: "<submitter>!<policy-domain>!<begin>!<end>[!<unique-id>].json.gz" where begin and
// end are the Unix times of `day`'s first and last second (end = begin + 86399). The
// ABNF's unique-id is 1*(ALPHA / DIGIT): other characters of `unique_id` are dropped (so a
// UUID report-id may be passed), and "!<unique-id>" is left out when nothing remains.
// Domains are passed as A-labels (§5.1: Punycode, never U-labels). `day` must be valid
// (day_start_unix(day) >= 0); for an invalid day both times read -1.
std::string report_filename(std::string_view submitter, std::string_view policy_domain, std::string_view day,
                            std::string_view unique_id);

// gzip (RFC 1952) of `data` (zlib's deflate, windowBits 15+16, default level). Throws
// std::runtime_error when zlib fails (out of memory): a bug or a dying process, not an
// outcome to handle.
std::string gzip(std::string_view data);

// §3: the "rua" URIs of a TLS-RPT TXT record, in order, or nullopt when `txt` is not a
// valid TLSRPTv1 record. Valid means: it begins with exactly "v=TLSRPTv1" (case-sensitive,
// no leading space); fields are separated by ";" with optional spaces or tabs around it, a
// trailing ";" allowed; at least one "rua=" field, whose URIs are separated by "," (spaces
// allowed around it), none empty or containing a space; every other field an extension,
// "name=value" per the ABNF, ignored. Several "rua=" fields are concatenated. Only URIs
// whose scheme is "mailto:" or "https:" (any case) are returned: a valid record naming
// only other schemes gives an EMPTY list, not nullopt (the domain asked for reports we
// cannot send; the caller sends none). The URIs are returned as written, the scheme
// lower-cased (percent-encoding of "," "!" ";" is left for the sender to decode).
std::optional<std::vector<std::string>> parse_tlsrpt_record(std::string_view txt);

// The UTC day "YYYY-MM-DD" of `t`; nullopt outside 1970-01-01 .. 9999-12-31.
std::optional<std::string> day_of(std::chrono::system_clock::time_point t);

// The Unix time of `day`'s first second (00:00:00Z); -1 when `day` is not a valid
// "YYYY-MM-DD" date in 1970-01-01 .. 9999-12-31 (month 01-12, day within the month,
// 29 February only in leap years). Every valid result is a multiple of 86400, never -1.
std::int64_t day_start_unix(std::string_view day);

}  // namespace signpost::tlsrpt
