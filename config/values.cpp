// config/values.cpp — the value-level parsers and printers of config.hpp (durations,
// sizes, endpoints, enum names), ConfigError::to_string and Config's find_* lookups.
//
// Untrusted input: every parse_* function takes operator- or CLI-supplied text and
// accepts only the exact forms documented in config.hpp; anything else is nullopt.
// Pure functions, no state.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>

#include "config/config.hpp"
#include "config/internal.hpp"

namespace signpost::config {
namespace {

constexpr std::int64_t kMinute = 60;
constexpr std::int64_t kHour = 60 * kMinute;
constexpr std::int64_t kDay = 24 * kHour;
constexpr std::int64_t kWeek = 7 * kDay;
// A bound well below the ~292 years at which seconds overflow a nanosecond clock.
constexpr std::int64_t kMaxDurationSeconds = 36500 * kDay;

// "\"" + text + "\"" built by appending: GCC 12 at -O3 reports a false -Wrestrict on
// `"literal" + std::string` (GCC bug 105651), so messages start from a std::string.
std::string in_quotes(std::string_view text) {
    std::string out;
    out.reserve(text.size() + 2);
    out += '"';
    out += text;
    out += '"';
    return out;
}

struct Unit {
    std::string_view name;
    std::uint64_t factor;
};

// Largest first: format_* picks the first unit that divides exactly.
constexpr Unit kDurationUnits[] = {
    {"w", kWeek}, {"d", kDay}, {"h", kHour}, {"m", kMinute}, {"s", 1}};

// Per power, decimal before binary: 1024000 prints as "1024KB", 1048576 as "1MiB".
constexpr Unit kSizeUnits[] = {
    {"TB", 1000ull * 1000 * 1000 * 1000}, {"TiB", 1ull << 40},
    {"GB", 1000ull * 1000 * 1000},        {"GiB", 1ull << 30},
    {"MB", 1000ull * 1000},               {"MiB", 1ull << 20},
    {"KB", 1000ull},                      {"KiB", 1ull << 10},
    {"B", 1},
};

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::uint64_t> parse_uint(std::string_view s) {
    if (!all_digits(s)) return std::nullopt;
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
    return v;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
    if (s.size() > 5) return std::nullopt;
    auto v = parse_uint(s);
    if (!v || *v == 0 || *v > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(*v);
}

}  // namespace

// ---- durations and sizes -------------------------------------------------------------

std::optional<Duration> parse_duration(std::string_view text) {
    if (text == "0") return Duration{0};
    if (text.size() < 2) return std::nullopt;
    std::string_view unit = text.substr(text.size() - 1);
    auto u = std::find_if(std::begin(kDurationUnits), std::end(kDurationUnits),
                          [&](const Unit& x) { return x.name == unit; });
    if (u == std::end(kDurationUnits)) return std::nullopt;
    auto n = parse_uint(text.substr(0, text.size() - 1));
    if (!n || *n > static_cast<std::uint64_t>(kMaxDurationSeconds) / u->factor)
        return std::nullopt;
    return Duration{static_cast<std::int64_t>(*n * u->factor)};
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    auto n = parse_uint(text.substr(0, digits));
    if (!n) return std::nullopt;
    std::string_view unit = text.substr(digits);
    if (unit.empty()) return n;
    for (const Unit& u : kSizeUnits) {
        if (!iequals(unit, u.name)) continue;
        if (*n > std::numeric_limits<std::uint64_t>::max() / u.factor) return std::nullopt;
        return *n * u.factor;
    }
    return std::nullopt;
}

std::string format_duration(Duration d) {
    std::int64_t s = d.count();
    if (s <= 0) return "0";  // negative durations cannot be written; they do not occur
    for (const Unit& u : kDurationUnits) {
        auto f = static_cast<std::int64_t>(u.factor);
        if (s % f == 0) return std::to_string(s / f) + std::string(u.name);
    }
    return std::to_string(s) + "s";  // not reached: the last unit is 1
}

std::string format_size(std::uint64_t n) {
    if (n == 0) return "0";
    for (const Unit& u : kSizeUnits) {
        if (u.factor == 1) break;
        if (n % u.factor == 0) return std::to_string(n / u.factor) + std::string(u.name);
    }
    return std::to_string(n);
}

// ---- endpoints ------------------------------------------------------------------------

std::optional<Endpoint> parse_endpoint(std::string_view text, std::uint16_t default_port) {
    return detail::parse_endpoint_verbose(text, default_port, false).endpoint;
}

std::string Endpoint::to_string() const {
    if (host.find(':') != std::string::npos)
        return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

namespace detail {

std::string to_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool is_dns_name(std::string_view name) {
    if (name.empty() || name.size() > 253) return false;
    std::string_view last;
    std::size_t start = 0;
    while (true) {
        std::size_t dot = name.find('.', start);
        std::string_view label =
            name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
            return false;
        for (char c : label) {
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-';
            if (!ok) return false;
        }
        last = label;
        if (dot == std::string_view::npos) break;
        start = dot + 1;
    }
    return !all_digits(last);
}

std::optional<std::string> normalize_ip(std::string_view text) {
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    std::string s(text);
    char buf[INET6_ADDRSTRLEN];
    in_addr v4{};
    if (s.find(':') == std::string::npos) {
        if (inet_pton(AF_INET, s.c_str(), &v4) != 1) return std::nullopt;
        if (!inet_ntop(AF_INET, &v4, buf, sizeof buf)) return std::nullopt;
        return std::string(buf);
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, s.c_str(), &v6) != 1) return std::nullopt;
    if (!inet_ntop(AF_INET6, &v6, buf, sizeof buf)) return std::nullopt;
    return std::string(buf);
}

EndpointParse parse_endpoint_verbose(std::string_view text, std::uint16_t default_port,
                                     bool ip_only) {
    EndpointParse out;
    if (text.empty()) {
        out.why = "empty address";
        return out;
    }
    std::string_view host;
    std::optional<std::string_view> port_text;
    bool bracketed = false;
    if (text.front() == '[') {
        std::size_t close = text.find(']');
        if (close == std::string_view::npos) {
            out.why = "missing \"]\" after the IPv6 address";
            return out;
        }
        host = text.substr(1, close - 1);
        bracketed = true;
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') {
                out.why = "expected \":<port>\" after \"]\"";
                return out;
            }
            port_text = rest.substr(1);
        }
    } else {
        std::size_t colon = text.find(':');
        if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
            out.why = "an IPv6 address must be written in brackets, such as \"[::1]:587\"";
            return out;
        }
        host = text.substr(0, colon);
        if (colon != std::string_view::npos) port_text = text.substr(colon + 1);
    }

