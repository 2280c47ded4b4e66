// signer/verify.cpp — DKIM verification (see verify.hpp).
#include "signer/verify.hpp"

#include <botan/base64.h>

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <optional>
#include <stdexcept>

#include "signer/canon.hpp"
#include "signer/header.hpp"
#include "signer/key.hpp"
#include "signer/sign.hpp"
#include "signer/tag_list.hpp"

namespace signpost::signer {
namespace {


// 1*DIGIT as an unsigned 64-bit number; nullopt on anything else or overflow.
std::optional<std::uint64_t> parse_number(std::string_view s) {
    if (s.empty() || s.size() > 19) return std::nullopt;
    std::uint64_t n = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return n;
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() &&
           header_name_equals(s.substr(s.size() - suffix.size()), suffix);
}

// What one signature needs hashed: its c= body algorithm and its l= (absent: the whole body).
struct BodyKey {
    Canonicalization canon = Canonicalization::simple;
    std::optional<std::uint64_t> limit;

    bool operator==(const BodyKey&) const = default;
};

// The BodyKey of a signature's tags; nullopt when c= or l= does not parse. Uses the same
// parsers as Verification::run(), which refuses such a signature (unsupported_canonicalization
// or syntax_error) before it asks for a body hash: so every signature that reaches the body
// hash step has a BodyKey, and it is this one.
std::optional<BodyKey> body_key_of(const std::vector<Tag>& tags) {
    BodyKey key;
    if (const auto c = find_tag(tags, "c")) {
        const auto parsed = parse_c_tag(*c);
        if (!parsed) return std::nullopt;
        key.canon = parsed->body;
    }
    if (const auto l = find_tag(tags, "l")) {
        key.limit = parse_number(*l);
        if (!key.limit) return std::nullopt;
    }
    return key;
}

// Body hashes by BodyKey. Two modes: verify() holds the whole body and hashes on demand;
// StreamVerifier streamed the body through its hashers and adds their results up front —
// there is no body then, so a key that was not added is a miss (nullopt), never a hash of
// an empty body.
class BodyHashCache {
public:
    static BodyHashCache of_body(std::string_view body) { return BodyHashCache(body); }
    static BodyHashCache precomputed() { return BodyHashCache(std::nullopt); }

    void add(const BodyKey& key, const BodyHash& hash) {
        if (!find(key)) entries_.emplace_back(key, hash);
    }

    std::optional<BodyHash> get(const BodyKey& key) {
        if (const BodyHash* found = find(key)) return *found;
        if (!body_) return std::nullopt;
        entries_.emplace_back(key, hash_body(*body_, key.canon, key.limit));
        return entries_.back().second;
    }

private:
    explicit BodyHashCache(std::optional<std::string_view> body) : body_(body) {}

    const BodyHash* find(const BodyKey& key) const {
        for (const auto& [k, hash] : entries_) {
            if (k == key) return &hash;
        }
        return nullptr;
    }

    std::optional<std::string_view> body_;  // nullopt: precomputed entries only
    std::vector<std::pair<BodyKey, BodyHash>> entries_;
};

class Verification {
public:
    Verification(const std::vector<HeaderField>& fields, const HeaderField& sig,
                 BodyHashCache& bodies, const KeyLookup& lookup, std::int64_t now,
                 const VerifyOptions& options)
        : fields_(fields),
          sig_(sig),
          bodies_(bodies),
          lookup_(lookup),
          now_(now),
          options_(options) {}

    SignatureResult run();

private:
    SignatureResult& fail(VerifyStatus status, FailReason reason, std::string detail) {
        r_.status = status;
        r_.reason = reason;
        r_.detail = std::move(detail);
        return r_;
    }
    SignatureResult& permerror(FailReason reason, std::string detail) {
        return fail(VerifyStatus::permerror, reason, std::move(detail));
    }

