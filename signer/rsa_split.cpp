// signer/rsa_split.cpp — see rsa_split.hpp.
#include "signer/rsa_split.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>

#include <array>
#include <mutex>

#include "signer/spare_thread.hpp"

namespace signpost::signer {
namespace {

// RFC 8017 §9.2 note 1: the DER DigestInfo prefix for SHA-256.
constexpr std::array<std::uint8_t, 19> sha256_digest_info = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
                                                              0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                                              0x01, 0x05, 0x00, 0x04, 0x20};
constexpr int blinding_uses = 32;  // a fresh blinding pair after this many signatures

struct BnFree {
    void operator()(BIGNUM* b) const noexcept { BN_clear_free(b); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;
struct MontFree {
    void operator()(BN_MONT_CTX* m) const noexcept { BN_MONT_CTX_free(m); }
};
using Mont = std::unique_ptr<BN_MONT_CTX, MontFree>;
struct CtxFree {
    void operator()(BN_CTX* c) const noexcept { BN_CTX_free(c); }
};
using Ctx = std::unique_ptr<BN_CTX, CtxFree>;

Bn param(const EVP_PKEY* key, const char* name) {
    BIGNUM* b = nullptr;
    if (EVP_PKEY_get_bn_param(key, name, &b) != 1) return nullptr;
    return Bn(b);
}

// out = (in mod m)^x mod m in constant time (m and x carry BN_FLG_CONSTTIME).
bool exp_half(const BIGNUM* in, const BIGNUM* m, const BIGNUM* x, BN_MONT_CTX* mont, BIGNUM* out, BN_CTX* ctx) {
    BN_CTX_start(ctx);
    BIGNUM* t = BN_CTX_get(ctx);
    const bool ok =
        t != nullptr && BN_mod(t, in, m, ctx) == 1 && BN_mod_exp_mont_consttime(out, t, x, m, ctx, mont) == 1;
    BN_CTX_end(ctx);
    return ok;
}

}  // namespace

struct RsaSplitKey::Values {
    Bn n, e, p, q, dp, dq, qinv;
    Mont mont_n, mont_p, mont_q;
    int k = 0;  // modulus length in octets

    // The blinding pair (A = r^e, Ai = r^-1 mod n), shared by all signatures with this key.
    mutable std::mutex mu;
    mutable Bn blind, unblind;
    mutable int uses = 0;

