// signer/tag_list.hpp — the DKIM tag=value list (RFC 6376 §3.2), shared by the
// DKIM-Signature header field and the DNS key record.
//
// What it does: splits "v=1; a=rsa-sha256; ..." into (name, value) pairs that point into
// the input. Grammar (§3.2): tag-spec = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS],
// separated by ";", optional trailing ";". tag-name = ALPHA *(ALPHA / DIGIT / "_").
// tag-value = tval *(1*(WSP / FWS) tval), tval = 1*VALCHAR, VALCHAR = %x21-3A / %x3C-7E.
// Values keep their inner whitespace (h= "from : to", folded b=); the caller strips it
// where the tag's own grammar allows FWS. Names are case-sensitive (§3.2).
//
// Deliberate leniency: empty tag-specs (";;", "; ;") are skipped, as deployed records
// contain them. Strictness: duplicate names are an error (§3.2 "MUST NOT" + "invalid"),
// octets outside VALCHAR/WSP/CRLF (8-bit, controls) are an error.
//
// Untrusted input: header field values and DNS TXT text. At most max_tags tags (a real
// signature has about a dozen, a key record half that): more is a syntax error, which
// bounds the work on hostile input.
//
// Threading: pure functions, reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "signer/canon.hpp"
#include "signer/error.hpp"

namespace signpost::signer {

inline constexpr std::size_t max_tags = 64;

struct Tag {
    std::string_view name;
    std::string_view value;      // surrounding FWS trimmed
    std::string_view raw_value;  // everything between "=" and the next ";" (or the end)
};

// Errors: tag_list_syntax, tag_duplicate.
Result<std::vector<Tag>> parse_tag_list(std::string_view text);

// The tag named `name`, if present.
std::optional<std::string_view> find_tag(const std::vector<Tag>& tags, std::string_view name);

// Removes every SP, HTAB, CR and LF (FWS inside base64 values such as b=, bh=, p=).
std::string remove_fws(std::string_view s);

// A base64 tag value (b=, bh=, p=) with its FWS removed, decoded; nullopt if not base64.
std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view s);

// Trims SP, HTAB, CR, LF from both ends.
std::string_view trim_fws(std::string_view s) noexcept;

// DKIM-Signature c= (§3.5): "header[/body]", body defaulting to simple. nullopt if either
// name is unknown. An absent c= means simple/simple (callers handle absence).
struct CanonPair {
    Canonicalization header = Canonicalization::simple;
    Canonicalization body = Canonicalization::simple;
};
std::optional<CanonPair> parse_c_tag(std::string_view value);

// DKIM-Signature h= (§3.5): colon-separated field names, FWS around each removed.
// nullopt if a name is empty or not a valid field name.
std::optional<std::vector<std::string_view>> split_h_tag(std::string_view value);

}  // namespace signpost::signer
