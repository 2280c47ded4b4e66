// relay/auth/users.cpp — users file parsing and argon2id password hashing (see users.hpp).
#include "relay/auth/users.hpp"

#include <algorithm>
#include <cctype>
#include <botan/argon2.h>
#include <botan/auto_rng.h>
#include <botan/exceptn.h>

namespace signpost::auth {
namespace {

constexpr std::size_t kArgonParallelism = 1;
constexpr std::size_t kArgonMemoryKiB = 19456;
constexpr std::size_t kArgonIterations = 2;
constexpr std::uint8_t kArgon2id = 2;  // Botan's Argon2 family index: 0 = d, 1 = i, 2 = id

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

}  // namespace

bool valid_sender_grant(std::string_view entry) {
    if (entry.empty() || entry.size() > 254) return false;
    auto at = entry.find('@');
    std::string_view domain = at == std::string_view::npos ? entry : entry.substr(at + 1);
    if (at != std::string_view::npos && (at == 0 || entry.find('@', at + 1) != std::string_view::npos))
        return false;
    if (domain.empty() || domain.front() == '.' || domain.back() == '.') return false;
    return std::all_of(domain.begin(), domain.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '-' || c == '.';
    });
}

const User* UsersFile::find(std::string_view name) const {
    for (const auto& u : users)
        if (u.name == name) return &u;
    return nullptr;
}

std::string UsersFile::serialize() const {
    std::string out = "# Signpost users: name:argon2id-hash:allowed senders (domain or address)\n";
    for (const auto& u : users) {
        out += format_user_line(u);
        out += '\n';
    }
    return out;
}

std::string format_user_line(const User& user) {
    std::string out = user.name;
    out += ':';
    out += user.password_hash;
    out += ':';
    for (std::size_t i = 0; i < user.allow.size(); ++i) {
        if (i) out += ',';
        out += user.allow[i];
    }
    return out;
}

bool valid_user_name(std::string_view name) {
    if (name.empty() || name.size() > 64) return false;
    return std::all_of(name.begin(), name.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '_' || c == '@' || c == '+' || c == '-';
    });
}

ParsedUsers parse_users(std::string_view text) {
    ParsedUsers out;
    std::uint32_t lineno = 0;
    while (!text.empty()) {
        ++lineno;
        auto nl = text.find('\n');
        std::string_view line = trim(text.substr(0, nl));
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (line.empty() || line.front() == '#') continue;

        auto c1 = line.find(':');
        auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
        if (c2 == std::string_view::npos || line.find(':', c2 + 1) != std::string_view::npos) {
            out.errors.push_back({lineno, "expected three fields name:hash:allowed-senders"});
            continue;
        }
        User user;
        user.name = std::string(line.substr(0, c1));
        user.password_hash = std::string(line.substr(c1 + 1, c2 - c1 - 1));
        if (!valid_user_name(user.name)) {
            out.errors.push_back({lineno, "invalid user name \"" + user.name + "\""});
            continue;
        }
        if (user.password_hash.rfind("$argon2id$", 0) != 0) {
            out.errors.push_back({lineno, "user " + user.name + ": password is not an argon2id hash"});
            continue;
        }
        if (out.file.find(user.name)) {
            out.errors.push_back({lineno, "user " + user.name + " is listed twice"});
            continue;
        }
        std::string_view allow = line.substr(c2 + 1);
        bool ok = true;
        while (!allow.empty()) {
            auto comma = allow.find(',');
            auto entry = trim(allow.substr(0, comma));
            allow = comma == std::string_view::npos ? std::string_view{} : allow.substr(comma + 1);
            if (entry.empty()) continue;
            if (!valid_sender_grant(entry)) {
                out.errors.push_back({lineno, "user " + user.name + ": invalid sender \"" +
                                                  std::string(entry) + "\" (a domain or an address)"});
                ok = false;
                break;
            }
            user.allow.push_back(lower(entry));
        }
        if (ok) out.file.users.push_back(std::move(user));
    }
    return out;
}

bool may_send_as(const User& user, std::string_view address) {
    std::string addr = lower(address);
    auto at = addr.rfind('@');
    if (at == std::string::npos || at == 0 || at + 1 == addr.size()) return false;
    std::string_view domain = std::string_view(addr).substr(at + 1);
    return std::any_of(user.allow.begin(), user.allow.end(), [&](const std::string& entry) {
        return entry.find('@') == std::string::npos ? entry == domain : entry == addr;
    });
}

std::string hash_password(std::string_view password) {
    Botan::AutoSeeded_RNG rng;
    return Botan::argon2_generate_pwhash(password.data(), password.size(), rng, kArgonParallelism,
                                         kArgonMemoryKiB, kArgonIterations, kArgon2id);
}

bool verify_password(std::string_view password, const std::string& hash) {
    try {
        return Botan::argon2_check_pwhash(password.data(), password.size(), hash);
    } catch (const Botan::Exception&) {
        return false;  // a malformed stored hash never matches
    }
}

std::string generate_password(std::size_t length) {
    static constexpr std::string_view alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    Botan::AutoSeeded_RNG rng;
    std::string out;
    out.reserve(length);
    while (out.size() < length) {
        std::uint8_t b = rng.next_byte();
        // Rejection sampling keeps every character equally likely.
        if (b < 256 - (256 % alphabet.size())) out += alphabet[b % alphabet.size()];
    }
    return out;
}

}  // namespace signpost::auth
