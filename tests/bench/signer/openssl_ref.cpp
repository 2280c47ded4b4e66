// tests/bench/signer/openssl_ref.cpp — OpenSSL reference primitives (see openssl_ref.hpp).
#include "openssl_ref.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdexcept>
#include <string>

namespace bench {
namespace {

[[noreturn]] void fail(const char* what) { throw std::runtime_error(std::string("OpenSSL: ") + what); }

}  // namespace

OsslSigner::OsslSigner(std::string_view pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (bio == nullptr) fail("BIO_new_mem_buf");
    key_ = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (key_ == nullptr) fail("PEM_read_bio_PrivateKey");
    if (EVP_PKEY_is_a(key_, "RSA") == 1) {
        rsa_ = true;
    } else if (EVP_PKEY_is_a(key_, "ED25519") != 1) {
        EVP_PKEY_free(key_);
        fail("key is neither RSA nor Ed25519");
    }
    ctx_ = EVP_MD_CTX_new();
    if (ctx_ == nullptr) {
        EVP_PKEY_free(key_);
        fail("EVP_MD_CTX_new");
    }
}

OsslSigner::~OsslSigner() {
    EVP_MD_CTX_free(ctx_);
    EVP_PKEY_free(key_);
}

std::vector<std::uint8_t> OsslSigner::sign(std::span<const std::uint8_t> data) {
    // RSA: PKCS#1 v1.5 padding is the default for RSA keys; Ed25519 takes no digest (NULL).
    if (EVP_DigestSignInit(ctx_, nullptr, rsa_ ? EVP_sha256() : nullptr, nullptr, key_) != 1) {
        fail("EVP_DigestSignInit");
    }
    std::vector<std::uint8_t> sig(static_cast<std::size_t>(EVP_PKEY_get_size(key_)));
    std::size_t len = sig.size();
    if (EVP_DigestSign(ctx_, sig.data(), &len, data.data(), data.size()) != 1) {
        fail("EVP_DigestSign");
    }
    sig.resize(len);
    EVP_MD_CTX_reset(ctx_);
    return sig;
}

std::vector<std::uint8_t> ossl_sha256(std::span<const std::uint8_t> data) {
    std::vector<std::uint8_t> md(32);
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) {
        fail("EVP_Digest");
    }
    return md;
}

}  // namespace bench
