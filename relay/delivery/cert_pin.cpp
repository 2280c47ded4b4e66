// relay/delivery/cert_pin.cpp — SHA-256 certificate pins (see cert_pin.hpp).
#include "relay/delivery/cert_pin.hpp"

#include <openssl/evp.h>

#include <array>

namespace signpost::delivery {
namespace {

constexpr char hex_digits[] = "0123456789abcdef";
constexpr std::size_t digest_octets = 32;

std::string to_hex(const unsigned char* data, std::size_t n) {
    std::string out;
    out.reserve(2 * n);
    for (std::size_t i = 0; i < n; ++i) {
        out += hex_digits[data[i] >> 4];
        out += hex_digits[data[i] & 0x0f];
    }
    return out;
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

std::optional<std::string> normalize_sha256_pin(std::string_view text) {
    if (text.size() == digest_octets)
        return to_hex(reinterpret_cast<const unsigned char*>(text.data()), text.size());
    std::string out;
    if (text.size() == 2 * digest_octets) {
        for (char c : text) {
            if (!is_hex(c)) return std::nullopt;
            out += lower(c);
        }
        return out;
    }
    // "AB:CD:...": 32 pairs, 31 colons, each colon between two pairs.
    if (text.size() != 3 * digest_octets - 1) return std::nullopt;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (i % 3 == 2) {
            if (c != ':') return std::nullopt;
            continue;
        }
        if (!is_hex(c)) return std::nullopt;
        out += lower(c);
    }
    return out;
}

std::string sha256_hex(std::string_view der) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int n = 0;
    if (EVP_Digest(der.data(), der.size(), md.data(), &n, EVP_sha256(), nullptr) != 1 || n != digest_octets)
        return std::string();  // matches no pin
    return to_hex(md.data(), n);
}

}  // namespace signpost::delivery
