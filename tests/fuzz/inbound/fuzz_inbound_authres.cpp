// tests/fuzz/inbound/fuzz_inbound_authres.cpp — libFuzzer target for relay/inbound/auth:
// the Authentication-Results field built from what senders control, and the check for
// incoming fields that claim our authserv-id.
// Covers: relay/inbound/auth.cpp
//
// Input: lines (split at '\n'), used in order as: SPF result, SPF identity, SPF domain,
// DKIM result, d=, s=, b=, DKIM reason, DMARC record text, From domain; any further text
// is an incoming Authentication-Results value. Missing lines are empty. The results and
// the reason are ours, never a sender's: their lines pick one of the values the checks
// produce (by their length).
// Invariants:
//   - the field is "Authentication-Results: mx.home.example;" ... CRLF, every line break
//     in it is CRLF followed by a tab (folding), and it has no other control character;
//     bytes beyond US-ASCII only as well-formed UTF-8 (RFC 6532 addresses): nothing a
//     sender sends can end the field, start another or leave malformed text;
//   - its value claims our authserv-id (so a stored copy would be removed on the next
//     hop's pass through us), and claims_authserv_id() is case-insensitive;
//   - evaluate_dmarc() gives one of RFC 8601's DMARC results, and a policy only with a
//     found record;
//   - ASan/UBSan: no memory error whatever the bytes.
// Seeds: corpus/fuzz_inbound_authres/ — the README's example results and RFC 8601's
// Appendix B fields.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "relay/inbound/auth.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::inbound;

std::vector<std::string> split(const std::string& in) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (out.size() < 10) {
        const auto nl = in.find('\n', start);
        if (nl == std::string::npos) {
            out.push_back(in.substr(std::min(start, in.size())));
            start = in.size() + 1;
            break;
        }
        out.push_back(in.substr(start, nl - start));
        start = nl + 1;
    }
    out.resize(11);
    if (start < in.size()) out[10] = in.substr(start);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::vector<std::string> f = split(std::string(reinterpret_cast<const char*>(data), size));
    static const char* const kSpf[] = {"none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"};
    static const char* const kDkim[] = {"none", "pass", "fail", "neutral", "temperror", "permerror"};
    static const char* const kReason[] = {"", "body hash mismatch", "no key", "signature expired"};
    SpfOutcome spf;
    spf.result = kSpf[f[0].size() % 7];
    spf.identity = f[1];
    spf.domain = f[2];
    spf.helo = !f[1].empty() && f[1].find('@') == std::string::npos;
    DkimOutcome dkim;
    dkim.result = kDkim[f[3].size() % 6];
    dkim.d = f[4];
    dkim.s = f[5];
    dkim.b = f[6];
    dkim.reason = kReason[f[7].size() % 4];
    DmarcLookup lookup;
    if (!f[8].empty()) {
        lookup.status = DmarcLookup::Status::found;
        lookup.record = f[8];
    }
    const DmarcOutcome dmarc = evaluate_dmarc(f[9], lookup, spf, {dkim}, static_cast<int>(size % 100));
    CHECK(dmarc.result == "none" || dmarc.result == "pass" || dmarc.result == "fail" ||
          dmarc.result == "temperror" || dmarc.result == "permerror");
    CHECK(!dmarc.policy || lookup.status == DmarcLookup::Status::found);

    const std::string field = authentication_results("mx.home.example", spf, {dkim}, dmarc);
    const std::string head = "Authentication-Results: mx.home.example;";
    CHECK(field.compare(0, head.size(), head) == 0);
    CHECK(field.size() >= 2 && field.compare(field.size() - 2, 2, "\r\n") == 0);
    for (std::size_t i = 0; i < field.size(); ++i) {
        const auto c = static_cast<unsigned char>(field[i]);
        CHECK(c != 0x7f);
        if (c >= 0x80) {  // part of a well-formed UTF-8 sequence (RFC 3629)
            std::size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            CHECK(c >= 0xC2 && c <= 0xF4 && i + n <= field.size());
            for (std::size_t k = 1; k < n; ++k) CHECK((static_cast<unsigned char>(field[i + k]) & 0xC0) == 0x80);
            if (c == 0xE0) CHECK(static_cast<unsigned char>(field[i + 1]) >= 0xA0);
            if (c == 0xED) CHECK(static_cast<unsigned char>(field[i + 1]) <= 0x9F);
            if (c == 0xF0) CHECK(static_cast<unsigned char>(field[i + 1]) >= 0x90);
            if (c == 0xF4) CHECK(static_cast<unsigned char>(field[i + 1]) <= 0x8F);
            i += n - 1;
        } else if (c == '\r') {
            CHECK(i + 1 < field.size() && field[i + 1] == '\n');
            CHECK(i + 2 == field.size() || field[i + 2] == '\t');
        } else if (c == '\n') {
            CHECK(i > 0 && field[i - 1] == '\r');
        } else {
            CHECK(c >= 0x20 || c == '\t');
        }
    }
    const std::string value = field.substr(field.find(':') + 1);
    CHECK(claims_authserv_id(value, "mx.home.example"));
    CHECK(claims_authserv_id(value, "MX.Home.Example"));

    // An incoming field's value: whatever it is, the answer does not depend on the case of
    // our id.
    CHECK(claims_authserv_id(f[10], "mx.home.example") == claims_authserv_id(f[10], "MX.HOME.EXAMPLE"));
    return 0;
}
