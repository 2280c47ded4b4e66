// tests/fuzz/smtp/fuzz_reply.cpp — libFuzzer target for the SMTP client's reply reader
// (ReplyParser) and EHLO keyword reader (parse_ehlo) of relay/smtp/client.hpp: what a next
// hop or an MX host sends is untrusted.
// Covers: relay/smtp/client.cpp
//
// Input: the first octet's low 3 bits give n, the number of chunk-size octets that follow
// (n = 0: the stream is fed one octet at a time); the rest is the server's byte stream. One
// parser gets it all at once, another in chunks of the sizes given, cycled (a size of 0
// feeds an empty chunk). Replies are taken as they complete, as the session does.
// Invariants:
//   - any split gives the same replies at the same stream offsets (and the same error: where
//     a line too long is noticed depends on the split); an empty feed uses nothing; a feed
//     that leaves no reply complete uses the whole chunk; after an error, take() repeats it
//     and feed() uses nothing;
//   - a reply has a code 200..599 (client.hpp: "a 3-digit code 2xx..5xx"), 1..100 lines,
//     no LF in a line; its enhanced code is "" or an RFC 3463 "class.subject.detail" whose
//     class is the code's first digit; read back against the raw octets, every line of the
//     reply starts with the same 3-digit code, all but the last have "-" after it, and each
//     line's text is the raw text with at most the enhanced code (and one space) removed;
//   - an error is justified by the raw octets: reply_syntax by a malformed line,
//     reply_code_mismatch by a line with another code, reply_line_too_long by a line over
//     2048 octets, reply_too_many_lines by a 101st line;
//   - parse_ehlo (on every parsed reply, and on a Reply made of the raw input lines) never
//     crashes; its flags are exactly the keywords present on lines 2.. (case-insensitive);
//     size_limit is the number of the last SIZE line whose value reads as a number, and 0
//     when none does (a SIZE value that is not a number gives no limit); AUTH mechanisms
//     (also from "AUTH=") are non-empty, upper case, without duplicates.
// Seeds: corpus/fuzz_reply/ — greetings, EHLO replies and errors as Postfix, Exim and Gmail
// send them (multi-line, with and without enhanced codes), pipelined replies, the old
// "AUTH=" form, bare LF lines, and broken replies (mismatched codes, long lines).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/smtp/client.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using namespace signpost::smtp;

// One take(): the reply or the error, and the stream offset just after it.
struct Taken {
    std::optional<Reply> reply;
    boost::system::error_code error;
    std::size_t end = 0;
};

// After an error the connection is dropped, so where in the stream it was noticed does not
// matter (a line too long shows when the limit is reached, which depends on the split).
bool same(const Taken& a, const Taken& b) {
    if (a.error != b.error || a.reply.has_value() != b.reply.has_value()) return false;
    if (!a.reply) return true;
    if (a.end != b.end) return false;
    return a.reply->code == b.reply->code && a.reply->enhanced == b.reply->enhanced && a.reply->lines == b.reply->lines;
}

Taken take(ReplyParser& p, std::size_t end) {
    CHECK(p.complete());
    Taken t;
    t.end = end;
    auto r = p.take();
    if (r) {
        t.reply = std::move(*r);
    } else {
        t.error = r.error();
        CHECK(&t.error.category() == &client_error_category());
        // After an error the parser stays failed.
        CHECK(p.complete() && p.feed("250 ok\r\n") == 0);
        auto again = p.take();
        CHECK(!again && again.error() == t.error);
    }
    return t;
}

std::vector<Taken> all_at_once(std::string_view stream) {
    std::vector<Taken> out;
    ReplyParser p;
    std::size_t pos = 0;
    while (true) {
        const std::size_t used = p.feed(stream.substr(pos));
        CHECK(used <= stream.size() - pos);
        pos += used;
        if (!p.complete()) {
            CHECK(pos == stream.size());
            break;
        }
        out.push_back(take(p, pos));
        if (out.back().error) break;
    }
    return out;
}

