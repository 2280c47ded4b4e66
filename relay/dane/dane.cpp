// relay/dane/dane.cpp — TLSA usability and certificate matching (see dane.hpp).
#include "relay/dane/dane.hpp"

#include <algorithm>
#include <memory>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace signpost::dane {
namespace {

struct X509Free {
    void operator()(X509* x) const noexcept { X509_free(x); }
};
struct StoreFree {
    void operator()(X509_STORE* s) const noexcept { X509_STORE_free(s); }
};
struct StoreCtxFree {
    void operator()(X509_STORE_CTX* c) const noexcept { X509_STORE_CTX_free(c); }
};
struct StackFree {
    void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }  // the certificates are owned elsewhere
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

X509Ptr parse(const std::string& der) {
    const auto* p = reinterpret_cast<const unsigned char*>(der.data());
    X509* x = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
    // Trailing octets after the certificate mean it is not one DER certificate.
    if (x && p != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
        X509_free(x);
        x = nullptr;
    }
    return X509Ptr(x);
}

// The DER octets the selector names (RFC 6698 §2.1.2).
std::string selected(const dns::TlsaRecord& r, X509* cert) {
    unsigned char* out = nullptr;
    int len = -1;
    if (r.selector == static_cast<std::uint8_t>(Selector::cert)) len = i2d_X509(cert, &out);
    else len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &out);
    if (len <= 0 || !out) return {};
    std::string s(reinterpret_cast<char*>(out), static_cast<std::size_t>(len));
    OPENSSL_free(out);
    return s;
}

std::string digest(const EVP_MD* md, const std::string& in) {
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(in.data(), in.size(), buf, &len, md, nullptr) != 1) return {};
    return std::string(reinterpret_cast<char*>(buf), len);
}

bool matches_cert(const dns::TlsaRecord& r, X509* cert) {
    const std::string sel = selected(r, cert);
    if (sel.empty()) return false;
    std::string value;
    switch (static_cast<Matching>(r.matching)) {
        case Matching::full: value = sel; break;
        case Matching::sha256: value = digest(EVP_sha256(), sel); break;
        case Matching::sha512: value = digest(EVP_sha512(), sel); break;
        default: return false;
    }
    return value.size() == r.data.size() && std::equal(value.begin(), value.end(), r.data.begin(),
                                                       [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; });
}

std::string hex(const std::vector<std::uint8_t>& data, std::size_t limit) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < data.size() && i < limit; ++i) {
        out.push_back(digits[data[i] >> 4]);
        out.push_back(digits[data[i] & 15]);
    }
    return out;
}

Failure failure_of(int verify_error) {
    switch (verify_error) {
        case X509_V_ERR_HOSTNAME_MISMATCH: return Failure::name_mismatch;
        case X509_V_ERR_CERT_HAS_EXPIRED:
        case X509_V_ERR_CERT_NOT_YET_VALID: return Failure::expired;
        default: return Failure::chain_invalid;
    }
}

// Checks the leaf against the anchor `ta` (DANE-TA): signatures up to `ta`, validity at
// `now`, and the leaf's name. On failure sets `why` to OpenSSL's reason.
Failure verify_to_anchor(X509* leaf, X509* ta, const std::vector<X509Ptr>& chain, const std::vector<std::string>& names,
                         std::time_t now, std::string& why) {
    std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
    std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
    std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
    if (!store || !ctx || !untrusted || X509_STORE_add_cert(store.get(), ta) != 1) {
        why = "out of memory";
        return Failure::chain_invalid;
    }
    for (std::size_t i = 1; i < chain.size(); ++i)
        if (chain[i]) sk_X509_push(untrusted.get(), chain[i].get());
    if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1) {
        why = "out of memory";
        return Failure::chain_invalid;
    }
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    // The anchor need not be self-signed: it is trusted because DNSSEC published it.
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
    X509_VERIFY_PARAM_set_time(param, now);
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    bool first = true;
    for (const auto& n : names) {
        if (n.empty()) continue;
        if (first) X509_VERIFY_PARAM_set1_host(param, n.c_str(), n.size());
        else X509_VERIFY_PARAM_add1_host(param, n.c_str(), n.size());
        first = false;
    }
    if (first) {
        why = "no name to check the certificate against";
        return Failure::name_mismatch;
    }
    if (X509_verify_cert(ctx.get()) == 1) return Failure::none;
    const int err = X509_STORE_CTX_get_error(ctx.get());
    why = X509_verify_cert_error_string(err);
    return failure_of(err);
}

}  // namespace

Usability usability(const dns::TlsaRecord& r) {
    if (r.usage == static_cast<std::uint8_t>(Usage::pkix_ta) || r.usage == static_cast<std::uint8_t>(Usage::pkix_ee))
        return Usability::pkix_usage;
    if (r.usage > static_cast<std::uint8_t>(Usage::dane_ee)) return Usability::unknown_usage;
    if (r.selector > static_cast<std::uint8_t>(Selector::spki)) return Usability::unknown_selector;
    switch (static_cast<Matching>(r.matching)) {
        case Matching::full: return r.data.empty() ? Usability::bad_length : Usability::usable;
        case Matching::sha256: return r.data.size() == 32 ? Usability::usable : Usability::bad_length;
        case Matching::sha512: return r.data.size() == 64 ? Usability::usable : Usability::bad_length;
    }
    return Usability::unknown_matching;
}

