// relay/dane/dane.hpp — DANE for SMTP (RFC 7672, with RFC 6698 and RFC 7671): which TLSA
// records are usable, and whether a server's certificate chain matches them.
//
// Pure: DER certificates and TLSA records in, a verdict out; the time is a parameter. No
// sockets, files, clocks or DNS. OpenSSL's libcrypto parses certificates, hashes and checks
// chains in memory.
//
// Usable records (RFC 7672 §3.1, RFC 7671 §5):
//   - usage DANE-TA(2) or DANE-EE(3). PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP
//     (RFC 7672 §3.1.3): an MX host has no agreed set of public CAs;
//   - selector Cert(0) or SPKI(1); matching type Full(0), SHA2-256(1) or SHA2-512(2);
//   - a digest of the right length for its matching type (32 or 64 octets), a non-empty
//     Full value.
// Digest agility (RFC 7671 §9): for each usage and selector, of the records with a digest
// matching type only those of the strongest digest present are used (SHA2-512 before
// SHA2-256), so a weak digest left in the RRset cannot be the one that matches. Full(0)
// records are not digests and are always kept.
// A TLSA RRset with records but none usable means "TLS required, certificate not checked"
// (RFC 7672 §2.2); the caller decides that, this file only sorts the records.
//
// Matching (verify()):
//   - DANE-EE(3): the leaf certificate (or its public key) matches the record. Names,
//     expiry and the rest of the chain are ignored (RFC 7672 §3.1.1).
//   - DANE-TA(2): a certificate of the presented chain (or, for "2 0 0", the record's own
//     certificate) matches the record and is the trust anchor: the leaf must chain to it
//     by signature, every certificate be within its validity period at `now`, and the leaf
//     name one of the reference identifiers (RFC 7672 §3.2.3: the TLSA base domain and the
//     MX host name; a wildcard only as a whole left-most label). OpenSSL's chain
//     verification does this with the anchor as the only trusted certificate
//     (X509_V_FLAG_PARTIAL_CHAIN, as OpenSSL's own DANE code does).
//   - DANE-EE records are tried first, then DANE-TA; the first match wins.
// What is deliberately not done: a DANE-TA "2 1 x" anchor that the server does not send
// (only its public key is published): RFC 7671 §5.2.2 asks servers to include the anchor
// in their chain, and Postfix too fails such a server. PKIX usages are never matched.
//
// Untrusted input: the certificates (any bytes) and the TLSA records (any field values).
// Threading: pure functions, safe on any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "relay/dns/resolver.hpp"

namespace signpost::dane {

// RFC 6698 §2.1 field values, with RFC 7218's mnemonics.
enum class Usage : std::uint8_t { pkix_ta = 0, pkix_ee = 1, dane_ta = 2, dane_ee = 3 };
enum class Selector : std::uint8_t { cert = 0, spki = 1 };
enum class Matching : std::uint8_t { full = 0, sha256 = 1, sha512 = 2 };

// Why a record cannot be used; `usable` when it can.
enum class Usability {
    usable,
    pkix_usage,        // 0 or 1: unusable for SMTP (RFC 7672 §3.1.3)
    unknown_usage,     // 4..255
    unknown_selector,  // 2..255
    unknown_matching,  // 3..255
    bad_length,        // a digest of the wrong length, or an empty Full value
};
Usability usability(const dns::TlsaRecord& r);
const char* to_string(Usability u);  // "usable", "PKIX usage (unusable for SMTP)", ...

// The usable records of an RRset, in their order, after digest agility (above).
std::vector<dns::TlsaRecord> usable_records(const std::vector<dns::TlsaRecord>& all);

// Presentation form for logs and `signpost explain`: "3 1 1 <hex>"; data longer than 64
// octets is shortened to its first 32 in hex and "... (N octets)".
std::string to_text(const dns::TlsaRecord& r);

// The whole record in presentation form, "3 1 1 <all the data in hex>" (TLS reports).
std::string to_presentation(const dns::TlsaRecord& r);

// Why a chain did not match. Closed set, usable as a metric label (to_string).
enum class Failure {
    none,
    no_certificate,   // the server sent no certificate, or the leaf does not parse
    no_match,         // no usable record matches any presented certificate
    name_mismatch,    // DANE-TA matched, but the leaf is not for any reference identifier
    expired,          // DANE-TA matched, but a certificate is expired or not yet valid
    chain_invalid,    // DANE-TA matched, but the leaf does not chain to the anchor
};
const char* to_string(Failure f);  // "none", "no-certificate", "no-match", ...

struct Verdict {
    Failure failure = Failure::no_match;
    std::optional<std::size_t> matched;  // index in `records` of the record that matched
    int depth = -1;                      // chain position of the matching certificate (0 = leaf)
    std::string detail;                  // one line for logs: what matched, or why not

    bool ok() const { return failure == Failure::none; }
};

// `chain` is the server's certificates in DER, leaf first, as sent. `records` are usable
// records (usable_records()); others are skipped. `names` are the reference identifiers for
// DANE-TA (lower case, no trailing dot), the first being the TLSA base domain.
Verdict verify(const std::vector<std::string>& chain, const std::vector<dns::TlsaRecord>& records,
               const std::vector<std::string>& names, std::time_t now);

// Whether `record` matches the certificate `der` (selector and matching type applied);
// false for a certificate that does not parse.
bool matches(const dns::TlsaRecord& record, const std::string& der);

}  // namespace signpost::dane
