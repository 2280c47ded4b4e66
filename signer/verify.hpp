// signer/verify.hpp — DKIM verification (RFC 6376 §6, RFC 8463, RFC 8301).
//
// What it does: verify() checks every DKIM-Signature field of a message, top to bottom, and
// returns one SignatureResult per field: pass, or why not (a FailReason and a text). The
// key record is fetched through a caller-supplied KeyLookup, so this module does no DNS:
// the relay passes its resolver, tests pass a map. The time is a parameter.
//
// Checks, in RFC 6376 §6.1 order:
//  §6.1.1 the tag list (§3.2: syntax, duplicate tags); v=1; required tags v a b bh d h s;
//         a= rsa-sha256 or ed25519-sha256 (rsa-sha1 is rejected as unsupported_algorithm:
//         RFC 8301 forbids it); c= simple|relaxed; q= must include dns/txt; d= and s=
//         syntax; i= (if given) in d= or a subdomain of it; h= includes From; l= digits;
//         x= not before t=; x= not past `now` (expired); t= not beyond `now` + clock_skew
//         (future_timestamp).
//  §6.1.2 the key: lookup(s, d) -> found / not found (permerror) / temporary failure
//         (temperror); record syntax (§3.6.1, see parse_key_record); empty p= = revoked;
//         k= must match a=; t=s requires the i= domain to equal d= exactly; RSA keys of
//         1024..8192 bits (RFC 8301: under 1024 fails, 1024..2047 verifies).
//  §6.1.3 the body hash (with l= if present: only that many canonical octets; an l= larger
//         than the body fails), then the signature over the §3.7 signing input.
// t=y (testing) keys verify normally; the flag is reported so the caller can treat a
// failure as neutral.
//
// Not done: no DNS, no ADMD/DMARC policy, no Authentication-Results rendering (the result
// carries what that needs). At most VerifyOptions::max_signatures signatures are checked
// (each costs a lookup and a hash); the rest are reported permerror too_many_signatures
// without a lookup.
//
// Untrusted input: the whole message and the key records (attacker-controlled). Bounded by
// the header parser's limits, max_tags per tag list and max_signatures.
//
// Streaming (StreamVerifier): the same verification for a message whose body arrives in
// chunks (the MX listener, which writes the body to the spool and never holds it whole).
// The header section comes first; the body is hashed as it streams, once per distinct
// (body canonicalization, l=) pair among the checked signatures, and never kept; finish()
// then runs exactly the per-signature checks of verify() against the finished hashes. Memory
// is the header section plus a constant per hasher (at most max_signatures hashers).
// Unlike verify(), which hashes the body only for signatures that get as far as §6.1.3,
// every checked signature whose c= and l= parse costs a pass over the body (shared with
// the others that ask for the same pair).
//
// Threading: verify() is reentrant if `lookup` is; it calls lookup on the calling thread.
// A StreamVerifier is used by one thread at a time; finish() calls lookup on its thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "signer/error.hpp"

namespace signpost::signer {

struct LookupResult {
    enum class Status {
        found,       // `record` holds the TXT record text (its strings joined)
        not_found,   // NXDOMAIN / no TXT record: permanent
        temp_error,  // timeout, SERVFAIL: try again later
    };
    Status status = Status::not_found;
    std::string record;

