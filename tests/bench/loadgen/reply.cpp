// tests/bench/loadgen/reply.cpp — SMTP reply scanning and parsing (see reply.hpp).
#include "reply.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace loadgen {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view strip_cr(std::string_view line) {
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    return line;
}

// "d.d{1,3}.d{1,3}" followed by a space or the end (RFC 3463 §2, RFC 2034 §4); the class
// digit must match the reply's first digit.
std::string enhanced_code(std::string_view text, int code) {
    std::size_t i = 0;
    auto digits = [&](std::size_t max) {
        std::size_t start = i;
        while (i < text.size() && is_digit(text[i]) && i - start < max)
            ++i;
        return i > start;
    };
    if (!digits(1) || text[0] - '0' != code / 100)
        return {};
    for (int part = 0; part < 2; ++part) {
        if (i >= text.size() || text[i] != '.')
            return {};
        ++i;
        if (!digits(3))
            return {};
    }
    if (i < text.size() && text[i] != ' ')
        return {};
    return std::string(text.substr(0, i));
}

std::string upper(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return out;
}

}  // namespace

std::string Reply::key() const {
    std::string k = std::to_string(code);
    if (!enhanced.empty())
        k += " " + enhanced;
    return k;
}

std::string Reply::summary() const {
    std::string s = std::to_string(code);
    if (!lines.empty() && !lines.front().empty())
        s += " " + lines.front();
    if (s.size() > 200)
        s.resize(200);
    return s;
}

Scan scan_reply(std::string_view in) {
    std::size_t pos = 0;
    for (std::size_t n = 0; n < kMaxReplyLines; ++n) {
        std::size_t lf = in.find('\n', pos);
        if (lf == std::string_view::npos)
            return {in.size() > kMaxReply ? ScanResult::malformed : ScanResult::incomplete, 0};
        if (lf + 1 > kMaxReply)
            return {ScanResult::malformed, 0};
        std::string_view line = strip_cr(in.substr(pos, lf - pos));
        if (line.size() < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]))
            return {ScanResult::malformed, 0};
        if (line.size() == 3 || line[3] == ' ')
            return {ScanResult::complete, lf + 1};
        if (line[3] != '-')
            return {ScanResult::malformed, 0};
        pos = lf + 1;
    }
    return {ScanResult::malformed, 0};
}

std::optional<Reply> parse_reply(std::string_view complete) {
    Reply r;
    std::size_t pos = 0;
    while (pos < complete.size()) {
        std::size_t lf = complete.find('\n', pos);
        if (lf == std::string_view::npos)
            return std::nullopt;
        std::string_view line = strip_cr(complete.substr(pos, lf - pos));
        pos = lf + 1;
        if (line.size() < 3)
            return std::nullopt;
        int code = 0;
        auto [end, ec] = std::from_chars(line.data(), line.data() + 3, code);
        if (ec != std::errc{} || end != line.data() + 3 || code < 100 || code > 599)
            return std::nullopt;
        if (r.lines.empty())
            r.code = code;
        else if (code != r.code)
            return std::nullopt;
        r.lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view{});
    }
    if (r.lines.empty())
        return std::nullopt;
    r.enhanced = enhanced_code(r.lines.back(), r.code);
    if (r.enhanced.empty())
        r.enhanced = enhanced_code(r.lines.front(), r.code);
    return r;
}

Capabilities parse_ehlo(const Reply& ehlo) {
    Capabilities caps;
    // The first line is the server's name and greeting text, not a keyword.
    for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
        std::string line = upper(ehlo.lines[i]);
        std::string_view rest = line;
        std::string_view keyword = rest.substr(0, rest.find(' '));
        rest.remove_prefix(keyword.size());
        if (keyword == "PIPELINING") {
            caps.pipelining = true;
        } else if (keyword == "CHUNKING") {
            caps.chunking = true;
        } else if (keyword == "STARTTLS") {
            caps.starttls = true;
        } else if (keyword == "SIZE") {
            caps.size = true;
            while (!rest.empty() && rest.front() == ' ')
                rest.remove_prefix(1);
            std::uint64_t limit = 0;
            auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), limit);
            if (ec == std::errc{})
                caps.size_limit = limit;
        } else if (keyword == "AUTH") {
            // "AUTH PLAIN LOGIN": look for PLAIN as a whole word.
            while (!rest.empty()) {
                while (!rest.empty() && rest.front() == ' ')
                    rest.remove_prefix(1);
                std::string_view mech = rest.substr(0, rest.find(' '));
                if (mech == "PLAIN")
                    caps.auth_plain = true;
                rest.remove_prefix(mech.size());
            }
        }
    }
    return caps;
}

}  // namespace loadgen
