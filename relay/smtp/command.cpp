// relay/smtp/command.cpp — see command.hpp. Grammar references are RFC 5321 §4.1.2 unless
// said otherwise; RFC 6531 §3.3 extends atext, qtextSMTP, sub-domain and esmtp-value with
// UTF8-non-ascii.
#include "relay/smtp/command.hpp"

#include <array>
#include <limits>
#include <utility>

namespace signpost::smtp {
namespace {

constexpr std::size_t kMaxPath = 256;       // §4.5.3.1.3, brackets included
constexpr std::size_t kMaxLocalPart = 64;   // §4.5.3.1.1
constexpr std::size_t kMaxDomain = 255;     // §4.5.3.1.2
constexpr std::size_t kMaxLabel = 63;       // RFC 1035 §2.3.4
constexpr std::size_t kMaxDigits = 20;      // RFC 1870 size-value, RFC 3030 chunk-size

bool is_alpha(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_hex(unsigned char c) {
    return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}
bool is_8bit(unsigned char c) { return c >= 0x80; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// atext (RFC 5322 §3.2.3): ALPHA / DIGIT / "!#$%&'*+-/=?^_`{|}~"
bool is_atext(unsigned char c) {
    if (is_alpha(c) || is_digit(c)) return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '/': case '=': case '?': case '^': case '_': case '`': case '{':
    case '|': case '}': case '~':
        return true;
    default:
        return false;
    }
}

// Dot-string = Atom *("." Atom); Atom = 1*atext (atext =/ UTF8-non-ascii).
bool valid_dot_string(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    char prev = 0;
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (ch == '.') {
            if (prev == '.') return false;
        } else if (!is_atext(c) && !is_8bit(c)) {
            return false;
        }
        prev = ch;
    }
    return true;
}

// Quoted-string = DQUOTE *QcontentSMTP DQUOTE; qtextSMTP = %d32-33 / %d35-91 / %d93-126;
// quoted-pairSMTP = %d92 %d32-126. Returns the length of the quoted string at the start of
// `s` (quotes included), or 0 when there is none.
std::size_t quoted_string_length(std::string_view s) {
    if (s.empty() || s[0] != '"') return 0;
    for (std::size_t i = 1; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"') return i + 1;
        if (c == '\\') {
            if (i + 1 >= s.size()) return 0;
            const auto q = static_cast<unsigned char>(s[i + 1]);
            if (q < 32 || q > 126) return 0;
            ++i;
        } else if (!((c >= 32 && c <= 126) || is_8bit(c))) {
            return 0;
        }
    }
    return 0;
}

// Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str] (or a U-label:
// here any UTF-8 octets count as letters; the whole path is UTF-8 checked separately).
Result<void> check_domain(std::string_view d) {
    if (d.empty()) return Errc::path_syntax;
    if (d.size() > kMaxDomain) return Errc::domain_too_long;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = d.find('.', start);
        const std::string_view label =
            d.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty()) return Errc::path_syntax;
        if (label.size() > kMaxLabel) return Errc::domain_too_long;
        for (char ch : label) {
            const auto c = static_cast<unsigned char>(ch);
            if (!is_alpha(c) && !is_digit(c) && c != '-' && !is_8bit(c)) return Errc::path_syntax;
        }
        if (label.front() == '-' || label.back() == '-') return Errc::path_syntax;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return {};
}

// IPv4-address-literal = Snum 3("." Snum); Snum = 1*3DIGIT representing 0-255.
bool valid_ipv4(std::string_view s) {
    int parts = 0;
    std::size_t i = 0;
    while (true) {
        std::size_t digits = 0;
        int value = 0;
        while (i < s.size() && is_digit(static_cast<unsigned char>(s[i])) && digits < 4) {
            value = value * 10 + (s[i] - '0');
            ++digits;
            ++i;
        }
        if (digits == 0 || digits > 3 || value > 255) return false;
        ++parts;
        if (i == s.size()) break;
        if (s[i] != '.' || parts == 4) return false;
        ++i;
    }
    return parts == 4;
}

// Counts the IPv6-hex groups of a ":"-separated run; -1 when one is not 1*4HEXDIG.
int hex_groups(std::string_view s) {
    if (s.empty()) return 0;
    int groups = 0;
    std::size_t start = 0;
    while (true) {
        const std::size_t colon = s.find(':', start);
        const std::string_view g =
            s.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start);
        if (g.empty() || g.size() > 4) return -1;
        for (char c : g) {
            if (!is_hex(static_cast<unsigned char>(c))) return -1;
        }
        ++groups;
        if (colon == std::string_view::npos) break;
        start = colon + 1;
    }
    return groups;
}

