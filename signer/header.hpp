// signer/header.hpp — splitting a message into header section and body, and the header
// section into fields, as DKIM needs them (raw text kept exactly, for "simple").
//
// What it does: split_message() finds the empty line that ends the header section
// (RFC 5322 §2.1); parse_header_block() turns the header section into HeaderField values
// that point into the caller's buffer (name, value, raw text including folding and the final
// CRLF). No field is decoded or unfolded here: canonicalization (signer/canon.hpp) does that.
//
// RFCs: RFC 5322 §2.1 (CRLF lines, 998-octet limit), §2.2 (field = name ":" value, name of
// printable US-ASCII except ":"), §2.2.3 (folding), §4.5 obsolete syntax (WSP allowed between
// the name and the colon, as in RFC 6376 §3.4.6's example "B : Y"). Values may carry 8-bit
// octets (RFC 6532); names may not.
//
// Not done: no MIME or encoded-word decoding; no leniency for bare LF line endings — input
// is CRLF (the relay's DATA reader guarantees it); a lone CR or LF in the header is an error.
//
// Untrusted input: the message bytes. Every line is bounded (998 octets); NUL is refused.
// Results are views: they live as long as the buffer they were parsed from.
//
// Threading: pure functions, reentrant.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "signer/error.hpp"

namespace signpost::signer {

// RFC 5322 §2.1.1: a line is at most 998 octets, not counting its CRLF.
inline constexpr std::size_t max_line_length = 998;

struct HeaderField {
    std::string_view name;   // as written, WSP before the colon removed ("Subject")
    std::string_view value;  // after the colon up to (not including) the final CRLF; keeps
                             // folding CRLF+WSP and leading WSP exactly as received
    std::string_view raw;    // the whole field, first octet of the name through final CRLF
};

struct MessageParts {
    std::string_view header;  // header fields, each ending in CRLF; without the empty line
    std::string_view body;    // everything after the empty line (may be empty)
};

// Splits at the first empty line. A message with no empty line is all header, empty body.
MessageParts split_message(std::string_view message) noexcept;

// Parses a header section. The section may end with the empty separator line ("...\r\n\r\n")
// or not; nothing may follow an empty line. Errors: header_no_colon, header_nul,
// header_bad_name, header_line_too_long, header_bare_line_ending,
// header_leading_continuation, header_unterminated.
Result<std::vector<HeaderField>> parse_header_block(std::string_view header);

// ASCII case-insensitive comparison of field names (RFC 5322 names are case-insensitive).
bool header_name_equals(std::string_view a, std::string_view b) noexcept;

// True if `name` is a valid field name: 1*ftext (octets 33..126 except ':').
bool is_valid_header_name(std::string_view name) noexcept;

}  // namespace signpost::signer
