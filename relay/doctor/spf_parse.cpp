// relay/doctor/spf_parse.cpp — SPF (RFC 7208): the record parser, macro expansion and
// record selection (see spf.hpp), and the helpers spf_detail.hpp shares with spf.cpp.
#include "relay/doctor/spf.hpp"
#include "relay/doctor/spf_detail.hpp"

// GCC 12 reports a coroutine frame's own operator delete as "mismatched" with its operator
// new (a false positive of -Wmismatched-new-delete on awaitable frames, as in mx.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <algorithm>
#include <cstring>

namespace signpost::doctor::spf {
namespace detail {

namespace asio = boost::asio;


Outcome outcome(Result r, std::string why) {
    Outcome o;
    o.result = r;
    o.why = std::move(why);
    return o;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
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

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_digit(c); });
}

// Appended, not `"\"" + string`: GCC 12 -O3 reports a false -Wrestrict there (bug 105651).
std::string in_quotes(std::string_view s) {
    std::string out = "\"";
    out += s;
    out += '"';
    return out;
}

// toplabel (§7.1): alphanumerics with at least one letter, or alphanumerics and hyphens
// that start and end alphanumeric and hold a hyphen.
bool is_toplabel(std::string_view s) {
    if (s.empty()) return false;
    if (std::all_of(s.begin(), s.end(), [](char c) { return is_alnum(c); }))
        return std::any_of(s.begin(), s.end(), [](char c) { return is_alpha(c); });
    if (!is_alnum(s.front()) || !is_alnum(s.back())) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return is_alnum(c) || c == '-'; });
}

// --- macro-strings (§7.1) --------------------------------------------------------------

struct Scan {
    std::string error;          // "" = valid
    bool ends_in_macro = false;  // the last token is a macro-expand
    std::size_t tail = 0;        // where the literal text after the last macro-expand starts
    std::string out;             // the expansion, when values were given
};

std::string letter_value(char letter, const MacroValues& v) {
    switch (letter) {
        case 's': return v.s;
        case 'l': return v.l;
        case 'o': return v.o;
        case 'd': return v.d;
        case 'i': return v.i;
        case 'p': return v.p;
        case 'v': return v.v;
        case 'h': return v.h;
    }
    return {};
}

// §7.3: split on the delimiters, reverse when asked, keep the rightmost `keep` parts (0 =
// all), rejoin with "."; uppercase letters are then URL-escaped (RFC 3986 unreserved kept).
std::string transform(std::string value, std::size_t keep, bool reverse, std::string_view delims, bool transformed,
                      bool escape) {
    if (transformed) {
        if (delims.empty()) delims = ".";
        std::vector<std::string> parts(1);
        for (char c : value) {
            if (delims.find(c) != std::string_view::npos) parts.emplace_back();
            else parts.back() += c;
        }
        if (reverse) std::reverse(parts.begin(), parts.end());
        if (keep > 0 && keep < parts.size())
            parts.erase(parts.begin(), parts.end() - static_cast<std::ptrdiff_t>(keep));
        value.clear();
        for (std::size_t i = 0; i < parts.size(); ++i) value += (i ? "." : "") + parts[i];
    }
    if (!escape) return value;
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : value) {
        if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else {
            const auto u = static_cast<unsigned char>(c);
            out += '%';
            out += kHex[u >> 4];
            out += kHex[u & 0xf];
        }
    }
    return out;
}

// Checks `text` as a macro-string of the letters allowed outside exp text and, when
// `values` is given, expands it.
Scan scan_macro_string(std::string_view text, const MacroValues* values) {
    Scan s;
    for (std::size_t i = 0; i < text.size();) {
        const char c = text[i];
        if (c < 0x21 || c > 0x7e) {
            s.error = "invalid character in " + in_quotes(text);
            return s;
        }
        if (c != '%') {
            if (values) s.out += c;
            s.ends_in_macro = false;
            ++i;
            continue;
        }
        if (i + 1 >= text.size()) {
            s.error = "\"%\" at the end of " + in_quotes(text);
            return s;
        }
        const char n = text[i + 1];
        if (n == '%' || n == '_' || n == '-') {
            if (values) s.out += n == '%' ? "%" : n == '_' ? " " : "%20";
            i += 2;
        } else if (n == '{') {
            std::size_t j = i + 2;
            const char letter = j < text.size() ? text[j] : '\0';
            if (std::strchr("slodipvhSLODIPVH", letter) == nullptr || letter == '\0') {
                s.error = "bad macro letter in " + in_quotes(text) + " (RFC 7208 §7.1; c, r and t only in exp text)";
                return s;
            }
            ++j;
            std::size_t keep = 0;
            bool digits = false;
            while (j < text.size() && is_digit(text[j])) {
                keep = std::min<std::size_t>(keep * 10 + static_cast<std::size_t>(text[j] - '0'), 1000);
                digits = true;
                ++j;
            }
            if (digits && keep == 0) {
                s.error = "zero transformer in " + in_quotes(text) + " (RFC 7208 §7.3: it MUST be nonzero)";
                return s;
            }
            bool reverse = false;
            if (j < text.size() && (text[j] == 'r' || text[j] == 'R')) {
                reverse = true;
                ++j;
            }
            const std::size_t delims_from = j;
            while (j < text.size() && std::strchr(".-+,/_=", text[j]) != nullptr && text[j] != '\0') ++j;
            if (j >= text.size() || text[j] != '}') {
                s.error = "bad macro in " + in_quotes(text);
                return s;
            }
            if (values) {
                const std::string_view delims = text.substr(delims_from, j - delims_from);
                s.out += transform(letter_value(lower(letter), *values), keep, reverse, delims,
                                   digits || reverse || !delims.empty(), letter != lower(letter));
            }
            i = j + 1;
        } else {
            s.error = "\"%\" not followed by \"{\", \"%\", \"_\" or \"-\" in " + in_quotes(text);
            return s;
        }
        s.ends_in_macro = true;
        s.tail = i;
    }
    return s;
}

