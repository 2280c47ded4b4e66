// relay/smtp/client.hpp — the client side of SMTP with no I/O: what an outbound session
// needs to read a server's replies and to write its commands and the message.
//
// What it does:
//   - ReplyParser: turns the server's bytes into replies (RFC 5321 §4.2), multi-line ones
//     included, fed in chunks of any size; reads the enhanced status code (RFC 3463, carried
//     per RFC 2034 §4) when the reply has one.
//   - parse_ehlo(): the EHLO keywords the client acts on: PIPELINING (RFC 2920), SIZE
//     (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), STARTTLS (RFC 3207), AUTH
//     (RFC 4954), ENHANCEDSTATUSCODES (RFC 2034), CHUNKING (RFC 3030, recorded, not used).
//   - format_*(): the command lines, CRLF included: EHLO/HELO, MAIL FROM with SIZE=,
//     BODY=8BITMIME and SMTPUTF8 when offered and needed, RCPT TO, AUTH PLAIN with its
//     initial response (RFC 4616, RFC 4954 §4) and the AUTH LOGIN steps.
//   - DotStuffer: the DATA body transparency of RFC 5321 §4.5.2, streaming, plus the
//     terminating "CRLF . CRLF".
//
// What it deliberately does not do: no DSN parameters (RFC 3461), no BDAT, no SASL
// mechanisms beyond PLAIN and LOGIN; the session (relay/delivery/smtp_session) decides
// what to send when and how to classify replies.
//
// Untrusted input: every byte the server sends. A reply line is at most max_reply_line
// octets (CRLF included; RFC 5321 §4.5.3.1.5 asks for 512, real servers send longer text,
// so we allow 2048) and a reply at most max_reply_lines lines; beyond either the parser
// stops with an error and the caller drops the connection. Lines may end in CRLF or a bare
// LF (leniency towards servers costs nothing here: we never forward reply bytes).
// Addresses and names given to format_*() come from our own queue; control characters in
// them are refused so that no command can be injected.
//
// Threading: pure functions and per-connection objects; no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/system/error_code.hpp>

#include "relay/smtp/error.hpp"
#include "relay/smtp/server.hpp"  // Reply: the same shape for replies we send and parse

namespace signpost::smtp {

inline constexpr std::size_t max_reply_line = 2048;  // octets, line end included
inline constexpr std::size_t max_reply_lines = 100;

// Errors of the client side, category "signpost.smtp.client". Every one of them leaves the
// connection out of step (or the command unsendable): the session treats it like a broken
// connection, a temporary failure.
enum class ClientErrc {
    reply_line_too_long = 1,  // a reply line over max_reply_line octets
    reply_too_many_lines,     // a reply of more than max_reply_lines lines
    reply_syntax,             // a line that does not start with a 3-digit code 2xx..5xx
                              // followed by " ", "-" or the line end
    reply_code_mismatch,      // a continuation line whose code differs from the first's
    invalid_argument,         // an address, host name or credential with a control
                              // character (or NUL, or empty where one is required)
};

const boost::system::error_category& client_error_category() noexcept;
boost::system::error_code make_error_code(ClientErrc e) noexcept;

// Reads replies from a byte stream. Feed it what the socket gave; it consumes bytes up to
// the end of the first complete reply (the rest belongs to the next reply: pipelined
// replies arrive together) or up to the first error.
//
// Parsed Reply: `code`; `enhanced` "X.Y.Z" when the first line's text starts with one whose
// class matches the code's first digit (RFC 3463 §2, RFC 2034 §4), else ""; `lines` the
// text of each line, with the enhanced code removed where a line starts with it, the line
// end removed; a line with no text gives "".
class ReplyParser {
public:
    // Returns the number of octets of `in` used. After complete(), feeds nothing more
    // until take().
    std::size_t feed(std::string_view in);
    // A reply or an error is ready.
    bool complete() const { return complete_; }
    // The reply or the error; resets the parser for the next reply. Only after complete().
    // After an error the parser stays failed: every later take() repeats the error.
    Result<Reply> take();

private:
    void finish_line();
    void fail(ClientErrc e);