    const std::vector<HeaderField>& fields_;
    const HeaderField& sig_;
    BodyHashCache& bodies_;
    const KeyLookup& lookup_;
    std::int64_t now_;
    const VerifyOptions& options_;
    SignatureResult r_;
};

SignatureResult Verification::run() {
    // --- §6.1.1: the signature's own tags ---------------------------------------------
    auto tags = parse_tag_list(sig_.value);
    if (!tags) {
        return permerror(FailReason::syntax_error,
                         "DKIM-Signature tag list: " + tags.error().message());
    }
    const auto v = find_tag(*tags, "v");
    const auto a = find_tag(*tags, "a");
    const auto b = find_tag(*tags, "b");
    const auto bh = find_tag(*tags, "bh");
    const auto d = find_tag(*tags, "d");
    const auto h = find_tag(*tags, "h");
    const auto s = find_tag(*tags, "s");
    if (d) r_.d = *d;
    if (s) r_.s = *s;
    if (a) r_.a = *a;
    for (auto [tag, present] : {std::pair{"v", v.has_value()},
                                {"a", a.has_value()},
                                {"b", b.has_value()},
                                {"bh", bh.has_value()},
                                {"d", d.has_value()},
                                {"h", h.has_value()},
                                {"s", s.has_value()}}) {
        if (!present) {
            return permerror(FailReason::syntax_error,
                             std::string("required tag ") + tag + "= is missing");
        }
    }
    if (*v != "1") return permerror(FailReason::unsupported_version, "v= is not 1");
    const auto alg = parse_algorithm(*a);
    if (!alg) {
        return permerror(FailReason::unsupported_algorithm,
                         header_name_equals(*a, "rsa-sha1")
                             ? "rsa-sha1 is not accepted (RFC 8301)"
                             : "a= is not rsa-sha256 or ed25519-sha256");
    }
    CanonPair canon;
    if (const auto c = find_tag(*tags, "c")) {
        const auto parsed = parse_c_tag(*c);
        if (!parsed) {
            return permerror(FailReason::unsupported_canonicalization,
                             "c= names an unknown canonicalization");
        }
        canon = *parsed;
    }
    if (const auto q = find_tag(*tags, "q")) {
        bool dns_txt = false;
        std::size_t pos = 0;
        while (true) {
            const auto colon = q->find(':', pos);
            const auto method = trim_fws(q->substr(pos, colon == q->npos ? q->npos : colon - pos));
            dns_txt = dns_txt || header_name_equals(method, "dns/txt");
            if (colon == std::string_view::npos) break;
            pos = colon + 1;
        }
        if (!dns_txt) {
            return permerror(FailReason::unsupported_query_method, "q= lacks dns/txt");
        }
    }
    if (!is_valid_domain(*d, true)) return permerror(FailReason::syntax_error, "d= is invalid");
    if (!is_valid_selector(*s, true)) {
        return permerror(FailReason::syntax_error, "s= is invalid");
    }

    std::string_view i_domain = *d;
    if (const auto i = find_tag(*tags, "i")) {
        r_.i = *i;
        const auto at = i->rfind('@');
        if (at == std::string_view::npos) return permerror(FailReason::syntax_error, "i= lacks @");
        i_domain = i->substr(at + 1);
        const bool inside =
            header_name_equals(i_domain, *d) || ends_with_ci(i_domain, "." + std::string(*d));
        if (!inside) {
            return permerror(FailReason::domain_mismatch, "i= is not within d=");
        }
    } else {
        r_.i = "@" + std::string(*d);
    }

    const auto h_names = split_h_tag(*h);
    if (!h_names) return permerror(FailReason::syntax_error, "h= is malformed");
    const bool signs_from = std::any_of(h_names->begin(), h_names->end(),
                                        [](auto n) { return header_name_equals(n, "from"); });
    if (!signs_from) return permerror(FailReason::from_not_signed, "h= does not include From");

    std::optional<std::uint64_t> l;
    if (const auto lv = find_tag(*tags, "l")) {
        l = parse_number(*lv);
        if (!l) return permerror(FailReason::syntax_error, "l= is not a number");
    }
    std::optional<std::uint64_t> t;
    if (const auto tv = find_tag(*tags, "t")) {
        t = parse_number(*tv);
        if (!t) return permerror(FailReason::syntax_error, "t= is not a number");
    }
    std::optional<std::uint64_t> x;
    if (const auto xv = find_tag(*tags, "x")) {
        x = parse_number(*xv);
        if (!x) return permerror(FailReason::syntax_error, "x= is not a number");
        if (t && *x < *t) return permerror(FailReason::syntax_error, "x= is before t=");
    }
    const auto now = static_cast<std::uint64_t>(std::max<std::int64_t>(now_, 0));
    if (x && now > *x) return permerror(FailReason::expired, "signature expired (x=)");
    if (t && *t > now + static_cast<std::uint64_t>(
                            std::max<std::int64_t>(options_.clock_skew.count(), 0))) {
        return permerror(FailReason::future_timestamp, "t= is in the future");
    }

    const auto body_hash = decode_base64(*bh);
    if (!body_hash) return permerror(FailReason::syntax_error, "bh= is not base64");
    const auto signature = decode_base64(*b);
    if (!signature) return permerror(FailReason::syntax_error, "b= is not base64");

    // --- §6.1.2: the key ------------------------------------------------------------------
    const LookupResult found = lookup_(*s, *d);
    if (found.status == LookupResult::Status::temp_error) {
        return fail(VerifyStatus::temperror, FailReason::key_temp_error,
                    "key lookup failed temporarily");
    }
    if (found.status == LookupResult::Status::not_found) {
        return permerror(FailReason::key_not_found, "no key record");
    }
    auto record = parse_key_record(found.record);
    if (!record) {
        const auto e = record.error();
        const bool unsuitable = e == Errc::key_record_hash_unsupported ||
                                e == Errc::key_record_service_unsupported ||
                                e == Errc::key_record_type_unsupported;
        return permerror(unsuitable ? FailReason::key_unsuitable : FailReason::key_syntax,
                         "key record: " + e.message());
    }
    r_.testing = record->testing;
    if (record->revoked()) return permerror(FailReason::key_revoked, "key revoked (empty p=)");
    if (algorithm_for(record->type) != *alg) {
        return permerror(FailReason::key_type_mismatch, "key record k= does not match a=");
    }
    if (record->strict && !header_name_equals(i_domain, *d)) {
        return permerror(FailReason::strict_domain_mismatch,
                         "key has t=s and the i= domain is not d=");
    }
    auto key = load_public_key(*record);
    if (!key) return permerror(FailReason::key_syntax, "key record p= is not a usable key");
    r_.key_bits = key->bits();
    if (key->type() == KeyType::rsa && key->bits() < min_rsa_verify_bits) {
        return permerror(FailReason::key_too_small, "RSA key under 1024 bits (RFC 8301)");
    }
    if (key->type() == KeyType::rsa && key->bits() > max_rsa_verify_bits) {
        return permerror(FailReason::key_too_large, "RSA key over 8192 bits");
    }

    // --- §6.1.3: body hash, then signature -------------------------------------------------
    const auto found_hash = bodies_.get(BodyKey{canon.body, l});
    if (!found_hash) {
        // Cannot happen: StreamVerifier hashes the body for the BodyKey of every checked
        // signature whose c= and l= parse (body_key_of), and those that do not were refused
        // above. Should it happen, say so rather than compare against some other hash.
        assert(!"StreamVerifier did not hash the body for this signature's c= and l=");
        return fail(VerifyStatus::temperror, FailReason::body_hash_mismatch,
                    "internal error: the body was not hashed for this c= and l=");
    }
    const BodyHash& computed = *found_hash;
    if (l && *l > computed.canonical_length) {
        return fail(VerifyStatus::fail, FailReason::body_length_exceeded,
                    "l= is larger than the body");
    }
    if (body_hash->size() != computed.sha256.size() ||
        !std::equal(computed.sha256.begin(), computed.sha256.end(), body_hash->begin())) {
        return fail(VerifyStatus::fail, FailReason::body_hash_mismatch, "body hash mismatch");
    }
    const std::string input = signing_input(fields_, *h_names, sig_, canon.header);
    if (!dkim_verify(*key, input, *signature)) {
        return fail(VerifyStatus::fail, FailReason::signature_mismatch,
                    "signature does not verify");
    }
    r_.status = VerifyStatus::pass;
    r_.reason = FailReason::none;
    r_.detail.clear();
    return r_;
}

}  // namespace

std::string_view to_string(VerifyStatus s) noexcept {
    switch (s) {
    case VerifyStatus::pass: return "pass";
    case VerifyStatus::fail: return "fail";
    case VerifyStatus::temperror: return "temperror";
    case VerifyStatus::permerror: return "permerror";
    }
    return "permerror";
}

std::string_view to_string(FailReason r) noexcept {
    switch (r) {
    case FailReason::none: return "none";
    case FailReason::syntax_error: return "syntax_error";
    case FailReason::unsupported_version: return "unsupported_version";
    case FailReason::unsupported_algorithm: return "unsupported_algorithm";
    case FailReason::unsupported_canonicalization: return "unsupported_canonicalization";
    case FailReason::unsupported_query_method: return "unsupported_query_method";
    case FailReason::domain_mismatch: return "domain_mismatch";
    case FailReason::from_not_signed: return "from_not_signed";
    case FailReason::expired: return "expired";
    case FailReason::future_timestamp: return "future_timestamp";
    case FailReason::key_not_found: return "key_not_found";
    case FailReason::key_temp_error: return "key_temp_error";
    case FailReason::key_syntax: return "key_syntax";
    case FailReason::key_revoked: return "key_revoked";
    case FailReason::key_type_mismatch: return "key_type_mismatch";
    case FailReason::key_unsuitable: return "key_unsuitable";
    case FailReason::key_too_small: return "key_too_small";
    case FailReason::key_too_large: return "key_too_large";
    case FailReason::strict_domain_mismatch: return "strict_domain_mismatch";
    case FailReason::body_length_exceeded: return "body_length_exceeded";
    case FailReason::body_hash_mismatch: return "body_hash_mismatch";
    case FailReason::signature_mismatch: return "signature_mismatch";
    case FailReason::too_many_signatures: return "too_many_signatures";
    }
    return "unknown";
}

namespace {

bool is_signature_field(const HeaderField& f) {
    return header_name_equals(f.name, "DKIM-Signature");
}

SignatureResult not_checked(const HeaderField& f) {
    SignatureResult r;
    r.status = VerifyStatus::permerror;
    r.reason = FailReason::too_many_signatures;
    r.detail = "more signatures than max_signatures; not checked";
    if (auto tags = parse_tag_list(f.value)) {
        r.d = std::string(find_tag(*tags, "d").value_or(""));
        r.s = std::string(find_tag(*tags, "s").value_or(""));
        r.a = std::string(find_tag(*tags, "a").value_or(""));
    }
    return r;
}

// The per-message loop shared by verify() and StreamVerifier::finish(): the first
// max_signatures DKIM-Signature fields are checked, top to bottom; the rest are reported.
std::vector<SignatureResult> verify_fields(const std::vector<HeaderField>& fields,
                                           BodyHashCache& bodies, const KeyLookup& lookup,
                                           std::chrono::system_clock::time_point now,
                                           const VerifyOptions& options) {
    const auto now_s =
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    std::vector<SignatureResult> results;
    for (const HeaderField& f : fields) {
        if (!is_signature_field(f)) continue;
        if (results.size() >= options.max_signatures) {
            results.push_back(not_checked(f));
            continue;
        }
        results.push_back(Verification(fields, f, bodies, lookup, now_s, options).run());
    }
    return results;
}

// The fields verify_fields() checks (not the ones it only reports), in order.
std::vector<const HeaderField*> checked_signatures(const std::vector<HeaderField>& fields,
                                                   const VerifyOptions& options) {
    std::vector<const HeaderField*> out;
    for (const HeaderField& f : fields) {
        if (out.size() >= options.max_signatures) break;
        if (is_signature_field(f)) out.push_back(&f);
    }
    return out;
}

}  // namespace

Result<std::vector<SignatureResult>> verify(std::string_view message, const KeyLookup& lookup,
                                            std::chrono::system_clock::time_point now,
                                            const VerifyOptions& options) {
    const MessageParts parts = split_message(message);
    auto fields = parse_header_block(parts.header);
    if (!fields) return fields.error();
    BodyHashCache bodies = BodyHashCache::of_body(parts.body);
    return verify_fields(*fields, bodies, lookup, now, options);
}

// --- StreamVerifier ----------------------------------------------------------------------

struct StreamVerifier::Impl {
    struct Hasher {
        explicit Hasher(const BodyKey& k) : key(k), hasher(k.canon, k.limit) {}
        BodyKey key;
        BodyHasher hasher;
    };

