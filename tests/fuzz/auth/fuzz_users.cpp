// tests/fuzz/auth/fuzz_users.cpp — libFuzzer target for the users file parser, parse_users
// (relay/auth/users.hpp), with serialize / find / may_send_as on what it returns. Parsing only:
// no argon2 hashing or verification runs here (each costs ~20 ms).
// Covers: relay/auth/users.cpp
//
// Invariants:
//   - every error names a line of the input (1..number of lines) that is neither blank nor a
//     comment, carries a non-empty message, and errors come in line order, one per line at most;
//   - every user comes from its own line (users + errors <= non-blank, non-comment lines); its
//     name is valid and unique and find() returns it; its hash starts with "$argon2id$" and
//     holds no ':' or newline; its allow entries are valid sender grants, already lower case;
//   - round trip: serialize() parses back without errors to the same users;
//   - may_send_as(): a domain grant admits any local part at that domain, an address grant
//     admits that address, both in any letter case.
// Seeds: corpus/fuzz_users/ (the format example of users.hpp, comments, CRLF, each error).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "relay/auth/users.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::auth;

std::string_view trimmed(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

// The input's lines (1-based), as parse_users cuts them.
std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> out;
    while (!text.empty()) {
        const auto nl = text.find('\n');
        out.push_back(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    }
    return out;
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
}

bool same_users(const UsersFile& a, const UsersFile& b) {
    if (a.users.size() != b.users.size()) return false;
    for (std::size_t i = 0; i < a.users.size(); ++i) {
        const User& x = a.users[i];
        const User& y = b.users[i];
        if (x.name != y.name || x.password_hash != y.password_hash || x.allow != y.allow) return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 16 * 1024) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const ParsedUsers parsed = parse_users(in);

    const auto lines = lines_of(in);
    std::size_t content_lines = 0;
    for (std::string_view l : lines) {
        const auto t = trimmed(l);
        content_lines += !t.empty() && t.front() != '#' ? 1 : 0;
    }
    std::uint32_t previous = 0;
    for (const UsersFileError& e : parsed.errors) {
        CHECK(e.line >= 1 && e.line <= lines.size() && e.line > previous);
        const auto t = trimmed(lines[e.line - 1]);
        CHECK(!t.empty() && t.front() != '#');
        CHECK(!e.message.empty());
        previous = e.line;
    }
    CHECK(parsed.file.users.size() + parsed.errors.size() <= content_lines);

    for (const User& u : parsed.file.users) {
        CHECK(valid_user_name(u.name));
        CHECK(parsed.file.find(u.name) == &u);
        CHECK(u.password_hash.starts_with("$argon2id$"));
        CHECK(u.password_hash.find_first_of(":\n") == std::string::npos);
        for (const std::string& a : u.allow) {
            CHECK(valid_sender_grant(a) && a.find_first_of(",\n") == std::string::npos);
            CHECK(a.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string::npos);
            if (a.find('@') == std::string::npos) {
                CHECK(may_send_as(u, "someone@" + a) && may_send_as(u, "Someone@" + upper(a)));
            } else {
                CHECK(may_send_as(u, a) && may_send_as(u, upper(a)));
            }
        }
        CHECK(format_user_line(u).find('\n') == std::string::npos);
    }

    const std::string text = parsed.file.serialize();
    const ParsedUsers again = parse_users(text);
    CHECK(again.errors.empty());
    CHECK(same_users(again.file, parsed.file));
    return 0;
}
