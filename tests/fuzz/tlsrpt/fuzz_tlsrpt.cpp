// tests/fuzz/tlsrpt/fuzz_tlsrpt.cpp — libFuzzer target for relay/tlsrpt's parsers: the
// "_smtp._tls" TXT record (parse_tlsrpt_record, RFC 8460 §3), the https: rua URL
// (parse_https_url) and a line of the day's event file (decode_event).
// Covers: relay/tlsrpt/report.cpp relay/tlsrpt/store.cpp relay/tlsrpt/tlsrpt.cpp relay/tlsrpt/post.cpp
//
// Input: the first octet picks the parser (mod 3: 0 record, 1 URL, 2 event line); the rest
// is its text.
// Invariants:
//   - record: a parsed record's URIs are non-empty, each "mailto:" or "https:" followed by
//     something, with no ',', ';' or white space in them; the input starts with
//     "v=TLSRPTv1" whenever it parses;
//   - URL: a parsed URL has a non-empty lower-case host of letters, digits, '-' and '.',
//     a port from 1 to 65535, a target starting with '/' without control characters or
//     spaces, and the input starts with "https://" (any case);
//   - event line: a decoded event encodes to a line that decodes to the same event (a
//     fixed point), and a report built from it is valid JSON naming its domain;
//   - ASan/UBSan: no memory error whatever the bytes.
// Seeds: corpus/fuzz_tlsrpt/ — RFC 8460 §3's record examples, rua URLs, and event lines as
// store.cpp writes them.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "relay/tlsrpt/post.hpp"
#include "relay/tlsrpt/report.hpp"
#include "relay/tlsrpt/store.hpp"
#include "tests/fuzz/check.hpp"

using namespace signpost::tlsrpt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const int which = data[0] % 3;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    if (which == 0) {
        auto rua = parse_tlsrpt_record(text);
        if (!rua) return 0;
        CHECK(text.substr(0, 10) == "v=TLSRPTv1");
        for (const auto& uri : *rua) {
            const bool mailto = uri.rfind("mailto:", 0) == 0 && uri.size() > 7;
            const bool https = uri.rfind("https:", 0) == 0 && uri.size() > 6;
            CHECK(mailto || https);
            CHECK(uri.find_first_of(",; \t\r\n") == std::string::npos);
        }
    } else if (which == 1) {
        auto u = parse_https_url(text);
        if (!u) return 0;
        CHECK(text.size() > 8);
        for (std::size_t i = 0; i < 8; ++i) CHECK(std::tolower(static_cast<unsigned char>(text[i])) == "https://"[i]);
        CHECK(!u->host.empty());
        for (char c : u->host) CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
        CHECK(u->port >= 1);
        CHECK(!u->target.empty() && u->target[0] == '/');
        for (char c : u->target) CHECK(static_cast<unsigned char>(c) > 0x20 && c != 0x7f);
    } else {
        auto e = decode_event(text);
        if (!e) return 0;
        const std::string line = encode_event(*e);
        auto again = decode_event(line);
        CHECK(again && *again == *e);
        CHECK(encode_event(*again) == line);
        std::vector<PolicyCounts> day;
        add(day, *e);
        ReportMeta meta;
        meta.organization = "fuzz";
        meta.contact = "fuzz@example.org";
        meta.report_id = "id";
        meta.day = "2026-12-06";
        boost::system::error_code ec;
        auto v = boost::json::parse(report_json(meta, day), ec);
        CHECK(!ec && v.is_object());
        CHECK(v.at("policies").as_array().size() == 1);
    }
    return 0;
}
