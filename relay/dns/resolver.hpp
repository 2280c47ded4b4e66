// relay/dns/resolver.hpp — the daemon's asynchronous DNS: MX, A, AAAA, TXT, TLSA, PTR.
//
// Resolver is the seam (STYLE.md habit 8): delivery and MTA-STS ask it, tests inject a
// scripted one. UnboundResolver is the real one, over libunbound's asynchronous API with its
// file descriptor watched on the io_context (no thread per query, no blocking call).
//
// Answers say what the DNS said, in the terms delivery needs:
//   ok        NOERROR; `records` may be empty (NODATA: the name exists, not this type)
//   nxdomain  the name does not exist (RFC 5321 §5.1: a permanent failure for MX routing)
//   servfail  SERVFAIL, REFUSED, a DNSSEC-bogus answer, a malformed answer: temporary
//   timeout   no answer within [dns] timeout: temporary
// `security` is the answer's DNSSEC status (RFC 4035 §4.3):
//   secure         validated from the trust anchor ([dns] dnssec = true);
//   insecure       validation proved the name is in an unsigned zone: usable, not secure;
//   bogus          validation failed (bad or expired signatures, missing records, a path
//                  that strips DNSSEC): status servfail, `why` says what failed;
//   indeterminate  no validation: [dns] dnssec = false, or the lookup itself failed.
// `canonical` is the name the answer is for when a CNAME chain was followed (lower case,
// no trailing dot), else empty; with a secure answer the whole chain was validated.
//
// Config ([dns]): forwarders ("ip" or "ip@port"; none = /etc/resolv.conf), dnssec and
// trust_anchor_file, timeout. With forwarders, loopback servers are allowed and the "test."
// zone is asked of them (as in txt_lookup.hpp), so tests serve zones from 127.0.0.1.
// unbound's own cache is used (answers are cached for their TTL).
//
// Untrusted input: DNS answers (names are lower-cased and stripped of the trailing dot;
// rdata that does not parse makes the answer servfail).
// Threading: every method may be called from any thread/strand; the awaitable completes on
// the awaiting coroutine's executor.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include "config/config.hpp"

namespace signpost::dns {

enum class Status { ok, nxdomain, servfail, timeout };
const char* to_string(Status s);
enum class Security { indeterminate, insecure, secure, bogus };
const char* to_string(Security s);  // "indeterminate", "insecure", "secure", "bogus"

struct Answer {
    Status status = Status::servfail;
    Security security = Security::indeterminate;
    std::string why;        // for logs when status != ok: "SERVFAIL", "timeout after 10s", ...
    std::string canonical;  // the CNAME chain's target, when one was followed

    bool secure() const { return security == Security::secure; }
};

struct MxRecord {
    std::uint16_t preference = 0;
    std::string host;  // lower case, no trailing dot; "" for the null MX "." (RFC 7505)
};
struct MxAnswer : Answer {
    std::vector<MxRecord> records;
};
struct AddressAnswer : Answer {
    std::vector<boost::asio::ip::address> addresses;
};
struct TxtRecords : Answer {
    std::vector<std::string> records;  // one per TXT RR, its character-strings joined
};
struct NameAnswer : Answer {
    std::vector<std::string> names;  // PTR targets: lower case, no trailing dot
};
struct TlsaRecord {
    std::uint8_t usage = 0, selector = 0, matching = 0;
    std::vector<std::uint8_t> data;
};
struct TlsaAnswer : Answer {
    std::vector<TlsaRecord> records;
};

class Resolver {
public:
    virtual ~Resolver() = default;
    virtual boost::asio::awaitable<MxAnswer> mx(std::string name) = 0;
    virtual boost::asio::awaitable<AddressAnswer> a(std::string name) = 0;
    virtual boost::asio::awaitable<AddressAnswer> aaaa(std::string name) = 0;
    virtual boost::asio::awaitable<TxtRecords> txt(std::string name) = 0;
    virtual boost::asio::awaitable<TlsaAnswer> tlsa(std::string name) = 0;
    // The PTR names of an address (RFC 1035 §3.5 in-addr.arpa, RFC 3596 §2.5 ip6.arpa), for
    // forward-confirmed reverse DNS and SPF's "ptr". Inline default: servfail, as dnskey.
    virtual boost::asio::awaitable<NameAnswer> ptr(boost::asio::ip::address /*address*/) {
        NameAnswer a;
        a.why = "PTR lookups are not supported by this resolver";
        co_return a;
    }
    // The DNSKEY RRset of `zone` ("." for the root): only its status and security, for the
    // DNSSEC probe (dnssec_probe.hpp). Resolvers that cannot ask answer servfail.
    // Inline, so that scripted resolvers in tests need not link relay/dns.
    virtual boost::asio::awaitable<Answer> dnskey(std::string /*zone*/) {
        Answer a;
        a.why = "DNSKEY lookups are not supported by this resolver";
        co_return a;
    }
};

// Throws std::runtime_error naming the setting when libunbound refuses the configuration
// (bad forwarder, unreadable trust anchor or resolv.conf).
// The reverse-lookup name of an address: "4.3.2.1.in-addr.arpa", or the 32 nibbles of an
// IPv6 address under "ip6.arpa" (an IPv4-mapped IPv6 address is looked up as IPv4).
std::string reverse_name(const boost::asio::ip::address& address);

std::shared_ptr<Resolver> make_unbound_resolver(boost::asio::any_io_executor io, const config::DnsConfig& dns);

}  // namespace signpost::dns
