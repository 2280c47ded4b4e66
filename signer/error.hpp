// signer/error.hpp — the signer module's error values (signpost::signer::Errc).
//
// What it does: names every way a signer API call can refuse its input, as an enum class
// registered as a boost::system error category ("signpost.signer"), so callers get
// `boost::system::result<T>` values, never exceptions. Verification outcomes (a signature
// that does not verify) are NOT errors of the API: they are reported per signature by
// verify() with their own reason enum (see signer/verify.hpp).
//
// Exceptions: no function of this module throws, except std::bad_alloc (and whatever a
// caller-supplied KeyLookup throws, which verify() lets through). Botan's exceptions are
// caught where Botan is called and become values of this enum.
//
// Untrusted input: none here. Threading: everything is reentrant; the category is a
// function-local static, safe to use from any thread.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <type_traits>

namespace signpost::signer {

template <class T>
using Result = boost::system::result<T>;

enum class Errc {
    // --- message header parsing (signer/header.hpp) -------------------------------------
    header_no_colon = 1,          // a header line is neither "name: value" nor a continuation
    header_nul,                   // the header section contains a NUL octet
    header_bad_name,              // a field name is empty or has octets outside RFC 5322 ftext
                                  // (8-bit, controls, SP) before the colon
    header_line_too_long,         // a header line is longer than 998 octets (RFC 5322 §2.1.1)
    header_bare_line_ending,      // a lone CR or LF in the header section (only CRLF ends a line)
    header_leading_continuation,  // the header section starts with a folded (WSP) line
    header_unterminated,          // the header section does not end with CRLF
    header_missing_from,          // signing a message without a From field (RFC 6376 §5.4)

    // --- signing parameters (signer/sign.hpp) --------------------------------------------
    bad_domain,                // d= is not a syntactically valid ASCII domain name
    bad_selector,              // s= is not a syntactically valid selector (dot-atoms of LDH)
    bad_header_selection,      // a name in SignParams::headers is not a valid field name,
                               // or the selection does not include "from"
    bad_expiry,                // expire_after is zero or negative
    bad_time,                  // `now` is before 1970-01-01
    no_keys,                   // sign() was given an empty key list
    body_hash_missing,         // no BodyHash for the body canonicalization in SignParams
    signature_header_invalid,  // sign_signature_header(): the given DKIM-Signature text is
                               // not one parseable DKIM-Signature field with h= and a=

    // --- keys (signer/key.hpp) -----------------------------------------------------------
    pem_corrupt,           // not PEM, bad base64 inside, or DER that does not decode
    key_encrypted,         // an encrypted PKCS#8 key; decrypt it before loading
    key_type_unsupported,  // a key that is neither RSA nor Ed25519 (EC, DSA, ...)
    key_too_small,         // RSA key under 1024 bits (load) or under 2048 bits (sign)
    key_too_large,         // RSA key over 4096 bits
    bad_ed25519_seed,      // the Ed25519 seed is not base64 of exactly 32 octets
    algorithm_mismatch,    // a= names an algorithm other than the key's type
    crypto_failure,        // Botan refused an operation (unexpected; message has detail)

    // --- tag lists (signer/tag_list.hpp), RFC 6376 §3.2 ----------------------------------
    tag_list_syntax,  // a tag-spec that does not follow the tag-list grammar
    tag_duplicate,    // the same tag name appears twice in one tag list

    // --- key records (signer/key.hpp parse_key_record), RFC 6376 §3.6.1 -------------------
    key_record_syntax,               // not a tag list, or v= present but not first
    key_record_version,              // v= is present and is not "DKIM1"
    key_record_no_key,               // no p= tag
    key_record_bad_key,              // p= is not base64, or does not hold a key of type k=
    key_record_type_unsupported,     // k= is neither "rsa" nor "ed25519"
    key_record_hash_unsupported,     // h= is present and does not list "sha256"
    key_record_service_unsupported,  // s= is present and lists neither "email" nor "*"
};

const boost::system::error_category& error_category() noexcept;

boost::system::error_code make_error_code(Errc e) noexcept;

}  // namespace signpost::signer

template <>
struct boost::system::is_error_code_enum<signpost::signer::Errc> : std::true_type {};
