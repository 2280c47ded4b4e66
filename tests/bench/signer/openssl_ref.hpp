// tests/bench/signer/openssl_ref.hpp — the OpenSSL 3 reference primitives of the signer
// benchmark: RSA PKCS#1 v1.5 / SHA-256 and Ed25519 signing through EVP_DigestSign, and
// SHA-256 through EVP_Digest. They exist only to be timed beside Botan (which the signer
// uses), so a reader can tell "the signer is slow" from "the library is slow".
//
// Keys come in as the same PEM the Botan side loads, so both libraries sign with one key and
// their (deterministic) signatures can be compared byte for byte as a self-check.
//
// Errors: any OpenSSL failure throws std::runtime_error (a benchmark has nothing to recover).
// Threading: an OsslSigner is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

struct evp_pkey_st;
struct evp_md_ctx_st;

namespace bench {

class OsslSigner {
public:
    // `pem`: PKCS#8 PEM, RSA or Ed25519. RSA signs RSASSA-PKCS1-v1_5 with SHA-256 (what DKIM's
    // rsa-sha256 is); Ed25519 signs PureEdDSA over the bytes given.
    explicit OsslSigner(std::string_view pem);
    ~OsslSigner();
    OsslSigner(const OsslSigner&) = delete;
    OsslSigner& operator=(const OsslSigner&) = delete;

    // One complete EVP_DigestSignInit + EVP_DigestSign, as an application signs a message.
    std::vector<std::uint8_t> sign(std::span<const std::uint8_t> data);

private:
    evp_pkey_st* key_ = nullptr;
    evp_md_ctx_st* ctx_ = nullptr;
    bool rsa_ = false;
};

// SHA-256 of `data` (EVP_Digest).
std::vector<std::uint8_t> ossl_sha256(std::span<const std::uint8_t> data);

}  // namespace bench
