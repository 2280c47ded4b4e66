// tests/fuzz/queue/fuzz_dsn.cpp — libFuzzer target for the DSN builder (build_dsn,
// dsn_needs_8bit in relay/queue/dsn.hpp) with what others control: the original message's
// header section (anything a sender sent), the envelope sender and recipient addresses
// (UTF-8 included), and each recipient's diagnostic and remote host (anything a remote
// server or the DNS said).
// Covers: relay/queue/dsn.cpp
//
// Input: octet 0 holds flags (bit 0: delay DSN, else failure; bit 1: international form;
// bits 4-7: the arrival/now/retry/last-attempt times, a few days apart from 2026-11-23,
// are shifted by that many weeks: times come from our clock, not from others, so they stay
// realistic); octet 1 bit i: recipient i's diagnostic is the remote's
// (else Signpost's own decision); then fields separated by 0xFF octets: envelope sender,
// original header section, then per recipient (at most 8) address, status, diagnostic,
// remote host (empty: none).
// Invariants:
//   - nullopt exactly when the sender is "" or "<>" or there is no recipient;
//   - the message is well-formed: CRLF line ends only (no bare CR or LF), no NUL, no line
//     over 998 octets (RFC 5322 §2.1.1); the header section parses (field name, colon,
//     or a folded continuation) with From, To, Subject, Date, Message-ID, MIME-Version,
//     Auto-Submitted and Content-Type exactly once, and every line we generate is at most
//     78 octets;
//   - multipart/report (RFC 6522): the boundary is 1..70 boundary characters (RFC 2046
//     §5.1.1) and occurs in the body only in the 4 delimiter lines, which enclose exactly
//     3 parts, each with a header section parsing as above; part 2 has one
//     per-message group and one group per recipient (RFC 3464 §2.2, §2.3) with
//     Final-Recipient, Action (failed/delayed) and Status (RFC 3463, class 5 / 4); part 3
//     holds no empty line;
//   - a part marked 7bit holds no 8-bit octet; without the international form everything
//     but part 3 (the original header section, returned intact) is 7-bit, so
//     dsn_needs_8bit() is true exactly when that section holds 8-bit octets; with it, our
//     text is valid UTF-8 and the RFC 6533 types are used.
// Seeds: corpus/fuzz_dsn/ — header sections of real messages (a plain one, 8-bit legacy,
// UTF-8 with SMTPUTF8, folded and over-long lines, NUL and bare CR/LF), with replies as
// Postfix, Exim and Gmail give them (multi-line joined, enhanced codes) and UTF-8
// recipients.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/queue/dsn.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::queue;
using namespace std::chrono_literals;

constexpr std::string_view kQueueId = "00HOFGO6F3U700NNAOVB";

