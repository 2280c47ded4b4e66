// signer/rsa_split.hpp — RSASSA-PKCS1-v1_5 / SHA-256 signatures (RFC 8017 §8.2.1) whose
// private operation may be split over two threads (internal to signer/; see key.hpp "Split
// RSA signatures").
//
// An RSA private operation with the Chinese remainder theorem is two independent modular
// exponentiations, one mod p and one mod q, each about half the work; they are joined by a
// few multiplications. With a SpareThread that is idle, the half mod q runs there while the
// caller does the half mod p.
//
// The arithmetic is OpenSSL's (BN_mod_exp_mont_consttime with the key's Montgomery contexts
// built once), as in its own RSA code; what this adds is the order of the steps:
//  1. EM = 0x00 0x01 FF..FF 0x00 || DigestInfo(SHA-256) || SHA-256(input) (§9.2), m = OS2IP(EM).
//  2. Blinding: m' = m * A mod n, where A = r^e for a random r kept with its inverse Ai = r^-1;
//     the pair is squared after each use and drawn afresh every 32 uses (as OpenSSL does).
//  3. m1 = m'^dP mod p, m2 = m'^dQ mod q (the second on the spare thread when it takes it).
//  4. h = qInv * (m1 - m2) mod p, s' = m2 + q * h, s = s' * Ai mod n.
//  5. Check: s^e mod n must equal m (a fault or an error in any step gives another value);
//     otherwise no signature is returned and the caller signs the usual way.
// PKCS#1 v1.5 is deterministic, so the octets equal those of any other implementation (the
// unit tests compare them with OpenSSL's EVP_DigestSign).
#pragma once
#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace signpost::signer {

class SpareThread;

class RsaSplitKey {
public:
    // The CRT values of a two-prime RSA key; null if the key has other than two primes or
    // OpenSSL cannot give them.
    static std::unique_ptr<RsaSplitKey> from(const EVP_PKEY* key);
    ~RsaSplitKey();
    RsaSplitKey(const RsaSplitKey&) = delete;
    RsaSplitKey& operator=(const RsaSplitKey&) = delete;

    // The signature over `input`, the half mod q offered to `spare` when it is not null.
    // nullopt when any step fails or the check of step 5 does not hold. Throws
    // std::bad_alloc only.
    std::optional<std::vector<std::uint8_t>> sign(std::string_view input, SpareThread* spare) const;

private:
    struct Values;
    explicit RsaSplitKey(std::unique_ptr<Values> v);
    std::unique_ptr<Values> v_;
};

}  // namespace signpost::signer
