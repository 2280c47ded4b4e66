// relay/submission/inbound_checks.hpp — the MX listener's sender checks for one message:
// SPF (RFC 7208) of the client address for MAIL FROM (the HELO name for the null
// reverse-path), every DKIM signature (RFC 6376, verified as the message streamed in), and
// DMARC (RFC 7489) for the header From's domain, with the organizational domain from the
// Public Suffix List. The outcome is an Authentication-Results field for the home server
// and whether the sender's DMARC policy asks to reject the message.
//
// DNS goes through the daemon's resolver ([dns]); a lookup that fails is a temperror in
// the results, never a reason to refuse mail. Key records for the signatures are fetched
// first (asynchronously), then the verification runs on them.
//
// Untrusted input: the message, its envelope and the sender's DNS (all bounded by the
// parsers in relay/doctor and signer/). Threading: runs on the session's strand.
#pragma once

#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include "relay/dns/resolver.hpp"
#include "relay/inbound/auth.hpp"
#include "signer/verify.hpp"

namespace signpost::submission {

struct InboundCheckInput {
    boost::asio::ip::address client;
    std::string helo;
    std::string mail_from;            // "" = null reverse-path
    std::string from_domain;          // the header From's domain, "" when there is no single one
    std::string header;               // the header section as stored (for the signatures' b=)
    signer::StreamVerifier* verifier = nullptr;  // fed with the whole message; null: no DKIM
    std::string authserv_id;          // [server] hostname
};

struct InboundCheckResult {
    inbound::SpfOutcome spf;
    std::vector<inbound::DkimOutcome> dkim;
    inbound::DmarcOutcome dmarc;
    std::string field;  // the Authentication-Results field, CRLF-terminated
};

boost::asio::awaitable<InboundCheckResult> check_inbound(dns::Resolver& resolver, InboundCheckInput in);

}  // namespace signpost::submission
