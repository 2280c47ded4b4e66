// tests/bench/loadgen/message.cpp — exact-size test messages (see message.hpp).
#include "message.hpp"

#include <array>
#include <cstdio>
#include <ctime>
#include <random>

namespace loadgen {
namespace {

constexpr std::size_t kLineWidth = 72;  // body text columns, CRLF not counted

constexpr std::array<const char*, 64> kWords = {
    "the",      "quarterly", "report",  "is",       "attached", "please",   "review",
    "before",   "our",       "meeting", "on",       "Thursday", "and",      "send",
    "any",      "comments",  "to",      "me",       "we",       "moved",    "backup",
    "schedule", "for",       "NAS",     "nightly",  "at",       "two",      "o'clock",
    "disk",     "usage",     "grew",    "by",       "percent",  "this",     "month",
    "invoice",  "number",    "was",     "paid",     "thanks",   "again",    "for",
    "your",     "help",      "with",    "the",      "router",   "firmware", "upgrade",
    "camera",   "alert",     "motion",  "detected", "front",    "door",     "storage",
    "pool",     "healthy",   "scrub",   "finished", "without",  "errors",   "cheers",
    "Alice"};

std::string rfc5322_date(std::chrono::system_clock::time_point tp) {
    std::time_t t = std::chrono::system_clock::to_time_t(tp);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    return std::string(buf, n);
}

std::string domain_of(const std::string& address) {
    auto at = address.rfind('@');
    return at == std::string::npos ? std::string("loadgen.invalid") : address.substr(at + 1);
}

// The header block, blank line included. `subject_pad` extra characters on the Subject
// let the caller avoid a one-octet body remainder.
std::string header_block(const MessageSpec& spec, std::uint64_t seq, std::uint64_t nonce,
                         std::chrono::system_clock::time_point date, std::size_t subject_pad) {
    std::string h;
    h.reserve(512);
    h += "From: Load Generator <" + spec.from + ">\r\n";
    h += "To: ";
    for (std::size_t i = 0; i < spec.to.size(); ++i) {
        if (i > 0)
            h += ",\r\n ";  // folded, one recipient per line
        h += "<" + spec.to[i] + ">";
    }
    h += "\r\n";
    h += "Subject: loadgen test message " + std::to_string(seq) + std::string(subject_pad, '!') + "\r\n";
    h += "Date: " + rfc5322_date(date) + "\r\n";
    char id[64];
    std::snprintf(id, sizeof id, "%llx.%llu", static_cast<unsigned long long>(nonce),
                  static_cast<unsigned long long>(seq));
    h += "Message-ID: <loadgen." + std::string(id) + "@" + domain_of(spec.from) + ">\r\n";
    h += "MIME-Version: 1.0\r\n";
    h += "Content-Type: text/plain; charset=us-ascii\r\n";
    h += "Content-Transfer-Encoding: 7bit\r\n";
    h += "\r\n";
    return h;
}

// One body line of exactly `width` characters (words, single spaces, no leading '.',
// no trailing space), CRLF appended.
void append_line(std::string& out, std::size_t width, std::mt19937_64& rng) {
    std::size_t start = out.size();
    while (out.size() - start < width) {
        if (out.size() > start)
            out += ' ';
        out += kWords[rng() % kWords.size()];
    }
    out.resize(start + width);
    if (width > 0 && out.back() == ' ')
        out.back() = 'x';
    out += "\r\n";
}

}  // namespace

std::size_t minimum_size(const MessageSpec& spec) {
    // Widest possible sequence number and Date, plus one body line "x\r\n".
    std::string h = header_block(spec, UINT64_MAX, UINT64_MAX, std::chrono::system_clock::time_point{}, 0);
    return h.size() + 3;
}

std::string build_message(const MessageSpec& spec, std::uint64_t seq, std::uint64_t nonce,
                          std::chrono::system_clock::time_point date) {
    std::string msg = header_block(spec, seq, nonce, date, 0);
    std::size_t target = std::max(spec.size, minimum_size(spec));
    if (target - msg.size() == 1)  // a body can't be one octet: make the Subject longer
        msg = header_block(spec, seq, nonce, date, 1);
    std::size_t rem = target - msg.size();
    msg.reserve(target);
    std::mt19937_64 rng(seq * 0x9E3779B97F4A7C15ULL + nonce);
    // Invariant: rem != 1, so every line can be "text CRLF" or an empty "CRLF".
    while (rem > 0) {
        std::size_t width = std::min(kLineWidth, rem - 2);
        if (rem - (width + 2) == 1)
            --width;  // leave 2 (an empty line), never 1
        append_line(msg, width, rng);
        rem -= width + 2;
    }
    return msg;
}

std::string dot_stuff(const std::string& message) {
    std::string out;
    out.reserve(message.size() + message.size() / 64 + 8);
    bool line_start = true;
    for (char c : message) {
        if (line_start && c == '.')
            out += '.';
        out += c;
        line_start = (c == '\n');
    }
    out += ".\r\n";
    return out;
}

}  // namespace loadgen
