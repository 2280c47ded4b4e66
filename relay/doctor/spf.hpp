// relay/doctor/spf.hpp — SPF (RFC 7208): the record parser, macro expansion and check_host().
//
// parse_record: one "v=spf1 ..." TXT string into its terms (RFC 7208 §4.6, §5, §6), or a
// permerror naming the bad term. Every domain-spec and macro-string is checked against the
// ABNF of §7.1 (including "domain-end": the last label must be a toplabel or a macro);
// redirect= and exp= may each appear once (§6); unknown modifiers are checked and ignored
// (§6: "Unrecognized modifiers MUST be ignored"); an unknown mechanism is a permerror.
// spf_records: RFC 7208 §4.5 (the records that start with "v=spf1" then a space or the end).
// expand_macros: §7.3 over given letter values (s l o d i p v h; the exp-only letters c r t
// are refused): transformers, delimiters (parts rejoined with "."), uppercase letters
// URL-escaped (RFC 3986 unreserved characters kept).
// check_host: RFC 7208 §4 over the daemon's dns::Resolver (A, AAAA, MX, TXT, PTR):
//   - §4.6.4 limits: at most 10 terms that query DNS (include, a, mx, ptr, exists, and a
//     redirect that is followed), counted when evaluated: the 11th is a permerror; at most 2
//     void lookups (a term whose own query — the TXT of include/redirect, A/AAAA of a and
//     exists, MX of mx, PTR of ptr — answers NXDOMAIN or no records), the 3rd a permerror;
//     an MX answer with more than 10 names is a permerror; of a PTR answer only the first
//     10 names are validated.
//   - A SERVFAIL or timeout is a temperror (§4.4, §5), except in "ptr" and %{p}: a failed
//     PTR lookup does not match / gives "unknown", a failed address lookup skips the name
//     (§5.5, §7.3). The PTR lookup of %{p} is part of the term that expands it (no extra
//     count toward the limit of 10).
//   - include: pass matches; fail, softfail, neutral do not; temperror and permerror
//     propagate; none is a permerror (§5.2). redirect: the target's result, none being a
//     permerror (§6.1).
//   - An IPv4-mapped IPv6 address is evaluated as the IPv4 address (§5: A records, "ip4",
//     %{v} = "in-addr").
//   - A malformed or single-label <domain> gives none (§4.3); an empty local-part becomes
//     "postmaster", an empty or domain-less sender postmaster@<helo> (§4.3, §2.4).
//   - Not done: exp= is parsed and checked but the explanation TXT is never fetched (the
//     doctor reports its own "why"), so %{c} %{r} %{t} are never expanded.
// lookup_count: the DNS-querying terms a full evaluation of the domain's record could need
// (every include and redirect followed, whatever the address), to warn before the limit of
// 10 bites. A redirect is followed only when the record has no "all" (§6.1). Incomplete
// when an include/redirect target depends on the sender or address (macros other than %{d}),
// when a lookup failed, a record is missing or broken, or the walk meets a loop.
//
// Untrusted input: every record and DNS answer. Threading: co_await on any executor; the
// parser and expand_macros are pure.
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
const char* to_string(Mechanism m);  // "all", "include", "a", ...

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

// The values of the macro letters (RFC 7208 §7.3) for one evaluation.
struct MacroValues {
    std::string s;        // <sender>
    std::string l;        // its local-part
    std::string o;        // its domain
    std::string d;        // <domain>, the current one
    std::string i;        // <ip>: dotted quad, or 32 dot-separated nibbles for IPv6
    std::string p = "unknown";  // the validated domain name of <ip> (found by check_host)
    std::string v;        // "in-addr" or "ip6"
    std::string h;        // HELO/EHLO domain
};
// s, l, o, i, v and h for an address and sender (normalized as check_host does: IPv4-mapped
// addresses as IPv4, an empty local-part as "postmaster", an empty or domain-less sender
// as postmaster@helo); d = domain, or the sender's domain when domain is empty.
MacroValues macro_values(const boost::asio::ip::address& ip, std::string_view sender, std::string_view domain,
                         std::string_view helo);
// Whether `text` is a valid domain-spec (RFC 7208 §7.1): a macro-string of the letters
// s l o d i p v h ending in "." toplabel ["."] or in a macro. Returns why not.
std::optional<ParseError> check_domain_spec(std::string_view text);
// The macro-string `text` expanded (§7.3), or nullopt when it is not a valid macro-string
// (the letters c, r, t included: they belong to exp text only). With `domain_name`, a
// trailing "." is dropped and the result cut from the left, label by label, to 253 octets.
std::optional<std::string> expand_macros(std::string_view text, const MacroValues& values, bool domain_name = true);

struct Evaluation {
    Result result = Result::none;
    std::string why;           // one line: "matched ip4:192.0.2.0/24 in example.com",
                               // "no SPF record at example.com", "2 SPF records at x", ...
                               // a match through include/redirect names the chain:
                               // "matched ip4:... in b.example via include:b.example in a.example"
    std::string record;        // the top-level record evaluated ("" when none)
    int dns_lookups = 0;       // terms that queried DNS (§4.6.4), counted as evaluated
    int void_lookups = 0;
};

// RFC 7208 §4: the SPF result for `ip` sending as `sender` (a mailbox; an empty or
// domain-less sender becomes postmaster@helo, §4.3) from `domain` (when empty: the
// sender's domain, else the helo).
boost::asio::awaitable<Evaluation> check_host(dns::Resolver& resolver, boost::asio::ip::address ip,
                                              std::string domain, std::string sender, std::string helo);

struct LookupCount {
    int lookups = 0;          // DNS-querying terms over the whole include/redirect tree
    bool complete = true;     // false when a lookup failed or macros depend on the sender
    std::string why;          // what was not counted, when !complete ("" otherwise)
};
boost::asio::awaitable<LookupCount> lookup_count(dns::Resolver& resolver, std::string domain);

}  // namespace signpost::doctor::spf
