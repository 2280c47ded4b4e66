// tests/fuzz/mtasts/fuzz_mtasts_policy.cpp — libFuzzer target for relay/mtasts's parsers:
// parse_policy (RFC 8461 §3.2), parse_txt_record (§3.1), Policy::matches (§4.1) and the
// cache file format (store.hpp), all fed the same input.
//
// Invariants: a parsed policy has at most 100 mx patterns, each lower case, ["*."] plus an
// LDH name, each matching a host built from it (and a wildcard never its bare suffix);
// max_age is at most 31557600; mx is empty only with mode none; the error is empty on
// success and, on failure, non-empty and free of control characters. A parsed TXT id is 1
// to 32 letters and digits. A parsed policy written as a cache file reads back equal.
// Covers: relay/mtasts/policy.cpp relay/mtasts/store.cpp
// Seeds: corpus/ (policy files from tests/data/mtasts and TXT records).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "relay/mtasts/mtasts.hpp"
#include "relay/mtasts/store.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::mtasts;

bool printable(std::string_view s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    return true;
}

bool is_ldh_lower(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
    return s.front() != '.' && s.back() != '.' && s.find("..") == std::string_view::npos;
}

void check_policy(std::string_view in) {
    std::string error;
    const auto p = parse_policy(in, error);
    if (!p) {
        CHECK(!error.empty() && printable(error));
        return;
    }
    CHECK(error.empty());
    CHECK(in.size() <= 64 * 1024);
    CHECK(p->max_age <= 31557600);
    CHECK(p->mx.size() <= 100);
    CHECK(!p->mx.empty() || p->mode == Mode::none);
    for (const std::string& m : p->mx) {
        if (m.starts_with("*.")) {
            const std::string suffix = m.substr(2);
            CHECK(is_ldh_lower(suffix));
            CHECK(p->matches("x." + suffix));
            Policy only;
            only.mx = {m};
            CHECK(!only.matches(suffix) && only.matches("x." + suffix) && !only.matches("x.y." + suffix));
        } else {
            CHECK(is_ldh_lower(m));
            CHECK(p->matches(m));
        }
    }
    // The cache file round trip.
    Policy q = *p;
    q.id = "fuzz1";
    q.fetched = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
    const std::string file = format_cache_file("example.test", q, in);
    const auto back = parse_cache_file(file, "example.test", q.fetched, error);
    CHECK(back);
    CHECK(back->mode == q.mode && back->mx == q.mx && back->max_age == q.max_age && back->id == q.id &&
          back->fetched == q.fetched);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 70 * 1024) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data), size);

    check_policy(in);

    std::string error;
    if (const auto id = parse_txt_record(in, error)) {
        CHECK(error.empty() && !id->empty() && id->size() <= 32);
        for (char c : *id) CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
    } else {
        CHECK(!error.empty() && printable(error));
    }

    // Matching arbitrary hosts against a fixed policy never crashes, and a wildcard never
    // matches a name with a dot in its first label's place.
    Policy fixed;
    fixed.mx = {"mail.example.com", "*.example.net"};
    if (fixed.matches(in)) {
        std::string_view h = in;
        if (!h.empty() && h.back() == '.') h.remove_suffix(1);
        CHECK(h.size() == 16 || (h.size() > 12 && h.substr(0, h.size() - 12).find('.') == std::string_view::npos));
    }

    // Cache files themselves are untrusted on load: never crash.
    (void)parse_cache_file(in, "example.test", std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000)),
                           error);
    return 0;
}
