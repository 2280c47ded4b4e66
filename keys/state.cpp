// keys/state.cpp — key lifecycle values and the keys.state file format (see state.hpp).
#include "keys/state.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace signpost::keys {
namespace {

constexpr std::string_view kMagic = "signpost-keys 1";

std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> out;
    while (!line.empty()) {
        auto start = line.find_first_not_of(' ');
        if (start == std::string_view::npos) break;
        line.remove_prefix(start);
        auto end = line.find(' ');
        out.push_back(line.substr(0, end));
        line = end == std::string_view::npos ? std::string_view{} : line.substr(end);
    }
    return out;
}

std::optional<Time> parse_time(std::string_view digits) {
    long long v = 0;
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (ec != std::errc{} || p != digits.data() + digits.size() || v < 0) return std::nullopt;
    return Time{std::chrono::seconds{v}};
}

void append_time(std::string& out, std::string_view name, const std::optional<Time>& t) {
    if (!t) return;
    out += ' ';
    out += name;
    out += '=';
    out += std::to_string(t->time_since_epoch().count());
}

bool valid_selector(std::string_view s) {
    if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
    return std::all_of(s.begin(), s.end(), [](unsigned char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
}

}  // namespace

std::string_view to_string(KeyState s) {
    switch (s) {
        case KeyState::pending: return "pending";
        case KeyState::active: return "active";
        case KeyState::retiring: return "retiring";
        case KeyState::retired: return "retired";
    }
    return "?";
}

std::optional<KeyState> parse_key_state(std::string_view s) {
    for (auto k : {KeyState::pending, KeyState::active, KeyState::retiring, KeyState::retired})
        if (to_string(k) == s) return k;
    return std::nullopt;
}

std::optional<config::DkimAlgorithm> parse_algorithm(std::string_view s) {
    using A = config::DkimAlgorithm;
    for (auto a : {A::ed25519, A::rsa2048, A::rsa3072, A::rsa4096})
        if (config::to_string(a) == s) return a;
    return std::nullopt;
}

const KeyEntry* DomainKeys::find(std::string_view selector) const {
    for (const auto& k : keys)
        if (k.selector == selector) return &k;
    return nullptr;
}

KeyEntry* DomainKeys::find(std::string_view selector) {
    for (auto& k : keys)
        if (k.selector == selector) return &k;
    return nullptr;
}

const KeyEntry* DomainKeys::active(config::DkimAlgorithm alg) const {
    for (const auto& k : keys)
        if (k.algorithm == alg && k.state == KeyState::active) return &k;
    return nullptr;
}

const KeyEntry* DomainKeys::pending(config::DkimAlgorithm alg) const {
    for (const auto& k : keys)
        if (k.algorithm == alg && k.state == KeyState::pending) return &k;
    return nullptr;
}

ParsedState parse_state(std::string_view text, std::string domain) {
    ParsedState out;
    out.state.domain = std::move(domain);
    auto damaged = [&](std::uint32_t line, std::string message) {
        out.error = StateError{line, std::move(message)};
        return out;
    };
    std::uint32_t lineno = 0;
    bool saw_magic = false, saw_end = false;
    while (!text.empty()) {
        ++lineno;
        auto nl = text.find('\n');
        if (nl == std::string_view::npos) return damaged(lineno, "last line has no newline (truncated file)");
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl + 1);
        if (saw_end) return damaged(lineno, "text after the end line");
        if (!saw_magic) {
            if (line != kMagic) return damaged(lineno, "not a Signpost key state file (expected \"signpost-keys 1\")");
            saw_magic = true;
            continue;
        }
        if (line == "end") {
            saw_end = true;
            continue;
        }
        auto words = split_words(line);
        if (words.size() < 5 || words[0] != "key")
            return damaged(lineno, "expected \"key SELECTOR ALGORITHM STATE created=TIME ...\"");
        KeyEntry e;
        e.selector = std::string(words[1]);
        if (!valid_selector(e.selector)) return damaged(lineno, "invalid selector \"" + e.selector + "\"");
        if (out.state.find(e.selector)) return damaged(lineno, "selector " + e.selector + " is listed twice");
        auto alg = parse_algorithm(words[2]);
        if (!alg) return damaged(lineno, "unknown algorithm \"" + std::string(words[2]) + "\"");
        e.algorithm = *alg;
        auto st = parse_key_state(words[3]);
        if (!st) return damaged(lineno, "unknown state \"" + std::string(words[3]) + "\"");
        e.state = *st;
        bool has_created = false;
        for (std::size_t i = 4; i < words.size(); ++i) {
            std::string_view w = words[i];
            if (w == "asap") {
                e.asap = e.state == KeyState::pending;  // marks pending keys only (serialize_state agrees)
                continue;
            }
            auto eq = w.find('=');
            std::optional<Time> t = eq == std::string_view::npos ? std::nullopt : parse_time(w.substr(eq + 1));
            std::string_view name = w.substr(0, eq);
            if (!t) return damaged(lineno, "bad field \"" + std::string(w) + "\"");
            if (name == "created") e.created = *t, has_created = true;
            else if (name == "activated") e.activated = t;
            else if (name == "retiring") e.retiring_since = t;
            else if (name == "retired") e.retired_at = t;
            else return damaged(lineno, "unknown field \"" + std::string(name) + "\"");
        }
        if (!has_created) return damaged(lineno, "key " + e.selector + " has no created= time");
        if (e.state != KeyState::pending && !e.activated && e.state == KeyState::active)
            return damaged(lineno, "active key " + e.selector + " has no activated= time");
        if ((e.state == KeyState::retiring || e.state == KeyState::retired) && !e.retiring_since)
            return damaged(lineno, "key " + e.selector + " has no retiring= time");
        if (e.state == KeyState::retired && !e.retired_at)
            return damaged(lineno, "retired key " + e.selector + " has no retired= time");
        if (e.state == KeyState::active && out.state.active(e.algorithm))
            return damaged(lineno, "two active " + std::string(config::to_string(e.algorithm)) + " keys");
        out.state.keys.push_back(std::move(e));
    }
    if (!saw_magic) return damaged(0, "empty file");
    if (!saw_end) return damaged(0, "no end line (truncated file)");
    return out;
}

