// relay/inbound/text.hpp — ASCII case folding for domains, addresses and record text (the
// comparisons the MX listener makes are all case-insensitive in ASCII only).
#pragma once

#include <string>
#include <string_view>

namespace signpost::inbound {

inline std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return out;
}

}  // namespace signpost::inbound