const char* to_string(Usability u) {
    switch (u) {
        case Usability::usable: return "usable";
        case Usability::pkix_usage: return "PKIX usage (unusable for SMTP)";
        case Usability::unknown_usage: return "unknown usage";
        case Usability::unknown_selector: return "unknown selector";
        case Usability::unknown_matching: return "unknown matching type";
        case Usability::bad_length: return "wrong data length for its matching type";
    }
    return "?";
}

std::vector<dns::TlsaRecord> usable_records(const std::vector<dns::TlsaRecord>& all) {
    // The strongest digest present per (usage, selector): 2 (SHA2-512) outranks 1 (SHA2-256).
    std::uint8_t strongest[4][2] = {};
    for (const auto& r : all)
        if (usability(r) == Usability::usable && r.matching != 0)
            strongest[r.usage][r.selector] = std::max(strongest[r.usage][r.selector], r.matching);
    std::vector<dns::TlsaRecord> out;
    for (const auto& r : all)
        if (usability(r) == Usability::usable && (r.matching == 0 || r.matching == strongest[r.usage][r.selector]))
            out.push_back(r);
    return out;
}

std::string to_text(const dns::TlsaRecord& r) {
    std::string s = std::to_string(r.usage) + " " + std::to_string(r.selector) + " " + std::to_string(r.matching) + " ";
    if (r.data.size() <= 64) return s + hex(r.data, 64);
    return s + hex(r.data, 32) + "... (" + std::to_string(r.data.size()) + " octets)";
}

std::string to_presentation(const dns::TlsaRecord& r) {
    return std::to_string(r.usage) + " " + std::to_string(r.selector) + " " + std::to_string(r.matching) + " " +
           hex(r.data, r.data.size());
}

const char* to_string(Failure f) {
    switch (f) {
        case Failure::none: return "none";
        case Failure::no_certificate: return "no-certificate";
        case Failure::no_match: return "no-match";
        case Failure::name_mismatch: return "name-mismatch";
        case Failure::expired: return "expired";
        case Failure::chain_invalid: return "chain-invalid";
    }
    return "?";
}

bool matches(const dns::TlsaRecord& record, const std::string& der) {
    X509Ptr cert = parse(der);
    return cert && matches_cert(record, cert.get());
}

Verdict verify(const std::vector<std::string>& chain_der, const std::vector<dns::TlsaRecord>& records,
               const std::vector<std::string>& names, std::time_t now) {
    Verdict v;
    std::vector<X509Ptr> chain;
    for (const auto& der : chain_der) chain.push_back(parse(der));  // null for one that does not parse
    if (chain.empty() || !chain.front()) {
        v.failure = Failure::no_certificate;
        v.detail = chain.empty() ? "the server sent no certificate" : "the server's certificate does not parse";
        return v;
    }
    X509* leaf = chain.front().get();

    for (std::size_t i = 0; i < records.size(); ++i) {
        const auto& r = records[i];
        if (r.usage != static_cast<std::uint8_t>(Usage::dane_ee) || usability(r) != Usability::usable) continue;
        if (matches_cert(r, leaf)) {
            v.failure = Failure::none;
            v.matched = i;
            v.depth = 0;
            v.detail = "DANE-EE TLSA " + to_text(r) + " matches the server certificate";
            return v;
        }
    }

    // DANE-TA: the first record whose anchor the chain leads to decides; when an anchor
    // matched but the checks failed, that failure is reported (more useful than no-match).
    std::optional<Verdict> anchored_failure;
    for (std::size_t i = 0; i < records.size(); ++i) {
        const auto& r = records[i];
        if (r.usage != static_cast<std::uint8_t>(Usage::dane_ta) || usability(r) != Usability::usable) continue;
        std::vector<std::pair<X509*, int>> anchors;  // candidate anchor, its depth (-1: from the record)
        for (std::size_t d = 0; d < chain.size(); ++d)
            if (chain[d] && matches_cert(r, chain[d].get())) anchors.emplace_back(chain[d].get(), static_cast<int>(d));
        X509Ptr from_record;
        if (anchors.empty() && r.selector == static_cast<std::uint8_t>(Selector::cert) &&
            r.matching == static_cast<std::uint8_t>(Matching::full)) {
            // "2 0 0": the record is the anchor certificate itself, the server need not send it.
            from_record = parse(std::string(r.data.begin(), r.data.end()));
            if (from_record) anchors.emplace_back(from_record.get(), -1);
        }
        for (const auto& [ta, depth] : anchors) {
            std::string why;
            const Failure f = verify_to_anchor(leaf, ta, chain, names, now, why);
            if (f == Failure::none) {
                v.failure = Failure::none;
                v.matched = i;
                v.depth = depth;
                v.detail = "DANE-TA TLSA " + to_text(r) + " matches " +
                           (depth < 0 ? std::string("the anchor it publishes") : "certificate " + std::to_string(depth) + " of the chain") +
                           ", and the server certificate chains to it with a matching name";
                return v;
            }
            if (!anchored_failure) {
                Verdict bad;
                bad.failure = f;
                bad.matched = i;
                bad.depth = depth;
                bad.detail = "DANE-TA TLSA " + to_text(r) + " matches, but the server certificate fails: " + why;
                anchored_failure = std::move(bad);
            }
        }
    }
    if (anchored_failure) return *anchored_failure;
    v.failure = Failure::no_match;
    v.detail = "none of the " + std::to_string(records.size()) + " usable TLSA records matches the server's " +
               std::to_string(chain.size()) + " certificate" + (chain.size() == 1 ? "" : "s");
    return v;
}

}  // namespace signpost::dane