bool has_8bit(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = 0;
        if (c < 0x80) len = 1;
        else if (c >= 0xc2 && c <= 0xdf) len = 2;
        else if (c >= 0xe0 && c <= 0xef) len = 3;
        else if (c >= 0xf0 && c <= 0xf4) len = 4;
        if (len == 0 || i + len > s.size()) return false;
        std::uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
        for (std::size_t k = 1; k < len; ++k) {
            const auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) return false;
            cp = cp << 6 | (cc & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

// Lines of a CRLF text (which must end in CRLF), without their CRLF.
std::vector<std::string_view> lines_of(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    while (pos < s.size()) {
        const std::size_t end = s.find("\r\n", pos);
        CHECK(end != std::string_view::npos);
        out.push_back(s.substr(pos, end - pos));
        pos = end + 2;
    }
    return out;
}

struct Field {
    std::string name;   // as written
    std::string value;  // unfolded (CRLF removed), leading whitespace kept
};

// A header section (no empty line inside): every line a field start or a continuation.
std::vector<Field> parse_header(const std::vector<std::string_view>& lines, std::size_t width) {
    std::vector<Field> out;
    for (std::string_view l : lines) {
        CHECK(!l.empty() && l.size() <= width);
        if (l[0] == ' ' || l[0] == '\t') {
            CHECK(!out.empty());
            CHECK(l.find_first_not_of(" \t") != std::string_view::npos);  // no whitespace-only line
            out.back().value += l;
            continue;
        }
        const std::size_t colon = l.find(':');
        CHECK(colon != std::string_view::npos && colon > 0);
        for (char c : l.substr(0, colon)) CHECK(c > 0x20 && c < 0x7f);
        out.push_back({std::string(l.substr(0, colon)), std::string(l.substr(colon + 1))});
    }
    return out;
}

std::size_t count(const std::vector<Field>& fields, std::string_view name) {
    return static_cast<std::size_t>(
        std::count_if(fields.begin(), fields.end(), [&](const Field& f) { return f.name == name; }));
}

const Field* find(const std::vector<Field>& fields, std::string_view name) {
    for (const Field& f : fields)
        if (f.name == name) return &f;
    return nullptr;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool valid_status(std::string_view s, char cls) {
    if (s.size() < 5 || s[0] != cls || s[1] != '.') return false;
    std::size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        const std::size_t start = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        if (i == start || i - start > 3) return false;
        if (part == 0) {
            if (i >= s.size() || s[i] != '.') return false;
            ++i;
        }
    }
    return i == s.size();
}

bool bchar(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           std::string_view("'()+_,-./:=?").find(c) != std::string_view::npos;
}

// One MIME part: header section, empty line, body. Returns the body's lines.
std::vector<std::string_view> check_part(const std::vector<std::string_view>& lines, bool intl, int index,
                                         bool& seven_bit) {
    const auto blank = std::find(lines.begin(), lines.end(), std::string_view{});
    CHECK(blank != lines.end());
    const auto fields = parse_header({lines.begin(), blank}, 78);
    CHECK(count(fields, "Content-Type") == 1 && count(fields, "Content-Transfer-Encoding") == 1);
    const std::string_view type = trim(find(fields, "Content-Type")->value);
    const std::string_view cte = trim(find(fields, "Content-Transfer-Encoding")->value);
    CHECK(cte == "7bit" || cte == "8bit");
    seven_bit = cte == "7bit";
    static constexpr std::string_view kTypes[2][3] = {
        {"text/plain; charset=us-ascii", "message/delivery-status", "text/rfc822-headers"},
        {"text/plain; charset=utf-8", "message/global-delivery-status", "message/global-headers"}};
    CHECK(type == kTypes[intl ? 1 : 0][index]);
    std::vector<std::string_view> body(blank + 1, lines.end());
    // The part's content ends before the CRLF that precedes the next delimiter.
    CHECK(!body.empty() && body.back().empty());
    body.pop_back();
    for (std::string_view l : body) {
        if (seven_bit) CHECK(!has_8bit(l));
    }
    return body;
}

std::chrono::system_clock::time_point at(std::chrono::system_clock::duration d) {
    return std::chrono::system_clock::time_point(d);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2 || size > 64 * 1024) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    std::vector<std::string_view> fields;
    std::string_view rest = in.substr(2);
    while (true) {
        const std::size_t cut = rest.find('\xff');
        fields.push_back(rest.substr(0, cut));
        if (cut == std::string_view::npos) break;
        rest.remove_prefix(cut + 1);
    }

    const std::uint8_t flags = data[0];
    const std::uint8_t remote_bits = data[1];
    DsnInput dsn;
    dsn.reporting_host = "relay.example.test";
    dsn.queue_id = std::string(kQueueId);
    dsn.kind = (flags & 1) ? DsnKind::delay : DsnKind::failure;
    dsn.international = (flags & 2) != 0;
    const auto shift = std::chrono::weeks(flags >> 4);
    dsn.arrival = at(1'795'437'654s + shift);  // 2026-11-23
    dsn.now = dsn.arrival + 3 * 24h + 17min;
    dsn.retry_until = dsn.arrival + 5 * 24h;
    dsn.envelope_sender = std::string(fields[0]);
    if (fields.size() > 1) dsn.original_headers = std::string(fields[1]);
    for (std::size_t i = 2; i < fields.size() && dsn.recipients.size() < 8; i += 4) {
        DsnRecipient r;
        r.address = std::string(fields[i]);
        if (i + 1 < fields.size()) r.status = std::string(fields[i + 1]);
        if (i + 2 < fields.size()) r.diagnostic = std::string(fields[i + 2]);
        if (i + 3 < fields.size() && !fields[i + 3].empty()) r.remote_host = std::string(fields[i + 3]);
        r.remote = (remote_bits >> dsn.recipients.size() & 1) != 0;
        r.last_attempt = dsn.now - std::chrono::minutes(7 * dsn.recipients.size());
        dsn.recipients.push_back(std::move(r));
    }

    const auto out = build_dsn(dsn);
    const bool null_sender = dsn.envelope_sender.empty() || dsn.envelope_sender == "<>";
    CHECK(out.has_value() == (!null_sender && !dsn.recipients.empty()));
    if (!out) return 0;
    const std::string& m = *out;
    const bool intl = dsn.international;

    // Line ends, NUL, line length.
    CHECK(m.ends_with("\r\n") && m.find('\0') == std::string::npos);
    for (std::size_t i = 0; i < m.size(); ++i) {
        if (m[i] == '\r') CHECK(i + 1 < m.size() && m[i + 1] == '\n');
        if (m[i] == '\n') CHECK(i > 0 && m[i - 1] == '\r');
    }
    const auto lines = lines_of(m);
    for (std::string_view l : lines) CHECK(l.size() <= 998);

    // The header section.
    const auto blank = std::find(lines.begin(), lines.end(), std::string_view{});
    CHECK(blank != lines.end());
    const auto header = parse_header({lines.begin(), blank}, 78);
    for (std::string_view name :
         {"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Auto-Submitted", "Content-Type"})
        CHECK(count(header, name) == 1);
    std::string header_text;
    for (auto it = lines.begin(); it != blank; ++it) header_text.append(*it).append("\r\n");
    if (!intl) CHECK(!has_8bit(header_text));
    CHECK(valid_utf8(header_text));

    // The boundary, and the parts it encloses.
    const std::string_view type = find(header, "Content-Type")->value;
    CHECK(trim(type).starts_with("multipart/report; report-type=delivery-status;"));
    const std::size_t b = type.find("boundary=\"");
    CHECK(b != std::string_view::npos);
    const std::size_t b_end = type.find('"', b + 10);
    CHECK(b_end != std::string_view::npos && trim(type.substr(b_end + 1)).empty());
    const std::string boundary(type.substr(b + 10, b_end - b - 10));
    CHECK(!boundary.empty() && boundary.size() <= 70 && boundary.back() != ' ');
    for (char c : boundary) CHECK(bchar(c) || c == ' ');
    // In the body only in the delimiter lines (the header may quote it: a sender's To).
    const std::string_view message_body = std::string_view(m).substr(header_text.size() + 2);
    std::size_t occurrences = 0;
    for (std::size_t pos = message_body.find(boundary); pos != std::string::npos;
         pos = message_body.find(boundary, pos + 1))
        ++occurrences;
    CHECK(occurrences == 4);

    std::vector<std::size_t> delimiters;
    for (std::size_t i = static_cast<std::size_t>(blank - lines.begin()) + 1; i < lines.size(); ++i) {
        if (lines[i] == "--" + boundary || lines[i] == "--" + boundary + "--") delimiters.push_back(i);
    }
    CHECK(delimiters.size() == 4 && lines[delimiters[3]] == "--" + boundary + "--");
    CHECK(delimiters[3] + 1 == lines.size());
    std::string part3_text;
    for (int p = 0; p < 3; ++p) {
        CHECK(lines[delimiters[p]] == "--" + boundary);
        const std::vector<std::string_view> part(lines.begin() + static_cast<std::ptrdiff_t>(delimiters[p]) + 1,
                                                 lines.begin() + static_cast<std::ptrdiff_t>(delimiters[p + 1]));
        bool seven_bit = false;
        const auto body = check_part(part, intl, p, seven_bit);
        std::string text;
        for (std::string_view l : body) text.append(l).append("\r\n");
        if (p < 2) {
            // Our own text: lines of at most 78 octets, 7-bit unless international.
            for (std::string_view l : body) CHECK(l.size() <= 78);
            if (!intl) CHECK(seven_bit && !has_8bit(text));
            CHECK(valid_utf8(text));
        }
        if (p == 1) {
            // Groups separated by empty lines: per message, then one per recipient.
            std::vector<std::vector<std::string_view>> groups(1);
            for (std::string_view l : body) {
                if (l.empty()) groups.emplace_back();
                else groups.back().push_back(l);
            }
            CHECK(groups.size() == 1 + dsn.recipients.size());
            const auto per_message = parse_header(groups[0], 78);
            CHECK(count(per_message, "Reporting-MTA") == 1);
            const bool failure = dsn.kind == DsnKind::failure;
            for (std::size_t g = 1; g < groups.size(); ++g) {
                const auto f = parse_header(groups[g], 78);
                CHECK(count(f, "Final-Recipient") == 1 && count(f, "Action") == 1 && count(f, "Status") == 1);
                CHECK(trim(find(f, "Action")->value) == (failure ? "failed" : "delayed"));
                CHECK(valid_status(trim(find(f, "Status")->value), failure ? '5' : '4'));
                const std::string_view rcpt = trim(find(f, "Final-Recipient")->value);
                CHECK(rcpt.starts_with("rfc822;") || (intl && rcpt.starts_with("utf-8;")));
            }
        }
        if (p == 2) {
            for (std::string_view l : body) CHECK(!l.empty());
            part3_text = text;
        }
    }
    CHECK(dsn_needs_8bit(m) == has_8bit(m));
    if (!intl) {
        CHECK(dsn_needs_8bit(m) == has_8bit(part3_text));
        if (!has_8bit(dsn.original_headers)) CHECK(!dsn_needs_8bit(m));
    }
    return 0;
}
