// tests/unit/config/test_util.hpp — shared helpers for the config unit tests.
#pragma once

#include <string>
#include <string_view>

#include "config/config.hpp"

namespace signpost::config::test {

// The smallest valid config: one listener, [tls], [auth]. Its paths do not exist, so
// load it with check_files = false. kMinimalLines lines long (ends with a newline), so
// a snippet appended to it starts on line kMinimalLines + 1.
inline constexpr std::string_view kMinimal =
    "[[listener]]\n"
    "address = \"127.0.0.1:2587\"\n"
    "[tls]\n"
    "cert = \"/etc/signpost/cert.pem\"\n"
    "key = \"/etc/signpost/key.pem\"\n"
    "[auth]\n"
    "users_file = \"/etc/signpost/users\"\n";
inline constexpr unsigned kMinimalLines = 7;

inline LoadOptions no_file_checks() {
    LoadOptions o;
    o.check_files = false;
    return o;
}

// load_string without file checks, named "test.toml".
inline LoadResult load(std::string_view text) {
    return load_string(text, "test.toml", {}, no_file_checks());
}

// Every error, one per line, for failure messages.
inline std::string dump(const LoadResult& r) {
    std::string out;
    for (const auto& e : r.errors) out += e.to_string() + "\n";
    return out.empty() ? "(no errors)\n" : out;
}

}  // namespace signpost::config::test
