// relay/smtp/command.hpp — the SMTP command line and address parser, with no state.
//
// What it does: splits a command line into verb and argument, parses the paths of MAIL
// FROM / RCPT TO (RFC 5321 §4.1.2, §4.1.3; RFC 6531 §3.3 for UTF-8), the ESMTP parameters
// of MAIL FROM (SIZE RFC 1870, BODY RFC 6152, SMTPUTF8 RFC 6531, REQUIRETLS RFC 8689, AUTH
// RFC 4954 §5) and the
// BDAT arguments (RFC 3030 §2). ServerProtocol decides what a result means for the
// session; this file only says whether the text is well formed.
//
// Deliberate choices:
//   - paths must be in angle brackets (`MAIL FROM:a@b` is refused), but spaces between
//     "FROM:"/"TO:" and "<" are accepted, as many clients send them;
//   - source routes ("<@a,@b:user@c>") are accepted and dropped (§4.1.2, §C);
//   - the local part is kept as written (a quoted string keeps its quotes), the domain as
//     written (no case folding, no IDNA conversion);
//   - "<Postmaster>" without a domain is accepted as a forward-path (§4.5.1);
//   - general address literals ("[tag:...]") are refused: only IPv4 and IPv6 are defined;
//   - octets >= 0x80 are accepted in paths only as well-formed UTF-8 and are flagged in
//     Address::non_ascii: whether they are allowed (SMTPUTF8) is the caller's decision;
//   - limits: path 256 octets with its brackets, local part 64, domain 255, label 63.
//
// Untrusted input: the whole line. Every function is bounded by its input length (the
// line reader bounds lines at 512 octets) and allocates at most a copy of it.
//
// Threading: pure functions, reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/smtp/error.hpp"

namespace signpost::smtp {

enum class Verb {
    unknown,
    ehlo, helo, mail, rcpt, data, bdat, rset, noop, quit, vrfy, help, starttls, auth,
    // recognised but not implemented (502 5.5.1): RFC 5321 EXPN and TURN, the obsolete
    // RFC 821 SEND/SOML/SAML, ETRN (RFC 1985), ATRN (RFC 2645).
    expn, turn, etrn, atrn, send, soml, saml,
};

struct CommandLine {
    Verb verb = Verb::unknown;
    std::string_view verb_text;  // as sent
    std::string_view argument;   // after the verb and its separating SP(s); "" if none
};

// Splits `line` (without CRLF) at the first SP. Trailing SPs are ignored, and so are extra
// SPs between verb and argument. The verb is matched case-insensitively.
CommandLine split_command(std::string_view line);

// Case-insensitive ASCII comparison.
bool iequals(std::string_view a, std::string_view b) noexcept;

// True when `s` is well-formed UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF).
bool valid_utf8(std::string_view s) noexcept;

// A parsed path (RFC 5321 §4.1.2).
struct Address {
    std::string mailbox;     // "local@domain" (source route dropped); "" for the null
                             // path "<>"; "Postmaster" for "<Postmaster>"
    std::string local_part;  // as written, quotes kept
    std::string domain;      // as written, "[192.0.2.1]" for literals; "" for <>, <Postmaster>
    bool non_ascii = false;  // the path text (source route included) contains UTF-8
                             // beyond ASCII: it needs SMTPUTF8 (RFC 6531)
    bool is_null() const { return mailbox.empty(); }
};

enum class PathKind {
    reverse,  // MAIL FROM: the null path "<>" is allowed
    forward,  // RCPT TO: "<Postmaster>" is allowed, "<>" is not
};

// The argument of MAIL / RCPT split into its path and its parameters.
struct PathArgument {
    std::string_view path;        // "<...>", brackets included
    std::string_view parameters;  // what follows the path and its SP(s); "" if none
};

// `argument` is the command's argument ("FROM:<a@b> SIZE=10"); `prefix` is "FROM:" or
// "TO:" (matched case-insensitively).
// Errors: argument_syntax (no prefix, nothing after it, no SP after the path),
// path_not_bracketed, path_syntax (no closing ">").
Result<PathArgument> split_path_argument(std::string_view argument, std::string_view prefix);

// Parses "<...>". Errors: path_syntax, path_too_long, local_part_too_long, domain_too_long,
// address_literal_syntax, null_path_not_allowed, bad_utf8.
Result<Address> parse_path(std::string_view path, PathKind kind);

// One ESMTP parameter, pointing into the parsed text.
struct Parameter {
    std::string_view keyword;
    std::optional<std::string_view> value;
};

inline constexpr std::size_t max_parameters = 16;

// Splits "KEY=VALUE KEY2 ..." (SP separated). esmtp-keyword = (ALPHA / DIGIT)
// *(ALPHA / DIGIT / "-"); esmtp-value = 1*(%d33-60 / %d62-126 / UTF-8 non-ASCII).
// Errors: param_syntax (also for more than max_parameters).
Result<std::vector<Parameter>> parse_parameters(std::string_view text);

enum class BodyType { unspecified, seven_bit, eight_bit_mime };

struct MailParameters {
    std::optional<std::uint64_t> size;  // SIZE=; a number over 2^64-1 saturates
    BodyType body = BodyType::unspecified;
    bool smtputf8 = false;
    bool requiretls = false;          // REQUIRETLS (RFC 8689 §4): verified TLS on every hop
    std::optional<std::string> auth;  // AUTH= as sent (xtext or "<>"); not used further
};

// The parameters of MAIL FROM. Errors: param_syntax, param_duplicate, param_value,
// param_unsupported.
Result<MailParameters> parse_mail_parameters(std::string_view text);

// The parameters of RCPT TO: Signpost offers none (no DSN), so any parameter is
// param_unsupported (param_syntax when it is not even a parameter).
Result<void> parse_rcpt_parameters(std::string_view text);

// The leading chunk-size of a BDAT argument (1*20DIGIT, at most 2^64-1).
// Errors: chunk_size_syntax.
Result<std::uint64_t> parse_chunk_size(std::string_view argument);

struct BdatArguments {
    std::uint64_t size = 0;
    bool last = false;
};

// "n" or "n LAST" (LAST case-insensitive). Errors: chunk_size_syntax, bdat_syntax.
Result<BdatArguments> parse_bdat(std::string_view argument);

}  // namespace signpost::smtp