// IPv6-addr = IPv6-full / IPv6-comp / IPv6v4-full / IPv6v4-comp (§4.1.3).
bool valid_ipv6(std::string_view s) {
    // An IPv4 tail: the part after the last ':' contains a '.'.
    bool v4 = false;
    const std::size_t last_colon = s.rfind(':');
    if (last_colon == std::string_view::npos) return false;
    if (s.find('.', last_colon) != std::string_view::npos) {
        if (!valid_ipv4(s.substr(last_colon + 1))) return false;
        v4 = true;
        // Keep the ':' before the IPv4 part only when it belongs to a "::".
        if (last_colon > 0 && s[last_colon - 1] == ':') {
            s = s.substr(0, last_colon + 1);
        } else {
            s = s.substr(0, last_colon);
        }
    }
    const int max_groups = v4 ? 6 : 8;
    const std::size_t dc = s.find("::");
    if (dc == std::string_view::npos) {
        return hex_groups(s) == max_groups;
    }
    if (s.find("::", dc + 1) != std::string_view::npos) return false;
    const int left = hex_groups(s.substr(0, dc));
    const int right = hex_groups(s.substr(dc + 2));
    if (left < 0 || right < 0) return false;
    // "::" stands for at least two groups, so the written ones are at most max - 2.
    return left + right <= max_groups - 2;
}

// address-literal = "[" ( IPv4-address-literal / IPv6-address-literal ) "]"
Result<void> check_address_literal(std::string_view lit) {
    if (lit.size() < 2 || lit.front() != '[' || lit.back() != ']') {
        return Errc::address_literal_syntax;
    }
    if (lit.size() > kMaxDomain) return Errc::domain_too_long;
    const std::string_view inner = lit.substr(1, lit.size() - 2);
    if (inner.size() > 5 && iequals(inner.substr(0, 5), "IPv6:")) {
        return valid_ipv6(inner.substr(5)) ? Result<void>{} : Errc::address_literal_syntax;
    }
    return valid_ipv4(inner) ? Result<void>{} : Errc::address_literal_syntax;
}

// A-d-l = At-domain *( "," At-domain ); At-domain = "@" Domain
Result<void> check_source_route(std::string_view adl) {
    std::size_t start = 0;
    while (true) {
        const std::size_t comma = adl.find(',', start);
        const std::string_view at_domain =
            adl.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        if (at_domain.size() < 2 || at_domain[0] != '@') return Errc::path_syntax;
        if (auto r = check_domain(at_domain.substr(1)); !r) return r.error();
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return {};
}

// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
bool valid_keyword(std::string_view k) {
    if (k.empty()) return false;
    const auto first = static_cast<unsigned char>(k[0]);
    if (!is_alpha(first) && !is_digit(first)) return false;
    for (char ch : k) {
        const auto c = static_cast<unsigned char>(ch);
        if (!is_alpha(c) && !is_digit(c) && c != '-') return false;
    }
    return true;
}

// esmtp-value = 1*(%d33-60 / %d62-126) (RFC 6531 adds UTF8-non-ascii)
bool valid_value(std::string_view v) {
    if (v.empty()) return false;
    for (char ch : v) {
        const auto c = static_cast<unsigned char>(ch);
        if (!((c >= 33 && c <= 60) || (c >= 62 && c <= 126) || is_8bit(c))) return false;
    }
    return valid_utf8(v);
}

// xtext (RFC 3461 §4): *( xchar / hexchar ); xchar = %x21-2A / %x2C-3C / %x3E-7E;
// hexchar = "+" 2(%x30-39 / %x41-46).
bool valid_xtext(std::string_view v) {
    for (std::size_t i = 0; i < v.size(); ++i) {
        const auto c = static_cast<unsigned char>(v[i]);
        if (c == '+') {
            if (i + 2 >= v.size()) return false;
            for (std::size_t k = i + 1; k <= i + 2; ++k) {
                const auto h = static_cast<unsigned char>(v[k]);
                if (!is_digit(h) && !(h >= 'A' && h <= 'F')) return false;
            }
            i += 2;
        } else if (!((c >= 0x21 && c <= 0x2A) || (c >= 0x2C && c <= 0x3C) || (c >= 0x3E && c <= 0x7E))) {
            return false;
        }
    }
    return true;
}

// 1*20DIGIT, saturating at 2^64-1 when `saturate`, else nullopt on overflow.
std::optional<std::uint64_t> parse_number(std::string_view s, bool saturate) {
    if (s.empty() || s.size() > kMaxDigits) return std::nullopt;
    std::uint64_t n = 0;
    constexpr auto max = std::numeric_limits<std::uint64_t>::max();
    for (char ch : s) {
        if (!is_digit(static_cast<unsigned char>(ch))) return std::nullopt;
        const auto d = static_cast<std::uint64_t>(ch - '0');
        if (n > (max - d) / 10) {
            if (!saturate) return std::nullopt;
            n = max;
        } else {
            n = n * 10 + d;
        }
    }
    return n;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

bool valid_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t len = 0;
        unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second octet
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;        // no overlongs
            if (c == 0xED) hi = 0x9F;        // no surrogates
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;        // no overlongs
            if (c == 0xF4) hi = 0x8F;        // nothing above U+10FFFF
        } else {
            return false;
        }
        if (i + len > s.size()) return false;
        const auto c1 = static_cast<unsigned char>(s[i + 1]);
        if (c1 < lo || c1 > hi) return false;
        for (std::size_t k = 2; k < len; ++k) {
            const auto ck = static_cast<unsigned char>(s[i + k]);
            if (ck < 0x80 || ck > 0xBF) return false;
        }
        i += len;
    }
    return true;
}

