// relay/smtp/client.cpp — the client side of SMTP with no I/O (see client.hpp).
#include "relay/smtp/client.hpp"

#include <algorithm>
#include <charconv>

#include "relay/smtp/sasl.hpp"

namespace signpost::smtp {
namespace {

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnon-virtual-dtor"
class ClientCategory final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "signpost.smtp.client"; }

    std::string message(int ev) const override {
        switch (static_cast<ClientErrc>(ev)) {
        case ClientErrc::reply_line_too_long: return "reply line longer than 2048 octets";
        case ClientErrc::reply_too_many_lines: return "reply of more than 100 lines";
        case ClientErrc::reply_syntax: return "malformed reply line";
        case ClientErrc::reply_code_mismatch: return "reply lines with different codes";
        case ClientErrc::invalid_argument: return "invalid command argument";
        }
        return "unknown smtp client error " + std::to_string(ev);
    }
};
#pragma GCC diagnostic pop

bool is_digit(char c) { return c >= '0' && c <= '9'; }

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

std::string to_upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = upper(c);
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return upper(x) == upper(y); });
}

bool has_control(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
    });
}

// Length of an RFC 3463 status code "class.subject.detail" at the start of `text`
// (class 2/4/5, subject and detail 1-3 digits), followed by a space or the end; 0 if none.
std::size_t enhanced_prefix(std::string_view text) {
    if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.') return 0;
    std::size_t i = 2;
    for (int part = 0; part < 2; ++part) {
        std::size_t digits = 0;
        while (i < text.size() && is_digit(text[i]) && digits < 4) {
            ++i;
            ++digits;
        }
        if (digits == 0 || digits > 3) return 0;
        if (part == 0) {
            if (i >= text.size() || text[i] != '.') return 0;
            ++i;
        }
    }
    if (i < text.size() && text[i] != ' ') return 0;
    return i;
}

// Splits "KEYWORD param param" on spaces (runs of spaces count as one).
std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && line[i] == ' ') ++i;
        std::size_t start = i;
        while (i < line.size() && line[i] != ' ') ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

Result<std::string> command_with_name(std::string_view verb, std::string_view name) {
    if (name.empty() || has_control(name) || name.find(' ') != std::string_view::npos)
        return make_error_code(ClientErrc::invalid_argument);
    std::string out(verb);
    out += ' ';
    out += name;
    out += "\r\n";
    return out;
}

}  // namespace

const boost::system::error_category& client_error_category() noexcept {
    static const ClientCategory category;
    return category;
}

boost::system::error_code make_error_code(ClientErrc e) noexcept {
    return {static_cast<int>(e), client_error_category()};
}

// --- replies ------------------------------------------------------------------------------

void ReplyParser::fail(ClientErrc e) {
    error_ = make_error_code(e);
    complete_ = true;
    line_.clear();
}

std::size_t ReplyParser::feed(std::string_view in) {
    std::size_t used = 0;
    while (!complete_ && used < in.size()) {
        const std::size_t lf = in.find('\n', used);
        if (lf == std::string_view::npos) {
            line_.append(in.substr(used));
            used = in.size();
            // Even the line end would not fit any more.
            if (line_.size() >= max_reply_line) fail(ClientErrc::reply_line_too_long);
            break;
        }
        line_.append(in.substr(used, lf - used));
        used = lf + 1;
        if (line_.size() + 1 > max_reply_line) {
            fail(ClientErrc::reply_line_too_long);
            break;
        }
        finish_line();
    }
    return used;
}

