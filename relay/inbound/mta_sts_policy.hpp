// relay/inbound/mta_sts_policy.hpp — what to publish so that senders use MTA-STS (RFC
// 8461) and TLS reporting (RFC 8460) for mail to a domain this relay is the MX for.
//
// policy_file(): the text to serve at https://mta-sts.<domain>/.well-known/mta-sts.txt
// (RFC 8461 §3.2: version, mode, one mx line per host, max_age; CRLF line ends as the RFC's
// ABNF has them). policy_id(): an id for the _mta-sts TXT record that changes whenever the
// policy text does (the first 20 hex digits of its SHA-256), so re-running the command after
// a change gives the new id to publish. records(): the DNS records, in zone-file form.
//
// Decisions: the default mode is "testing" (RFC 8461 §8.3 advises starting there and
// moving to enforce once reports show every sender succeeds); max_age defaults to one week
// and is bounded by the RFC's 31557600 seconds.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace signpost::inbound {

struct MtaStsPolicy {
    std::string domain;              // the recipient domain (an [[inbound]] domain)
    std::vector<std::string> mx;     // the MX host names senders will find (this relay)
    bool enforce = false;            // "enforce", else "testing"
    std::uint32_t max_age = 604800;  // seconds, at most 31557600
    std::string report_to;           // TLS-RPT rua, "mailto:..." ("" = no TLS-RPT record)
};

// The policy [mta_sts_serve] serves for an [[inbound]] domain: its mode, max_age and mx;
// report_to "mailto:tlsrpt@<domain>". Only meaningful when cfg.mta_sts_serve.listen is set.
MtaStsPolicy served_policy(const config::Config& cfg, const config::InboundConfig& entry);

std::string policy_file(const MtaStsPolicy& p);
std::string policy_id(const MtaStsPolicy& p);
// "<name>. 3600 IN <type> <value>" lines: MX, _mta-sts TXT, _smtp._tls TXT (when
// report_to is set), with a comment line before each saying what it is for.
std::string records(const MtaStsPolicy& p);

}  // namespace signpost::inbound
