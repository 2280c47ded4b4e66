// tests/fuzz/doctor/fuzz_dmarc_record.cpp — libFuzzer target for relay/doctor/dmarc:
// parse_dmarc() and dmarc_records() over any TXT record a domain could publish, and
// organizational_domain() / aligned() over any name.
// Covers: relay/doctor/dmarc.cpp
//
// Input: the whole input is a TXT string; up to the first newline it is also used as a
// domain name, the rest as a second one.
// Invariants:
//   - a parsed record has pct in 0..100, and a record without p= given was read as none;
//   - parse_dmarc() accepts only what starts with v=DMARC1, so dmarc_records() selects it;
//   - the organizational domain of a name is the name itself (lower case, no trailing dot)
//     or a suffix of it that starts after a dot;
//   - alignment is symmetric, strict implies relaxed, and a name aligns with itself;
//   - ASan/UBSan: no memory error whatever the bytes.
// Seeds: corpus/fuzz_dmarc_record/ — RFC 7489 Appendix B's records and common mistakes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "relay/doctor/dmarc.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::doctor::dmarc;

std::string normal(const std::string& name) {
    std::string out;
    for (char c : name) out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    while (!out.empty() && out.back() == '.') out.pop_back();
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    auto parsed = parse_dmarc(text);
    if (parsed.record) {
        CHECK(parsed.record->pct >= 0 && parsed.record->pct <= 100);
        CHECK(parsed.record->policy_given || parsed.record->policy == Policy::none);
        CHECK(dmarc_records({text}).size() == 1);
    } else {
        CHECK(!parsed.error.empty());
    }

    const auto nl = text.find('\n');
    const std::string a = text.substr(0, nl);
    const std::string b = nl == std::string::npos ? std::string() : text.substr(nl + 1);
    if (a.find('\0') != std::string::npos || b.find('\0') != std::string::npos) return 0;
    const std::string org = organizational_domain(a);
    const std::string na = normal(a);
    CHECK(org == na || (na.size() > org.size() && na.compare(na.size() - org.size(), org.size(), org) == 0 &&
                        na[na.size() - org.size() - 1] == '.'));
    CHECK(aligned(a, a, true));
    CHECK(aligned(a, b, false) == aligned(b, a, false));
    CHECK(aligned(a, b, true) == aligned(b, a, true));
    CHECK(!aligned(a, b, true) || aligned(a, b, false));
    return 0;
}
