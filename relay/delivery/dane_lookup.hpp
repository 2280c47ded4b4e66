// relay/delivery/dane_lookup.hpp — the DNS half of DANE for one MX host (RFC 7672 §2.2):
// after the host's addresses were looked up, whether its TLSA records apply.
//
//   1. DANE applies only when the MX RRset (or, for an implicit MX or a [[route]] host,
//      nothing before it) and the host's address records are DNSSEC-secure. An address
//      answer that is bogus makes the host unusable (`failed`, "dnssec-invalid"); an
//      insecure one means no DANE (`none`).
//   2. The TLSA base domain (RFC 7672 §2.2.2): when the address lookup followed a CNAME
//      chain, all of it secure, the chain's target is tried first and then the MX host
//      name; otherwise only the MX host name. The query is "_<port>._tcp.<base>" with the
//      port delivery connects to (25 unless [delivery] mx_port or a route says otherwise).
//   3. A secure answer with records decides: some usable -> `usable`, none usable ->
//      `unusable_only`. A secure NODATA/NXDOMAIN moves to the next base name, and after
//      the last means `none`. An insecure TLSA answer means `none`. A bogus answer,
//      SERVFAIL or timeout means `failed` ("tlsa-lookup"): the host may be DANE-protected
//      and an attacker could be hiding its records, so it is not contacted (§2.2.1).
// The reference identifiers for DANE-TA are the base domain that had the records and the
// MX host name (§3.2.3).
//
// Untrusted input: DNS answers (decoded by relay/dns). Threading: a coroutine on the
// caller's strand; the resolver may be shared.
#pragma once

#include <cstdint>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "relay/delivery/tls_policy.hpp"
#include "relay/dns/resolver.hpp"

namespace signpost::delivery {

// `v6` and `v4` are the host's AAAA and A answers, already asked.
boost::asio::awaitable<HostDane> lookup_dane(dns::Resolver& resolver, std::string host, std::uint16_t port,
                                             dns::AddressAnswer v6, dns::AddressAnswer v4);

}  // namespace signpost::delivery
