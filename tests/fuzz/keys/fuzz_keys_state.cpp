// tests/fuzz/keys/fuzz_keys_state.cpp — libFuzzer target for the keys.state file format
// (keys/state.hpp): parse_state, serialize_state, parse_key_state, parse_algorithm and
// next_selector. The input is the file text (written by Signpost, but it may be damaged or
// hand-edited).
// Covers: keys/state.cpp
//
// Invariants:
//   - a damaged file has a non-empty message and a line number inside the input (0 only for
//     "empty file" / "no end line");
//   - a parsed file starts with "signpost-keys 1\n" and ends with "end\n"; its selectors are
//     1..63 of [a-z0-9-] without a leading or trailing '-', all distinct; every key has the
//     times its state needs (active: activated; retiring and retired: retiring; retired:
//     retired); at most one active key per algorithm; `asap` only on pending keys;
//   - round trip: serialize(parse(x)) parses without error to parse(x), and serializing that
//     again gives the same text;
//   - parse_key_state / parse_algorithm accept exactly the names to_string prints;
//   - next_selector() names a selector the state does not use.
// Seeds: corpus/fuzz_keys_state/ (the format example of keys/state.hpp, every key state and
// algorithm, and each damage the parser reports).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "keys/state.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::keys;
using signpost::config::DkimAlgorithm;

bool valid_selector(std::string_view s) {
    if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
    for (char c : s) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    return true;
}

void check_state(const DomainKeys& s) {
    for (std::size_t i = 0; i < s.keys.size(); ++i) {
        const KeyEntry& k = s.keys[i];
        CHECK(valid_selector(k.selector));
        CHECK(s.find(k.selector) == &k);
        for (std::size_t j = 0; j < i; ++j) {
            CHECK(s.keys[j].selector != k.selector);
            const bool other_active = s.keys[j].state == KeyState::active && s.keys[j].algorithm == k.algorithm;
            if (k.state == KeyState::active) CHECK(!other_active);
        }
        if (k.state == KeyState::active) CHECK(k.activated && s.active(k.algorithm) == &k);
        if (k.state == KeyState::retiring || k.state == KeyState::retired) CHECK(k.retiring_since.has_value());
        if (k.state == KeyState::retired) CHECK(k.retired_at.has_value());
        if (k.asap) CHECK(k.state == KeyState::pending);
        CHECK(parse_key_state(to_string(k.state)) == k.state);
        CHECK(parse_algorithm(signpost::config::to_string(k.algorithm)) == k.algorithm);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 16 * 1024) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data), size);

    if (const auto st = parse_key_state(in)) CHECK(to_string(*st) == in);
    if (const auto alg = parse_algorithm(in)) CHECK(signpost::config::to_string(*alg) == in);

    const ParsedState p = parse_state(in, "example.com");
    CHECK(p.state.domain == "example.com");
    std::size_t lines = 0;
    for (char c : in) lines += c == '\n' ? 1 : 0;
    if (!in.empty() && in.back() != '\n') ++lines;  // a last line without its newline
    if (p.error) {
        CHECK(!p.error->message.empty());
        CHECK(p.error->line <= lines);
        if (p.error->line == 0) CHECK(p.error->message == "empty file" || p.error->message.starts_with("no end line"));
        return 0;
    }
    CHECK(in.starts_with("signpost-keys 1\n") && in.ends_with("\nend\n"));
    check_state(p.state);

    const std::string text = serialize_state(p.state);
    const ParsedState again = parse_state(text, "example.com");
    CHECK(!again.error);
    CHECK(again.state == p.state);
    CHECK(serialize_state(again.state) == text);

    const auto now = std::chrono::sys_seconds{std::chrono::seconds{1763856000}};
    const std::string selector = next_selector(p.state, "sp", now);
    CHECK(!p.state.find(selector) && valid_selector(selector));
    return 0;
}