    static LookupResult found(std::string txt) { return {Status::found, std::move(txt)}; }
    static LookupResult not_found() { return {Status::not_found, {}}; }
    static LookupResult temp_error() { return {Status::temp_error, {}}; }
};

// Looks up the TXT record at "<selector>._domainkey.<domain>".
using KeyLookup = std::function<LookupResult(std::string_view selector, std::string_view domain)>;

// RFC 8601 §2.7.1 result names.
enum class VerifyStatus { pass, fail, temperror, permerror };

enum class FailReason {
    none,                          // pass
    syntax_error,                  // DKIM-Signature tag list malformed or a required tag missing
    unsupported_version,           // v= is not 1
    unsupported_algorithm,         // a= is not rsa-sha256 / ed25519-sha256 (rsa-sha1 included)
    unsupported_canonicalization,  // c= names an unknown algorithm
    unsupported_query_method,      // q= does not include dns/txt
    domain_mismatch,               // i= is not d= or a subdomain of it
    from_not_signed,               // h= does not include From
    expired,                       // x= is before `now`
    future_timestamp,              // t= is after `now` + clock_skew
    key_not_found,                 // lookup said the record does not exist
    key_temp_error,                // lookup failed temporarily (the only temperror, but for
                                   // an internal error that cannot happen; see verify.cpp)
    key_syntax,                    // the key record does not parse or p= does not decode
    key_revoked,                   // p= is empty
    key_type_mismatch,             // k= does not match a=
    key_unsuitable,                // key record h= excludes sha256 or s= excludes email
    key_too_small,                 // RSA key under 1024 bits
    key_too_large,                 // RSA key over 8192 bits
    strict_domain_mismatch,        // key t=s and the i= domain is not exactly d=
    body_length_exceeded,          // l= is larger than the canonical body
    body_hash_mismatch,            // computed body hash differs from bh=
    signature_mismatch,            // the signature does not verify over the signed headers
    too_many_signatures,           // beyond VerifyOptions::max_signatures; not checked
};

std::string_view to_string(VerifyStatus s) noexcept;  // "pass", "fail", ...
std::string_view to_string(FailReason r) noexcept;    // "body_hash_mismatch", ...

struct SignatureResult {
    VerifyStatus status = VerifyStatus::permerror;
    FailReason reason = FailReason::syntax_error;
    std::string detail;        // our own words; never text from the message or DNS beyond tags
    std::string d;             // d= as written ("" if absent)
    std::string s;             // s= as written
    std::string a;             // a= as written
    std::string i;             // i= (or "@" + d= when absent)
    std::size_t key_bits = 0;  // size of the key used, when one was loaded
    bool testing = false;      // the key record has t=y

    bool passed() const noexcept { return status == VerifyStatus::pass; }
};

struct VerifyOptions {
    std::chrono::seconds clock_skew{300};  // tolerance for t= in the future
    std::size_t max_signatures = 8;        // signatures checked per message
};

// Verifies all DKIM-Signature fields of `message` (header section, empty line, body; CRLF
// line ends). An empty vector means the message has no DKIM-Signature. Errors: only when
// the header section itself cannot be parsed (signer/header.hpp errors).
Result<std::vector<SignatureResult>> verify(std::string_view message, const KeyLookup& lookup,
                                            std::chrono::system_clock::time_point now,
                                            const VerifyOptions& options = {});

// Verification of a message that arrives in pieces: the header section first (as received,
// CRLF line ends, with its final CRLF but without the empty line), then the body in chunks of
// any size, then finish(). The body is hashed once per (body canonicalization, l=) pair that
// the signatures ask for and never kept. Same checks and results as verify(), in the same
// order, for the same message: with `header_section` and the concatenated chunks being
// split_message(message).header and .body, finish() returns what verify(message, ...) does.
//
// Misuse (body() or finish() after finish(), any call on a moved-from object) is a bug in
// the caller and throws std::logic_error. A header section that does not parse is not
// misuse: body() then hashes nothing and finish() returns the parse error.
class StreamVerifier {
public:
    explicit StreamVerifier(std::string header_section, VerifyOptions options = {});
    ~StreamVerifier();
    StreamVerifier(StreamVerifier&&) noexcept;
    StreamVerifier& operator=(StreamVerifier&&) noexcept;
    StreamVerifier(const StreamVerifier&) = delete;
    StreamVerifier& operator=(const StreamVerifier&) = delete;

    void body(std::string_view chunk);
    // The (selector, domain) pairs finish() will ask the lookup for, in signature order,
    // without duplicates (at most max_signatures signatures), so that a caller with
    // asynchronous DNS can fetch them all first and answer the lookup from a map.
    // Exactly: s= and d= as written (compared octet for octet) of each checked signature
    // whose tag list parses and whose d= and s= are present and syntactically valid. A
    // superset: a signature refused by a later §6.1.1 check is listed but never looked up.
    // Empty when the header section does not parse.
    std::vector<std::pair<std::string, std::string>> keys_needed() const;
    // Call once. Errors: only when the header section cannot be parsed, like verify().
    Result<std::vector<SignatureResult>> finish(const KeyLookup& lookup,
                                                std::chrono::system_clock::time_point now);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace signpost::signer
