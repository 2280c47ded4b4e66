// tests/fuzz/config/fuzz_config_load.cpp — libFuzzer target for the config loader.
//
// Feeds arbitrary bytes to load_string (no file checks) and, when they load, checks the
// to_toml round trip: the text to_toml writes must load to an equal Config. Any crash,
// sanitizer report, escaping exception or round-trip mismatch is a bug.
// Covers: config/config.cpp config/values.cpp config/files.cpp config/to_toml.cpp
// Seeds: corpus/ (valid, invalid and odd files).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace signpost::config;
    LoadOptions options;
    options.check_files = false;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    LoadResult r = load_string(text, "fuzz.toml", "/base", options);
    if (!r.ok()) return 0;
    LoadResult again = load_string(to_toml(*r.config), "fuzz.toml", "/base", options);
    if (!again.ok() || !(*again.config == *r.config)) std::abort();
    return 0;
}