    std::uint16_t port = default_port;
    if (port_text) {
        auto p = parse_port(*port_text);
        if (!p) {
            out.why = "the port must be a number from 1 to 65535";
            return out;
        }
        port = *p;
    } else if (port == 0) {
        out.why = "missing port (write \"<address>:<port>\")";
        return out;
    }

    Endpoint ep;
    ep.port = port;
    if (auto ip = normalize_ip(host)) {
        bool is_v6 = ip->find(':') != std::string::npos;
        if (is_v6 != bracketed) {
            out.why = is_v6 ? "an IPv6 address must be written in brackets, such as \"[::1]:587\""
                            : "only IPv6 addresses are written in brackets";
            return out;
        }
        ep.host = *ip;
    } else if (ip_only) {
        out.why = in_quotes(host) + " is not a literal IPv4 or IPv6 address";
        return out;
    } else if (bracketed) {
        out.why = in_quotes(host) + " is not an IPv6 address";
        return out;
    } else if (!is_dns_name(host)) {
        out.why = in_quotes(host) + " is not a valid host name or IP address";
        return out;
    } else {
        ep.host = to_lower(host);
    }
    out.endpoint = ep;
    return out;
}

EndpointParse parse_forwarder(std::string_view text) {
    EndpointParse out;
    std::string_view host = text;
    std::uint16_t port = 53;
    if (std::size_t at = text.rfind('@'); at != std::string_view::npos) {
        host = text.substr(0, at);
        auto p = parse_port(text.substr(at + 1));
        if (!p) {
            out.why = "the port after \"@\" must be a number from 1 to 65535";
            return out;
        }
        port = *p;
    }
    auto ip = normalize_ip(host);
    if (!ip) {
        out.why = in_quotes(host) + " is not a literal IPv4 or IPv6 address";
        return out;
    }
    out.endpoint = Endpoint{*ip, port};
    return out;
}

std::string format_forwarder(const Endpoint& endpoint) {
    return endpoint.host + "@" + std::to_string(endpoint.port);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    // d[i][j] = distance between a[0..i) and b[0..j); three rows suffice for OSA.
    const std::size_t n = b.size();
    std::vector<std::size_t> prev2(n + 1), prev(n + 1), cur(n + 1);
    for (std::size_t j = 0; j <= n; ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= n; ++j) {
            std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                cur[j] = std::min(cur[j], prev2[j - 2] + 1);
        }
        prev2.swap(prev);
        prev.swap(cur);
    }
    return prev[n];
}

