// tests/bench/loadgen/reply.hpp — SMTP replies as the load generator's client reads them.
//
// What it does: finds where a complete reply ends in the bytes received so far, parses it
// into code, enhanced status code and text lines (RFC 5321 §4.2, multi-line replies
// "250-..." ... "250 ..."; RFC 3463 / RFC 2034 enhanced codes), and reads the EHLO
// keywords the load generator cares about (PIPELINING RFC 2920, CHUNKING RFC 3030, SIZE
// RFC 1870, STARTTLS RFC 3207, AUTH PLAIN RFC 4954/4616).
//
// What it deliberately does not do: no I/O (the session performs it), no validation of
// reply text beyond what the client needs. A line may end in LF alone (lenient: the server
// is the subject under test and a bare LF there is reported elsewhere, not here).
//
// Untrusted input: the server's bytes. A reply is at most kMaxReply octets and at most
// kMaxReplyLines lines; beyond that it is malformed.
//
// Threading: pure functions, no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loadgen {

inline constexpr std::size_t kMaxReply = 64 * 1024;
inline constexpr std::size_t kMaxReplyLines = 100;

struct Reply {
    int code = 0;
    std::string enhanced;            // "4.3.0" (RFC 3463), empty when the reply has none
    std::vector<std::string> lines;  // text after "NNN-" / "NNN ", CR/LF stripped

    bool positive() const { return code >= 200 && code < 400; }
    // "451 4.3.0" or "451": what errors are counted by.
    std::string key() const;
    // The first line as sent ("451 4.3.0 Try again later"), at most 200 characters.
    std::string summary() const;
};

enum class ScanResult { incomplete, complete, malformed };

struct Scan {
    ScanResult result = ScanResult::incomplete;
    std::size_t length = 0;  // octets of the complete reply, through the last line's LF
};

// Looks for one complete reply at the start of `in`.
Scan scan_reply(std::string_view in);

// Parses a complete reply as found by scan_reply(); nullopt if the lines disagree on the
// code or a line is not "NNN", "NNN text" or "NNN-text".
std::optional<Reply> parse_reply(std::string_view complete);

// What an EHLO reply (RFC 5321 §4.1.1.1) offers.
struct Capabilities {
    bool pipelining = false;
    bool chunking = false;
    bool starttls = false;
    bool auth_plain = false;
    bool size = false;
    std::uint64_t size_limit = 0;  // 0: SIZE without a limit, or no SIZE
};

Capabilities parse_ehlo(const Reply& ehlo);

}  // namespace loadgen