void ReplyParser::finish_line() {
    std::string_view line(line_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() < 3 || line[0] < '2' || line[0] > '5' || !is_digit(line[1]) || !is_digit(line[2]) ||
        (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
        fail(ClientErrc::reply_syntax);
        return;
    }
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    const bool last = line.size() == 3 || line[3] == ' ';
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view{};
    if (reply_.lines.empty()) {
        reply_.code = code;
        // RFC 2034 §4 / RFC 3463 §2: the class must be the reply code's first digit.
        if (std::size_t n = enhanced_prefix(text); n > 0 && text[0] == line[0]) {
            reply_.enhanced.assign(text.substr(0, n));
            text.remove_prefix(std::min(text.size(), n + 1));
        }
    } else {
        if (code != reply_.code) {
            fail(ClientErrc::reply_code_mismatch);
            return;
        }
        if (!reply_.enhanced.empty() && text.substr(0, reply_.enhanced.size()) == reply_.enhanced &&
            (text.size() == reply_.enhanced.size() || text[reply_.enhanced.size()] == ' ')) {
            text.remove_prefix(std::min(text.size(), reply_.enhanced.size() + 1));
        }
    }
    if (reply_.lines.size() >= max_reply_lines) {
        fail(ClientErrc::reply_too_many_lines);
        return;
    }
    reply_.lines.emplace_back(text);
    line_.clear();
    if (last) complete_ = true;
}

Result<Reply> ReplyParser::take() {
    if (error_) return error_;
    Reply out = std::move(reply_);
    reply_ = Reply{};
    complete_ = false;
    return out;
}

// --- EHLO ---------------------------------------------------------------------------------

bool Capabilities::has_auth(std::string_view mechanism) const {
    return std::any_of(auth.begin(), auth.end(), [&](const std::string& m) { return iequals(m, mechanism); });
}

Capabilities parse_ehlo(const Reply& reply) {
    Capabilities caps;
    for (std::size_t i = 1; i < reply.lines.size(); ++i) {
        auto w = words(reply.lines[i]);
        if (w.empty()) continue;
        std::string keyword = to_upper(w[0]);
        if (keyword.rfind("AUTH=", 0) == 0) {  // "AUTH=PLAIN LOGIN" (pre-RFC 4954 servers)
            w[0] = std::string_view(w[0]).substr(5);
            keyword = "AUTH";
        } else {
            w.erase(w.begin());
        }
        if (keyword == "PIPELINING") caps.pipelining = true;
        else if (keyword == "8BITMIME") caps.eightbitmime = true;
        else if (keyword == "SMTPUTF8") caps.smtputf8 = true;
        else if (keyword == "STARTTLS") caps.starttls = true;
        else if (keyword == "ENHANCEDSTATUSCODES") caps.enhanced_status_codes = true;
        else if (keyword == "CHUNKING") caps.chunking = true;
        else if (keyword == "REQUIRETLS") caps.requiretls = true;
        else if (keyword == "SIZE") {
            caps.size = true;
            if (!w.empty()) {
                std::uint64_t n = 0;
                auto [p, ec] = std::from_chars(w[0].data(), w[0].data() + w[0].size(), n);
                if (ec == std::errc{} && p == w[0].data() + w[0].size()) caps.size_limit = n;
            }
        } else if (keyword == "AUTH") {
            for (auto m : w) {
                if (m.empty()) continue;
                std::string mech = to_upper(m);
                if (!caps.has_auth(mech)) caps.auth.push_back(std::move(mech));
            }
        }
    }
    return caps;
}

// --- commands -----------------------------------------------------------------------------

Result<std::string> format_ehlo(std::string_view name) { return command_with_name("EHLO", name); }
Result<std::string> format_helo(std::string_view name) { return command_with_name("HELO", name); }

Result<std::string> format_mail_from(std::string_view reverse_path, const Capabilities& caps,
                                     std::uint64_t message_size, bool body_8bit, bool smtputf8, bool requiretls) {
    if (has_control(reverse_path)) return make_error_code(ClientErrc::invalid_argument);
    std::string out = "MAIL FROM:<";
    out += reverse_path;
    out += '>';
    if (caps.size) out += " SIZE=" + std::to_string(message_size);
    if (body_8bit && caps.eightbitmime) out += " BODY=8BITMIME";
    if (smtputf8 && caps.smtputf8) out += " SMTPUTF8";
    if (requiretls && caps.requiretls) out += " REQUIRETLS";
    out += "\r\n";
    return out;
}

Result<std::string> format_rcpt_to(std::string_view forward_path) {
    if (forward_path.empty() || has_control(forward_path)) return make_error_code(ClientErrc::invalid_argument);
    std::string out = "RCPT TO:<";
    out += forward_path;
    out += ">\r\n";
    return out;
}

Result<std::string> format_auth_plain(std::string_view user, std::string_view password) {
    if (user.empty() || password.empty() || user.find('\0') != std::string_view::npos ||
        password.find('\0') != std::string_view::npos)
        return make_error_code(ClientErrc::invalid_argument);
    std::string message;
    message.reserve(user.size() + password.size() + 2);
    message += '\0';
    message += user;
    message += '\0';
    message += password;
    std::string out = "AUTH PLAIN " + encode_base64(message) + "\r\n";
    secure_clear(message);
    return out;
}

std::string auth_login_response(std::string_view value) { return encode_base64(value) + "\r\n"; }

// --- DATA ---------------------------------------------------------------------------------

void DotStuffer::feed(std::string_view in, std::string& out) {
    if (in.empty()) return;
    out.reserve(out.size() + in.size() + 16);
    std::size_t start = 0;  // first octet not yet copied
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (line_start_ && c == '.') {
            out.append(in.substr(start, i - start));
            out += '.';  // the extra dot; the original one is copied with the next span
            start = i;
        }
        line_start_ = c == '\n';
    }
    out.append(in.substr(start));
    before_last_ = in.size() >= 2 ? in[in.size() - 2] : last_;
    last_ = in.back();
    octets_ += in.size();
}

void DotStuffer::finish(std::string& out) {
    if (octets_ > 0 && !(before_last_ == '\r' && last_ == '\n')) out += "\r\n";
    out += ".\r\n";
}

}  // namespace signpost::smtp