std::string serialize_state(const DomainKeys& state) {
    std::string out(kMagic);
    out += '\n';
    for (const auto& k : state.keys) {
        out += "key ";
        out += k.selector;
        out += ' ';
        out += config::to_string(k.algorithm);
        out += ' ';
        out += to_string(k.state);
        append_time(out, "created", k.created);
        append_time(out, "activated", k.activated);
        append_time(out, "retiring", k.retiring_since);
        append_time(out, "retired", k.retired_at);
        if (k.asap && k.state == KeyState::pending) out += " asap";
        out += '\n';
    }
    out += "end\n";
    return out;
}

std::string next_selector(const DomainKeys& state, std::string_view prefix, Time now,
                          const std::vector<std::string>& taken) {
    auto days = std::chrono::floor<std::chrono::days>(now);
    std::chrono::year_month_day ymd{days};
    char stem[48];
    std::snprintf(stem, sizeof stem, "%.20s%04d-%02u", std::string(prefix).c_str(),
                  static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()));
    auto used = [&](const std::string& s) {
        return state.find(s) || std::find(taken.begin(), taken.end(), s) != taken.end();
    };
    for (int n = 0; n < 26 + 26 * 26; ++n) {
        std::string suffix;
        if (n < 26) suffix = static_cast<char>('a' + n);
        else suffix = {static_cast<char>('a' + (n - 26) / 26), static_cast<char>('a' + (n - 26) % 26)};
        std::string candidate = std::string(stem) + suffix;
        if (!used(candidate)) return candidate;
    }
    // 702 keys in one month: fall back to the full date and time.
    return std::string(stem) + "-" + std::to_string(now.time_since_epoch().count());
}

}  // namespace signpost::keys