// The target name of an expansion (§7.3): without a trailing dot, cut from the left label
// by label to 253 octets.
std::string target_name(std::string name) {
    if (!name.empty() && name.back() == '.') name.pop_back();
    while (name.size() > 253) {
        const std::size_t dot = name.find('.');
        if (dot == std::string::npos) break;
        name.erase(0, dot + 1);
    }
    return name;
}

// A name that can be asked of DNS: labels of 1..63 octets, 253 in all.
bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > 253) return false;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = name.find('.', start);
        const std::size_t len = (dot == std::string_view::npos ? name.size() : dot) - start;
        if (len == 0 || len > 63) return false;
        if (dot == std::string_view::npos) return true;
        start = dot + 1;
    }
}

bool uses_letter(std::string_view spec, std::string_view letters) {
    for (std::size_t i = 0; i + 2 < spec.size(); ++i) {
        if (spec[i] != '%') continue;
        if (spec[i + 1] == '{' && letters.find(lower(spec[i + 2])) != std::string_view::npos) return true;
        ++i;  // "%%", "%_", "%-", or the "{" just looked at
    }
    return false;
}

// --- terms ----------------------------------------------------------------------------

// A CIDR length (§5.6: "0" or no leading zero) of at most `max`; nullopt when invalid.
std::optional<int> cidr_length(std::string_view digits, int max) {
    if (!all_digits(digits) || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
    const int v = std::stoi(std::string(digits));
    if (v > max) return std::nullopt;
    return v;
}

// ip4-network (§5.6): four qnums, no leading zeros.
bool is_ip4_network(std::string_view s) {
    int parts = 0;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = s.find('.', start);
        const std::size_t end = dot == std::string_view::npos ? s.size() : dot;
        const std::string_view q = s.substr(start, end - start);
        if (!all_digits(q) || q.size() > 3 || (q.size() > 1 && q[0] == '0') || std::stoi(std::string(q)) > 255)
            return false;
        ++parts;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return parts == 4;
}

bool is_ip6_network(std::string_view s) {
    if (s.find(':') == std::string_view::npos) return false;
    for (char c : s)
        if (!(is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f') || c == ':' || c == '.')) return false;
    boost::system::error_code ec;
    (void)asio::ip::make_address_v6(std::string(s), ec);
    return !ec;
}

std::optional<ParseError> bad(std::string what, std::string_view term) {
    return ParseError{what + " in " + in_quotes(term)};
}

// domain-spec after ":" (required unless `optional` and absent).
std::optional<ParseError> take_domain_spec(std::string_view arg, bool optional, Term& t) {
    if (arg.empty()) {
        if (optional) return std::nullopt;
        return bad("missing domain-spec", t.text);
    }
    if (arg[0] != ':') return bad("bad syntax", t.text);
    t.domain_spec = std::string(arg.substr(1));
    if (t.domain_spec.empty()) return bad("empty domain-spec", t.text);
    if (auto e = check_domain_spec(t.domain_spec)) return bad(e->why, t.text);
    return std::nullopt;
}

std::variant<Term, ParseError> parse_mechanism(std::string_view text) {
    Term t;
    t.text = std::string(text);
    std::string_view rest = text;
    if (std::strchr("+-~?", rest[0]) != nullptr) {
        t.qualifier = static_cast<Qualifier>(rest[0]);
        rest.remove_prefix(1);
    }
    const std::size_t k = rest.find_first_of(":/");
    const std::string name = lower(rest.substr(0, k));
    std::string_view arg = k == std::string_view::npos ? std::string_view() : rest.substr(k);
    std::optional<ParseError> e;
    if (name == "all") {
        t.mechanism = Mechanism::all;
        if (!arg.empty()) e = bad("\"all\" takes no argument", text);
    } else if (name == "include" || name == "exists") {
        t.mechanism = name == "include" ? Mechanism::include : Mechanism::exists;
        e = take_domain_spec(arg, false, t);
    } else if (name == "ptr") {
        t.mechanism = Mechanism::ptr;
        e = take_domain_spec(arg, true, t);
    } else if (name == "a" || name == "mx") {
        t.mechanism = name == "a" ? Mechanism::a : Mechanism::mx;
        // dual-cidr-length (§5.3): [ "/" ip4-cidr-length ] [ "//" ip6-cidr-length ] at the end.
        std::size_t p = arg.rfind("//");
        if (p != std::string_view::npos && all_digits(arg.substr(p + 2))) {
            t.cidr6 = cidr_length(arg.substr(p + 2), 128);
            if (!t.cidr6) return *bad("bad IPv6 CIDR length", text);
            arg = arg.substr(0, p);
        }
        p = arg.rfind('/');
        if (p != std::string_view::npos && all_digits(arg.substr(p + 1))) {
            t.cidr4 = cidr_length(arg.substr(p + 1), 32);
            if (!t.cidr4) return *bad("bad IPv4 CIDR length", text);
            arg = arg.substr(0, p);
        }
        e = take_domain_spec(arg, true, t);
    } else if (name == "ip4" || name == "ip6") {
        const bool v4 = name == "ip4";
        t.mechanism = v4 ? Mechanism::ip4 : Mechanism::ip6;
        if (arg.empty() || arg[0] != ':') return *bad("missing address", text);
        std::string_view net = arg.substr(1);
        const std::size_t p = net.rfind('/');
        if (p != std::string_view::npos) {
            auto len = cidr_length(net.substr(p + 1), v4 ? 32 : 128);
            if (!len) return *bad(v4 ? "bad IPv4 CIDR length" : "bad IPv6 CIDR length", text);
            (v4 ? t.cidr4 : t.cidr6) = len;
            net = net.substr(0, p);
        }
        t.address = std::string(net);
        if (v4 ? !is_ip4_network(net) : !is_ip6_network(net))
            return *bad(v4 ? "bad IPv4 network" : "bad IPv6 network", text);
    } else {
        return ParseError{"unknown mechanism " + in_quotes(text)};
    }
    if (e) return *e;
    return t;
}

Result result_of(Qualifier q) {
    switch (q) {
        case Qualifier::pass: return Result::pass;
        case Qualifier::fail: return Result::fail;
        case Qualifier::softfail: return Result::softfail;
        case Qualifier::neutral: return Result::neutral;
    }
    return Result::neutral;
}

asio::ip::address normalized(const asio::ip::address& ip) {
    if (ip.is_v6() && ip.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6());
    return ip;
}

template <class Bytes>
bool same_prefix(const Bytes& a, const Bytes& b, int prefix) {
    for (std::size_t i = 0; i < a.size() && prefix > 0; ++i, prefix -= 8) {
        const auto mask = static_cast<unsigned char>(0xff << (8 - std::min(prefix, 8)));
        if ((a[i] & mask) != (b[i] & mask)) return false;
    }
    return true;
}

bool in_network(const asio::ip::address& ip, const asio::ip::address& net, int prefix) {
    if (ip.is_v4() != net.is_v4()) return false;
    if (ip.is_v4()) return same_prefix(ip.to_v4().to_bytes(), net.to_v4().to_bytes(), prefix);
    return same_prefix(ip.to_v6().to_bytes(), net.to_v6().to_bytes(), prefix);
}

}  // namespace detail

using namespace detail;

// --- public pure functions --------------------------------------------------------------

const char* to_string(Result r) {
    switch (r) {
        case Result::none: return "none";
        case Result::neutral: return "neutral";
        case Result::pass: return "pass";
        case Result::fail: return "fail";
        case Result::softfail: return "softfail";
        case Result::temperror: return "temperror";
        case Result::permerror: return "permerror";
    }
    return "?";
}

const char* to_string(Mechanism m) {
    switch (m) {
        case Mechanism::all: return "all";
        case Mechanism::include: return "include";
        case Mechanism::a: return "a";
        case Mechanism::mx: return "mx";
        case Mechanism::ptr: return "ptr";
        case Mechanism::ip4: return "ip4";
        case Mechanism::ip6: return "ip6";
        case Mechanism::exists: return "exists";
    }
    return "?";
}

const Term* Record::redirect() const {
    for (const auto& t : terms)
        if (t.is_modifier && t.name == "redirect") return &t;
    return nullptr;
}

const Term* Record::all() const {
    for (const auto& t : terms)
        if (!t.is_modifier && t.mechanism == Mechanism::all) return &t;
    return nullptr;
}

std::optional<ParseError> check_domain_spec(std::string_view text) {
    Scan s = scan_macro_string(text, nullptr);
    if (!s.error.empty()) return ParseError{s.error};
    if (text.empty()) return ParseError{"empty domain-spec"};
    if (s.ends_in_macro) return std::nullopt;
    // domain-end = ( "." toplabel [ "." ] ) / macro-expand
    std::string_view tail = text.substr(s.tail);
    if (!tail.empty() && tail.back() == '.') tail.remove_suffix(1);
    const std::size_t dot = tail.rfind('.');
    if (dot == std::string_view::npos || !is_toplabel(tail.substr(dot + 1)))
        return ParseError{"domain-spec " + in_quotes(text) + " does not end in a top label (RFC 7208 §7.1)"};
    return std::nullopt;
}

std::optional<std::string> expand_macros(std::string_view text, const MacroValues& values, bool domain_name) {
    Scan s = scan_macro_string(text, &values);
    if (!s.error.empty()) return std::nullopt;
    if (domain_name) return target_name(std::move(s.out));
    return std::move(s.out);
}

MacroValues macro_values(const asio::ip::address& address, std::string_view sender, std::string_view domain,
                         std::string_view helo) {
    MacroValues v;
    const asio::ip::address ip = normalized(address);
    if (ip.is_v4()) {
        v.i = ip.to_string();
        v.v = "in-addr";
    } else {
        static constexpr char kHex[] = "0123456789abcdef";
        for (unsigned char b : ip.to_v6().to_bytes()) {
            if (!v.i.empty()) v.i += '.';
            v.i += kHex[b >> 4];
            v.i += '.';
            v.i += kHex[b & 0xf];
        }
        v.v = "ip6";
    }
    const std::size_t at = sender.rfind('@');
    if (sender.empty() || at == std::string_view::npos || at + 1 == sender.size()) {
        v.l = "postmaster";
        v.o = std::string(helo);
    } else {
        v.l = std::string(sender.substr(0, at));
        v.o = std::string(sender.substr(at + 1));
        if (v.l.empty()) v.l = "postmaster";
    }
    v.s = v.l + "@" + v.o;
    v.d = domain.empty() ? v.o : std::string(domain);
    v.h = std::string(helo);
    return v;
}

std::vector<std::string> spf_records(const std::vector<std::string>& txt) {
    std::vector<std::string> out;
    for (const auto& t : txt)
        if (t.size() >= 6 && iequals(std::string_view(t).substr(0, 6), "v=spf1") && (t.size() == 6 || t[6] == ' '))
            out.push_back(t);
    return out;
}

std::variant<Record, ParseError> parse_record(std::string_view text) {
    if (spf_records({std::string(text)}).empty()) return ParseError{"not an SPF record (no \"v=spf1\" first)"};
    for (char c : text)
        if (c < 0x20 || c > 0x7e)
            return ParseError{"a character that is not printable ASCII (RFC 7208 §3.1, §4.6.1)"};
    Record r;
    bool seen_redirect = false, seen_exp = false;
    std::size_t pos = 6;
    while (pos < text.size()) {
        if (text[pos] == ' ') {
            ++pos;
            continue;
        }
        std::size_t end = text.find(' ', pos);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view term = text.substr(pos, end - pos);
        pos = end;
        // modifier = name "=" ...; name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
        std::size_t k = 0;
        if (is_alpha(term[0]))
            while (k < term.size() && (is_alnum(term[k]) || term[k] == '-' || term[k] == '_' || term[k] == '.')) ++k;
        if (k > 0 && k < term.size() && term[k] == '=') {
            Term m;
            m.is_modifier = true;
            m.name = lower(term.substr(0, k));
            m.value = std::string(term.substr(k + 1));
            m.text = std::string(term);
            if (m.name == "redirect" || m.name == "exp") {
                bool& seen = m.name == "redirect" ? seen_redirect : seen_exp;
                if (seen) return ParseError{in_quotes(m.name + "=") + " appears more than once (RFC 7208 §6)"};
                seen = true;
                if (auto e = check_domain_spec(m.value)) return *bad(e->why, term);
            } else {
                Scan s = scan_macro_string(m.value, nullptr);
                if (!s.error.empty()) return *bad(s.error, term);
            }
            r.terms.push_back(std::move(m));
            continue;
        }
        auto mech = parse_mechanism(term);
        if (auto* e = std::get_if<ParseError>(&mech)) return std::move(*e);
        r.terms.push_back(std::get<Term>(std::move(mech)));
    }
    return r;
}

}  // namespace signpost::doctor::spf
