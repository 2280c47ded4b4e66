// relay/inbound/dnsbl.hpp — DNS blocklist queries (RFC 5782) for the MX listener.
//
// dnsbl_name(): the name to look up for a client in a zone: the IPv4 address's octets in
// reverse ("2.0.0.127.zen.example" for 127.0.0.2), or the IPv6 address's 32 nibbles in
// reverse (RFC 5782 §2.4). dnsbl_listed(): whether an A answer says "listed": an address in
// 127.0.0.0/8 (§2.1), except 127.255.255.0/24, which some lists use for errors (a query
// refused, a resolver over its limit), and 127.0.0.1, which no list uses to mean listed.
// Anything else — NXDOMAIN, a failure, a timeout — is "not listed": a broken list never
// stops mail.
//
// Untrusted input: the client address and the list's answers. Threading: pure functions.
#pragma once

#include <string>

#include <boost/asio/ip/address.hpp>

#include "relay/dns/resolver.hpp"

namespace signpost::inbound {

std::string dnsbl_name(const boost::asio::ip::address& client, const std::string& zone);
bool dnsbl_listed(const dns::AddressAnswer& answer);

}  // namespace signpost::inbound
