// tests/fuzz/dns/fuzz_dns_rdata.cpp — libFuzzer target for the RDATA decoders of
// relay/dns/rdata.hpp: parse_name, parse_mx, parse_a, parse_aaaa, parse_txt, parse_tlsa.
// Covers: relay/dns/rdata.cpp
//
// Input: the first octet picks the decoder (its value modulo 6: 0 name, 1 MX, 2 A, 3 AAAA,
// 4 TXT, 5 TLSA); the rest is the RDATA as libunbound hands it over (wire format).
// Invariants, each checked against an independent walk of the same octets:
//   - a name parses exactly when the input starts with uncompressed labels (length octets
//     0..63) ending in the root octet within 255 octets (RFC 1035 §3.1); then the consumed
//     prefix is that name, `in` is advanced past it and nothing else; reading the
//     presentation form back (RFC 1035 §5.1 escapes) gives labels of 1..63 octets equal to
//     the wire labels lower-cased (ASCII only, RFC 4343); the text holds only printable,
//     non-upper-case ASCII; on failure `in` is unchanged;
//   - MX (RFC 1035 §3.3.9): parses exactly when there are 2 preference octets and a name
//     that ends the RDATA; preference is read big-endian, the host is that name (so at most
//     255 octets in wire form, labels at most 63);
//   - A / AAAA: parse exactly for 4 / 16 octets, which are the address's bytes;
//   - TXT (RFC 1035 §3.3.14): parses exactly when the RDATA is one or more complete
//     <character-string>s; the result is their concatenation (length = input length minus
//     the number of strings, so never longer than the input);
//   - TLSA (RFC 6698 §2.1): parses exactly when at least 3 octets; usage, selector and
//     matching type are the first three octets as read (values are not judged here), the
//     data is the rest;
//   - every error is of the "signpost.dns" category with a message; ASan: no read past the
//     input.
// Seeds: corpus/fuzz_dns_rdata/ — wire bytes of real records: MX per RFC 1035 §3.3.9 (and
// the null MX of RFC 7505 §3), A per RFC 1035 §3.4.1, AAAA per RFC 3596 §2.2, TXT per
// RFC 1035 §3.3.14 (SPF, DKIM key of RFC 8463 §A.2, MTA-STS RFC 8461 §3.1, TLS-RPT RFC 8460
// §3), TLSA per RFC 6698 §2.1 / §2.3 (its examples) and RFC 7672 §3.1 ("3 1 1"), plus
// malformed names (compression pointers, extended labels, 255/256-octet names, escapes).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/dns/rdata.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::dns;

enum Kind { kName, kMx, kA, kAaaa, kTxt, kTlsa, kKinds };

std::uint8_t at(std::string_view s, std::size_t i) { return static_cast<std::uint8_t>(s[i]); }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

template <class T>
void check_error(const Result<T>& r) {
    if (r) return;
    CHECK(&r.error().category() == &error_category());
    CHECK(r.error().value() >= static_cast<int>(Errc::truncated) &&
          r.error().value() <= static_cast<int>(Errc::name_too_long));
    CHECK(!r.error().message().empty());
}

// The reference walk: the wire labels of the name at the start of `in`, and its length in
// octets (root octet included), or nullopt when there is no valid uncompressed name there.
std::optional<std::size_t> reference_name(std::string_view in, std::vector<std::string>& labels) {
    std::size_t pos = 0;
    while (pos < in.size()) {
        const std::size_t len = at(in, pos);
        if (len == 0) return pos + 1 <= 255 ? std::optional<std::size_t>(pos + 1) : std::nullopt;
        if (len > 63 || pos + 1 + len > in.size()) return std::nullopt;
        labels.emplace_back(in.substr(pos + 1, len));
        pos += 1 + len;
        if (pos + 1 > 255) return std::nullopt;  // not even room for the root octet
    }
    return std::nullopt;
}

// Reads an RFC 1035 §5.1 presentation form back into labels.
std::vector<std::string> unescape_labels(std::string_view text) {
    std::vector<std::string> labels;
    if (text.empty()) return labels;  // the root
    std::string label;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '.') {
            labels.push_back(label);
            label.clear();
        } else if (c == '\\') {
            CHECK(i + 1 < text.size());
            const char n = text[i + 1];
            if (n >= '0' && n <= '9') {
                CHECK(i + 3 < text.size());
                int v = 0;
                for (std::size_t k = 1; k <= 3; ++k) {
                    CHECK(text[i + k] >= '0' && text[i + k] <= '9');
                    v = v * 10 + (text[i + k] - '0');
                }
                CHECK(v <= 255);
                // Only octets that need it are written as \DDD.
                CHECK(v <= 0x20 || v >= 0x7f);
                label.push_back(static_cast<char>(v));
                i += 3;
            } else {
                CHECK(n == '.' || n == '\\');
                label.push_back(n);
                i += 1;
            }
        } else {
            label.push_back(c);
        }
    }
    labels.push_back(label);
    return labels;
}