std::vector<Taken> in_chunks(std::string_view stream, std::string_view sizes) {
    std::vector<Taken> out;
    ReplyParser p;
    std::size_t pos = 0, next_size = 0;
    bool any_nonzero = sizes.empty();
    for (char c : sizes) any_nonzero |= c != 0;
    while (pos < stream.size()) {
        std::size_t n = sizes.empty() ? 1 : static_cast<unsigned char>(sizes[next_size++ % sizes.size()]);
        if (!any_nonzero) n = 1;
        std::string_view chunk = stream.substr(pos, n);
        if (chunk.empty()) CHECK(p.feed(chunk) == 0);
        while (!chunk.empty()) {
            const std::size_t used = p.feed(chunk);
            CHECK(used <= chunk.size());
            pos += used;
            chunk.remove_prefix(used);
            if (!p.complete()) {
                CHECK(chunk.empty());
                break;
            }
            out.push_back(take(p, pos));
            if (out.back().error) return out;
        }
    }
    return out;
}

bool digit(char c) { return c >= '0' && c <= '9'; }

// RFC 3463 §2 "class.subject.detail": class 2, 4 or 5, subject and detail 1-3 digits.
bool valid_enhanced(std::string_view s) {
    if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return false;
    std::size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        const std::size_t start = i;
        while (i < s.size() && digit(s[i])) ++i;
        if (i == start || i - start > 3) return false;
        if (part == 0) {
            if (i >= s.size() || s[i] != '.') return false;
            ++i;
        }
    }
    return i == s.size();
}

