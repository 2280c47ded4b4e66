// relay/doctor/domain_checks.hpp — `signpost doctor`'s checks of one sending domain's DNS.
//
//   dkim     every pending, active and retiring key: DNS serves its record at
//            <selector>._domainkey.<domain> (the public keys are compared, so quoting,
//            spacing and string splits do not matter); a record that holds another key is
//            stale, typo'd or another signer's; retired keys whose record is still
//            published may be removed; key sizes; RSA present besides Ed25519.
//   spf      exactly one SPF record (RFC 7208 §4.5); check_host() for every outbound
//            address of the relay gives pass (mode mx; in mode smarthost the smarthost's
//            addresses, as advice: its provider's include is what matters); at most 10
//            DNS-querying terms (§4.6.4); "+all" and "?all" warned.
//   dmarc    a record at _dmarc.<domain> or at the organizational domain (RFC 7489
//            §6.6.3); DKIM alignment of d=<[[domain]] name> with the From domains it
//            signs for (subdomains too with sign_subdomains) under adkim, SPF alignment of
//            the envelope sender under aspf; rua present.
//   mx, mta_sts, tls_rpt, dnssec
//            the domain's inbound posture, as advice: never fail, at worst warn.
//
// Fixes are the exact records to publish (zone-file form) or the setting to change.
// Threading: coroutines on the caller's executor; the key store is read (files) inline.
#pragma once

#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include "config/config.hpp"
#include "keys/store.hpp"
#include "relay/doctor/check.hpp"
#include "relay/dns/resolver.hpp"

namespace signpost::doctor {

// The addresses SPF must authorize, and where they came from (for the evidence).
struct OutboundAddresses {
    std::vector<boost::asio::ip::address> addresses;
    std::string source;  // "[doctor] addresses", "A/AAAA of mail.example.com", ...
    std::string problem; // why there are none, when empty
    bool smarthost = false;  // the smarthost's addresses (mode smarthost)
};

// Mode mx: [doctor] addresses, else the A/AAAA records of [server] hostname.
// Mode smarthost: the smarthost's A/AAAA records. Mode capture: none (problem says why).
boost::asio::awaitable<OutboundAddresses> outbound_addresses(dns::Resolver& resolver, const config::Config& cfg);

boost::asio::awaitable<std::vector<Check>> check_dkim(dns::Resolver& resolver, const config::DomainConfig& domain,
                                                      const keys::KeyStore& store);
boost::asio::awaitable<std::vector<Check>> check_spf(dns::Resolver& resolver, const config::Config& cfg,
                                                     const config::DomainConfig& domain,
                                                     const OutboundAddresses& outbound);
boost::asio::awaitable<std::vector<Check>> check_dmarc(dns::Resolver& resolver, const config::DomainConfig& domain);
boost::asio::awaitable<std::vector<Check>> check_posture(dns::Resolver& resolver, const config::Config& cfg,
                                                         const config::DomainConfig& domain);

// All of the above for one domain, in that order.
boost::asio::awaitable<std::vector<Check>> check_domain(dns::Resolver& resolver, const config::Config& cfg,
                                                        const config::DomainConfig& domain,
                                                        const keys::KeyStore& store,
                                                        const OutboundAddresses& outbound);

// The SPF record to publish: `current` with a mechanism for each address inserted before
// its "all" (or at the end), or a new "v=spf1 ... ~all" when `current` is empty.
std::string spf_record_with(const std::string& current, const std::vector<boost::asio::ip::address>& addresses);
// A zone-file line: `name. IN TXT "value"`, split into 255-octet strings.
std::string txt_record_line(const std::string& name, const std::string& value);

}  // namespace signpost::doctor
