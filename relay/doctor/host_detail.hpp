// relay/doctor/host_detail.hpp — internal to the relay-host checks (host_checks.cpp,
// host_probes.cpp): bounds and the small text helpers their evidence lines share.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/x509.h>

#include <boost/asio/ip/address.hpp>

#include "relay/dns/resolver.hpp"

namespace signpost::doctor::detail {

inline constexpr std::size_t kMaxAddresses = 8;      // addresses of one name checked or tried
inline constexpr std::size_t kMaxPtrNames = 4;       // PTR names of one address followed forward
inline constexpr std::size_t kMaxCertFile = 1 << 20;  // octets of a certificate file read
inline constexpr std::size_t kMaxPeerText = 200;      // octets of a server's reply in evidence

std::string lower_name(std::string_view s);  // lower case, no trailing dot
// An IPv4-mapped IPv6 address is the IPv4 address it carries.
boost::asio::ip::address normalized(const boost::asio::ip::address& a);
// "A" or "AAAA": which of the two answers `answer` is.
std::string record_type(const dns::AddressAnswer& answer, const dns::AddressAnswer& a);
bool temporary(dns::Status s);
std::string dns_reason(const dns::Answer& a);
std::string duration_text(std::chrono::milliseconds d);
// Text from a peer or a certificate, for one line of evidence: control characters as
// spaces, bounded by kMaxPeerText.
std::string printable(std::string_view in);
std::string join(const std::vector<std::string>& items, std::string_view sep);
// "a; b": adds `item` to a list in text.
void append_item(std::string& list, const std::string& item);
std::string address_list(const std::vector<boost::asio::ip::address>& list);
bool is_ip_literal(const std::string& host);
// A certificate's subject (one line), its CN, and the DNS names it is valid for (SANs,
// else the CN).
std::string name_text(X509_NAME* name);
std::string common_name(X509* cert);
std::vector<std::string> certificate_names(X509* cert);

}  // namespace signpost::doctor::detail
