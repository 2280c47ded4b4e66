// tests/fuzz/spf/fuzz_spf_record.cpp — libFuzzer target for relay/doctor/spf's pure parts:
// parse_record(), spf_records(), check_domain_spec() and expand_macros() over any TXT
// record a domain could publish.
// Covers: relay/doctor/spf_parse.cpp
// (the parser and macros; check_host() in spf.cpp is unit-tested against a scripted resolver)
//
// Input: the whole input is a TXT string; it is parsed as a record, and also checked and
// expanded as a domain-spec. Octet 0's low bit picks the client address of the macro
// values (IPv4 192.0.2.3 or IPv6 2001:db8::cb01); sender strong-bad@email.example.com,
// HELO mx.example.org, %{p} mx.example.org (RFC 7208 §7.4's context).
// Invariants:
//   - a record parses only if spf_records() selects it (§4.5);
//   - of a parsed record: every term is non-empty, has no space and appears in the input
//     in order; redirect= and exp= appear at most once; modifier names are lower case;
//     CIDR lengths are within 0..32 and 0..128; ip4/ip6 networks are addresses of their
//     family; every domain-spec passes check_domain_spec() and expands to a name of at
//     most 253 octets with no trailing dot; the terms' texts, joined again, parse to the
//     same number of terms;
//   - a domain-spec that check_domain_spec() accepts always expands (as a name: at most
//     253 octets); a string expand_macros() refuses is refused by check_domain_spec() too;
//   - ASan/UBSan: no memory error whatever the bytes.
// Seeds: corpus/fuzz_spf_record/ — provider and company records, macros, redirects, CIDR
// forms, and syntax errors (unknown mechanism, bad CIDR, bad macro, duplicate modifier).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "relay/doctor/spf.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::doctor::spf;

void check_name(const std::string& spec, const MacroValues& values) {
    CHECK(!check_domain_spec(spec));
    const auto name = expand_macros(spec, values);
    CHECK(name.has_value());
    CHECK(name->size() <= 253);
    CHECK(name->empty() || name->back() != '.' || name->size() == 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const bool v6 = size > 0 && (data[0] & 1) != 0;
    MacroValues values = macro_values(boost::asio::ip::make_address(v6 ? "2001:db8::cb01" : "192.0.2.3"),
                                      "strong-bad@email.example.com", "", "mx.example.org");
    values.p = "mx.example.org";

    auto parsed = parse_record(text);
    if (const Record* r = std::get_if<Record>(&parsed)) {
        CHECK(spf_records({text}).size() == 1);
        std::size_t from = 0;
        int redirects = 0, exps = 0;
        std::string joined = "v=spf1";
        for (const Term& t : r->terms) {
            CHECK(!t.text.empty() && t.text.find(' ') == std::string::npos);
            const std::size_t at = text.find(t.text, from);
            CHECK(at != std::string::npos);
            from = at + t.text.size();
            joined += " " + t.text;
            if (t.is_modifier) {
                for (char c : t.name) CHECK(!(c >= 'A' && c <= 'Z'));
                if (t.name == "redirect" || t.name == "exp") {
                    ++(t.name == "redirect" ? redirects : exps);
                    check_name(t.value, values);
                }
                continue;
            }
            if (t.cidr4) CHECK(*t.cidr4 >= 0 && *t.cidr4 <= 32);
            if (t.cidr6) CHECK(*t.cidr6 >= 0 && *t.cidr6 <= 128);
            if (t.mechanism == Mechanism::ip4 || t.mechanism == Mechanism::ip6) {
                boost::system::error_code ec;
                const auto a = boost::asio::ip::make_address(t.address, ec);
                CHECK(!ec);
                CHECK(a.is_v4() == (t.mechanism == Mechanism::ip4));
            }
            if (!t.domain_spec.empty()) check_name(t.domain_spec, values);
        }
        CHECK(redirects <= 1 && exps <= 1);
        CHECK((r->redirect() != nullptr) == (redirects == 1));
        auto again = parse_record(joined);
        CHECK(std::holds_alternative<Record>(again));
        CHECK(std::get<Record>(again).terms.size() == r->terms.size());
    } else {
        CHECK(!std::get<ParseError>(parsed).why.empty());
    }

    if (!check_domain_spec(text)) {
        const auto name = expand_macros(text, values);
        CHECK(name && name->size() <= 253);
        CHECK(expand_macros(text, values, false).has_value());
    }
    if (!expand_macros(text, values, false)) CHECK(check_domain_spec(text).has_value());
    return 0;
}