CommandLine split_command(std::string_view line) {
    while (!line.empty() && line.back() == ' ') line.remove_suffix(1);
    CommandLine cmd;
    const std::size_t sp = line.find(' ');
    cmd.verb_text = line.substr(0, sp);
    if (sp != std::string_view::npos) {
        std::string_view arg = line.substr(sp);
        while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);
        cmd.argument = arg;
    }
    static constexpr std::array<std::pair<std::string_view, Verb>, 20> table{{
        {"EHLO", Verb::ehlo}, {"HELO", Verb::helo}, {"MAIL", Verb::mail},
        {"RCPT", Verb::rcpt}, {"DATA", Verb::data}, {"BDAT", Verb::bdat},
        {"RSET", Verb::rset}, {"NOOP", Verb::noop}, {"QUIT", Verb::quit},
        {"VRFY", Verb::vrfy}, {"HELP", Verb::help}, {"STARTTLS", Verb::starttls},
        {"AUTH", Verb::auth}, {"EXPN", Verb::expn}, {"TURN", Verb::turn},
        {"ETRN", Verb::etrn}, {"ATRN", Verb::atrn}, {"SEND", Verb::send},
        {"SOML", Verb::soml}, {"SAML", Verb::saml},
    }};
    for (const auto& [name, verb] : table) {
        if (iequals(cmd.verb_text, name)) {
            cmd.verb = verb;
            break;
        }
    }
    return cmd;
}

Result<PathArgument> split_path_argument(std::string_view argument, std::string_view prefix) {
    if (argument.size() < prefix.size() || !iequals(argument.substr(0, prefix.size()), prefix)) {
        return Errc::argument_syntax;
    }
    std::string_view rest = argument.substr(prefix.size());
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);  // "FROM: <a@b>"
    if (rest.empty()) return Errc::argument_syntax;
    if (rest.front() != '<') return Errc::path_not_bracketed;
    // Find the closing '>' outside quoted strings (a quoted local part may hold '>').
    std::size_t i = 1;
    bool quoted = false;
    for (; i < rest.size(); ++i) {
        const char c = rest[i];
        if (quoted) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                quoted = false;
            }
        } else if (c == '"') {
            quoted = true;
        } else if (c == '>') {
            break;
        }
    }
    if (i >= rest.size()) return Errc::path_syntax;
    PathArgument out;
    out.path = rest.substr(0, i + 1);
    std::string_view params = rest.substr(i + 1);
    if (!params.empty()) {
        if (params.front() != ' ') return Errc::argument_syntax;
        while (!params.empty() && params.front() == ' ') params.remove_prefix(1);
    }
    out.parameters = params;
    return out;
}

Result<Address> parse_path(std::string_view path, PathKind kind) {
    if (path.size() < 2 || path.front() != '<' || path.back() != '>') return Errc::path_syntax;
    if (path.size() > kMaxPath) return Errc::path_too_long;
    std::string_view inner = path.substr(1, path.size() - 2);
    Address a;
    if (inner.empty()) {
        if (kind == PathKind::forward) return Errc::null_path_not_allowed;
        return a;
    }
    if (!valid_utf8(inner)) return Errc::bad_utf8;
    for (char ch : inner) {
        if (is_8bit(static_cast<unsigned char>(ch))) a.non_ascii = true;
    }
    // Source route: "@a,@b:" before the mailbox. A ':' can otherwise appear only in a
    // quoted local part or an IPv6 literal, neither of which starts with '@'.
    if (inner.front() == '@') {
        const std::size_t colon = inner.find(':');
        if (colon == std::string_view::npos) return Errc::path_syntax;
        if (auto r = check_source_route(inner.substr(0, colon)); !r) return r.error();
        inner.remove_prefix(colon + 1);
    }
    if (kind == PathKind::forward && iequals(inner, "Postmaster")) {
        a.mailbox = a.local_part = std::string(inner);
        return a;
    }
    // Local-part = Dot-string / Quoted-string, then "@".
    std::size_t local_len = 0;
    if (!inner.empty() && inner.front() == '"') {
        local_len = quoted_string_length(inner);
        if (local_len == 0) return Errc::path_syntax;
    } else {
        local_len = inner.find('@');
        if (local_len == std::string_view::npos) return Errc::path_syntax;
        if (!valid_dot_string(inner.substr(0, local_len))) return Errc::path_syntax;
    }
    if (local_len >= inner.size() || inner[local_len] != '@') return Errc::path_syntax;
    const std::string_view local = inner.substr(0, local_len);
    const std::string_view domain = inner.substr(local_len + 1);
    if (local.size() > kMaxLocalPart) return Errc::local_part_too_long;
    if (!domain.empty() && domain.front() == '[') {
        if (auto r = check_address_literal(domain); !r) return r.error();
    } else if (auto r = check_domain(domain); !r) {
        return r.error();
    }
    a.local_part = std::string(local);
    a.domain = std::string(domain);
    a.mailbox = a.local_part + "@" + a.domain;
    return a;
}