std::string suggest_key(std::string_view unknown, std::span<const std::string_view> known) {
    std::string lower = to_lower(unknown);
    std::size_t best = std::numeric_limits<std::size_t>::max();
    std::string_view best_key;
    for (std::string_view k : known) {
        std::size_t d = edit_distance(lower, k);
        if (d < best) {
            best = d;
            best_key = k;
        }
    }
    // Close relative to the length, and never "everything replaced" (a 2-letter key
    // is 2 edits from every other 2-letter key).
    std::size_t limit = std::max<std::size_t>(2, unknown.size() / 3);
    if (!best_key.empty() && best <= limit && best < unknown.size())
        return "; did you mean \"" + std::string(best_key) + "\"?";
    std::string out = "; known keys: ";
    for (std::size_t i = 0; i < known.size(); ++i) {
        if (i > 0) out += ", ";
        out += known[i];
    }
    return out;
}

std::string toml_quote(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out = "\"";
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\b': out += "\\b"; break;
            case '\t': out += "\\t"; break;
            case '\n': out += "\\n"; break;
            case '\f': out += "\\f"; break;
            case '\r': out += "\\r"; break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    out += "\\u00";
                    out += kHex[c >> 4];
                    out += kHex[c & 0xf];
                } else {
                    out += ch;
                }
        }
    }
    out += '"';
    return out;
}

}  // namespace detail

// ---- enums ------------------------------------------------------------------------------

std::string_view to_string(TlsMode v) { return detail::name_of(detail::kTlsModes, v); }
std::string_view to_string(ListenerKind v) { return detail::name_of(detail::kListenerKinds, v); }
std::string_view to_string(InboundDmarc v) { return detail::name_of(detail::kInboundDmarc, v); }
std::string_view to_string(BareLf v) { return detail::name_of(detail::kBareLf, v); }
std::string_view to_string(TlsVersion v) { return detail::name_of(detail::kTlsVersions, v); }
std::string_view to_string(DkimAlgorithm v) { return detail::name_of(detail::kDkimAlgorithms, v); }
std::string_view to_string(Canonicalization v) {
    return detail::name_of(detail::kCanonicalizations, v);
}
std::string_view to_string(DeliveryMode v) { return detail::name_of(detail::kDeliveryModes, v); }
std::string_view to_string(RouteTls v) { return detail::name_of(detail::kRouteTls, v); }
std::string_view to_string(LogFormat v) { return detail::name_of(detail::kLogFormats, v); }
std::string_view to_string(LogLevel v) { return detail::name_of(detail::kLogLevels, v); }

// ---- ConfigError, Config ----------------------------------------------------------------

std::string ConfigError::to_string() const {
    std::string where = file;
    if (line > 0) {
        if (!where.empty()) where += ":";
        where += std::to_string(line);
        if (column > 0) {
            where += ':';
            where += std::to_string(column);
        }
    }
    std::string out;
    if (!where.empty()) out = where + ": ";
    if (!key.empty()) out += key + ": ";
    out += message;
    return out;
}

const RouteConfig* Config::find_route(std::string_view domain) const {
    std::string name = detail::to_lower(domain);
    if (!name.empty() && name.back() == '.') name.pop_back();
    for (const RouteConfig& r : routes)
        if (r.domain == name) return &r;
    return nullptr;
}

const InboundConfig* Config::find_inbound(std::string_view domain) const {
    std::string name = detail::to_lower(domain);
    if (!name.empty() && name.back() == '.') name.pop_back();
    for (const InboundConfig& in : inbound)
        if (in.domain == name) return &in;
    return nullptr;
}

const DomainConfig* Config::find_domain(std::string_view domain) const {
    std::string name = detail::to_lower(domain);
    if (!name.empty() && name.back() == '.') name.pop_back();
    if (name.empty()) return nullptr;
    for (const DomainConfig& d : domains)
        if (d.name == name) return &d;
    // Closest parent first: "a.b.example.com" tries "b.example.com", then "example.com".
    for (std::size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
        std::string_view parent = std::string_view(name).substr(dot + 1);
        for (const DomainConfig& d : domains)
            if (d.sign_subdomains && d.name == parent) return &d;
    }
    return nullptr;
}

}  // namespace signpost::config
