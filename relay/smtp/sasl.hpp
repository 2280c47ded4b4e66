// relay/smtp/sasl.hpp — the SASL pieces of SMTP AUTH (RFC 4954) with no state: strict
// base64 (RFC 4648 §4) and the PLAIN message (RFC 4616 §2). The exchange itself (334
// challenges, LOGIN's two prompts, "*" to cancel) is ServerProtocol's.
//
// Deliberate choices: base64 must be canonical in shape (length a multiple of 4, "=" only
// as final padding, no whitespace); PLAIN identities and the password are at most 255
// octets each (RFC 4616 §2); the authzid must be empty or equal to the authcid (Signpost
// does not let one user act as another).
//
// Untrusted input: the client's response lines, which carry passwords: nothing here logs,
// and callers wipe decoded buffers with secure_clear() when done.
//
// Threading: pure functions, reentrant.
#pragma once

#include <string>
#include <string_view>

#include "relay/smtp/error.hpp"

namespace signpost::smtp {

inline constexpr std::size_t max_sasl_field = 255;  // RFC 4616 §2, per field

// Strict base64 decode. "" decodes to "". Errors: base64_invalid.
Result<std::string> decode_base64(std::string_view in);

// Base64 encode (for the 334 prompts and tests).
std::string encode_base64(std::string_view in);

struct PlainCredentials {
    std::string user;      // authcid
    std::string password;  // passwd
};

// Splits a decoded PLAIN message "authzid NUL authcid NUL passwd".
// Errors: sasl_plain_malformed, sasl_authzid_mismatch.
Result<PlainCredentials> parse_plain(std::string_view message);

// Overwrites the string's octets before clearing it, so a password does not linger in
// freed memory.
void secure_clear(std::string& s) noexcept;

}  // namespace signpost::smtp
