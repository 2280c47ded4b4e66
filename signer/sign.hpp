// signer/sign.hpp — making DKIM-Signature header fields (RFC 6376 §5, RFC 8463).
//
// What it does: given a message's header section, the finished body hash(es) and one or
// more keys, returns one complete "DKIM-Signature: ...\r\n" field per key, to prepend to
// the message. Pure: the time is a parameter, no clock, file, socket or DNS is touched, so
// output is byte-for-byte reproducible.
//
// The relay's flow (body streamed once, DESIGN.md "Data flow"):
//     BodyHasher hasher(params.body_canon);          // at DATA start
//     hasher.update(chunk);  ...                     // each chunk, as it goes to the spool
//     auto bh = hasher.finish();                     // at end of DATA
//     auto fields = sign(header_block, {&bh, 1}, keys, params, now);
// sign_message() does the same for a whole message held in memory.
//
// What sign() writes, in this order (RFC 6376 §3.5): v=1; a=; c=; d=; s=; t=; [x=;] h=;
// bh=; b=. Not written: i= (defaults to "@d"), q= (defaults to dns/txt), l= (never: a body
// length limit lets anyone append content), z=. Lines are folded at 78 octets with
// CRLF+TAB: tags move whole to a new line; h= breaks after a colon; bh= and b= values break
// anywhere (§3.5 allows FWS inside base64). b= always starts a new line. The one exception
// to the 78-octet rule is a d= value too long to fit on a line by itself (still < 998).
// The signature is computed over the field exactly as emitted, folding included, with the
// b= value empty (§3.7); with relaxed header canonicalization the field is canonicalized
// and its trailing CRLF dropped.
//
// Header selection (h=, §5.4): default_signed_headers() unless SignParams::headers is set;
// names match case-insensitively and are written lowercase. A name present N times is
// listed N times (the verifier takes instances bottom-up, §5.4.2). Oversigning, DECISION:
// every name of oversigned_headers() that is in the selection is listed once more than it
// occurs — also when it occurs 0 times. The extra entry matches no field, hashes as
// nothing (§3.5/§5.4.2), and makes a field added later (a second From or Subject above the
// signed one, a Reply-To or Cc where there was none) break the signature. Sender and
// List-* are never oversigned: mailing lists legitimately add them. Absent names outside
// the oversign set are not listed. The selection must include "from" and the message must
// have a From field (§5.4: From MUST be signed).
//
// Several keys (dual signing, e.g. Ed25519 + RSA): one field per key, each over the
// original header section — the second signature does not cover the first.
//
// Key policy: RSA 2048..4096 bits (key_too_small / key_too_large), Ed25519. rsa-sha1 is
// never produced.
//
// Untrusted input: the header section (client-submitted); parsed with signer/header.hpp's
// limits. Parameters are operator configuration, validated here (domain, selector, names).
//
// Threading: pure functions, reentrant; keys may be shared between threads.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "signer/canon.hpp"
#include "signer/error.hpp"
#include "signer/header.hpp"
#include "signer/key.hpp"

namespace signpost::signer {

// Field names are the wire tags of RFC 6376 §3.5.
struct SignParams {
    std::string d;  // d=: signing domain (ASCII; IDNs as A-labels)
    Canonicalization header_canon = Canonicalization::relaxed;  // c= header part
    Canonicalization body_canon = Canonicalization::relaxed;    // c= body part
    std::vector<std::string> headers;                  // candidate names for h=; empty = defaults
    bool oversign = true;                              // list oversigned_headers() once extra
    std::optional<std::chrono::seconds> expire_after;  // x= = t= + this, when set
};

struct SigningKey {
    std::string s;   // s=: selector for this key
    PrivateKey key;  // its algorithm gives a=
};

// from, sender, reply-to, subject, date, message-id, to, cc, mime-version, content-type,
// content-transfer-encoding, content-disposition, in-reply-to, references, list-id,
// list-help, list-unsubscribe, list-subscribe, list-post, list-owner, list-archive,
// list-unsubscribe-post.
std::span<const std::string_view> default_signed_headers() noexcept;

// from, to, cc, subject, date, reply-to, message-id, mime-version, content-type,
// content-transfer-encoding, in-reply-to, references.
std::span<const std::string_view> oversigned_headers() noexcept;

// RFC 5321 domain syntax, ASCII only: dot-separated labels of letters, digits and hyphens,
// 1..63 octets, not starting or ending with a hyphen; 1..253 octets in all, no trailing dot.
// `allow_underscore` admits "_" in labels (seen in the wild; the verifier allows it).
bool is_valid_domain(std::string_view d, bool allow_underscore = false) noexcept;
// A selector has the same syntax (RFC 6376 §3.1: dot-separated sub-domains).
bool is_valid_selector(std::string_view s, bool allow_underscore = false) noexcept;

// The h= list sign() writes for these fields and parameters (lowercase names).
// Errors: bad_header_selection.
Result<std::vector<std::string>> select_headers(std::span<const HeaderField> fields,
                                                const SignParams& params);

// RFC 6376 §3.7 signing input: the fields named by `h` (each name takes the next instance
// from the bottom; a name with no instance left adds nothing), canonicalized, followed by
// `signature` canonicalized with its b= value emptied and without its final CRLF.
std::string signing_input(std::span<const HeaderField> fields, std::span<const std::string_view> h,
                          const HeaderField& signature, Canonicalization canon);

// Signs. Returns one "DKIM-Signature: ...\r\n" per key, in key order. `body_hashes` must
// contain a BodyHash for params.body_canon (others are ignored). Errors: header parse
// errors, header_missing_from, bad_domain, bad_selector, bad_header_selection, bad_expiry,
// bad_time, no_keys, body_hash_missing, key_too_small, key_too_large, crypto_failure.
// `spare`: a thread RSA signatures may split their work with (key.hpp "Split RSA
// signatures"); the output is the same with or without it.
Result<std::vector<std::string>> sign(std::string_view header_block,
                                      std::span<const BodyHash> body_hashes,
                                      std::span<const SigningKey> keys, const SignParams& params,
                                      std::chrono::system_clock::time_point now, SpareThread* spare = nullptr);

// Convenience for a message in memory: splits it, hashes the body, calls sign().
Result<std::vector<std::string>> sign_message(std::string_view message,
                                              std::span<const SigningKey> keys,
                                              const SignParams& params,
                                              std::chrono::system_clock::time_point now);

// The signing step alone, for exact test vectors: computes the b= value (base64, no FWS)
// for an already-built DKIM-Signature field `signature_field` (with or without its CRLF;
// any b= value in it is ignored, as §3.7 empties it) over `header_block`. Uses the field's
// own a=, c= and h=, byte for byte as written. Applies no key-size policy (so RFC 8463's
// 1024-bit key can reproduce its published value); sign() does. Errors: header parse
// errors, signature_header_invalid, algorithm_mismatch, crypto_failure.
Result<std::string> sign_signature_header(const PrivateKey& key, std::string_view header_block,
                                          std::string_view signature_field);

}  // namespace signpost::signer