    std::string line_;  // the current line so far, line end not yet seen
    Reply reply_;
    bool complete_ = false;
    boost::system::error_code error_;
};

// The server's EHLO reply, as far as the client acts on it. Keywords are case-insensitive.
struct Capabilities {
    bool pipelining = false;
    bool size = false;                // SIZE offered
    std::uint64_t size_limit = 0;     // its fixed limit; 0 = none announced
    bool eightbitmime = false;
    bool smtputf8 = false;
    bool starttls = false;
    bool enhanced_status_codes = false;
    bool chunking = false;
    bool requiretls = false;          // RFC 8689 §4
    std::vector<std::string> auth;    // mechanisms, upper-case, in the server's order

    bool has_auth(std::string_view mechanism) const;  // case-insensitive
};

// From a 250 EHLO reply: the first line is the server's name and greeting; each later
// line is one keyword with its parameters. "AUTH=..." (the pre-RFC 4954 form some servers
// still send) counts as AUTH. Unknown keywords are ignored; a SIZE value that does not
// read as a number counts as no limit.
Capabilities parse_ehlo(const Reply& reply);

// "EHLO name\r\n" / "HELO name\r\n". Errors: invalid_argument (empty, space or control).
Result<std::string> format_ehlo(std::string_view name);
Result<std::string> format_helo(std::string_view name);

// "MAIL FROM:<reverse_path>" + " SIZE=n" when the server offers SIZE (n = message_size,
// RFC 1870 §3) + " BODY=8BITMIME" when body_8bit and offered + " SMTPUTF8" when smtputf8
// and offered + " REQUIRETLS" when requiretls and offered (RFC 8689 §4), then CRLF. "" is
// the null reverse-path "<>". Whether to send at all when a needed extension is missing is
// the caller's decision.
// Errors: invalid_argument (a control character in the address).
Result<std::string> format_mail_from(std::string_view reverse_path, const Capabilities& caps,
                                     std::uint64_t message_size, bool body_8bit, bool smtputf8,
                                     bool requiretls = false);

// "RCPT TO:<forward_path>\r\n". Errors: invalid_argument (empty, or a control character).
Result<std::string> format_rcpt_to(std::string_view forward_path);

// "AUTH PLAIN <base64(NUL user NUL password)>\r\n" (RFC 4616 §2, empty authzid; the
// initial response of RFC 4954 §4). The result holds the password: callers wipe it with
// secure_clear() and never log it. Errors: invalid_argument (empty user or password, or a
// NUL in either).
Result<std::string> format_auth_plain(std::string_view user, std::string_view password);

// AUTH LOGIN: send auth_login_command(), then, after each 334, auth_login_response() with
// the user name and then the password (base64 + CRLF).
inline constexpr std::string_view auth_login_command = "AUTH LOGIN\r\n";
std::string auth_login_response(std::string_view value);

// Dot-stuffing for DATA (RFC 5321 §4.5.2), streaming: feed() the message octets in chunks
// of any size, then finish(). A "." at the start of a line is doubled; the start of the
// data counts as the start of a line, and so does the octet after any LF (the input should
// hold CRLF lines only; stuffing after a bare LF too means no receiver can read an early
// end of data into a malformed message). finish() adds CRLF when the message did not end
// in one (an empty message gets none), then ".\r\n". Any split of the input gives the same
// output.
class DotStuffer {
public:
    void feed(std::string_view in, std::string& out);
    void finish(std::string& out);
    std::uint64_t octets_in() const { return octets_; }  // message octets fed so far

private:
    bool line_start_ = true;
    char last_ = '\0';
    char before_last_ = '\0';
    std::uint64_t octets_ = 0;
};

}  // namespace signpost::smtp

template <>
struct boost::system::is_error_code_enum<signpost::smtp::ClientErrc> : std::true_type {};