// The raw lines of [begin, end) of the stream, each without its LF and one CR before it;
// `unterminated` is set when the last one has no LF.
std::vector<std::string_view> raw_lines(std::string_view seg, bool& unterminated) {
    std::vector<std::string_view> out;
    unterminated = false;
    std::size_t pos = 0;
    while (pos < seg.size()) {
        std::size_t lf = seg.find('\n', pos);
        if (lf == std::string_view::npos) {
            out.push_back(seg.substr(pos));
            unterminated = true;
            break;
        }
        std::string_view line = seg.substr(pos, lf - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        out.push_back(line);
        pos = lf + 1;
    }
    return out;
}

bool well_formed_line(std::string_view l) {
    return l.size() >= 3 && l[0] >= '2' && l[0] <= '5' && digit(l[1]) && digit(l[2]) &&
           (l.size() == 3 || l[3] == ' ' || l[3] == '-');
}

void check_reply(const Reply& r, std::string_view seg) {
    CHECK(r.code >= 200 && r.code <= 599);
    CHECK(!r.lines.empty() && r.lines.size() <= max_reply_lines);
    for (const std::string& l : r.lines) CHECK(l.find('\n') == std::string::npos && l.size() < max_reply_line);
    if (!r.enhanced.empty()) CHECK(valid_enhanced(r.enhanced) && r.enhanced[0] - '0' == r.code / 100);

    bool unterminated = false;
    const auto raw = raw_lines(seg, unterminated);
    CHECK(!unterminated && raw.size() == r.lines.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const std::string_view l = raw[i];
        CHECK(well_formed_line(l));
        CHECK((l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0') == r.code);
        const bool last = i + 1 == raw.size();
        CHECK(last ? (l.size() == 3 || l[3] == ' ') : (l.size() > 3 && l[3] == '-'));
        const std::string_view text = l.size() > 4 ? l.substr(4) : std::string_view{};
        const std::string& got = r.lines[i];
        CHECK(got.size() <= text.size() && text.ends_with(got));
        const std::string_view removed = text.substr(0, text.size() - got.size());
        if (!removed.empty()) {
            CHECK(!r.enhanced.empty());
            CHECK(removed == r.enhanced || removed == r.enhanced + " ");
        }
        if (i == 0 && !r.enhanced.empty()) CHECK(text.starts_with(r.enhanced));
    }
}

void check_error(const boost::system::error_code& e, std::string_view seg) {
    bool unterminated = false;
    const auto raw = raw_lines(seg, unterminated);
    CHECK(!raw.empty());
    const std::string_view last = raw.back();
    if (e == make_error_code(ClientErrc::reply_syntax)) {
        CHECK(!unterminated && !well_formed_line(last));
    } else if (e == make_error_code(ClientErrc::reply_code_mismatch)) {
        CHECK(!unterminated && raw.size() >= 2 && well_formed_line(last) && last.substr(0, 3) != raw[0].substr(0, 3));
    } else if (e == make_error_code(ClientErrc::reply_line_too_long)) {
        // The last line's octets (CR included, LF not): over the limit with its LF, or, when
        // the input ends inside it, already so long that not even the LF would fit.
        const bool terminated = seg.ends_with('\n');
        const std::string_view body = terminated ? seg.substr(0, seg.size() - 1) : seg;
        const std::size_t prev = body.rfind('\n');
        const std::size_t octets = body.size() - (prev == std::string_view::npos ? 0 : prev + 1);
        CHECK(terminated ? octets + 1 > max_reply_line : octets >= max_reply_line);
    } else {
        CHECK(e == make_error_code(ClientErrc::reply_too_many_lines));
        CHECK(!unterminated && raw.size() == max_reply_lines + 1);
    }
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
}

std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && line[i] == ' ') ++i;
        const std::size_t start = i;
        while (i < line.size() && line[i] != ' ') ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

// An unsigned decimal number that fits 64 bits, nothing else.
std::optional<std::uint64_t> number(std::string_view s) {
    if (s.empty()) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : s) {
        if (!digit(c)) return std::nullopt;
        const auto d = static_cast<std::uint64_t>(c - '0');
        if (v > (UINT64_MAX - d) / 10) return std::nullopt;
        v = v * 10 + d;
    }
    return v;
}

void check_ehlo(const Reply& r) {
    const Capabilities caps = parse_ehlo(r);
    bool pipelining = false, size = false, eightbit = false, utf8 = false, tls = false, esc = false, chunking = false;
    std::uint64_t limit = 0;
    std::vector<std::string> mechanisms;
    for (std::size_t i = 1; i < r.lines.size(); ++i) {
        auto w = split_words(r.lines[i]);
        if (w.empty()) continue;
        std::string key = upper(w[0]);
        if (key.starts_with("AUTH=")) {
            w[0].remove_prefix(5);
            key = "AUTH";
        } else {
            w.erase(w.begin());
        }
        pipelining |= key == "PIPELINING";
        eightbit |= key == "8BITMIME";
        utf8 |= key == "SMTPUTF8";
        tls |= key == "STARTTLS";
        esc |= key == "ENHANCEDSTATUSCODES";
        chunking |= key == "CHUNKING";
        if (key == "SIZE") {
            size = true;
            if (!w.empty())
                if (const auto n = number(w[0])) limit = *n;
        }
        if (key == "AUTH") {
            for (auto m : w) {
                if (m.empty()) continue;
                const std::string u = upper(m);
                if (std::find(mechanisms.begin(), mechanisms.end(), u) == mechanisms.end()) mechanisms.push_back(u);
            }
        }
    }
    CHECK(caps.pipelining == pipelining && caps.size == size && caps.eightbitmime == eightbit);
    CHECK(caps.smtputf8 == utf8 && caps.starttls == tls && caps.enhanced_status_codes == esc);
    CHECK(caps.chunking == chunking);
    CHECK(caps.size_limit == limit);
    if (!size) CHECK(caps.size_limit == 0);
    CHECK(caps.auth == mechanisms);
    for (const std::string& m : caps.auth) {
        CHECK(!m.empty() && m == upper(m) && m.find(' ') == std::string::npos);
        CHECK(caps.has_auth(m));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0 || size > 64 * 1024) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const std::size_t n = std::min<std::size_t>(data[0] & 7, size - 1);
    const std::string_view sizes = in.substr(1, n);
    const std::string_view stream = in.substr(1 + n);

    const std::vector<Taken> whole = all_at_once(stream);
    const std::vector<Taken> chunked = in_chunks(stream, sizes);
    CHECK(whole.size() == chunked.size());
    for (std::size_t i = 0; i < whole.size(); ++i) CHECK(same(whole[i], chunked[i]));

    std::size_t begin = 0;
    for (const Taken& t : whole) {
        const std::string_view seg = stream.substr(begin, t.end - begin);
        if (t.reply) {
            check_reply(*t.reply, seg);
            check_ehlo(*t.reply);
        } else {
            check_error(t.error, seg);
        }
        begin = t.end;
    }

    // parse_ehlo takes any Reply: one made of the raw lines, whatever they hold.
    Reply raw;
    raw.code = 250;
    std::size_t pos = 0;
    while (pos <= stream.size() && raw.lines.size() < 1000) {
        const std::size_t lf = std::min(stream.find('\n', pos), stream.size());
        raw.lines.emplace_back(stream.substr(pos, lf - pos));
        pos = lf + 1;
    }
    check_ehlo(raw);
    return 0;
}
