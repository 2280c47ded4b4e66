// relay/smtp/data_reader.hpp — the strict DATA body reader (RFC 5321 §4.1.1.4, §4.5.2).
//
// A small state machine fed raw bytes after "354": it removes dot-stuffing, keeps CRLF
// line ends, and stops exactly at CRLF "." CRLF. It never holds the body: message bytes
// are appended to a caller buffer chunk by chunk, which the caller drains into the spool.
//
// Hard edges (SMTP smuggling, CVE-2023-51764 class; DESIGN.md security contract):
//   - only CRLF.CRLF ends the data: "\n.\n", "\n.\r\n", "\r.\r\n" and the like never do;
//   - a bare LF or bare CR anywhere in the body marks the message bad (error bare_lf /
//     bare_cr): reading continues to the real end, then the message is refused 550 5.5.2
//     rather than passed on;
//   - a NUL octet: error nul (550 5.6.0); a line over 998 octets before its CRLF: error
//     line_too_long (550 5.6.0, RFC 5322 §2.1.1); more than max_size octets: error too_big
//     (552 5.3.4). Reading always continues to the end so the session stays in sync.
// After the first error no more bytes are appended to the caller's buffer.
//
// Exact rules (so that any split of the input into chunks gives the same output):
//   - the start of the data counts as the start of a line (the CRLF of "DATA" precedes
//     it), so ".\r\n" right after 354 ends an empty message;
//   - the CRLF before the terminating "." belongs to the message: "text\r\n.\r\n" gives
//     "text\r\n";
//   - a line starting with "." loses that "." (RFC 5321 §4.5.2), so ".." gives ".";
//   - line length is counted after unstuffing, without the CRLF: 998 octets pass, 999 do
//     not (a stuffed line may therefore be 999 octets on the wire);
//   - the size is the count of message octets after unstuffing, CRLFs included; the octet
//     that takes it over max_size is the error (a CRLF counts as one unit of 2 octets);
//   - `out` receives the message octets up to, not including, the octet that raised the
//     first error; a CR is held back until the next octet shows whether it starts a CRLF.
//
// Untrusted input: every byte. Threading: one reader per transaction.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "relay/smtp/server.hpp"

namespace signpost::smtp {

enum class DataError { none, bare_lf, bare_cr, nul, line_too_long, too_big };

// The reply for a message refused by the reader (e.g. 550 5.5.2 for bare_lf). For
// DataError::none, which is not a refusal, it returns 451 4.3.0, so that a mistaken call
// can never claim acceptance.
Reply reply_for(DataError e);

// RFC 5322 §2.1.1: a line is at most 998 octets without its CRLF.
inline constexpr std::uint32_t max_data_line = 998;

class DataReader {
public:
    explicit DataReader(std::uint64_t max_size);

    struct Result {
        std::size_t consumed = 0;  // input octets used; the rest follow the end of data
        bool done = false;         // CRLF.CRLF seen
    };

    // Appends unstuffed message octets (with CRLF line ends, without the terminating
    // ".\r\n") to `out`. Call again with more input until done.
    Result feed(std::string_view in, std::string& out);

    DataError error() const { return error_; }
    std::uint64_t size() const { return size_; }  // message octets seen (also past errors)

private:
    // (implementation state; see data_reader.cpp)
    void fail(DataError e) {
        if (error_ == DataError::none) error_ = e;
    }
    void content(std::string_view run, std::string& out);
    void line_end(std::string& out);

    std::uint64_t max_size_;
    std::uint64_t size_ = 0;
    std::uint32_t line_length_ = 0;
    int state_ = 0;
    DataError error_ = DataError::none;
};

// The same content rules for BDAT chunks (RFC 3030), which carry the message with no
// dot-stuffing and no terminator: a bare LF or CR, a NUL, or a line over 998 octets makes
// the message bad, exactly as in DATA. Chunks may split a CRLF anywhere. Size limits are
// the protocol's (ServerProtocol tracks the BDAT total).
class BodyChecker {
public:
    void feed(std::string_view chunk);
    // The verdict once the last chunk is in: a CR still waiting for its LF is a bare CR.
    DataError finish();
    DataError error() const { return error_; }

private:
    bool pending_cr_ = false;
    std::uint32_t line_length_ = 0;
    DataError error_ = DataError::none;
};

}  // namespace signpost::smtp
