// relay/delivery/tls_policy.hpp — which TLS requirement applies to one MX host of one
// destination, and why (RFC 8461 §4, §5).
//
// The first that applies wins (DESIGN.md "Outbound TLS policy"):
//   0. a [[route]] tls setting for the domain (the operator's word outranks DNS):
//      "verify" = STARTTLS and a certificate valid for the host; "may" = opportunistic;
//      "none" = plaintext allowed (the only way to send without TLS to a host offering it);
//      "dane" = as DANE below, and a host without usable TLSA records is not contacted
//      (Postfix's "dane-only");
//   D. DANE (RFC 7672), when the MX host's TLSA records were looked up (HostDane, from
//      dane_lookup.hpp): usable records -> STARTTLS and a chain that matches one of them,
//      whatever MTA-STS says (RFC 8461 §2: DANE takes precedence, so a host MTA-STS does
//      not list is still used). Records but none usable -> STARTTLS required, certificate
//      not checked (RFC 7672 §2.2), unless there is an MTA-STS enforce policy, which asks
//      for more and so decides (a verified certificate, a listed host). A TLSA or address lookup that failed DNSSEC validation or did not answer for
//      a host whose MX/address records are signed -> the host is not contacted (§2.2.1);
//   1. MTA-STS "enforce": only MX hosts matching the policy's mx patterns (§4.1) may be
//      used, with STARTTLS and a certificate that chains to a trusted CA and is valid for
//      the MX host name (§4.2). A host that does not match is not contacted at all.
//   2. MTA-STS "testing": deliver as opportunistic; what enforce would have refused (host
//      not listed, no STARTTLS, certificate not verified) is logged and counted (§5.2).
//   3. opportunistic: STARTTLS when offered, certificate not checked, and never plaintext
//      once TLS was offered and failed (relay/delivery/smtp_session.hpp).
// A policy with mode "none" is the same as no policy (§5).
//
// Nothing here falls back: a host refused under enforce is refused; the caller defers.
//
// Untrusted input: none (the policy was parsed by relay/mtasts).
// Threading: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "relay/dns/resolver.hpp"
#include "relay/delivery/smtp_session.hpp"
#include "relay/mtasts/mtasts.hpp"

namespace signpost::delivery {

// Bounded label values for logs and metrics (never a domain name).
enum class PolicySource { route, dane, mta_sts_enforce, mta_sts_testing, opportunistic, smarthost };
const char* to_string(PolicySource s);  // "route", "dane", "mta-sts-enforce", "mta-sts-testing", ...

// What DNS says about DANE for one MX host (filled by dane_lookup.hpp).
struct HostDane {
    enum class Kind {
        none,           // no DANE: DNSSEC off, unsigned MX/address/TLSA records, or no TLSA
        usable,         // signed TLSA records, some usable: `records` are those
        unusable_only,  // signed TLSA records, none usable: `records` are all of them
        failed,         // a lookup that must be secure failed validation or did not answer
    };
    Kind kind = Kind::none;
    std::vector<dns::TlsaRecord> records;
    std::vector<std::string> names;  // reference identifiers: the TLSA base domain first
    std::string tlsa_name;           // where the records are: "_25._tcp.mx.example.org"
    std::string why;                 // one line for logs and `signpost explain`
    const char* failure = "";        // failed: "dnssec-invalid" or "tlsa-lookup" (metric label)
};

struct TlsDecision {
    PolicySource source = PolicySource::opportunistic;
    TlsPolicy session = TlsPolicy::opportunistic;  // what the SMTP session enforces
    bool allowed = true;      // false: this MX host must not be contacted (enforce, not listed)
    bool listed = true;       // the host matches the policy (true when there is no policy)
    std::string reason;       // one line for logs and `signpost explain`
    // Not allowed for a DANE reason: the bounded label ("dnssec-invalid", "tlsa-lookup",
    // "dane-required"); "" otherwise.
    const char* dane_failure = "";
    // MTA-STS/DANE yielded to the message's "TLS-Required: No" (RFC 8689 §5; mx.cpp).
    bool relaxed = false;
};

TlsDecision decide_tls(const std::optional<mtasts::Policy>& policy, std::string_view mx_host,
                       std::optional<config::RouteTls> route_tls = std::nullopt, const HostDane& dane = {});

// Under "testing": what enforce would have refused in a finished session, or "" when it
// would have passed. `tls` and `verification` are SessionResult's fields.
std::string testing_violation(const TlsDecision& d, const std::string& tls, const std::string& verification);

}  // namespace signpost::delivery
