// signer/key.cpp — key loading, key records, generation, and the two DKIM signature
// algorithms (see key.hpp). Every Botan call is wrapped: Botan throws, this module returns.
// RSA signatures are made by OpenSSL's libcrypto from the same key (see key.hpp).
#include "signer/key.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <botan/asn1_obj.h>
#include <botan/base64.h>
#include <botan/data_src.h>
#include <botan/ed25519.h>
#include <botan/hash.h>
#include <botan/pem.h>
#include <botan/pkcs8.h>
#include <botan/pubkey.h>
#include <botan/rsa.h>
#include <botan/sha2_32.h>
#include <botan/system_rng.h>
#include <botan/x509_key.h>

#include <array>
#include <atomic>
#include <mutex>
#include <new>
#include <string>

#include "signer/header.hpp"
#include "signer/rsa_split.hpp"
#include "signer/spare_thread.hpp"
#include "signer/tag_list.hpp"

namespace signpost::signer {
namespace {

constexpr std::string_view rsa_emsa = "EMSA3(SHA-256)";  // RSASSA-PKCS1-v1_5, SHA-256
constexpr std::string_view ed25519_mode = "Pure";        // PureEdDSA (RFC 8463 §3)

std::vector<std::string_view> split_colon(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    while (true) {
        const auto c = s.find(':', pos);
        out.push_back(trim_fws(s.substr(pos, c == std::string_view::npos ? s.npos : c - pos)));
        if (c == std::string_view::npos) break;
        pos = c + 1;
    }
    return out;
}


Result<KeyType> key_type_of(const Botan::Public_Key& key) {
    const std::string name = key.algo_name();
    if (name == "RSA") return KeyType::rsa;
    if (name == "Ed25519") return KeyType::ed25519;
    return Errc::key_type_unsupported;
}

}  // namespace

std::string_view to_string(KeyType t) noexcept { return t == KeyType::rsa ? "rsa" : "ed25519"; }

std::string_view to_string(Algorithm a) noexcept {
    return a == Algorithm::rsa_sha256 ? "rsa-sha256" : "ed25519-sha256";
}

std::optional<Algorithm> parse_algorithm(std::string_view a) noexcept {
    if (header_name_equals(a, "rsa-sha256")) return Algorithm::rsa_sha256;
    if (header_name_equals(a, "ed25519-sha256")) return Algorithm::ed25519_sha256;
    return std::nullopt;
}

Algorithm algorithm_for(KeyType t) noexcept {
    return t == KeyType::rsa ? Algorithm::rsa_sha256 : Algorithm::ed25519_sha256;
}

// --- private keys ------------------------------------------------------------------------

// Idle Botan signers of one key (see key.hpp "Signer reuse"). A signer is used by one thread
// at a time: take() hands it out exclusively, give_back() returns it. The pool holds its own
// reference to the key, because each signer refers to the key it was built from: whatever
// order a PrivateKey's members are released in, no signer outlives its key.
class PrivateKey::SignerPool {
public:
    SignerPool(std::shared_ptr<const Botan::Private_Key> key, KeyType type, EVP_PKEY* rsa = nullptr)
        : key_(std::move(key)), mode_(type == KeyType::rsa ? rsa_emsa : ed25519_mode), rsa_(rsa),
          split_(RsaSplitKey::from(rsa)) {}

