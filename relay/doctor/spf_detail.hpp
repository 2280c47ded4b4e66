// relay/doctor/spf_detail.hpp — internal to relay/doctor's SPF code: the limits of RFC 7208
// §4.6.4 and the helpers the parser (spf_parse.cpp) shares with check_host() (spf.cpp).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <boost/asio/ip/address.hpp>

#include "relay/doctor/spf.hpp"

namespace signpost::doctor::spf::detail {

inline constexpr int kMaxDnsTerms = 10;           // §4.6.4: terms that query DNS
inline constexpr int kMaxVoidLookups = 2;         // §4.6.4: "SHOULD limit void lookups to two"
inline constexpr std::size_t kMaxMxNames = 10;    // §4.6.4: more is a permerror
inline constexpr std::size_t kMaxPtrNames = 10;   // §4.6.4: the rest are ignored

// What one evaluation step concluded, with its one-line reason.
struct Outcome {
    Result result = Result::neutral;
    std::string why;
};
Outcome outcome(Result r, std::string why);

char lower(char c);
std::string lower(std::string_view s);
std::string in_quotes(std::string_view s);
// A name that can be asked of DNS: labels of 1..63 octets, 253 in all.
bool valid_name(std::string_view name);
// Whether a domain-spec uses one of the macro `letters` ("%{s...}", ...).
bool uses_letter(std::string_view spec, std::string_view letters);
Result result_of(Qualifier q);
// An IPv4-mapped IPv6 address is the IPv4 address it carries.
boost::asio::ip::address normalized(const boost::asio::ip::address& ip);
bool in_network(const boost::asio::ip::address& ip, const boost::asio::ip::address& net, int prefix);

}  // namespace signpost::doctor::spf::detail
