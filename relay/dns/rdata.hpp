// relay/dns/rdata.hpp — internal to relay/dns: the record data (RDATA) of the types the
// resolver asks for, decoded from wire format into the values of resolver.hpp. Pure
// functions: bytes in, a value or an error out; no I/O, no allocation beyond the result.
//
// Formats: A (RFC 1035 §3.4.1, 4 octets), AAAA (RFC 3596 §2.2, 16 octets), MX (RFC 1035
// §3.3.9: 16-bit preference + exchange name), TXT (RFC 1035 §3.3.14: one or more
// <character-string>s, each a length octet and that many octets; joined without separator,
// as RFC 6376 §3.6.2.2 and RFC 8461 §3.1 read them), TLSA (RFC 6698 §2.1: usage, selector,
// matching type octets + certificate association data).
//
// Names in RDATA must be uncompressed (libunbound hands rdata over with names expanded;
// RFC 3597 §4 forbids compression in new types anyway): a compression pointer, an extended
// label type (RFC 6891 §5), a label running past the end or a name over 255 octets is an
// error, never a guess. Names are returned in presentation form, lower-cased (ASCII only,
// RFC 4343), without the trailing dot; the root name is "". Octets that would change the
// meaning of the text (".", "\") or are not printable are escaped as RFC 1035 §5.1 says
// ("\.", "\\", "\DDD"), so a label holding a dot can never pass for two labels.
//
// What is deliberately not checked: MX preference values, TLSA field values and data
// length per matching type (RFC 7671 §5 makes such records "unusable", a decision for the
// DANE code, not a parse error).
//
// Untrusted input: every byte. Threading: pure functions, safe anywhere.
#pragma once

#include <string>
#include <string_view>
#include <type_traits>

#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "relay/dns/resolver.hpp"

namespace signpost::dns {

template <class T>
using Result = boost::system::result<T>;

// The "signpost.dns" error category: why an RDATA does not parse. The resolver answers
// servfail with the message as `why` for any of these.
enum class Errc {
    truncated = 1,   // the data ends inside a field, a label or a character-string
    trailing_data,   // octets left over after the last field
    bad_length,      // A is not 4 octets, AAAA not 16
    label_type,      // a label length octet with its top bits set: a compression pointer
                     // (0b11) or an extended label type (0b01, 0b10)
    name_too_long,   // a name over 255 octets in wire form (RFC 1035 §3.1)
};

const boost::system::error_category& error_category() noexcept;
boost::system::error_code make_error_code(Errc e) noexcept;

// A wire-format name at the start of `in`; on success `in` is advanced past it.
Result<std::string> parse_name(std::string_view& in);

Result<MxRecord> parse_mx(std::string_view rdata);
Result<boost::asio::ip::address_v4> parse_a(std::string_view rdata);
Result<boost::asio::ip::address_v6> parse_aaaa(std::string_view rdata);
// An empty RDATA is `truncated`: a TXT RR holds at least one character-string (which may
// be empty: the single octet 0).
Result<std::string> parse_txt(std::string_view rdata);
Result<TlsaRecord> parse_tlsa(std::string_view rdata);
// PTR (RFC 1035 §3.3.12): one name and nothing after it.
Result<std::string> parse_ptr(std::string_view rdata);

}  // namespace signpost::dns

template <>
struct boost::system::is_error_code_enum<signpost::dns::Errc> : std::true_type {};