    // Owned here, on the heap: `fields` point into it, and moving the StreamVerifier moves
    // only the pointer to this Impl.
    std::string header;
    VerifyOptions options;
    boost::system::error_code parse_error;  // set: the header section does not parse
    std::vector<HeaderField> fields;
    std::vector<std::unique_ptr<Hasher>> hashers;  // one per distinct BodyKey
    std::vector<std::pair<std::string, std::string>> keys;  // keys_needed()
    bool finished = false;
};

StreamVerifier::StreamVerifier(std::string header_section, VerifyOptions options)
    : impl_(std::make_unique<Impl>()) {
    Impl& m = *impl_;
    m.header = std::move(header_section);
    m.options = options;
    auto fields = parse_header_block(m.header);
    if (!fields) {
        m.parse_error = fields.error();
        return;
    }
    m.fields = std::move(*fields);
    for (const HeaderField* f : checked_signatures(m.fields, m.options)) {
        const auto tags = parse_tag_list(f->value);
        if (!tags) continue;  // refused as syntax_error before any lookup or body hash
        if (const auto key = body_key_of(*tags)) {
            const bool have = std::any_of(m.hashers.begin(), m.hashers.end(),
                                          [&](const auto& h) { return h->key == *key; });
            if (!have) m.hashers.push_back(std::make_unique<Impl::Hasher>(*key));
        }
        const auto d = find_tag(*tags, "d");
        const auto s = find_tag(*tags, "s");
        // Verification refuses a missing or invalid d= or s= before the lookup.
        if (!d || !s || !is_valid_domain(*d, true) || !is_valid_selector(*s, true)) continue;
        std::pair<std::string, std::string> pair{std::string(*s), std::string(*d)};
        if (std::find(m.keys.begin(), m.keys.end(), pair) == m.keys.end()) {
            m.keys.push_back(std::move(pair));
        }
    }
}

StreamVerifier::~StreamVerifier() = default;
StreamVerifier::StreamVerifier(StreamVerifier&&) noexcept = default;
StreamVerifier& StreamVerifier::operator=(StreamVerifier&&) noexcept = default;

void StreamVerifier::body(std::string_view chunk) {
    if (!impl_) throw std::logic_error("signer::StreamVerifier::body on a moved-from object");
    if (impl_->finished) throw std::logic_error("signer::StreamVerifier::body after finish");
    for (auto& h : impl_->hashers) h->hasher.update(chunk);
}

std::vector<std::pair<std::string, std::string>> StreamVerifier::keys_needed() const {
    if (!impl_) {
        throw std::logic_error("signer::StreamVerifier::keys_needed on a moved-from object");
    }
    return impl_->keys;
}

Result<std::vector<SignatureResult>> StreamVerifier::finish(
    const KeyLookup& lookup, std::chrono::system_clock::time_point now) {
    if (!impl_) throw std::logic_error("signer::StreamVerifier::finish on a moved-from object");
    Impl& m = *impl_;
    if (m.finished) throw std::logic_error("signer::StreamVerifier::finish called twice");
    m.finished = true;
    if (m.parse_error) return m.parse_error;
    BodyHashCache bodies = BodyHashCache::precomputed();
    for (auto& h : m.hashers) bodies.add(h->key, h->hasher.finish());
    m.hashers.clear();
    return verify_fields(m.fields, bodies, lookup, now, m.options);
}

}  // namespace signpost::signer
