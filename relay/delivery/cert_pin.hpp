// relay/delivery/cert_pin.hpp — certificate pinning by SHA-256 fingerprint, for next hops
// whose certificate is known in advance instead of vouched for by a CA (an [[inbound]]
// domain's home server, which typically has a self-signed certificate:
// `deliver_fingerprint`).
//
// What it does: normalizes a configured pin to one spelling (64 lower-case hex digits) and
// computes the same fingerprint of a certificate's DER encoding, so the session compares
// two strings (smtp_session.hpp, SessionOptions::pinned_sha256). The fingerprint is the one
// `openssl x509 -noout -fingerprint -sha256` prints (over the whole certificate, not the
// public key: a renewed certificate needs a new pin, which is what an operator who copied
// the fingerprint expects).
//
// Deliberately not done: SPKI pins (RFC 7469 style), several pins at once.
//
// Untrusted input: the DER bytes come from the remote server (only hashed here).
// Threading: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace signpost::delivery {

// A pin as 64 lower-case hex digits. Accepts 64 hex digits in either case, optionally in
// pairs separated by ':' (as openssl prints them), or the 32 raw digest octets. nullopt for
// anything else (an empty text included).
std::optional<std::string> normalize_sha256_pin(std::string_view text);

// SHA-256 of `der`, as 64 lower-case hex digits ("" if hashing fails, which matches no pin).
std::string sha256_hex(std::string_view der);

}  // namespace signpost::delivery