    // RSASSA-PKCS1-v1_5 with SHA-256 over `input`, by OpenSSL; nullopt when this pool has no
    // OpenSSL key. Throws std::runtime_error when OpenSSL fails. An EVP_PKEY may sign from
    // many threads at once; each signature has its own EVP_MD_CTX.
    // With `spare`, while no other signature with this key is being made, the private
    // operation is split over this thread and the spare one (key.hpp "Split RSA
    // signatures"); if that fails for any reason the signature is made the usual way.
    std::optional<std::vector<std::uint8_t>> rsa_sign(std::string_view input, SpareThread* spare) const {
        if (!rsa_) return std::nullopt;
        if (spare != nullptr && split_) {
            struct Count {
                std::atomic<int>& n;
                const int before = n.fetch_add(1, std::memory_order_acq_rel);
                ~Count() { n.fetch_sub(1, std::memory_order_acq_rel); }
            } count{signing_};
            if (count.before == 0) {
                if (auto signature = split_->sign(input, spare)) return signature;
                spare->count_failed_split();
            }
        }
        std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
        if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, rsa_.get()) != 1)
            throw std::runtime_error("EVP_DigestSignInit");
        const auto* data = reinterpret_cast<const unsigned char*>(input.data());
        std::size_t len = 0;
        if (EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1) throw std::runtime_error("EVP_DigestSign");
        std::vector<std::uint8_t> signature(len);
        if (EVP_DigestSign(ctx.get(), signature.data(), &len, data, input.size()) != 1)
            throw std::runtime_error("EVP_DigestSign");
        signature.resize(len);
        return signature;
    }

    // An idle signer, or a new one if none is free. Throws what Botan throws.
    std::unique_ptr<Botan::PK_Signer> take() {
        {
            std::lock_guard lock(mu_);
            if (!idle_.empty()) {
                auto signer = std::move(idle_.back());
                idle_.pop_back();
                return signer;
            }
        }
        // Built outside the lock: for RSA this is the expensive part (the blinder).
        // Botan::system_rng() is a static that outlives every key, so the reference the
        // signer keeps to it stays valid.
        return std::make_unique<Botan::PK_Signer>(*key_, Botan::system_rng(), std::string(mode_));
    }

    // Returns a signer after a successful signature. Past the cap, or if memory is short,
    // the signer is simply destroyed.
    void give_back(std::unique_ptr<Botan::PK_Signer> signer) noexcept {
        std::lock_guard lock(mu_);
        if (idle_.size() >= max_pooled_signers) return;
        try {
            idle_.push_back(std::move(signer));
        } catch (const std::bad_alloc&) {
            // push_back left `signer` untouched; it is destroyed on return.
        }
    }

private:
    std::shared_ptr<const Botan::Private_Key> key_;  // declared first: destroyed last
    std::string_view mode_;                          // EMSA / Ed25519 mode, a literal
    struct FreeKey {
        void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
    };
    std::unique_ptr<EVP_PKEY, FreeKey> rsa_;         // the same RSA key for OpenSSL, or null
    std::unique_ptr<RsaSplitKey> split_;             // its CRT values, or null
    mutable std::atomic<int> signing_{0};            // split-capable signatures in progress
    std::mutex mu_;
    std::vector<std::unique_ptr<Botan::PK_Signer>> idle_;
};

Result<PrivateKey> PrivateKey::from_botan(std::unique_ptr<Botan::Private_Key> key) {
    if (!key) return Errc::pem_corrupt;
    auto type = key_type_of(*key);
    if (!type) return type.error();
    std::size_t bits = 256;
    if (*type == KeyType::rsa) {
        bits = key->key_length();
        if (bits < min_rsa_load_bits) return Errc::key_too_small;
        if (bits > max_rsa_sign_bits) return Errc::key_too_large;
    }
    std::string p;
    try {
        // Cheap consistency checks (not the "strong" primality ones): a corrupt key that
        // still decodes is refused here rather than producing bad signatures later.
        if (!key->check_key(Botan::system_rng(), false)) return Errc::pem_corrupt;
        if (*type == KeyType::ed25519) {
            // RFC 8463 §4.2: the raw 32-octet public key.
            const auto* ed = dynamic_cast<const Botan::Ed25519_PublicKey*>(key.get());
            if (ed == nullptr) return Errc::key_type_unsupported;
            p = Botan::base64_encode(ed->get_public_key());
        } else {
            // RFC 6376 §3.6.1: the DER SubjectPublicKeyInfo.
            p = Botan::base64_encode(Botan::X509::BER_encode(*key));
        }
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception&) {
        return Errc::pem_corrupt;
    }
    // RSA signs through OpenSSL (about twice as fast as Botan 2.19 here; see key.hpp): the
    // key goes over as PKCS#8 DER. A key OpenSSL cannot read is refused, not half-used.
    EVP_PKEY* rsa = nullptr;
    if (*type == KeyType::rsa) {
        try {
            const Botan::secure_vector<std::uint8_t> der = Botan::PKCS8::BER_encode(*key);
            const unsigned char* cursor = der.data();
            rsa = d2i_AutoPrivateKey(nullptr, &cursor, static_cast<long>(der.size()));
        } catch (const std::bad_alloc&) {
            throw;
        } catch (const std::exception&) {
            return Errc::pem_corrupt;
        }
        if (rsa == nullptr) return Errc::pem_corrupt;
    }
    std::shared_ptr<const Botan::Private_Key> shared(std::move(key));
    auto pool = std::make_shared<SignerPool>(shared, *type, rsa);
    return PrivateKey(std::move(shared), std::move(pool), *type, bits, std::move(p));
}

