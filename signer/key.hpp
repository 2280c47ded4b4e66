// signer/key.hpp — DKIM keys: loading private keys from bytes, public key records (DNS TXT),
// generation, and the two signature algorithms.
//
// What it does:
//  - PrivateKey: an RSA or Ed25519 signing key (immutable, cheap to copy: shared).
//    load_private_key_pem(): PEM PKCS#8 ("PRIVATE KEY") for RSA or Ed25519, PEM PKCS#1
//    ("RSA PRIVATE KEY", as RFC 8463 Appendix A.1 publishes its key), or the same as DER.
//    load_ed25519_seed(): the raw 32-octet Ed25519 seed in base64 (RFC 8463 Appendix A.1).
//  - dns_record(): the TXT record value to publish, "v=DKIM1; k=rsa; p=<base64 SPKI DER>"
//    (RFC 6376 §3.6.1) or "v=DKIM1; k=ed25519; p=<base64 raw 32-octet key>" (RFC 8463 §4.2).
//  - generate_rsa_key() / generate_ed25519_key(): the only functions that need randomness;
//    the caller passes the RNG.
//  - KeyRecord / parse_key_record(): the verifier's view of a key record (RFC 6376 §3.6.1):
//    v= (optional, must be first, "DKIM1"), k= (rsa default | ed25519), h= (must allow
//    sha256 if present), s= (must include email or * if present), t= (y testing, s strict),
//    p= (base64; empty = revoked). Unknown tags and flags are ignored, as §3.6.1 requires.
//  - dkim_sign() / dkim_verify(): the signature algorithms on the §3.7 signing input:
//    rsa-sha256 = RSASSA-PKCS1-v1_5 with SHA-256 (Botan "EMSA3(SHA-256)", RFC 6376 §3.3.1);
//    ed25519-sha256 = PureEdDSA Ed25519 over the 32-octet SHA-256 digest of the input
//    (RFC 8463 §3). rsa-sha1 is not implemented at all (RFC 8301 forbids signing with it).
//
// Size policy: RSA keys of 1024..4096 bits load (1024 so that published vectors such as
// RFC 8463's and verifier-side keys work); sign() in signer/sign.hpp refuses RSA under 2048
// bits (key_too_small). Keys over 4096 bits are refused (key_too_large) everywhere on the
// signing side; verification accepts RSA public keys of 1024..8192 bits (RFC 8301 §3.2:
// verifiers MUST accept >= 1024).
//
// Purity: no files are read — keys come in as bytes. RSA private operations are blinded
// with random numbers; that does not change the (deterministic, PKCS#1 v1.5) signature
// bytes.
//
// Untrusted input: key bytes (operator-provided), key records (DNS, attacker-controlled).
// No exception leaves these functions except std::bad_alloc: Botan errors become Errc values.
//
// Threading: a PrivateKey/PublicKey is immutable and may be used by many threads at once.
// RSA signatures: made with OpenSSL's libcrypto (EVP_DigestSign, RSASSA-PKCS1-v1_5 with
// SHA-256; OpenSSL blinds RSA private operations itself) from the same key, handed over as
// PKCS#8 DER when the key is loaded: Botan 2.19's RSA signature costs about twice
// OpenSSL 3's on these machines (tests/bench/signer: raw.botan.rsa2048.sign against
// raw.openssl.rsa2048.sign), and it is the largest single part of the relay's CPU per
// message. Botan still
// parses, checks, generates and exports keys, verifies, and signs Ed25519 (where it is
// as fast as OpenSSL).
// Split RSA signatures: given a SpareThread (signer/spare_thread.hpp) that is idle, and while
// no other signature with the same key is being made, an RSA signature's private operation
// is split in its two CRT halves, one on the calling thread and one on the spare thread
// (signer/rsa_split.hpp: OpenSSL's constant-time exponentiation, blinded, and checked with
// the public key before it is returned). On a machine with a core to spare the message
// waiting for its signature gets it in a little over half the time; under load the spare
// thread is busy or the key is, and signatures are made whole as before. Any failure of
// the split path falls back to EVP_DigestSign. The octets are the same either way.
// Signer reuse (Ed25519): a PrivateKey owns a small pool of Botan signers, shared by all
// its copies and guarded by a mutex: dkim_sign() takes one (or builds one if none is free),
// signs, and returns it; a signer whose operation threw is dropped, never reused. The pool
// holds at most as many signers as threads have signed with the key at once (capped at
// max_pooled_signers).
// Lifetime: key memory comes from Botan's secure-memory pool, a static object. Do not keep
// keys in objects with static storage duration (they could be freed after the pool at exit).
// For the same reason the signer pool lives in the key, never in a static or thread_local.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "signer/error.hpp"

namespace Botan {
class Private_Key;
class Public_Key;
class RandomNumberGenerator;
}  // namespace Botan