void check_name_text(const std::string& text, const std::vector<std::string>& wire_labels) {
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        CHECK(u > 0x20 && u < 0x7f && !(c >= 'A' && c <= 'Z'));
    }
    const std::vector<std::string> labels = unescape_labels(text);
    CHECK(labels.size() == wire_labels.size());
    std::size_t wire_octets = 1;
    for (std::size_t i = 0; i < labels.size(); ++i) {
        CHECK(!labels[i].empty() && labels[i].size() <= 63);
        CHECK(labels[i].size() == wire_labels[i].size());
        for (std::size_t k = 0; k < labels[i].size(); ++k) CHECK(labels[i][k] == lower(wire_labels[i][k]));
        wire_octets += 1 + labels[i].size();
    }
    CHECK(wire_octets <= 255);
}

void fuzz_name(std::string_view rdata) {
    std::vector<std::string> labels;
    const auto expected = reference_name(rdata, labels);
    std::string_view in = rdata;
    const auto r = parse_name(in);
    check_error(r);
    CHECK(r.has_value() == expected.has_value());
    if (!r) {
        CHECK(in.data() == rdata.data() && in.size() == rdata.size());
        return;
    }
    CHECK(in.data() == rdata.data() + *expected && in.size() == rdata.size() - *expected);
    check_name_text(*r, labels);
}

void fuzz_mx(std::string_view rdata) {
    const auto r = parse_mx(rdata);
    check_error(r);
    std::vector<std::string> labels;
    const auto name = rdata.size() >= 2 ? reference_name(rdata.substr(2), labels) : std::nullopt;
    CHECK(r.has_value() == (name && 2 + *name == rdata.size()));
    if (!r) return;
    CHECK(r->preference == (at(rdata, 0) << 8 | at(rdata, 1)));
    check_name_text(r->host, labels);
}

void fuzz_address(std::string_view rdata, bool v6) {
    if (v6) {
        const auto r = parse_aaaa(rdata);
        check_error(r);
        CHECK(r.has_value() == (rdata.size() == 16));
        if (!r) return;
        const auto b = r->to_bytes();
        for (std::size_t i = 0; i < b.size(); ++i) CHECK(b[i] == at(rdata, i));
    } else {
        const auto r = parse_a(rdata);
        check_error(r);
        CHECK(r.has_value() == (rdata.size() == 4));
        if (!r) return;
        const auto b = r->to_bytes();
        for (std::size_t i = 0; i < b.size(); ++i) CHECK(b[i] == at(rdata, i));
    }
}

void fuzz_txt(std::string_view rdata) {
    const auto r = parse_txt(rdata);
    check_error(r);
    std::string joined;
    std::size_t pos = 0, strings = 0;
    while (pos < rdata.size() && pos + 1 + at(rdata, pos) <= rdata.size()) {
        joined.append(rdata.substr(pos + 1, at(rdata, pos)));
        pos += 1 + at(rdata, pos);
        ++strings;
    }
    CHECK(r.has_value() == (!rdata.empty() && pos == rdata.size()));
    if (!r) return;
    CHECK(r->size() <= rdata.size() && r->size() == rdata.size() - strings);
    CHECK(*r == joined);
}

void fuzz_tlsa(std::string_view rdata) {
    const auto r = parse_tlsa(rdata);
    check_error(r);
    CHECK(r.has_value() == (rdata.size() >= 3));
    if (!r) return;
    CHECK(r->usage == at(rdata, 0) && r->selector == at(rdata, 1) && r->matching == at(rdata, 2));
    CHECK(r->data.size() == rdata.size() - 3);
    for (std::size_t i = 0; i < r->data.size(); ++i) CHECK(r->data[i] == at(rdata, 3 + i));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0 || size > 4096) return 0;
    // libFuzzer's buffer ends exactly at the input's end: ASan sees any read past it.
    const std::string_view rdata(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % kKinds) {
    case kName: fuzz_name(rdata); break;
    case kMx: fuzz_mx(rdata); break;
    case kA: fuzz_address(rdata, false); break;
    case kAaaa: fuzz_address(rdata, true); break;
    case kTxt: fuzz_txt(rdata); break;
    case kTlsa: fuzz_tlsa(rdata); break;
    }
    return 0;
}