std::string PrivateKey::dns_record() const {
    return "v=DKIM1; k=" + std::string(to_string(type_)) + "; p=" + public_key_base64();
}

Result<std::string> PrivateKey::to_pem() const {
    try {
        return Botan::PKCS8::PEM_encode(*key_);
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception&) {
        return Errc::crypto_failure;
    }
}

Result<PrivateKey> load_private_key_pem(std::string_view pem) {
    if (pem.find("ENCRYPTED PRIVATE KEY") != std::string_view::npos ||
        pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos) {
        return Errc::key_encrypted;
    }
    std::unique_ptr<Botan::Private_Key> key;
    try {
        if (pem.find("-----BEGIN RSA PRIVATE KEY-----") != std::string_view::npos) {
            // PKCS#1 RSAPrivateKey (Botan's PKCS#8 loader does not take this label).
            Botan::DataSource_Memory src(reinterpret_cast<const std::uint8_t*>(pem.data()),
                                         pem.size());
            const auto der = Botan::PEM_Code::decode_check_label(src, "RSA PRIVATE KEY");
            key = std::make_unique<Botan::RSA_PrivateKey>(
                Botan::AlgorithmIdentifier("RSA", Botan::AlgorithmIdentifier::USE_NULL_PARAM), der);
        } else {
            Botan::DataSource_Memory src(reinterpret_cast<const std::uint8_t*>(pem.data()),
                                         pem.size());
            key = Botan::PKCS8::load_key(src);
        }
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception& e) {
        // Botan names algorithms it cannot load (Ed448, X25519, ...) in its message.
        if (std::string_view(e.what()).find("nknown or unavailable public key algorithm") !=
            std::string_view::npos) {
            return Errc::key_type_unsupported;
        }
        return Errc::pem_corrupt;
    }
    return PrivateKey::from_botan(std::move(key));
}

Result<PrivateKey> load_ed25519_seed(std::string_view base64_seed) {
    const auto seed = decode_base64(base64_seed);
    if (!seed || seed->size() != 32) return Errc::bad_ed25519_seed;
    try {
        const Botan::secure_vector<std::uint8_t> secret(seed->begin(), seed->end());
        return PrivateKey::from_botan(std::make_unique<Botan::Ed25519_PrivateKey>(secret));
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception&) {
        return Errc::bad_ed25519_seed;
    }
}

Result<PrivateKey> generate_rsa_key(Botan::RandomNumberGenerator& rng, std::size_t bits) {
    if (bits < min_rsa_sign_bits) return Errc::key_too_small;
    if (bits > max_rsa_sign_bits) return Errc::key_too_large;
    try {
        return PrivateKey::from_botan(std::make_unique<Botan::RSA_PrivateKey>(rng, bits));
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception&) {
        return Errc::crypto_failure;
    }
}

Result<PrivateKey> generate_ed25519_key(Botan::RandomNumberGenerator& rng) {
    try {
        return PrivateKey::from_botan(std::make_unique<Botan::Ed25519_PrivateKey>(rng));
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception&) {
        return Errc::crypto_failure;
    }
}

// --- key records -------------------------------------------------------------------------

Result<KeyRecord> parse_key_record(std::string_view txt) {
    auto tags = parse_tag_list(txt);
    if (!tags) return Errc::key_record_syntax;
    KeyRecord rec;
    for (std::size_t i = 0; i < tags->size(); ++i) {
        const Tag& t = (*tags)[i];
        if (t.name == "v") {
            // §3.6.1: v= is RECOMMENDED; if present it MUST be the first tag.
            if (i != 0) return Errc::key_record_syntax;
            if (t.value != "DKIM1") return Errc::key_record_version;
        } else if (t.name == "h") {
            bool sha256 = false;
            for (auto h : split_colon(t.value)) sha256 = sha256 || header_name_equals(h, "sha256");
            if (!sha256) return Errc::key_record_hash_unsupported;
        } else if (t.name == "k") {
            if (header_name_equals(t.value, "rsa")) {
                rec.type = KeyType::rsa;
            } else if (header_name_equals(t.value, "ed25519")) {
                rec.type = KeyType::ed25519;
            } else {
                return Errc::key_record_type_unsupported;
            }
        } else if (t.name == "s") {
            bool email = false;
            for (auto s : split_colon(t.value)) {
                email = email || s == "*" || header_name_equals(s, "email");
            }
            if (!email) return Errc::key_record_service_unsupported;
        } else if (t.name == "t") {
            for (auto f : split_colon(t.value)) {
                if (f == "y") rec.testing = true;
                if (f == "s") rec.strict = true;
            }
        }
    }
    const auto p = find_tag(*tags, "p");
    if (!p) return Errc::key_record_no_key;
    if (!remove_fws(*p).empty()) {
        auto bytes = decode_base64(*p);
        if (!bytes || bytes->empty()) return Errc::key_record_bad_key;
        rec.public_key = std::move(*bytes);
    }
    return rec;
}