namespace signpost::signer {

class SpareThread;  // signer/spare_thread.hpp

enum class KeyType { rsa, ed25519 };
enum class Algorithm { rsa_sha256, ed25519_sha256 };

std::string_view to_string(KeyType t) noexcept;    // "rsa" / "ed25519" (k= values)
std::string_view to_string(Algorithm a) noexcept;  // "rsa-sha256" / "ed25519-sha256" (a=)
// The a= values this module implements; nullopt for anything else (rsa-sha1 included).
std::optional<Algorithm> parse_algorithm(std::string_view a) noexcept;
Algorithm algorithm_for(KeyType t) noexcept;

inline constexpr std::size_t min_rsa_load_bits = 1024;
inline constexpr std::size_t min_rsa_sign_bits = 2048;
inline constexpr std::size_t max_rsa_sign_bits = 4096;
inline constexpr std::size_t min_rsa_verify_bits = 1024;
inline constexpr std::size_t max_rsa_verify_bits = 8192;
// Idle Botan signers a PrivateKey keeps for reuse (more concurrent signers are built and
// then dropped).
inline constexpr std::size_t max_pooled_signers = 64;

class PrivateKey {
public:
    // Wraps a Botan key after checking type and size (errors: key_type_unsupported,
    // key_too_small, key_too_large, pem_corrupt if it fails the consistency check).
    static Result<PrivateKey> from_botan(std::unique_ptr<Botan::Private_Key> key);

    KeyType type() const noexcept { return type_; }
    Algorithm algorithm() const noexcept { return algorithm_for(type_); }
    std::size_t bits() const noexcept { return bits_; }  // RSA modulus bits; 256 for Ed25519

    const std::string& public_key_base64() const noexcept { return p_; }  // the p= value
    std::string dns_record() const;                                       // "v=DKIM1; k=...; p=..."
    // Unencrypted PKCS#8 PEM, for the key store. Errors: crypto_failure.
    Result<std::string> to_pem() const;

    const Botan::Private_Key& botan_key() const noexcept { return *key_; }

private:
    class SignerPool;  // reusable Botan signers for this key (key.cpp)
    friend Result<std::vector<std::uint8_t>> dkim_sign(const PrivateKey& key, std::string_view input,
                                                       SpareThread* spare);

    PrivateKey(std::shared_ptr<const Botan::Private_Key> key, std::shared_ptr<SignerPool> pool,
               KeyType type, std::size_t bits, std::string p)
        : key_(std::move(key)), pool_(std::move(pool)), type_(type), bits_(bits),
          p_(std::move(p)) {}

    std::shared_ptr<const Botan::Private_Key> key_;
    std::shared_ptr<SignerPool> pool_;  // shared by copies; keeps its own reference to key_
    KeyType type_;
    std::size_t bits_;
    std::string p_;  // computed once at load, so the accessors cannot fail
};

// Errors: pem_corrupt, key_encrypted, key_type_unsupported, key_too_small, key_too_large.
Result<PrivateKey> load_private_key_pem(std::string_view pem);
// Errors: bad_ed25519_seed.
Result<PrivateKey> load_ed25519_seed(std::string_view base64_seed);

// bits in [2048, 4096] (errors: key_too_small, key_too_large).
Result<PrivateKey> generate_rsa_key(Botan::RandomNumberGenerator& rng, std::size_t bits = 2048);
Result<PrivateKey> generate_ed25519_key(Botan::RandomNumberGenerator& rng);

// --- public side (verification) -------------------------------------------------------

struct KeyRecord {
    KeyType type = KeyType::rsa;           // k=
    std::vector<std::uint8_t> public_key;  // p=, decoded; empty means revoked
    bool testing = false;                  // t=y
    bool strict = false;                   // t=s: the i= domain must equal d=

    bool revoked() const noexcept { return public_key.empty(); }
};

// Errors: key_record_syntax, key_record_version, key_record_no_key, key_record_bad_key
// (p= not base64), key_record_type_unsupported, key_record_hash_unsupported,
// key_record_service_unsupported.
Result<KeyRecord> parse_key_record(std::string_view txt);

class PublicKey {
public:
    KeyType type() const noexcept { return type_; }
    std::size_t bits() const noexcept { return bits_; }
    const Botan::Public_Key& botan_key() const noexcept { return *key_; }

private:
    friend Result<PublicKey> load_public_key(const KeyRecord& record);
    PublicKey(std::shared_ptr<const Botan::Public_Key> key, KeyType type, std::size_t bits)
        : key_(std::move(key)), type_(type), bits_(bits) {}

    std::shared_ptr<const Botan::Public_Key> key_;
    KeyType type_;
    std::size_t bits_;
};

// Decodes p= for its k=: RSA as SubjectPublicKeyInfo DER (what RFC 6376 records carry) or,
// leniently, a bare PKCS#1 RSAPublicKey; Ed25519 as the raw 32 octets (RFC 8463 §4.2).
// No size policy here (the verifier applies it). Errors: key_record_bad_key (also for a
// revoked record).
Result<PublicKey> load_public_key(const KeyRecord& record);

// True if the record publishes the public half of `key` (for the key store's "is the
// record live in DNS yet" check). A revoked or undecodable record never matches.
bool record_matches(const KeyRecord& record, const PrivateKey& key);

// The signature algorithm of the key's type over the RFC 6376 §3.7 signing input.
// `spare`: see "Split RSA signatures" above; it never changes the signature's octets.
// Errors: crypto_failure.
Result<std::vector<std::uint8_t>> dkim_sign(const PrivateKey& key, std::string_view input,
                                            SpareThread* spare = nullptr);
// False for any mismatch, including a signature of the wrong length.
bool dkim_verify(const PublicKey& key, std::string_view input,
                 std::span<const std::uint8_t> signature) noexcept;

}  // namespace signpost::signer
