// relay/smtp/data_reader.hpp — the DATA body reader (RFC 5321 §4.1.1.4, §4.5.2) and the
// same content rules for BDAT chunks.
//
// A small state machine fed raw bytes after "354": it removes dot-stuffing, writes CRLF
// line ends, and stops exactly at CRLF "." CRLF. It never holds the body: complete lines
// are appended to a caller buffer, which the caller drains into the spool; at most the
// current line (under 998 octets) is held back.
//
// Hard edges (SMTP smuggling, CVE-2023-51764 class; DESIGN.md security contract):
//   - only CRLF.CRLF ends the data: "\n.\n", "\n.\r\n", "\r.\r\n" and the like never do;
//   - a bare CR anywhere marks the message bad (error bare_cr): reading continues to the
//     real end, then the message is refused 550 5.5.2 rather than passed on;
//   - a bare LF, by default (ContentRules::normalize_bare_lf, like Postfix 3.9's
//     smtpd_forbid_bare_newline = normalize), ends a content line and is written as CRLF;
//     the line after it is plain content: its leading "." is not dot-stuffing and it can
//     never be the terminator, so "LF.LF", "LF.CRLF" and "CRLF.LF" stay inside the one
//     message (delivery dot-stuffs such lines again on the way out). Strict mode refuses
//     the message instead (error bare_lf, 550 5.5.2);
//   - a NUL octet: error nul (550 5.6.0); more than max_size octets: error too_big (552
//     5.3.4). Reading always continues to the end so the session stays in sync.
// Long lines (RFC 5322 §2.1.1 allows 998 octets): a line longer than max_line_length is
// refused (error line_too_long, 550 5.6.0 naming the limit). Up to that limit, a longer
// line is folded as it streams through, before the message is signed, so the signature
// covers exactly what is delivered:
//   - in the header section (up to the first empty line), before the last space or tab
//     among its first 998 octets, which keeps the field's meaning (RFC 5322 §2.2.3); a
//     header line with no such place is refused (error header_line_too_long);
//   - in the body, after the last space or tab among its first 998 octets (the space
//     stays at the end of the line, as format=flowed writes a soft break), or else after
//     exactly 998 octets.
// With max_line_length = 998 nothing is folded: every longer line is refused.
// After the first error no more bytes are appended to the caller's buffer.
//
// Exact rules (so that any split of the input into chunks gives the same output):
//   - the start of the data counts as the start of a line (the CRLF of "DATA" precedes
//     it), so ".\r\n" right after 354 ends an empty message;
//   - the CRLF before the terminating "." belongs to the message: "text\r\n.\r\n" gives
//     "text\r\n";
//   - a line starting with "." after a CRLF loses that "." (RFC 5321 §4.5.2), so ".."
//     gives ".";
//   - line length is counted after unstuffing, without the line end: with the strict
//     limit 998 octets pass, 999 do not (a stuffed line may be 999 octets on the wire);
//   - the size is the count of message octets written (after unstuffing, normalizing and
//     folding, CRLFs included); it keeps counting past an error;
//   - `out` receives complete lines only, up to the line that raised the first error.
//
// Untrusted input: every byte. Threading: one reader per transaction.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "relay/smtp/server.hpp"

namespace signpost::smtp {

enum class DataError {
    none,
    bare_lf,               // strict mode only
    bare_cr,
    nul,
    line_too_long,         // a line longer than ContentRules::max_line_length
    header_line_too_long,  // a header line over 998 octets with no space or tab to fold at
    too_big,
};

// RFC 5322 §2.1.1: a line is at most 998 octets without its CRLF.
inline constexpr std::uint32_t max_data_line = 998;

struct ContentRules {
    std::uint64_t max_size = std::numeric_limits<std::uint64_t>::max();
    bool normalize_bare_lf = false;                  // false: a bare LF refuses the message
    std::uint64_t max_line_length = max_data_line;   // >= 998; longer lines up to it are folded
};

// The reply for a message refused for its content (e.g. 550 5.5.2 for bare_lf), naming
// `rules.max_line_length` for line_too_long. For DataError::none, which is not a
// refusal, it returns 451 4.3.0, so that a mistaken call can never claim acceptance.
Reply reply_for(DataError e, const ContentRules& rules = {});
// Why, in words, for log lines: "a bare LF (lines must end with CRLF)", ...
const char* describe(DataError e);

// The line rules shared by DATA and BDAT: line ends, folding, limits, the header/body
// boundary. Fed line content (no CR, LF) and line ends; writes complete lines to `out`.
class LineShaper {
public:
    explicit LineShaper(const ContentRules& rules) : rules_(rules) {}

    void content(std::string_view run, std::string& out);
    void line_end(std::string& out);
    // The message ends inside a line (BDAT only): that line is written without a CRLF.
    void end_without_line_end(std::string& out);
    void fail(DataError e) {
        if (error_ == DataError::none) error_ = e;
    }

    DataError error() const { return error_; }
    std::uint64_t size() const { return size_; }
    std::uint64_t folds() const { return folds_; }

private:
    void fold(std::string& out);
    void count(std::uint64_t n);
    void emit(std::string_view bytes, std::string& out);

    ContentRules rules_;
    std::string line_;                 // the current physical line, not yet written (< 999)
    std::uint64_t logical_length_ = 0; // the current line's length before folding
    bool in_header_ = true;
    std::uint64_t size_ = 0;
    std::uint64_t folds_ = 0;
    DataError error_ = DataError::none;
};

class DataReader {
public:
    // Strict rules (bare LF refused, no folding) and a size cap.
    explicit DataReader(std::uint64_t max_size);
    explicit DataReader(const ContentRules& rules);

    struct Result {
        std::size_t consumed = 0;  // input octets used; the rest follow the end of data
        bool done = false;         // CRLF.CRLF seen
    };

    // Appends message lines (with CRLF line ends, without the terminating ".\r\n") to
    // `out`. Call again with more input until done.
    Result feed(std::string_view in, std::string& out);

    DataError error() const { return shaper_.error(); }
    std::uint64_t size() const { return shaper_.size(); }   // message octets (also past errors)
    std::uint64_t folds() const { return shaper_.folds(); } // long lines folded so far

private:
    bool normalize_;
    LineShaper shaper_;
    int state_ = 0;
};

// The same content rules for BDAT chunks (RFC 3030), which carry the message with no
// dot-stuffing and no terminator. Chunks may split a CRLF anywhere. Size limits on the
// wire are the protocol's (ServerProtocol tracks the BDAT total); rules.max_size bounds
// what is written.
class BodyChecker {
public:
    explicit BodyChecker(const ContentRules& rules = {}) : shaper_(rules), normalize_(rules.normalize_bare_lf) {}
    // Appends the shaped message octets of `chunk` to `out`.
    void feed(std::string_view chunk, std::string& out);
    // The verdict once the last chunk is in: a CR still waiting for its LF is a bare CR;
    // a last line without CRLF is written as it came.
    DataError finish(std::string& out);
    DataError error() const { return shaper_.error(); }
    std::uint64_t folds() const { return shaper_.folds(); }

private:
    LineShaper shaper_;
    bool normalize_;
    bool pending_cr_ = false;
};

}  // namespace signpost::smtp