Result<PublicKey> load_public_key(const KeyRecord& record) {
    if (record.revoked()) return Errc::key_record_bad_key;
    try {
        if (record.type == KeyType::ed25519) {
            if (record.public_key.size() != 32) return Errc::key_record_bad_key;
            auto key = std::make_shared<const Botan::Ed25519_PublicKey>(record.public_key);
            return PublicKey(std::move(key), KeyType::ed25519, 256);
        }
        std::shared_ptr<const Botan::Public_Key> key;
        try {
            key.reset(Botan::X509::load_key(record.public_key));  // SubjectPublicKeyInfo
        } catch (const std::bad_alloc&) {
            throw;
        } catch (const std::exception&) {
            // Some records carry a bare PKCS#1 RSAPublicKey; accept it too.
            key = std::make_shared<const Botan::RSA_PublicKey>(
                Botan::AlgorithmIdentifier("RSA", Botan::AlgorithmIdentifier::USE_NULL_PARAM),
                record.public_key);
        }
        if (!key || key->algo_name() != "RSA") return Errc::key_record_bad_key;
        const std::size_t bits = key->key_length();
        return PublicKey(std::move(key), KeyType::rsa, bits);
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception&) {
        return Errc::key_record_bad_key;
    }
}

bool record_matches(const KeyRecord& record, const PrivateKey& key) {
    if (record.revoked() || record.type != key.type()) return false;
    auto pub = load_public_key(record);
    if (!pub) return false;
    try {
        return pub->botan_key().public_key_bits() == key.botan_key().public_key_bits();
    } catch (const std::exception&) {
        return false;
    }
}

// --- the algorithms ----------------------------------------------------------------------

Result<std::vector<std::uint8_t>> dkim_sign(const PrivateKey& key, std::string_view input, SpareThread* spare) {
    try {
        auto& rng = Botan::system_rng();
        if (auto rsa = key.pool_->rsa_sign(input, spare)) return std::move(*rsa);
        const auto* data = reinterpret_cast<const std::uint8_t*>(input.data());
        // If anything below throws, `signer` is destroyed with the stack: a signer left in
        // an unknown state by a failed operation is never put back in the pool.
        std::unique_ptr<Botan::PK_Signer> signer = key.pool_->take();
        std::vector<std::uint8_t> signature;
        if (key.type() == KeyType::rsa) {
            signature = signer->sign_message(data, input.size(), rng);
        } else {
            // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data, with PureEdDSA.
            Botan::SHA_256 sha;
            sha.update(data, input.size());
            std::array<std::uint8_t, 32> digest;
            sha.final(digest.data());
            signature = signer->sign_message(digest.data(), digest.size(), rng);
        }
        key.pool_->give_back(std::move(signer));
        return signature;
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception&) {
        return Errc::crypto_failure;
    }
}

bool dkim_verify(const PublicKey& key, std::string_view input,
                 std::span<const std::uint8_t> signature) noexcept {
    try {
        const auto* data = reinterpret_cast<const std::uint8_t*>(input.data());
        if (key.type() == KeyType::rsa) {
            Botan::PK_Verifier verifier(key.botan_key(), std::string(rsa_emsa));
            return verifier.verify_message(data, input.size(), signature.data(), signature.size());
        }
        if (signature.size() != 64) return false;
        auto sha = Botan::HashFunction::create_or_throw("SHA-256");
        sha->update(data, input.size());
        const auto digest = sha->final();
        Botan::PK_Verifier verifier(key.botan_key(), std::string(ed25519_mode));
        return verifier.verify_message(digest.data(), digest.size(), signature.data(),
                                       signature.size());
    } catch (...) {
        return false;
    }
}

}  // namespace signpost::signer