Result<std::vector<Parameter>> parse_parameters(std::string_view text) {
    std::vector<Parameter> out;
    while (!text.empty()) {
        const std::size_t sp = text.find(' ');
        const std::string_view item = text.substr(0, sp);
        text = sp == std::string_view::npos ? std::string_view{} : text.substr(sp);
        while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
        if (out.size() == max_parameters) return Errc::param_syntax;
        Parameter p;
        const std::size_t eq = item.find('=');
        p.keyword = item.substr(0, eq);
        if (!valid_keyword(p.keyword)) return Errc::param_syntax;
        if (eq != std::string_view::npos) {
            p.value = item.substr(eq + 1);
            if (!valid_value(*p.value)) return Errc::param_syntax;
        }
        out.push_back(p);
    }
    return out;
}

Result<MailParameters> parse_mail_parameters(std::string_view text) {
    auto params = parse_parameters(text);
    if (!params) return params.error();
    MailParameters m;
    bool seen_size = false, seen_body = false, seen_auth = false;
    for (const Parameter& p : *params) {
        if (iequals(p.keyword, "SIZE")) {  // RFC 1870 §6: SIZE=1*20DIGIT
            if (std::exchange(seen_size, true)) return Errc::param_duplicate;
            if (!p.value) return Errc::param_value;
            m.size = parse_number(*p.value, true);
            if (!m.size) return Errc::param_value;
        } else if (iequals(p.keyword, "BODY")) {  // RFC 6152 §2, RFC 3030 §3
            if (std::exchange(seen_body, true)) return Errc::param_duplicate;
            if (!p.value) return Errc::param_value;
            if (iequals(*p.value, "7BIT")) {
                m.body = BodyType::seven_bit;
            } else if (iequals(*p.value, "8BITMIME")) {
                m.body = BodyType::eight_bit_mime;
            } else if (iequals(*p.value, "BINARYMIME")) {
                return Errc::param_unsupported;  // BINARYMIME is not offered
            } else {
                return Errc::param_value;
            }
        } else if (iequals(p.keyword, "SMTPUTF8")) {  // RFC 6531 §3.4: no value
            if (std::exchange(m.smtputf8, true)) return Errc::param_duplicate;
            if (p.value) return Errc::param_value;
        } else if (iequals(p.keyword, "REQUIRETLS")) {  // RFC 8689 §4: no value
            if (std::exchange(m.requiretls, true)) return Errc::param_duplicate;
            if (p.value) return Errc::param_value;
        } else if (iequals(p.keyword, "AUTH")) {  // RFC 4954 §5: AUTH=xtext / AUTH=<>
            if (std::exchange(seen_auth, true)) return Errc::param_duplicate;
            if (!p.value || (*p.value != "<>" && !valid_xtext(*p.value))) return Errc::param_value;
            m.auth = std::string(*p.value);
        } else {
            return Errc::param_unsupported;
        }
    }
    return m;
}

Result<void> parse_rcpt_parameters(std::string_view text) {
    auto params = parse_parameters(text);
    if (!params) return params.error();
    if (!params->empty()) return Errc::param_unsupported;
    return {};
}

Result<std::uint64_t> parse_chunk_size(std::string_view argument) {
    const std::string_view digits = argument.substr(0, argument.find(' '));
    const auto n = parse_number(digits, false);
    if (!n) return Errc::chunk_size_syntax;
    return *n;
}

Result<BdatArguments> parse_bdat(std::string_view argument) {
    auto size = parse_chunk_size(argument);
    if (!size) return size.error();
    BdatArguments b;
    b.size = *size;
    const std::size_t sp = argument.find(' ');
    if (sp == std::string_view::npos) return b;
    std::string_view rest = argument.substr(sp);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) return b;
    if (!iequals(rest, "LAST")) return Errc::bdat_syntax;
    b.last = true;
    return b;
}

}  // namespace signpost::smtp