    // Copies the current blinding pair into a and ai, then moves the pair on.
    bool take_blinding(BIGNUM* a, BIGNUM* ai, BN_CTX* ctx) const {
        std::lock_guard lock(mu);
        if (uses % blinding_uses == 0) {
            Bn r(BN_new());
            if (!r || !blind || !unblind) return false;
            bool drawn = false;
            for (int attempt = 0; attempt < 8 && !drawn; ++attempt) {
                // r has an inverse unless it shares a prime with n (never, in practice).
                drawn = BN_priv_rand_range(r.get(), n.get()) == 1 && !BN_is_zero(r.get()) &&
                        BN_mod_inverse(unblind.get(), r.get(), n.get(), ctx) != nullptr;
            }
            if (!drawn || BN_mod_exp_mont(blind.get(), r.get(), e.get(), n.get(), ctx, mont_n.get()) != 1) return false;
        } else if (BN_mod_sqr(blind.get(), blind.get(), n.get(), ctx) != 1 ||
                   BN_mod_sqr(unblind.get(), unblind.get(), n.get(), ctx) != 1) {
            uses = 0;  // draw afresh next time
            return false;
        }
        ++uses;
        return BN_copy(a, blind.get()) != nullptr && BN_copy(ai, unblind.get()) != nullptr;
    }
};

namespace {

// The half mod q, as a job for the spare thread (or for the caller, if taken back).
class QHalf final : public SpareThread::Job {
public:
    QHalf(const BIGNUM* q, const BIGNUM* dq, BN_MONT_CTX* mont, const BIGNUM* in, BIGNUM* out)
        : q_(q), dq_(dq), mont_(mont), in_(in), out_(out) {}
    void run() noexcept override {
        Ctx ctx(BN_CTX_new());
        ok_ = ctx && exp_half(in_, q_, dq_, mont_, out_, ctx.get());
    }
    bool ok() const noexcept { return ok_; }

private:
    const BIGNUM* q_;
    const BIGNUM* dq_;
    BN_MONT_CTX* mont_;
    const BIGNUM* in_;
    BIGNUM* out_;
    bool ok_ = false;
};

}  // namespace

RsaSplitKey::RsaSplitKey(std::unique_ptr<Values> v) : v_(std::move(v)) {}
RsaSplitKey::~RsaSplitKey() = default;

std::unique_ptr<RsaSplitKey> RsaSplitKey::from(const EVP_PKEY* key) {
    if (key == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) return nullptr;
    if (param(key, OSSL_PKEY_PARAM_RSA_FACTOR3)) return nullptr;  // multi-prime: not split
    auto v = std::make_unique<Values>();
    v->n = param(key, OSSL_PKEY_PARAM_RSA_N);
    v->e = param(key, OSSL_PKEY_PARAM_RSA_E);
    v->p = param(key, OSSL_PKEY_PARAM_RSA_FACTOR1);
    v->q = param(key, OSSL_PKEY_PARAM_RSA_FACTOR2);
    v->dp = param(key, OSSL_PKEY_PARAM_RSA_EXPONENT1);
    v->dq = param(key, OSSL_PKEY_PARAM_RSA_EXPONENT2);
    v->qinv = param(key, OSSL_PKEY_PARAM_RSA_COEFFICIENT1);
    if (!v->n || !v->e || !v->p || !v->q || !v->dp || !v->dq || !v->qinv) return nullptr;
    for (BIGNUM* secret : {v->p.get(), v->q.get(), v->dp.get(), v->dq.get()}) BN_set_flags(secret, BN_FLG_CONSTTIME);
    v->k = BN_num_bytes(v->n.get());
    if (v->k < static_cast<int>(sha256_digest_info.size()) + 32 + 11) return nullptr;  // §9.2 step 3
    Ctx ctx(BN_CTX_new());
    v->mont_n.reset(BN_MONT_CTX_new());
    v->mont_p.reset(BN_MONT_CTX_new());
    v->mont_q.reset(BN_MONT_CTX_new());
    v->blind.reset(BN_new());
    v->unblind.reset(BN_new());
    if (!ctx || !v->mont_n || !v->mont_p || !v->mont_q || !v->blind || !v->unblind ||
        BN_MONT_CTX_set(v->mont_n.get(), v->n.get(), ctx.get()) != 1 ||
        BN_MONT_CTX_set(v->mont_p.get(), v->p.get(), ctx.get()) != 1 ||
        BN_MONT_CTX_set(v->mont_q.get(), v->q.get(), ctx.get()) != 1) {
        return nullptr;
    }
    return std::unique_ptr<RsaSplitKey>(new RsaSplitKey(std::move(v)));
}

std::optional<std::vector<std::uint8_t>> RsaSplitKey::sign(std::string_view input, SpareThread* spare) const {
    const Values& v = *v_;
    // Step 1: the encoded message.
    std::vector<std::uint8_t> em(static_cast<std::size_t>(v.k), 0xff);
    em[0] = 0x00;
    em[1] = 0x01;
    const std::size_t t_at = em.size() - sha256_digest_info.size() - 32;
    em[t_at - 1] = 0x00;
    std::copy(sha256_digest_info.begin(), sha256_digest_info.end(), em.begin() + static_cast<std::ptrdiff_t>(t_at));
    unsigned int digest_len = 0;
    if (EVP_Digest(input.data(), input.size(), em.data() + t_at + sha256_digest_info.size(), &digest_len,
                   EVP_sha256(), nullptr) != 1 ||
        digest_len != 32) {
        return std::nullopt;
    }

    Ctx ctx(BN_CTX_new());
    if (!ctx) return std::nullopt;
    BN_CTX* c = ctx.get();
    BN_CTX_start(c);
    struct End {
        BN_CTX* c;
        ~End() { BN_CTX_end(c); }
    } end{c};
    BIGNUM* m = BN_CTX_get(c);
    BIGNUM* a = BN_CTX_get(c);
    BIGNUM* ai = BN_CTX_get(c);
    BIGNUM* blinded = BN_CTX_get(c);
    BIGNUM* m1 = BN_CTX_get(c);
    BIGNUM* m2 = BN_CTX_get(c);
    BIGNUM* h = BN_CTX_get(c);
    BIGNUM* s = BN_CTX_get(c);
    BIGNUM* check = BN_CTX_get(c);
    if (check == nullptr || BN_bin2bn(em.data(), v.k, m) == nullptr) return std::nullopt;

    // Step 2: blind.
    if (!v.take_blinding(a, ai, c) || BN_mod_mul(blinded, m, a, v.n.get(), c) != 1) return std::nullopt;

    // Step 3: the two halves, the one mod q on the spare thread if it takes it.
    QHalf job(v.q.get(), v.dq.get(), v.mont_q.get(), blinded, m2);
    const bool offered = spare != nullptr && spare->offer(job);
    const bool ok1 = exp_half(blinded, v.p.get(), v.dp.get(), v.mont_p.get(), m1, c);
    if (!offered || spare->withdraw(job)) {
        job.run();
    } else {
        spare->wait(job);
    }
    if (!ok1 || !job.ok()) return std::nullopt;

    // Step 4: join the halves and unblind.
    if (BN_mod_sub(h, m1, m2, v.p.get(), c) != 1 || BN_mod_mul(h, h, v.qinv.get(), v.p.get(), c) != 1 ||
        BN_mul(s, h, v.q.get(), c) != 1 || BN_add(s, s, m2) != 1 || BN_mod_mul(s, s, ai, v.n.get(), c) != 1) {
        return std::nullopt;
    }

    // Step 5: the public operation must give the encoded message back.
    if (BN_mod_exp_mont(check, s, v.e.get(), v.n.get(), c, v.mont_n.get()) != 1 || BN_cmp(check, m) != 0)
        return std::nullopt;
    std::vector<std::uint8_t> signature(static_cast<std::size_t>(v.k));
    if (BN_bn2binpad(s, signature.data(), v.k) != v.k) return std::nullopt;
    return signature;
}

}  // namespace signpost::signer
