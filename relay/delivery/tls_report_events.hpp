// relay/delivery/tls_report_events.hpp — what an MX delivery attempt tells the recipient
// domain's TLS report (RFC 8460 §4.3): the policy it ran under and whether TLS was
// negotiated as that policy asked. Pure: decisions and session results in, events out.
//
// Policy (§4.4): DANE (usable or unusable-only TLSA records) -> "tlsa" with the records;
// MTA-STS enforce or testing -> "sts" with the policy's lines and mx patterns; otherwise
// "no-policy-found". A [[route]] is the operator's choice, not the recipient's policy:
// not reported.
// Result of a session:
//   - success: TLS as the policy asks (tlsa: the chain matched; sts: a verified
//     certificate from a listed host; no policy: TLS);
//   - tlsa-invalid for TLS under TLSA records that are all unusable (delivered, but the
//     domain's records are broken);
//   - failure, by the first that applies: DANE's own verdict (no STARTTLS ->
//     starttls-not-supported, name -> certificate-host-mismatch, dates ->
//     certificate-expired, anything else -> validation-failure); no STARTTLS ->
//     starttls-not-supported; a certificate check that failed -> certificate-host-mismatch,
//     certificate-expired or certificate-not-trusted by OpenSSL's reason; a failed
//     handshake -> validation-failure; MTA-STS testing with a host not listed ->
//     validation-failure;
//   - nothing at all for a session that never reached the TLS step (connection refused,
//     timeouts, a greeting refused): RFC 8460 counts TLS negotiations.
// Hosts not contacted for their policy: MTA-STS enforce, host not listed ->
// validation-failure; DANE lookups that failed -> dnssec-invalid; [[route]] tls = dane
// without records is not reported (a route).
// Threading: pure functions.
#pragma once

#include <optional>
#include <string>

#include "relay/delivery/smtp_session.hpp"
#include "relay/delivery/tls_policy.hpp"
#include "relay/mtasts/mtasts.hpp"
#include "relay/tlsrpt/tlsrpt.hpp"

namespace signpost::delivery {

// The report's policy for this host's decision; nullopt when not reported (a [[route]]).
std::optional<tlsrpt::Policy> report_policy(const std::string& domain, const TlsDecision& d,
                                            const std::optional<mtasts::Policy>& sts, const HostDane& dane);

// The event for a finished session to `host`; nullopt when it never reached TLS.
std::optional<tlsrpt::SessionEvent> session_event(const tlsrpt::Policy& policy, const TlsDecision& d,
                                                  const SessionResult& res, const std::string& host,
                                                  const std::string& ip);

// The event for an MTA-STS policy fetch that failed (Lookup::failure set): policy "sts"
// (with the cached policy's lines when one stays in force), sts-policy-fetch-error,
// sts-policy-invalid or sts-webpki-invalid (RFC 8460 §4.3.2.2), our reason as
// additional-information.
tlsrpt::SessionEvent sts_fetch_event(const std::string& domain, const mtasts::Lookup& lookup);

// The event for `host`, not contacted because of its policy (d.allowed false).
std::optional<tlsrpt::SessionEvent> refusal_event(const tlsrpt::Policy& policy, const TlsDecision& d,
                                                  const std::string& host);

}  // namespace signpost::delivery
