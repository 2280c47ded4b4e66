// relay/smtp/error.hpp — the smtp module's error values (signpost::smtp::Errc).
//
// What it does: names every way the pure parsers of this module (relay/smtp/command.hpp,
// relay/smtp/sasl.hpp) can refuse a client's input, as an enum class registered as the
// boost::system error category "signpost.smtp". Parsers return `Result<T>`
// (boost::system::result) and never throw (except std::bad_alloc). ServerProtocol maps each
// value to its SMTP reply; the mapping is given next to each value.
//
// Not errors of this enum: DATA body problems (DataError in relay/smtp/data_reader.hpp,
// which are outcomes of a whole message, not of one call) and policy refusals (Policy).
//
// Untrusted input: none here. Threading: the category is a function-local static, safe
// from any thread.
#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <type_traits>

namespace signpost::smtp {

template <class T>
using Result = boost::system::result<T>;

enum class Errc {
    // --- command arguments (command.hpp) -> 501 5.5.4 unless said otherwise ---------------
    argument_syntax = 1,   // the argument does not follow the command's grammar
                           // ("FROM:" missing, extra words, missing argument)
    path_not_bracketed,    // MAIL FROM:a@b — the path is not enclosed in "<" ">" (501 5.5.4)

    // --- paths (RFC 5321 §4.1.2) -> 553 5.1.7 (sender) / 553 5.1.3 (recipient) -----------
    path_syntax,             // not Path = "<" [A-d-l ":"] Mailbox ">"
    path_too_long,           // the path is over 256 octets (RFC 5321 §4.5.3.1.3)
    local_part_too_long,     // the local part is over 64 octets (§4.5.3.1.1)
    domain_too_long,         // the domain is over 255 octets or a label over 63 (§4.5.3.1.2)
    address_literal_syntax,  // "[...]" is neither an IPv4 nor an IPv6 address literal
                             // (§4.1.3; general address literals are not accepted)
    null_path_not_allowed,   // "<>" as a forward-path (RCPT TO)
    bad_utf8,                // octets >= 0x80 that are not well-formed UTF-8 (RFC 3629)

    // --- ESMTP parameters (RFC 5321 §4.1.2 Mail-parameters) ------------------------------
    param_syntax,       // not esmtp-keyword ["=" esmtp-value], or too many (501 5.5.4)
    param_duplicate,    // the same keyword twice (501 5.5.4)
    param_value,        // a known keyword with a malformed value: SIZE not 1*20DIGIT,
                        // BODY not a body type, AUTH not xtext, SMTPUTF8 with a value
                        // (501 5.5.4)
    param_unsupported,  // a keyword or value we do not offer (RET, ENVID, NOTIFY,
                        // BODY=BINARYMIME, any RCPT parameter) (555 5.5.4)

    // --- BDAT (RFC 3030 §2) ---------------------------------------------------------------
    chunk_size_syntax,  // the chunk size is missing, not 1*20DIGIT or over 2^64-1: the
                        // chunk cannot be skipped, the session is out of step (501, 421)
    bdat_syntax,        // the size reads but what follows is not " LAST" (501 5.5.4, the
                        // chunk is read and discarded)

    // --- SASL (sasl.hpp, RFC 4954, RFC 4616) --------------------------------------------
    base64_invalid,         // a SASL response that is not base64 (501 5.5.2)
    sasl_plain_malformed,   // PLAIN message not authzid NUL authcid NUL passwd, an empty or
                            // over-long (> 255 octets) authcid or password (535 5.7.8)
    sasl_authzid_mismatch,  // PLAIN authzid neither empty nor equal to authcid (535 5.7.8)
};

const boost::system::error_category& error_category() noexcept;

boost::system::error_code make_error_code(Errc e) noexcept;

}  // namespace signpost::smtp

template <>
struct boost::system::is_error_code_enum<signpost::smtp::Errc> : std::true_type {};
