// relay/smtp/sasl.cpp — see sasl.hpp.
#include "relay/smtp/sasl.hpp"

#include <cstdint>

namespace signpost::smtp {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

}  // namespace

Result<std::string> decode_base64(std::string_view in) {
    if (in.size() % 4 != 0) return Errc::base64_invalid;
    std::string out;
    out.reserve(in.size() / 4 * 3);
    for (std::size_t i = 0; i < in.size(); i += 4) {
        const bool final_quad = i + 4 == in.size();
        int pad = 0;
        std::uint32_t v = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            const char c = in[i + k];
            if (c == '=') {
                // Padding only in the last quad, only in its last two places, and once it
                // starts nothing but padding follows.
                if (!final_quad || k < 2) return Errc::base64_invalid;
                ++pad;
                v <<= 6;
                continue;
            }
            if (pad > 0) return Errc::base64_invalid;
            const int s = sextet(c);
            if (s < 0) return Errc::base64_invalid;
            v = (v << 6) | static_cast<std::uint32_t>(s);
        }
        out.push_back(static_cast<char>((v >> 16) & 0xFF));
        if (pad < 2) out.push_back(static_cast<char>((v >> 8) & 0xFF));
        if (pad < 1) out.push_back(static_cast<char>(v & 0xFF));
    }
    return out;
}

std::string encode_base64(std::string_view in) {
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const std::uint32_t v = (static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16) |
                                (static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8) |
                                static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 2]));
        out.push_back(kAlphabet[(v >> 18) & 63]);
        out.push_back(kAlphabet[(v >> 12) & 63]);
        out.push_back(kAlphabet[(v >> 6) & 63]);
        out.push_back(kAlphabet[v & 63]);
    }
    const std::size_t rest = in.size() - i;
    if (rest > 0) {
        std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16;
        if (rest == 2) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
        out.push_back(kAlphabet[(v >> 18) & 63]);
        out.push_back(kAlphabet[(v >> 12) & 63]);
        out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
        out.push_back('=');
    }
    return out;
}

Result<PlainCredentials> parse_plain(std::string_view message) {
    // message = [authzid] UTF8NUL authcid UTF8NUL passwd (RFC 4616 §2)
    const std::size_t nul1 = message.find('\0');
    if (nul1 == std::string_view::npos) return Errc::sasl_plain_malformed;
    const std::size_t nul2 = message.find('\0', nul1 + 1);
    if (nul2 == std::string_view::npos) return Errc::sasl_plain_malformed;
    if (message.find('\0', nul2 + 1) != std::string_view::npos) return Errc::sasl_plain_malformed;
    const std::string_view authzid = message.substr(0, nul1);
    const std::string_view authcid = message.substr(nul1 + 1, nul2 - nul1 - 1);
    const std::string_view passwd = message.substr(nul2 + 1);
    if (authcid.empty() || passwd.empty() || authzid.size() > max_sasl_field ||
        authcid.size() > max_sasl_field || passwd.size() > max_sasl_field) {
        return Errc::sasl_plain_malformed;
    }
    if (!authzid.empty() && authzid != authcid) return Errc::sasl_authzid_mismatch;
    return PlainCredentials{std::string(authcid), std::string(passwd)};
}

void secure_clear(std::string& s) noexcept {
    // Writes through a volatile pointer are not removed as dead stores.
    volatile char* p = s.data();
    for (std::size_t i = 0; i < s.size(); ++i) p[i] = '\0';
    s.clear();
}

}  // namespace signpost::smtp
