// tests/bench/loadgen/message.hpp — the messages the load generator submits.
//
// What it does: builds a plain-text mail of an exact size in octets (RFC 5322 header
// fields From, To, Subject, Date, Message-ID, MIME-Version, Content-Type,
// Content-Transfer-Encoding; a body of ~72-column lines of words, CRLF line endings, last
// line shortened or lengthened so the whole message has exactly the requested size), and
// the DATA form of it (RFC 5321 §4.5.2 dot-stuffing plus the ".CRLF" terminator).
//
// Every message has a distinct Message-ID and Subject (the sequence number) and a body that
// depends on the sequence number, so a server cannot deduplicate or cache them.
//
// Threading: pure functions.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace loadgen {

struct MessageSpec {
    std::string from;             // address only: "dev@example.test"
    std::vector<std::string> to;  // addresses only
    std::size_t size = 4096;      // total octets, header and body, before dot-stuffing
};

// The smallest size build_message() can honour for this envelope (header fields, the blank
// line, one short body line); a smaller spec.size gives a message of this size.
std::size_t minimum_size(const MessageSpec& spec);

// The message, exactly max(spec.size, minimum_size(spec)) octets, ending in CRLF.
// `seq` makes it unique; `nonce` (e.g. the process id) keeps Message-IDs unique across runs.
std::string build_message(const MessageSpec& spec, std::uint64_t seq, std::uint64_t nonce,
                          std::chrono::system_clock::time_point date);

// RFC 5321 §4.5.2: a "." is added in front of every line that starts with ".", then
// ".\r\n" ends the data. `message` must end in CRLF.
std::string dot_stuff(const std::string& message);

}  // namespace loadgen
