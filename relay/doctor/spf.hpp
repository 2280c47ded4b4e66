// relay/doctor/spf.hpp — SPF (RFC 7208): the record parser and check_host().
//
// parse_record: one "v=spf1 ..." TXT string into its terms (RFC 7208 §4.6, §5, §6), or a
// permerror naming the bad term. select_record: RFC 7208 §4.5 (exactly one record that
// starts with "v=spf1" followed by a space or the end).
// check_host: RFC 7208 §4 over the daemon's dns::Resolver (A, AAAA, MX, TXT, PTR), with
// macro expansion (§7), the limits of §4.6.4 (10 terms that query DNS, 2 void lookups, 10
// MX names and 10 PTR names per lookup) and the explanation trail kept for the doctor.
// lookup_count: the DNS-querying terms a full evaluation of the domain's record would need
// (every include/redirect followed, whatever the address), to warn before the limit bites.
//
// Untrusted input: every record and DNS answer. Threading: co_await on any executor; the
// parser is pure.
#pragma once

#include <optional>
#include <variant>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include "relay/dns/resolver.hpp"

namespace signpost::doctor::spf {

enum class Result { none, neutral, pass, fail, softfail, temperror, permerror };
const char* to_string(Result r);  // RFC 7208 §2.6 names: "none", "neutral", "pass", ...

enum class Qualifier : char { pass = '+', fail = '-', softfail = '~', neutral = '?' };

enum class Mechanism { all, include, a, mx, ptr, ip4, ip6, exists };

struct Term {
    bool is_modifier = false;
    // Mechanisms:
    Qualifier qualifier = Qualifier::pass;
    Mechanism mechanism = Mechanism::all;
    std::string domain_spec;           // as written, macros unexpanded; "" = the current domain
    std::optional<int> cidr4, cidr6;   // a, mx, ip4, ip6 prefix lengths
    std::string address;               // ip4 / ip6 network as written
    // Modifiers (redirect, exp, unknown ones):
    std::string name;                  // lower case
    std::string value;
    std::string text;                  // the term as written
};

struct Record {
    std::vector<Term> terms;  // in order; modifiers included
    const Term* redirect() const;  // the redirect= modifier, if any
    const Term* all() const;       // the "all" mechanism, if any
};

struct ParseError {
    std::string why;  // "unknown mechanism \"foo\"", "bad CIDR length in \"ip4:1.2.3.4/33\""
};

// Returns the record or why it is a permerror.
std::variant<Record, ParseError> parse_record(std::string_view text);

// RFC 7208 §4.5 over the TXT strings of a name: the SPF records among them (those that
// begin with "v=spf1" then a space or the end, case-insensitively).
std::vector<std::string> spf_records(const std::vector<std::string>& txt);

struct Evaluation {
    Result result = Result::none;
    std::string why;           // one line: "matched ip4:192.0.2.0/24 in example.com",
                               // "no SPF record at example.com", "2 SPF records at x", ...
    std::string record;        // the top-level record evaluated ("" when none)
    int dns_lookups = 0;       // terms that queried DNS (§4.6.4), counted as evaluated
    int void_lookups = 0;
};

// RFC 7208 §4: the SPF result for `ip` sending as `sender` (a mailbox; an empty or
// domain-less sender becomes postmaster@helo, §4.3) from `domain`.
boost::asio::awaitable<Evaluation> check_host(dns::Resolver& resolver, boost::asio::ip::address ip,
                                              std::string domain, std::string sender, std::string helo);

struct LookupCount {
    int lookups = 0;          // DNS-querying terms over the whole include/redirect tree
    bool complete = true;     // false when a lookup failed or macros depend on the sender
    std::string why;          // what was not counted, when !complete
};
boost::asio::awaitable<LookupCount> lookup_count(dns::Resolver& resolver, std::string domain);

}  // namespace signpost::doctor::spf
