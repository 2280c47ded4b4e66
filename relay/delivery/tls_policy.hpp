// relay/delivery/tls_policy.hpp — which TLS requirement applies to one MX host of one
// destination, and why (RFC 8461 §4, §5).
//
// The strongest that applies wins:
//   0. a [[route]] tls setting for the domain (the operator's word outranks MTA-STS):
//      "verify" = STARTTLS and a certificate valid for the host; "may" = opportunistic;
//      "none" = plaintext allowed (the only way to send without TLS to a host offering it);
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
#include "relay/delivery/smtp_session.hpp"
#include "relay/mtasts/mtasts.hpp"

namespace signpost::delivery {

// Bounded label values for logs and metrics (never a domain name).
enum class PolicySource { route, mta_sts_enforce, mta_sts_testing, opportunistic, smarthost };
const char* to_string(PolicySource s);  // "route", "mta-sts-enforce", "mta-sts-testing", ...

struct TlsDecision {
    PolicySource source = PolicySource::opportunistic;
    TlsPolicy session = TlsPolicy::opportunistic;  // what the SMTP session enforces
    bool allowed = true;      // false: this MX host must not be contacted (enforce, not listed)
    bool listed = true;       // the host matches the policy (true when there is no policy)
    std::string reason;       // one line for logs and `signpost explain`
};

TlsDecision decide_tls(const std::optional<mtasts::Policy>& policy, std::string_view mx_host,
                       std::optional<config::RouteTls> route_tls = std::nullopt);

// Under "testing": what enforce would have refused in a finished session, or "" when it
// would have passed. `tls` and `verification` are SessionResult's fields.
std::string testing_violation(const TlsDecision& d, const std::string& tls, const std::string& verification);

}  // namespace signpost::delivery
