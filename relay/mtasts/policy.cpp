// relay/mtasts/policy.cpp — the pure part of MTA-STS (see mtasts.hpp): the TXT record
// (RFC 8461 §3.1), the policy file (§3.2) and MX host matching (§4.1).
//
// Both parsers follow the RFC's ABNF (RFC 7405 %s: keys and values are case-sensitive)
// and reject what it does not produce, with one message naming the line and the field.
// Where the RFC tells parsers to be lenient they are:
//   - unknown fields are ignored (they must still be well-formed extension fields);
//   - a repeated non-mx field of the policy keeps its first value: §3.2 says of a
//     duplicated non-repeated field that "all entries except for the first SHALL be
//     ignored". The later entries must still be well-formed lines (a repeated
//     "mode: bogus" has the shape of an extension field and is ignored). mtasts.hpp's
//     summary ("a repeated required field is an error") predates this reading;
//   - lines end in LF or CRLF, the last line end is optional, whitespace after ":" and at
//     the end of a line is allowed.
// Strict where the RFC is: version must be "STSv1", mode one of the three values, max_age
// 1 to 10 digits and at most 31557600, mx required unless mode is "none", each mx pattern
// ["*."] followed by an LDH domain (RFC 5321 Domain), no blank or indented lines, no
// control characters. Bounded: at most 64 KiB of text and 100 mx lines.
//
// Untrusted input: both texts come from the network (DNS, HTTPS).
// Threading: pure functions.
#include <algorithm>
#include <cstddef>
#include <string>

#include "relay/mtasts/mtasts.hpp"
#include "relay/mtasts/fetch.hpp"

namespace signpost::mtasts {
namespace {

constexpr std::size_t kMaxPolicySize = 64 * 1024;  // §3.3: senders may limit the body
constexpr std::size_t kMaxMxLines = 100;
constexpr std::uint32_t kMaxMaxAge = 31557600;  // §3.2: "maximum value of 31557600"
constexpr std::size_t kMaxRecordSize = 4096;    // a TXT RR's strings joined

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
bool is_wsp(char c) { return c == ' ' || c == '\t'; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowered(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = lower(c);
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::string_view trim_wsp_left(std::string_view s) {
    while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
    return s;
}
std::string_view trim_wsp_right(std::string_view s) {
    while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
    return s;
}

// Shows untrusted text in an error message: at most 40 octets, control and 8-bit octets
// as \xNN, so an error is always one short printable line.
std::string show(std::string_view s) {
    static const char hex[] = "0123456789abcdef";
    std::string out = "\"";
    std::size_t n = 0;
    for (char ch : s) {
        if (++n > 40) {
            out += "...";
            break;
        }
        const auto u = static_cast<unsigned char>(ch);
        if (u < 0x20 || u >= 0x7f || ch == '"' || ch == '\\') {
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 15];
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

// RFC 5321 Domain: sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str]; plus the
// DNS length limits (63 per label, 253 in all).
bool is_domain(std::string_view s) {
    std::string lower(s);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return is_policy_domain(lower);
}

// One well-formed UTF-8 sequence of 2 to 4 octets at s[i] (RFC 3629: no overlong forms, no
// surrogates, at most U+10FFFF); its length, or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char c = b(i);
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xbf;  // range of the second octet
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    if (b(i + 1) < lo || b(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < len; ++k)
        if (b(i + k) < 0x80 || b(i + k) > 0xbf) return 0;
    return len;
}

// sts-policy-ext-value: vchars (%x21-7E or UTF-8 2..4) with inner single spaces (%x20),
// no leading or trailing space. (Trailing WSP was already cut as part of the line.)
bool is_policy_ext_value(std::string_view v) {
    if (v.empty() || v.front() == ' ' || v.back() == ' ') return false;
    for (std::size_t i = 0; i < v.size();) {
        const auto u = static_cast<unsigned char>(v[i]);
        if (u >= 0x20 && u <= 0x7e) {
            ++i;
        } else if (u >= 0x80) {
            const std::size_t n = utf8_sequence(v, i);
            if (n == 0) return false;
            i += n;
        } else {
            return false;
        }
    }
    return true;
}

// sts-policy-ext-name (and sts-ext-name of the TXT record):
// (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
bool is_ext_name(std::string_view n) {
    if (n.empty() || n.size() > 32 || !is_alnum(n.front())) return false;
    return std::all_of(n.begin(), n.end(), [](char c) { return is_alnum(c) || c == '_' || c == '-' || c == '.'; });
}

// sts-ext-value of the TXT record: 1*(%x21-3A / %x3C / %x3E-7E), i.e. printable ASCII but
// "=", ";" and space.
bool is_txt_ext_value(std::string_view v) {
    if (v.empty()) return false;
    return std::all_of(v.begin(), v.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 0x21 && u <= 0x7e && c != '=' && c != ';';
    });
}

// sts-policy-max-age-value = 1*10(DIGIT), at most 31557600.
std::optional<std::uint32_t> parse_max_age(std::string_view v) {
    if (v.empty() || v.size() > 10 || !std::all_of(v.begin(), v.end(), is_digit)) return std::nullopt;
    std::uint64_t n = 0;
    for (char c : v) n = n * 10 + static_cast<std::uint64_t>(c - '0');
    if (n > kMaxMaxAge) return std::nullopt;
    return static_cast<std::uint32_t>(n);
}


}  // namespace

const char* to_string(Mode m) {
    switch (m) {
        case Mode::enforce: return "enforce";
        case Mode::testing: return "testing";
        case Mode::none: return "none";
    }
    return "?";
}

// §4.1: "*.example.com" matches exactly one label in front of example.com; anything else
// matches the whole name. Names compare case-insensitively (host names are
// case-insensitive, RFC 4343); a trailing dot on `host` is ignored.
bool Policy::matches(std::string_view host) const {
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);
    if (host.empty()) return false;
    for (const std::string& p : mx) {
        if (p.size() > 2 && p[0] == '*' && p[1] == '.') {
            const std::string_view suffix = std::string_view(p).substr(1);  // ".example.com"
            if (host.size() <= suffix.size()) continue;
            const std::string_view head = host.substr(0, host.size() - suffix.size());
            if (head.find('.') != std::string_view::npos) continue;  // one label only
            if (iequals(host.substr(head.size()), suffix)) return true;
        } else if (iequals(host, p)) {
            return true;
        }
    }
    return false;
}

std::optional<Policy> parse_policy(std::string_view text, std::string& error) {
    error.clear();
    if (text.size() > kMaxPolicySize) {
        error = "policy is " + std::to_string(text.size()) + " octets, more than the limit of " +
                std::to_string(kMaxPolicySize);
        return std::nullopt;
    }
    Policy policy;
    bool have_version = false, have_mode = false, have_max_age = false;
    std::size_t line_no = 0;
    std::size_t pos = 0;
    const auto at = [&](std::string_view what) { return "line " + std::to_string(line_no) + ": " + std::string(what); };
    const auto bad = [&](std::string_view what) {
        error = at(what);
        return std::nullopt;
    };

    while (pos < text.size()) {
        ++line_no;
        // sts-policy-term = LF / CRLF; the last one is optional.
        std::size_t end = text.find('\n', pos);
        std::string_view line = text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        pos = end == std::string_view::npos ? text.size() : end + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        line = trim_wsp_right(line);  // sts-policy-field *WSP sts-policy-term
        if (line.empty()) return bad("empty line (every line must be \"key: value\")");

        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) return bad("no \":\" in " + show(line));
        const std::string_view key = line.substr(0, colon);
        // sts-policy-field-delim = ":" *WSP
        const std::string_view value = trim_wsp_left(line.substr(colon + 1));
        if (!is_ext_name(key)) return bad("invalid field name " + show(key));
        if (value.empty()) return bad("field \"" + std::string(key) + "\" has no value");

        if (key == "mx") {
            // sts-policy-mx-value = ["*."] Domain
            const bool wildcard = value.starts_with("*.");
            if (!is_domain(wildcard ? value.substr(2) : value))
                return bad("mx: invalid pattern " + show(value) +
                           " (a host name, or \"*.\" and a host name: the wildcard only as the whole leftmost label)");
            if (policy.mx.size() == kMaxMxLines) return bad("more than " + std::to_string(kMaxMxLines) + " mx lines");
            policy.mx.push_back(lowered(value));
            continue;
        }
        // Every other field, known or not, must be a well-formed sts-policy-extension
        // (known fields' values are a subset of sts-policy-ext-value).
        if (!is_policy_ext_value(value))
            return bad("field \"" + std::string(key) + "\" has an invalid value " + show(value));
        if (key == "version") {
            if (have_version) continue;  // §3.2: the first of a repeated field counts
            if (value != "STSv1") return bad("version must be \"STSv1\", found " + show(value));
            have_version = true;
        } else if (key == "mode") {
            if (have_mode) continue;
            if (value == "enforce") policy.mode = Mode::enforce;
            else if (value == "testing") policy.mode = Mode::testing;
            else if (value == "none") policy.mode = Mode::none;
            else return bad("mode must be \"enforce\", \"testing\" or \"none\", found " + show(value));
            have_mode = true;
        } else if (key == "max_age") {
            if (have_max_age) continue;
            const auto age = parse_max_age(value);
            if (!age) return bad("max_age must be 1 to 10 digits, at most 31557600, found " + show(value));
            policy.max_age = *age;
            have_max_age = true;
        }
        // Anything else: an extension field, ignored (§3.2).
    }

    // §3.2's ABNF: version, mode and max_age are "required once"; mx is "required at least
    // once, except when mode is 'none'".
    if (!have_version) error = "missing field \"version\"";
    else if (!have_mode) error = "missing field \"mode\"";
    else if (!have_max_age) error = "missing field \"max_age\"";
    else if (policy.mx.empty() && policy.mode != Mode::none)
        error = std::string("missing field \"mx\" (required with mode ") + to_string(policy.mode) + ")";
    if (!error.empty()) return std::nullopt;
    return policy;
}

// §3.1:
//   sts-text-record = sts-version 1*(sts-field-delim sts-field) [sts-field-delim]
//   sts-field       = sts-id / sts-extension
//   sts-field-delim = *WSP ";" *WSP
//   sts-version     = %s"v=STSv1"
//   sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
//   sts-extension   = sts-ext-name "=" sts-ext-value
std::optional<std::string> parse_txt_record(std::string_view record, std::string& error) {
    error.clear();
    if (record.size() > kMaxRecordSize) {
        error = "record is " + std::to_string(record.size()) + " octets, more than " + std::to_string(kMaxRecordSize);
        return std::nullopt;
    }
    constexpr std::string_view version = "v=STSv1";
    if (!record.starts_with(version)) {
        error = "does not begin with \"v=STSv1\"";
        return std::nullopt;
    }
    std::string_view rest = record.substr(version.size());
    std::optional<std::string> id;
    std::size_t fields = 0;
    while (!rest.empty()) {
        // A delimiter, then a field unless the record ends.
        rest = trim_wsp_left(rest);
        if (rest.empty() || rest.front() != ';') {
            error = fields == 0 && !rest.empty() ? "\"v=STSv1\" must be followed by \";\""
                                                 : "expected \";\" before " + show(rest);
            return std::nullopt;
        }
        rest = trim_wsp_left(rest.substr(1));
        if (rest.empty()) break;  // the optional final delimiter
        const std::size_t end = std::min(rest.find(';'), rest.size());
        const std::string_view field = trim_wsp_right(rest.substr(0, end));
        rest = rest.substr(field.size());
        ++fields;
        const std::size_t eq = field.find('=');
        if (eq == std::string_view::npos) {
            error = "field " + show(field) + " is not name=value";
            return std::nullopt;
        }
        const std::string_view name = field.substr(0, eq), value = field.substr(eq + 1);
        if (name == "id") {
            if (id) {
                error = "more than one id field";
                return std::nullopt;
            }
            if (value.empty() || value.size() > 32 || !std::all_of(value.begin(), value.end(), is_alnum)) {
                error = "id must be 1 to 32 letters and digits, found " + show(value);
                return std::nullopt;
            }
            id = std::string(value);
        } else if (!is_ext_name(name) || !is_txt_ext_value(value)) {
            error = "malformed field " + show(field);
            return std::nullopt;
        }
        // Other well-formed fields are extensions, ignored (§3.1).
    }
    if (!id) {
        error = "no id field";
        return std::nullopt;
    }
    return id;
}

bool is_policy_domain(std::string_view s) {
    if (s.empty() || s.size() > 253) return false;
    std::size_t label = 0;
    char prev = '.';
    for (char c : s) {
        if (c == '.') {
            if (label == 0 || prev == '-') return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
            if (label == 0 && c == '-') return false;
            if (++label > 63) return false;
        } else {
            return false;
        }
        prev = c;
    }
    return label > 0 && prev != '-';
}

}  // namespace signpost::mtasts
